import Foundation
import GRDB
import Testing
import ZooStore

@Suite("Measures in the store")
struct MeasureStoreTests {
    static func tasks(_ runs: [String], measure: String = "margin", version: Int = 1) -> [MeasureTask] {
        runs.map { MeasureTask(runID: $0, epoch: 3, measure: measure, version: version, settings: "{\"sample_size\":100}") }
    }

    /// Claims are exclusive; a stored value is not claimed again at its version but is at another;
    /// an expired claim or one of a dead process is taken over.
    @Test(arguments: Backend.all) func claimsAreExclusiveAndStoredValuesAreDone(_ backend: Backend) throws {
        let s = try backend.store()
        let a = ClaimOwner(host: "h", pid: 10, worker: 0), b = ClaimOwner(host: "h", pid: 11, worker: 0)
        let all = Self.tasks(["r1", "r2", "r3"])
        let alive: (Int32) -> Bool = { _ in true }
        #expect(try s.claimMeasures(all, owner: a, limit: 2, lease: 60, isAlive: alive) == Array(all.prefix(2)))
        #expect(try s.claimMeasures(all, owner: b, limit: 5, lease: 60, isAlive: alive) == [all[2]])
        try s.recordMeasures(all[0], values: ["": 1.5, "x": .nan], seconds: 0.25, error: nil, owner: a)
        try s.releaseMeasures([all[1]], owner: a)
        // b takes the released one and keeps its own.
        #expect(try s.claimMeasures(all, owner: b, limit: 5, lease: 60, isAlive: alive) == [all[1], all[2]])
        // A new version of the measure is computed again.
        #expect(try s.claimMeasures(Self.tasks(["r1"], version: 2), owner: a, limit: 5, lease: 60, isAlive: alive).count == 1)
        // b's process died: its claims are taken over.
        #expect(try s.claimMeasures(all, owner: a, limit: 5, lease: 60, isAlive: { $0 != 11 }) == [all[1], all[2]])
        // Expired leases too.
        let c = ClaimOwner(host: "other", pid: 1, worker: 0)
        #expect(try s.claimMeasures(all, owner: c, limit: 5, lease: 60, isAlive: alive).isEmpty)
        #expect(try s.claimMeasures(all, owner: c, limit: 5, lease: -1, isAlive: alive).isEmpty)
        let stored = try s.measures(runs: ["r1"])
        #expect(stored.count == 2)
        #expect(stored.first { $0.key == "" }?.value == 1.5)
        #expect(stored.first { $0.key == "x" }?.value.isNaN == true)
        #expect(stored.first { $0.key == "x" }?.column == "margin.x")
        #expect(try s.counts()["measures"] == 2)
    }

    /// A failed measure stores one NaN value with the reason, and counts as done.
    @Test(arguments: Backend.all) func failuresAreRecorded(_ backend: Backend) throws {
        let s = try backend.store()
        let a = ClaimOwner(host: "h", pid: 10, worker: 0)
        let t = Self.tasks(["r1"])
        _ = try s.claimMeasures(t, owner: a, limit: 1, lease: 60, isAlive: { _ in true })
        try s.recordMeasures(t[0], values: [:], seconds: 0, error: "no step losses", owner: a)
        let stored = try s.measures()
        #expect(stored.count == 1 && stored[0].value.isNaN && stored[0].error == "no step losses")
        #expect(try s.claimMeasures(t, owner: a, limit: 1, lease: 60, isAlive: { _ in true }).isEmpty)
    }

    /// Step losses round-trip with the epoch's metrics.
    @Test(arguments: Backend.all) func stepLossesRoundTrip(_ backend: Backend) throws {
        let s = try backend.store()
        try s.addSweep(id: "s", name: "s", spec: "", runs: [(id: "r1", config: "{}", groupKey: "A")])
        let log = StepLossLog(interval: 10, firstStep: 20, lastStep: 45, means: [2.5, 1.25, .nan])
        #expect(log.steps == [30, 40, 45])
        try s.record(MetricRecord(runID: "r1", epoch: 1, step: 45, values: ["seconds": 1], stepLosses: log))
        #expect(try s.metrics().first?.stepLosses == log)
    }

    /// Damaged step-loss bytes read as no log; the epoch's other metrics still read.
    @Test func damagedStepLossesReadAsNone() throws {
        let s = try StoreTests.store()
        try s.addSweep(id: "s", name: "s", spec: "", runs: [(id: "r1", config: "{}", groupKey: "A")])
        let log = StepLossLog(interval: 10, firstStep: 20, lastStep: 45, means: [2.5, 1.25, .nan])
        try s.record(MetricRecord(runID: "r1", epoch: 1, step: 45, values: ["seconds": 1], stepLosses: log))
        for bad in [Data([1, 2, 3]), Data(repeating: 0, count: 26), Data(repeating: 0xff, count: 28)] {
            let path = s.path.path
            let db = try DatabaseQueue(path: path)
            try db.write { try $0.execute(sql: "UPDATE metrics SET step_losses = ?", arguments: [bad]) }
            #expect(try s.metrics().first?.stepLosses == nil)
            #expect(try s.metrics().first?.values["seconds"] == 1)
        }
    }
}
