import Foundation

/// A numeric axis: its label, scale, domain and tick values, chosen from the data.
///
/// A linear axis rounds its domain out to "nice" ticks (1, 2 or 5 × 10ᵏ apart, about
/// `tickCount` intervals); a log axis has a tick at each power of ten (and at 2 and 5 × 10ᵏ when it spans fewer
/// than three decades). Non-finite values are ignored, and so are values ≤ 0 on a log axis;
/// with no usable value the domain is 0...1, with one it is widened around it.
public struct Axis: Sendable, Equatable {
    public enum Scale: String, Sendable { case linear, log }

    public let label: String
    public let scale: Scale
    /// The ends of the axis (in data units).
    public let low: Double
    public let high: Double
    /// Tick values, ascending, inside `low...high`.
    public let ticks: [Double]
    /// The spacing of linear ticks (for their labels' decimals); 0 on a log axis.
    let step: Double

    /// An axis over `values`; `includeZero` extends a linear domain to 0.
    /// `scale: nil` picks log when every usable value is positive and they span at least three decades.
    /// `integer`: ticks only at whole numbers (epochs, counts) on a linear axis.
    public init(label: String, values: [Double], scale: Scale? = .linear, includeZero: Bool = false, tickCount: Int = 5, integer: Bool = false) {
        self.label = label
        var finite = values.filter(\.isFinite)
        let chosen = scale ?? Self.automaticScale(finite)
        if chosen == .log { finite = finite.filter { $0 > 0 } }
        self.scale = chosen
        switch chosen {
        case .linear:
            var lo = finite.min() ?? 0, hi = finite.max() ?? 1
            if includeZero { lo = min(lo, 0); hi = max(hi, 0) }
            if lo == hi {
                let pad = lo == 0 ? 1 : Swift.abs(lo) * 0.1
                lo -= pad; hi += pad
            }
            let step = max(Self.niceStep((hi - lo) / Double(max(tickCount, 1))), integer ? 1 : 0)
            let first = (lo / step).rounded(.down), last = (hi / step).rounded(.up)
            low = first * step
            high = last * step
            self.step = step
            let n = Int(min(last - first, 100))
            ticks = (0...n).map { (first + Double($0)) * step }.map { Swift.abs($0) < step * 1e-9 ? 0 : $0 }
        case .log:
            var lo = finite.min() ?? 1, hi = finite.max() ?? 10
            if lo == hi { lo /= 10; hi *= 10 }
            var e0 = log10(lo).rounded(.down), e1 = log10(hi).rounded(.up)
            if e1 - e0 > 300 { e0 = max(e0, -300); e1 = min(e1, 300) }
            if e0 == e1 { e1 += 1 }
            low = pow(10, e0)
            high = pow(10, e1)
            step = 0
            let decades = Int(e1 - e0)
            let stride = max(1, decades / 8)
            var t: [Double] = []
            for e in Swift.stride(from: Int(e0), through: Int(e1), by: stride) {
                let p = pow(10, Double(e))
                t.append(p)
                if decades < 3 && e < Int(e1) { t += [2 * p, 5 * p] }
            }
            ticks = t
        }
    }

    /// Log when every value is positive and they span at least three decades.
    static func automaticScale(_ values: [Double]) -> Scale {
        guard let lo = values.min(), let hi = values.max(), lo > 0 else { return .linear }
        return hi / lo >= 1000 ? .log : .linear
    }

    /// The 1, 2, 5 or 10 × 10ᵏ nearest to `rough` (on a log scale, as d3's `tickIncrement`
    /// chooses); 1 for a non-positive or non-finite `rough`.
    static func niceStep(_ rough: Double) -> Double {
        guard rough.isFinite, rough > 0 else { return 1 }
        let power = pow(10, log10(rough).rounded(.down))
        let error = rough / power
        let factor: Double = error >= 50.0.squareRoot() ? 10 : error >= 10.0.squareRoot() ? 5 : error >= 2.0.squareRoot() ? 2 : 1
        return factor * power
    }

    /// Where `value` lies along the axis, 0 at `low` and 1 at `high`; nil for a value the axis
    /// cannot show (non-finite, or ≤ 0 on a log axis). Values outside the domain give fractions outside 0...1.
    public func fraction(_ value: Double) -> Double? {
        guard value.isFinite else { return nil }
        switch scale {
        case .linear:
            return high > low ? (value - low) / (high - low) : 0.5
        case .log:
            guard value > 0 else { return nil }
            return (log10(value) - log10(low)) / (log10(high) - log10(low))
        }
    }

    /// A tick's label: as many decimals as the tick spacing needs; exponent form for very large or small values.
    public func tickLabel(_ value: Double) -> String {
        if value == 0 { return "0" }
        let magnitude = Swift.abs(value)
        if scale == .log || magnitude >= 1e6 || magnitude < 1e-4 {
            if magnitude >= 1e-3 && magnitude < 1e5 { return Self.trimmed(String(format: "%.4f", value)) }
            let s = String(format: "%.0e", value)  // 1e-05 → 1e-5
            return s.replacingOccurrences(of: "e-0", with: "e-").replacingOccurrences(of: "e+0", with: "e").replacingOccurrences(of: "e+", with: "e")
        }
        let decimals = max(0, Int(-log10(step).rounded(.down)))
        return String(format: "%.\(min(decimals, 10))f", value)
    }

    static func trimmed(_ s: String) -> String {
        guard s.contains(".") else { return s }
        var t = s
        while t.hasSuffix("0") { t.removeLast() }
        if t.hasSuffix(".") { t.removeLast() }
        return t
    }
}

/// Category names in reading order: numerically when every one is a number, else as text.
public func orderedCategories<S: Sequence>(_ names: S) -> [String] where S.Element == String {
    let unique = Array(Set(names))
    let numbers = unique.map { Double($0) }
    if numbers.allSatisfy({ $0?.isFinite == true }) {
        return zip(unique, numbers).sorted { a, b in a.1! == b.1! ? a.0 < b.0 : a.1! < b.1! }.map(\.0)
    }
    return unique.sorted()
}
