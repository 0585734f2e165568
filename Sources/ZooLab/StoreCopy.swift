import Foundation
import ZooStore

/// Copies a zoo from one store to another (`zoo store copy`): PostgreSQL to an SQLite file for
/// analysis on a laptop, and back, or between any two stores.
///
/// Idempotent: a run is written only when the target lacks it or holds it less far along
/// (``RunStore/importRuns(_:)``), and with it its metrics, predictions, checkpoints and attempts; sweeps,
/// labels and measures the target already has are left alone, so a second copy writes nothing.
/// Every checkpoint is checked against the source's SHA-256 before it is copied and after it is
/// stored (as a file or in the database, as the target keeps them); one that fails is named in
/// ``Outcome/problems`` and the rest is copied.
public enum StoreCopy {
    public struct Outcome: Sendable, Equatable {
        /// Sweeps of the source.
        public var sweeps = 0
        /// Runs written to the target (new there, or further along in the source).
        public var runs = 0
        public var metrics = 0
        /// Checkpoints copied, and their bytes.
        public var checkpoints = 0, bytes = 0
        /// Attempts (claims and how they ended) of the runs written.
        public var attempts = 0
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
                    outcome.bytes += try copyCheckpoint(c, from: source, to: target)
                    outcome.checkpoints += 1
                } catch let error as StoreError {
                    outcome.problems.append(error.description)
                }
            }
            let attempts = try source.attempts(runs: chunk)
            try target.importAttempts(attempts)
            outcome.attempts += attempts.count
        }
        progress("\(outcome.metrics) epoch(s) of metrics, \(outcome.checkpoints) checkpoint(s), \(outcome.attempts) attempt(s)")
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

    /// Copies one checkpoint (a file or bytes in a database, to either), checking the source's
    /// bytes and the stored copy against the recorded SHA-256; returns its size.
    static func copyCheckpoint(_ c: CheckpointRecord, from source: any RunStore, to target: any RunStore) throws -> Int {
        let name = c.step.map { "step-\($0)" } ?? "epoch-\(c.epoch)"
        guard RunRenaming.isFolderName(c.runID), c.path == CheckpointRecord.path(run: c.runID, epoch: c.epoch, step: c.step) else {
            throw StoreError(description: "checkpoint '\(c.path.prefix(200))' of run \(c.runID.prefix(40)): not a path Zoo writes (RUN/\(name).safetensors); not copied")
        }
        let bytes: Data
        do { bytes = try source.checkpointData(c) } catch {
            throw StoreError(description: "checkpoint \(c.path): cannot read it from the source (\(error)); not copied")
        }
        guard Identity.sha256(bytes) == c.sha256 else {
            throw StoreError(description: "checkpoint \(c.path): does not match its SHA-256 in the source store (\(c.sha256.prefix(12))…); not copied")
        }
        do { try target.saveCheckpoint(bytes, sha256: c.sha256, run: c.runID, epoch: c.epoch, step: c.step) } catch {
            throw StoreError(description: "checkpoint \(c.path): cannot store the copy: \(error)")
        }
        guard let written = try? target.checkpointData(c), Identity.sha256(written) == c.sha256 else {
            throw StoreError(description: "checkpoint \(c.path): the copy does not match its SHA-256 after writing")
        }
        return bytes.count
    }
}
