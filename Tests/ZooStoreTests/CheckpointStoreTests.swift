import Foundation
import Testing
import ZooPostgres
import ZooStore

/// Checkpoint bytes in a store, kept as files in its folder or (PostgreSQL, `checkpoints=database`)
/// inside the database: saved, recorded, read back, replaced, renamed with their run, and missing
/// ones named.
@Suite("Store checkpoints")
struct CheckpointStoreTests {
    static func bytes(_ text: String) -> Data { Data(text.utf8) }

    @Test(arguments: Backend.checkpointKeepers) func checkpointsRoundTripAndMoveWithARename(_ backend: Backend) throws {
        let s = try backend.store()
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [(id: "r1", config: "{}", groupKey: "A")])
        try s.saveCheckpoint(Self.bytes("epoch one"), sha256: "sha-e1", run: "r1", epoch: 1, step: nil)
        try s.saveCheckpoint(Self.bytes("step five"), sha256: "sha-s5", run: "r1", epoch: 0, step: 5)
        let epoch = try #require(try s.checkpoints(runs: ["r1"]).first)
        #expect(epoch == CheckpointRecord(runID: "r1", epoch: 1, path: "r1/epoch-1.safetensors", sha256: "sha-e1", bytes: 9))
        let step = try #require(try s.stepCheckpoints(runs: ["r1"]).first)
        #expect(step == CheckpointRecord(runID: "r1", epoch: 0, path: "r1/step-5.safetensors", sha256: "sha-s5", bytes: 9, step: 5))
        #expect(try s.checkpointData(epoch) == Self.bytes("epoch one"))
        #expect(try s.checkpointData(step) == Self.bytes("step five"))
        // Files exactly where a folder store keeps them; none at all for the database.
        if let folder = s.checkpointFolder {
            #expect(try Data(contentsOf: folder.appendingPathComponent("r1/epoch-1.safetensors")) == Self.bytes("epoch one"))
        } else {
            #expect(backend == .postgresCheckpointsInDatabase)
        }
        // A second save of the same point replaces the first; another process reads the same.
        try s.saveCheckpoint(Self.bytes("epoch one, again"), sha256: "sha-e1b", run: "r1", epoch: 1, step: nil)
        let again = try backend.reopen(s)
        let replaced = try #require(try again.checkpoints(runs: nil).first)
        #expect(replaced.sha256 == "sha-e1b" && replaced.bytes == 16)
        #expect(try again.checkpointData(replaced) == Self.bytes("epoch one, again"))
        // A rename takes them along.
        try s.renameRuns([RunRename(old: "r1", new: "r2", config: "{}", groupKey: "A")])
        let moved = try s.checkpoints(runs: nil) + s.stepCheckpoints(runs: nil)
        #expect(moved.map(\.path).sorted() == ["r2/epoch-1.safetensors", "r2/step-5.safetensors"])
        #expect(try moved.map { try s.checkpointData($0) }.sorted { $0.count < $1.count } == [Self.bytes("step five"), Self.bytes("epoch one, again")])
    }

    /// A record whose bytes are gone (a file deleted, or recorded without bytes) is an error
    /// naming the checkpoint, not an empty read.
    @Test(arguments: Backend.checkpointKeepers) func missingBytesAreNamed(_ backend: Backend) throws {
        let s = try backend.store()
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [(id: "r1", config: "{}", groupKey: "A")])
        try s.recordCheckpoint(run: "r1", epoch: 2, sha256: "x", bytes: 3)
        let record = try #require(try s.checkpoints(runs: nil).first)
        do {
            _ = try s.checkpointData(record)
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("epoch-2.safetensors") && "\(error)".contains("missing"), "\(error)")
        }
    }

    /// A store keeps its checkpoints one way: opening one with the other kind of `checkpoints=`
    /// is refused, naming where they are.
    @Test(.enabled(if: Backend.postgresServer != nil)) func aStoreKeepsCheckpointsOneWay() throws {
        let inDatabase = try #require(try Backend.postgresCheckpointsInDatabase.store() as? PostgresStore)
        #expect(inDatabase.checkpointFolder == nil)
        var location = inDatabase.location
        location.checkpoints = "/tmp/zoo-elsewhere"
        do {
            _ = try PostgresStore(location: location, retryWindow: 5)
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("keeps its checkpoints in the database"), "\(error)")
        }
        // Without checkpoints= it opens as it was made.
        location.checkpoints = nil
        #expect(try PostgresStore(location: location, retryWindow: 5).checkpointFolder == nil)
        let inFolder = try #require(try Backend.postgres.store() as? PostgresStore)
        location = inFolder.location
        location.checkpoints = PostgresStore.inDatabase
        do {
            _ = try PostgresStore(location: location, retryWindow: 5)
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("keeps its checkpoints in the folder"), "\(error)")
        }
    }
}
