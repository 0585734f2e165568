// Differentiable pooling. Max pooling is a gather at the argmax positions (its pullback a
// scatter-add, whose pullback is the gather again); average pooling is a linear map whose
// pullback is its transpose. Both therefore differentiate twice.

/// Max pooling over `kernelSize` windows of `[N, C, H, W]`; stride defaults to the kernel size,
/// padding (with −∞) must be at most half the kernel. Ties go to the first position.
public func maxPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
    let plan = slidingPlan(input, kernelSize, stride, padding, op: "maxPool2d")
    return maxPool(input, plan)
}

/// Average pooling over `kernelSize` windows of `[N, C, H, W]`, zero padding counted in the
/// divisor (PyTorch's default `count_include_pad=True`); stride defaults to the kernel size.
public func avgPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
    averagePool(input, slidingPlan(input, kernelSize, stride, padding, op: "avgPool2d"))
}

/// Max pooling of `[N, C, L]`.
public func maxPool1d(_ input: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    precondition(input.rank == 3, "maxPool1d: input must be [N, C, L], got \(input.shape)")
    return squeezeHeight(maxPool2d(unsqueezeHeight(input), kernelSize: (1, kernelSize), stride: (1, stride ?? kernelSize), padding: (0, padding)))
}

/// Average pooling of `[N, C, L]`.
public func avgPool1d(_ input: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    precondition(input.rank == 3, "avgPool1d: input must be [N, C, L], got \(input.shape)")
    return squeezeHeight(avgPool2d(unsqueezeHeight(input), kernelSize: (1, kernelSize), stride: (1, stride ?? kernelSize), padding: (0, padding)))
}

/// Adaptive average pooling of `[N, C, H, W]` to `[N, C, oh, ow]`: window i spans
/// `⌊i·H/oh⌋ ..< ⌈(i+1)·H/oh⌉` (spatial pyramid pooling uses several grids).
public func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) -> Tensor {
    averagePool(input, adaptivePlan(input, outputSize, op: "adaptiveAvgPool2d"))
}

/// Adaptive max pooling of `[N, C, H, W]` to `[N, C, oh, ow]`.
public func adaptiveMaxPool2d(_ input: Tensor, outputSize: (Int, Int)) -> Tensor {
    maxPool(input, adaptivePlan(input, outputSize, op: "adaptiveMaxPool2d"))
}

/// Adaptive average pooling of `[N, C, L]` to `[N, C, outputSize]`.
public func adaptiveAvgPool1d(_ input: Tensor, outputSize: Int) -> Tensor {
    precondition(input.rank == 3, "adaptiveAvgPool1d: input must be [N, C, L], got \(input.shape)")
    return squeezeHeight(adaptiveAvgPool2d(unsqueezeHeight(input), outputSize: (1, outputSize)))
}

/// Adaptive max pooling of `[N, C, L]` to `[N, C, outputSize]`.
public func adaptiveMaxPool1d(_ input: Tensor, outputSize: Int) -> Tensor {
    precondition(input.rank == 3, "adaptiveMaxPool1d: input must be [N, C, L], got \(input.shape)")
    return squeezeHeight(adaptiveMaxPool2d(unsqueezeHeight(input), outputSize: (1, outputSize)))
}

/// The mean over every spatial axis: `[N, C, …]` → `[N, C]`.
public func globalAvgPool(_ input: Tensor) -> Tensor {
    precondition(input.rank >= 3, "globalAvgPool: input must be [N, C, …spatial], got \(input.shape)")
    return input.reshaped([input.shape[0], input.shape[1], -1]).mean(alongAxes: [2])
}

private func unsqueezeHeight(_ x: Tensor) -> Tensor { x.reshaped([x.shape[0], x.shape[1], 1, x.shape[2]]) }
private func squeezeHeight(_ x: Tensor) -> Tensor { x.reshaped([x.shape[0], x.shape[1], x.shape[3]]) }

private func slidingPlan(_ x: Tensor, _ k: (Int, Int), _ s: (Int, Int)?, _ p: (Int, Int), op: String) -> PoolingPlan {
    precondition(x.rank == 4, "\(op): input must be [N, C, H, W], got \(x.shape)")
    let stride = s ?? k
    precondition(k.0 >= 1 && k.1 >= 1 && stride.0 >= 1 && stride.1 >= 1, "\(op): kernel \(k) and stride \(stride) must be ≥ 1")
    precondition(p.0 >= 0 && p.1 >= 0 && 2 * p.0 <= k.0 && 2 * p.1 <= k.1, "\(op): padding \(p) must be between 0 and half the kernel \(k)")
    precondition(x.shape[2] + 2 * p.0 >= k.0 && x.shape[3] + 2 * p.1 >= k.1, "\(op): kernel \(k) is larger than input \(x.shape) padded by \(p)")
    return PoolingPlan.sliding(height: x.shape[2], width: x.shape[3], kernel: k, stride: stride, padding: p)
}

