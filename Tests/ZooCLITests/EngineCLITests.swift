import Foundation
import Testing
import ZooLab
import ZooReport
import ZooStore
import ZooTensor
import ZooTrain

/// One engine, one identity: `zoo train` and `zoo sweep run` agree bit for bit, and a store
/// written under the previous identity rule migrates without retraining.
@Suite("One engine", .serialized)
struct EngineCLITests {
    /// The same config trained by `zoo train` (one model, 2 threads) and inside a population of
    /// four by `zoo sweep run` (2 workers, one thread each): identical metrics every epoch and
    /// identical final weights and optimizer state.
    @Test func trainAndSweepRunAgreeBitForBit() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try SweepCLITests.write("""
            name: agree
            base:
              model: mlp
              model.hidden: "16"
              model.dropout: 0.1
              data: teacher-student
              data.train: 600
              data.test: 200
              data.input-size: 12
              optimizer: sgd
              momentum: 0.9
              batch_size: 40
              epochs: 3
            grid:
              seed: [0, 1]
              lr: [0.05, 0.1]
            """, in: dir)
        let store = dir.appendingPathComponent("zoo.sqlite").path
        let swept = try CLITests.zoo(["sweep", "run", spec, "--store", store, "--workers", "2"])
        try #require(swept.status == 0, "\(swept.stdout)\(swept.stderr)")
        let out = dir.appendingPathComponent("alone").path
        let trained = try CLITests.zoo(["train", "--model", "mlp", "--model-option", "hidden=16", "--model-option", "dropout=0.1",
                                        "--data", "teacher-student", "--data-option", "train=600", "--data-option", "test=200",
                                        "--data-option", "input-size=12", "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.1",
                                        "--batch-size", "40", "--epochs", "3", "--seed", "1", "--threads", "2", "--progress", "quiet", "--out", out])
        try #require(trained.status == 0, "\(trained.stdout)\(trained.stderr)")

        let s = try SQLiteStore(path: URL(fileURLWithPath: store))
        let run = try #require(try s.runs().first { RunRows.flatten($0.config)["seed"] == "1" && RunRows.flatten($0.config)["lr"] == "0.1" })
        let stored = try s.metrics(runs: [run.id])
        let lines = try String(contentsOf: URL(fileURLWithPath: out + "/events.jsonl"), encoding: .utf8).split(separator: "\n")
        let events = try lines.compactMap { line -> [String: Any]? in try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] }
            .filter { $0["event"] as? String == "epoch" }
        #expect(stored.count == 3 && events.count == 3)
        for (m, e) in zip(stored, events) {
            for key in ["train_loss", "train_accuracy", "running_loss", "running_accuracy", "test_loss", "test_accuracy"] {
                let a = Float(m.values[key] ?? .nan), b = Float((e[key] as? Double) ?? .nan)
                #expect(a == b, "epoch \(m.epoch) \(key): sweep \(a), train \(b)")
            }
        }
        let last = try #require(try s.checkpoints(runs: [run.id]).last)
        let swept3 = try Checkpoint.read(from: s.checkpointFolder!.appendingPathComponent(last.path)).state
        let alone = try Checkpoint.read(from: URL(fileURLWithPath: out + "/final.safetensors")).state
        #expect(swept3.epoch == 3 && swept3 == alone)
    }

    /// A store written by Zoo 0.4 (ids hashed from every key with defaults filled in) opens with
    /// its runs renamed to today's ids: the spec, with the train metrics those runs had (the old
    /// default, `running`) written out, finds all four done and trains nothing; the metrics and
    /// checkpoint files moved with them, the running averages under their own name.
    @Test func aStoreOfTheOldIdentityMigrates() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/v1-store")
        let copy = dir.appendingPathComponent("v1")
        try FileManager.default.copyItem(at: fixture, to: copy)
        let store = copy.appendingPathComponent("zoo.sqlite").path
        let spec = copy.appendingPathComponent("v1-zoo.yaml").path
        let text = try String(contentsOfFile: spec, encoding: .utf8).replacingOccurrences(of: "  epochs: 2\n", with: "  epochs: 2\n  train_metrics: running\n")
        try text.write(toFile: spec, atomically: true, encoding: .utf8)
        let before = try SQLiteStore(path: URL(fileURLWithPath: store))
        let oldIDs = try before.runs().map(\.id)
        let oldMetrics = try before.metrics().map { $0.values["test_loss"]! }.sorted()
        #expect(oldIDs.count == 4)

        let r = try CLITests.zoo(["sweep", "run", spec, "--store", store])
        try #require(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("4 runs, 4 already done, 0 new, 0 to train"), "\(r.stdout)")
        #expect(r.stderr.contains("4 run id(s) renamed"), "\(r.stderr)")

        let after = try SQLiteStore(path: URL(fileURLWithPath: store))
        let plan = try SweepPlan.make(try SweepSpec.load(URL(fileURLWithPath: spec)))
        #expect(Set(try after.runs().map(\.id)) == Set(plan.runs.map(\.id)))
        #expect(Set(oldIDs).isDisjoint(with: Set(plan.runs.map(\.id))))
        #expect(try after.runs().allSatisfy { $0.status == .done })
        #expect(try after.metrics().map { $0.values["test_loss"]! }.sorted() == oldMetrics)
        #expect(try after.metrics().allSatisfy { $0.values["train_loss"] == nil && $0.values["running_loss"] != nil })
        let checkpoints = try after.checkpoints()
        #expect(checkpoints.count == 8)
        for c in checkpoints {
            let url = after.checkpointFolder!.appendingPathComponent(c.path)
            let bytes = try Data(contentsOf: url)
            #expect(c.path.hasPrefix(c.runID + "/") && Identity.sha256(bytes) == c.sha256)
        }
        for old in oldIDs { #expect(!FileManager.default.fileExists(atPath: after.checkpointFolder!.appendingPathComponent(old).path)) }
        #expect(try after.metadata(IdentityMigration.metadataKey) == String(ConfigSchema.version))
    }
}
