import Foundation
import ZooStore
import ZooTrain

/// Reading a checkpoint a store records, trusting nothing the store says.
enum StoredCheckpoint {
    /// The state in a recorded checkpoint (a file, which must lie inside its run's checkpoint
    /// folder, or bytes in the database), which must match its recorded checksum and hold the
    /// recorded epoch.
    /// - Throws: ``StoreError`` naming the file and the check it fails, or the reader's error.
    static func load(_ record: CheckpointRecord, from store: any RunStore) throws -> TrainingState {
        try read(record, from: store).state
    }

    /// ``load(_:from:)`` with the config the checkpoint was written with.
    static func read(_ record: CheckpointRecord, from store: any RunStore) throws -> (state: TrainingState, config: String) {
        guard SweepRunner.isRunID(record.runID) else {
            throw StoreError(description: "checkpoint '\(record.path.prefix(200))' names a run id '\(record.runID.prefix(40))' that is not one")
        }
        let bytes = try store.checkpointData(record)
        let source = store.checkpointFolder?.appendingPathComponent(record.path).path ?? "checkpoint \(record.path) in the store"
        guard Identity.sha256(bytes) == record.sha256 else {
            throw StoreError(description: "\(source): checksum does not match the store's record")
        }
        let read = try Checkpoint.decode([UInt8](bytes), source: source)
        guard read.state.epoch == record.epoch else {
            throw StoreError(description: "\(source) holds epoch \(read.state.epoch), recorded as epoch \(record.epoch)")
        }
        if let step = record.step, read.state.step != step {
            throw StoreError(description: "\(source) holds step \(read.state.step), recorded as step \(step)")
        }
        return read
    }
}
