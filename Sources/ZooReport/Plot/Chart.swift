import Foundation

/// A chart that draws itself as a standalone SVG element.
///
/// Every chart has a title, axis labels and ticks (in `<g class="axis …">` groups), its data
/// marks under class `mark` (lines, points, means, intervals), and a legend (class `legend`)
/// when it has more than one series. The output depends only on the chart's values: the same
/// data give the same bytes.
public protocol Chart: Sendable {
    var title: String { get }
    /// The chart as an `<svg>` element, every text escaped.
    func svg() -> String
}

/// One row of a legend: a label and how its series is drawn.
struct LegendEntry {
    var label: String
    var colour: String
    var marker: Palette.Marker?
    var dash: String = ""
    var line: Bool = false
}

/// The geometry shared by the charts: margins, the plot area, and the drawing of the title,
/// axes, grid and legend.
struct PlotFrame {
    let width: Double
    let height: Double
    let left: Double
    let top: Double = 44
    let bottom: Double
    let right: Double

    init(width: Double, height: Double, legend: Bool, left: Double = 70, bottom: Double = 54) {
        self.width = width
        self.height = height
        self.left = left
        self.bottom = bottom
        right = legend ? 180 : 20
    }

    var plotLeft: Double { left }
    var plotRight: Double { max(width - right, left + 40) }
    var plotTop: Double { top }
    var plotBottom: Double { max(height - bottom, top + 40) }

    /// Pixel x of an axis fraction (0 at the left of the plot area).
    func px(_ f: Double) -> Double { plotLeft + f * (plotRight - plotLeft) }
    /// Pixel y of an axis fraction (0 at the bottom of the plot area).
    func py(_ f: Double) -> Double { plotBottom - f * (plotBottom - plotTop) }

    func drawTitle(_ c: inout SVGCanvas, _ title: String, subtitle: String? = nil) {
        c.text(width / 2, 20, shortened(title, Int(width / 8.5)), class: "title", anchor: "middle")
        if let subtitle { c.text(width / 2, 36, shortened(subtitle, Int(width / 6.5)), class: "subtitle", anchor: "middle") }
    }

    func drawBackground(_ c: inout SVGCanvas) {
        c.rect(plotLeft, plotTop, plotRight - plotLeft, plotBottom - plotTop, class: "plot-area")
    }

    func drawX(_ c: inout SVGCanvas, _ axis: Axis) {
        c.raw("<g class=\"axis x-axis\">")
        for t in axis.ticks {
            guard let f = axis.fraction(t), f >= -1e-9, f <= 1 + 1e-9 else { continue }
            c.line(px(f), plotTop, px(f), plotBottom, class: "grid")
            c.line(px(f), plotBottom, px(f), plotBottom + 5, class: "tick")
            c.text(px(f), plotBottom + 19, axis.tickLabel(t), class: "tick-label", anchor: "middle")
        }
        c.line(plotLeft, plotBottom, plotRight, plotBottom, class: "axis-line")
        c.text((plotLeft + plotRight) / 2, plotBottom + 40, shortened(axis.label, 60), class: "axis-label", anchor: "middle")
        c.raw("</g>")
    }

    func drawY(_ c: inout SVGCanvas, _ axis: Axis) {
        c.raw("<g class=\"axis y-axis\">")
        for t in axis.ticks {
            guard let f = axis.fraction(t), f >= -1e-9, f <= 1 + 1e-9 else { continue }
            c.line(plotLeft, py(f), plotRight, py(f), class: "grid")
            c.line(plotLeft - 5, py(f), plotLeft, py(f), class: "tick")
            c.text(plotLeft - 8, py(f) + 4, axis.tickLabel(t), class: "tick-label", anchor: "end")
        }
        c.line(plotLeft, plotTop, plotLeft, plotBottom, class: "axis-line")
        c.text(16, (plotTop + plotBottom) / 2, shortened(axis.label, 44), class: "axis-label", anchor: "middle", rotate: -90)
        c.raw("</g>")
    }

    /// An x axis of named categories, evenly spaced (centre of slot `i` at fraction (i + ½)/n).
    func drawCategoricalX(_ c: inout SVGCanvas, label: String, categories: [String]) {
        c.raw("<g class=\"axis x-axis\">")
        let n = Double(max(categories.count, 1))
        let slanted = categories.count > 6 || categories.contains { $0.count > 10 }
        for (i, name) in categories.enumerated() {
            let x = px((Double(i) + 0.5) / n)
            c.line(x, plotBottom, x, plotBottom + 5, class: "tick")
            if slanted {
                c.text(x + 4, plotBottom + 16, shortened(name, 14), class: "tick-label", anchor: "end", rotate: -30)
            } else {
                c.text(x, plotBottom + 19, shortened(name, 14), class: "tick-label", anchor: "middle")
            }
        }
        c.line(plotLeft, plotBottom, plotRight, plotBottom, class: "axis-line")
        c.text((plotLeft + plotRight) / 2, height - 8, shortened(label, 60), class: "axis-label", anchor: "middle")
        c.raw("</g>")
    }

    /// The legend right of the plot area, with a heading; entries that do not fit are counted.
    func drawLegend(_ c: inout SVGCanvas, heading: String, _ entries: [LegendEntry]) {
        guard !entries.isEmpty else { return }
        let x = plotRight + 14
        c.raw("<g class=\"legend\">")
        var y = plotTop + 4
        if !heading.isEmpty {
            c.text(x, y + 4, shortened(heading, 21), class: "legend-heading")
            y += 20
        }
        let room = max(Int((plotBottom - y) / 19), 1)
        let shown = entries.count > room ? Array(entries.prefix(room - 1)) : entries
        for e in shown {
            if e.line {
                c.line(x, y, x + 26, y, class: "legend-line", style: "stroke:\(e.colour)" + (e.dash.isEmpty ? "" : ";stroke-dasharray:\(e.dash)"))
            }
            if let m = e.marker { c.raw(Palette.markerElement(m, x: x + 13, y: y, size: 8, colour: e.colour, class: "legend-marker")) }
            c.text(x + 32, y + 4, shortened(e.label, 17), class: "legend-label")
            y += 19
        }
        if shown.count < entries.count { c.text(x, y + 4, "… and \(entries.count - shown.count) more", class: "legend-label") }
        c.raw("</g>")
    }

    /// A note in the middle of an empty plot area.
    func drawEmpty(_ c: inout SVGCanvas, _ note: String = "no finite values to plot") {
        c.text((plotLeft + plotRight) / 2, (plotTop + plotBottom) / 2, note, class: "empty", anchor: "middle")
    }
}
