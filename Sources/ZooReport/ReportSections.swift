import Foundation
import ZooAnalysis
import ZooStore

/// The standard sections of ``HTMLReport``: learning curves, final and best metrics by key, the
/// generalization gap, measures against the gap, and parallel coordinates of the varied keys.
extension HTMLReport {
    /// The standard sections for `rows`; a store without runs or metrics gets one section that says so.
    public static func sections(_ rows: RunRows, options: ReportOptions) -> [ReportSection] {
        let data = ReportData(rows: rows, options: options)
        if rows.runs.isEmpty {
            return [ReportSection(id: "empty", title: "No runs", text: "The store has no runs" + (options.conditions.isEmpty ? "" : " that match --where")
                                  + ". Runs come from `zoo sweep run SPEC --store \(options.storePath)`.")]
        }
        if rows.metrics.isEmpty {
            return [ReportSection(id: "empty", title: "No metrics yet", text: "\(rows.runs.count) run(s), none with a finished epoch: nothing to plot yet.")]
        }
        return [data.runTable(), data.learningCurves(), data.finalAndBest(), data.gap(), data.measuresAgainstGap(), data.parallelCoordinates()].compactMap { $0 }
    }
}

/// Store rows arranged for the standard sections.
struct ReportData {
    let rows: RunRows
    let options: ReportOptions
    /// Each run's metrics by epoch, ascending.
    let history: [String: [MetricRecord]]
    let runs: [RunRecord]
    let varied: [String]
    /// Keys with a value per run (``varied`` but `seed`), for colours and groups.
    let hyperparameters: [String]

    /// Keys with more values than this get no strip plot (one point per category says little).
    static let maxCategories = 16

    init(rows: RunRows, options: ReportOptions) {
        self.rows = rows
        self.options = options
        let history = Dictionary(grouping: rows.metrics, by: \.runID).mapValues { $0.sorted { $0.epoch < $1.epoch } }
        self.history = history
        runs = rows.runs.filter { history[$0.id] != nil }
        varied = rows.variedKeys
        hyperparameters = varied.filter { $0 != "seed" }
    }

    /// A run's value of `key`; "-" when its config has no such key (as the end-of-sweep table shows it).
    func value(_ run: String, _ key: String) -> String { rows.configs[run]?[key] ?? "-" }

    /// The metric columns some run has.
    func present(_ columns: [String]) -> [String] { columns.filter { c in rows.metrics.contains { $0.values[c] != nil } } }

    // MARK: Commands

    var whereArguments: [String] { options.conditions.flatMap { ["--where", shellWord("\($0.0)=\($0.1)")] } }

    func reportCommand(by: [String]) -> String {
        (["zoo", "report", "--store", shellWord(options.storePath), "--out", shellWord(options.outPath)] + whereArguments
            + by.flatMap { ["--by", shellWord($0)] }).joined(separator: " ")
    }

    func exportCommand(measures: Bool = false) -> String {
        (["zoo", "export", "--store", shellWord(options.storePath)] + whereArguments + (measures ? ["--measures"] : []) + ["--format", "csv"]).joined(separator: " ")
    }

    func commands(by: [String] = []) -> [String] {
        ["# this figure: " + reportCommand(by: by), "# its data, one row per run and epoch: " + exportCommand()]
    }

    // MARK: Groups

    /// The groupings of the learning curves: the `--by` keys; else the hyperparameters together
    /// when they make few groups, else each on its own; no key at all gives one group of all runs.
    var groupings: [[String]] {
        if !options.by.isEmpty { return [options.by] }
        if hyperparameters.isEmpty { return [[]] }
        let joint = Set(runs.map { r in hyperparameters.map { value(r.id, $0) } }).count
        return joint <= ReportOptions.maxJointGroups ? [hyperparameters] : hyperparameters.map { [$0] }
    }

    /// The runs in groups of equal values of `keys`, in reading order of the values; `label`
    /// names the keys (for tables), `legend` only the values (the legend's heading names the keys).
    func groups(_ keys: [String]) -> [(label: String, legend: String, runs: [RunRecord])] {
        let grouped = Dictionary(grouping: runs) { r in keys.map { value(r.id, $0) } }
        return grouped.keys.sorted(by: Self.before).map { values in
            let label = keys.isEmpty ? "all runs" : zip(keys, values).map { keys.count == 1 ? $1 : "\($0)=\($1)" }.joined(separator: ", ")
            return (label, keys.isEmpty ? label : values.joined(separator: ", "), grouped[values]!)
        }
    }

