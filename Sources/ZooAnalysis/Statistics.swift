import Foundation

/// The mean of a sample with its spread: standard deviation and a confidence interval of the
/// mean from Student's t distribution (the spread over seeds that a study reports).
public struct MeanEstimate: Sendable, Equatable {
    /// The finite values the estimate is over.
    public let count: Int
    public let mean: Double
    /// The sample standard deviation (n − 1 in the denominator); NaN for one value.
    public let sd: Double
    /// The confidence interval of the mean, mean ± t(1 − (1 − level)/2, n − 1)·sd/√n; NaN for one value.
    public let low: Double
    public let high: Double

    /// The estimate over the finite values of `values` (non-finite ones are left out); nil when
    /// none is finite.
    public init?(_ values: [Double], level: Double = 0.95) {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return nil }
        count = finite.count
        let mean = finite.reduce(0, +) / Double(count)
        self.mean = mean
        guard count > 1 else { sd = .nan; low = .nan; high = .nan; return }
        let squares = finite.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        sd = (squares / Double(count - 1)).squareRoot()
        let half = studentTQuantile(0.5 + level / 2, degreesOfFreedom: Double(count - 1)) * sd / Double(count).squareRoot()
        low = mean - half
        high = mean + half
    }
}

/// Wilson's score interval for a proportion of `successes` in `trials` at confidence `level`
/// (Wilson 1927; the interval Madsen & Johansen recommend for success rates of training runs):
/// (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n). Nil when `trials` is 0.
public func wilsonInterval(successes: Int, trials: Int, level: Double = 0.95) -> (low: Double, high: Double)? {
    guard trials > 0, (0...trials).contains(successes) else { return nil }
    let n = Double(trials), p = Double(successes) / n
    let z = normalQuantile(0.5 + level / 2)
    let center = p + z * z / (2 * n)
    let half = z * (p * (1 - p) / n + z * z / (4 * n * n)).squareRoot()
    let scale = 1 + z * z / n
    return (max(0, (center - half) / scale), min(1, (center + half) / scale))
}

/// The `q`-quantile of `values` by linear interpolation between order statistics (numpy's
/// default, "type 7"); non-finite values are left out, NaN when none is finite.
public func quantile(_ values: [Double], _ q: Double) -> Double {
    let sorted = values.filter(\.isFinite).sorted()
    guard !sorted.isEmpty, q.isFinite else { return .nan }
    let position = min(max(q, 0), 1) * Double(sorted.count - 1)
    let below = Int(position.rounded(.down)), above = min(below + 1, sorted.count - 1)
    return sorted[below] + (position - Double(below)) * (sorted[above] - sorted[below])
}

/// The standard normal distribution's quantile Φ⁻¹(p), by bisection on Φ(x) = erfc(−x/√2)/2.
public func normalQuantile(_ p: Double) -> Double {
    guard p > 0, p < 1 else { return p == 0 ? -.infinity : p == 1 ? .infinity : .nan }
    return bisect(lower: -40, upper: 40) { 0.5 * erfc(-$0 / 2.0.squareRoot()) < p }
}

/// Student's t distribution's quantile for `degreesOfFreedom` > 0, by bisection on its CDF
/// (through the regularized incomplete beta function).
public func studentTQuantile(_ p: Double, degreesOfFreedom nu: Double) -> Double {
    guard p > 0, p < 1, nu > 0 else { return .nan }
    if p == 0.5 { return 0 }
    if p < 0.5 { return -studentTQuantile(1 - p, degreesOfFreedom: nu) }
    // P(T ≤ t) = 1 − I_{ν/(ν+t²)}(ν/2, 1/2)/2 for t ≥ 0.
    var upper = 1.0
    while 1 - 0.5 * regularizedIncompleteBeta(nu / 2, 0.5, nu / (nu + upper * upper)) < p, upper < 1e12 { upper *= 2 }
    return bisect(lower: 0, upper: upper) { 1 - 0.5 * regularizedIncompleteBeta(nu / 2, 0.5, nu / (nu + $0 * $0)) < p }
}

/// The regularized incomplete beta function I_x(a, b), by its continued fraction (modified
/// Lentz), using the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
public func regularizedIncompleteBeta(_ a: Double, _ b: Double, _ x: Double) -> Double {
    guard x > 0 else { return 0 }
    guard x < 1 else { return 1 }
    let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
    if x > (a + 1) / (a + b + 2) { return 1 - regularizedIncompleteBeta(b, a, 1 - x) }
    let tiny = 1e-300
    var c = 1.0, d = 1 - (a + b) * x / (a + 1)
    if abs(d) < tiny { d = tiny }
    d = 1 / d
    var fraction = d
    for m in 1...400 {
        let m = Double(m)
        for numerator in [m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))] {
            d = 1 + numerator * d
            if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            fraction *= d * c
        }
        if abs(d * c - 1) < 1e-15 { break }
    }
    return exp(logFront) * fraction / a
}

/// The point where `isBelow` turns from true to false in [lower, upper], to the last bit.
private func bisect(lower: Double, upper: Double, _ isBelow: (Double) -> Bool) -> Double {
    var lo = lower, hi = upper
    for _ in 0..<200 {
        let mid = (lo + hi) / 2
        if mid == lo || mid == hi { break }
        if isBelow(mid) { lo = mid } else { hi = mid }
    }
    return (lo + hi) / 2
}
