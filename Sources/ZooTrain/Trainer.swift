import Foundation
import ZooData
import ZooNN
import ZooOptim
import ZooTensor

/// Everything needed to continue training exactly where it stopped: weights and buffers,
/// optimizer state, and counters. Randomness is a pure function of (seed, epoch, step), so no
/// generator state needs saving.
public struct TrainingState: Sendable, Equatable {
    /// Parameters and buffers (`Module.state`).
    public var model: NamedTensors
    public var optimizer: NamedTensors
    /// Completed epochs.
    public var epoch: Int
    /// Completed optimizer steps.
    public var step: Int
    public var bestValidationLoss: Float?
    public var epochsWithoutImprovement: Int
    /// Pruning masks by parameter name (``Pruning``): 1 keeps a weight, 0 holds it at exactly 0
    /// (no update, no weight decay). Empty: dense.
    public var masks: NamedTensors
    /// The locations log α of the L0 gates by parameter name (``L0Gates``); empty without gates.
    public var gates: NamedTensors
    /// The Lagrange multiplier λ of the gates' density constraint.
    public var gateMultiplier: Float

    public init(model: NamedTensors, optimizer: NamedTensors, epoch: Int = 0, step: Int = 0,
                bestValidationLoss: Float? = nil, epochsWithoutImprovement: Int = 0, masks: NamedTensors = NamedTensors(),
                gates: NamedTensors = NamedTensors(), gateMultiplier: Float = 0) {
        self.masks = masks
        self.gates = gates
        self.gateMultiplier = gateMultiplier
        self.model = model
        self.optimizer = optimizer
        self.epoch = epoch
        self.step = step
        self.bestValidationLoss = bestValidationLoss
        self.epochsWithoutImprovement = epochsWithoutImprovement
    }
}

extension TrainingState {
    /// The network as it is evaluated and stored: with L0 gates, each gated weight times its
    /// deterministic gate (``L0Gates/deterministic(_:)``, exactly 0 for a closed gate); else `model`.
    public var evaluatedModel: NamedTensors {
        gates.isEmpty ? model : L0Gates.gated(model, locations: gates)
    }
}

/// Loss and accuracy on one split.
public struct SplitMetrics: Codable, Sendable, Equatable {
    public var loss: Float
    public var accuracy: Float
    public init(loss: Float, accuracy: Float) {
        self.loss = loss
        self.accuracy = accuracy
    }
}

/// What one epoch measured.
public struct EpochMetrics: Codable, Sendable, Equatable {
    public var epoch: Int
    public var step: Int
    public var learningRate: Float
    public var batchSize: Int
    /// Loss and accuracy on the training set measured like the test ones (evaluation mode), on
    /// the part ``TrainingConfig/trainMetrics`` names; nil when it is `.running`.
    public var train: SplitMetrics?
    /// The running average over the epoch's batches, in training mode (dropout on, batch
    /// statistics), as each step saw them: free, but not a measure of the trained model.
    public var running: SplitMetrics
    public var validation: SplitMetrics?
    public var test: SplitMetrics?
    /// Wall seconds of the epoch (training and evaluation of the whole population).
    public var seconds: Double
    /// The part of ``seconds`` spent evaluating (every split, the whole population), nil when not measured.
    public var evaluationSeconds: Double? = nil
    /// This member's share of those seconds: each pass's time divided among the members in it.
    public var memberSeconds: Double
    /// The training loss logged during the epoch (``TrainingConfig/stepLossInterval``), nil when off.
    public var stepLosses: LoggedLosses?
    /// Each test example's prediction (``TrainingConfig/recordPredictions``), nil when off.
    public var testPredictions: SplitPredictions? = nil
}

/// What a model predicted for each example of a split, in the split's order, from the
/// evaluation pass that measures its loss and accuracy: the fraction of examples with
/// `predicted == labels` is exactly that accuracy.
public struct SplitPredictions: Codable, Sendable, Equatable {
    /// Classes of the data set.
    public var classes: Int
    /// The largest logit's class (the first of equal ones), per example.
    public var predicted: [Int]
    public var labels: [Int]
    /// Softmax probability of the true class, per example.
    public var trueClassProbability: [Float]
    /// Softmax probability of the predicted class (the largest), per example.
    public var predictedClassProbability: [Float]

    public init(classes: Int, predicted: [Int], labels: [Int], trueClassProbability: [Float], predictedClassProbability: [Float]) {
        self.classes = classes
        self.predicted = predicted
        self.labels = labels
        self.trueClassProbability = trueClassProbability
        self.predictedClassProbability = predictedClassProbability
    }

