import Foundation
import Testing
import ZooStore

/// Read commands open stores read-only: nothing is created or written, and a store written by a
/// newer Zoo is refused either way.
@Suite("Read-only stores")
struct ReadOnlyTests {
    @Test func aReadOnlyOpeningReadsAndWritesNothing() throws {
        let s = try StoreTests.store()
        try s.addSweep(id: "sw", name: "n", spec: "", runs: StoreTests.runs)
        try s.record(MetricRecord(runID: "run0", epoch: 1, step: 3, values: ["test_accuracy": 0.5]))
        let reader = try SQLiteStore(path: s.path, readOnly: true)
        #expect(try reader.runs().count == StoreTests.runs.count)
        #expect(try reader.metrics(runs: ["run0"]).first?.values["test_accuracy"] == 0.5)
        #expect(throws: StoreError.self) { try reader.record(MetricRecord(runID: "run0", epoch: 2, step: 6, values: [:])) }

        let missing = s.path.deletingLastPathComponent().appendingPathComponent("typo.sqlite")
        #expect { try SQLiteStore(path: missing, readOnly: true) } throws: { "\($0)".contains("no store here") }
        #expect(!FileManager.default.fileExists(atPath: missing.path))
        #expect(!FileManager.default.fileExists(atPath: missing.path + ".checkpoints"))
    }
}
