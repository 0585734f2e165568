import Foundation
import ZooAnalysis

/// Values per category: every value as a point (spread sideways so that equal values stay
/// visible), with the category's mean as a bar and its 95% confidence interval as a whisker
/// (Student t, ``MeanEstimate``; none for a single value).
public struct StripPlot: Chart {
    public struct Category: Sendable {
        public var name: String
        public var values: [Double]
        public init(name: String, values: [Double]) { self.name = name; self.values = values }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var categories: [Category]
    public var yScale: Axis.Scale
    public var width: Double
    public var height: Double

    public init(title: String, xLabel: String, yLabel: String, categories: [Category], yScale: Axis.Scale = .linear,
                width: Double = 420, height: Double = 320) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.categories = categories
        self.yScale = yScale; self.width = width; self.height = height
    }

    public func svg() -> String {
        let frame = PlotFrame(width: width, height: height, legend: false)
        let estimates = categories.map { MeanEstimate($0.values) }
        let extents = estimates.compactMap { $0 }.flatMap { [$0.low, $0.high] }
        let yAxis = Axis(label: yLabel, values: categories.flatMap(\.values) + extents, scale: yScale)
        var c = SVGCanvas(width: width, height: height)
        frame.drawTitle(&c, title, subtitle: "points: runs · bar: mean · whiskers: 95% CI")
        frame.drawBackground(&c)
        frame.drawY(&c, yAxis)
        frame.drawCategoricalX(&c, label: xLabel, categories: categories.map(\.name))
        let slot = (frame.plotRight - frame.plotLeft) / Double(max(categories.count, 1))
        var drawn = 0
        for (i, category) in categories.enumerated() {
            let centre = frame.px((Double(i) + 0.5) / Double(max(categories.count, 1)))
            let colour = Palette.colour(i)
            for (j, v) in category.values.enumerated() {
                guard let f = yAxis.fraction(v) else { continue }
                // A fixed low-discrepancy spread: deterministic, and even for any count.
                let offset = ((Double(j) * 0.618_033_988_75).truncatingRemainder(dividingBy: 1) - 0.5) * min(slot * 0.45, 40)
                c.raw(Palette.markerElement(Palette.marker(i), x: centre + offset, y: frame.py(f), size: 6, colour: colour, class: "mark point"))
                drawn += 1
            }
            guard let e = estimates[i], let fm = yAxis.fraction(e.mean) else { continue }
            let half = min(slot * 0.32, 26)
            if let lo = yAxis.fraction(e.low), let hi = yAxis.fraction(e.high) {
                c.line(centre + half + 6, frame.py(lo), centre + half + 6, frame.py(hi), class: "mark ci")
                c.line(centre + half + 2, frame.py(lo), centre + half + 10, frame.py(lo), class: "mark ci")
                c.line(centre + half + 2, frame.py(hi), centre + half + 10, frame.py(hi), class: "mark ci")
            }
            c.line(centre - half, frame.py(fm), centre + half + 10, frame.py(fm), class: "mark mean")
        }
        if drawn == 0 { frame.drawEmpty(&c) }
        return c.rendered(title: title)
    }
}
