import Foundation
import ZooStore

/// Copies a zoo from one store to another (`zoo store copy`): PostgreSQL to an SQLite file for
/// analysis on a laptop, and back, or between any two stores.
///
/// Idempotent: a run is written only when the target lacks it or holds it less far along
/// (``RunStore/importRuns(_:)``), and with it its metrics, predictions and checkpoint files; sweeps,
/// labels and measures the target already has are left alone, so a second copy writes nothing.
/// Every checkpoint file is checked against the source's SHA-256 before it is copied and after it
/// is written; one that fails is named in ``Outcome/problems`` and the rest is copied.
public enum StoreCopy {
    public struct Outcome: Sendable, Equatable {
        /// Sweeps of the source.
        public var sweeps = 0
        /// Runs written to the target (new there, or further along in the source).
        public var runs = 0
        public var metrics = 0
        /// Checkpoint files copied, and their bytes.
        public var checkpoints = 0, bytes = 0
        /// Measure tasks written (the target lacked them at that version).
        public var measures = 0
        /// What could not be copied (a checkpoint file missing or not matching its SHA-256), each
        /// naming the file.
        public var problems: [String] = []
    }

    /// Copies everything of `source` into `target`; `progress` hears a line per stage.
    public static func copy(from source: any RunStore, to target: any RunStore, progress: (String) -> Void = { _ in }) throws -> Outcome {
        var outcome = Outcome()
        // Sweeps, their runs (missing ones arrive pending) and labels.
        let sweeps = try source.sweeps()
        for sweep in sweeps {
            let members = try source.runs(status: nil, sweep: sweep.id, ids: nil)
            try target.addSweep(id: sweep.id, name: sweep.name, spec: sweep.spec, runs: members.map { ($0.id, $0.config, $0.groupKey) },
                                parents: members.reduce(into: [:]) { $0[$1.id] = $1.parent })
            let labels = try source.runLabels(sweep: sweep.id)
            if !labels.isEmpty { try target.labelRuns(sweep: sweep.id, labels: labels.mapValues { Optional($0) }) }
        }
        outcome.sweeps = sweeps.count
        progress("\(sweeps.count) sweep(s)")
        // Runs further along in the source, with everything they recorded.
        let runs = try source.runs(status: nil, sweep: nil, ids: nil)
        let written = try target.importRuns(runs)
        outcome.runs = written.count
        progress("\(written.count) of \(runs.count) run(s) to write")
        for chunk in stride(from: 0, to: written.count, by: 256).map({ Array(written[$0..<min($0 + 256, written.count)]) }) {
            let predictions = Dictionary(try source.predictions(runs: chunk, epoch: nil).map { ("\($0.runID) \($0.epoch)", $0.log) }) { a, _ in a }
            for var m in try source.metrics(runs: chunk) {
                m.predictions = predictions["\(m.runID) \(m.epoch)"]
                try target.record(m)
                outcome.metrics += 1
            }
            for c in try source.checkpoints(runs: chunk) + source.stepCheckpoints(runs: chunk) {
                do {
                    let bytes = try copyFile(c, from: source, to: target)
                    if let step = c.step {
                        try target.recordStepCheckpoint(run: c.runID, step: step, epoch: c.epoch, sha256: c.sha256, bytes: bytes)
                    } else {
                        try target.recordCheckpoint(run: c.runID, epoch: c.epoch, sha256: c.sha256, bytes: bytes)
                    }
                    outcome.checkpoints += 1
                    outcome.bytes += bytes
                } catch let error as StoreError {
                    outcome.problems.append(error.description)
                }
            }
        }
        progress("\(outcome.metrics) epoch(s) of metrics, \(outcome.checkpoints) checkpoint file(s)")
        // Measures the target lacks at the source's version.
        let have = Set(try target.measures(runs: nil).map(\.task))
        let owner = ClaimOwner(worker: 0)
        for (task, records) in Dictionary(grouping: try source.measures(runs: nil), by: \.task) where !have.contains(task) {
            let values = Dictionary(records.map { ($0.key, $0.value) }) { a, _ in a }
            try target.recordMeasures(task, values: values, seconds: records[0].seconds, error: records.first { $0.error != nil }?.error, owner: owner)
            outcome.measures += 1
        }
        progress("\(outcome.measures) measure task(s)")
        return outcome
    }

    /// Copies one checkpoint file, checking the source's bytes and the written copy against the
    /// recorded SHA-256; returns its size.
    static func copyFile(_ c: CheckpointRecord, from source: any RunStore, to target: any RunStore) throws -> Int {
        let name = c.step.map { "step-\($0)" } ?? "epoch-\(c.epoch)"
        guard RunRenaming.isFolderName(c.runID), c.path == "\(c.runID)/\(name).safetensors" else {
            throw StoreError(description: "checkpoint '\(c.path)' of run \(c.runID): not a path Zoo writes (RUN/\(name).safetensors); not copied")
        }
        let from = source.checkpointFolder.appendingPathComponent(c.path)
        let to = c.step.map { target.stepCheckpointURL(run: c.runID, step: $0) } ?? target.checkpointURL(run: c.runID, epoch: c.epoch)
        let bytes: Data
        do { bytes = try Data(contentsOf: from) } catch {
            throw StoreError(description: "\(from.path): cannot read the checkpoint (\(error.localizedDescription)); not copied")
        }
        guard Identity.sha256(bytes) == c.sha256 else {
            throw StoreError(description: "\(from.path): does not match its SHA-256 in the source store (\(c.sha256.prefix(12))…); not copied")
        }
        do {
            try FileManager.default.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
            try bytes.write(to: to, options: .atomic)
        } catch {
            throw StoreError(description: "\(to.path): cannot write the checkpoint copy: \(error.localizedDescription)")
        }
        guard let written = try? Data(contentsOf: to), Identity.sha256(written) == c.sha256 else {
            throw StoreError(description: "\(to.path): the copy does not match its SHA-256 after writing")
        }
        return bytes.count
    }
}
