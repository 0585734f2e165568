import Foundation
import Testing
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import ZooReport

/// The elements of an SVG document, parsed as XML (which also proves it well-formed).
final class SVGElements: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []
    var texts: [String] = []

    static func parse(_ svg: String) throws -> SVGElements {
        let collector = SVGElements()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        try #require(parser.parse(), "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")\n\(svg.prefix(400))")
        return collector
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        elements.append((name, attributes))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { texts.append(string) }

    func withClass(_ cls: String) -> [(name: String, attributes: [String: String])] {
        elements.filter { ($0.attributes["class"] ?? "").split(separator: " ").contains(Substring(cls)) }
    }

    /// Every coordinate attribute is a finite number.
    func coordinatesAreFinite() -> Bool {
        elements.allSatisfy { e in
            ["x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height"].allSatisfy { k in e.attributes[k].map { Double($0)?.isFinite == true } ?? true }
                && !(e.attributes["d"] ?? "").lowercased().contains("nan") && !(e.attributes["d"] ?? "").lowercased().contains("inf")
        }
    }
}

@Suite("Plots")
struct PlotTests {
    @Test func linearTicksAreNice() {
        let a = Axis(label: "acc", values: [0.13, 0.87])
        #expect(a.low == 0 && a.high == 1)
        #expect(a.ticks.count == 6 && Swift.abs(a.ticks[1] - 0.2) < 1e-12)
        #expect(a.ticks.map(a.tickLabel) == ["0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        let b = Axis(label: "", values: [3, 97])
        #expect(b.low == 0 && b.high == 100 && b.ticks == [0, 20, 40, 60, 80, 100])
        #expect(b.tickLabel(40) == "40")
        let c = Axis(label: "", values: [-0.034, 0.012])
        #expect(c.ticks.first! <= -0.034 && c.ticks.last! >= 0.012 && c.ticks.contains(0))
        #expect(c.tickLabel(-0.02) == "-0.02")
        // Epochs: whole ticks only, however few.
        let epochs = Axis(label: "epoch", values: [1, 4], integer: true)
        #expect(epochs.ticks == [1, 2, 3, 4] && epochs.ticks.map(epochs.tickLabel) == ["1", "2", "3", "4"])
        #expect(Axis(label: "epoch", values: [1], integer: true).ticks.allSatisfy { $0 == $0.rounded() })
    }

    @Test func degenerateValuesGiveAUsableAxis() {
        for values in [[], [Double.nan, .infinity], [5.0], [0.0, 0.0]] {
            let a = Axis(label: "", values: values)
            #expect(a.low < a.high && !a.ticks.isEmpty && a.low.isFinite && a.high.isFinite, "\(values)")
            #expect(a.fraction(.nan) == nil)
        }
        let one = Axis(label: "", values: [5])
        #expect(one.low <= 4.5 && one.high >= 5.5)
        let huge = Axis(label: "", values: [-1e300, 1e300])
        #expect(huge.low.isFinite && huge.high.isFinite && huge.ticks.count < 200)
    }

    @Test func logTicksArePowersOfTen() {
        let a = Axis(label: "lr", values: [1e-3, 0.5], scale: .log)
        #expect(a.low == 1e-3 && a.high == 1)
        #expect(a.ticks == [1e-3, 1e-2, 1e-1, 1])
        #expect(a.ticks.map(a.tickLabel) == ["0.001", "0.01", "0.1", "1"])
        #expect(a.fraction(-1) == nil && a.fraction(0) == nil)
        #expect(Swift.abs(a.fraction(1e-2)! - 1.0 / 3) < 1e-12)
        let narrow = Axis(label: "", values: [0.02, 0.3], scale: .log)
        #expect(narrow.ticks == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1])
        #expect(Axis(label: "", values: [1e-7, 1e-5], scale: .log).tickLabel(1e-6) == "1e-6")
        #expect(Axis(label: "", values: [1, 5000], scale: nil).scale == .log)
        #expect(Axis(label: "", values: [-1, 5000], scale: nil).scale == .linear)
    }

