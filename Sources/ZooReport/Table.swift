import Foundation
import ZooLab
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
    /// Each run's config as text values, by key.
    public var configs: [String: [String: String]]

    /// The runs (and their metrics) that pass `filter`, a list of `key=value` conditions on config
    /// keys, status and id.
    public init(store: SQLiteStore, status: [RunStatus]? = nil, sweep: String? = nil, where conditions: [(String, String)] = []) throws {
        var runs = try store.runs(status: status, sweep: sweep)
        var configs: [String: [String: String]] = [:]
        for r in runs { configs[r.id] = Self.flatten(r.config) }
        runs = runs.filter { r in conditions.allSatisfy { k, v in (k == "id" ? r.id.hasPrefix(v) : configs[r.id]?[k] == v) } }
        self.runs = runs
        self.configs = configs
        metrics = runs.isEmpty ? [] : try store.metrics(runs: runs.map(\.id))
    }

    /// A run's canonical config JSON as text values by key.
    public static func flatten(_ json: String) -> [String: String] {
        ((try? FlatConfig.fromCanonicalJSON(json)) ?? [:]).mapValues(\.description)
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

/// Formats a metric value: non-finite values spelled out, accuracies as is.
func format(_ v: Double?) -> String {
    guard let v else { return "" }
    if v.isNaN { return "NaN" }
    if v.isInfinite { return v > 0 ? "inf" : "-inf" }
    return String(format: "%.6g", v)
}
