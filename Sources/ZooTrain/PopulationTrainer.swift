import Foundation
import Synchronization
import ZooData
import ZooNN
import ZooOptim
import ZooTensor

/// Trains K members of one architecture in one pass (Zoo's population mode).
///
/// Each member keeps everything it would have alone: its own seed (so its own shuffles and
/// dropout masks), optimizer kind and state, learning rate and schedule, weight decay, clipping.
/// What members share is the data, the architecture, the batch size and the number of epochs,
/// so their steps line up: each step stacks the members' batches and weights, runs one forward
/// and one backward pass through ``Population``, and updates each member with its own optimizer.
/// A member that diverges or stops early leaves the population; the others go on.
///
/// A member ends with the weights it would have had trained alone by ``Trainer``, up to float
/// rounding (kernels sum in a different order).
public struct PopulationTrainer: Sendable {
    public var members: [Trainer]
    /// Rows (members × batch size) one slice of the population stacks: slices run on separate
    /// threads, and a slice's activations stay in cache.
    public var rowsPerPass = 128

    /// - Precondition: the members agree on epochs, max steps, batch size and its schedule, and
    ///   label smoothing (``compatible(_:_:)``).
    public init(members: [Trainer]) {
        precondition(!members.isEmpty, "PopulationTrainer: needs at least one member")
        for m in members { precondition(Self.compatible(m, members[0]), "PopulationTrainer: members disagree on epochs, batch size or label smoothing") }
        self.members = members
    }

    /// Whether two members can train in one population.
    public static func compatible(_ a: Trainer, _ b: Trainer) -> Bool {
        a.config.epochs == b.config.epochs && a.config.maxSteps == b.config.maxSteps && a.config.batchSize == b.config.batchSize
            && a.config.batchSizeSchedule == b.config.batchSizeSchedule && a.config.labelSmoothing == b.config.labelSmoothing
            && a.frozen == b.frozen
    }

    /// One member's progress.
    private struct Member {
        var index: Int
        var trainer: Trainer
        var parameters: NamedTensors
        var state: TrainingState
        var epochStart: TrainingState
        var status: TrainingStatus?
        var lossSum = 0.0, correct = 0, seen = 0
        var learningRate: Float = 0
    }

