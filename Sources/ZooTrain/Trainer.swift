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

    public init(model: NamedTensors, optimizer: NamedTensors, epoch: Int = 0, step: Int = 0,
                bestValidationLoss: Float? = nil, epochsWithoutImprovement: Int = 0) {
        self.model = model
        self.optimizer = optimizer
        self.epoch = epoch
        self.step = step
        self.bestValidationLoss = bestValidationLoss
        self.epochsWithoutImprovement = epochsWithoutImprovement
    }
}

/// Loss and accuracy on one split.
public struct SplitMetrics: Codable, Sendable, Equatable {
    public var loss: Float
    public var accuracy: Float
}

/// What one epoch measured.
public struct EpochMetrics: Codable, Sendable, Equatable {
    public var epoch: Int
    public var step: Int
    public var learningRate: Float
    public var batchSize: Int
    public var train: SplitMetrics
    public var validation: SplitMetrics?
    public var test: SplitMetrics?
    /// Seconds spent in this epoch (training and evaluation).
    public var seconds: Double
}

/// How a run ended.
public enum TrainingStatus: String, Codable, Sendable {
    case completed
    case earlyStopped = "early-stopped"
    /// The loss became NaN or infinite; the weights are those before the bad step.
    case diverged
    /// ``Trainer/run(from:stop:observe:)``'s stop condition asked to stop.
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
}

/// Trains one model with minibatch gradient descent on a classification task.
///
/// The loop: per epoch, a shuffle of the training set keyed by (seed, epoch); per step, dropout
/// keyed by (seed, step); cross-entropy loss; gradients by the tape for the trainable
/// parameters; optional clipping; an optimizer update with the scheduled learning rate. After each
/// epoch it evaluates, reports an ``TrainingEvent/epoch(_:state:)``, and checks early stopping.
public struct Trainer: Sendable {
    public var config: TrainingConfig
    /// Glob patterns of parameters that stay fixed (e.g. everything but batch norm).
    public var frozen: [String]

    public init(config: TrainingConfig, frozen: [String] = []) {
        self.config = config
        self.frozen = frozen
    }

    /// The state before the first step.
    public func initialState(for model: any Module) -> TrainingState {
        TrainingState(model: model.state, optimizer: config.optimizer.optimizer.initialState(for: trainable(model.parameters)))
    }

    func trainable(_ parameters: NamedTensors) -> NamedTensors {
        frozen.isEmpty ? parameters : parameters.filter { name in !frozen.contains { globMatches($0, name) } }
    }

    var rootKey: RandomKey { RandomKey(seed: config.seed, stream: 0x7472_6169_6e) }  // "train"

    /// Steps in an epoch with this batch size (the last partial batch is kept).
    public func stepsPerEpoch(trainCount: Int, batchSize: Int) -> Int { (trainCount + batchSize - 1) / batchSize }

