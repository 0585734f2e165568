import Foundation
import Testing
import ZooTrain

/// Runs the built `zoo` executable (from this package's build folder) end to end.
@Suite("zoo command", .serialized)
struct CLITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var binary: URL {
        // `swift build --build-tests` builds the executable next to the test bundle.
        let bundle = Bundle.main.bundleURL
        for folder in [bundle, bundle.deletingLastPathComponent(), root.appendingPathComponent(".build/debug")] {
            let candidate = folder.appendingPathComponent("zoo")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return root.appendingPathComponent(".build/debug/zoo")
    }

    struct Output { var status: Int32; var stdout: String; var stderr: String }

    static func zoo(_ arguments: [String]) throws -> Output {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    static func temporaryFolder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-cli-\(UUID())")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static let smallRun = ["--model", "mlp", "--model-option", "hidden=16", "--data", "teacher-student",
                           "--data-option", "train=600", "--data-option", "test=200", "--data-option", "input-size=8",
                           "--batch-size", "50", "--optimizer", "sgd", "--lr", "0.1", "--momentum", "0.9", "--seed", "4", "--progress", "plain"]

    @Test func trainWritesConfigEventsAndCheckpoints() throws {
        let out = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try Self.zoo(["train"] + Self.smallRun + ["--epochs", "3", "--save-every", "1", "--out", out.path])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("test accuracy"))
        for name in ["config.json", "events.jsonl", "epoch-1.safetensors", "epoch-2.safetensors", "epoch-3.safetensors", "final.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "missing \(name)")
        }
        let events = try String(contentsOf: out.appendingPathComponent("events.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(events.map { $0["event"] as! String } == ["start", "epoch", "epoch", "epoch", "end"])
        #expect(events.last!["status"] as? String == "completed")
        let config = try RunConfig.decode(String(contentsOf: out.appendingPathComponent("config.json"), encoding: .utf8), source: "config.json")
        #expect(config.model.name == "mlp" && config.training.epochs == 3 && config.training.seed == 4)
        let (state, _) = try Checkpoint.read(from: out.appendingPathComponent("final.safetensors"))
        #expect(state.epoch == 3)

        // Python's safetensors package opens the checkpoint: same names, shapes and sums.
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", Self.root.appendingPathComponent("scripts/python/safetensors_check.py").path, "load", out.appendingPathComponent("final.safetensors").path]
        let pipe = Pipe()
        python.standardOutput = pipe
        try python.run()
        let printed = pipe.fileHandleForReading.readDataToEndOfFile()
        python.waitUntilExit()
        try #require(python.terminationStatus == 0, "python3 with safetensors is required (scripts/install-deps.sh)")
        let loaded = try JSONSerialization.jsonObject(with: printed) as! [String: Any]
        let tensors = loaded["tensors"] as! [String: [String: Any]]
        #expect(Set(tensors.keys) == Set(state.model.names + state.optimizer.names.map { "optimizer." + $0 }))
        #expect(tensors["1.weight"]?["shape"] as? [Int] == [16, 8])
        #expect((loaded["metadata"] as? [String: String])?["format"] == "zoo-checkpoint-1")

        // eval prints the same test accuracy as the end of training.
        let e = try Self.zoo(["eval", out.appendingPathComponent("final.safetensors").path])
        #expect(e.status == 0, "stderr: \(e.stderr)")
        let accuracy = events.last!["test_accuracy"] as! Double
        #expect(e.stdout.contains(String(format: "accuracy %.2f%%", accuracy * 100)), "\(e.stdout) vs \(accuracy)")
    }

    @Test func resumeGivesTheSameFinalWeights() throws {
        let straight = Self.temporaryFolder(), split = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: straight); try? FileManager.default.removeItem(at: split) }
        #expect(try Self.zoo(["train"] + Self.smallRun + ["--epochs", "4", "--out", straight.path]).status == 0)
        #expect(try Self.zoo(["train"] + Self.smallRun + ["--epochs", "2", "--save-every", "2", "--out", split.path]).status == 0)
        let r = try Self.zoo(["train"] + Self.smallRun + ["--epochs", "4", "--resume", split.appendingPathComponent("epoch-2.safetensors").path, "--out", split.path])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let a = try Checkpoint.read(from: straight.appendingPathComponent("final.safetensors")).state
        let b = try Checkpoint.read(from: split.appendingPathComponent("final.safetensors")).state
        #expect(a.model == b.model)
    }

    @Test func badInputNamesTheProblem() throws {
        let out = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: out) }
        let model = try Self.zoo(["train", "--model", "vgg", "--data", "teacher-student", "--out", out.path])
        #expect(model.status != 0)
        #expect(model.stderr.contains("vgg") && model.stderr.contains("zoo-cnn"))
        let option = try Self.zoo(["train", "--model", "mlp", "--data", "teacher-student", "--data-option", "colour=red", "--out", out.path])
        #expect(option.status != 0)
        #expect(option.stderr.contains("colour") && option.stderr.contains("subset"))
        let shape = try Self.zoo(["train", "--model", "zoo-cnn", "--data", "teacher-student", "--out", out.path])
        #expect(shape.status != 0)
        #expect(shape.stderr.contains("zoo-cnn") && shape.stderr.contains("[32]"))
        let rate = try Self.zoo(["train", "--lr", "-1", "--data", "teacher-student", "--out", out.path])
        #expect(rate.status != 0)
        #expect(rate.stderr.lowercased().contains("learning"))
        let missing = try Self.zoo(["eval", out.appendingPathComponent("nothing.safetensors").path])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("nothing.safetensors"))
    }

    @Test func catalogsListEverything() throws {
        let models = try Self.zoo(["models"])
        for name in ["mlp", "zoo-cnn", "lenet5", "cnn1d", "resnet20", "nin", "activation=", "hidden="] {
            #expect(models.stdout.contains(name), "zoo models lacks \(name)")
        }
        let data = try Self.zoo(["datasets"])
        for name in ["fashion-mnist", "mnist1d", "idx:DIR", "teacher-student", "hidden-manifold", "label-noise=", "subset="] {
            #expect(data.stdout.contains(name), "zoo datasets lacks \(name)")
        }
        let help = try Self.zoo(["--help"])
        #expect(help.stdout.contains("SUBCOMMANDS") && help.stdout.contains("train") && help.stdout.contains("eval"))
        let trainHelp = try Self.zoo(["train", "--help"])
        for flag in ["--model-option", "--data-option", "--save-every", "--resume", "--optimizer <optimizer>", "(values: sgd, adam, adamw, rmsprop"] {
            #expect(trainHelp.stdout.contains(flag), "train --help lacks \(flag)")
        }
    }
}
