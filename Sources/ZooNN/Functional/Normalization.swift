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
/// running statistics. Differentiable (twice) in x, γ and β. With `residual` the output is
/// y + residual (a residual block's sum), and with `thenReLU` max(·, 0) of it: the bits of `+`
/// and `.relu()` after it, in the same pass forward and backward when training (and the residual
/// has x's shape).
public func batchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVariance: Tensor,
                      training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5, residual: Tensor? = nil,
                      thenReLU: Bool = false) -> BatchNormOutput {
    precondition(x.rank >= 2, "batchNorm: input must be [N, C, …], got \(x.shape)")
    let c = x.shape[1]
    precondition(runningMean.shape == [c] && runningVariance.shape == [c],
                 "batchNorm: running statistics \(runningMean.shape), \(runningVariance.shape) do not match the \(c) channels of \(x.shape)")
    precondition(weight.map { $0.shape == [c] } ?? true && bias.map { $0.shape == [c] } ?? true,
                 "batchNorm: weight \(weight?.shape ?? []) / bias \(bias?.shape ?? []) do not match the \(c) channels of \(x.shape)")
    let broadcast = [1, c] + [Int](repeating: 1, count: x.rank - 2)
    if training {
        let n = x.count / c
        precondition(n > 1, "batchNorm: training needs more than one value per channel, got input \(x.shape)")
        let fusing = residual.map { $0.shape == x.shape } ?? true
        let fused = batchNormTraining(x, weight: weight, bias: bias, epsilon: epsilon, residual: fusing ? residual : nil,
                                      thenReLU: thenReLU && fusing)
        let batchMean = Tensor(shape: [c], scalars: fused.mean)
        let unbiased = Tensor(shape: [c], scalars: fused.variance) * (Float(n) / Float(n - 1))
        let (newMean, newVariance) = withoutGradients {
            (runningMean * (1 - momentum) + batchMean * momentum, runningVariance * (1 - momentum) + unbiased * momentum)
        }
        var output = fused.output
        if !fusing, let residual {
            output = output + residual
            if thenReLU { output = output.relu() }
        }
        return BatchNormOutput(output: output, runningMean: newMean.detached(), runningVariance: newVariance.detached())
    }
    var normalized = (x - runningMean.reshaped(broadcast)) / (runningVariance.reshaped(broadcast) + epsilon).sqrt()
    if let w = weight { normalized = normalized * w.reshaped(broadcast) }
    if let b = bias { normalized = normalized + b.reshaped(broadcast) }
    if let residual { normalized = normalized + residual }
    if thenReLU { normalized = normalized.relu() }
    return BatchNormOutput(output: normalized, runningMean: runningMean.detached(), runningVariance: runningVariance.detached())
}

/// Training-mode batch normalization as one op: a fused forward pass (per channel: mean, biased
/// variance, then y = γ·x̂ + β) and a fused backward pass
/// (dx = γ/σ · (g − mean(g) − x̂ · mean(g·x̂)), dγ = Σ g·x̂, dβ = Σ g), channels over Zoo's threads.
/// When the backward pass must itself be differentiable, it is written with tensor ops instead.
/// With `residual` (x's shape), y + residual is written: a residual block's sum in the same pass.
/// With `thenReLU`, max(·, 0) of that is written, and the backward pass masks the gradient by it
/// first. The bits are those of the separate ops.
func batchNormTraining(_ x: Tensor, weight: Tensor?, bias: Tensor?, epsilon: Float, residual: Tensor? = nil, thenReLU: Bool = false)
    -> (output: Tensor, mean: [Float], variance: [Float])
{
    precondition(residual.map { $0.shape == x.shape } ?? true, "batchNormTraining: residual \(residual!.shape) is not the shape of \(x.shape)")
    let c = x.shape[1], rows = x.shape[0], p = x.count / max(1, rows * c), n = rows * p
    var mean = [Float](repeating: 0, count: c), variance = [Float](repeating: 0, count: c)
    let gamma = weight?.scalars, beta = bias?.scalars
    // Every element is written below: no zeroing first (a whole pass over memory).
    let y = [Float](unsafeUninitializedCapacity: x.count) { py, initialized in
        initialized = x.count
        withStatistics(x.scalars, residual?.scalars, &mean, &variance) { xs, rs, ms, vs in
            let ys = py.baseAddress!
            BLAS.parallelFor(c, work: 3 * x.count) { ch, _ in
                var sum = 0.0
                for r in 0..<rows { sum += Double(Reduce.sum(xs + (r * c + ch) * p, p)) }
                let m = Float(sum / Double(n))
                var squares = 0.0
                for r in 0..<rows { squares += Double(Reduce.centeredSquares(xs + (r * c + ch) * p, shift: m, p)) }
                let v = Float(squares / Double(n))
                ms[ch] = m
                vs[ch] = v
                let scale = (gamma?[ch] ?? 1) / (v + epsilon).squareRoot(), shift = beta?[ch] ?? 0
                for r in 0..<rows {
                    let at = (r * c + ch) * p
                    NormalizationLoops.normalize(xs + at, residual: rs.map { $0 + at }, into: ys + at, p,
                                                 mean: m, scale: scale, shift: shift, relu: thenReLU)
                }
            }
        }
    }
    let inputs = [x] + (weight.map { [$0] } ?? []) + (bias.map { [$0] } ?? []) + (residual.map { [$0] } ?? [])
    let (batchMean, batchVariance) = (mean, variance)
    let name = (residual == nil ? "batchNorm" : "batchNormResidual") + (thenReLU ? "ReLU" : "")
    let output = Tensor.recorded(name, shape: x.shape, scalars: y, inputs: inputs) { g, needs in
        // The residual's gradient is the masked g itself: written once and read by the batch
        // norm's pass too. Without a residual the mask is applied as g is read.
        let masked = thenReLU && (residual != nil || GradientMode.isEnabled) ? Tensor(shape: x.shape, scalars: y).reluGradient(g) : nil
        let grads = GradientMode.isEnabled
            ? batchNormBackwardOps(x, masked ?? g, weight: weight, epsilon: epsilon)
            : batchNormBackwardKernel(x, masked ?? g, mask: thenReLU && masked == nil ? y : nil, gamma: gamma, mean: batchMean,
                                      variance: batchVariance, epsilon: epsilon)
        var out: [Tensor?] = [needs[0] ? grads.x : nil]
        if weight != nil { out.append(needs[out.count] ? grads.weight : nil) }
        if bias != nil { out.append(needs[out.count] ? grads.bias : nil) }
        if residual != nil { out.append(needs[out.count] ? masked ?? g : nil) }
        return out
    }
    return (output, mean, variance)
}

