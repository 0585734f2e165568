import ZooTensor

/// The largest elementwise `|a − b|`, or infinity when the shapes differ.
public func maxAbsoluteDifference(_ a: Tensor, _ b: Tensor) -> Float {
    guard a.shape == b.shape else { return .infinity }
    var worst: Float = 0
    for (x, y) in zip(a.scalars, b.scalars) {
        let d = Swift.abs(x - y)
        if d.isNaN { return .infinity }
        worst = Swift.max(worst, d)
    }
    return worst
}

/// Whether `a` and `b` have one shape and agree elementwise within `absolute + relative · |b|`.
public func isApproximatelyEqual(_ a: Tensor, _ b: Tensor, absolute: Float = 1e-5, relative: Float = 1e-4) -> Bool {
    guard a.shape == b.shape else { return false }
    for (x, y) in zip(a.scalars, b.scalars) where !(Swift.abs(x - y) <= absolute + relative * Swift.abs(y)) {
        return false
    }
    return true
}

/// A random tensor whose elements stay at least `margin` away from zero, so that finite
/// differences of kinked functions (ReLU, absolute value, max) never straddle a kink.
public func randomAwayFromZero(_ shape: [Int], margin: Float = 0.1, key: RandomKey) -> Tensor {
    let t = Tensor.randomNormal(shape, key: key)
    return Tensor(shape: shape, scalars: t.scalars.map { $0 >= 0 ? $0 + margin : $0 - margin })
}

/// A random tensor with distinct elements spaced at least `gap` apart (a shuffled ladder),
/// for checking max-pooling and max-reductions away from ties.
public func randomDistinct(_ shape: [Int], gap: Float = 0.05, key: RandomKey) -> Tensor {
    let n = shape.elementCount
    let order = key.permutation(n)
    let offset = Float(n) * gap / 2
    return Tensor(shape: shape, scalars: order.map { Float($0) * gap - offset })
}
