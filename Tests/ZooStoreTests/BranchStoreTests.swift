import Foundation
import Testing
import ZooStore

/// Branches in the store: a run with a parent is claimed only after its parent is done, fails
/// with its parent, and comes back with it; step checkpoints are recorded and renamed.
@Suite("Store branches")
struct BranchStoreTests {
    static let alive: @Sendable (Int32) -> Bool = { _ in true }

    @Test(arguments: Backend.all) func branchesWaitForTheirParents(_ backend: Backend) throws {
        let s = try backend.store()
        let runs = [(id: "trunk", config: "{}", groupKey: "A"), (id: "level1", config: "{}", groupKey: "A"),
                    (id: "level2", config: "{}", groupKey: "A"), (id: "other", config: "{}", groupKey: "B")]
        try s.addSweep(id: "sw", name: "n", spec: "", runs: runs, parents: ["level1": "trunk", "level2": "level1"])
        #expect(try s.runs(ids: ["level2"]).first?.parent == "level1")
        #expect(try s.runs(ids: ["trunk"]).first?.parent == nil)
        let owner = ClaimOwner(worker: 0)
        #expect(try s.claim(owner: owner, limit: 10, lease: 60, isAlive: Self.alive).map(\.id) == ["trunk"])
        #expect(try s.claim(owner: owner, limit: 10, lease: 60, isAlive: Self.alive).map(\.id) == ["other"])
        // The chain waits while the trunk trains.
        #expect(try s.claim(owner: owner, limit: 10, lease: 60, isAlive: Self.alive).isEmpty)
        try s.finish(run: "trunk", owner: owner, status: .done)
        #expect(try s.claim(owner: owner, limit: 10, lease: 60, isAlive: Self.alive).map(\.id) == ["level1"])
        #expect(try s.claim(owner: owner, limit: 10, lease: 60, isAlive: Self.alive).isEmpty)
        try s.finish(run: "level1", owner: owner, status: .done)
        #expect(try s.claim(owner: owner, limit: 10, lease: 60, isAlive: Self.alive).map(\.id) == ["level2"])
    }

    /// The queue's counts follow the runs through a branch chain, per sweep and for the store:
    /// a branch is waiting while its parent trains or is pending among the counted runs, ready
    /// once the parent is done; a parent outside the sweep is nobody's to wait for.
    @Test(arguments: Backend.all) func queueCountsFollowBranches(_ backend: Backend) throws {
        let s = try backend.store()
        let runs = [(id: "trunk", config: "{}", groupKey: "A"), (id: "level1", config: "{}", groupKey: "A"),
                    (id: "level2", config: "{}", groupKey: "A"), (id: "other", config: "{}", groupKey: "B")]
        try s.addSweep(id: "sw", name: "n", spec: "", runs: runs, parents: ["level1": "trunk", "level2": "level1"])
        try s.addSweep(id: "late", name: "n", spec: "", runs: [(id: "outside", config: "{}", groupKey: "A")], parents: ["outside": "trunk"])
        #expect(try s.queueCounts(sweep: nil) == QueueCounts(byStatus: [.pending: 5], ready: 2, waiting: 3))
        #expect(try s.queueCounts(sweep: "sw") == QueueCounts(byStatus: [.pending: 4], ready: 2, waiting: 2))
        // Its parent is pending outside the sweep: not waiting, not ready.
        #expect(try s.queueCounts(sweep: "late") == QueueCounts(byStatus: [.pending: 1], ready: 0, waiting: 0))
        let owner = ClaimOwner(worker: 0)
        #expect(try s.claim(owner: owner, limit: 1, lease: 60, isAlive: Self.alive).map(\.id) == ["trunk"])
        #expect(try s.queueCounts(sweep: "late") == QueueCounts(byStatus: [.pending: 1], ready: 0, waiting: 1))
        #expect(try s.queueCounts(sweep: "sw") == QueueCounts(byStatus: [.pending: 3, .running: 1], ready: 1, waiting: 2))
        try s.finish(run: "trunk", owner: owner, status: .done)
        #expect(try s.queueCounts(sweep: nil) == QueueCounts(byStatus: [.pending: 4, .done: 1], ready: 3, waiting: 1))
        #expect(try s.queueCounts(sweep: "sw").open == 3)
        _ = try s.claim(owner: owner, limit: 1, lease: 60, isAlive: Self.alive)
        try s.finish(run: "level1", owner: owner, status: .diverged, error: "the loss became non-finite")
        // The next claim fails level2 and takes one group: "other" (B), leaving "outside" (A) ready.
        #expect(try s.claim(owner: owner, limit: 10, lease: 60, isAlive: Self.alive).map(\.id) == ["other"])
        #expect(try s.queueCounts(sweep: nil) == QueueCounts(byStatus: [.pending: 1, .running: 1, .done: 1, .diverged: 1, .failed: 1], ready: 1, waiting: 0))
    }