    /// Trains every member from its state (or from scratch) to its end.
    /// - Parameters:
    ///   - models: the members' models, built with the same architecture.
    ///   - resume: per member, the state to continue from; all must be at the same epoch and step.
    ///   - observe: receives (member index, event) on the calling thread.
    ///   - stop: polled before every step; when it returns true every running member ends
    ///     `.interrupted` with the state of its last completed epoch.
    /// - Returns: per member, as ``Trainer/run(model:data:from:observe:stop:)``.
    /// - Throws: ``PopulationError`` when the models cannot be stacked.
    public func run(models: [any Module], data: TrainingData, from resume: [TrainingState?]? = nil,
                    observe: (Int, TrainingEvent) -> Void = { _, _ in }, stop: () -> Bool = { false }) throws
        -> [(status: TrainingStatus, model: any Module, state: TrainingState)]
    {
        precondition(models.count == members.count, "PopulationTrainer.run: \(models.count) models for \(members.count) members")
        _ = try Population(models)  // fails early when the members do not stack
        var all: [Member] = members.indices.map { k in
            var model = models[k]
            let state = resume?[k] ?? members[k].initialState(for: model)
            if resume?[k] != nil {
                do { try model.load(state.model) } catch { preconditionFailure("PopulationTrainer: the resumed state of member \(k) does not fit: \(error)") }
            }
            return Member(index: k, trainer: members[k], parameters: model.parameters, state: state, epochStart: state)
        }
        let (startEpoch, startStep) = (all[0].state.epoch, all[0].state.step)
        precondition(all.allSatisfy { $0.state.epoch == startEpoch && $0.state.step == startStep },
                     "PopulationTrainer.run: members must resume from the same epoch and step")
        let shared = members[0].config
        var epoch = startEpoch, step = startStep
        var stacks: [[Int]: Population] = [:]
        func running() -> [Int] { all.indices.filter { all[$0].status == nil } }
        func finish(_ k: Int, _ status: TrainingStatus) { all[k].status = status }

        epochs: while epoch < shared.epochs {
            if let m = shared.maxSteps, step >= m { break }
            let started = Date()
            let batchSize = shared.batchSizeSchedule.batchSize(atStep: epoch, base: shared.batchSize)
            let active = running()
            if active.isEmpty { break }
            let loaders = active.map { k in
                BatchLoader(data: data.train, batchSize: batchSize, shuffleKey: all[k].trainer.rootKey.derived("shuffle").derived(epoch),
                            augmentation: data.augmentation, augmentationKey: all[k].trainer.rootKey.derived("augment").derived(epoch))
            }
            for k in active {
                all[k].epochStart = all[k].state
                (all[k].lossSum, all[k].correct, all[k].seen) = (0, 0, 0)
            }
            var members = active  // the population's members, in order
            let steps = loaders[0].batchCount
            let loaderOf = Dictionary(uniqueKeysWithValues: active.enumerated().map { ($1, $0) })
            for b in 0..<steps {
                if stop() {
                    for k in running() { all[k].state = all[k].epochStart; finish(k, .interrupted) }
                    break epochs
                }
                if let m = shared.maxSteps, step >= m { break }
                for k in members {
                    let unit = all[k].trainer.config.scheduleUnit == .epoch ? epoch : step
                    let optimizer = all[k].trainer.config.optimizer.optimizer
                    all[k].learningRate = all[k].trainer.config.schedule.learningRate(atStep: unit, base: optimizer.learningRate)
                }
                // Slices of members go through forward, backward and update in parallel, one
                // thread each; a slice is small enough that its activations stay in cache.
                let perSlice = max(1, rowsPerPass / max(1, batchSize))
                let slices = stride(from: 0, to: members.count, by: perSlice).map { Array(members[$0 ..< min(members.count, $0 + perSlice)]) }
                // A slice's structure is built once and reused while its members stay the same.
                for slice in slices where stacks[slice] == nil {
                    stacks[slice] = try Population(slice.map { Self.module(models[$0], all[$0].parameters) })
                }
                let populations = slices.map { stacks[$0]! }
                var results = [StepResult?](repeating: nil, count: all.count)
                let snapshot = all, currentStep = step
                try results.withUnsafeMutableBufferPointer { out in
                    let target = UncheckedPointer(out)
                    let failure = Mutex<Error?>(nil)
                    BLAS.parallelFor(slices.count) { s, _ in
                        BLAS.withThreadCount(1) {
                            do {
                                let slice = slices[s]
                                let batches = slice.map { loaders[loaderOf[$0]!].batch(b) }
                                let stepped = try self.step(slice.map { snapshot[$0] }, population: populations[s], batches: batches, step: currentStep)
                                for (k, r) in zip(slice, stepped) { target.buffer[k] = r }
                            } catch { failure.withLock { $0 = $0 ?? error } }
                        }
                    }
                    if let error = failure.withLock({ $0 }) { throw error }
                }
                for k in members {
                    let r = results[k]!
                    guard let parameters = r.parameters, let optimizerState = r.optimizerState else {
                        observe(k, .diverged(epoch: epoch, step: step, loss: Float(r.loss)))
                        all[k].state = all[k].epochStart
                        finish(k, .diverged)
                        continue
                    }
                    all[k].lossSum += r.loss * Double(r.count)
                    all[k].correct += r.hits
                    all[k].seen += r.count
                    all[k].parameters = parameters
                    all[k].state.optimizer = optimizerState
                    all[k].state.step += 1
                    observe(k, .step(epoch: epoch, step: all[k].state.step, stepsInEpoch: steps, batchIndex: b, loss: Float(r.loss),
                                     accuracy: Float(r.hits) / Float(r.count), learningRate: all[k].learningRate))
                }
                step += 1
                members = members.filter { all[$0].status == nil }
                if members.isEmpty { break epochs }
            }
            epoch += 1
            // Evaluate the survivors together, then report and check early stopping per member.
            let survivors = members
            let evaluation = try Self.evaluate(survivors.map { Self.module(models[$0], all[$0].parameters) }, data: data,
                                               trainFull: shared.trainMetrics == .full)
            for (slot, k) in survivors.enumerated() {
                var m = all[k]
                m.state.epoch = epoch
                m.state.model = m.parameters
                let train = evaluation.train?[slot] ?? (m.seen == 0 ? SplitMetrics(loss: .nan, accuracy: .nan)
                    : SplitMetrics(loss: Float(m.lossSum / Double(m.seen)), accuracy: Float(m.correct) / Float(m.seen)))
                let validation = evaluation.validation?[slot], test = evaluation.test?[slot]
                var stopEarly = false
                if let v = validation, let patience = m.trainer.config.earlyStoppingPatience {
                    if m.state.bestValidationLoss.map({ v.loss < $0 }) ?? true {
                        m.state.bestValidationLoss = v.loss
                        m.state.epochsWithoutImprovement = 0
                    } else {
                        m.state.epochsWithoutImprovement += 1
                        stopEarly = m.state.epochsWithoutImprovement >= patience
                    }
                }
                all[k] = m
                let metrics = EpochMetrics(epoch: epoch, step: m.state.step, learningRate: m.learningRate, batchSize: batchSize,
                                           train: train, validation: validation, test: test, seconds: Date().timeIntervalSince(started))
                observe(k, .epoch(metrics, state: m.state))
                if !train.loss.isFinite {
                    observe(k, .diverged(epoch: epoch - 1, step: m.state.step, loss: train.loss))
                    finish(k, .diverged)
                } else if stopEarly {
                    finish(k, .earlyStopped)
                }
            }
        }
        return all.map { m in
            (m.status ?? .completed, Self.module(models[m.index], m.state.model), m.state)
        }
    }