    /// Examples whose predicted class is the label.
    public var correctCount: Int { zip(predicted, labels).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) } }
}

/// The mean minibatch loss of every `interval` steps of one epoch (the last window may be shorter).
public struct LoggedLosses: Codable, Sendable, Equatable {
    public var interval: Int
    /// The step count when the epoch began.
    public var firstStep: Int
    public var means: [Float]
    public init(interval: Int, firstStep: Int, means: [Float]) {
        self.interval = interval
        self.firstStep = firstStep
        self.means = means
    }
}

/// How a run ended.
public enum TrainingStatus: String, Codable, Sendable {
    case completed
    case earlyStopped = "early-stopped"
    /// The train loss reached ``TrainingConfig/stopAtTrainLoss``.
    case reachedCriterion = "reached-criterion"
    /// A step's loss became NaN or infinite (or the train loss at an epoch's end did); the state is
    /// that of the last completed epoch.
    case diverged
    /// The stop condition asked to stop; the state is that of the last completed epoch.
    case interrupted
}

/// Something the trainer reports while it runs.
public enum TrainingEvent: Sendable {
    /// A step finished (loss of its batch, in training mode).
    case step(epoch: Int, step: Int, stepsInEpoch: Int, batchIndex: Int, loss: Float, accuracy: Float, learningRate: Float)
    /// An epoch finished; `state` can be checkpointed.
    case epoch(EpochMetrics, state: TrainingState)
    /// The loss became non-finite at `step`.
    case diverged(epoch: Int, step: Int, loss: Float)
    /// The state after an optimizer step that ``TrainingConfig/checkpointSteps`` lists (possibly
    /// mid-epoch: `epoch` counts the completed epochs), for a branch that rewinds to it.
    case snapshot(TrainingState)
}

/// How one member's training ended: its status, its model with the final weights, and the state
/// to checkpoint (the last completed epoch's).
public struct TrainingResult: Sendable {
    public var status: TrainingStatus
    public var model: any Module
    public var state: TrainingState
}

/// What one optimizer step measured for one member.
public struct StepResult: Sendable, Equatable {
    /// The mean training loss of the member's batch.
    public var loss: Double
    /// Rows whose largest logit was at the label.
    public var correct: Int
    /// Rows in the member's batch.
    public var count: Int
    /// Whether the loss was not finite (no update was made then).
    public var diverged: Bool { !loss.isFinite }
}

/// How one member trains: its config, frozen parameters and loss.
///
/// Training itself is ``PopulationTrainer``'s: a single model is a population of one, so
/// ``run(model:data:from:observe:stop:)`` and ``step(_:state:batch:learningRate:)`` go through the
/// same step, epoch and evaluation code as a zoo does.
///
/// The loop: per epoch, a shuffle of the training set keyed by (seed, epoch); per step, dropout
/// keyed by (seed, step); the loss; gradients by the tape for the trainable parameters; optional
/// clipping; an optimizer update with the scheduled learning rate. After each epoch it evaluates,
/// reports an ``TrainingEvent/epoch(_:state:)``, and checks early stopping.
public struct Trainer: Sendable {
    public var config: TrainingConfig
    /// Glob patterns of parameters that stay fixed (e.g. everything but batch norm).
    public var frozen: [String]
    /// When not empty, only parameters matching one of these glob patterns train.
    public var trainOnly: [String]
    /// The training loss; cross-entropy with the config's label smoothing unless replaced.
    public var loss: Loss

    public init(config: TrainingConfig, frozen: [String] = [], trainOnly: [String] = [], loss: Loss? = nil) {
        self.config = config
        self.frozen = frozen
        self.trainOnly = trainOnly
        self.loss = loss ?? .crossEntropy(labelSmoothing: config.labelSmoothing)
    }

    /// The state before the first step.
    public func initialState(for model: any Module) -> TrainingState {
        let gates = initialGates(for: model)
        return TrainingState(model: model.state, optimizer: config.optimizer.optimizer.initialState(for: optimized(trainable(model.parameters), gates: gates)),
                             gates: gates)
    }

    /// The gate locations at initialization: one per entry of each prunable trainable weight, with
    /// ``TrainingConfig/l0``; empty without.
    func initialGates(for model: any Module) -> NamedTensors {
        guard let l0 = config.l0 else { return NamedTensors() }
        let weights = trainable(model.parameters)
        return NamedTensors(Pruning.prunable(weights).map { ($0, l0.initialLocations(like: weights[$0]!)) })
    }

