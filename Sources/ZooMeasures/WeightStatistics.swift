import Foundation
import ZooTensor

/// Statistics of the weights themselves: the per-layer features from which Unterthiner et al.
/// 2020 ("Predicting Neural Network Accuracy from Weights", the Small CNN Zoo) and Schürholt et
/// al. 2022 (Model Zoos) predict a network's accuracy without running it.
enum WeightMeasures {
    static let all: [any Measure] = [WeightStatistics(), Sparsity()]

    /// For every parameter tensor `NAME` (weights, biases, batch-norm affine; buffers excluded),
    /// over its n values x:
    /// - `NAME.mean` = x̄, `NAME.variance` = m₂ = (1/n) Σ (x − x̄)² (population variance, numpy's default);
    /// - `NAME.skew` = m₃ / m₂^{3/2}, `NAME.kurtosis` = m₄ / m₂² − 3 (excess), the moment
    ///   estimators of `scipy.stats` with their defaults; 0 for a constant tensor (m₂ = 0), as
    ///   pandas has it, rather than NaN;
    /// - `NAME.p1`, `.p25`, `.p50`, `.p75`, `.p99`: percentiles with linear interpolation (numpy's default);
    /// - `NAME.l2` = ‖x‖₂.
    ///
    /// The own value `""` is ‖w‖₂ over every parameter. Double precision throughout.
    /// - Complexity: O(n log n) per tensor (the percentiles sort).
    struct WeightStatistics: Measure {
        let name = "weight_statistics", version = 1, family = MeasureFamily.weights
        let summary = "per-tensor mean, variance, skew, kurtosis, percentiles 1/25/50/75/99 and ℓ₂ norm (Unterthiner et al. 2020; Schürholt et al. 2022)"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            subjects.map { s in
                var out: [String: Double] = [:]
                var total = 0.0
                for (name, tensor) in s.model.parameters {
                    let stats = TensorStatistics(tensor.scalars)
                    for (key, value) in stats.named { out["\(name).\(key)"] = value }
                    total += stats.l2 * stats.l2
                }
                out[""] = total.squareRoot()
                return out
            }
        }
    }

    /// The sparsity of a pruned network: for every prunable tensor `NAME` (parameters of rank
    /// ≥ 2: convolution and linear weights, the tensors magnitude pruning removes entries from —
    /// Frankle & Carbin 2019, "The Lottery Ticket Hypothesis"; Blalock et al. 2020, "What is the
    /// State of Neural Network Pruning?", who ask that sparsity be reported this way), `NAME` =
    /// the fraction of its entries that are exactly zero (Zoo keeps pruned weights at exactly 0).
    /// `""` = the fraction of zeros over all prunable entries, `density` = 1 − that (the "percent
    /// of weights remaining" of the lottery-ticket papers). NaN for a network without prunable
    /// tensors.
    /// - Complexity: one pass over the weights.
    struct Sparsity: Measure {
        let name = "sparsity", version = 1, family = MeasureFamily.weights
        let summary = "fraction of exactly-zero entries per convolution/linear weight and overall, and the density (Frankle & Carbin 2019)"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            subjects.map { s in
                var out: [String: Double] = [:]
                var zeros = 0, total = 0
                for (name, tensor) in s.model.parameters where tensor.rank >= 2 {
                    let z = tensor.scalars.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
                    out[name] = Double(z) / Double(max(1, tensor.count))
                    zeros += z
                    total += tensor.count
                }
                out[""] = total == 0 ? .nan : Double(zeros) / Double(total)
                out["density"] = 1 - out[""]!
                return out
            }
        }
    }
}

/// Moments, percentiles and norm of a list of values, in double precision (see
/// ``WeightMeasures/WeightStatistics`` for the definitions).
struct TensorStatistics: Equatable {
    static let percentiles: [Double] = [1, 25, 50, 75, 99]

    var mean = 0.0, variance = 0.0, skew = 0.0, kurtosis = 0.0, l2 = 0.0
    /// The values at ``percentiles``, in that order.
    var quantiles: [Double] = []

    init(_ scalars: [Float]) {
        let x = scalars.map(Double.init)
        guard !x.isEmpty else {
            quantiles = Self.percentiles.map { _ in .nan }
            mean = .nan; variance = .nan; skew = .nan; kurtosis = .nan
            return
        }
        let n = Double(x.count)
        mean = x.reduce(0, +) / n
        var m2 = 0.0, m3 = 0.0, m4 = 0.0, squares = 0.0
        for v in x {
            let d = v - mean, d2 = d * d
            m2 += d2
            m3 += d2 * d
            m4 += d2 * d2
            squares += v * v
        }
        m2 /= n; m3 /= n; m4 /= n
        variance = m2
        if m2 > 0 {
            skew = m3 / (m2 * m2.squareRoot())
            kurtosis = m4 / (m2 * m2) - 3
        }
        l2 = squares.squareRoot()
        let sorted = x.sorted()  // once: percentile's own sort of sorted values is then cheap
        quantiles = Self.percentiles.map { percentile(sorted, $0) }
    }

    /// The statistics under their keys: `mean`, `variance`, `skew`, `kurtosis`, `p1` … `p99`, `l2`.
    var named: [(String, Double)] {
        [("mean", mean), ("variance", variance), ("skew", skew), ("kurtosis", kurtosis)]
            + zip(Self.percentiles, quantiles).map { ("p\(Int($0))", $1) } + [("l2", l2)]
    }
}