    @Test func categoriesReadInOrder() {
        #expect(orderedCategories(["10", "2", "0.5", "2"]) == ["0.5", "2", "10"])
        #expect(orderedCategories(["sgd", "adam", "10"]) == ["10", "adam", "sgd"])
        #expect(orderedCategories(["nan", "1"]) == ["1", "nan"])
    }

    @Test func escapingCoversTextAndAttributes() {
        #expect(escapeMarkup("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;")
        #expect(escapeMarkup("a \"b\" 'c' & d") == "a &quot;b&quot; &#39;c&#39; &amp; d")
        #expect(escapeMarkup("../../etc/passwd") == "../../etc/passwd")
        #expect(escapeMarkup("&amp;") == "&amp;amp;")
        #expect(escapeMarkup("a\u{0}b\u{1B}c\td\n") == "a\u{FFFD}b\u{FFFD}c\td\n")
        #expect(escapeMarkup("τ = 0.3 — ok") == "τ = 0.3 — ok")
    }

    static let hostile = "<script>alert(1)</script>\"'&../x"

    /// Each chart with ordinary, empty and degenerate data: well-formed SVG with its axes and,
    /// when there is data, its marks; never a NaN coordinate.
    @Test func lineChartHasAxesBandsAndMarks() throws {
        let series = (0..<3).map { s in
            LineChart.Series(label: "group \(s)", points: (1...5).map { LineChart.Point(x: Double($0), y: Double(s) + 1 / Double($0), low: Double(s), high: Double(s) + 2) })
        }
        let svg = try SVGElements.parse(LineChart(title: "test accuracy", xLabel: "epoch", yLabel: "accuracy", series: series).svg())
        #expect(svg.withClass("x-axis").count == 1 && svg.withClass("y-axis").count == 1)
        #expect(svg.withClass("line").count == 3 && svg.withClass("band").count == 3 && svg.withClass("point").count == 15)
        #expect(svg.withClass("legend").count == 1 && svg.withClass("legend-label").count == 3)
        #expect(svg.texts.contains("epoch") && svg.texts.contains("accuracy") && svg.texts.contains("test accuracy"))
        #expect(svg.coordinatesAreFinite())
        // One series: no legend; NaN and infinite points are left out, and break the line.
        let gappy = LineChart.Series(label: "x", points: [.init(x: 1, y: 1), .init(x: 2, y: .nan), .init(x: 3, y: 2), .init(x: 4, y: 3), .init(x: .infinity, y: 1)])
        let one = try SVGElements.parse(LineChart(title: "t", xLabel: "x", yLabel: "y", series: [gappy]).svg())
        #expect(one.withClass("legend").isEmpty && one.withClass("line").count == 1 && one.withClass("point").count == 3 && one.coordinatesAreFinite())
        let empty = try SVGElements.parse(LineChart(title: "t", xLabel: "x", yLabel: "y", series: []).svg())
        #expect(empty.withClass("x-axis").count == 1 && empty.withClass("empty").count == 1 && empty.coordinatesAreFinite())
        let log = try SVGElements.parse(LineChart(title: "loss", xLabel: "epoch", yLabel: "loss", series: [
            .init(label: "a", points: [.init(x: 1, y: 2), .init(x: 2, y: 0.01), .init(x: 3, y: 0), .init(x: 4, y: -1)])], yScale: .log).svg())
        #expect(log.coordinatesAreFinite() && log.withClass("point").count == 2)
    }