    /// Orders value tuples: numerically where both are numbers, else as text.
    static func before(_ a: [String], _ b: [String]) -> Bool {
        for (x, y) in zip(a, b) where x != y {
            if let p = Double(x), let q = Double(y), p.isFinite, q.isFinite, p != q { return p < q }
            return x < y
        }
        return a.count < b.count
    }

    /// The mean and 95% CI over `runs` of `value` at each epoch.
    func curve(_ runs: [RunRecord], _ value: (MetricRecord) -> Double?) -> [(epoch: Int, estimate: MeanEstimate)] {
        var byEpoch: [Int: [Double]] = [:]
        for r in runs { for m in history[r.id] ?? [] { if let v = value(m) { byEpoch[m.epoch, default: []].append(v) } } }
        return byEpoch.keys.sorted().compactMap { e in MeanEstimate(byEpoch[e]!).map { (e, $0) } }
    }

    static func point(_ epoch: Int, _ e: MeanEstimate) -> LineChart.Point {
        LineChart.Point(x: Double(epoch), y: e.mean, low: e.low, high: e.high)
    }

    static func gap(_ m: MetricRecord) -> Double? {
        guard let train = m.values["train_accuracy"], let test = m.values["test_accuracy"] else { return nil }
        return train - test
    }

    /// Log when every value is positive and the largest is 100 times the smallest (losses that fall far).
    static func scale(_ values: [Double]) -> Axis.Scale {
        let finite = values.filter(\.isFinite)
        guard let lo = finite.min(), let hi = finite.max(), lo > 0 else { return .linear }
        return hi / lo >= 100 ? .log : .linear
    }

    // MARK: Sections

    func runTable() -> ReportSection {
        let rowsOut: [[String]] = runs.map { r in
            let h = history[r.id] ?? []
            let best = h.filter { ($0.values["test_accuracy"] ?? .nan).isFinite }.max { ($0.values["test_accuracy"]!, $1.epoch) < ($1.values["test_accuracy"]!, $0.epoch) }
            let last = h.last
            return [String(r.id.prefix(12)), r.status.rawValue] + varied.map { value(r.id, $0) }
                + [String(last?.epoch ?? 0), cell(last?.values["test_accuracy"]), cell(best?.values["test_accuracy"]), best.map { String($0.epoch) } ?? "",
                   cell(last.flatMap(Self.gap))]
        }
        let table = Table(headers: ["run", "status"] + varied + ["epochs", "final test acc", "best test acc", "best epoch", "final gap"], rows: rowsOut)
        return ReportSection(id: "runs", title: "Runs", text: "Each run's final and best test accuracy, the epoch of the best, and the final generalization gap (train − test accuracy).",
                             figures: [Figure(chart: nil, table: table, commands: ["zoo ls --store \(shellWord(options.storePath))" + whereArguments.map { " " + $0 }.joined()])])
    }

    func learningCurves() -> ReportSection {
        var figures: [Figure] = []
        for keys in groupings {
            let grouped = groups(keys)
            for metric in present(["test_accuracy", "train_accuracy", "test_loss", "train_loss"]) {
                let curves = grouped.map { g in (g.label, curve(g.runs) { $0.values[metric] }) }
                let series = zip(grouped, curves).map { LineChart.Series(label: $0.legend, points: $1.1.map { Self.point($0.epoch, $0.estimate) }) }
                let name = metric.replacingOccurrences(of: "_", with: " ")
                let chart = LineChart(title: "\(name) by epoch" + (keys.isEmpty ? "" : " per " + keys.joined(separator: ", ")),
                                      subtitle: "mean over runs; band: 95% CI of the mean", xLabel: "epoch", yLabel: name, series: series,
                                      legendHeading: keys.joined(separator: ", "),
                                      yScale: metric.hasSuffix("loss") ? Self.scale(series.flatMap { $0.points.map(\.y) }) : .linear, integerX: true)
                let table = Table(headers: ["group", "epoch", "runs", "mean", "95% CI low", "95% CI high"], rows: curves.flatMap { label, points in
                    points.map { [label, String($0.epoch), String($0.estimate.count), cell($0.estimate.mean), cell($0.estimate.low), cell($0.estimate.high)] }
                })
                figures.append(Figure(chart: chart, table: table, commands: commands(by: keys)))
            }
        }
        return ReportSection(id: "curves", title: "Learning curves",
                             text: "Train and test metrics per epoch, averaged over the runs of each group (seeds and any key not grouped by); the band is the 95% confidence interval of the mean (none for a group of one run). Runs that stopped early (a criterion, divergence) drop out of later epochs: the tables' runs column counts who is left.",
                             figures: figures)
    }

