import Foundation
import ZooStore

/// A text table with aligned columns.
public struct Table: Sendable {
    public var headers: [String]
    public var rows: [[String]]

    public init(headers: [String], rows: [[String]]) {
        self.headers = headers
        self.rows = rows
    }

    /// The table with columns padded to their widest cell.
    public func render() -> String {
        let widths = headers.indices.map { c in ([headers[c]] + rows.map { c < $0.count ? $0[c] : "" }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            // Only trailing blanks go: a row whose first cells are empty keeps its alignment.
            String(cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .reversed().drop { $0 == " " }.reversed())
        }
        return ([line(headers), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line)).joined(separator: "\n")
    }
}

/// Store rows as flat records: each run's config keys next to each epoch's metrics.
public struct RunRows: Sendable {
    public var runs: [RunRecord]
    public var metrics: [MetricRecord]
    /// Each run's config as text values, by key, over the `defaults` given to ``init(store:status:sweep:where:defaults:)``,
    /// with the run's label (``RunStore/runLabels(sweep:)``) under `label` when it has one.
    public var configs: [String: [String: String]]
    /// The measures by (run, epoch), by column (``measureColumns``); with `pairMeasures: true`
    /// also pairwise measures, each under the pair's first run (the mean over its pairs when it
    /// comes first in several); empty unless asked for with `measures: true`.
    public var measures: [String: [String: Double]] = [:]
    /// The measure columns, sorted: `measure` or `measure.key`, followed by the settings JSON when a
    /// measure is stored with several settings.
    public var measureColumns: [String] = []

    /// The runs (and their metrics) that pass `conditions`, a list of `key=value` conditions on config
    /// keys, status and id.
    ///
    /// Stored configs may name only the keys that differ from their defaults: `defaults` (key →
    /// text, as ``flatten(_:)`` writes values) fills in the others, so that a run without a key
    /// counts as having its default in ``variedKeys``, in filters and in columns. Without it, a
    /// missing key is an empty cell.
    public init(store: any RunStore, status: [RunStatus]? = nil, sweep: String? = nil, where conditions: [(String, String)] = [],
                defaults: [String: String] = [:], measures withMeasures: Bool = false, pairMeasures withPairs: Bool = false) throws {
        var runs = try store.runs(status: status, sweep: sweep)
        var configs: [String: [String: String]] = [:]
        for r in runs { configs[r.id] = defaults.merging(Self.flatten(r.config)) { _, own in own } }
        // A run's label (the spec's `label:`) reads as one more key; no config has a key of that name.
        for (id, label) in try store.runLabels(sweep: sweep) where configs[id] != nil { configs[id]?["label"] = label }
        runs = runs.filter { r in conditions.allSatisfy { k, v in (k == "id" ? r.id.hasPrefix(v) : configs[r.id]?[k] == v) } }
        self.runs = runs
        self.configs = configs
        metrics = runs.isEmpty ? [] : try store.metrics(runs: runs.map(\.id))
        if withMeasures && !runs.isEmpty {
            let records = try store.measures(runs: runs.map(\.id)).filter { withPairs || $0.task.otherRun.isEmpty }
            let settings = Dictionary(grouping: records) { $0.task.measure }.mapValues { Set($0.map(\.task.settings)).count }
            var columns = Set<String>()
            // A pair's value counts under its first run (the mean of its pairs where it is first
            // in several), so that a group's mean is the mean over its pairs.
            var pairs: [String: [String: (sum: Double, count: Int)]] = [:]
            for r in records {
                let column = (settings[r.task.measure] ?? 1) > 1 ? "\(r.column) \(r.task.settings)" : r.column
                columns.insert(column)
                let key = "\(r.task.runID)@\(r.task.epoch)"
                if r.task.otherRun.isEmpty {
                    measures[key, default: [:]][column] = r.value
                } else {
                    let sum = pairs[key, default: [:]][column, default: (0, 0)]
                    pairs[key, default: [:]][column] = (sum.sum + r.value, sum.count + 1)
                }
            }
            for (key, values) in pairs { for (column, s) in values { measures[key, default: [:]][column] = s.sum / Double(s.count) } }
            measureColumns = columns.sorted()
        }
    }

    /// The value of measure `column` of `run` at `epoch`, when stored.
    public func measure(_ column: String, run: String, epoch: Int) -> Double? { measures["\(run)@\(epoch)"]?[column] }

    /// The value of measure `column` of `run` at the latest epoch where it is stored.
    public func latestMeasure(_ column: String, run: String) -> Double? {
        metrics.filter { $0.runID == run }.map(\.epoch).sorted(by: >).lazy.compactMap { measure(column, run: run, epoch: $0) }.first
    }

    /// A run's canonical config JSON (a flat object; the "schema" key left out) as text values by
    /// key, written as ZooLab's `ConfigValue.description` writes them: integers and integral numbers
    /// without a fraction, other numbers in their shortest round-tripping form, lists joined by ",".
    /// A value that is no config value (null, an object) is left out; text that is not a JSON
    /// object gives no keys.
    public static func flatten(_ json: String) -> [String: String] {
        guard let object = try? JSONDecoder().decode([String: ConfigText].self, from: Data(json.utf8)) else { return [:] }
        var out: [String: String] = [:]
        for (key, value) in object where key != "schema" { out[key] = value.text }
        return out
    }

    /// Config keys whose values differ among the runs, sorted.
    public var variedKeys: [String] {
        let keys = Set(configs.values.flatMap(\.keys))
        return keys.filter { k in Set(runs.map { configs[$0.id]?[k] ?? "" }).count > 1 }.sorted()
    }

    /// All config keys, sorted.
    public var configKeys: [String] { Set(runs.flatMap { configs[$0.id]?.keys.map { $0 } ?? [] }).sorted() }

    /// The last epoch's metrics of each run.
    public var finalMetrics: [String: MetricRecord] {
        var out: [String: MetricRecord] = [:]
        for m in metrics where (out[m.runID]?.epoch ?? -1) < m.epoch { out[m.runID] = m }
        return out
    }
}

/// A config value's text. Decoded in the order ZooLab's `ConfigValue` decodes (bool, integer,
/// number, string, list), so that `1` stays an integer and `true` a bool.
struct ConfigText: Decodable {
    /// Nil for a value that is not a config value.
    var text: String?

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { text = b ? "true" : "false" }
        else if let i = try? c.decode(Int.self) { text = String(i) }
        else if let d = try? c.decode(Double.self) { text = Self.format(d) }
        else if let s = try? c.decode(String.self) { text = s }
        else if let l = try? c.decode([ConfigText].self), l.allSatisfy({ $0.text != nil }) { text = l.compactMap(\.text).joined(separator: ",") }
        else { text = nil }
    }

    /// Shortest round-tripping decimal; integral values without a fraction part (as ZooLab's `ConfigValue.format`).
    static func format(_ d: Double) -> String {
        if d == d.rounded(), Swift.abs(d) < 1e15 { return String(Int(d)) }
        return "\(d)"
    }
}

/// Formats a metric value: non-finite values spelled out, accuracies as is.
func format(_ v: Double?) -> String {
    guard let v else { return "" }
    if v.isNaN { return "NaN" }
    if v.isInfinite { return v > 0 ? "inf" : "-inf" }
    return String(format: "%.6g", v)
}
