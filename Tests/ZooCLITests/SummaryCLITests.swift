import Foundation
import Testing

/// `zoo summary` end to end on a real small store, and labels attached by a second sweep of the
/// same runs (which trains nothing).
@Suite("zoo summary", .serialized)
struct SummaryCLITests {
    static func spec(labels: Bool) -> String {
        """
        name: summary-test
        base:
          model: mlp
          model.hidden: "8"
          data: teacher-student
          data.train: 300
          data.test: 100
          data.input-size: 8
          optimizer: sgd
          batch_size: 50
          epochs: 2
          checkpoint_every: 0
        grid:
          seed: [0, 1]
        zip:
          - \(labels ? "label: [slow, fast]\n    " : "")lr: [0.01, 0.1]
            momentum: [0, 0.9]
        """
    }

    /// A store trained from the unlabeled spec, then labeled by the labeled one.
    static func labeledStore(in dir: URL) throws -> String {
        let store = dir.appendingPathComponent("z.sqlite").path
        let plain = try SweepCLITests.write(spec(labels: false), in: dir, name: "plain.yaml")
        let first = try CLITests.zoo(["sweep", "run", plain, "--store", store, "--quiet"])
        try #require(first.status == 0, "\(first.stdout)\(first.stderr)")
        let labeled = try SweepCLITests.write(spec(labels: true), in: dir, name: "labeled.yaml")
        let second = try CLITests.zoo(["sweep", "run", labeled, "--store", store])
        try #require(second.status == 0, "\(second.stdout)\(second.stderr)")
        #expect(second.stdout.contains("4 runs, 4 already done, 0 new, 0 to train"), "a label must not make runs new: \(second.stdout)")
        // The end-of-sweep table groups by the arms' labels, not by the keys the labels stand for.
        #expect(second.stdout.contains("\nlabel  seeds  test acc % (mean ± sd)") && second.stdout.contains("\nfast "), "\(second.stdout)")
        return store
    }

    @Test func formatsSuccessRatesAndLabels() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Self.labeledStore(in: dir)

        // Default grouping: by label (lr and momentum do not vary within an arm).
        let table = try CLITests.zoo(["summary", "--store", store])
        try #require(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.hasPrefix("label  n  epoch  test_accuracy %  95% CI"), "\(table.stdout)")
        #expect(table.stdout.contains("\nfast ") && table.stdout.contains("\nslow "))

        // csv: one row per arm, fractions, Wilson intervals of 2/2 and 0/2 (scipy's binomtest).
        let csv = try CLITests.zoo(["summary", "--store", store, "--by", "label", "--sort", "keys", "--format", "csv", "--success", "test_accuracy>=0"])
        try #require(csv.status == 0, "\(csv.stderr)")
        let lines = csv.stdout.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        try #require(lines.count == 3, "\(csv.stdout)")
        let header = lines[0]
        func column(_ name: String, _ row: Int) throws -> String { lines[row][try #require(header.firstIndex(of: name), "no column \(name)")] }
        #expect(header.first == "label" && lines.allSatisfy { $0.count == header.count })
        #expect(try column("label", 1) == "fast" && column("label", 2) == "slow")
        #expect(try column("done", 1) == "2" && column("success_count", 1) == "2" && column("success_trials", 1) == "2")
        let low = try column("success_ci_low", 1), high = try column("success_ci_high", 1)
        #expect(abs(Double(low)! - 0.34238022750665303) < 1e-5 && Double(high) == 1)
        let accuracy = try column("test_accuracy_mean", 1), source = try column("gap_source", 1), steps = try column("steps_mean", 1)
        #expect((0...1).contains(Double(accuracy)!) && source == "measured")
        #expect(Double(steps) == 12, "300 examples / 50 per batch × 2 epochs")

        let none = try CLITests.zoo(["summary", "--store", store, "--format", "json", "--success", "test_accuracy > 1"])
        try #require(none.status == 0, "\(none.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(none.stdout.utf8)) as? [String: Any])
        #expect(json["by"] as? [String] == ["label"] && json["metrics"] as? [String] == ["test_accuracy"])
        let groups = try #require(json["groups"] as? [[String: Any]])
        #expect(groups.count == 2)
        for g in groups {
            let success = try #require(g["success"] as? [String: Any])
            #expect(success["successes"] as? Int == 0 && success["trials"] as? Int == 2)
            let ci = try #require(success["ci"] as? [Double])
            #expect(ci[0] == 0 && abs(ci[1] - 0.6576197724933469) < 1e-5)
            let value = try #require(((g["metrics"] as? [String: Any])?["test_accuracy"] as? [String: Any])?["value"] as? [String: Any])
            #expect(value["n"] as? Int == 2 && (value["ci"] as? [Double])?.count == 2)
        }

        let markdown = try CLITests.zoo(["summary", "--store", store, "--format", "markdown", "--by", "lr", "--where", "label=fast",
                                         "--metric", "test_accuracy", "--metric", "train_loss", "--epoch", "best"])
        try #require(markdown.status == 0, "\(markdown.stderr)")
        let rows = markdown.stdout.split(separator: "\n").filter { $0.hasPrefix("|") }
        #expect(rows.count == 3 && rows[0].hasPrefix("| lr | n | epoch | test_accuracy % |") && rows[1].hasPrefix("| --- |"), "\(markdown.stdout)")
        #expect(rows[2].hasPrefix("| 0.1 | 2 |"), "\(markdown.stdout)")
    }

    @Test func badOptionsExitTwoNamingTheProblem() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("z.sqlite").path
        let spec = try SweepCLITests.write(Self.spec(labels: true), in: dir)
        let trained = try CLITests.zoo(["sweep", "run", spec, "--store", store, "--quiet"])
        try #require(trained.status == 0, "\(trained.stderr)")
        for (arguments, expected) in [
            (["--success", "test_accuracy=0.8"], "--success 'test_accuracy=0.8': no comparison operator"),
            (["--success", "test_accuracy>=high"], "'high' is not a finite number"),
            (["--success", "sharpness<1"], "'sharpness' is not a metric or measure stored for these runs; stored: scheduled_lr"),
            (["--metric", "test_acc"], "'test_acc' is not a metric or measure stored"),
            (["--by", "colour"], "--by colour: no run has this key; keys: "),
            (["--epoch", "last"], "--epoch takes final, best or an epoch number"),
            (["--where", "label=medium"], "no run of"),
            (["--format", "xml"], "xml"),
        ] {
            let r = try CLITests.zoo(["summary", "--store", store] + arguments)
            #expect(r.status == 2, "\(arguments): exit \(r.status)")
            #expect(r.stderr.contains(expected), "\(arguments): \(r.stderr)")
        }
        let help = try CLITests.zoo(["summary", "--help"])
        #expect(help.status == 0 && help.stdout.contains("--success <expr>") && help.stdout.contains("Wilson"))
        #expect(try CLITests.zoo(["--help"]).stdout.contains("summary"))
    }
}
