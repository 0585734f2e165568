import Foundation
import ZooAnalysis
import ZooStore

extension ZooSummary {
    /// The members of `rows` (loaded with `measures: true` for measure columns) as a summary reads them.
    public static func members(_ rows: RunRows) -> [SummaryMember] {
        let metrics = Dictionary(grouping: rows.metrics, by: \.runID)
        var measures: [String: [Int: [String: Double]]] = [:]
        for (key, values) in rows.measures {
            // Keys are `RUN@EPOCH`; a run id holds no `@`.
            guard let at = key.lastIndex(of: "@"), let epoch = Int(key[key.index(after: at)...]) else { continue }
            measures[String(key[..<at]), default: [:]][epoch] = values
        }
        return rows.runs.map { r in
            SummaryMember(id: r.id, status: r.status, keys: rows.configs[r.id] ?? [:], metrics: metrics[r.id] ?? [], measures: measures[r.id] ?? [:])
        }
    }

    /// The summary of the runs in `rows`.
    public init(rows: RunRows, options: Options = Options()) throws {
        try self.init(members: Self.members(rows), options: options)
    }
}

/// How `zoo summary` writes a ``ZooSummary``.
public enum SummaryFormat: String, Sendable, CaseIterable {
    /// Aligned text for a terminal: accuracies and the accuracy gap in percent.
    case table
    /// One row per group, raw values (fractions), a header of column names.
    case csv
    /// An array with one object per group; raw values, null for a missing or non-finite one.
    case json
    /// A GitHub-flavoured Markdown table, as `table` formats the cells.
    case markdown
}

extension Reports {
    /// `summary` written as `format` says (see ``SummaryFormat``); text formats end with notes on
    /// what the numbers are.
    public static func summary(_ summary: ZooSummary, format: SummaryFormat) -> String {
        switch format {
        case .table: return summaryTable(summary).render() + "\n" + summaryNotes(summary).map { "\n" + $0 }.joined() + "\n"
        case .markdown: return markdown(summaryTable(summary)) + "\n" + summaryNotes(summary).map { "\n" + $0 + "  " }.joined() + "\n"
        case .csv: return summaryCSV(summary)
        case .json: return summaryJSON(summary)
        }
    }

    /// Whether a column is shown in percent in text tables.
    static func isPercent(_ column: String) -> Bool { column.hasSuffix("accuracy") }

    /// `mean ± sd` (just the mean for one value, or for counts without spread): in percent with two decimals for
    /// accuracies, with `digits` decimals when given, else 4 significant digits (2 for the sd).
    static func meanText(_ e: MeanEstimate?, percent: Bool, digits: Int? = nil) -> String {
        guard let e else { return "" }
        func f(_ v: Double, _ significant: Int) -> String {
            if percent { return String(format: "%.2f", v * 100) }
            if let digits { return String(format: "%.\(digits)f", v) }
            return String(format: "%.\(significant)g", v)
        }
        // Whole counts (steps) that agree across members show no "± 0".
        return e.count > 1 && (e.sd > 0 || digits != 0) ? "\(f(e.mean, 4)) ± \(f(e.sd, 2))" : f(e.mean, 4)
    }

    /// Epochs: whole numbers as such, others with one decimal.
    static func epochText(_ e: MeanEstimate?) -> String {
        guard let e else { return "" }
        func f(_ v: Double) -> String { v == v.rounded() ? String(format: "%.0f", v) : String(format: "%.1f", v) }
        return e.count > 1 && e.sd > 0 ? "\(f(e.mean)) ± \(f(e.sd))" : f(e.mean)
    }

    /// `[low, high]`, blank for a single value; an accuracy's interval is cut to 0...100 %
    /// (csv and json keep the interval as computed).
    static func intervalText(_ e: MeanEstimate?, percent: Bool) -> String {
        guard let e, e.count > 1 else { return "" }
        func f(_ v: Double) -> String { percent ? String(format: "%.2f", min(max(v, 0), 1) * 100) : String(format: "%.4g", v) }
        return "[\(f(e.low)), \(f(e.high))]"
    }

