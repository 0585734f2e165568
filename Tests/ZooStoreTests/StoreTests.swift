import Foundation
import Testing
import ZooStore

@Suite("Store (SQLite and PostgreSQL)")
struct StoreTests {
    static func store() throws -> SQLiteStore {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-store-\(UUID())")
        return try SQLiteStore(path: folder.appendingPathComponent("zoo.sqlite"))
    }

    static let runs = (0..<5).map { (id: "run\($0)", config: "{\"seed\":\($0)}", groupKey: $0 < 3 ? "A" : "B") }

    @Test(arguments: Backend.all) func schemaAndSweepsAreIdempotent(_ backend: Backend) throws {
        let s = try backend.store()
        #expect(try s.appliedMigrations() == ["v1", "v2", "v3", "v4-predictions", "v4-labels", "v5-branches", "v6-attempts", "v7-claim-index", "v8-checkpoint-data"])
        #expect(try s.addSweep(id: "sw", name: "n", spec: "text", runs: Self.runs) == Self.runs.map(\.id))
        #expect(try s.addSweep(id: "sw", name: "n", spec: "text", runs: Self.runs).isEmpty)
        #expect(try s.addSweep(id: "sw2", name: "wider", spec: "text2", runs: Self.runs + [("run9", "{}", "B")]) == ["run9"])
        #expect(try s.counts()["runs"] == 6)
        #expect(try s.counts()["sweep_runs"] == 11)
        #expect(try s.runs(sweep: "sw").count == 5)
        // Reopening keeps everything.
        let again = try backend.reopen(s)
        #expect(try again.runs().count == 6)
    }

    @Test(arguments: Backend.all) func claimsAreExclusiveAndGrouped(_ backend: Backend) throws {
        let s = try backend.store()
        try s.addSweep(id: "sw", name: "n", spec: "", runs: Self.runs)
        let alive: (Int32) -> Bool = { _ in true }
        let a = try s.claim(owner: ClaimOwner(worker: 0), limit: 10, lease: 60, isAlive: alive)
        #expect(a.map(\.id) == ["run0", "run1", "run2"])  // one group at a time
        let b = try s.claim(owner: ClaimOwner(worker: 1), limit: 10, lease: 60, isAlive: alive)
        #expect(b.map(\.id) == ["run3", "run4"])
        #expect(try s.claim(owner: ClaimOwner(worker: 2), limit: 10, lease: 60, isAlive: alive).isEmpty)
        #expect(a.allSatisfy { $0.status == .running && $0.attempts == 1 })
        try s.release(owner: ClaimOwner(worker: 0), runs: ["run2"])
        #expect(try s.claim(owner: ClaimOwner(worker: 2), limit: 10, lease: 60, isAlive: alive).map(\.id) == ["run2"])
        // Another owner cannot finish a run it does not hold.
        try s.finish(run: "run0", owner: ClaimOwner(worker: 1), status: .done)
        #expect(try s.runs(ids: ["run0"])[0].status == .running)
        try s.finish(run: "run0", owner: ClaimOwner(worker: 0), status: .done)
        #expect(try s.runs(ids: ["run0"])[0].status == .done)
    }