    @Test func stripPlotHasPointsMeansAndIntervals() throws {
        let chart = StripPlot(title: "final test accuracy by lr", xLabel: "lr", yLabel: "accuracy", categories: [
            .init(name: "0.01", values: [0.8, 0.82, 0.81]), .init(name: "0.1", values: [0.9]), .init(name: "1", values: [.nan, .infinity]),
        ])
        let svg = try SVGElements.parse(chart.svg())
        #expect(svg.withClass("x-axis").count == 1 && svg.withClass("y-axis").count == 1)
        #expect(svg.withClass("point").count == 4)
        #expect(svg.withClass("mean").count == 2, "a category without a finite value has no mean")
        #expect(svg.withClass("ci").count == 3, "one whisker with two caps, for the only category with two values or more")
        #expect(svg.texts.contains("0.01") && svg.texts.contains("lr") && svg.coordinatesAreFinite())
        let empty = try SVGElements.parse(StripPlot(title: "t", xLabel: "k", yLabel: "v", categories: []).svg())
        #expect(empty.withClass("empty").count == 1 && empty.coordinatesAreFinite())
    }

    @Test func scatterHasPointsLegendAndAnnotation() throws {
        let points = (0..<12).map { Scatter.Point(x: pow(10, Double($0) / 2), y: Double($0 % 5) / 10, category: ["adam", "sgd", Self.hostile][$0 % 3]) }
        let svg = try SVGElements.parse(Scatter(title: "spectral norm", xLabel: "measure", yLabel: "gap", categoryLabel: "optimizer",
                                                points: points, annotation: "Kendall τ = 0.123").svg())
        #expect(svg.withClass("x-axis").count == 1 && svg.withClass("y-axis").count == 1 && svg.withClass("point").count == 12)
        #expect(svg.withClass("legend").count == 1 && svg.texts.joined().contains("Kendall τ = 0.123"))
        #expect(svg.texts.contains("1e5"), "x spans 5.5 decades: a log axis")
        #expect(svg.texts.joined().contains("<script>alert(1)"), "hostile text arrives as text")
        let predicted = try SVGElements.parse(Scatter(title: "predicted", xLabel: "true", yLabel: "predicted", points: [.init(x: 0.5, y: 0.6), .init(x: 0.9, y: 0.85)],
                                                      diagonal: true).svg())
        #expect(predicted.withClass("reference").count == 1 && predicted.withClass("legend").isEmpty)
        let empty = try SVGElements.parse(Scatter(title: "t", xLabel: "x", yLabel: "y", points: [.init(x: .nan, y: 1)]).svg())
        #expect(empty.withClass("empty").count == 1 && empty.coordinatesAreFinite())
    }

    @Test func parallelCoordinatesHaveAnAxisPerKeyAndALinePerRun() throws {
        let chart = ParallelCoordinates(title: "keys", dimensions: [
            .init(label: "optimizer", values: ["sgd", "adam", "sgd", Self.hostile]),
            .init(label: "lr", values: ["0.001", "0.01", "0.1", "0.1"]),
            .init(label: "final test acc", values: ["0.8", "0.9", "NaN", "0.7"]),
        ], colourValues: [0.8, 0.9, .nan, 0.7], colourLabel: "final test acc")
        let svg = try SVGElements.parse(chart.svg())
        #expect(svg.withClass("parallel-axis").count == 3)
        #expect(svg.withClass("mark").count == 4)
        #expect(svg.withClass("colourbar").count > 10 && svg.coordinatesAreFinite())
        #expect(svg.texts.contains("0.01") && svg.texts.contains("0.001"), "three lr values: evenly spaced categories")
        let one = try SVGElements.parse(ParallelCoordinates(title: "t", dimensions: [.init(label: "k", values: ["a"])], colourValues: [.nan], colourLabel: "c").svg())
        #expect(one.withClass("point").count == 1 && one.coordinatesAreFinite())
        let none = try SVGElements.parse(ParallelCoordinates(title: "t", dimensions: [], colourValues: [], colourLabel: "c").svg())
        #expect(none.withClass("empty").count == 1)
    }

    @Test func paletteDistinguishesSeriesWithoutColour() {
        #expect(Set((0..<7).map { Palette.marker($0) }).count == 7)
        #expect(Set((0..<8).map { Palette.colour($0) }).count == 8)
        #expect(Palette.sequential(0) == "#440154" && Palette.sequential(1) == "#FDE725" && Palette.sequential(.nan) == "#999999")
        #expect(Palette.marker(-1) == Palette.marker(6))
    }
}
