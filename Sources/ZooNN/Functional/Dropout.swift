import ZooTensor

/// Inverted dropout (Srivastava et al. 2014): each element is kept with probability 1 − p and
/// scaled by 1 / (1 − p), so the expectation is unchanged; the mask comes from `key`.
public func dropout(_ x: Tensor, probability p: Float, key: RandomKey) -> Tensor {
    precondition(p >= 0 && p < 1, "dropout: probability \(p) is outside [0, 1)")
    if p == 0 { return x }
    return x * (Tensor.bernoulli(x.shape, probability: 1 - p, key: key) * (1 / (1 - p)))
}