/// `body` with pointers to x, the residual (nil without one) and the statistics' storage.
private func withStatistics(_ x: [Float], _ residual: [Float]?, _ mean: inout [Float], _ variance: inout [Float],
                            _ body: (UnsafePointer<Float>, UnsafePointer<Float>?, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
    x.withUnsafeBufferPointer { px in
        (residual ?? []).withUnsafeBufferPointer { pr in
            mean.withUnsafeMutableBufferPointer { pm in
                variance.withUnsafeMutableBufferPointer { pv in
                    body(px.baseAddress!, residual == nil ? nil : pr.baseAddress!, pm.baseAddress!, pv.baseAddress!)
                }
            }
        }
    }
}

/// The fused backward pass of training-mode batch norm: per channel one pass for Σ g and
/// Σ g·(x − μ), one for dx. With `mask` (the output of a ReLU after the batch norm), g is masked
/// by it as it is read (the bits of masking it first, without writing the masked copy).
private func batchNormBackwardKernel(_ x: Tensor, _ g: Tensor, mask: [Float]?, gamma: [Float]?, mean: [Float], variance: [Float],
                                     epsilon: Float) -> (x: Tensor, weight: Tensor, bias: Tensor) {
    let c = x.shape[1], rows = x.shape[0], p = x.count / max(1, rows * c), n = Float(rows * p)
    var dgamma = [Float](repeating: 0, count: c), dbeta = [Float](repeating: 0, count: c)
    // Every element is written below: no zeroing first.
    let dx = [Float](unsafeUninitializedCapacity: x.count) { pdx, initialized in
        initialized = x.count
        x.scalars.withUnsafeBufferPointer { px in
            g.scalars.withUnsafeBufferPointer { pg in
                (mask ?? []).withUnsafeBufferPointer { pm in
                    dgamma.withUnsafeMutableBufferPointer { pdg in
                        dbeta.withUnsafeMutableBufferPointer { pdb in
                            let (xs, gs, dxs, dgs, dbs) = (px.baseAddress!, pg.baseAddress!, pdx.baseAddress!, pdg.baseAddress!, pdb.baseAddress!)
                            let ms = mask == nil ? nil : pm.baseAddress
                            BLAS.parallelFor(c, work: 3 * x.count) { ch, _ in
                                let m = mean[ch], inv = 1 / (variance[ch] + epsilon).squareRoot()
                                var sg = 0.0, sgx = 0.0
                                for r in 0..<rows {
                                    let at = (r * c + ch) * p
                                    let sums = Reduce.maskedSums(gs + at, mask: ms.map { $0 + at }, xs + at, shift: m, p)
                                    sg += Double(sums.sum)  // Σ g
                                    sgx += Double(sums.centeredDot)  // Σ g·(x − m)
                                }
                                let sumG = Float(sg), sumGX = Float(sgx) * inv  // Σ g, Σ g·x̂
                                dbs[ch] = sumG
                                dgs[ch] = sumGX
                                let k = (gamma?[ch] ?? 1) * inv, meanG = sumG / n, meanGX = sumGX / n
                                for r in 0..<rows {
                                    let at = (r * c + ch) * p
                                    NormalizationLoops.inputGradient(gs + at, mask: ms.map { $0 + at }, xs + at, into: dxs + at, p,
                                                                     k: k, meanG: meanG, mean: m, inv: inv, meanGX: meanGX)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return (Tensor(shape: x.shape, scalars: dx), Tensor(shape: [c], scalars: dgamma), Tensor(shape: [c], scalars: dbeta))
}

/// The backward pass of training-mode batch norm in differentiable ops (for gradients of gradients).
private func batchNormBackwardOps(_ x: Tensor, _ g: Tensor, weight: Tensor?, epsilon: Float) -> (x: Tensor, weight: Tensor, bias: Tensor) {
    let c = x.shape[1]
    let broadcast = [1, c] + [Int](repeating: 1, count: x.rank - 2)
    let axes = [0] + Array(2..<x.rank)
    let centered = x - x.mean(alongAxes: axes, keepingDimensions: true)
    let inv = 1 / ((centered * centered).mean(alongAxes: axes, keepingDimensions: true) + epsilon).sqrt()
    let xhat = centered * inv
    let scale = weight.map { $0.reshaped(broadcast) * inv } ?? inv
    let dx = scale * (g - g.mean(alongAxes: axes, keepingDimensions: true) - xhat * (g * xhat).mean(alongAxes: axes, keepingDimensions: true))
    return (dx, (g * xhat).sum(alongAxes: axes), g.sum(alongAxes: axes))
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
