import ArgumentParser
@preconcurrency import Foundation
import ZooAnalysis
import ZooReport
import ZooStore

/// `zoo analyze`: score a measured zoo's measures against the generalization gap, and predict
/// accuracy from weights.
struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Score each measure against the generalization gap (τ, Ψ, CMI), or predict accuracy from weight statistics.",
        discussion: """
            `zoo analyze --store S` (subcommand `measures`, the default) scores every stored measure
            as Jiang et al. (2019) and the PGDL competition do; `zoo analyze predict` fits ridge
            regression and gradient-boosted trees from weight statistics to test accuracy
            (Unterthiner et al. 2020; Schürholt et al. 2022).
            """,
        subcommands: [Measures.self, Predict.self],
        defaultSubcommand: Measures.self)

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, csv, json, markdown }

    struct Measures: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "measures",
            abstract: "Kendall's τ, the granulated coefficient Ψ and the conditional mutual information of each measure with the gap (the default subcommand).",
            discussion: """
                Over the runs with a finite value of both, at each run's checkpoint of --epoch:
                  tau   Kendall's τ_b of the measure with the target over all runs;
                  psi   Ψ (Jiang et al. 2019, §5): for each hyperparameter i, τ within each group of
                        runs sharing every other hyperparameter, averaged over the groups (ψ_i,
                        printed per hyperparameter), then averaged over i;
                  cmi   the conditional mutual information score (Jiang et al. 2019, §6; the PGDL
                        scorer): over ordered pairs of runs, I(sign of the measure's difference;
                        sign of the target's difference | both runs' values of S) / H(target sign | S),
                        minimized over the sets S of --conditioning hyperparameters.
                The hyperparameters are the varied config keys except seed (or those of
                --hyperparameter). Intervals are 95 % percentile bootstrap intervals over runs
                (--bootstrap replicates drawn with --seed). Rows are sorted by decreasing Ψ.

                Examples:
                  zoo analyze --store runs/fantastic.sqlite
                  zoo analyze --store runs/fantastic.sqlite --target test-error --format markdown
                """)
        enum TargetChoice: String, ExpressibleByArgument, CaseIterable { case gap, testError = "test-error", lossGap = "loss-gap" }
        @OptionGroup var storeOption: StoreOption
        @Option(help: "What the measures are scored against: gap (test error − train error), test-error or loss-gap (test loss − train loss).")
        var target: TargetChoice = .gap
        @Option(name: .customLong("where"), help: ArgumentHelp("Only runs whose config key has this value (repeatable).", valueName: "key=value"))
        var filters: [String] = []
        @Option(help: "Which checkpoint of each run: final or an epoch number.") var epoch: String = "final"
        @Option(name: .customLong("hyperparameter"), help: ArgumentHelp("A hyperparameter (repeatable); default: every varied config key except seed.", valueName: "key"))
        var hyperparameters: [String] = []
        @Option(help: ArgumentHelp("Only this measure (repeatable): its own value and its keys (NAME.KEY); default: every stored measure.", valueName: "name"))
        var measure: [String] = []
        @Option(parsing: .unconditional, help: "Size of the CMI's conditioning sets (PGDL: 2).") var conditioning: Int = 2
        @Option(parsing: .unconditional, help: "Bootstrap replicates for the intervals (0: none).") var bootstrap: Int = 200
        @Option(parsing: .unconditional, help: "Seed of the bootstrap draws.") var seed: UInt64 = 0
        @Option(help: "Output format.") var format: Format = .table
        @Option(help: ArgumentHelp("A status line while measures are scored: live (the default on a terminal) or quiet; the result goes to standard output either way.",
                                   valueName: "auto|live|quiet")) var progress: ProgressMode = .auto

        func validate() throws {
            guard epochChoice != nil else { throw ValidationError("--epoch takes final or an epoch number, got '\(epoch)'") }
            guard (0...100_000).contains(bootstrap) else { throw ValidationError("--bootstrap must be in 0...100000, got \(bootstrap)") }
            guard (0...8).contains(conditioning) else { throw ValidationError("--conditioning must be in 0...8, got \(conditioning)") }
        }

        /// nil when --epoch is not valid; .some(nil) for final.
        var epochChoice: Int?? {
            if epoch == "final" { return .some(nil) }
            guard let e = Int(epoch), e >= 0 else { return nil }
            return .some(e)
        }

        func run() throws {
            let store = try storeOption.open(reading: true)
            let rows = try RunRows(store: store, where: try conditions(filters), measures: true)
            let keys = hyperparameters.isEmpty ? rows.variedKeys.filter { $0 != "seed" } : hyperparameters
            for key in keys where !rows.configKeys.contains(key) {
                throw ValidationError("--hyperparameter \(key): no run has this config key; keys: \(rows.configKeys.joined(separator: ", "))")
            }
            let rankingTarget = MeasureRanking.Target(rawValue: target.rawValue)!
            var lastEpoch: [String: Int] = [:]
            for m in rows.metrics { lastEpoch[m.runID] = max(lastEpoch[m.runID] ?? m.epoch, m.epoch) }
            let chosen = epochChoice!
            var runs: [GeneralizationAnalysis.Run] = []
            for m in rows.metrics where m.epoch == (chosen ?? lastEpoch[m.runID]) {
                guard let t = rankingTarget.value(m), var measures = rows.measures["\(m.runID)@\(m.epoch)"] else { continue }
                if !measure.isEmpty { measures = measures.filter { column, _ in measure.contains { column == $0 || column.hasPrefix($0 + ".") || column.hasPrefix($0 + " ") } } }
                guard !measures.isEmpty else { continue }
                runs.append(.init(id: m.runID, hyperparameters: keys.map { rows.configs[m.runID]?[$0] ?? "" }, target: t, measures: measures))
            }
            guard !runs.isEmpty else {
                throw ValidationError("\(storeOption.name): no run has both measures and the \(target.rawValue) at epoch \(epoch) "
                    + "(\(rows.runs.count) run(s), \(rows.measureColumns.count) measure column(s)); help: compute measures with "
                    + "`zoo measure --store \(storeOption.name) --all --epoch \(epoch)`" + (target == .gap ? ", with train_metrics: full or sample in the spec" : ""))
            }
            // On a terminal, a status line while the measures are scored (bootstrap intervals take a while).
            let display = progress.resolved(quiet: false) == .live ? LiveDisplay() : nil
            let started = Date()
            let analysis = GeneralizationAnalysis(runs: runs, hyperparameters: keys, conditioningSize: conditioning, bootstrap: bootstrap, seed: seed) { done, total in
                let elapsed = Date().timeIntervalSince(started)
                display?.update([String(format: "scoring measures %@ %d/%d · %@ elapsed · ETA %@", LiveDisplay.bar(Double(done) / Double(max(1, total))),
                                        done, total, formatDuration(elapsed), formatDuration(elapsed / Double(done) * Double(total - done)))])
            }
            display?.finish()
            print(render(analysis, runs: runs.count))
        }

        func render(_ a: GeneralizationAnalysis, runs: Int) -> String {
            func number(_ v: Double) -> String { v.isNaN ? "" : String(format: "%+.3f", v) }
            func interval(_ i: (low: Double, high: Double)?) -> String { i.map { String(format: "[%+.3f, %+.3f]", $0.low, $0.high) } ?? "" }
            let psiHeaders = a.hyperparameters.map { "psi[\($0)]" }
            switch format {
            case .table, .markdown:
                let headers = ["measure", "runs", "tau", "tau 95% CI", "Psi", "Psi 95% CI"] + psiHeaders + ["CMI", "CMI given"]
                let cells = a.rows.map { r in
                    [r.measure, String(r.count), number(r.tau), interval(r.tauInterval), number(r.psi), interval(r.psiInterval)]
                        + r.perHyperparameter.map(number) + [r.cmi.isNaN ? "" : String(format: "%.4f", r.cmi), r.cmiConditioning.joined(separator: " ")]
                }
                let title = "\(a.rows.count) measure(s) against \(target.rawValue) over \(runs) run(s), hyperparameters: \(a.hyperparameters.joined(separator: ", ")); by decreasing Psi"
                if format == .table { return title + ":\n" + Table(headers: headers, rows: cells).render() }
                let escape = { (s: String) in s.replacingOccurrences(of: "|", with: "\\|") }
                return ([title + ":", "", "| " + headers.map(escape).joined(separator: " | ") + " |", "|" + headers.map { _ in " --- |" }.joined()]
                    + cells.map { "| " + $0.map(escape).joined(separator: " | ") + " |" }).joined(separator: "\n")
            case .csv:
                let headers = ["measure", "runs", "tau", "tau_low", "tau_high", "psi", "psi_low", "psi_high"] + psiHeaders + ["cmi", "cmi_given"]
                var lines = [headers.map(csvField).joined(separator: ",")]
                for r in a.rows {
                    let numbers: [Double] = [r.tau, r.tauInterval?.low ?? .nan, r.tauInterval?.high ?? .nan,
                                             r.psi, r.psiInterval?.low ?? .nan, r.psiInterval?.high ?? .nan] + r.perHyperparameter + [r.cmi]
                    let fields: [String] = [r.measure, String(r.count)] + numbers.map(csvNumber) + [r.cmiConditioning.joined(separator: " ")]
                    lines.append(fields.map(csvField).joined(separator: ","))
                }
                return lines.joined(separator: "\n")
            case .json:
                let object: [String: Any] = [
                    "target": target.rawValue, "runs": runs, "hyperparameters": a.hyperparameters,
                    "measures": a.rows.map { r -> [String: Any] in
                        ["measure": r.measure, "runs": r.count, "tau": json(r.tau), "tau_interval": json(r.tauInterval), "psi": json(r.psi),
                         "psi_interval": json(r.psiInterval), "psi_per_hyperparameter": Dictionary(uniqueKeysWithValues: zip(a.hyperparameters, r.perHyperparameter.map { json($0) })),
                         "cmi": json(r.cmi), "cmi_given": r.cmiConditioning]
                    },
                ]
                return jsonText(object)
            }
        }
    }

    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "predict",
            abstract: "Predict a metric (test accuracy) from the weight statistics of each run's checkpoint, on held-out runs.",
            discussion: """
                Features: the weight_statistics measure of each run's checkpoint at --epoch (per
                tensor: mean, variance, skew, kurtosis, percentiles 1/25/50/75/99, ℓ₂; in sorted
                order); compute them first with `zoo measure --store S --measure weight_statistics`.
                Runs (members, not checkpoints) are shuffled with --seed and --test-fraction of them
                held out. ridge: standardized features, λ by 5-fold cross-validation on the train
                runs; trees: gradient-boosted regression trees (by default scikit-learn's: 100 trees
                of depth 3, shrinkage 0.1, every run; --subsample below 1 grows each tree on a
                seeded share of the runs). --folds K reports K-fold cross-validation instead: every
                run held out once, R² of all out-of-fold predictions and of each fold.
                Reported on the held-out runs: R² and Kendall's τ, and with --format csv or json
                each held-out run's true and predicted value. Runs left out (no features, a
                non-finite value) are listed.

                Example:
                  zoo analyze predict --store runs/model-zoo.sqlite --target test_accuracy
                """)
        enum ModelChoice: String, ExpressibleByArgument, CaseIterable { case ridge, trees, both }
        @OptionGroup var storeOption: StoreOption
        @Option(help: ArgumentHelp("The metric to predict, one of \(MetricRecord.columns.joined(separator: ", ")).", valueName: "metric"))
        var target: String = "test_accuracy"
        @Option(name: .customLong("where"), help: ArgumentHelp("Only runs whose config key has this value (repeatable).", valueName: "key=value"))
        var filters: [String] = []
        @Option(help: "Which checkpoint of each run: final or an epoch number.") var epoch: String = "final"
        @Option(name: .customLong("test-fraction"), parsing: .unconditional, help: "The share of runs held out for testing.") var testFraction: Double = 0.2
        @Option(parsing: .unconditional, help: "Seed of the train/test split and of the cross-validation folds.") var seed: UInt64 = 0
        @Option(help: "Which regression model.") var model: ModelChoice = .both
        @Option(help: "Cross-validate over every run instead of one split: each of K folds held out once (0: the --test-fraction split).")
        var folds: Int = 0
        @Option(help: "Trees: the number of trees.") var estimators: Int = 100
        @Option(name: .customLong("learning-rate"), help: "Trees: the shrinkage of each tree.") var learningRate: Double = 0.1
        @Option(help: "Trees: the depth of each tree.") var depth: Int = 3
        @Option(help: "Trees: the share of runs each tree is grown on, drawn with --seed (1: all; Friedman's stochastic boosting below 1).")
        var subsample: Double = 1
        @Option(help: "Output format.") var format: Format = .table

        var treeSettings: GradientBoostedTrees.Settings {
            var s = GradientBoostedTrees.Settings()
            s.estimators = estimators
            s.learningRate = learningRate
            s.maxDepth = depth
            s.subsample = subsample
            s.seed = seed
            return s
        }

        func validate() throws {
            guard folds == 0 || (2...1000).contains(folds) else { throw ValidationError("--folds must be 0 or in 2...1000, got \(folds)") }
            guard (1...10_000).contains(estimators) else { throw ValidationError("--estimators must be in 1...10000, got \(estimators)") }
            guard learningRate > 0, learningRate <= 1 else { throw ValidationError("--learning-rate must be in (0, 1], got \(learningRate)") }
            guard (1...12).contains(depth) else { throw ValidationError("--depth must be in 1...12, got \(depth)") }
            guard subsample > 0, subsample <= 1 else { throw ValidationError("--subsample must be in (0, 1], got \(subsample)") }
            guard MetricRecord.columns.contains(target) else {
                throw ValidationError("--target: unknown metric '\(target)'; valid: \(MetricRecord.columns.joined(separator: ", "))")
            }
            guard epoch == "final" || (Int(epoch).map { $0 >= 0 } ?? false) else { throw ValidationError("--epoch takes final or an epoch number, got '\(epoch)'") }
            guard testFraction > 0, testFraction < 1 else { throw ValidationError("--test-fraction must be in (0, 1), got \(testFraction)") }
        }

        func run() throws {
            let store = try storeOption.open(reading: true)
            let rows = try RunRows(store: store, where: try conditions(filters))
            let ids = rows.runs.map(\.id)
            var prediction: AccuracyPrediction
            do {
                prediction = try AccuracyPrediction(runs: ids, measures: ids.isEmpty ? [] : try store.measures(runs: ids), metrics: rows.metrics, target: target,
                                                    epoch: epoch == "final" ? .final : .number(Int(epoch)!), testFraction: testFraction, seed: seed)
            } catch let e as AnalysisError { throw ValidationError("\(storeOption.name): \(e.description)") }
            let models: [AccuracyPrediction.Model] = model == .both ? [.ridge, .trees] : [model == .ridge ? .ridge : .trees]
            if folds > 0 {
                print(render(prediction, prediction.crossValidate(models, folds: folds, trees: treeSettings, seed: seed)))
                return
            }
            prediction.fit(models, trees: treeSettings, seed: seed)
            print(render(prediction))
        }

        /// The cross-validated figures: pooled out-of-fold R² and τ, and R² per fold.
        func render(_ p: AccuracyPrediction, _ results: [AccuracyPrediction.CrossValidation]) -> String {
            func number(_ v: Double) -> String { v.isNaN ? "" : String(format: "%.4f", v) }
            switch format {
            case .table, .markdown:
                let headers = ["model", "folds", "out-of-fold R²", "out-of-fold τ", "fold R² (mean ± sd)", "fold R² min", "fold R² max"]
                let cells = results.map { r -> [String] in
                    let e = MeanEstimate(r.foldR2)
                    return [r.model.rawValue, String(r.folds), number(r.r2), number(r.tau), e.map { "\(number($0.mean)) ± \(number($0.sd))" } ?? "",
                            number(r.foldR2.min() ?? .nan), number(r.foldR2.max() ?? .nan)]
                }
                let head = "\(target) from \(p.features.count) weight statistic(s) of \(p.members.count) run(s), each held out once in \(results.first?.folds ?? folds)-fold cross-validation (seed \(seed))"
                    + (p.missing.isEmpty ? "" : "; \(p.missing.count) left out")
                let table = format == .table ? Table(headers: headers, rows: cells).render()
                    : (["| " + headers.joined(separator: " | ") + " |", "|" + headers.map { _ in " --- |" }.joined()] + cells.map { "| " + $0.joined(separator: " | ") + " |" }).joined(separator: "\n")
                return head + "\n\n" + table
            case .csv:
                return (["model,run,truth,predicted"] + results.flatMap { r in
                    r.predictions.map { [r.model.rawValue, $0.run, csvNumber($0.truth), csvNumber($0.predicted)].joined(separator: ",") }
                }).joined(separator: "\n")
            case .json:
                return jsonText(["target": target, "features": p.features, "left_out": p.missing.map { ["run": $0.run, "reason": $0.reason] },
                                 "models": results.map { r -> [String: Any] in
                                     ["model": r.model.rawValue, "folds": r.folds, "r2": json(r.r2), "tau": json(r.tau), "fold_r2": r.foldR2.map { json($0) },
                                      "predictions": r.predictions.map { ["run": $0.run, "truth": json($0.truth), "predicted": json($0.predicted)] }]
                                 }] as [String: Any])
            }
        }

        func render(_ p: AccuracyPrediction) -> String {
            func number(_ v: Double) -> String { v.isNaN ? "" : String(format: "%.4f", v) }
            switch format {
            case .table, .markdown:
                var lines = ["\(target) from \(p.features.count) weight statistic(s) of \(p.members.count) run(s): \(p.train.count) train, \(p.test.count) held out (seed \(seed))"
                             + (p.missing.isEmpty ? "" : "; \(p.missing.count) left out"), ""]
                let headers = ["model", "held-out R²", "held-out τ", "train R²", "λ"]
                let cells = p.results.map { [$0.model.rawValue, number($0.r2), number($0.tau), number($0.trainR2), $0.lambda.map { String(format: "%g", $0) } ?? ""] }
                if format == .table { lines.append(Table(headers: headers, rows: cells).render()) } else {
                    lines += ["| " + headers.joined(separator: " | ") + " |", "|" + headers.map { _ in " --- |" }.joined()] + cells.map { "| " + $0.joined(separator: " | ") + " |" }
                }
                for m in p.missing.prefix(20) { lines.append("left out: \(m.run.prefix(12)): \(m.reason)") }
                if p.missing.count > 20 { lines.append("left out: … and \(p.missing.count - 20) more") }
                return lines.joined(separator: "\n")
            case .csv:
                return (["model,run,truth,predicted"] + p.results.flatMap { r in
                    r.predictions.map { [r.model.rawValue, $0.run, csvNumber($0.truth), csvNumber($0.predicted)].joined(separator: ",") }
                }).joined(separator: "\n")
            case .json:
                let object: [String: Any] = [
                    "target": target, "features": p.features, "train_runs": p.train.map(\.run), "test_runs": p.test.map(\.run),
                    "left_out": p.missing.map { ["run": $0.run, "reason": $0.reason] },
                    "models": p.results.map { r -> [String: Any] in
                        ["model": r.model.rawValue, "r2": json(r.r2), "tau": json(r.tau), "train_r2": json(r.trainR2), "lambda": r.lambda.map { json($0) } ?? NSNull(),
                         "predictions": r.predictions.map { ["run": $0.run, "truth": json($0.truth), "predicted": json($0.predicted)] }]
                    },
                ]
                return jsonText(object)
            }
        }
    }
}

private func csvNumber(_ v: Double) -> String { v.isFinite ? String(v) : "" }
private func csvField(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}
/// A number for JSON: null when not finite (JSON has no NaN).
private func json(_ v: Double) -> Any { v.isFinite ? v : NSNull() }
private func json(_ i: (low: Double, high: Double)?) -> Any { i.map { [json($0.low), json($0.high)] } ?? NSNull() }
private func jsonText(_ object: Any) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data("{}".utf8)
    return String(decoding: data, as: UTF8.self)
}