    static func summaryTable(_ s: ZooSummary) -> Table {
        let anyDiverged = s.groups.contains { $0.counts.diverged > 0 }, anyFailed = s.groups.contains { $0.counts.failed > 0 }
        let anyUnfinished = s.groups.contains { $0.counts.unfinished > 0 }
        var headers = s.by + ["n"]
        if anyDiverged { headers.append("diverged") }
        if anyFailed { headers.append("failed") }
        if anyUnfinished { headers.append("unfinished") }
        headers.append("epoch")
        for c in s.columns {
            let unit = isPercent(c) ? " %" : ""
            headers += [c + unit, "95% CI"]
            if ZooSummary.peakDirection(c) != nil { headers += ["peak" + unit, "at epoch"] }
        }
        headers += ["steps", "member s", "gap acc %", "gap loss"]
        if let c = s.options.success { headers += ["success \(c)", "95% CI"] }
        let rows: [[String]] = s.groups.map { g in
            var row = g.key.map { $0.isEmpty ? "-" : $0 } + [String(g.counts.done)]
            if anyDiverged { row.append(String(g.counts.diverged)) }
            if anyFailed { row.append(String(g.counts.failed)) }
            if anyUnfinished { row.append(String(g.counts.unfinished)) }
            row.append(epochText(g.epoch))
            for c in s.columns {
                let column = g.columns[c], percent = isPercent(c)
                row += [meanText(column?.value, percent: percent), intervalText(column?.value, percent: percent)]
                if ZooSummary.peakDirection(c) != nil {
                    row += [meanText(column?.peak, percent: percent), epochText(column?.bestEpoch)]
                }
            }
            row += [meanText(g.steps, percent: false, digits: 0), meanText(g.memberSeconds, percent: false, digits: 1),
                    meanText(g.accuracyGap, percent: true), meanText(g.lossGap, percent: false)]
            if let r = g.success {
                row += [r.trials > 0 ? String(format: "%d/%d = %.0f%%", r.successes, r.trials, r.rate * 100) : "0/0",
                        r.trials > 0 ? String(format: "[%.1f, %.1f]", r.low * 100, r.high * 100) : ""]
            }
            return row
        }
        return Table(headers: headers, rows: rows)
    }

    /// What the numbers are, for the text formats.
    static func summaryNotes(_ s: ZooSummary) -> [String] {
        var notes = ["n: done members per group (\(s.by.isEmpty ? "one group" : "grouped by " + s.by.joined(separator: ", "))); values at the \(s.options.epoch == .best ? "best epoch (where \(s.columns.first ?? "") peaks)" : s.options.epoch == .final ? "final epoch" : "epoch \(s.options.epoch)"), mean ± sd over members, Student-t 95% CI of the mean."]
        if s.columns.contains(where: { ZooSummary.peakDirection($0) != nil }) {
            notes.append("peak: best value over epochs (max for accuracies, min for losses), at the mean epoch it was first reached.")
        }
        notes.append("steps and member s: optimizer steps and the member's own training seconds to that epoch; gap: train − test accuracy, test − train loss.")
        if s.groups.contains(where: { $0.gapSource == .running }) {
            notes.append("gap from running averages over each epoch's batches (training mode) where no measured train metric is stored: not a measurement of the trained model.")
        }
        if s.options.success != nil { notes.append("success: done members meeting the criterion over done + diverged members, Wilson 95% interval.") }
        if s.groups.contains(where: { $0.counts.diverged + $0.counts.failed + $0.counts.unfinished > 0 }) {
            notes.append("diverged, failed and unfinished members are counted, not averaged.")
        }
        return notes
    }

    static func markdown(_ t: Table) -> String {
        func line(_ cells: [String]) -> String {
            "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |"
        }
        return ([line(t.headers), "|" + t.headers.map { _ in " --- |" }.joined()] + t.rows.map(line)).joined(separator: "\n")
    }

    /// The statistics of an estimate as named CSV/JSON fields.
    static func estimateFields(_ prefix: String, _ e: MeanEstimate?) -> [(String, Double?)] {
        [("\(prefix)_mean", e?.mean), ("\(prefix)_sd", e?.sd), ("\(prefix)_ci_low", e?.low), ("\(prefix)_ci_high", e?.high),
         ("\(prefix)_n", e.map { Double($0.count) })]
    }

