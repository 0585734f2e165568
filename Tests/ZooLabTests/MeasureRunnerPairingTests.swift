import Foundation
import Testing
import ZooMeasures
import ZooStore
@testable import ZooLab

/// Which pairs a measure runner plans: every pair of a family at one epoch for the similarity
/// measures, only runs that differ in nothing but their seed for the connectivity ones.
@Suite("MeasureRunner pairing")
struct MeasureRunnerPairingTests {
    @Test func seedPairsOnly() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-pairing-\(UUID()).sqlite")
        defer { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: path.path + suffix) } }
        let store = try SQLiteStore(path: path)
        // Two learning rates × seeds (seed 0 is the default and may be left out); one other model.
        func config(lr: Double, seed: Int?, hidden: String = "32") -> String {
            var c: FlatConfig = ["model": .string("mlp"), "model.hidden": .string(hidden), "data": .string("teacher-student"), "lr": .double(lr)]
            if let seed { c["seed"] = .int(seed) }
            return c.canonicalJSON()
        }
        let runs = [("a0", config(lr: 0.01, seed: nil)), ("a1", config(lr: 0.01, seed: 1)), ("a2", config(lr: 0.01, seed: 2)),
                    ("b1", config(lr: 0.1, seed: 1)), ("b2", config(lr: 0.1, seed: 2)),
                    ("c1", config(lr: 0.01, seed: 1, hidden: "16")), ("c2", config(lr: 0.01, seed: 2, hidden: "16"))]
        try store.addSweep(id: "s", name: "s", spec: "", runs: runs.map { ($0.0, $0.1, "") })
        for (id, _) in runs { try store.recordCheckpoint(run: id, epoch: 1, sha256: "", bytes: 0) }
        try store.recordCheckpoint(run: "a2", epoch: 2, sha256: "", bytes: 0)

        let runner = try MeasureRunner(store: store, data: DataCache(), measures: [],
                                       pairMeasures: ["weight_distance", "linear_interpolation"].map { MeasureCatalog.pairMeasure($0)! },
                                       batchSize: 100)
        let tasks = try runner.plan(runs: try store.runs(), choice: .epoch(1)).flatMap { $0 }
        func pairs(_ measure: String) -> Set<String> {
            Set(tasks.filter { $0.measure == measure }.map { [$0.runID, $0.otherRun].sorted().joined(separator: "+") })
        }
        // All pairs within each model: 5 runs of hidden 32 (10 pairs) and 2 of hidden 16.
        #expect(pairs("weight_distance").count == 10 + 1)
        #expect(pairs("linear_interpolation") == ["a0+a1", "a0+a2", "a1+a2", "b1+b2", "c1+c2"])
        // At the final checkpoints a2 (epoch 2) has no partner: a0+a1, b1+b2, c1+c2.
        #expect(try runner.plan(runs: try store.runs(), choice: .final).flatMap { $0 }.filter { $0.measure == "linear_interpolation" }.count == 3)
        // `zoo measure --seed-pairs`: every pair measure pairs seeds of one config only.
        let seeds = try MeasureRunner(store: store, data: DataCache(), measures: [], pairMeasures: [MeasureCatalog.pairMeasure("cka")!],
                                      batchSize: 100, seedPairsOnly: true)
        let cka = try seeds.plan(runs: try store.runs(), choice: .epoch(1)).flatMap { $0 }
        #expect(Set(cka.map { [$0.runID, $0.otherRun].sorted().joined(separator: "+") }) == ["a0+a1", "a0+a2", "a1+a2", "b1+b2", "c1+c2"])
    }
}