    /// What the optimizer updates: the trainable parameters and, under `gate.`, the gate locations.
    func optimized(_ parameters: NamedTensors, gates: NamedTensors) -> NamedTensors {
        guard !gates.isEmpty else { return parameters }
        var all = parameters
        all.append(contentsOf: gates, prefix: L0Gates.prefix)
        return all
    }

    /// The inverse of ``optimized(_:gates:)``: the parameters and the gate locations of `all`.
    func separated(_ all: NamedTensors) -> (parameters: NamedTensors, gates: NamedTensors) {
        guard config.l0 != nil else { return (all, NamedTensors()) }
        return (all.filter { !$0.hasPrefix(L0Gates.prefix + ".") }, all.children(of: L0Gates.prefix))
    }

    /// Checks that `model` and `data` can train with this recipe and that `resume`, when given,
    /// is a state this recipe could have written for `model`: every tensor of the model present
    /// with its shape, the optimizer state exactly the tensors this optimizer keeps for the
    /// trainable parameters (names and shapes), counters in range. Nothing is built before.
    /// - Throws: ``TrainingError`` naming the pattern, tensor or counter at fault.
    public func validate(model: any Module, data: TrainingData, resume: TrainingState?) throws {
        for (pattern, key) in frozen.map({ ($0, "freeze") }) + trainOnly.map({ ($0, "train_only") })
        where model.parameterNames(matching: [pattern]).isEmpty {
            throw TrainingError("the \(key) pattern '\(pattern)' matches no parameter of the model; its parameters are \(model.parameters.names.prefix(8).joined(separator: ", "))\(model.parameters.count > 8 ? ", …" : "")")
        }
        if config.recordPredictions == .test {
            guard let test = data.test, test.count > 0 else {
                throw TrainingError("record_predictions: test records the test split's predictions, but the data has no test split")
            }
            guard test.classCount <= 256 else {
                throw TrainingError("record_predictions: test stores a class in one byte (at most 256 classes), but the data has \(test.classCount) classes")
            }
        }
        if config.earlyStoppingPatience != nil && data.validation == nil {
            throw TrainingError("early stopping watches the validation loss, but the data has no validation split; help: set the data option validation=N")
        }
        guard let resume else { return }
        var copy = model
        do { try copy.load(resume.model) } catch { throw TrainingError("the resumed model state does not fit: \(error)") }
        let expected = initialState(for: model).optimizer
        for (name, tensor) in expected {
            guard let given = resume.optimizer[name] else {
                throw TrainingError("the resumed optimizer state lacks '\(name)' (\(config.optimizer.kind) keeps \(expected.names.prefix(4).joined(separator: ", "))…)")
            }
            guard given.shape == tensor.shape else {
                throw TrainingError("the resumed optimizer state '\(name)' has shape \(given.shape), expected \(tensor.shape)")
            }
        }
        if let extra = resume.optimizer.names.first(where: { expected[$0] == nil }) {
            throw TrainingError("the resumed optimizer state has '\(extra)', which \(config.optimizer.kind) does not keep for this model")
        }
        guard resume.epoch >= 0, resume.step >= 0, resume.epochsWithoutImprovement >= 0 else {
            throw TrainingError("the resumed state has negative counters (epoch \(resume.epoch), step \(resume.step), epochs without improvement \(resume.epochsWithoutImprovement))")
        }
        try validate(masks: resume.masks, of: copy)
        let gates = initialGates(for: model)
        guard resume.gates.names == gates.names, zip(resume.gates.tensors, gates.tensors).allSatisfy({ $0.shape == $1.shape }) else {
            throw TrainingError(config.l0 == nil
                ? "the resumed state has L0 gates (\(resume.gates.names.prefix(3).joined(separator: ", "))), but this run trains without them"
                : "the resumed state's L0 gates (\(resume.gates.names.prefix(4).joined(separator: ", "))) are not one per prunable weight (\(gates.names.prefix(4).joined(separator: ", ")))")
        }
        guard resume.gates.tensors.allSatisfy({ $0.scalars.allSatisfy(\.isFinite) }), resume.gateMultiplier.isFinite, resume.gateMultiplier >= 0 else {
            throw TrainingError("the resumed state's L0 gates or multiplier (\(resume.gateMultiplier)) are not finite and non-negative")
        }
        if !resume.masks.isEmpty && config.l0 != nil { throw TrainingError("a run cannot have both pruning masks and L0 gates") }
        guard resume.epoch <= config.epochs else {
            throw TrainingError("the resumed state is at epoch \(resume.epoch), past the \(config.epochs) epochs of this run")
        }
        // Batch sizes only grow along a schedule, so an epoch has at most this many steps; a
        // state taken mid-epoch (a branch from a step checkpoint) is inside the next epoch.
        let steps = (data.train.count + config.batchSize - 1) / max(1, config.batchSize)
        let (bound, overflow) = (resume.epoch + 1).multipliedReportingOverflow(by: steps)
        guard !overflow, resume.step <= min(bound, config.maxSteps ?? .max) else {
            throw TrainingError("the resumed state's step \(resume.step) cannot be reached in \(resume.epoch + 1) epoch(s) of at most \(steps) steps"
                                + (config.maxSteps.map { " (max steps \($0))" } ?? ""))
        }
    }

