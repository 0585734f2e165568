import Foundation
import ZooAnalysis
import ZooStore

/// Tables and exports built from store rows.
public enum Reports {
    /// Per group of `zoo summary`'s default grouping (``ZooSummary/defaultGrouping(_:)``: the
    /// varied keys but `seed`, or the label): the number of seeds and mean ± sd of each run's final
    /// test accuracy (and train accuracy, to show the gap), sorted by mean test accuracy.
    public static func summaryBySeed(_ rows: RunRows) -> Table {
        let varied = ZooSummary.defaultGrouping(ZooSummary.members(rows))
        let final = rows.finalMetrics
        var groups: [[String]: [String]] = [:]
        for r in rows.runs where r.status == .done {
            groups[varied.map { rows.configs[r.id]?[$0] ?? "" }, default: []].append(r.id)
        }
        func stats(_ values: [Double]) -> String {
            guard !values.isEmpty else { return "" }
            let mean = values.reduce(0, +) / Double(values.count)
            let sd = values.count > 1 ? (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot() : 0
            // One seed has no spread to show.
            return values.count > 1 ? String(format: "%.2f ± %.2f", mean * 100, sd * 100) : String(format: "%.2f", mean * 100)
        }
        let ordered = groups.sorted { a, b in
            let ma = a.value.compactMap { final[$0]?.values["test_accuracy"] }.reduce(0, +) / Double(max(a.value.count, 1))
            let mb = b.value.compactMap { final[$0]?.values["test_accuracy"] }.reduce(0, +) / Double(max(b.value.count, 1))
            return ma > mb
        }
        let rowsOut = ordered.map { key, ids in
            key + [String(ids.count), stats(ids.compactMap { final[$0]?.values["test_accuracy"] }),
                   stats(ids.compactMap { final[$0]?.values["train_accuracy"] })]
        }
        return Table(headers: varied + ["seeds", "test acc % (mean ± sd)", "train acc %"], rows: rowsOut)
    }

    /// One line per run: id, status, epochs, the varied config keys, final test accuracy and
    /// loss, and what produced it (Zoo version, kernel path, threads; `zoo show` has the rest).
    /// With `measures`, one column each (its value at the latest measured epoch) before the provenance.
    public static func runList(_ rows: RunRows, measures: [String] = []) -> Table {
        let varied = rows.variedKeys
        let final = rows.finalMetrics
        let lines: [[String]] = rows.runs.map { r in
            let head: [String] = [String(r.id.prefix(12)), r.status.rawValue, String(r.epochsDone)]
            let config: [String] = varied.map { rows.configs[r.id]?[$0] ?? "" }
            let accuracy: String = final[r.id]?.values["test_accuracy"].map { String(format: "%.2f", $0 * 100) } ?? ""
            let made = r.provenance.map { "\($0.zooVersion) \($0.kernels) \($0.threads)t" } ?? ""
            let measured = measures.map { format(rows.latestMeasure($0, run: r.id)) }
            return head + config + [accuracy, format(final[r.id]?.values["test_loss"])] + measured + [made]
        }
        return Table(headers: ["id", "status", "epochs"] + varied + ["test acc %", "test loss"] + measures + ["made by (zoo, kernels, threads)"],
                     rows: lines)
    }

    /// The runs as families (`zoo ls --tree`): each run that branches from none, then its
    /// branches indented beneath it, each line with its status, label, what the branch did
    /// (point, pruning, rewinding, re-initialization), the weights it keeps and its final test
    /// accuracy. A branch whose parent is not among `rows` is a root.
    public static func runTree(_ rows: RunRows) -> String {
        let ids = Set(rows.runs.map(\.id)), final = rows.finalMetrics
        var children: [String: [RunRecord]] = [:], roots: [RunRecord] = []
        for r in rows.runs {
            if let p = r.parent, ids.contains(p) { children[p, default: []].append(r) } else { roots.append(r) }
        }
        func density(_ id: String, depth: Int = 0) -> Double {
            guard depth < 10_000, let c = rows.configs[id] else { return 1 }
            let own = 1 - (Double(c["prune_fraction"] ?? "") ?? 0)
            return own * (c["parent"].flatMap { $0.isEmpty ? nil : density($0, depth: depth + 1) } ?? 1)
        }
        func line(_ r: RunRecord) -> String {
            let c = rows.configs[r.id] ?? [:]
            var parts = [String(r.id.prefix(12)), r.status.rawValue]
            if let label = c["label"] { parts.append(label) }
            if r.parent != nil {
                parts.append("at \(c["branch_at"] ?? "end")")
                if let f = c["prune_fraction"], (Double(f) ?? 0) > 0 { parts.append("prune \(f) \(c["prune_method"] ?? "global")") }
                if let w = c["rewind"], w != "none" { parts.append(c["rewind_weights"] == "false" ? "lr-rewind \(w)" : "rewind \(w)") }
                if c["reinit"] == "true" { parts.append("reinit") }
                if let p = c["perturb"], (Double(p) ?? 0) > 0 { parts.append("perturb \(p)") }
                if let seed = c["seed"] { parts.append("seed \(seed)") }
                let d = density(r.id)
                if d < 1 { parts.append(String(format: "weights %.1f%%", d * 100)) }
            } else if let seed = c["seed"] {
                parts.append("seed \(seed)")
            }
            if let a = final[r.id]?.values["test_accuracy"] { parts.append(String(format: "test %.2f%%", a * 100)) }
            return parts.joined(separator: "  ")
        }
        var out: [String] = []
        func walk(_ r: RunRecord, prefix: String, last: Bool, root: Bool, depth: Int) {
            out.append(root ? line(r) : prefix + (last ? "└─ " : "├─ ") + line(r))
            guard depth < 10_000 else { return }
            let kids = children[r.id] ?? []
            for (i, k) in kids.enumerated() {
                walk(k, prefix: root ? "" : prefix + (last ? "   " : "│  "), last: i == kids.count - 1, root: false, depth: depth + 1)
            }
        }
        for r in roots { walk(r, prefix: "", last: true, root: true, depth: 0) }
        return out.joined(separator: "\n")
    }

    /// The columns that say what produced a run (its ``Provenance``), after the metrics in exports.
    public static let provenanceColumns = ["zoo_version", "git_commit", "kernels", "cpu", "threads", "host"]

    /// A run's ``provenanceColumns`` values; nil for a run without provenance or a commit.
    static func provenanceValues(_ p: Provenance?) -> [String?] {
        guard let p else { return provenanceColumns.map { _ in nil } }
        return [p.zooVersion, p.gitCommit, p.kernels, p.cpu, String(p.threads), p.host]
    }

    /// CSV with one row per run × epoch: run id, status, every config key, epoch, step, metrics,
    /// then the run's provenance. Non-finite values are written as NaN / inf / -inf (which pandas
    /// reads as floats).
    public static func csv(_ rows: RunRows) -> String {
        let keys = rows.configKeys
        let header = ["run_id", "status"] + keys + ["epoch", "step"] + MetricRecord.columns + rows.measureColumns + provenanceColumns
        let byRun = Dictionary(uniqueKeysWithValues: rows.runs.map { ($0.id, $0) })
        var lines = [header.map(field).joined(separator: ",")]
        for m in rows.metrics {
            guard let r = byRun[m.runID] else { continue }
            let cells = [r.id, r.status.rawValue] + keys.map { rows.configs[r.id]?[$0] ?? "" } + [String(m.epoch), String(m.step)]
                + MetricRecord.columns.map { format(m.values[$0]) }
                + rows.measureColumns.map { rows.measure($0, run: r.id, epoch: m.epoch).map { format($0) } ?? "" }
                + provenanceValues(r.provenance).map { $0 ?? "" }
            lines.append(cells.map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// JSON lines with the same content as ``csv(_:)``; non-finite numbers as strings, absent
    /// metrics and provenance left out.
    public static func jsonl(_ rows: RunRows) -> String {
        let byRun = Dictionary(uniqueKeysWithValues: rows.runs.map { ($0.id, $0) })
        var out = ""
        for m in rows.metrics {
            guard let r = byRun[m.runID] else { continue }
            var object: [String: Any] = ["run_id": r.id, "status": r.status.rawValue, "epoch": m.epoch, "step": m.step,
                                         "config": rows.configs[r.id] ?? [:]]
            for (k, v) in m.values { object[k] = v.isFinite ? v : (format(v) as Any) }
            for (k, v) in rows.measures["\(r.id)@\(m.epoch)"] ?? [:] { object[k] = v.isFinite ? v : (format(v) as Any) }
            for (k, v) in zip(provenanceColumns, provenanceValues(r.provenance)) { object[k] = v }
            if let threads = r.provenance?.threads { object["threads"] = threads }  // a number, not text
            // Strings, finite numbers and string dictionaries only: serialization cannot fail.
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { continue }
            out += String(decoding: data, as: UTF8.self) + "\n"
        }
        return out
    }

    /// RFC 4180 quoting where needed.
    static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
