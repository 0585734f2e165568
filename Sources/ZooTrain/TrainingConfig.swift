import ZooOptim

/// Everything that determines how one member trains, except the data and the model (which the
/// trainer receives built): epochs, batch size, optimizer, schedules, evaluation, checkpoints.
///
/// It is `Codable` so that it enters the run's canonical config and its identity.
public struct TrainingConfig: Codable, Sendable, Equatable {
    /// Passes over the training set.
    public var epochs: Int
    /// When set, training stops after this many optimizer steps (possibly mid-epoch).
    public var maxSteps: Int?
    /// Samples per step (the base of `batchSizeSchedule`).
    public var batchSize: Int
    public var optimizer: OptimizerConfig
    /// Learning rate per step (`scheduleUnit` says whether a step is an iteration or an epoch).
    public var schedule: LearningRateSchedule
    public var scheduleUnit: ScheduleUnit
    /// Batch size per epoch (Smith et al. 2017).
    public var batchSizeSchedule: BatchSizeSchedule
    /// Clip gradients to this global norm when set.
    public var gradientClipNorm: Float?
    /// Label smoothing ε of the cross-entropy.
    public var labelSmoothing: Float
    /// Stop when the validation loss has not improved for this many epochs (needs a validation split).
    public var earlyStoppingPatience: Int?
    /// How train loss and accuracy are reported each epoch.
    public var trainMetrics: TrainMetrics
    /// Stop a member once its train cross-entropy (evaluation mode, full pass: needs
    /// `trainMetrics == .full`) is at most this at the end of an epoch, as Jiang et al. (2019)
    /// train every network to one criterion; `epochs` stays the cap.
    public var stopAtTrainLoss: Float?
    /// Log the mean training loss of every this many optimizer steps (the last window of an epoch
    /// may be shorter) for the training-dynamics measures; nil: no logging. It does not change
    /// training.
    public var stepLossInterval: Int?
    /// Which split's per-example predictions each epoch's evaluation records (nil: none): for
    /// each example the predicted class and the softmax probabilities of the true and the
    /// predicted class (``SplitPredictions``), taken from the evaluation pass that measures the
    /// test accuracy (no second pass). It does not change training.
    public var recordPredictions: RecordedSplit?
    /// Optimizer steps after which the trainer reports its state (``TrainingEvent/snapshot(_:)``),
    /// so that a branch can rewind to step k of epoch 0 (Frankle et al. 2020). It does not change
    /// training. Nil or empty: none.
    public var checkpointSteps: [Int]?
    /// Learn sparsity with L0 gates under a density constraint (``L0Gates``); nil: no gates.
    public var l0: L0Gates?
    /// Seed of everything random in training: shuffles, dropout, augmentation.
    public var seed: UInt64

    /// A split whose predictions are recorded (``recordPredictions``).
    public enum RecordedSplit: String, Codable, Sendable, CaseIterable { case test }

    public enum ScheduleUnit: String, Codable, Sendable, CaseIterable { case epoch, step }

    public enum TrainMetrics: String, Codable, Sendable, CaseIterable {
        /// Only the running average over the epoch's batches, in training mode (free, but with
        /// dropout on and batch statistics: not a measure of the trained model).
        case running
        /// An evaluation-mode pass over the whole training set (about a third of an epoch's cost).
        case full
        /// An evaluation-mode pass over a fixed sample of the training set as large as the test
        /// set (the same sample for every run of a data set): the default.
        case sample
    }

    public init(epochs: Int = 10, maxSteps: Int? = nil, batchSize: Int = 32, optimizer: OptimizerConfig = .adam(Adam()),
                schedule: LearningRateSchedule = .constant, scheduleUnit: ScheduleUnit = .epoch,
                batchSizeSchedule: BatchSizeSchedule = .constant, gradientClipNorm: Float? = nil, labelSmoothing: Float = 0,
                earlyStoppingPatience: Int? = nil, trainMetrics: TrainMetrics = .sample, stopAtTrainLoss: Float? = nil,
                stepLossInterval: Int? = nil, recordPredictions: RecordedSplit? = nil, checkpointSteps: [Int]? = nil,
                l0: L0Gates? = nil, seed: UInt64 = 0) {
        self.l0 = l0
        self.recordPredictions = recordPredictions
        self.checkpointSteps = checkpointSteps
        self.stopAtTrainLoss = stopAtTrainLoss
        self.stepLossInterval = stepLossInterval
        self.epochs = epochs
        self.maxSteps = maxSteps
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.schedule = schedule
        self.scheduleUnit = scheduleUnit
        self.batchSizeSchedule = batchSizeSchedule
        self.gradientClipNorm = gradientClipNorm
        self.labelSmoothing = labelSmoothing
        self.earlyStoppingPatience = earlyStoppingPatience
        self.trainMetrics = trainMetrics
        self.seed = seed
    }

