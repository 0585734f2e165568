import ZooTensor

/// The activation functions of the catalog, by name.
public enum Activation: String, CaseIterable, Codable, Sendable {
    case identity, relu, leakyReLU = "leaky-relu", elu, gelu, tanh, sigmoid, swish, softplus

    /// Applies the function (LeakyReLU slope 0.01, ELU α = 1).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .identity: return x
        case .relu: return x.relu()
        case .leakyReLU: return ZooNN.leakyReLU(x)
        case .elu: return ZooNN.elu(x)
        case .gelu: return ZooNN.gelu(x)
        case .tanh: return x.tanh()
        case .sigmoid: return x.sigmoid()
        case .swish: return ZooNN.swish(x)
        case .softplus: return x.softplus()
        }
    }

    /// An activation from a user's name (`silu` is accepted for swish).
    /// - Throws: ``InvalidChoice`` listing the valid names.
    public init(parsing name: String) throws {
        if name == "silu" { self = .swish; return }
        guard let a = Activation(rawValue: name) else {
            throw InvalidChoice(option: "activation", value: name, choices: Activation.allCases.map(\.rawValue))
        }
        self = a
    }

    /// The gain of `torch.nn.init.calculate_gain` for this nonlinearity, used by Kaiming and
    /// Xavier initialization: √2 for ReLU, √(2 / (1 + 0.01²)) for LeakyReLU, 5/3 for tanh, 1 for
    /// identity and sigmoid. PyTorch has no gain for ELU, GELU, swish or softplus; we use √2 for them
    /// (they behave like ReLU for large inputs), a documented choice.
    public var kaimingGain: Float {
        switch self {
        case .identity, .sigmoid: return 1
        case .tanh: return 5.0 / 3
        case .leakyReLU: return (2 / (1 + 0.01 * 0.01) as Float).squareRoot()
        case .relu, .elu, .gelu, .swish, .softplus: return Float(2).squareRoot()
        }
    }
}

/// max(0, x) + negativeSlope · min(0, x).
public func leakyReLU(_ x: Tensor, negativeSlope: Float = 0.01) -> Tensor {
    let positive = x.positiveMask()
    return x * (positive + (1 - positive) * negativeSlope)
}

/// PReLU (He et al. 2015): max(0, x) + a · min(0, x) with a learned slope `a` of shape `[1]` or
/// `[C]` (broadcast over axis 1 of `x: [N, C, …]`). Differentiable in both `x` and `slope`.
public func prelu(_ x: Tensor, slope: Tensor) -> Tensor {
    precondition(slope.rank == 1, "prelu: slope must be [1] or [C], got \(slope.shape)")
    var a = slope
    if slope.count > 1 {
        precondition(x.rank >= 2 && x.shape[1] == slope.count, "prelu: slope \(slope.shape) does not match the channels of input \(x.shape)")
        a = slope.reshaped([1, slope.count] + [Int](repeating: 1, count: x.rank - 2))
    }
    let positive = x.positiveMask()
    return x * positive + a * (x * (1 - positive))
}

/// ELU (Clevert et al. 2016): x for x > 0, α(eˣ − 1) otherwise.
public func elu(_ x: Tensor, alpha: Float = 1) -> Tensor {
    let positive = x.positiveMask()
    // exp of min(x, 0) keeps the unused branch finite for large x.
    let negativePart = (x * (1 - positive)).exp() - 1
    return x * positive + alpha * negativePart * (1 - positive)
}

/// GELU (Hendrycks & Gimpel 2016), exact: x · Φ(x) = x/2 · (1 + erf(x / √2)), PyTorch's default.
public func gelu(_ x: Tensor) -> Tensor {
    x * 0.5 * (1 + (x * Float(0.5).squareRoot()).erf())
}

/// Swish / SiLU (Ramachandran et al. 2017): x · σ(x).
public func swish(_ x: Tensor) -> Tensor {
    x * x.sigmoid()
}
