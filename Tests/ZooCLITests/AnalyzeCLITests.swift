import Foundation
import Testing

/// `zoo analyze` and `zoo analyze predict` end to end on a real store: 8 small runs trained by
/// `zoo sweep run`, measured by `zoo measure`; every format parses, and bad options and a store
/// without measures are usage errors (exit 2) that name the option or the command to run.
@Suite("zoo analyze", .serialized)
struct AnalyzeCLITests {
    static let spec = """
        name: analyze-test
        base:
          model: mlp
          model.hidden: "16"
          data: teacher-student
          data.train: 600
          data.test: 300
          data.input-size: 8
          optimizer: sgd
          momentum: 0.9
          batch_size: 50
          epochs: 2
          train_metrics: full
        grid:
          seed: [0, 1]
          lr: [0.02, 0.1]
          weight_decay: [0, 0.01]
        """

    /// The trained store before and after measuring (built once).
    static let stores: (bare: String, measured: String) = {
        let dir = CLITests.temporaryFolder()
        let spec = try! SweepCLITests.write(Self.spec, in: dir)
        let bare = dir.appendingPathComponent("bare.sqlite").path
        let run = try! CLITests.zoo(["sweep", "run", spec, "--store", bare, "--quiet"])
        precondition(run.status == 0, "the sweep failed: \(run.stdout) \(run.stderr)")
        let measuredDir = CLITests.temporaryFolder()
        let measured = measuredDir.appendingPathComponent("measured.sqlite").path
        let train = try! CLITests.zoo(["sweep", "run", spec, "--store", measured, "--quiet"])
        precondition(train.status == 0, "the sweep failed: \(train.stdout) \(train.stderr)")
        let m = try! CLITests.zoo(["measure", "--store", measured, "--measure", "weight_statistics", "--measure", "margin", "--samples", "300"])
        precondition(m.status == 0, "zoo measure failed: \(m.stdout) \(m.stderr)")
        return (bare, measured)
    }()

    @Test func measuresInEveryFormat() throws {
        let store = Self.stores.measured
        let table = try CLITests.zoo(["analyze", "--store", store, "--bootstrap", "20"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("against gap over 8 run(s), hyperparameters: lr, weight_decay"), "\(table.stdout)")
        #expect(table.stdout.contains("Psi 95% CI") && table.stdout.contains("psi[lr]") && table.stdout.contains("margin"))

        let json = try CLITests.zoo(["analyze", "--store", store, "--format", "json", "--bootstrap", "20", "--seed", "3"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let rows = try #require(object["measures"] as? [[String: Any]])
        #expect(object["hyperparameters"] as? [String] == ["lr", "weight_decay"])
        #expect(rows.contains { $0["measure"] as? String == "margin" })
        #expect(rows.allSatisfy { $0["runs"] as? Int == 8 })
        // Seeded: the same seed gives the same intervals.
        let again = try CLITests.zoo(["analyze", "--store", store, "--format", "json", "--bootstrap", "20", "--seed", "3"])
        #expect(again.stdout == json.stdout)

        let csv = try CLITests.zoo(["analyze", "--store", store, "--format", "csv", "--bootstrap", "0"])
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.first == "measure,runs,tau,tau_low,tau_high,psi,psi_low,psi_high,psi[lr],psi[weight_decay],cmi,cmi_given")
        #expect(lines.dropFirst().allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == 12 })

        let markdown = try CLITests.zoo(["analyze", "--store", store, "--format", "markdown", "--target", "test-error"])
        #expect(markdown.status == 0 && markdown.stdout.contains("| measure | runs | tau |"), "\(markdown.stdout)")

        // On a terminal a status line counts the measures scored, then gives way to the table.
        let (status, live) = try SweepProgressCLITests.underTerminal(["analyze", "--store", store, "--bootstrap", "20"])
        #expect(status == 0 && live.contains("scoring measures ") && live.contains("\u{1B}[J"), "\(live.prefix(1500))")
        let result = try #require(live.range(of: "against gap over 8 run(s)", options: .backwards))
        #expect(!live[result.lowerBound...].contains("\u{1B}["))
        #expect(!table.stdout.contains("scoring measures"), "no status line in a pipe")
    }

    @Test func predictInEveryFormat() throws {
        let store = Self.stores.measured
        let table = try CLITests.zoo(["analyze", "predict", "--store", store, "--test-fraction", "0.25"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("6 train, 2 held out") && table.stdout.contains("ridge") && table.stdout.contains("trees"), "\(table.stdout)")

        let json = try CLITests.zoo(["analyze", "predict", "--store", store, "--test-fraction", "0.25", "--format", "json", "--model", "ridge"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let models = try #require(object["models"] as? [[String: Any]])
        #expect(models.count == 1 && models[0]["model"] as? String == "ridge")
        #expect((models[0]["predictions"] as? [[String: Any]])?.count == 2)
        #expect((object["features"] as? [String])?.contains("weight_statistics.t00.mean") == true, "\(object["features"] ?? "")")

        let csv = try CLITests.zoo(["analyze", "predict", "--store", store, "--test-fraction", "0.25", "--format", "csv"])
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.first == "model,run,truth,predicted" && lines.count == 5, "\(csv.stdout)")

        // Cross-validation: every run held out once, by stochastic trees too.
        let folds = try CLITests.zoo(["analyze", "predict", "--store", store, "--folds", "4", "--subsample", "0.75", "--format", "json"])
        #expect(folds.status == 0, "\(folds.stderr)")
        let cv = try #require(try JSONSerialization.jsonObject(with: Data(folds.stdout.utf8)) as? [String: Any])
        let cvModels = try #require(cv["models"] as? [[String: Any]])
        #expect(cvModels.count == 2 && cvModels.allSatisfy { ($0["predictions"] as? [[String: Any]])?.count == 8 && ($0["fold_r2"] as? [Any])?.count == 4 })
        let cvTable = try CLITests.zoo(["analyze", "predict", "--store", store, "--folds", "4"])
        #expect(cvTable.stdout.contains("out-of-fold R²") && cvTable.stdout.contains("4-fold cross-validation"), "\(cvTable.stdout)")
        let bad = try CLITests.zoo(["analyze", "predict", "--store", store, "--subsample", "0"])
        #expect(bad.status == 2 && bad.stderr.contains("--subsample"))
    }

    @Test func usageErrorsExitTwo() throws {
        let measured = Self.stores.measured, bare = Self.stores.bare
        let cases: [([String], String)] = [
            (["analyze", "--store", measured, "--target", "accuracy"], "--target"),
            (["analyze", "--store", measured, "--format", "xml"], "--format"),
            (["analyze", "--store", measured, "--epoch", "last"], "--epoch"),
            (["analyze", "--store", measured, "--hyperparameter", "nope"], "nope"),
            (["analyze", "predict", "--store", measured, "--target", "accuracy"], "unknown metric 'accuracy'"),
            (["analyze", "predict", "--store", measured, "--format", "xml"], "--format"),
            (["analyze", "predict", "--store", measured, "--test-fraction", "1.5"], "--test-fraction"),
            (["analyze", "--store", bare], "zoo measure --store"),
            (["analyze", "predict", "--store", bare], "zoo measure --store STORE --measure weight_statistics"),
        ]
        for (arguments, message) in cases {
            let r = try CLITests.zoo(arguments)
            #expect(r.status == 2, "\(arguments): \(r.status) \(r.stdout) \(r.stderr)")
            #expect(r.stderr.contains(message), "\(arguments): \(r.stderr)")
        }
    }
}
