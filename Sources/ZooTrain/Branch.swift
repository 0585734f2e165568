import Foundation
import ZooData
import ZooNN
import ZooTensor

/// A point in a run's training: its end, the end of an epoch, or the moment after an optimizer
/// step (possibly mid-epoch). Written `end`, `epoch:N` or `step:N`.
public enum TrainingPoint: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    case end
    case epoch(Int)
    case step(Int)

    /// Parses `end`, `epoch:N` or `step:N` (N ≥ 0); nil otherwise.
    public init?(_ text: String) {
        if text == "end" { self = .end; return }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let n = Int(parts[1]), n >= 0, n <= 1_000_000_000 else { return nil }
        switch parts[0] {
        case "epoch": self = .epoch(n)
        case "step": self = .step(n)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .end: "end"
        case let .epoch(n): "epoch:\(n)"
        case let .step(n): "step:\(n)"
        }
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let point = TrainingPoint(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text.prefix(40))' is not end, epoch:N or step:N"))
        }
        self = point
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// How a run branches from another (OpenLTH's branches and levels): which run and point it
/// starts from, and what is done there — prune, rewind, re-initialize, perturb. The branch then
/// trains with its own config (its `seed` is its data-order seed: its weights come from the
/// parent) until its `epochs`.
///
/// The start state is a pure function of the parent's checkpoints and the config, so a branch
/// that is interrupted before its first checkpoint simply starts again.
public struct Branch: Codable, Sendable, Equatable {
    /// The run id of the parent, which trains first.
    public var parent: String
    /// The parent's state the branch starts from (its weights and, for pruning, its magnitudes).
    public var at: TrainingPoint
    /// Restart the counters (the schedule's position and the remaining budget) at this point of
    /// the lineage: `epochs − rewind` epochs of retraining. Nil: continue from `at`.
    public var rewind: TrainingPoint?
    /// With `rewind`: also take the lineage's weights at that point (weight rewinding, Frankle et
    /// al. 2020); false keeps the weights at `at` and rewinds only the schedule (learning-rate
    /// rewinding, Renda et al. 2020).
    public var rewindWeights: Bool
    /// Replace the weights by a fresh draw of the initializer (a key of its own, so not the
    /// parent's init even with the same seed): the random re-initialization control of the
    /// lottery ticket hypothesis. The masks stay.
    public var reinitialize: Bool
    /// Prune at the branch point (the masks of the parent, narrowed).
    public var pruning: Pruning?
    /// Add Gaussian noise of this standard deviation to every trained weight (masked ones stay 0).
    public var perturbation: Float?
    /// Start from (1 − α)·θ_parent + α·θ_other, `other` another run's state at ``at`` (which must
    /// be done): a point on the line between two networks, trained on from there.
    public var interpolation: Interpolation?

    /// A point on the line between the parent and another run.
    public struct Interpolation: Codable, Sendable, Equatable {
        public var other: String
        public var alpha: Float
        public init(other: String, alpha: Float) {
            self.other = other
            self.alpha = alpha
        }
    }

    public init(parent: String, at: TrainingPoint = .end, rewind: TrainingPoint? = nil, rewindWeights: Bool = true,
                reinitialize: Bool = false, pruning: Pruning? = nil, perturbation: Float? = nil, interpolation: Interpolation? = nil) {
        self.interpolation = interpolation
        self.parent = parent
        self.at = at
        self.rewind = rewind
        self.rewindWeights = rewindWeights
        self.reinitialize = reinitialize
        self.pruning = pruning
        self.perturbation = perturbation
    }

    /// The point whose weights the branch takes: the rewind point for weight rewinding, else `at`.
    public var weightsPoint: TrainingPoint { rewind.flatMap { rewindWeights ? $0 : nil } ?? at }

    /// The state the branch starts training from.
    /// - Parameters:
    ///   - parent: the parent's state at ``at`` (its masks included; a gated parent counts as its
    ///     evaluated network, and the branch has gates only when its own config asks for them).
    ///   - weights: the lineage's state at ``weightsPoint`` (the same as `parent` without weight rewinding).
    ///   - config: the branch's own config; `model` one built from it (its fresh init is the
    ///     initial weights of ``PruningMethod/initMagnitude``).
    ///   - data: the branch's data (to build a re-initialized network).
    ///   - counters: (completed epochs, steps) where the branch starts.
    ///   - partner: with ``interpolation``, the other run's state at ``at``.
    /// - Throws: ``TrainingError`` when the parent's (or the partner's) weights do not fit the branch's model.
    public func startState(parent: TrainingState, weights: TrainingState, config: RunConfig, model: any Module, data: TrainingData,
                           counters: (epoch: Int, step: Int), partner: TrainingState? = nil) throws -> TrainingState {
        let trainer = config.trainer
        /// `model` holding `state`'s evaluated network.
        func loaded(_ state: TrainingState, _ whose: String) throws -> any Module {
            var network = model
            do { try network.load(state.evaluatedModel) } catch { throw TrainingError("\(whose) weights do not fit this branch's model: \(error)") }
            return network
        }
        var network = try loaded(weights, "the parent's")
        if let interpolation {
            guard let partner else { throw TrainingError("the branch interpolates with run \(interpolation.other), whose state was not given") }
            let other = try loaded(partner, "run \(interpolation.other)'s")
            let a = interpolation.alpha
            network.parameters = network.parameters.zipTensors(other.parameters) { $0 * (1 - a) + $1 * a }
            network.buffers = network.buffers.zipTensors(other.buffers) { $0 * (1 - a) + $1 * a }
        }
        var masks = parent.masks
        if let pruning {
            let pruned = try loaded(parent, "the parent's")
            masks = pruning.masks(weights: trainer.trainable(pruned.parameters), current: masks,
                                  initial: trainer.trainable(model.parameters), key: key("prune"))
        }
        if reinitialize {
            network.parameters = try config.makeModel(for: data, key: key("reinit")).parameters
        }
        var parameters = network.parameters
        if let sigma = perturbation, sigma > 0 {
            for (k, name) in trainer.trainable(parameters).names.enumerated() {
                let t = parameters[name]!
                let noise = Tensor(shape: t.shape, scalars: key("perturb").derived(k).normal(count: t.count).map { $0 * sigma })
                parameters[name] = t + noise
            }
        }
        network.parameters = parameters.masked(by: masks)
        var state = trainer.initialState(for: network)
        state.masks = masks
        (state.epoch, state.step) = counters
        return state

        func key(_ purpose: String) -> RandomKey { RandomKey(seed: config.training.seed, stream: 0x6272_616e_6368).derived(purpose) }  // "branch"
    }
}
