import Foundation
import ZooAnalysis
import ZooStore

/// One figure of a report: a chart, the table of the numbers it draws, and the commands that
/// reproduce it.
public struct Figure: Sendable {
    /// The chart's `<svg>` element; nil for a table without a chart.
    public var svg: String?
    public var table: Table
    /// Shell commands, one a line, shown (escaped) under the figure.
    public var commands: [String]
    public var caption: String?

    public init(chart: (any Chart)?, table: Table, commands: [String] = [], caption: String? = nil) {
        svg = chart?.svg()
        self.table = table
        self.commands = commands
        self.caption = caption
    }
}

/// A titled part of a report: a paragraph of text and its figures.
public struct ReportSection: Sendable {
    /// The anchor in the page (letters, digits and `-` are kept, anything else becomes `-`).
    public var id: String
    public var title: String
    public var text: String
    public var figures: [Figure]

    public init(id: String, title: String, text: String = "", figures: [Figure] = []) {
        self.id = String(id.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") ? $0 : "-" })
        self.title = title
        self.text = text
        self.figures = figures
    }
}

/// What a report covers and how its commands are spelled.
public struct ReportOptions: Sendable {
    /// The store's path as the user gave it (only shown in commands).
    public var storePath: String
    /// `--where` conditions, key = value.
    public var conditions: [(String, String)]
    /// `--by` keys: runs with equal values of them form one group of the learning curves. Empty:
    /// the varied keys but `seed` together when they make at most ``maxJointGroups`` groups, else each key on its own.
    public var by: [String]
    /// The output folder as given (only shown in commands).
    public var outPath: String
    /// The measures (columns, as `zoo ls --measure` names them) drawn against the gap; empty: the
    /// ``maxMeasurePlots`` with the largest |τ|. The τ table lists every measure either way.
    public var measures: [String]

    public static let maxJointGroups = 8
    public static let maxMeasurePlots = 12

    public init(storePath: String, conditions: [(String, String)] = [], by: [String] = [], outPath: String = "report", measures: [String] = []) {
        self.storePath = storePath; self.conditions = conditions; self.by = by; self.outPath = outPath; self.measures = measures
    }
}

/// A self-contained HTML page of sections: inline SVG and CSS, no script, no network (its
/// content security policy forbids both), every string from the store escaped with ``escapeMarkup(_:)``.
///
/// The standard sections come from ``sections(_:options:)``; to add one, build a
/// ``ReportSection`` of ``Figure``s from plain data (e.g. a ``Scatter`` of predicted against
/// true accuracy, a ``LineChart`` of a curve against k) and append it to ``sections``.
public struct HTMLReport: Sendable {
    public var title: String
    /// Lines under the title (the store, the runs, the filters).
    public var summary: [String]
    public var sections: [ReportSection]
    /// Seconds after which a browser reloads the page (the dashboard while runs are in flight); nil: never.
    public var refreshSeconds: Int?

    public init(title: String, summary: [String] = [], sections: [ReportSection]) {
        self.title = title; self.summary = summary; self.sections = sections
    }

    /// The report of the runs of `store` that pass `options.conditions`, with the standard sections.
    /// - Throws: ``ReportError`` for a `--by` key no run has; store errors.
    public static func make(store: any RunStore, options: ReportOptions) throws -> HTMLReport {
        let rows = try RunRows(store: store, where: options.conditions, measures: true)
        let keys = Set(rows.runs.flatMap { rows.configs[$0.id]?.keys.map { $0 } ?? [] })
        if let missing = options.by.first(where: { !keys.contains($0) }), !rows.runs.isEmpty {
            throw ReportError("--by \(missing): no run has the config key '\(missing)'; keys that vary: \(rows.variedKeys.joined(separator: ", "))"
                              + " (every key of a run: zoo show RUN)")
        }
        if let missing = options.measures.first(where: { !rows.measureColumns.contains($0) }) {
            throw ReportError("--measure \(missing): no such measure is stored for these runs; stored: \(rows.measureColumns.prefix(20).joined(separator: ", "))"
                              + (rows.measureColumns.count > 20 ? ", …" : ""))
        }
        let statuses = Dictionary(grouping: rows.runs, by: \.status.rawValue).map { "\($0.value.count) \($0.key)" }.sorted()
        var summary = ["store: \(options.storePath)", "\(rows.runs.count) run(s)" + (statuses.isEmpty ? "" : ": " + statuses.joined(separator: ", "))]
        if !options.conditions.isEmpty { summary.append("where: " + options.conditions.map { "\($0.0)=\($0.1)" }.joined(separator: ", ")) }
        let varied = rows.variedKeys
        summary.append("varied keys: " + (varied.isEmpty ? "none" : varied.joined(separator: ", ")))
        var standard = sections(rows, options: options)
        if !rows.metrics.isEmpty {
            let study = studySections(rows, store: store, options: options)
            // The summary table follows the run list; the studies follow the measures.
            if let s = study.summary { standard.insert(s, at: min(1, standard.count)) }
            let at = (standard.firstIndex { $0.id == "parallel" } ?? standard.count)
            standard.insert(contentsOf: study.others, at: at)
        }
        return HTMLReport(title: "Zoo report", summary: summary, sections: standard)
    }