private func adaptivePlan(_ x: Tensor, _ o: (Int, Int), op: String) -> PoolingPlan {
    precondition(x.rank == 4, "\(op): input must be [N, C, H, W], got \(x.shape)")
    precondition(o.0 >= 1 && o.1 >= 1 && x.shape[2] >= 1 && x.shape[3] >= 1, "\(op): output size \(o) and input \(x.shape) must be non-empty")
    return PoolingPlan.adaptive(height: x.shape[2], width: x.shape[3], output: o)
}

private func maxPool(_ x: Tensor, _ plan: PoolingPlan) -> Tensor {
    let planes = x.shape[0] * x.shape[1]
    guard Tensor.records([x]) else {
        return Tensor(shape: [x.shape[0], x.shape[1], plan.outputHeight, plan.outputWidth], scalars: PoolingKernels.maxima(x.scalars, planes: planes, plan))
    }
    let (indices, values) = PoolingKernels.argmax(x.scalars, planes: planes, plan)
    // The gather of the maxima, whose values the kernel already has.
    return Tensor.recorded("gather", shape: [x.shape[0], x.shape[1], plan.outputHeight, plan.outputWidth], scalars: values, inputs: [x]) { g, _ in
        [plan.isPairs ? pairScatter(g, indices, planes: planes, plan, shape: x.shape) : scatterAddFlat(g, indices, shape: x.shape)]
    }
}

/// ``scatterAddFlat(_:_:shape:)`` for the indices of a pair max pool, in one pass, on the tape.
private func pairScatter(_ g: Tensor, _ indices: [Int32], planes: Int, _ plan: PoolingPlan, shape: [Int]) -> Tensor {
    let out = PoolingKernels.pairScatter(g.scalars, indices, planes: planes, plan)
    return Tensor.recorded("scatterAdd", shape: shape, scalars: out, inputs: [g]) { gz, _ in [gatherFlat(gz, indices, shape: g.shape)] }
}

private func averagePool(_ x: Tensor, _ plan: PoolingPlan) -> Tensor {
    let planes = x.shape[0] * x.shape[1]
    let out = PoolingKernels.average(x.scalars, planes: planes, plan)
    return Tensor.recorded("avgPool", shape: [x.shape[0], x.shape[1], plan.outputHeight, plan.outputWidth], scalars: out, inputs: [x]) { g, _ in
        [averagePoolTranspose(g, plan, inputShape: x.shape)]
    }
}

private func averagePoolTranspose(_ g: Tensor, _ plan: PoolingPlan, inputShape: [Int]) -> Tensor {
    let out = PoolingKernels.averageTranspose(g.scalars, planes: inputShape[0] * inputShape[1], plan)
    return Tensor.recorded("avgPoolTranspose", shape: inputShape, scalars: out, inputs: [g]) { gz, _ in [averagePool(gz, plan)] }
}

/// `out[i] = x[indices[i]]` (flat indices), on the tape.
package func gatherFlat(_ x: Tensor, _ indices: [Int32], shape: [Int]) -> Tensor {
    precondition(shape.elementCount == indices.count, "gatherFlat: \(indices.count) indices for shape \(shape)")
    let out = x.scalars.withUnsafeBufferPointer { px in indices.map { px[Int($0)] } }
    return Tensor.recorded("gather", shape: shape, scalars: out, inputs: [x]) { g, _ in [scatterAddFlat(g, indices, shape: x.shape)] }
}

/// `out[indices[i]] += g[i]` into zeros of `shape` (the adjoint of ``gatherFlat(_:_:shape:)``), on the tape.
package func scatterAddFlat(_ g: Tensor, _ indices: [Int32], shape: [Int]) -> Tensor {
    var out = [Float](repeating: 0, count: shape.elementCount)
    g.scalars.withUnsafeBufferPointer { pg in
        for (i, index) in indices.enumerated() { out[Int(index)] += pg[i] }
    }
    return Tensor.recorded("scatterAdd", shape: shape, scalars: out, inputs: [g]) { gz, _ in [gatherFlat(gz, indices, shape: g.shape)] }
}
