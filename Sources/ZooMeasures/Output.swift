import Foundation
import ZooTensor

/// Measures of a network's outputs on the sample: cross-entropy, accuracy, margin, entropy.
enum OutputMeasures {
    static let all: [any Measure] = [CrossEntropy(), Accuracy(), Margin(), InverseMargin(), OutputEntropy()]

    /// Mean cross-entropy −log softmax(f(x))_y over the sample.
    struct CrossEntropy: Measure {
        let name = "cross_entropy", version = 1, family = MeasureFamily.output
        let summary = "mean cross-entropy on the sample (the criterion Jiang et al. 2019 train every network to)"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try Evaluator().lossAndAccuracy(subjects.map(\.model), on: subjects[0].sample).map { ["": $0.loss] }
        }
    }

    /// Fraction of the sample classified correctly.
    struct Accuracy: Measure {
        let name = "accuracy", version = 1, family = MeasureFamily.output
        let summary = "accuracy on the sample"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try Evaluator().lossAndAccuracy(subjects.map(\.model), on: subjects[0].sample).map { ["": $0.accuracy] }
        }
    }

    /// The 10th percentile over the sample of the output margin γ(x) = f(x)_y − max_{j≠y} f(x)_j
    /// (Jiang et al. 2019, §C.1: a percentile rather than the minimum, which one outlier decides).
    /// Negative when more than a tenth of the sample is misclassified.
    struct Margin: Measure {
        let name = "margin", version = 1, family = MeasureFamily.output
        let summary = "10th-percentile output margin f(x)_y − max_{j≠y} f(x)_j (Jiang et al. 2019; Bartlett et al. 2017)"
        var defaults: [String: Double] { ["percentile": 10] }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try OutputMeasures.margins(subjects, settings).map { ["": $0] }
        }
    }

    /// 1/γ² for the 10th-percentile margin γ (Jiang et al. 2019, eq. 17); +∞ when γ ≤ 0.
    struct InverseMargin: Measure {
        let name = "inverse_margin", version = 1, family = MeasureFamily.output
        let summary = "1/γ² of the 10th-percentile output margin γ (Jiang et al. 2019, eq. 17)"
        var defaults: [String: Double] { ["percentile": 10] }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try OutputMeasures.margins(subjects, settings).map { ["": $0 > 0 ? 1 / ($0 * $0) : .infinity] }
        }
    }

    /// Mean entropy −Σ_j p_j log p_j of the softmax outputs over the sample.
    struct OutputEntropy: Measure {
        let name = "output_entropy", version = 1, family = MeasureFamily.output
        let summary = "mean entropy of the softmax output (confidence; PGDL 2020 entries)"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try Evaluator().logits(subjects.map(\.model), inputs: subjects[0].sample.inputs).map { ["": meanEntropy($0)] }
        }
    }

    static func margins(_ subjects: [Subject], _ settings: MeasureSettings) throws -> [Double] {
        let sample = subjects[0].sample
        return try Evaluator().logits(subjects.map(\.model), inputs: sample.inputs).map { logits in
            percentile(rowMargins(logits, sample.labels), settings["percentile"])
        }
    }
}

/// Per row of logits `[N, C]`: f(x)_y − max_{j≠y} f(x)_j.
public func rowMargins(_ logits: Tensor, _ labels: [Int]) -> [Double] {
    let c = logits.shape[1], s = logits.scalars
    return labels.enumerated().map { r, y in
        var other = -Double.infinity
        for j in 0..<c where j != y { other = max(other, Double(s[r * c + j])) }
        return Double(s[r * c + y]) - other
    }
}

/// Mean over rows of the entropy of softmax(logits), in nats.
public func meanEntropy(_ logits: Tensor) -> Double {
    let c = logits.shape[1], n = logits.shape[0], s = logits.scalars
    var total = 0.0
    for r in 0..<n {
        var m = -Double.infinity
        for j in 0..<c { m = max(m, Double(s[r * c + j])) }
        var z = 0.0
        for j in 0..<c { z += exp(Double(s[r * c + j]) - m) }
        var h = 0.0
        for j in 0..<c {
            let p = exp(Double(s[r * c + j]) - m) / z
            if p > 0 { h -= p * log(p) }
        }
        total += h
    }
    return total / Double(max(1, n))
}

/// The `p`-th percentile (0…100) of `values` by linear interpolation between order statistics
/// (numpy's default); NaN for no values.
public func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let position = p / 100 * Double(sorted.count - 1)
    let lower = Int(position.rounded(.down)), upper = min(sorted.count - 1, lower + 1)
    return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
}
