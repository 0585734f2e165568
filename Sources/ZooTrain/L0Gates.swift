import Foundation
import ZooTensor

/// Sparsity learned while training: every prunable weight (rank ≥ 2: convolution and linear
/// weights) is multiplied by a hard-concrete gate z with a trained location log α (Louizos,
/// Welling & Kingma 2018, "Learning Sparse Neural Networks through L0 Regularization"), and the
/// expected fraction of open gates is held at most at ``targetDensity`` as a constraint, by a
/// Lagrange multiplier λ updated by projected gradient ascent (Gallego-Posada, Ramirez, Erraqabi,
/// Bengio & Lacoste-Julien 2022, "Controlled Sparsity via Constrained Optimization"):
///
///     min over (w, log α) of  L(w ⊙ z) + λ · (E[‖z‖₀] / N − ε),   λ ← λ + η (E[‖z‖₀] / N − ε),
///
/// with λ reset to 0 whenever the constraint holds (their "dual restarts").
///
/// In training z = clamp(s (ζ − γ) + γ, 0, 1), s = σ((log u − log(1 − u) + log α) / β), u ~ U(0, 1),
/// with γ = −0.1, ζ = 1.1; P(z ≠ 0) = σ(log α − β log(−γ/ζ)). Evaluated and stored networks use
/// the deterministic gate clamp(σ(log α)(ζ − γ) + γ, 0, 1), which is exactly 0 for a closed gate:
/// the stored weights are the sparse network.
public struct L0Gates: Codable, Sendable, Equatable {
    /// ε: the largest expected fraction of open gates.
    public var targetDensity: Float
    /// η: the step of the multiplier's ascent, per optimizer step.
    public var dualLearningRate: Float
    /// β of the hard concrete distribution.
    public var temperature: Float
    /// The probability that a gate is open at initialization (log α starts at its logit).
    public var initialKeep: Float

    static let gamma: Float = -0.1, zeta: Float = 1.1
    /// The prefix of gate entries in optimizer states and checkpoints.
    static let prefix = "gate"

    public init(targetDensity: Float, dualLearningRate: Float = 0.05, temperature: Float = 2.0 / 3, initialKeep: Float = 0.9) {
        self.targetDensity = targetDensity
        self.dualLearningRate = dualLearningRate
        self.temperature = temperature
        self.initialKeep = initialKeep
    }

    /// The starting log α of a gate tensor shaped like `weight`.
    public func initialLocations(like weight: Tensor) -> Tensor {
        Tensor(shape: weight.shape, repeating: Foundation.log(initialKeep / (1 - initialKeep)))
    }

    /// Gates drawn with uniform noise `u` (same shape as `logAlpha`), differentiable in log α.
    public func sample(_ logAlpha: Tensor, noise u: Tensor) -> Tensor {
        let logit = Tensor(shape: u.shape, scalars: u.scalars.map { Foundation.log($0) - Foundation.log(1 - $0) })
        let s = ((logit + logAlpha) * (1 / temperature)).sigmoid()
        return (s * (Self.zeta - Self.gamma) + Self.gamma).clamped(min: 0, max: 1)
    }

    /// The gates of the evaluated network (they do not depend on the temperature).
    public static func deterministic(_ logAlpha: Tensor) -> Tensor {
        (logAlpha.sigmoid() * (zeta - gamma) + gamma).clamped(min: 0, max: 1)
    }

    /// P(z ≠ 0) per gate, differentiable in log α.
    public func openProbability(_ logAlpha: Tensor) -> Tensor {
        (logAlpha - temperature * Foundation.log(-Self.gamma / Self.zeta)).sigmoid()
    }

    /// The expected fraction of open gates over all of `locations`.
    public func expectedDensity(_ locations: NamedTensors) -> Float {
        var open = 0.0, count = 0
        withoutGradients {
            for (_, t) in locations {
                open += openProbability(t).scalars.reduce(0.0) { $0 + Double($1) }
                count += t.count
            }
        }
        return count == 0 ? 0 : Float(open / Double(count))
    }

    /// The multiplier after one ascent step at `density`, with Gallego-Posada et al.'s dual
    /// restart: once the constraint holds, λ returns to 0 (instead of decreasing slowly while it
    /// keeps closing gates that the loss wants open).
    public func updatedMultiplier(_ lambda: Float, density: Float) -> Float {
        density <= targetDensity ? 0 : lambda + dualLearningRate * (density - targetDensity)
    }

    /// The network that is evaluated and stored: each gated weight times its deterministic gate.
    public static func gated(_ parameters: NamedTensors, locations: NamedTensors) -> NamedTensors {
        withoutGradients { parameters.masked(by: locations.mapTensors { deterministic($0) }) }
    }

    /// Checks ranges; the error names the key.
    public func validate() throws {
        func fail(_ key: String, _ value: Float, _ expected: String) -> TrainingConfigError {
            TrainingConfigError(description: "\(key) = \(value) is invalid: expected \(expected)", key: key)
        }
        guard targetDensity > 0 && targetDensity < 1 else { throw fail("l0-density", targetDensity, "a fraction in (0, 1)") }
        guard dualLearningRate > 0 && dualLearningRate.isFinite else { throw fail("l0-dual-lr", dualLearningRate, "a positive number") }
        guard temperature > 0 && temperature <= 10 else { throw fail("l0-temperature", temperature, "a number in (0, 10]") }
        guard initialKeep > 0 && initialKeep < 1 else { throw fail("l0-initial-keep", initialKeep, "a fraction in (0, 1)") }
    }
}