    @Test(arguments: Backend.all) func claimsCanBeLimitedToOneSweep(_ backend: Backend) throws {
        let s: any RunStore = try backend.store()
        try s.addSweep(id: "first", name: "n", spec: "", runs: Array(Self.runs[0..<2]))
        try s.addSweep(id: "second", name: "n", spec: "", runs: Array(Self.runs[1...]))
        let alive: (Int32) -> Bool = { _ in true }
        func claim(_ worker: Int, _ sweep: String?, limit: Int = 10) throws -> [String] {
            try s.claim(owner: ClaimOwner(worker: worker), limit: limit, lease: 60, sweep: sweep, provenance: nil, isAlive: alive).map(\.id)
        }
        #expect(try claim(0, "nothing").isEmpty)
        // run0 is the oldest claimable run, but not of the sweep: the sweep's oldest group is A.
        #expect(try claim(0, "second", limit: 1) == ["run1"])
        #expect(try claim(1, "second") == ["run2"])
        #expect(try claim(2, "second") == ["run3", "run4"])
        #expect(try claim(3, "second").isEmpty)
        #expect(try claim(3, nil) == ["run0"])
        #expect(try claim(4, nil).isEmpty)
        // A dead process of this host gives its runs back to the sweep's claimers only.
        let t: any RunStore = try backend.store()
        try t.addSweep(id: "first", name: "n", spec: "", runs: [Self.runs[0]])
        try t.addSweep(id: "second", name: "n", spec: "", runs: [Self.runs[3]])
        _ = try t.claim(owner: ClaimOwner(pid: 999_999, worker: 0), limit: 10, lease: 600, sweep: nil, provenance: nil, isAlive: alive)
        _ = try t.claim(owner: ClaimOwner(pid: 999_999, worker: 0), limit: 10, lease: 600, sweep: nil, provenance: nil, isAlive: alive)
        let dead: (Int32) -> Bool = { $0 != 999_999 }
        #expect(try t.claim(owner: ClaimOwner(worker: 1), limit: 10, lease: 60, sweep: "second", provenance: nil, isAlive: dead).map(\.id) == ["run3"])
        #expect(try t.claim(owner: ClaimOwner(worker: 1), limit: 10, lease: 60, sweep: "second", provenance: nil, isAlive: dead).isEmpty)
        #expect(try t.runs(ids: ["run0"])[0].owner == ClaimOwner(pid: 999_999, worker: 0).id)
    }

    @Test(arguments: Backend.all) func expiredLeasesAndDeadOwnersAreReclaimed(_ backend: Backend) throws {
        let s = try backend.store()
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [Self.runs[0]])
        let gone = ClaimOwner(host: "elsewhere", pid: 1, worker: 0)
        _ = try s.claim(owner: gone, limit: 1, lease: -1)  // already expired
        #expect(try s.claim(owner: ClaimOwner(worker: 0), limit: 1, lease: 60).map(\.attempts) == [2])
        // A live lease on another host is respected; a dead process on this host is not.
        let t = try backend.store()
        try t.addSweep(id: "sw", name: "n", spec: "", runs: [Self.runs[0]])
        _ = try t.claim(owner: ClaimOwner(host: "other", pid: 5, worker: 0), limit: 1, lease: 600)
        #expect(try t.claim(owner: ClaimOwner(worker: 1), limit: 1, lease: 60, isAlive: { _ in false }).isEmpty)
        let u = try backend.store()
        try u.addSweep(id: "sw", name: "n", spec: "", runs: [Self.runs[0]])
        _ = try u.claim(owner: ClaimOwner(pid: 999_999, worker: 0), limit: 1, lease: 600)
        #expect(try u.claim(owner: ClaimOwner(worker: 1), limit: 1, lease: 60, isAlive: { $0 != 999_999 }).count == 1)
    }

    @Test(arguments: Backend.all) func metricsKeepNonFiniteValuesAndNeverDuplicate(_ backend: Backend) throws {
        let s = try backend.store()
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [Self.runs[0]])
        let m1 = MetricRecord(runID: "run0", epoch: 1, step: 10, values: ["train_loss": .nan, "test_loss": .infinity, "test_accuracy": 0.5])
        try s.record(m1)
        try s.record(m1)
        try s.record(MetricRecord(runID: "run0", epoch: 2, step: 20, values: ["train_loss": 1]))
        let read = try s.metrics()
        #expect(read.count == 2)
        #expect(read[0] == m1)
        #expect(read[0].values["train_loss"]!.isNaN)
        #expect(read[0].values["test_loss"] == .infinity)
        try s.deleteMetrics(run: "run0", after: 1)
        #expect(try s.metrics().map(\.epoch) == [1])
        #expect(try s.runs()[0].epochsDone == 1)
    }

    @Test(arguments: Backend.all) func checkpointsAreRecorded(_ backend: Backend) throws {
        let s = try backend.store()
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [Self.runs[0]])
        let url = s.checkpointURL(run: "run0", epoch: 3)!
        #expect(url.path == s.checkpointFolder!.path + "/run0/epoch-3.safetensors")
        try s.recordCheckpoint(run: "run0", epoch: 3, sha256: "ab", bytes: 10)
        try s.recordCheckpoint(run: "run0", epoch: 3, sha256: "cd", bytes: 11)
        #expect(try s.checkpoints() == [CheckpointRecord(runID: "run0", epoch: 3, path: "run0/epoch-3.safetensors", sha256: "cd", bytes: 11)])
    }

    @Test func badStorePathSaysSo() {
        do {
            _ = try SQLiteStore(path: URL(fileURLWithPath: "/proc/zoo/cannot.sqlite"))
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("/proc/zoo"))
        }
    }
}