    /// Checks pruning masks against `model`: each names a trainable parameter, has its shape and
    /// holds only 0 and 1.
    /// - Throws: ``TrainingError`` naming the mask at fault.
    public func validate(masks: NamedTensors, of model: any Module) throws {
        let parameters = model.parameters, trained = trainable(parameters)
        for (name, mask) in masks {
            guard let p = parameters[name] else {
                throw TrainingError("the mask '\(name)' names no parameter of the model; its parameters are \(parameters.names.prefix(8).joined(separator: ", "))\(parameters.count > 8 ? ", …" : "")")
            }
            guard trained[name] != nil else { throw TrainingError("the mask '\(name)' masks a frozen parameter") }
            guard mask.shape == p.shape else { throw TrainingError("the mask '\(name)' has shape \(mask.shape), its parameter \(p.shape)") }
            guard mask.scalars.allSatisfy({ $0 == 0 || $0 == 1 }) else { throw TrainingError("the mask '\(name)' holds values other than 0 and 1") }
        }
    }

    /// The parameters that are trained (those matching no `frozen` pattern).
    public func trainable(_ parameters: NamedTensors) -> NamedTensors {
        if frozen.isEmpty && trainOnly.isEmpty { return parameters }
        return parameters.filter { name in
            !frozen.contains { globMatches($0, name) } && (trainOnly.isEmpty || trainOnly.contains { globMatches($0, name) })
        }
    }

    var rootKey: RandomKey { RandomKey(seed: config.seed, stream: 0x7472_6169_6e) }  // "train"

    /// The learning rate of `step` (an optimizer step) in `epoch`, from the schedule.
    public func learningRate(epoch: Int, step: Int) -> Float {
        config.schedule.learningRate(atStep: config.scheduleUnit == .epoch ? epoch : step, base: config.optimizer.optimizer.learningRate)
    }

    /// Trains `model` from `state` (or from scratch) until the configured end, the stop condition,
    /// early stopping or divergence: ``PopulationTrainer`` with this one member.
    /// - Parameters:
    ///   - observe: receives every event on the calling thread.
    ///   - stop: polled before every step; when it returns true the run ends `.interrupted`.
    /// - Throws: ``TrainingError`` when `resume` does not fit the model or the data cannot be used.
    public func run(model: any Module, data: TrainingData, from resume: TrainingState? = nil,
                    observe: (TrainingEvent) -> Void = { _ in }, stop: () -> Bool = { false }) throws -> TrainingResult
    {
        try PopulationTrainer(members: [self]).run(models: [model], data: data, from: [resume],
                                                   observe: { _, event in observe(event) }, stop: stop)[0]
    }

    /// One optimizer step of `model` on `batch` (a population of one through the engine's step).
    /// - Parameters:
    ///   - state: the optimizer state and step counter; updated.
    ///   - learningRate: the rate to use; default: the schedule's at `state`.
    /// - Returns: the batch's loss and hits; when the loss is not finite nothing is updated.
    public func step(_ model: inout any Module, state: inout TrainingState, batch: Batch, learningRate: Float? = nil) throws -> StepResult {
        var population = try Population([model])
        let engine = PopulationTrainer(unchecked: [self])
        var member = PopulationTrainer.Member(index: 0, trainer: self, model: model, state: state)
        member.learningRate = learningRate ?? self.learningRate(epoch: state.epoch, step: state.step)
        let result = engine.step([member], population: &population, batches: [batch], step: state.step)[0]
        if let next = result.next {
            model = next.model
            state.optimizer = next.optimizer
            (state.gates, state.gateMultiplier) = (next.gates, next.multiplier)
            state.step += 1
            state.model = model.state
        }
        return result.measured
    }

    /// Cross-entropy and accuracy of `model` on `data` in evaluation mode (``PopulationTrainer/evaluate(_:on:)``).
    public static func evaluate(_ model: any Module, on data: LabeledData) throws -> SplitMetrics {
        try PopulationTrainer.evaluate([model], on: data)[0]
    }
}

/// Members or states the trainer cannot use; names what does not fit.
public struct TrainingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
