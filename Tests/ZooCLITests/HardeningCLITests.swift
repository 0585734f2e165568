import Foundation
import GRDB
import Testing
import ZooLab
import ZooStore
import ZooTensor
import ZooTrain

/// Issue 11 as a careless or hostile user tries it: signals, exit codes, output folders,
/// checkpoints and stores that cannot be trusted. Each test is named after the item it covers.
@Suite("Hardening", .serialized)
struct HardeningCLITests {
    static let trainArguments = ["train", "--model", "mlp", "--model-option", "hidden=16", "--data", "teacher-student",
                                 "--data-option", "train=400", "--data-option", "test=100", "--data-option", "input-size=8",
                                 "--batch-size", "50", "--progress", "quiet"]

    /// SIGINT during `zoo train`: exit 130, the last completed epoch saved, and resuming from it
    /// gives the weights of an uninterrupted run.
    @Test func signalsStopTrainAndSaveTheLastEpoch() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("stopped").path
        let p = try SweepCLITests.launch(Self.trainArguments + ["--epochs", "2000", "--out", out])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && !FileManager.default.fileExists(atPath: out + "/events.jsonl") { Thread.sleep(forTimeInterval: 0.05) }
        // Let a few epochs complete.
        while Date() < deadline, let text = try? String(contentsOfFile: out + "/events.jsonl", encoding: .utf8),
              text.components(separatedBy: "\"epoch\",").count < 4 { Thread.sleep(forTimeInterval: 0.05) }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 130)
        let saved = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix("epoch-") }
        try #require(saved.count == 1, "\(saved)")
        let epoch = Int(saved[0].dropFirst(6).dropLast(12))!
        #expect(epoch >= 3 && !FileManager.default.fileExists(atPath: out + "/final.safetensors"))
        // Resume to epoch + 1 and compare with a straight run of epoch + 1 epochs.
        let resumed = try CLITests.zoo(Self.trainArguments + ["--epochs", "\(epoch + 1)", "--out", out, "--resume", out + "/" + saved[0]])
        try #require(resumed.status == 0, "\(resumed.stderr)")
        let straight = dir.appendingPathComponent("straight").path
        try #require(try CLITests.zoo(Self.trainArguments + ["--epochs", "\(epoch + 1)", "--out", straight]).status == 0)
        #expect(try Checkpoint.read(from: URL(fileURLWithPath: out + "/final.safetensors")).state
                == Checkpoint.read(from: URL(fileURLWithPath: straight + "/final.safetensors")).state)
    }

    /// Exit codes: 2 for usage errors (bad options), 1 for file contents, 3 for a diverged run.
    @Test func exitCodesSayWhatWentWrong() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try CLITests.zoo(["train", "--threads", "0"]).status == 2)
        // A negative number is a value, refused for its range (not "Missing value for '--lr'").
        let negative = try CLITests.zoo(["train", "--lr", "-0.1", "--out", dir.appendingPathComponent("n").path])
        #expect(negative.status == 2 && negative.stderr.contains("learning rate = -0.1"), "\(negative.stderr)")
        #expect(try CLITests.zoo(["sweep", "run", "x.yaml", "--workers", "500"]).status == 2)
        let garbage = dir.appendingPathComponent("garbage.safetensors")
        try Data("not a checkpoint".utf8).write(to: garbage)
        let bad = try CLITests.zoo(["eval", garbage.path])
        #expect(bad.status == 1 && bad.stderr.contains(garbage.path) && !bad.stderr.contains("Usage"), "\(bad.stderr)")
        let diverged = try CLITests.zoo(Self.trainArguments + ["--epochs", "2", "--optimizer", "sgd", "--lr", "1e6", "--momentum", "0.9",
                                                              "--out", dir.appendingPathComponent("d").path])
        #expect(diverged.status == 3, "\(diverged.stdout)\(diverged.stderr)")
        // Options that would be silently ignored are refused.
        #expect(try CLITests.zoo(Self.trainArguments + ["--epochs", "1", "--freeze", "nothing.*", "--out", dir.appendingPathComponent("f").path]).status == 2)
        #expect(try CLITests.zoo(Self.trainArguments + ["--epochs", "1", "--early-stopping", "2", "--out", dir.appendingPathComponent("e").path]).status == 2)
    }

    /// `--out` into a folder that holds a run is refused; --overwrite empties it first.
    @Test func trainOutRefusesANonEmptyFolder() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run").path
        try #require(try CLITests.zoo(Self.trainArguments + ["--epochs", "2", "--save-every", "1", "--out", out]).status == 0)
        let again = try CLITests.zoo(Self.trainArguments + ["--epochs", "1", "--out", out])
        #expect(again.status == 2 && again.stderr.contains("--overwrite"), "\(again.stderr)")
        #expect(FileManager.default.fileExists(atPath: out + "/epoch-2.safetensors"), "a refused run must not touch the folder")
        let over = try CLITests.zoo(Self.trainArguments + ["--epochs", "1", "--out", out, "--overwrite"])
        #expect(over.status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == ["config.json", "events.jsonl", "final.safetensors"])
        let events = try String(contentsOfFile: out + "/events.jsonl", encoding: .utf8)
        #expect(events.components(separatedBy: "\"start\"").count == 2, "one run's events only")
    }

    /// Resume checks the checkpoint against the run before building anything: counters out of
    /// range, a missing or misshapen optimizer state, a newer schema.
    @Test func resumeRefusesCheckpointsThatDoNotFit() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run").path
        try #require(try CLITests.zoo(Self.trainArguments + ["--epochs", "2", "--save-every", "1", "--optimizer", "adam", "--out", out]).status == 0)
        let good = try Checkpoint.read(from: URL(fileURLWithPath: out + "/epoch-1.safetensors"))
        func attempt(_ name: String, _ edit: (inout TrainingState) -> Void, config: String? = nil) throws -> CLITests.Output {
            var state = good.state
            edit(&state)
            let url = dir.appendingPathComponent(name + ".safetensors")
            try Checkpoint.write(state, config: config ?? good.config, to: url)
            return try CLITests.zoo(Self.trainArguments + ["--epochs", "2", "--optimizer", "adam", "--out", dir.appendingPathComponent("r-" + name).path,
                                                         "--resume", url.path])
        }
        for (name, edit, fragment): (String, (inout TrainingState) -> Void, String) in [
            ("negative-epoch", { $0.epoch = -5 }, "negative"),
            ("past-the-end", { $0.epoch = 100 }, "past the 2 epochs"),
            ("no-optimizer", { $0.optimizer = NamedTensors() }, "lacks"),
            ("wrong-shape", { s in let n = s.optimizer.names[0]; s.optimizer[n] = Tensor.zeros([3]) }, "has shape"),
            ("step-too-far", { $0.step = 1_000_000 }, "cannot be reached"),
        ] {
            let r = try attempt(name, edit)
            #expect(r.status == 1 && r.stderr.contains(fragment), "\(name): \(r.status) \(r.stderr)")
        }
        let newer = try attempt("newer-schema", { _ in }, config: good.config.replacingOccurrences(of: "\"schemaVersion\":1", with: "\"schemaVersion\":999"))
        #expect(newer.status == 1 && newer.stderr.contains("newer"), "\(newer.stderr)")
    }

    /// Stores are not trusted: a run id that is a path is refused before any path is built; a
    /// store of a newer Zoo is refused; a mistyped store path is an error, not a new store.
    @Test func untrustedStoresAreChecked() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try SweepCLITests.write(SweepCLITests.spec(seeds: [0], epochs: 1, train: 300), in: dir)
        let path = dir.appendingPathComponent("z.sqlite").path
        let plan = try SweepPlan.make(try SweepSpec.load(URL(fileURLWithPath: spec)))
        let store = try SQLiteStore(path: URL(fileURLWithPath: path))
        try store.addSweep(id: plan.sweepID, name: "hostile", spec: plan.spec.text,
                           runs: [("../../escaped", plan.runs[0].canonical, plan.runs[0].groupKey)])
        // Renaming ids to the identity rule refuses such a row outright (it names no folder):
        let refused = try CLITests.zoo(["sweep", "run", spec, "--store", path])
        #expect(refused.status == 1 && refused.stderr.contains("../../escaped"), "\(refused.stdout)\(refused.stderr)")
        // and with the ids marked current, the runner refuses to build a path from it.
        try store.setMetadata(IdentityMigration.metadataKey, String(ConfigSchema.version))
        let r = try CLITests.zoo(["sweep", "run", spec, "--store", path])
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(try store.runs(ids: ["../../escaped"]).first?.status == .failed)
        #expect(!FileManager.default.fileExists(atPath: dir.deletingLastPathComponent().appendingPathComponent("escaped").path))
        #expect(try store.runs(ids: plan.runs.map(\.id)).allSatisfy { $0.status == .done }, "the sweep's own runs still train")

        let typo = dir.appendingPathComponent("typo.sqlite").path
        let ls = try CLITests.zoo(["ls", "--store", typo])
        #expect(ls.status == 1 && ls.stderr.contains("no store here") && !FileManager.default.fileExists(atPath: typo), "\(ls.stderr)")

        let newer = dir.appendingPathComponent("newer.sqlite")
        _ = try SQLiteStore(path: newer)
        let queue = try DatabaseQueue(path: newer.path)
        try queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99')") }
        #expect { try SQLiteStore(path: newer) } throws: { "\($0)".contains("newer Zoo") && "\($0)".contains("v99") }
    }

    /// A checkpoint file deleted from under the store: the run restarts from the one before, and
    /// ends as it would have.
    @Test func aMissingCheckpointRestartsFromThePreviousOne() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try SweepCLITests.write(SweepCLITests.spec(seeds: [0], epochs: 3, train: 300), in: dir)
        let path = dir.appendingPathComponent("z.sqlite").path
        try #require(try CLITests.zoo(["sweep", "run", spec, "--store", path]).status == 0)
        let before = try SweepCLITests.fingerprint(path)
        let store = try SQLiteStore(path: URL(fileURLWithPath: path))
        let run = try #require(try store.runs().first)
        let last = try #require(try store.checkpoints(runs: [run.id]).last)
        try FileManager.default.removeItem(at: store.checkpointFolder!.appendingPathComponent(last.path))
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "UPDATE runs SET status = 'pending' WHERE id = ?", arguments: [run.id]) }
        let r = try CLITests.zoo(["sweep", "run", spec, "--store", path])
        #expect(r.status == 0 && r.stdout.contains("not used"), "\(r.stdout)\(r.stderr)")
        let after = try SweepCLITests.fingerprint(path)
        #expect(after.runs == before.runs && after.metrics == before.metrics)
        #expect(Set(after.checkpoints) == Set(before.checkpoints))
    }
}