/// Each claim of a run is an attempt with its outcome; a run whose workers keep dying fails.
@Suite("Attempts (SQLite and PostgreSQL)")
struct AttemptTests {
    @Test(arguments: Backend.all) func everyClaimIsAnAttemptAndHowItEnded(_ backend: Backend) throws {
        let s = try backend.store()
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [(id: "r", config: "{}", groupKey: "A")])
        let alive: (Int32) -> Bool = { _ in true }
        let a = ClaimOwner(host: "a", pid: 1, worker: 0), b = ClaimOwner(host: "b", pid: 2, worker: 0)
        #expect(try s.claim(owner: a, limit: 1, lease: -1, isAlive: alive).count == 1)   // a's lease runs out at once
        #expect(try s.claim(owner: b, limit: 1, lease: 60, isAlive: alive).count == 1)
        try s.release(owner: b, runs: ["r"])
        _ = try s.claim(owner: a, limit: 1, lease: 60, isAlive: alive)
        try s.finish(run: "r", owner: a, status: .done)
        let attempts = try s.attempts(runs: ["r"])
        #expect(attempts.map(\.attempt) == [1, 2, 3])
        #expect(attempts.map(\.outcome) == ["lost", "released", "done"])
        #expect(attempts.map(\.owner) == [a.id, b.id, a.id])
        #expect(attempts[0].error?.contains("the lease of \(a.id) ran out") == true, "\(attempts[0])")
        #expect(attempts.allSatisfy { $0.endedAt != nil && $0.endedAt! >= $0.startedAt })
        #expect(try s.counts()["attempts"] == 3)
    }

    @Test(arguments: Backend.all) func aRunWhoseWorkersKeepDyingFails(_ backend: Backend) throws {
        let s = try backend.store()
        try s.setMetadata(QueuePolicy.maxLostAttemptsKey, "2")
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [(id: "r", config: "{}", groupKey: "A")])
        let gone: (Int32) -> Bool = { $0 != 7 }
        // Two workers of this host whose processes are gone, one after the other.
        #expect(try s.claim(owner: ClaimOwner(pid: 7, worker: 0), limit: 1, lease: 600, isAlive: gone).count == 1)
        #expect(try s.claim(owner: ClaimOwner(pid: 7, worker: 1), limit: 1, lease: 600, isAlive: gone).count == 1)
        #expect(try s.claim(owner: ClaimOwner(pid: 8, worker: 0), limit: 1, lease: 600, isAlive: gone).isEmpty)
        let run = try #require(try s.runs(ids: ["r"]).first)
        #expect(run.status == .failed && run.attempts == 2)
        #expect(run.error?.contains("gave up after 2 attempts") == true && run.error?.contains("is gone") == true, "\(run.error ?? "")")
        #expect(try s.attempts(runs: ["r"]).map(\.outcome) == ["lost", "lost"])
    }
}
