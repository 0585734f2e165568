import Foundation

/// Points coloured (and shaped) by a category — one run each, e.g. a measure against the
/// generalization gap coloured by a hyperparameter, or predicted against true accuracy — with an
/// optional annotation (such as Kendall's τ) and an optional y = x reference line.
public struct Scatter: Chart {
    public struct Point: Sendable, Equatable {
        public var x: Double
        public var y: Double
        public var category: String
        public init(x: Double, y: Double, category: String = "") { self.x = x; self.y = y; self.category = category }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    /// The legend's heading: what the categories are (a config key).
    public var categoryLabel: String
    public var points: [Point]
    public var annotation: String?
    /// nil: log when the values are positive and span three decades or more.
    public var xScale: Axis.Scale?
    public var yScale: Axis.Scale?
    /// Draws y = x (for predicted against true).
    public var diagonal: Bool
    public var width: Double
    public var height: Double

    public init(title: String, xLabel: String, yLabel: String, categoryLabel: String = "", points: [Point], annotation: String? = nil,
                xScale: Axis.Scale? = nil, yScale: Axis.Scale? = .linear, diagonal: Bool = false, width: Double = 560, height: Double = 340) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.categoryLabel = categoryLabel; self.points = points
        self.annotation = annotation; self.xScale = xScale; self.yScale = yScale; self.diagonal = diagonal
        self.width = width; self.height = height
    }

    public func svg() -> String {
        let categories = orderedCategories(points.map(\.category))
        let index = Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($0.element, $0.offset) })
        let frame = PlotFrame(width: width, height: height, legend: categories.count > 1)
        let both = diagonal ? points.flatMap { [$0.x, $0.y] } : []
        let xAxis = Axis(label: xLabel, values: diagonal ? both : points.map(\.x), scale: xScale)
        let yAxis = Axis(label: yLabel, values: diagonal ? both : points.map(\.y), scale: yScale)
        var c = SVGCanvas(width: width, height: height)
        frame.drawTitle(&c, title)
        frame.drawBackground(&c)
        frame.drawY(&c, yAxis)
        frame.drawX(&c, xAxis)
        if diagonal, let a = xAxis.fraction(max(xAxis.low, yAxis.low)), let b = yAxis.fraction(max(xAxis.low, yAxis.low)),
           let d = xAxis.fraction(min(xAxis.high, yAxis.high)), let e = yAxis.fraction(min(xAxis.high, yAxis.high)) {
            c.line(frame.px(a), frame.py(b), frame.px(d), frame.py(e), class: "reference")
        }
        var drawn = 0
        for p in points {
            guard let fx = xAxis.fraction(p.x), let fy = yAxis.fraction(p.y) else { continue }
            let i = index[p.category] ?? 0
            c.raw(Palette.markerElement(Palette.marker(i), x: frame.px(fx), y: frame.py(fy), size: 7, colour: Palette.colour(i), class: "mark point"))
            drawn += 1
        }
        if drawn == 0 { frame.drawEmpty(&c) }
        if let annotation {
            c.rect(frame.plotLeft + 6, frame.plotTop + 6, Double(min(annotation.count, 40)) * 7.6 + 12, 22, class: "annotation-box")
            c.text(frame.plotLeft + 12, frame.plotTop + 22, shortened(annotation, 40), class: "annotation")
        }
        if categories.count > 1 {
            frame.drawLegend(&c, heading: categoryLabel, categories.enumerated().map {
                LegendEntry(label: $0.element, colour: Palette.colour($0.offset), marker: Palette.marker($0.offset))
            })
        }
        return c.rendered(title: title)
    }
}