    /// Trains `model` from `state` (or from scratch) until the configured end, the stop condition,
    /// early stopping or divergence.
    /// - Parameters:
    ///   - observe: receives every event on the calling thread.
    ///   - stop: polled before every step; when it returns true the run ends with status
    ///     `.interrupted` and the state of the last completed epoch.
    /// - Returns: the final status, the model with its final weights, and the final state.
    public func run(model initial: any Module, data: TrainingData, from resume: TrainingState? = nil,
                    observe: (TrainingEvent) -> Void = { _ in }, stop: () -> Bool = { false })
        -> (status: TrainingStatus, model: any Module, state: TrainingState)
    {
        var model = initial
        var state = resume ?? initialState(for: model)
        if let r = resume {
            // Callers load user checkpoints with `Module.load` first, which reports mismatches.
            do { try model.load(r.model) } catch { preconditionFailure("Trainer.run: the resumed state does not fit the model: \(error)") }
        }
        let optimizer = config.optimizer.optimizer
        let baseRate = optimizer.learningRate
        while state.epoch < config.epochs {
            if let m = config.maxSteps, state.step >= m { break }
            let started = Date()
            let epoch = state.epoch
            // What an interruption or divergence returns: the consistent state at the epoch's start.
            let epochStart = state
            let batchSize = config.batchSizeSchedule.batchSize(atStep: epoch, base: config.batchSize)
            let loader = BatchLoader(data: data.train, batchSize: batchSize, shuffleKey: rootKey.derived("shuffle").derived(epoch),
                                     augmentation: data.augmentation, augmentationKey: rootKey.derived("augment").derived(epoch))
            let steps = loader.batchCount
            var lossSum = 0.0, correct = 0, seen = 0
            var learningRate = baseRate
            for (b, batch) in loader.enumerated() {
                if stop() { return (.interrupted, model, epochStart) }
                if let m = config.maxSteps, state.step >= m { break }
                let unitStep = config.scheduleUnit == .epoch ? epoch : state.step
                learningRate = config.schedule.learningRate(atStep: unitStep, base: baseRate)
                let all = model.parameters
                let tracked = trainable(all).requiringGradient()
                var merged = all
                for (name, t) in tracked { merged[name] = t }
                model.parameters = merged
                let logits = model(batch.inputs, context: .training(key: rootKey.derived("dropout").derived(state.step)))
                let loss = crossEntropy(logits: logits, labels: batch.labels, labelSmoothing: config.labelSmoothing)
                let lossValue = loss.scalar
                guard lossValue.isFinite else {
                    model.parameters = all
                    observe(.diverged(epoch: epoch, step: state.step, loss: lossValue))
                    return (.diverged, model, epochStart)
                }
                var grads = gradients(of: loss, wrt: tracked)
                if let c = config.gradientClipNorm { grads = clipByGlobalNorm(grads, maxNorm: c).gradients }
                let updated = optimizer.update(parameters: tracked.detached(), gradients: grads, state: state.optimizer, learningRate: learningRate)
                var next = all
                for (name, t) in updated.parameters { next[name] = t }
                model.parameters = next
                state.optimizer = updated.state
                state.step += 1
                lossSum += Double(lossValue) * Double(batch.labels.count)
                let hits = zip(logits.argmax(alongAxis: 1).scalars, batch.labels).filter { Int($0) == $1 }.count
                correct += hits
                seen += batch.labels.count
                observe(.step(epoch: epoch, step: state.step, stepsInEpoch: steps, batchIndex: b, loss: lossValue,
                              accuracy: Float(hits) / Float(batch.labels.count), learningRate: learningRate))
            }
            state.epoch += 1
            state.model = model.state
            let train = config.trainMetrics == .full || seen == 0
                ? Trainer.evaluate(model, on: data.train)
                : SplitMetrics(loss: Float(lossSum / Double(seen)), accuracy: Float(correct) / Float(seen))
            let validation = data.validation.map { Trainer.evaluate(model, on: $0) }
            let test = data.test.map { Trainer.evaluate(model, on: $0) }
            var stopEarly = false
            if let v = validation, let patience = config.earlyStoppingPatience {
                if state.bestValidationLoss.map({ v.loss < $0 }) ?? true {
                    state.bestValidationLoss = v.loss
                    state.epochsWithoutImprovement = 0
                } else {
                    state.epochsWithoutImprovement += 1
                    stopEarly = state.epochsWithoutImprovement >= patience
                }
            }
            let metrics = EpochMetrics(epoch: state.epoch, step: state.step, learningRate: learningRate, batchSize: batchSize,
                                       train: train, validation: validation, test: test, seconds: Date().timeIntervalSince(started))
            observe(.epoch(metrics, state: state))
            if !train.loss.isFinite {
                observe(.diverged(epoch: epoch, step: state.step, loss: train.loss))
                return (.diverged, model, state)
            }
            if stopEarly { return (.earlyStopped, model, state) }
        }
        return (.completed, model, state)
    }

    /// Mean cross-entropy and accuracy of `model` on `data` in evaluation mode, in batches of 1,000.
    public static func evaluate(_ model: any Module, on data: LabeledData, batchSize: Int = 1000) -> SplitMetrics {
        guard data.count > 0 else { return SplitMetrics(loss: .nan, accuracy: .nan) }
        var lossSum = 0.0, correct = 0
        withoutGradients {
            for batch in BatchLoader(data: data, batchSize: batchSize, shuffleKey: nil) {
                let logits = model.inferring(batch.inputs)
                lossSum += Double(crossEntropy(logits: logits, labels: batch.labels).scalar) * Double(batch.labels.count)
                correct += zip(logits.argmax(alongAxis: 1).scalars, batch.labels).filter { Int($0) == $1 }.count
            }
        }
        return SplitMetrics(loss: Float(lossSum / Double(data.count)), accuracy: Float(correct) / Float(data.count))
    }
}
