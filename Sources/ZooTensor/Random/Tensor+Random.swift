// Random tensors from a counter-based key: the same key gives bit-identical tensors.

extension Tensor {
    /// Normal samples with `mean` and standard deviation `standardDeviation`.
    public static func randomNormal(_ shape: [Int], mean: Float = 0, standardDeviation: Float = 1, key: RandomKey) -> Tensor {
        let z = key.normal(count: shape.elementCount)
        return Tensor(shape: shape, scalars: mean == 0 && standardDeviation == 1 ? z : z.map { mean + standardDeviation * $0 })
    }

    /// Uniform samples in `[low, high)`.
    public static func randomUniform(_ shape: [Int], low: Float = 0, high: Float = 1, key: RandomKey) -> Tensor {
        precondition(low <= high, "randomUniform: low \(low) is above high \(high)")
        let u = key.uniform(count: shape.elementCount)
        return Tensor(shape: shape, scalars: u.map { low + (high - low) * $0 })
    }

    /// 1 with probability `probability`, else 0.
    public static func bernoulli(_ shape: [Int], probability: Float, key: RandomKey) -> Tensor {
        precondition(probability >= 0 && probability <= 1, "bernoulli: probability \(probability) is outside [0, 1]")
        let u = key.uniform(count: shape.elementCount)
        return Tensor(shape: shape, scalars: u.map { $0 < probability ? 1 : 0 })
    }
}