    /// Every number of a group as (name, value) fields, in column order.
    static func groupFields(_ s: ZooSummary, _ g: ZooSummary.Group) -> [(String, Double?)] {
        var fields: [(String, Double?)] = [("members", Double(g.counts.members)), ("done", Double(g.counts.done)),
                                           ("diverged", Double(g.counts.diverged)), ("failed", Double(g.counts.failed)),
                                           ("unfinished", Double(g.counts.unfinished))]
        fields += estimateFields("epoch", g.epoch)
        for c in s.columns {
            fields += estimateFields(c, g.columns[c]?.value)
            if ZooSummary.peakDirection(c) != nil {
                fields += estimateFields("\(c)_peak", g.columns[c]?.peak) + estimateFields("\(c)_best_epoch", g.columns[c]?.bestEpoch)
            }
        }
        fields += estimateFields("steps", g.steps) + estimateFields("member_seconds", g.memberSeconds)
            + estimateFields("accuracy_gap", g.accuracyGap) + estimateFields("loss_gap", g.lossGap)
        if let r = g.success {
            fields += [("success_count", Double(r.successes)), ("success_trials", Double(r.trials)), ("success_rate", r.rate),
                       ("success_ci_low", r.low), ("success_ci_high", r.high)]
        }
        return fields
    }

    static func summaryCSV(_ s: ZooSummary) -> String {
        guard let first = s.groups.first else { return (s.by + ["members"]).map(field).joined(separator: ",") + "\n" }
        let names = groupFields(s, first).map(\.0)
        var lines = [(s.by + names + ["gap_source"]).map(field).joined(separator: ",")]
        for g in s.groups {
            let numbers = groupFields(s, g).map { $0.1.map { format($0) } ?? "" }
            lines.append((g.key + numbers + [g.gapSource?.rawValue ?? ""]).map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func summaryJSON(_ s: ZooSummary) -> String {
        func number(_ v: Double?) -> Any { v.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
        func estimate(_ e: MeanEstimate?) -> Any {
            guard let e else { return NSNull() }
            return ["n": e.count, "mean": number(e.mean), "sd": number(e.sd), "ci": [number(e.low), number(e.high)]] as [String: Any]
        }
        let groups: [[String: Any]] = s.groups.map { g in
            var columns: [String: Any] = [:]
            for c in s.columns {
                var object: [String: Any] = ["value": estimate(g.columns[c]?.value)]
                if ZooSummary.peakDirection(c) != nil {
                    object["peak"] = estimate(g.columns[c]?.peak)
                    object["best_epoch"] = estimate(g.columns[c]?.bestEpoch)
                }
                columns[c] = object
            }
            var object: [String: Any] = [
                "group": Dictionary(uniqueKeysWithValues: zip(s.by, g.key)), "runs": g.members,
                "counts": ["members": g.counts.members, "done": g.counts.done, "diverged": g.counts.diverged,
                           "failed": g.counts.failed, "unfinished": g.counts.unfinished],
                "epoch": estimate(g.epoch), "metrics": columns, "steps": estimate(g.steps), "member_seconds": estimate(g.memberSeconds),
                "gap": ["accuracy": estimate(g.accuracyGap), "loss": estimate(g.lossGap),
                        "source": g.gapSource.map { $0.rawValue as Any } ?? NSNull()] as [String: Any],
            ]
            if let r = g.success {
                object["success"] = ["criterion": s.options.success?.description ?? "", "successes": r.successes, "trials": r.trials,
                                     "rate": number(r.rate), "ci": [number(r.low), number(r.high)]] as [String: Any]
            }
            return object
        }
        let top: [String: Any] = ["by": s.by, "epoch": s.options.epoch.description, "metrics": s.columns, "groups": groups]
        // Strings, finite numbers, nulls, arrays and dictionaries only: serialization cannot fail.
        guard let data = try? JSONSerialization.data(withJSONObject: top, options: [.sortedKeys, .prettyPrinted]) else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
