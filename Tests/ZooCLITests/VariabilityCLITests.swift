import Foundation
import Testing
import ZooStore

/// `zoo variability` end to end: a small seed zoo trained with `record_predictions: test` by the
/// real binary into a real store, its measures checked against numpy
/// (`scripts/python/variability_check.py`) on the exported predictions.
@Suite("zoo variability", .serialized)
struct VariabilityCLITests {
    static func spec(record: Bool) -> String {
        """
        name: seeds
        base:
          model: mlp
          model.hidden: "16"
          data: teacher-student
          data.train: 1000
          data.test: 300
          data.input-size: 8
          optimizer: sgd
          momentum: 0.9
          lr: 0.05
          batch_size: 50
          epochs: 2
        \(record ? "  record_predictions: test\n" : "")grid:
          seed: [0, 1, 2, 3]
        """
    }

    /// The store of the 4-seed zoo (trained once for the suite's tests).
    static let store: Result<(folder: URL, path: String), Error> = Result {
        let dir = CLITests.temporaryFolder()
        let spec = try SweepCLITests.write(Self.spec(record: true), in: dir)
        let path = dir.appendingPathComponent("z.sqlite").path
        let r = try CLITests.zoo(["sweep", "run", spec, "--store", path])
        guard r.status == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "sweep failed: \(r.stdout)\(r.stderr)"]) }
        return (dir, path)
    }

    static func number(_ any: Any?) -> Double? {
        if let d = any as? Double { return d }
        if let s = any as? String, s == "NaN" { return .nan }
        return nil
    }

    @Test func agreesWithNumpyOnTheExportedPredictions() throws {
        let (dir, path) = try Self.store.get()
        let csv = dir.appendingPathComponent("predictions.csv").path
        let r = try CLITests.zoo(["variability", "--store", path, "--format", "json", "--predictions-csv", csv])
        try #require(r.status == 0, "\(r.stdout)\(r.stderr)")
        let groups = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        try #require(groups.count == 1)
        let group = groups[0], v = try #require(group["variability"] as? [String: Any])
        let runs = try #require(group["runs"] as? [String])
        #expect(runs.count == 4 && group["epochs"] as? [Int] == [2, 2, 2, 2] && v["examples"] as? Int == 300)

        // Each member's recorded predictions agree exactly with its stored test accuracy.
        let store = try SQLiteStore(path: URL(fileURLWithPath: path), readOnly: true)
        let accuracies = try #require(v["memberAccuracies"] as? [Double])
        for (run, accuracy) in zip(runs, accuracies) {
            let stored = try #require(try store.metrics(runs: [run]).last?.values["test_accuracy"])
            #expect(Float(accuracy) == Float(stored), "run \(run)")
        }

        let p = try SweepCLITests().python([CLITests.root.appendingPathComponent("scripts/python/variability_check.py").path, csv])
        try #require(p.status == 0, "python3 with numpy is required (scripts/install-deps.sh): \(p.output)")
        let reference = try #require(try JSONSerialization.jsonObject(with: Data(p.output.utf8)) as? [String: Any])
        let referenceAccuracies = try #require(reference["memberAccuracies"] as? [String: Double])
        #expect(runs.map { referenceAccuracies[$0]! } == accuracies)
        func close(_ a: Double?, _ b: Double?, _ what: String) {
            guard let a, let b else { Issue.record("\(what) missing: \(String(describing: a)) vs \(String(describing: b))"); return }
            #expect(abs(a - b) < 1e-12 || (a.isNaN && b.isNaN), "\(what): zoo \(a), numpy \(b)")
        }
        for key in ["flipFraction", "alwaysCorrect", "alwaysWrong", "pairwiseFlipRate", "pairwiseDisagreement"] {
            close(Self.number(v[key]), Self.number(reference[key]), key)
        }
        let entropy = try #require(v["entropy"] as? [String: Any])
        for (ours, theirs) in [("mean", "entropyMean"), ("median", "entropyMedian"), ("p90", "entropyP90"), ("max", "entropyMax"), ("unanimous", "unanimous")] {
            close(Self.number(entropy[ours]), Self.number(reference[theirs]), "entropy \(ours)")
        }
        // The probabilities pass through 9-digit text on the way to numpy.
        #expect(abs(Self.number(v["probabilityCV"])! - Self.number(reference["probabilityCV"])!) < 1e-7)
        let ensembles = try #require(v["ensembles"] as? [[String: Any]]), expected = try #require(reference["ensembles"] as? [[String: Any]])
        try #require(ensembles.count == 4 && expected.count == 4)
        for (e, x) in zip(ensembles, expected) {
            let k = e["size"] as? Int ?? 0
            #expect(e["exhaustive"] as? Bool == true)
            close(Self.number(e["accuracy"]), Self.number(x["accuracy"]), "accuracy k=\(k)")
            if let sd = x["accuracySD"] as? Double { close(Self.number(e["accuracySD"]), sd, "sd k=\(k)") }
            if let flip = x["flipRate"] as? Double {
                close(Self.number(e["flipRate"]), flip, "flip rate k=\(k)")
                #expect(e["pairs"] as? Int == x["pairs"] as? Int)
            } else {
                #expect(e["flipRate"] == nil)
            }
        }
    }

    @Test func tableCsvAndEpochs() throws {
        let (_, path) = try Self.store.get()
        let table = try CLITests.zoo(["variability", "--store", path])
        #expect(table.status == 0, "\(table.stderr)")
        for header in ["members", "flip %", "pair flip %", "entropy (bits)", "prob CV", "ensemble acc %", "ensembles of k members"] {
            #expect(table.stdout.contains(header), "table lacks \(header): \(table.stdout)")
        }
        let csv = try CLITests.zoo(["variability", "--store", path, "--format", "csv", "--epoch", "1"])
        #expect(csv.status == 0, "\(csv.stderr)")
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.count == 5 && lines[0].hasPrefix("members,examples,classes,mean_accuracy,flip_fraction"))
        let missing = try CLITests.zoo(["variability", "--store", path, "--epoch", "7"])
        #expect(missing.status == 1 && missing.stderr.contains("no run has predictions at the epoch asked for; recorded epochs: 1, 2"), "\(missing.stderr)")
        let bad = try CLITests.zoo(["variability", "--store", path, "--epoch", "last"])
        #expect(bad.status == 2 && bad.stderr.contains("--epoch takes final or an epoch number"))
    }

    /// A zoo trained without the key: the error names the key to set.
    @Test func withoutPredictionsTheErrorNamesTheKey() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try SweepCLITests.write(Self.spec(record: false).replacingOccurrences(of: "[0, 1, 2, 3]", with: "[0, 1]"), in: dir)
        let path = dir.appendingPathComponent("z.sqlite").path
        let trained = try CLITests.zoo(["sweep", "run", spec, "--store", path])
        try #require(trained.status == 0, "\(trained.stderr)")
        let r = try CLITests.zoo(["variability", "--store", path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("none of the 2 run(s) has recorded predictions") && r.stderr.contains("record_predictions: test"), "\(r.stderr)")
        let help = try CLITests.zoo(["variability", "--help"])
        for option in ["--store", "--by", "--epoch", "--where", "--format", "--samples", "--seed", "--predictions-csv", "record_predictions: test"] {
            #expect(help.stdout.contains(option), "--help lacks \(option)")
        }
    }
}