    /// Strip plots of `value` (one per run) for each varied key with few enough values.
    func strips(_ name: String, _ metric: (String) -> Double?) -> [Figure] {
        varied.compactMap { key in
            let categories = orderedCategories(runs.map { value($0.id, key) })
            guard categories.count <= Self.maxCategories else { return nil }
            // A key with one run per value (the seed of a seed zoo) has nothing to average per
            // value: its runs form one strip, which shows their spread.
            let single = categories.count == runs.count && runs.count > 1
            let strips = single ? [StripPlot.Category(name: "all runs", values: runs.compactMap { metric($0.id) })]
                : categories.map { c in StripPlot.Category(name: c, values: runs.filter { value($0.id, key) == c }.compactMap { metric($0.id) }) }
            let chart = StripPlot(title: "\(name) by \(key)", xLabel: single ? "\(key) (one run per value)" : key, yLabel: name, categories: strips)
            let table = Table(headers: [key, "runs", "mean", "sd", "95% CI low", "95% CI high"], rows: strips.map { s in
                let e = MeanEstimate(s.values)
                // One value has no spread: empty cells rather than NaN.
                let spread = (e?.count ?? 0) > 1 ? [cell(e?.sd), cell(e?.low), cell(e?.high)] : ["", "", ""]
                return [s.name, String(e?.count ?? 0), cell(e?.mean)] + spread
            })
            return Figure(chart: chart, table: table, commands: commands())
        }
    }

    func finalAndBest() -> ReportSection {
        let final = strips("final test accuracy") { history[$0]?.last?.values["test_accuracy"] }
        let best = strips("best test accuracy") { id in history[id]?.compactMap { $0.values["test_accuracy"] }.filter(\.isFinite).max() }
        let skipped = varied.filter { k in Set(runs.map { value($0.id, k) }).count > Self.maxCategories }
        return ReportSection(id: "final", title: "Final and best test accuracy by key",
                             text: "One point per run, for each config key that varies; the bar is the mean, the whiskers its 95% confidence interval."
                                + (skipped.isEmpty ? "" : " Not drawn (more than \(Self.maxCategories) values): \(skipped.joined(separator: ", ")).")
                                + (varied.isEmpty ? " No config key varies among these runs." : ""),
                             figures: zip(final, best).flatMap { [$0, $1] })
    }

    func gap() -> ReportSection? {
        guard !present(["train_accuracy"]).isEmpty, !present(["test_accuracy"]).isEmpty else { return nil }
        var figures: [Figure] = []
        for keys in groupings {
            let grouped = groups(keys)
            let curves = grouped.map { g in (g.label, curve(g.runs, Self.gap)) }
            let chart = LineChart(title: "generalization gap by epoch" + (keys.isEmpty ? "" : " per " + keys.joined(separator: ", ")),
                                  subtitle: "train − test accuracy, mean over runs; band: 95% CI", xLabel: "epoch", yLabel: "train − test accuracy",
                                  series: zip(grouped, curves).map { LineChart.Series(label: $0.legend, points: $1.1.map { Self.point($0.epoch, $0.estimate) }) },
                                  legendHeading: keys.joined(separator: ", "), integerX: true)
            let table = Table(headers: ["group", "epoch", "runs", "mean gap", "95% CI low", "95% CI high"], rows: curves.flatMap { label, points in
                points.map { [label, String($0.epoch), String($0.estimate.count), cell($0.estimate.mean), cell($0.estimate.low), cell($0.estimate.high)] }
            })
            figures.append(Figure(chart: chart, table: table, commands: commands(by: keys)))
        }
        figures += strips("final generalization gap") { history[$0]?.last.flatMap(Self.gap) }
        return ReportSection(id: "gap", title: "Generalization gap",
                             text: "Train accuracy minus test accuracy, both from full passes over the data after each epoch.", figures: figures)
    }

