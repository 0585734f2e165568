import Foundation
import ZooTensor

/// Which fan a variance-scaling initializer preserves.
public enum FanMode: String, Codable, Sendable, CaseIterable {
    /// Preserve the variance of activations in the forward pass.
    case fanIn = "fan-in"
    /// Preserve the variance of gradients in the backward pass.
    case fanOut = "fan-out"
}

/// A seeded way to fill a weight tensor, with PyTorch's `torch.nn.init` formulas.
///
/// Fans follow PyTorch: for a weight `[out, in, k…]`, `fanIn = in · Πk`, `fanOut = out · Πk`
/// (for `[out, in]`, `in` and `out`). Gains come from ``Activation/kaimingGain``.
public enum Initializer: Codable, Sendable, Equatable {
    /// U(low, high).
    case uniform(low: Float, high: Float)
    /// N(mean, standardDeviation²).
    case normal(mean: Float, standardDeviation: Float)
    /// Glorot & Bengio 2010: U(−a, a), a = gain · √(6 / (fanIn + fanOut)).
    case xavierUniform(gain: Float)
    /// Glorot & Bengio 2010: N(0, σ²), σ = gain · √(2 / (fanIn + fanOut)).
    case xavierNormal(gain: Float)
    /// He et al. 2015: U(−b, b), b = gain · √(3 / fan).
    case kaimingUniform(gain: Float, mode: FanMode)
    /// He et al. 2015: N(0, σ²), σ = gain / √fan.
    case kaimingNormal(gain: Float, mode: FanMode)
    /// Saxe et al. 2014: a (semi-)orthogonal matrix of the weight viewed as `[out, in·Πk]`, times gain.
    case orthogonal(gain: Float)
    /// Every element `value`.
    case constant(value: Float)
    /// PyTorch's default for `Linear` and `Conv` weights: kaiming-uniform with a = √5, i.e.
    /// U(−1/√fanIn, 1/√fanIn).
    case pytorchDefault

    /// The input and output fans of a weight of `shape`.
    public static func fans(of shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 1, "Initializer.fans: a scalar has no fans")
        if shape.count == 1 { return (shape[0], shape[0]) }
        let receptive = shape.dropFirst(2).elementCount
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// A tensor of `shape` drawn from this initializer with `key`.
    public func make(_ shape: [Int], key: RandomKey) -> Tensor {
        switch self {
        case let .uniform(low, high):
            return .randomUniform(shape, low: low, high: high, key: key)
        case let .normal(mean, std):
            return .randomNormal(shape, mean: mean, standardDeviation: std, key: key)
        case let .xavierUniform(gain):
            let (i, o) = Self.fans(of: shape)
            let a = gain * (6 / Float(i + o)).squareRoot()
            return .randomUniform(shape, low: -a, high: a, key: key)
        case let .xavierNormal(gain):
            let (i, o) = Self.fans(of: shape)
            return .randomNormal(shape, standardDeviation: gain * (2 / Float(i + o)).squareRoot(), key: key)
        case let .kaimingUniform(gain, mode):
            let b = gain * (3 / Float(Self.fan(shape, mode))).squareRoot()
            return .randomUniform(shape, low: -b, high: b, key: key)
        case let .kaimingNormal(gain, mode):
            return .randomNormal(shape, standardDeviation: gain / Float(Self.fan(shape, mode)).squareRoot(), key: key)
        case let .orthogonal(gain):
            return Self.orthogonal(shape, gain: gain, key: key)
        case let .constant(value):
            return .full(shape, value)
        case .pytorchDefault:
            let b = 1 / Float(Self.fans(of: shape).fanIn).squareRoot()
            return .randomUniform(shape, low: -b, high: b, key: key)
        }
    }

    /// PyTorch's default bias: U(−1/√fanIn, 1/√fanIn).
    public static func pytorchBias(_ count: Int, fanIn: Int, key: RandomKey) -> Tensor {
        let b = 1 / Float(Swift.max(fanIn, 1)).squareRoot()
        return .randomUniform([count], low: -b, high: b, key: key)
    }

    private static func fan(_ shape: [Int], _ mode: FanMode) -> Int {
        let f = fans(of: shape)
        return mode == .fanIn ? f.fanIn : f.fanOut
    }

    /// QR of a Gaussian matrix by modified Gram–Schmidt in Double, signs fixed so that the
    /// distribution is uniform (Haar) over orthogonal matrices, as PyTorch does with diag(R).
    private static func orthogonal(_ shape: [Int], gain: Float, key: RandomKey) -> Tensor {
        precondition(shape.count >= 2, "Initializer.orthogonal: needs a weight of rank ≥ 2, got \(shape)")
        let rows = shape[0], cols = shape.dropFirst().elementCount
        // Orthonormalize the columns of a tall matrix (n × k, n ≥ k); transpose at the end if wide.
        let tall = rows >= cols
        let n = tall ? rows : cols, k = tall ? cols : rows
        let g = key.normal(count: n * k).map(Double.init)
        var q = [[Double]](repeating: [Double](repeating: 0, count: n), count: k)  // k columns of length n
        for j in 0..<k { for i in 0..<n { q[j][i] = g[i * k + j] } }
        for j in 0..<k {
            for p in 0..<j {
                let dot = zip(q[j], q[p]).reduce(0) { $0 + $1.0 * $1.1 }
                for i in 0..<n { q[j][i] -= dot * q[p][i] }
            }
            let norm = q[j].reduce(0) { $0 + $1 * $1 }.squareRoot()
            // R's diagonal entry is the norm before normalization, which is positive here, so the
            // Gram–Schmidt Q already has the sign convention that makes it Haar-distributed.
            for i in 0..<n { q[j][i] /= norm }
        }
        var out = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            for c in 0..<cols {
                out[r * cols + c] = gain * Float(tall ? q[c][r] : q[r][c])
            }
        }
        return Tensor(shape: shape, scalars: out)
    }
}

extension Initializer {
    /// The names accepted by ``init(parsing:activation:)``.
    public static let choices = ["pytorch-default", "uniform", "normal", "xavier-uniform", "xavier-normal",
                                 "kaiming-uniform", "kaiming-normal", "kaiming-uniform-fan-out", "kaiming-normal-fan-out", "orthogonal"]

    /// An initializer from a user's name, with gains for `activation` where the scheme uses one.
    /// `uniform` is U(−0.1, 0.1) and `normal` N(0, 0.01²) (fixed scales, as in Model Zoos).
    /// - Throws: ``InvalidChoice`` listing the valid names.
    public init(parsing name: String, activation: Activation) throws {
        let gain = activation.kaimingGain
        switch name {
        case "pytorch-default", "default": self = .pytorchDefault
        case "uniform": self = .uniform(low: -0.1, high: 0.1)
        case "normal": self = .normal(mean: 0, standardDeviation: 0.01)
        case "xavier-uniform", "glorot-uniform": self = .xavierUniform(gain: gain)
        case "xavier-normal", "glorot-normal": self = .xavierNormal(gain: gain)
        case "kaiming-uniform", "he-uniform": self = .kaimingUniform(gain: gain, mode: .fanIn)
        case "kaiming-normal", "he-normal": self = .kaimingNormal(gain: gain, mode: .fanIn)
        case "kaiming-uniform-fan-out": self = .kaimingUniform(gain: gain, mode: .fanOut)
        case "kaiming-normal-fan-out": self = .kaimingNormal(gain: gain, mode: .fanOut)
        case "orthogonal": self = .orthogonal(gain: gain)
        default: throw InvalidChoice(option: "init", value: name, choices: Self.choices)
        }
    }
}
