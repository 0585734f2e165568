import ZooTensor

/// The output of batch normalization and the updated running statistics (detached).
public struct BatchNormOutput {
    public var output: Tensor
    public var runningMean: Tensor
    public var runningVariance: Tensor
}

/// Batch normalization (Ioffe & Szegedy 2015) of `x: [N, C]` or `[N, C, …]` per channel (axis 1).
///
/// Training: y = γ (x − μ_B) / √(σ²_B + ε) + β with the batch mean and *biased* variance;
/// running statistics move as `(1 − momentum) · running + momentum · batch`, the running
/// variance with the *unbiased* batch variance (PyTorch's convention). Evaluation uses the
/// running statistics. Differentiable (twice) in x, γ and β.
public func batchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVariance: Tensor,
                      training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5) -> BatchNormOutput {
    precondition(x.rank >= 2, "batchNorm: input must be [N, C, …], got \(x.shape)")
    let c = x.shape[1]
    precondition(runningMean.shape == [c] && runningVariance.shape == [c],
                 "batchNorm: running statistics \(runningMean.shape), \(runningVariance.shape) do not match the \(c) channels of \(x.shape)")
    precondition(weight.map { $0.shape == [c] } ?? true && bias.map { $0.shape == [c] } ?? true,
                 "batchNorm: weight \(weight?.shape ?? []) / bias \(bias?.shape ?? []) do not match the \(c) channels of \(x.shape)")
    let broadcast = [1, c] + [Int](repeating: 1, count: x.rank - 2)
    let axes = [0] + Array(2..<x.rank)
    var normalized: Tensor
    var newMean = runningMean, newVariance = runningVariance
    if training {
        let n = x.count / c
        precondition(n > 1, "batchNorm: training needs more than one value per channel, got input \(x.shape)")
        let mean = x.mean(alongAxes: axes, keepingDimensions: true)
        let centered = x - mean
        let variance = (centered * centered).mean(alongAxes: axes, keepingDimensions: true)
        normalized = centered / (variance + epsilon).sqrt()
        let batchMean = mean.detached().reshaped([c])
        let unbiased = variance.detached().reshaped([c]) * (Float(n) / Float(n - 1))
        withoutGradients {
            newMean = runningMean * (1 - momentum) + batchMean * momentum
            newVariance = runningVariance * (1 - momentum) + unbiased * momentum
        }
    } else {
        normalized = (x - runningMean.reshaped(broadcast)) / (runningVariance.reshaped(broadcast) + epsilon).sqrt()
    }
    if let w = weight { normalized = normalized * w.reshaped(broadcast) }
    if let b = bias { normalized = normalized + b.reshaped(broadcast) }
    return BatchNormOutput(output: normalized, runningMean: newMean.detached(), runningVariance: newVariance.detached())
}

/// Layer normalization (Ba et al. 2016) over the last `normalizedAxes` axes, with optional
/// elementwise affine `weight`/`bias` of those axes' shape. Uses the biased variance.
public func layerNorm(_ x: Tensor, normalizedAxes: Int, weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5) -> Tensor {
    precondition(normalizedAxes >= 1 && normalizedAxes <= x.rank, "layerNorm: cannot normalize \(normalizedAxes) axes of \(x.shape)")
    let trailing = Array(x.shape.suffix(normalizedAxes))
    precondition(weight.map { $0.shape == trailing } ?? true && bias.map { $0.shape == trailing } ?? true,
                 "layerNorm: weight \(weight?.shape ?? []) / bias \(bias?.shape ?? []) must have shape \(trailing) for input \(x.shape)")
    let axes = Array((x.rank - normalizedAxes)..<x.rank)
    let centered = x - x.mean(alongAxes: axes, keepingDimensions: true)
    var y = centered / ((centered * centered).mean(alongAxes: axes, keepingDimensions: true) + epsilon).sqrt()
    if let w = weight { y = y * w }
    if let b = bias { y = y + b }
    return y
}

/// Group normalization (Wu & He 2018) of `x: [N, C, …]`: statistics per sample over each of
/// `groups` groups of C / groups channels and all positions; affine per channel.
public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5) -> Tensor {
    precondition(x.rank >= 2, "groupNorm: input must be [N, C, …], got \(x.shape)")
    let (n, c) = (x.shape[0], x.shape[1])
    precondition(groups >= 1 && c % groups == 0, "groupNorm: \(groups) groups do not divide the \(c) channels of \(x.shape)")
    precondition(weight.map { $0.shape == [c] } ?? true && bias.map { $0.shape == [c] } ?? true,
                 "groupNorm: weight \(weight?.shape ?? []) / bias \(bias?.shape ?? []) must be [\(c)]")
    let grouped = x.reshaped([n, groups, -1])
    let centered = grouped - grouped.mean(alongAxes: [2], keepingDimensions: true)
    var y = (centered / ((centered * centered).mean(alongAxes: [2], keepingDimensions: true) + epsilon).sqrt()).reshaped(x.shape)
    let broadcast = [1, c] + [Int](repeating: 1, count: x.rank - 2)
    if let w = weight { y = y * w.reshaped(broadcast) }
    if let b = bias { y = y + b.reshaped(broadcast) }
    return y
}
