import ZooTensor

/// The outcome of comparing autodiff gradients with central finite differences.
public struct GradientCheckResult: Sendable, CustomStringConvertible {
    /// The largest `|analytic − numeric| / (absoluteTolerance + relativeTolerance · |numeric|)` seen;
    /// the check passes when it is at most 1.
    public var worstRatio: Double
    /// Where the worst ratio was seen: (input, element, analytic, numeric).
    public var worst: (input: Int, element: Int, analytic: Double, numeric: Double)
    /// The number of elements compared.
    public var comparedCount: Int

    public var passed: Bool { worstRatio <= 1 }

    public var description: String {
        "worst ratio \(worstRatio) at input \(worst.input) element \(worst.element): analytic \(worst.analytic) vs numeric \(worst.numeric) (\(comparedCount) elements)"
    }
}

/// Checks the gradients of `f` at `inputs` against central finite differences.
///
/// A non-scalar output is reduced to the scalar `Σ f(x) ⊙ r` with a fixed random `r`, so every
/// output element's gradient takes part. The function is evaluated with the Float kernels; the
/// differences `(f(x + h) − f(x − h)) / 2h` are formed in Double.
///
/// - Parameters:
///   - step: the finite-difference step `h`. With Float evaluation the rounding error of the
///     quotient is about `1e-7 · |f| / h`, the truncation error about `h² · |f'''|`.
///   - absoluteTolerance, relativeTolerance: an element passes when
///     `|analytic − numeric| ≤ absoluteTolerance + relativeTolerance · |numeric|`.
///   - maxElements: at most this many elements per input are perturbed (spread evenly).
public func checkGradients(
    of f: ([Tensor]) -> Tensor, at inputs: [Tensor], step: Float = 1e-2,
    absoluteTolerance: Double = 1e-2, relativeTolerance: Double = 1e-2,
    maxElements: Int = 400, key: RandomKey = RandomKey(seed: 12345)
) -> GradientCheckResult {
    let tracked = inputs.map { $0.requiringGradient() }
    let probe = withoutGradients { f(inputs) }
    let r = Tensor.randomNormal(probe.shape, key: key.derived("projection"))
    func scalarF(_ xs: [Tensor]) -> Double {
        let y = withoutGradients { f(xs) }
        var acc = 0.0
        for (a, b) in zip(y.scalars, r.scalars) { acc += Double(a) * Double(b) }
        return acc
    }
    let y = f(tracked)
    let analytic = gradients(of: (y * r).sum(), wrt: tracked)
    var result = GradientCheckResult(worstRatio: 0, worst: (0, 0, 0, 0), comparedCount: 0)
    for (i, x) in inputs.enumerated() {
        let n = x.count
        let stride = Swift.max(1, n / maxElements)
        for e in Swift.stride(from: 0, to: n, by: stride) {
            var plus = x.scalars, minus = x.scalars
            plus[e] += step
            minus[e] -= step
            var xsPlus = inputs, xsMinus = inputs
            xsPlus[i] = Tensor(shape: x.shape, scalars: plus)
            xsMinus[i] = Tensor(shape: x.shape, scalars: minus)
            // The step actually taken, after rounding x ± h to Float.
            let h = Double(plus[e]) - Double(minus[e])
            let numeric = (scalarF(xsPlus) - scalarF(xsMinus)) / h
            let a = Double(analytic[i].scalars[e])
            let ratio = Swift.abs(a - numeric) / (absoluteTolerance + relativeTolerance * Swift.abs(numeric))
            result.comparedCount += 1
            if ratio > result.worstRatio || !ratio.isFinite {
                result.worstRatio = ratio.isFinite ? ratio : .infinity
                result.worst = (i, e, a, numeric)
            }
        }
    }
    return result
}