    /// The page.
    public func html() -> String {
        var out = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
        <meta name="viewport" content="width=device-width, initial-scale=1">\(refreshSeconds.map { "\n<meta http-equiv=\"refresh\" content=\"\($0)\">" } ?? "")
        <title>\(escapeMarkup(title))</title>
        <style>\(Self.css)</style>
        </head>
        <body>
        <h1>\(escapeMarkup(title))</h1>

        """
        for line in summary { out += "<p class=\"summary\">\(escapeMarkup(line))</p>\n" }
        if !sections.isEmpty {
            out += "<nav><ul>" + sections.map { "<li><a href=\"#\(escapeMarkup($0.id))\">\(escapeMarkup($0.title))</a></li>" }.joined() + "</ul></nav>\n"
        }
        for s in sections {
            out += "<section id=\"\(escapeMarkup(s.id))\">\n<h2>\(escapeMarkup(s.title))</h2>\n"
            if !s.text.isEmpty { out += "<p>\(escapeMarkup(s.text))</p>\n" }
            for f in s.figures { out += Self.figureHTML(f) }
            out += "</section>\n"
        }
        return out + "</body>\n</html>\n"
    }

    static func figureHTML(_ f: Figure) -> String {
        var out = "<div class=\"figure\">\n"
        if let svg = f.svg { out += "<div class=\"plot\">\(svg)</div>\n" }
        out += "<div class=\"data\">"
        if let caption = f.caption { out += "<p class=\"caption\">\(escapeMarkup(caption))</p>" }
        out += tableHTML(f.table)
        if !f.commands.isEmpty { out += "<pre class=\"command\">" + f.commands.map(escapeMarkup).joined(separator: "\n") + "</pre>" }
        return out + "</div>\n</div>\n"
    }

    /// An HTML table; cells that read as numbers align right.
    public static func tableHTML(_ t: Table) -> String {
        var out = "<div class=\"table\"><table>\n<thead><tr>" + t.headers.map { "<th>\(escapeMarkup($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for row in t.rows {
            out += "<tr>" + row.map { cell in
                let numeric = Double(cell) != nil || cell == "NaN"
                return "<td\(numeric ? " class=\"number\"" : "")>\(escapeMarkup(cell))</td>"
            }.joined() + "</tr>\n"
        }
        return out + "</tbody></table></div>"
    }

    /// The page's style sheet: the charts' classes and the layout (plot beside its table, wrapping on narrow windows).
    public static let css = """
    body{font-family:"DejaVu Sans",Verdana,sans-serif;font-size:15px;color:#1a1a1a;margin:24px auto;max-width:1500px;padding:0 16px;background:#fafafa}
    h1{font-size:26px;margin:0 0 8px}h2{font-size:21px;margin:32px 0 8px;border-bottom:1px solid #ccc;padding-bottom:4px}
    p.summary{margin:2px 0;color:#444}nav ul{padding-left:20px}section>p{max-width:900px;line-height:1.4}
    .figure{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start;margin:14px 0 22px;padding:10px;background:#fff;border:1px solid #e3e3e3}
    .plot svg{display:block;max-width:100%;height:auto}.data{flex:1 1 340px;min-width:300px;max-width:640px}.data:only-child{max-width:none}
    .table{max-height:300px;overflow:auto;border:1px solid #ddd}
    table{border-collapse:collapse;font-size:13px;width:100%}th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}
    th{position:sticky;top:0;background:#f0f0f0}td.number{text-align:right;font-variant-numeric:tabular-nums}
    pre.command{background:#f4f4f4;border:1px solid #ddd;padding:6px 8px;font-size:12.5px;white-space:pre-wrap;word-break:break-all}
    p.caption{margin:0 0 6px;color:#333}
    svg.chart text{font-family:"DejaVu Sans",Verdana,sans-serif;fill:#1a1a1a}
    svg .title{font-size:15px;font-weight:bold}svg .subtitle{font-size:12px;fill:#555}
    svg .tick-label{font-size:12px;fill:#333}svg .axis-label{font-size:13.5px}
    svg .legend-label{font-size:12.5px}svg .legend-heading{font-size:12.5px;font-weight:bold}
    svg .plot-area{fill:#fff;stroke:none}svg .grid{stroke:#e6e6e6;stroke-width:1}
    svg .axis-line,svg .tick{stroke:#333;stroke-width:1}svg .legend-line{stroke-width:2.5}
    svg .mark.mean{stroke:#000;stroke-width:3}svg .mark.ci{stroke:#000;stroke-width:1.5}
    svg .reference{stroke:#777;stroke-dasharray:5 4}svg .empty{font-size:14px;fill:#777}
    svg .annotation{font-size:13px;font-weight:bold}svg .annotation-box{fill:#fff;fill-opacity:0.9;stroke:#bbb}
    svg .halo{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
    """
}

/// A report that cannot be made as asked; the message names the option and the fix.
public struct ReportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A shell word: as is when it is plain, else single-quoted.
func shellWord(_ s: String) -> String {
    let plain = !s.isEmpty && s.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_./=:,@+-%".unicodeScalars.contains($0)) }
    return plain ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
