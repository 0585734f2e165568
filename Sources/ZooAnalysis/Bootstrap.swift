import ZooTensor

/// A percentile bootstrap confidence interval (Efron 1979): the statistic is recomputed on
/// `replicates` samples of the n units drawn with replacement, and the interval is the
/// (1 − level)/2 and (1 + level)/2 quantiles of the replicates (``quantile(_:_:)``); replicates
/// where the statistic is NaN are left out. The draws come from the counter-based generator
/// keyed by `seed`, so the interval is the same on every run.
///
/// - Parameter statistic: the statistic of a sample, given as indices into the n units (with
///   repeats).
/// - Returns: nil when n is 0, `replicates` < 1 or no replicate is defined.
/// - Complexity: `replicates` evaluations of the statistic.
public func bootstrapInterval(count n: Int, replicates: Int, seed: UInt64, level: Double = 0.95,
                              statistic: ([Int]) -> Double) -> (low: Double, high: Double)? {
    guard n > 0, replicates > 0 else { return nil }
    let key = RandomKey(seed: seed).derived("bootstrap")
    var values: [Double] = []
    for r in 0..<replicates {
        let sample = key.derived(r).uniform(count: n).map { min(n - 1, Int($0 * Float(n))) }
        let value = statistic(sample)
        if !value.isNaN { values.append(value) }
    }
    guard !values.isEmpty else { return nil }
    return (quantile(values, (1 - level) / 2), quantile(values, (1 + level) / 2))
}

/// A permutation of 0..<n that depends only on `seed`: indices ordered by counter-based uniform
/// draws (ties by index).
public func seededPermutation(_ n: Int, seed: UInt64) -> [Int] {
    let u = RandomKey(seed: seed).derived("permutation").uniform(count: max(0, n))
    return (0..<max(0, n)).sorted { u[$0] == u[$1] ? $0 < $1 : u[$0] < u[$1] }
}