    /// What one member's step produced; no parameters when its loss was not finite.
    private struct StepResult {
        var loss: Double
        var hits: Int
        var count: Int
        var parameters: NamedTensors?
        var optimizerState: NamedTensors?
    }

    /// One step of a slice of members: stacked forward and backward, then each member's own update.
    private func step(_ slice: [Member], population stack: Population, batches: [Batch], step: Int) throws -> [StepResult] {
        var population = stack
        population.parameters = Population.stack(slice.map(\.parameters))
        let inputs = Tensor.concatenated(batches.map(\.inputs)), labels = batches.flatMap(\.labels)
        let tracked = members[0].trainable(population.parameters).requiringGradient()
        var merged = population.parameters
        for (name, t) in tracked { merged[name] = t }
        population.parameters = merged
        let contexts = slice.map { ForwardContext.training(key: $0.trainer.rootKey.derived("dropout").derived(step)) }
        let logits = population(inputs, contexts: contexts)
        let n = batches[0].labels.count
        // Σ over members of each member's mean loss: every member's gradient is its own.
        let loss = crossEntropy(logits: logits, labels: labels, labelSmoothing: members[0].config.labelSmoothing, divisor: n)
        let rows = Self.rowLosses(logits, labels, smoothing: members[0].config.labelSmoothing)
        let hits = Self.rowHits(logits, labels)
        let grads = gradients(of: loss, wrt: tracked)
        let current = population.parameters.detached()
        return slice.enumerated().map { slot, m in
            let memberLoss = rows[slot * n ..< (slot + 1) * n].reduce(0, +) / Double(n)
            let memberHits = hits[slot * n ..< (slot + 1) * n].reduce(0, +)
            guard memberLoss.isFinite else { return StepResult(loss: memberLoss, hits: memberHits, count: n) }
            var g = Population.unstack(grads, count: slice.count, member: slot)
            if let c = m.trainer.config.gradientClipNorm { g = clipByGlobalNorm(g, maxNorm: c).gradients }
            var next = Population.unstack(current, count: slice.count, member: slot)
            let updated = m.trainer.config.optimizer.optimizer.update(parameters: m.trainer.trainable(next), gradients: g,
                                                                      state: m.state.optimizer, learningRate: m.learningRate)
            for (name, t) in updated.parameters { next[name] = t }
            return StepResult(loss: memberLoss, hits: memberHits, count: n, parameters: next, optimizerState: updated.state)
        }
    }

