import Foundation

/// Curves over a shared x (epochs, ensemble size k, …): per series a line through the means and,
/// where given, a band between `low` and `high` (a confidence interval or min–max).
public struct LineChart: Chart {
    public struct Point: Sendable, Equatable {
        public var x: Double
        public var y: Double
        /// The band's ends; NaN (the default) for no band at this point.
        public var low: Double
        public var high: Double
        public init(x: Double, y: Double, low: Double = .nan, high: Double = .nan) {
            self.x = x; self.y = y; self.low = low; self.high = high
        }
    }

    public struct Series: Sendable {
        public var label: String
        public var points: [Point]
        public init(label: String, points: [Point]) { self.label = label; self.points = points }
    }

    public var title: String
    public var subtitle: String?
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var legendHeading: String
    public var yScale: Axis.Scale
    /// Ticks only at whole x values (epochs, ensemble sizes).
    public var integerX: Bool
    public var width: Double
    public var height: Double

    public init(title: String, subtitle: String? = nil, xLabel: String, yLabel: String, series: [Series], legendHeading: String = "",
                yScale: Axis.Scale = .linear, integerX: Bool = false, width: Double = 560, height: Double = 340) {
        self.title = title; self.subtitle = subtitle; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
        self.legendHeading = legendHeading; self.yScale = yScale; self.integerX = integerX; self.width = width; self.height = height
    }

    public func svg() -> String {
        let legend = series.count > 1
        let frame = PlotFrame(width: width, height: height, legend: legend)
        let all = series.flatMap(\.points)
        let xAxis = Axis(label: xLabel, values: all.map(\.x), integer: integerX)
        let yAxis = Axis(label: yLabel, values: all.flatMap { [$0.y, $0.low, $0.high] }, scale: yScale)
        var c = SVGCanvas(width: width, height: height)
        frame.drawTitle(&c, title, subtitle: subtitle)
        frame.drawBackground(&c)
        frame.drawY(&c, yAxis)
        frame.drawX(&c, xAxis)
        func pixel(_ x: Double, _ y: Double) -> (Double, Double)? {
            guard let fx = xAxis.fraction(x), let fy = yAxis.fraction(y) else { return nil }
            return (frame.px(fx), frame.py(fy))
        }
        var drawn = 0
        for (i, s) in series.enumerated() {
            let points = s.points.sorted { $0.x < $1.x }
            // The band: runs of consecutive points with both ends, upper edge forward, lower back.
            for run in Self.runs(points, where: { pixel($0.x, $0.low) != nil && pixel($0.x, $0.high) != nil }) where run.count >= 2 {
                let polygon = run.compactMap { pixel($0.x, $0.high) } + run.reversed().compactMap { pixel($0.x, $0.low) }
                c.path(polygon, class: "band", style: "fill:\(Palette.colour(i));fill-opacity:0.16;stroke:none", closed: true)
            }
        }
        for (i, s) in series.enumerated() {
            let points = s.points.sorted { $0.x < $1.x }
            let colour = Palette.colour(i), dash = Palette.dash(i)
            for run in Self.runs(points, where: { pixel($0.x, $0.y) != nil }) {
                c.path(run.compactMap { pixel($0.x, $0.y) }, class: "mark line",
                       style: "fill:none;stroke:\(colour);stroke-width:2" + (dash.isEmpty ? "" : ";stroke-dasharray:\(dash)"))
            }
            let visible = points.compactMap { pixel($0.x, $0.y) }
            drawn += visible.count
            // Markers tell series apart without colour; on long curves every few points.
            let every = max(1, visible.count / 12)
            for (j, p) in visible.enumerated() where j % every == 0 || j == visible.count - 1 {
                c.raw(Palette.markerElement(Palette.marker(i), x: p.0, y: p.1, size: 7, colour: colour, class: "mark point"))
            }
        }
        if drawn == 0 { frame.drawEmpty(&c) }
        if legend {
            frame.drawLegend(&c, heading: legendHeading, series.enumerated().map {
                LegendEntry(label: $0.element.label, colour: Palette.colour($0.offset), marker: Palette.marker($0.offset), dash: Palette.dash($0.offset), line: true)
            })
        }
        return c.rendered(title: title)
    }

    /// The maximal runs of consecutive points that pass `keep`.
    static func runs(_ points: [Point], where keep: (Point) -> Bool) -> [[Point]] {
        var out: [[Point]] = [], current: [Point] = []
        for p in points {
            if keep(p) { current.append(p) } else if !current.isEmpty { out.append(current); current = [] }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}