    /// A parent that fails or diverges fails its whole line below it, each error naming its
    /// parent; `retryFailed` brings them all back, and they wait again.
    @Test(arguments: Backend.all) func branchesFailWithTheirParentsAndComeBack(_ backend: Backend) throws {
        let s = try backend.store()
        let runs = [(id: "trunk", config: "{}", groupKey: "A"), (id: "level1", config: "{}", groupKey: "A"),
                    (id: "level2", config: "{}", groupKey: "A")]
        try s.addSweep(id: "sw", name: "n", spec: "", runs: runs, parents: ["level1": "trunk", "level2": "level1"])
        let owner = ClaimOwner(worker: 0)
        _ = try s.claim(owner: owner, limit: 1, lease: 60, isAlive: Self.alive)
        try s.finish(run: "trunk", owner: owner, status: .diverged, error: "the loss became non-finite")
        #expect(try s.claim(owner: owner, limit: 10, lease: 60, isAlive: Self.alive).isEmpty)
        let failed = try s.runs(ids: ["level1", "level2"])
        #expect(failed.allSatisfy { $0.status == .failed })
        #expect(failed.first { $0.id == "level1" }?.error?.contains("its parent run trunk diverged") == true)
        #expect(failed.first { $0.id == "level2" }?.error?.contains("its parent run level1 failed") == true)
        // A retry brings the failed runs back; the children wait for the (still diverged) trunk to be redone.
        #expect(try s.retryFailed() == 2)
        #expect(try s.claim(owner: owner, limit: 10, lease: 60, isAlive: Self.alive).isEmpty)
        #expect(try s.runs(ids: ["level1"]).first?.status == .failed)
    }

    @Test(arguments: Backend.all) func stepCheckpointsAreRecordedAndRenamed(_ backend: Backend) throws {
        let s = try backend.store()
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [(id: "old", config: "{}", groupKey: "A"), (id: "kid", config: "{}", groupKey: "A")],
                       parents: ["kid": "old"])
        #expect(s.stepCheckpointURL(run: "old", step: 7)!.path.hasSuffix("old/step-7.safetensors"))
        try FileManager.default.createDirectory(at: s.checkpointFolder!.appendingPathComponent("old"), withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: s.stepCheckpointURL(run: "old", step: 7)!)
        try s.recordStepCheckpoint(run: "old", step: 7, epoch: 0, sha256: "abc", bytes: 3)
        let records = try s.stepCheckpoints(runs: ["old"])
        #expect(records == [CheckpointRecord(runID: "old", epoch: 0, path: "old/step-7.safetensors", sha256: "abc", bytes: 3, step: 7)])
        #expect(try s.checkpoints(runs: ["old"]).isEmpty)
        #expect(try s.counts()["step_checkpoints"] == 1)
        try s.renameRuns([RunRename(old: "old", new: "new", config: "{}", groupKey: "A")])
        #expect(try s.stepCheckpoints(runs: ["new"]).map(\.path) == ["new/step-7.safetensors"])
        #expect(try s.runs(ids: ["kid"]).first?.parent == "new")
        #expect(FileManager.default.fileExists(atPath: s.stepCheckpointURL(run: "new", step: 7)!.path))
    }
}