    func measuresAgainstGap() -> ReportSection? {
        guard !rows.measureColumns.isEmpty else { return nil }
        let colourKey = options.by.first ?? hyperparameters.first ?? ""
        var scatters: [(column: String, tau: Double, points: [(RunRecord, Double, Double, Int)])] = []
        // Per run, its epochs with a gap and some measure, latest first, with their values.
        let measured: [(RunRecord, [(MetricRecord, [String: Double])])] = runs.map { r in
            (r, (history[r.id] ?? []).reversed().compactMap { m in
                guard Self.gap(m) != nil, let values = rows.measures["\(r.id)@\(m.epoch)"] else { return nil }
                return (m, values)
            })
        }
        for column in rows.measureColumns {
            var points: [(RunRecord, Double, Double, Int)] = []
            for (r, epochs) in measured {
                // The latest epoch with both the measure and the gap.
                if let (m, values) = epochs.first(where: { $0.1[column] != nil }), let v = values[column], let g = Self.gap(m) {
                    points.append((r, v, g, m.epoch))
                }
            }
            guard !points.isEmpty else { continue }
            scatters.append((column, kendallTau(points.map { $0.1 }, points.map { $0.2 }), points))
        }
        // Strongest rank correlation first (either sign); measures without a τ last.
        scatters.sort { a, b in
            if a.tau.isNaN != b.tau.isNaN { return !a.tau.isNaN }
            return Swift.abs(a.tau) == Swift.abs(b.tau) || a.tau.isNaN ? a.column < b.column : Swift.abs(a.tau) > Swift.abs(b.tau)
        }
        let ranking = Table(headers: ["measure", "Kendall τ with gap", "runs"], rows: scatters.map { [$0.column, cell($0.tau), String($0.points.count)] })
        let dataCommand = "# the values: " + exportCommand(measures: true)
        let drawn = options.measures.isEmpty ? Array(scatters.prefix(ReportOptions.maxMeasurePlots)) : scatters.filter { options.measures.contains($0.column) }
        var figures = [Figure(chart: nil, table: ranking, commands: ["zoo ls --store \(shellWord(options.storePath)) --measure NAME", dataCommand],
                              caption: "Kendall's τ between each measure and the generalization gap over the runs (Jiang et al. 2019), strongest first"
                                + (options.measures.isEmpty && scatters.count > drawn.count
                                   ? "; plots follow for the \(drawn.count) strongest (choose others with --measure NAME)." : "."))]
        for s in drawn {
            let chart = Scatter(title: s.column, xLabel: s.column, yLabel: "gap (train − test acc)", categoryLabel: colourKey,
                                points: s.points.map { Scatter.Point(x: $0.1, y: $0.2, category: colourKey.isEmpty ? "" : value($0.0.id, colourKey)) },
                                annotation: "Kendall τ = " + (s.tau.isNaN ? "n/a" : String(format: "%.3f", s.tau)) + " (n = \(s.points.filter { $0.1.isFinite && $0.2.isFinite }.count))")
            let table = Table(headers: ["run", colourKey.isEmpty ? "-" : colourKey, "epoch", s.column, "gap"],
                              rows: s.points.map { [String($0.0.id.prefix(12)), colourKey.isEmpty ? "" : value($0.0.id, colourKey), String($0.3), cell($0.1), cell($0.2)] })
            figures.append(Figure(chart: chart, table: table,
                                  commands: [reportCommand(by: colourKey.isEmpty ? [] : [colourKey]) + " --measure " + shellWord(s.column), dataCommand]))
        }
        return ReportSection(id: "measures", title: "Measures against the generalization gap",
                             text: "Each measure at the latest epoch it was computed, against the gap at that epoch; one point per run"
                                + (colourKey.isEmpty ? "." : ", coloured by \(colourKey) (choose with --by)."), figures: figures)
    }

    func parallelCoordinates() -> ReportSection? {
        guard !hyperparameters.isEmpty else { return nil }
        let final = runs.map { history[$0.id]?.last?.values["test_accuracy"] ?? .nan }
        let dimensions = hyperparameters.map { k in ParallelCoordinates.Dimension(label: k, values: runs.map { value($0.id, k) }) }
            + [ParallelCoordinates.Dimension(label: "final test acc", values: final.map { $0.isFinite ? String($0) : "NaN" })]
        let chart = ParallelCoordinates(title: "varied keys and final test accuracy, one line per run", dimensions: dimensions,
                                        colourValues: final, colourLabel: "final test acc", width: max(860, 110 * Double(dimensions.count) + 220))
        let table = Table(headers: ["run"] + hyperparameters + ["final test acc"],
                          rows: zip(runs, final).map { r, f in [String(r.id.prefix(12))] + hyperparameters.map { value(r.id, $0) } + [cell(f)] })
        return ReportSection(id: "parallel", title: "Parallel coordinates",
                             text: "Every run as a line through its values of the varied keys (seed left out) to its final test accuracy, which also sets its colour (yellow best).",
                             figures: [Figure(chart: chart, table: table, commands: commands())])
    }
}

/// A number for a table cell: four significant digits, non-finite spelled out, nil empty.
func cell(_ v: Double?) -> String {
    guard let v else { return "" }
    if v.isNaN { return "NaN" }
    if v.isInfinite { return v > 0 ? "inf" : "-inf" }
    return String(format: "%.4g", v)
}