    /// Checks ranges; the error names the key and the value.
    public func validate() throws {
        func fail(_ key: String, _ value: Any, _ expected: String) -> TrainingConfigError {
            TrainingConfigError(description: "\(key) = \(value) is invalid: expected \(expected)", key: key)
        }
        guard epochs >= 1 || (maxSteps ?? 0) >= 1 else { throw fail("epochs", epochs, "at least 1") }
        if let s = maxSteps, s < 1 { throw fail("max-steps", s, "at least 1") }
        guard batchSize >= 1 else { throw fail("batch-size", batchSize, "at least 1") }
        if let c = gradientClipNorm, !(c > 0) { throw fail("clip-norm", c, "a positive number") }
        guard labelSmoothing >= 0 && labelSmoothing < 1 else { throw fail("label-smoothing", labelSmoothing, "a number in [0, 1)") }
        if let p = earlyStoppingPatience, p < 1 { throw fail("early-stopping", p, "at least 1 epoch") }
        if let c = stopAtTrainLoss {
            guard c > 0 && c.isFinite else { throw fail("stop-at-train-loss", c, "a positive number") }
            guard trainMetrics == .full else {
                throw TrainingConfigError(description: "stop-at-train-loss = \(c) needs the full-pass train loss: set train-metrics to full (it is \(trainMetrics.rawValue))",
                                          key: "stop-at-train-loss")
            }
        }
        if let n = stepLossInterval, n < 1 { throw fail("step-loss-interval", n, "at least 1 step") }
        if let s = checkpointSteps, let bad = s.first(where: { $0 < 1 }) { throw fail("checkpoint-steps", bad, "optimizer steps of at least 1") }
        try optimizer.validate()
        try schedule.validate()
        try l0?.validate()
    }
}

extension TrainingConfig {
    /// Optimizer steps of the epochs before `epoch` (each ⌈n / batch size⌉ steps at its scheduled
    /// batch size, for n = `trainCount` samples; a step limit is not counted).
    public func steps(before epoch: Int, trainCount: Int) -> Int {
        (0..<max(0, min(epoch, 1_000_000))).reduce(0) { sum, e in
            let b = max(1, batchSizeSchedule.batchSize(atStep: e, base: batchSize))
            return sum + (trainCount + b - 1) / b
        }
    }

    /// The counters (completed epochs, steps) of a run after `step` optimizer steps.
    public func counters(atStep step: Int, trainCount: Int) -> (epoch: Int, step: Int) {
        var epoch = 0, before = 0
        while epoch < 1_000_000 {
            let b = max(1, batchSizeSchedule.batchSize(atStep: epoch, base: batchSize))
            let next = before + (trainCount + b - 1) / b
            guard next <= step, next > before else { break }
            (epoch, before) = (epoch + 1, next)
        }
        return (epoch, step)
    }

    /// The counters at `point` (nil for `.end`, which only the run's last state knows).
    public func counters(at point: TrainingPoint, trainCount: Int) -> (epoch: Int, step: Int)? {
        switch point {
        case .end: nil
        case let .epoch(n): (n, steps(before: n, trainCount: trainCount))
        case let .step(k): counters(atStep: k, trainCount: trainCount)
        }
    }
}

/// A training setting out of range.
public struct TrainingConfigError: Error, CustomStringConvertible {
    public var description: String
    /// The setting at fault, as the command line spells it (`batch-size`, `clip-norm`); nil when unknown.
    public var key: String?
    public init(description: String, key: String? = nil) {
        self.description = description
        self.key = key
    }
}
