import ZooTensor

/// eˣ / Σ eˣ along `axis`, computed stably.
public func softmax(_ x: Tensor, axis: Int = -1) -> Tensor {
    logSoftmax(x, axis: axis).exp()
}

/// x − log Σ eˣ along `axis`, computed stably (the maximum is subtracted first).
public func logSoftmax(_ x: Tensor, axis: Int = -1) -> Tensor {
    x - x.logSumExp(alongAxes: [axis], keepingDimensions: true)
}

/// One-hot rows `[N, C]` for integer labels.
public func oneHot(_ labels: [Int], classCount: Int) -> Tensor {
    var s = [Float](repeating: 0, count: labels.count * classCount)
    for (i, l) in labels.enumerated() {
        precondition(l >= 0 && l < classCount, "oneHot: label \(l) at position \(i) is outside 0..<\(classCount)")
        s[i * classCount + l] = 1
    }
    return Tensor(shape: [labels.count, classCount], scalars: s)
}

/// Mean cross-entropy of `logits: [N, C]` against integer `labels`, with label smoothing ε as
/// PyTorch: the target is (1 − ε) · onehot + ε / C.
///
/// `divisor` replaces N as the count the summed loss is divided by: a stacked population of K
/// members with batches of B passes B, so the loss is the sum of the members' mean losses and
/// each row's gradient is exactly what it is for the member alone.
public func crossEntropy(logits: Tensor, labels: [Int], labelSmoothing: Float = 0, divisor: Int? = nil) -> Tensor {
    precondition(logits.rank == 2, "crossEntropy: logits must be [N, C], got \(logits.shape)")
    precondition(logits.shape[0] == labels.count, "crossEntropy: \(labels.count) labels for logits \(logits.shape)")
    precondition(labelSmoothing >= 0 && labelSmoothing < 1, "crossEntropy: label smoothing \(labelSmoothing) is outside [0, 1)")
    let c = logits.shape[1]
    var target = oneHot(labels, classCount: c)
    if labelSmoothing > 0 { target = target * (1 - labelSmoothing) + labelSmoothing / Float(c) }
    return crossEntropy(logits: logits, targetProbabilities: target, divisor: divisor)
}

/// Mean cross-entropy −Σ p log softmax(logits) of `logits: [N, C]` against soft targets `[N, C]`
/// (mixup, distillation); `divisor` replaces N as above.
public func crossEntropy(logits: Tensor, targetProbabilities: Tensor, divisor: Int? = nil) -> Tensor {
    precondition(logits.rank == 2 && targetProbabilities.shape == logits.shape,
                 "crossEntropy: logits \(logits.shape) and targets \(targetProbabilities.shape) must both be [N, C]")
    let n = Float(Swift.max(divisor ?? logits.shape[0], 1))
    return -(targetProbabilities * logSoftmax(logits, axis: 1)).sum() / n
}

/// Mean of (prediction − target)² over all elements.
public func meanSquaredError(_ prediction: Tensor, _ target: Tensor) -> Tensor {
    precondition(prediction.shape == target.shape, "meanSquaredError: shapes \(prediction.shape) and \(target.shape) differ")
    let d = prediction - target
    return (d * d).mean()
}

/// The fraction of rows whose largest logit is at the label (not differentiable).
public func accuracy(logits: Tensor, labels: [Int]) -> Float {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count, "accuracy: \(labels.count) labels for logits \(logits.shape)")
    guard !labels.isEmpty else { return .nan }
    let predicted = logits.argmax(alongAxis: 1).scalars
    return Float(zip(predicted, labels).filter { Int($0) == $1 }.count) / Float(labels.count)
}
