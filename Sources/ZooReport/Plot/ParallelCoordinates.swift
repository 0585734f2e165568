import Foundation

/// One polyline per run across vertical axes (the varied config keys, then a metric), coloured
/// by a value on a sequential scale with a colour bar. An axis with more than ``maxCategories``
/// values, all numbers, is numeric (log when they are positive and the largest is 20 times the
/// smallest or more); any other is categorical, its values evenly spaced in
/// ``orderedCategories(_:)`` order.
public struct ParallelCoordinates: Chart {
    public struct Dimension: Sendable {
        public var label: String
        /// One value per line, as text.
        public var values: [String]
        public init(label: String, values: [String]) { self.label = label; self.values = values }
    }

    /// An axis with at most this many distinct values is categorical even when they are numbers.
    public static let maxCategories = 6

    public var title: String
    public var dimensions: [Dimension]
    /// One per line; non-finite values draw grey.
    public var colourValues: [Double]
    public var colourLabel: String
    public var width: Double
    public var height: Double

    public init(title: String, dimensions: [Dimension], colourValues: [Double], colourLabel: String, width: Double = 860, height: Double = 380) {
        self.title = title; self.dimensions = dimensions; self.colourValues = colourValues; self.colourLabel = colourLabel
        self.width = width; self.height = height
    }

    /// How one dimension places a value: a fraction 0...1 up its axis, or nil.
    enum Placement {
        case numeric(Axis)
        case categorical([String: Double], [String])

        init(_ d: Dimension) {
            // "NaN" (a diverged run's metric) is a gap in a numeric axis, not a category.
            let numbers = d.values.filter { $0 != "NaN" }.map { Double($0) }
            // A few grid values read best evenly spaced (in numeric order): lines between them stay apart.
            if Set(d.values).count > ParallelCoordinates.maxCategories, !numbers.isEmpty, numbers.allSatisfy({ $0?.isFinite == true }) {
                let v = numbers.map { $0! }
                let positive = v.allSatisfy { $0 > 0 }
                let log = positive && (v.max()! / v.min()! >= 20)
                self = .numeric(Axis(label: d.label, values: v, scale: log ? .log : .linear, tickCount: 4))
            } else {
                let names = orderedCategories(d.values)
                let n = Double(names.count)
                let positions = Dictionary(uniqueKeysWithValues: names.enumerated().map {
                    ($0.element, names.count == 1 ? 0.5 : Double($0.offset) / (n - 1))
                })
                self = .categorical(positions, names)
            }
        }

        func fraction(_ value: String) -> Double? {
            switch self {
            case .numeric(let axis): return Double(value).flatMap { axis.fraction($0) }
            case .categorical(let positions, _): return positions[value]
            }
        }
    }

    public func svg() -> String {
        let frame = PlotFrame(width: width, height: height, legend: true, left: 40, bottom: 58)
        var c = SVGCanvas(width: width, height: height)
        frame.drawTitle(&c, title)
        let placements = dimensions.map(Placement.init)
        let count = dimensions.count
        func x(_ j: Int) -> Double { count == 1 ? frame.px(0.5) : frame.px(Double(j) / Double(count - 1)) }
        let colourAxis = Axis(label: colourLabel, values: colourValues)
        let lines = dimensions.first?.values.count ?? 0
        // Lines with the highest colour value last, on top; ties in run order.
        let order = (0..<lines).sorted { a, b in
            let va = a < colourValues.count && colourValues[a].isFinite ? colourValues[a] : -.infinity
            let vb = b < colourValues.count && colourValues[b].isFinite ? colourValues[b] : -.infinity
            return va == vb ? a < b : va < vb
        }
        var drawn = 0
        for i in order {
            let points: [(Double, Double)] = dimensions.indices.compactMap { j in
                guard i < dimensions[j].values.count, let f = placements[j].fraction(dimensions[j].values[i]) else { return nil }
                return (x(j), frame.py(f))
            }
            let value = i < colourValues.count ? colourValues[i] : .nan
            let colour = Palette.sequential(colourAxis.fraction(value) ?? .nan)
            if points.count >= 2 {
                c.path(points, class: "mark line", style: "fill:none;stroke:\(colour);stroke-width:1.6;stroke-opacity:0.7")
                drawn += 1
            } else if let p = points.first {
                c.raw(Palette.markerElement(.circle, x: p.0, y: p.1, size: 6, colour: colour, class: "mark point"))
                drawn += 1
            }
        }
        for (j, placement) in placements.enumerated() {
            c.raw("<g class=\"axis parallel-axis\">")
            c.line(x(j), frame.plotTop, x(j), frame.plotBottom, class: "axis-line")
            // Names under the axes, in two staggered rows when the axes stand close.
            let spacing = (frame.plotRight - frame.plotLeft) / Double(max(count - 1, 1))
            let staggered = spacing < 110 && j % 2 == 1
            c.text(x(j), frame.plotBottom + (staggered ? 40 : 20), shortened(dimensions[j].label, max(Int((spacing < 110 ? 2 * spacing : spacing) / 8), 6)),
                   class: "axis-label", anchor: "middle")
            switch placement {
            case .numeric(let axis):
                for t in axis.ticks {
                    guard let f = axis.fraction(t), f >= -1e-9, f <= 1 + 1e-9 else { continue }
                    c.line(x(j) - 4, frame.py(f), x(j), frame.py(f), class: "tick")
                    c.text(x(j) + 5, frame.py(f) + 4, axis.tickLabel(t), class: "tick-label halo")
                }
            case .categorical(let positions, let names):
                for name in names {
                    let f = positions[name] ?? 0
                    c.line(x(j) - 4, frame.py(f), x(j), frame.py(f), class: "tick")
                    c.text(x(j) + 5, frame.py(f) + 4, shortened(name, 12), class: "tick-label halo")
                }
            }
            c.raw("</g>")
        }
        if drawn == 0 { frame.drawEmpty(&c, "no runs to draw") }
        // The colour bar.
        c.raw("<g class=\"legend\">")
        let bx = frame.plotRight + 64, top = frame.plotTop + 20, bottom = frame.plotBottom - 10, steps = 24
        c.text(bx - 10, frame.plotTop + 4, shortened(colourLabel, 22), class: "legend-heading")
        for k in 0..<steps {
            let t0 = Double(k) / Double(steps), h = (bottom - top) / Double(steps)
            c.rect(bx, bottom - (t0 + 1 / Double(steps)) * (bottom - top), 16, h + 0.5, class: "colourbar",
                   style: "fill:\(Palette.sequential(t0 + 0.5 / Double(steps)))")
        }
        for t in colourAxis.ticks {
            guard let f = colourAxis.fraction(t), f >= -1e-9, f <= 1 + 1e-9 else { continue }
            c.text(bx + 22, bottom - f * (bottom - top) + 4, colourAxis.tickLabel(t), class: "tick-label")
        }
        c.raw("</g>")
        return c.rendered(title: title)
    }
}
