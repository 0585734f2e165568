import Foundation

/// The learning rate as a pure function of the step (an epoch or an iteration: the trainer says).
///
/// JSON: `{"kind":"cosine","totalSteps":100,"warmupSteps":5,"minimum":0}` and so on.
public enum LearningRateSchedule: Codable, Sendable, Equatable {
    /// The base rate throughout.
    case constant
    /// base · γ^⌊t / stepSize⌋ (PyTorch's StepLR).
    case step(stepSize: Int, gamma: Float)
    /// base · γ^(number of milestones ≤ t) (MultiStepLR).
    case multiStep(milestones: [Int], gamma: Float)
    /// base · γ^t (ExponentialLR).
    case exponential(gamma: Float)
    /// Linear warmup from base/warmupSteps to base over `warmupSteps`, then cosine annealing to
    /// `minimum` at `totalSteps` (Loshchilov & Hutter 2017, without restarts), constant after.
    case cosine(totalSteps: Int, warmupSteps: Int, minimum: Float)
    /// One-cycle (Smith & Topin 2019) as PyTorch's OneCycleLR with cosine annealing: from
    /// max/divFactor up to `maxLearningRate` over `warmupFraction` of the steps, then down to
    /// max/(divFactor·finalDivFactor). The base rate is not used.
    case oneCycle(totalSteps: Int, maxLearningRate: Float, warmupFraction: Float, divFactor: Float, finalDivFactor: Float)

    public static func oneCycle(totalSteps: Int, maxLearningRate: Float) -> LearningRateSchedule {
        .oneCycle(totalSteps: totalSteps, maxLearningRate: maxLearningRate, warmupFraction: 0.3, divFactor: 25, finalDivFactor: 1e4)
    }

    /// The learning rate at step `t` (0-based) for base rate `base`.
    public func learningRate(atStep t: Int, base: Float) -> Float {
        switch self {
        case .constant:
            return base
        case let .step(size, gamma):
            return base * Float(pow(Double(gamma), Double(t / size)))
        case let .multiStep(milestones, gamma):
            return base * Float(pow(Double(gamma), Double(milestones.filter { $0 <= t }.count)))
        case let .exponential(gamma):
            return base * Float(pow(Double(gamma), Double(t)))
        case let .cosine(total, warmup, minimum):
            if t < warmup { return base * Float(t + 1) / Float(warmup) }
            let span = max(total - warmup, 1)
            let progress = min(Double(t - warmup) / Double(span), 1)
            return minimum + (base - minimum) * Float(0.5 * (1 + cos(Double.pi * progress)))
        case let .oneCycle(total, maxRate, fraction, div, finalDiv):
            let initial = maxRate / div, final = initial / finalDiv
            let peak = Double(fraction) * Double(total) - 1
            let end = Double(total) - 1
            func anneal(_ start: Float, _ stop: Float, _ p: Double) -> Float {
                stop + (start - stop) * Float(0.5 * (1 + cos(Double.pi * min(max(p, 0), 1))))
            }
            let s = Double(t)
            if s <= peak { return anneal(initial, maxRate, peak > 0 ? s / peak : 1) }
            return anneal(maxRate, final, (s - peak) / max(end - peak, 1))
        }
    }

    /// Checks the schedule's parameters; the error names the key.
    public func validate() throws {
        func fail(_ setting: String, _ message: String) -> ScheduleError { ScheduleError(description: "schedule: \(message)", setting: setting) }
        switch self {
        case .constant: break
        case let .step(size, gamma):
            if size < 1 { throw fail("step-size", "step-size = \(size) is invalid: expected at least 1") }
            if !(gamma > 0) { throw fail("gamma", "gamma = \(gamma) is invalid: expected a positive number") }
        case let .multiStep(milestones, gamma):
            if milestones.isEmpty || milestones != milestones.sorted() || milestones.contains(where: { $0 < 0 }) {
                throw fail("milestones", "milestones = \(milestones) are invalid: expected increasing non-negative steps")
            }
            if !(gamma > 0) { throw fail("gamma", "gamma = \(gamma) is invalid: expected a positive number") }
        case let .exponential(gamma):
            if !(gamma > 0) { throw fail("gamma", "gamma = \(gamma) is invalid: expected a positive number") }
        case let .cosine(total, warmup, minimum):
            if total < 1 { throw fail("total-steps", "total steps = \(total) is invalid: expected at least 1") }
            if warmup < 0 || warmup > total { throw fail("warmup", "warmup = \(warmup) is invalid: expected 0...\(total)") }
            if minimum < 0 { throw fail("min-lr", "min-lr = \(minimum) is invalid: expected a number ≥ 0") }
        case let .oneCycle(total, maxRate, fraction, div, finalDiv):
            if total < 2 { throw fail("total-steps", "total steps = \(total) is invalid: expected at least 2") }
            if !(maxRate > 0) { throw fail("lr", "max learning rate = \(maxRate) is invalid: expected a positive number") }
            if !(fraction > 0 && fraction < 1) { throw fail("warmup-fraction", "warmup fraction = \(fraction) is invalid: expected a number in (0, 1)") }
            if !(div > 0 && finalDiv > 0) { throw fail("div-factor", "div factors \(div), \(finalDiv) are invalid: expected positive numbers") }
        }
    }
}

/// The batch size as a function of the epoch: Smith et al. 2017 ("Don't decay the learning rate,
/// increase the batch size") multiply it where a step schedule would divide the learning rate.
public enum BatchSizeSchedule: Codable, Sendable, Equatable {
    case constant
    /// base · factor^(number of milestones ≤ epoch).
    case multiStep(milestones: [Int], factor: Int)

    public func batchSize(atStep t: Int, base: Int) -> Int {
        switch self {
        case .constant: return base
        case let .multiStep(milestones, factor):
            return milestones.filter { $0 <= t }.reduce(base) { acc, _ in acc * factor }
        }
    }
}

/// A schedule parameter out of range.
public struct ScheduleError: Error, CustomStringConvertible {
    public var description: String
    /// The setting at fault, as the command line spells it: "step-size", "gamma", "milestones", …
    public var setting: String
}
