import Foundation
import Testing
@testable import ZooReport
import ZooStore

@Suite("HTML report")
struct HTMLReportTests {
    /// Every `<svg>` element of a page, in order.
    static func svgs(_ html: String) -> [String] {
        html.components(separatedBy: "<svg ").dropFirst().map { "<svg " + $0.components(separatedBy: "</svg>")[0] + "</svg>" }
    }

    @Test func standardSectionsDrawEveryFigure() throws {
        let folder = Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try Fixtures.store(in: folder)
        let report = try HTMLReport.make(store: store, options: ReportOptions(storePath: "z.sqlite"))
        #expect(report.sections.map(\.id) == ["runs", "summary", "curves", "final", "gap", "measures", "parallel"])
        let html = report.html()
        // The summary: one row per optimizer × lr, over the three seeds.
        let summary = report.sections[1].figures[0].table
        #expect(summary.rows.count == 4 && summary.rows.allSatisfy { $0.contains("3") }, "\(summary.rows)")
        #expect(!html.lowercased().contains("<script"))
        // optimizer × lr make 4 groups: the curves group by both; train/test accuracy/loss.
        let curves = report.sections[2].figures
        #expect(curves.count == 4 && curves[0].table.rows.count == 4 * 6)
        // The first curve's first point: mean of the three seeds of adam, lr 0.01 at epoch 1.
        let expected = (0.71 + 0.72 + 0.73) / 3 * (1 - exp(-0.5))
        #expect(Swift.abs(Double(curves[0].table.rows[0][3])! - expected) < 1e-3, "\(curves[0].table.rows[0])")
        #expect(curves[0].table.rows[0][0] == "lr=0.01, optimizer=adam")
        // lr, optimizer and seed vary: final and best strip plots for each.
        #expect(report.sections[3].figures.count == 6)
        let measures = report.sections[5]
        #expect(measures.figures.count == 4 && measures.figures[0].table.rows.count == 3)
        #expect(measures.figures[0].table.rows.allSatisfy { Double($0[1]) != nil }, "every measure has a τ")
        let svgs = Self.svgs(html)
        #expect(svgs.count == report.sections.flatMap(\.figures).filter { $0.svg != nil }.count)
        for svg in svgs {
            let parsed = try SVGElements.parse(svg)
            #expect(!parsed.elements.filter { ($0.attributes["class"] ?? "").hasPrefix("axis") }.isEmpty, "axes: \(svg.prefix(300))")
            #expect(!parsed.withClass("mark").isEmpty, "marks: \(svg.prefix(300))")
            #expect(parsed.coordinatesAreFinite())
        }
        // Deterministic: the same store gives the same bytes.
        #expect(try HTMLReport.make(store: store, options: ReportOptions(storePath: "z.sqlite")).html() == html)
    }

    @Test func aHostileStoreRendersAsText() throws {
        let folder = Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try Fixtures.store(in: folder, hostile: true)
        let html = try HTMLReport.make(store: store, options: ReportOptions(storePath: "../<b>'s", conditions: [("model", "mlp")],
                                                                             by: [Fixtures.imageTag], outPath: "\"out")).html()
        let lower = html.lowercased()
        #expect(!lower.contains("<script") && !lower.contains("<img") && !lower.contains("<b>"))
        for raw in [Fixtures.script, Fixtures.quotes, Fixtures.imageTag, "\"out"] { #expect(!html.contains(raw), "unescaped: \(raw)") }
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && html.contains("&quot;&#39;&amp;../../etc"))
        // Nothing but the page's own markup: every tag is one the report writes.
        let tags = Set(html.matches(of: /<\/?([a-zA-Z0-9!]+)/).map { String($0.output.1).lowercased() })
        #expect(tags.isSubset(of: ["!doctype", "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "nav", "ul", "li", "a", "section", "div",
                                   "svg", "g", "line", "rect", "text", "path", "circle", "table", "thead", "tbody", "tr", "th", "td", "pre"]), "\(tags)")
        for svg in Self.svgs(html) { _ = try SVGElements.parse(svg) }
    }

    @Test func degenerateStoresRenderSomething() throws {
        let folder = Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // Empty.
        let empty = try SQLiteStore(path: folder.appendingPathComponent("empty.sqlite"))
        let none = try HTMLReport.make(store: empty, options: ReportOptions(storePath: "empty.sqlite", by: ["lr"]))
        #expect(none.sections.map(\.id) == ["empty"] && none.html().contains("No runs"))
        // One run, one epoch: no key varies.
        let one = try Fixtures.store(in: folder.appendingPathComponent("one").creatingFolder(), epochs: 1, seeds: [0], optimizers: ["sgd"], lrs: [0.1])
        let single = try HTMLReport.make(store: one, options: ReportOptions(storePath: "one"))
        #expect(single.sections.map(\.id) == ["runs", "summary", "curves", "final", "gap", "measures"])
        for svg in HTMLReportTests.svgs(single.html()) { #expect(try SVGElements.parse(svg).coordinatesAreFinite()) }
        // A seed zoo: one run per seed, drawn as one strip of all runs.
        let seeds = try Fixtures.store(in: folder.appendingPathComponent("seeds").creatingFolder(), epochs: 2, optimizers: ["sgd"], lrs: [0.1])
        let seedReport = try HTMLReport.make(store: seeds, options: ReportOptions(storePath: "seeds"))
        let strips = try #require(seedReport.sections.first { $0.id == "final" }?.figures)
        #expect(strips.count == 2 && strips[0].table.rows.map { Array($0.prefix(2)) } == [["all runs", "3"]])
        #expect(!seedReport.sections.contains { $0.id == "parallel" }, "no key but seed varies")
        // A `--by` key no run has is an error naming it.
        #expect(throws: ReportError.self) { try HTMLReport.make(store: one, options: ReportOptions(storePath: "one", by: ["optimiser"])) }
        // NaN and infinite metrics (a diverged run).
        let diverged = try Fixtures.store(in: folder.appendingPathComponent("nan").creatingFolder(), epochs: 2, seeds: [0, 1], lrs: [0.1])
        try diverged.record(MetricRecord(runID: "run-0-0.1-0", epoch: 3, step: 30, values: ["test_accuracy": .nan, "train_accuracy": .infinity, "test_loss": .nan]))
        let html = try HTMLReport.make(store: diverged, options: ReportOptions(storePath: "nan")).html()
        for svg in HTMLReportTests.svgs(html) { #expect(try SVGElements.parse(svg).coordinatesAreFinite()) }
    }
}

extension URL {
    func creatingFolder() throws -> URL {
        try FileManager.default.createDirectory(at: self, withIntermediateDirectories: true)
        return self
    }
}
