import ZooTensor

/// Deterministic changes to a data set, each keyed so that the same seed gives the same result.
extension LabeledData {
    /// `n` samples drawn without replacement by a permutation keyed by `key`, in that order.
    /// - Precondition: `n ≤ count` (callers validate user input first).
    public func subset(_ n: Int, key: RandomKey) -> LabeledData {
        precondition(n >= 0 && n <= count, "subset: \(n) samples requested from \(count)")
        return selecting(Array(key.permutation(count).prefix(n)))
    }

    /// The samples at `indices`, in that order.
    public func selecting(_ indices: [Int]) -> LabeledData {
        LabeledData(inputs: inputs.gatheringRows(indices), labels: indices.map { labels[$0] }, classCount: classCount)
    }

    /// Only the samples of `classes`, relabelled `0..<classes.count` in the order given.
    public func keepingClasses(_ classes: [Int]) -> LabeledData {
        var map = [Int: Int]()
        for (i, c) in classes.enumerated() { map[c] = i }
        let indices = labels.indices.filter { map[labels[$0]] != nil }
        let kept = selecting(indices)
        return LabeledData(inputs: kept.inputs, labels: kept.labels.map { map[$0]! }, classCount: classes.count)
    }

    /// Exactly `round(fraction · count)` samples, chosen by `key`, get a label drawn uniformly from
    /// the *other* classes: `fraction` is the share of labels that are wrong (Zhang et al. 2017's
    /// "partially corrupted labels", stated as the fraction actually corrupted).
    public func corruptingLabels(fraction: Float, key: RandomKey) -> LabeledData {
        precondition(fraction >= 0 && fraction <= 1, "corruptingLabels: fraction \(fraction) is outside [0, 1]")
        guard classCount > 1 else { return self }
        let n = Int((fraction * Float(count)).rounded())
        let chosen = key.derived("which").permutation(count).prefix(n)
        let draws = key.derived("label").uniform(count: count)
        var out = labels
        for i in chosen {
            let shift = 1 + min(Int(draws[i] * Float(classCount - 1)), classCount - 2)
            out[i] = (labels[i] + shift) % classCount
        }
        return LabeledData(inputs: inputs, labels: out, classCount: classCount)
    }

    /// Every label replaced by one drawn uniformly from all classes (Zhang et al. 2017's "random labels").
    public func randomizingLabels(key: RandomKey) -> LabeledData {
        let draws = key.uniform(count: count)
        return LabeledData(inputs: inputs, labels: draws.map { min(Int($0 * Float(classCount)), classCount - 1) }, classCount: classCount)
    }

    /// A held-out part: the first `n` of a keyed permutation become validation, the rest training.
    public func splittingValidation(_ n: Int, key: RandomKey) -> (train: LabeledData, validation: LabeledData) {
        precondition(n >= 0 && n < count, "splittingValidation: \(n) of \(count) samples")
        let order = key.permutation(count)
        return (selecting(Array(order[n...])), selecting(Array(order[..<n])))
    }

    /// Per-channel mean and standard deviation over samples and positions (axis 1 is the channel;
    /// vectors `[N, F]` count as F channels).
    public func channelStatistics() -> (mean: [Float], standardDeviation: [Float]) {
        let c = inputs.rank >= 2 ? inputs.shape[1] : 1
        let per = inputs.rank >= 2 ? inputs.shape.dropFirst(2).elementCount : 1
        var sum = [Double](repeating: 0, count: c), sq = [Double](repeating: 0, count: c)
        inputs.scalars.withUnsafeBufferPointer { p in
            for i in 0..<p.count {
                let ch = (i / per) % c
                let v = Double(p[i])
                sum[ch] += v
                sq[ch] += v * v
            }
        }
        let n = Double(max(1, inputs.count / c))
        let mean = sum.map { $0 / n }
        let sd = zip(sq, mean).map { max(0, $0 / n - $1 * $1).squareRoot() }
        return (mean.map(Float.init), sd.map { Float(max($0, 1e-8)) })
    }

    /// Inputs standardized per channel with the given statistics (usually the training set's).
    public func normalized(mean: [Float], standardDeviation: [Float]) -> LabeledData {
        let c = mean.count
        var shape = [Int](repeating: 1, count: inputs.rank)
        if inputs.rank >= 2 { shape[1] = c }
        let m = Tensor(shape: shape, scalars: mean), s = Tensor(shape: shape, scalars: standardDeviation)
        return LabeledData(inputs: withoutGradients { (inputs - m) / s }, labels: labels, classCount: classCount)
    }
}