    /// `model` carrying `parameters` (stackable models have no buffers: parameters are the state).
    private static func module(_ model: any Module, _ parameters: NamedTensors) -> any Module {
        var m = model
        m.parameters = parameters
        return m
    }

    /// Per-row cross-entropy of `[rows, classes]` logits, in Double (label smoothing ε as in ``crossEntropy``).
    static func rowLosses(_ logits: Tensor, _ labels: [Int], smoothing: Float) -> [Double] {
        let classes = logits.shape[1], s = logits.scalars, eps = Double(smoothing)
        return labels.enumerated().map { r, label in
            let row = s[r * classes ..< (r + 1) * classes]
            let top = Double(row.max() ?? 0)
            let lse = top + log(row.reduce(0.0) { $0 + exp(Double($1) - top) })
            let nll = lse - Double(row[r * classes + label])
            if eps == 0 { return nll }
            let mean = lse - row.reduce(0.0) { $0 + Double($1) } / Double(classes)
            return (1 - eps) * nll + eps * mean
        }
    }

    /// Per-row 1 when the argmax is the label.
    static func rowHits(_ logits: Tensor, _ labels: [Int]) -> [Int] {
        let classes = logits.shape[1], s = logits.scalars
        return labels.enumerated().map { r, label in
            var best = 0
            for c in 1..<classes where s[r * classes + c] > s[r * classes + best] { best = c }
            return best == label ? 1 : 0
        }
    }

    /// Evaluation-mode loss and accuracy of every member on the held-out splits (and on the
    /// training set when asked): slices of members stacked over shared batches, in parallel.
    static func evaluate(_ models: [any Module], data: TrainingData, trainFull: Bool) throws
        -> (train: [SplitMetrics]?, validation: [SplitMetrics]?, test: [SplitMetrics]?)
    {
        guard !models.isEmpty else { return (nil, nil, nil) }
        // A fixed batch per member keeps each member's numbers independent of the population's size.
        let batch = 100, perSlice = 8
        let slices = stride(from: 0, to: models.count, by: perSlice).map { $0 ..< min(models.count, $0 + perSlice) }
        let populations = try slices.map { try Population(Array(models[$0])) }
        func on(_ split: LabeledData) -> [SplitMetrics] {
            let k = models.count
            guard split.count > 0 else { return Array(repeating: SplitMetrics(loss: .nan, accuracy: .nan), count: k) }
            var metrics = [SplitMetrics](repeating: SplitMetrics(loss: .nan, accuracy: .nan), count: k)
            metrics.withUnsafeMutableBufferPointer { out in
                let target = UncheckedPointer(out)
                BLAS.parallelFor(slices.count) { s, _ in
                    BLAS.withThreadCount(1) {
                        let range = slices[s], population = populations[s], count = range.count
                        var loss = [Double](repeating: 0, count: count), correct = [Int](repeating: 0, count: count)
                        withoutGradients {
                            for b in BatchLoader(data: split, batchSize: batch, shuffleKey: nil) {
                                let x = Tensor.concatenated(Array(repeating: b.inputs, count: count))
                                let labels = Array([[Int]](repeating: b.labels, count: count).joined())
                                let logits = population(x, contexts: Array(repeating: .inference, count: count))
                                let rows = rowLosses(logits, labels, smoothing: 0), hits = rowHits(logits, labels)
                                let n = b.labels.count
                                for m in 0..<count {
                                    loss[m] += rows[m * n ..< (m + 1) * n].reduce(0, +)
                                    correct[m] += hits[m * n ..< (m + 1) * n].reduce(0, +)
                                }
                            }
                        }
                        for m in 0..<count {
                            target.buffer[range.lowerBound + m] = SplitMetrics(loss: Float(loss[m] / Double(split.count)),
                                                                               accuracy: Float(correct[m]) / Float(split.count))
                        }
                    }
                }
            }
            return metrics
        }
        return (trainFull ? on(data.train) : nil, data.validation.map(on), data.test.map(on))
    }
}

/// A buffer the slices of one step write to, each at its own members' indices.
private struct UncheckedPointer<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}
