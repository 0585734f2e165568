import Foundation
import ZooAnalysis
import ZooStore

/// The sections of ``HTMLReport`` that answer a study's questions when the store holds what they
/// need: the summary per group (always), accuracy predicted from weight statistics (when the
/// `weight_statistics` measure is stored), and the variability of predictions across seeds
/// (when runs recorded their test predictions).
extension HTMLReport {
    /// The study sections for `rows` of `store`, each with its table and the command that prints it.
    static func studySections(_ rows: RunRows, store: any RunStore, options: ReportOptions) -> (summary: ReportSection?, others: [ReportSection]) {
        let data = ReportData(rows: rows, options: options)
        return (data.summarySection(), [data.predictorSection(store: store), data.variabilitySection(store: store)].compactMap { $0 })
    }
}

extension ReportData {
    /// `zoo …` with the store and the report's filters.
    func command(_ words: [String]) -> String {
        (["zoo"] + words + ["--store", shellWord(options.storePath)] + whereArguments).joined(separator: " ")
    }

    /// The `zoo summary` table: one row per group, mean ± sd and CI over its members.
    func summarySection() -> ReportSection? {
        guard !runs.isEmpty, let summary = try? ZooSummary(rows: rows) else { return nil }
        return ReportSection(id: "summary", title: "Summary per group",
                             text: "Each group's members (seeds): final test accuracy as mean ± sd with its 95% confidence interval, the peak and its epoch, optimizer steps, member seconds and the generalization gap.",
                             figures: [Figure(chart: nil, table: Reports.summaryTable(summary), commands: [command(["summary"])])])
    }

    /// Held-out predicted against true test accuracy, for ridge regression and boosted trees on
    /// the final checkpoints' weight statistics (``AccuracyPrediction``).
    func predictorSection(store: any RunStore) -> ReportSection? {
        guard rows.measureColumns.contains(where: { $0.hasPrefix("weight_statistics") }) else { return nil }
        let id = "predictor", title = "Accuracy from weights"
        let commands = [command(["analyze", "predict", "--target", "test_accuracy"])]
        let ids = runs.map(\.id)
        var prediction: AccuracyPrediction
        do {
            prediction = try AccuracyPrediction(runs: ids, measures: try store.measures(runs: ids), metrics: rows.metrics, target: "test_accuracy")
        } catch {
            return ReportSection(id: id, title: title, text: "Not fitted: \(error)")
        }
        prediction.fit([.ridge, .trees])
        let table = Table(headers: ["model", "held-out R²", "Kendall τ", "train R²", "λ", "train runs", "held-out runs"], rows: prediction.results.map { r in
            [r.model.rawValue, String(format: "%.3f", r.r2), String(format: "%.3f", r.tau), String(format: "%.3f", r.trainR2),
             r.lambda.map { String(format: "%.3g", $0) } ?? "-", String(prediction.train.count), String(prediction.test.count)]
        })
        let points = prediction.results.flatMap { r in r.predictions.map { Scatter.Point(x: $0.truth, y: $0.predicted, category: r.model.rawValue) } }
        let annotation = prediction.results.map { "\($0.model.rawValue) R² \(String(format: "%.2f", $0.r2))" }.joined(separator: " · ")
        let chart = Scatter(title: "Held-out runs: predicted against true test accuracy", xLabel: "true test accuracy", yLabel: "predicted",
                            categoryLabel: "model", points: points, annotation: annotation, diagonal: true)
        return ReportSection(id: id, title: title,
                             text: "Test accuracy predicted from per-tensor weight statistics alone (Unterthiner et al. 2020; Schürholt et al. 2022): \(prediction.features.count) features, runs split \(prediction.train.count)/\(prediction.test.count) into train and held out (runs, not checkpoints); points on the diagonal are predicted exactly.",
                             figures: [Figure(chart: chart, table: table, commands: commands)])
    }

    /// Ensemble accuracy and flips against ensemble size k per group of seeds (``Variability``).
    func variabilitySection(store: any RunStore) -> ReportSection? {
        guard let recorded = try? store.predictionEpochs(runs: runs.map(\.id)), !recorded.isEmpty,
              let groups = try? Variability.study(store: store, runs: runs.map { ($0.id, rows.configs[$0.id] ?? [:]) }), !groups.isEmpty
        else { return nil }
        func name(_ g: VariabilityGroup) -> String {
            g.name.isEmpty ? "all runs" : g.name.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        let accuracy = LineChart(title: "Accuracy of k-member ensembles", xLabel: "ensemble size k", yLabel: "test accuracy",
                                 series: groups.map { g in
                                     .init(label: name(g), points: g.variability.ensembles.map {
                                         .init(x: Double($0.size), y: $0.accuracy, low: $0.accuracy - $0.accuracySD, high: $0.accuracy + $0.accuracySD)
                                     })
                                 }, legendHeading: "group", integerX: true)
        let flips = LineChart(title: "Flips between disjoint k-member ensembles", xLabel: "ensemble size k", yLabel: "fraction of test examples",
                              series: groups.map { g in
                                  .init(label: name(g), points: g.variability.ensembles.compactMap { e in e.flipRate.map { .init(x: Double(e.size), y: $0) } })
                              }, legendHeading: "group", integerX: true)
        let commands = [command(["variability"])]
        return ReportSection(id: "variability", title: "Individual predictions across seeds",
                             text: "Zech, Forde & Littman (2019): members that differ only in their seed agree on accuracy but not on which examples they get right. Bands: ± sd over the k-subsets.",
                             figures: [Figure(chart: nil, table: VariabilityReport.summary(groups), commands: commands),
                                       Figure(chart: accuracy, table: VariabilityReport.curves(groups), commands: commands),
                                       Figure(chart: flips, table: VariabilityReport.curves(groups), commands: commands)])
    }
}
