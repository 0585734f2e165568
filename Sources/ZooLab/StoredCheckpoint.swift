import Foundation
import ZooStore
import ZooTrain

/// Reading a checkpoint a store records, trusting nothing the store says.
enum StoredCheckpoint {
    /// The state in a recorded checkpoint file, which must lie inside its run's checkpoint folder,
    /// match its recorded checksum, and hold the recorded epoch.
    /// - Throws: ``StoreError`` naming the file and the check it fails, or the reader's error.
    static func load(_ record: CheckpointRecord, from store: any RunStore) throws -> TrainingState {
        try read(record, from: store).state
    }

    /// ``load(_:from:)`` with the config the checkpoint was written with.
    static func read(_ record: CheckpointRecord, from store: any RunStore) throws -> (state: TrainingState, config: String) {
        let folder = store.checkpointFolder.standardizedFileURL.resolvingSymlinksInPath()
        let url = folder.appendingPathComponent(record.path).standardizedFileURL.resolvingSymlinksInPath()
        guard SweepRunner.isRunID(record.runID), url.path.hasPrefix(folder.path + "/\(record.runID)/") else {
            throw StoreError(description: "the recorded path '\(record.path.prefix(200))' leaves the run's checkpoint folder")
        }
        let bytes: Data
        do { bytes = try Data(contentsOf: url) } catch { throw StoreError(description: "\(url.path) is missing") }
        guard Identity.sha256(bytes) == record.sha256 else {
            throw StoreError(description: "\(url.path): checksum does not match the store's record")
        }
        let read = try Checkpoint.read(from: url)
        guard read.state.epoch == record.epoch else {
            throw StoreError(description: "\(url.path) holds epoch \(read.state.epoch), recorded as epoch \(record.epoch)")
        }
        if let step = record.step, read.state.step != step {
            throw StoreError(description: "\(url.path) holds step \(read.state.step), recorded as step \(step)")
        }
        return read
    }
}
