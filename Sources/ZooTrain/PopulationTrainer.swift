import Foundation
import Synchronization
import ZooData
import ZooNN
import ZooOptim
import ZooTensor

/// Zoo's one training engine: trains K members in one pass when they stack, one member (a
/// population of one) otherwise. ``Trainer/run(model:data:from:observe:stop:)``, `zoo train`,
/// `zoo sweep run` and `zoo-bench` all go through its step, epoch and evaluation code.
///
/// Each member keeps everything it would have alone: its own seed (so its own shuffles and
/// dropout masks), optimizer kind and state, learning rate and schedule, weight decay, clipping,
/// early stopping. What members share is ``SharedSettings`` (data, batch size and its schedule,
/// epochs, frozen parameters, loss, train metrics), so their steps line up: each step stacks the
/// members' batches and weights, runs one forward and one backward pass through ``Population``,
/// and updates each member with its own optimizer. A member that diverges or stops early leaves
/// the population; the others go on. Members whose architectures do not stack (``Population/signature(of:)``)
/// train in separate populations, one after another.
///
/// A member's numbers do not depend on the other members: it ends bit-identical to the same
/// member trained alone on the same machine.
public struct PopulationTrainer: Sendable {
    public var members: [Trainer]
    /// Rows (members × batch size) one slice of the population stacks: slices run on separate
    /// threads, and a slice's activations stay in cache.
    public var rowsPerPass = 128
    /// Rows per member in an evaluation pass, and members per evaluation slice: at most 128
    /// rows a pass, as in training, so that a pass's activations stay in cache (800-row passes
    /// ran zoo-cnn's forward pass at half the speed per row).
    static let evaluationBatch = 32, evaluationSlice = 4

    /// What the members of one population must share: everything that fixes the sequence of
    /// steps and evaluations. This is the one definition of compatibility: the planner groups
    /// runs by ``RunConfig/populationKey(model:)``, which is built from it.
    public struct SharedSettings: Codable, Equatable, Sendable {
        public var epochs: Int
        public var maxSteps: Int?
        public var batchSize: Int
        public var batchSizeSchedule: BatchSizeSchedule
        public var trainMetrics: TrainingConfig.TrainMetrics
        public var frozen: [String]
        /// Nil when every parameter not frozen trains (so that the key of such runs is unchanged).
        public var trainOnly: [String]?
        /// The L0 gates' temperature (their noise is drawn for all members of a pass alike); nil without gates.
        public var gateTemperature: Float?
        public var loss: String

        public init(_ t: Trainer) {
            epochs = t.config.epochs
            maxSteps = t.config.maxSteps
            batchSize = t.config.batchSize
            batchSizeSchedule = t.config.batchSizeSchedule
            trainMetrics = t.config.trainMetrics
            frozen = t.frozen
            trainOnly = t.trainOnly.isEmpty ? nil : t.trainOnly
            gateTemperature = t.config.l0?.temperature
            loss = t.loss.name
        }
    }

    /// - Throws: ``TrainingError`` when there is no member or the members disagree on ``SharedSettings``.
    public init(members: [Trainer]) throws {
        guard let first = members.first else { throw TrainingError("a population needs at least one member") }
        let shared = SharedSettings(first)
        if let k = members.firstIndex(where: { SharedSettings($0) != shared }) {
            throw TrainingError("member \(k) cannot train with member 0: they differ in epochs, steps, batch size, frozen parameters, loss or train metrics (\(SharedSettings(members[k])) vs \(shared))")
        }
        self.members = members
    }

    init(unchecked members: [Trainer]) { self.members = members }

    /// One member's progress.
    struct Member {
        var index: Int
        var trainer: Trainer
        /// The current weights and buffers.
        var model: any Module
        var state: TrainingState
        var epochStart: TrainingState
        var status: TrainingStatus?
        var runningLoss = 0.0, runningCorrect = 0, runningSeen = 0
        /// The epoch's logged window means, and the open window's sum and length.
        var logged: [Float] = [], windowLoss = 0.0, windowSteps = 0
        var learningRate: Float = 0
        /// This member's share of the epoch's seconds.
        var seconds = 0.0

        /// Logs the open window's mean loss.
        mutating func closeWindow() {
            logged.append(Float(windowLoss / Double(windowSteps)))
            (windowLoss, windowSteps) = (0, 0)
        }

        init(index: Int, trainer: Trainer, model: any Module, state: TrainingState) {
            self.index = index
            self.trainer = trainer
            self.model = model
            self.state = state
            self.epochStart = state
        }
    }

    /// Trains every member from its state (or from scratch) to its end.
    /// - Parameters:
    ///   - models: the members' models.
    ///   - resume: per member, the state to continue from; members that stack must be at the same epoch and step.
    ///   - observe: receives (member index, event) on the calling thread.
    ///   - stop: polled before every step; when it returns true every running member ends
    ///     `.interrupted` with the state of its last completed epoch.
    /// - Returns: per member, how it ended.
    /// - Throws: ``TrainingError`` when a resumed state does not fit its model, the members are
    ///   at different points, or the data has no training samples.
    public func run(models: [any Module], data: TrainingData, from resume: [TrainingState?]? = nil,
                    observe: (Int, TrainingEvent) -> Void = { _, _ in }, stop: () -> Bool = { false }) throws -> [TrainingResult]
    {
        guard models.count == members.count else { throw TrainingError("\(models.count) models for \(members.count) members") }
        guard resume == nil || resume!.count == members.count else { throw TrainingError("\(resume!.count) resume states for \(members.count) members") }
        guard data.train.count > 0 else { throw TrainingError("the training set has no samples") }
        // Members that do not stack train in separate populations, one after another.
        let groups = Self.stackingGroups(models)
        if groups.count > 1 {
            var results = [TrainingResult?](repeating: nil, count: models.count)
            for group in groups {
                let part = try PopulationTrainer(unchecked: group.map { members[$0] }).run(
                    models: group.map { models[$0] }, data: data, from: group.map { resume?[$0] },
                    observe: { observe(group[$0], $1) }, stop: stop)
                for (k, r) in zip(group, part) { results[k] = r }
            }
            return results.map { $0! }
        }
        var all: [Member] = try members.indices.map { k in
            var model = models[k]
            do { try members[k].validate(model: model, data: data, resume: resume?[k]) } catch let e as TrainingError {
                throw models.count == 1 ? e : TrainingError("member \(k): \(e.description)")
            }
            let state = resume?[k] ?? members[k].initialState(for: model)
            if resume?[k] != nil { try model.load(state.model) }
            return Member(index: k, trainer: members[k], model: model, state: state)
        }
        guard all.allSatisfy({ $0.state.epoch == all[0].state.epoch && $0.state.step == all[0].state.step }) else {
            throw TrainingError("members must resume from the same epoch and step: \(all.map { "\($0.state.epoch)/\($0.state.step)" })")
        }
        try train(&all, data: data, observe: observe, stop: stop)
        return all.map { m in
            var model = m.model
            try? model.load(m.state.model)  // the state came from this model: it fits
            return TrainingResult(status: m.status ?? .completed, model: model, state: m.state)
        }
    }

    /// Indices of `models` grouped into populations that stack (in order of first appearance).
    static func stackingGroups(_ models: [any Module]) -> [[Int]] {
        var groups: [[Int]] = [], keys: [String] = []
        for (k, m) in models.enumerated() {
            guard let s = try? Population.signature(of: m) else { groups.append([k]); keys.append("\u{0}alone \(k)"); continue }
            if let g = keys.firstIndex(of: s) { groups[g].append(k) } else { groups.append([k]); keys.append(s) }
        }
        return groups
    }

    /// The epoch loop of members that stack (or of one member).
    private func train(_ all: inout [Member], data: TrainingData, observe: (Int, TrainingEvent) -> Void, stop: () -> Bool) throws {
        let shared = members[0].config
        var epoch = all[0].state.epoch, step = all[0].state.step
        var stacks: [[Int]: Population] = [:]
        let trainSample = Self.trainEvaluationSet(data, shared.trainMetrics)
        epochs: while epoch < shared.epochs {
            if let m = shared.maxSteps, step >= m { break }
            let started = Date()
            let batchSize = shared.batchSizeSchedule.batchSize(atStep: epoch, base: shared.batchSize)
            var active = all.indices.filter { all[$0].status == nil }
            if active.isEmpty { break }
            let loaders = Dictionary(uniqueKeysWithValues: active.map { k in
                (k, BatchLoader(data: data.train, batchSize: batchSize, shuffleKey: all[k].trainer.rootKey.derived("shuffle").derived(epoch),
                                augmentation: data.augmentation, augmentationKey: all[k].trainer.rootKey.derived("augment").derived(epoch)))
            })
            for k in active {
                all[k].epochStart = all[k].state
                (all[k].runningLoss, all[k].runningCorrect, all[k].runningSeen, all[k].seconds) = (0, 0, 0, 0)
                (all[k].logged, all[k].windowLoss, all[k].windowSteps) = ([], 0, 0)
            }
            let steps = loaders[active[0]]!.batchCount
            // A branch from a step checkpoint starts mid-epoch: the batches before its step were taken.
            let skipped = max(0, min(steps, step - shared.steps(before: epoch, trainCount: data.train.count)))
            for b in skipped..<steps {
                if stop() {
                    for k in active { all[k].state = all[k].epochStart; all[k].status = .interrupted }
                    break epochs
                }
                if let m = shared.maxSteps, step >= m { break }
                for k in active { all[k].learningRate = all[k].trainer.learningRate(epoch: epoch, step: step) }
                // Slices of members go through forward, backward and update in parallel, one
                // thread each; a slice is small enough that its activations stay in cache.
                let perSlice = max(1, rowsPerPass / batchSize)
                let slices = stride(from: 0, to: active.count, by: perSlice).map { Array(active[$0 ..< min(active.count, $0 + perSlice)]) }
                for slice in slices where stacks[slice] == nil {
                    stacks[slice] = try Population(slice.map { all[$0].model })
                }
                let snapshot = all, currentStep = step, populations = slices.map { stacks[$0]! }
                let outcomes = Self.forEachSlice(slices.count) { s -> ([Stepped], Double) in
                    var population = populations[s]
                    let t0 = Date()
                    let out = self.step(slices[s].map { snapshot[$0] }, population: &population,
                                        batches: slices[s].map { loaders[$0]!.batch(b) }, step: currentStep)
                    return (out, Date().timeIntervalSince(t0))
                }
                for (slice, (results, seconds)) in zip(slices, outcomes) {
                    for (k, r) in zip(slice, results) {
                        all[k].seconds += seconds / Double(slice.count)
                        guard let next = r.next else {
                            observe(k, .diverged(epoch: epoch, step: step, loss: Float(r.measured.loss)))
                            all[k].state = all[k].epochStart
                            all[k].status = .diverged
                            continue
                        }
                        all[k].model = next.model
                        all[k].state.optimizer = next.optimizer
                        (all[k].state.gates, all[k].state.gateMultiplier) = (next.gates, next.multiplier)
                        all[k].state.step += 1
                        all[k].runningLoss += r.measured.loss * Double(r.measured.count)
                        all[k].runningCorrect += r.measured.correct
                        all[k].runningSeen += r.measured.count
                        if let interval = all[k].trainer.config.stepLossInterval {
                            all[k].windowLoss += r.measured.loss
                            all[k].windowSteps += 1
                            if all[k].windowSteps == interval { all[k].closeWindow() }
                        }
                        observe(k, .step(epoch: epoch, step: all[k].state.step, stepsInEpoch: steps, batchIndex: b, loss: Float(r.measured.loss),
                                         accuracy: Float(r.measured.correct) / Float(r.measured.count), learningRate: all[k].learningRate))
                        if all[k].trainer.config.checkpointSteps?.contains(all[k].state.step) == true {
                            var snapshot = all[k].state
                            snapshot.model = all[k].model.state
                            observe(k, .snapshot(snapshot))
                        }
                    }
                }
                step += 1
                active = active.filter { all[$0].status == nil }
                if active.isEmpty { break epochs }
            }
            epoch += 1
            // Evaluate the survivors together, then report and check early stopping per member.
            let evaluated = Date()
            // Gated members are evaluated with their deterministic gates.
            let models = active.map { k -> any Module in
                guard !all[k].state.gates.isEmpty else { return all[k].model }
                var gated = all[k].model
                gated.parameters = L0Gates.gated(gated.parameters, locations: all[k].state.gates)
                return gated
            }
            // The splits evaluated each epoch, the members grouped and stacked once for all of them.
            let splits = [trainSample, data.validation, data.test].compactMap { $0 }
            // The test split's predictions come from the pass that measures it, for all members
            // of the pass when any of them records them.
            let predicting = data.test != nil && active.contains { all[$0].trainer.config.recordPredictions == .test }
            let results = try Self.evaluate(models, on: splits, predicting: predicting ? splits.count - 1 : nil)
            var taken = 0
            func metrics(_ split: LabeledData?) -> [SplitMetrics]? {
                guard split != nil else { return nil }
                defer { taken += 1 }
                return results[taken].map(\.metrics)
            }
            let train = metrics(trainSample), validation = metrics(data.validation), test = metrics(data.test)
            let testPredictions = predicting ? results[splits.count - 1].map(\.predictions) : nil
            let evaluationSeconds = Date().timeIntervalSince(evaluated)
            let evaluationShare = evaluationSeconds / Double(max(1, active.count))
            for (slot, k) in active.enumerated() {
                var m = all[k]
                m.state.epoch = epoch
                m.state.model = m.model.state
                m.seconds += evaluationShare
                let running = SplitMetrics(loss: m.runningSeen == 0 ? .nan : Float(m.runningLoss / Double(m.runningSeen)),
                                           accuracy: m.runningSeen == 0 ? .nan : Float(m.runningCorrect) / Float(m.runningSeen))
                var stopEarly = false
                if let v = validation?[slot], let patience = m.trainer.config.earlyStoppingPatience {
                    if m.state.bestValidationLoss.map({ v.loss < $0 }) ?? true {
                        m.state.bestValidationLoss = v.loss
                        m.state.epochsWithoutImprovement = 0
                    } else {
                        m.state.epochsWithoutImprovement += 1
                        stopEarly = m.state.epochsWithoutImprovement >= patience
                    }
                }
                if m.windowSteps > 0 { m.closeWindow() }
                let logged = m.trainer.config.stepLossInterval.map { LoggedLosses(interval: $0, firstStep: m.epochStart.step, means: m.logged) }
                let metrics = EpochMetrics(epoch: epoch, step: m.state.step, learningRate: m.learningRate, batchSize: batchSize,
                                           train: train?[slot], running: running, validation: validation?[slot], test: test?[slot],
                                           seconds: Date().timeIntervalSince(started), evaluationSeconds: evaluationSeconds,
                                           memberSeconds: m.seconds, stepLosses: logged,
                                           testPredictions: m.trainer.config.recordPredictions == .test ? testPredictions?[slot] : nil)
                observe(k, .epoch(metrics, state: m.state))
                let trainLoss = (train?[slot] ?? running).loss
                if !trainLoss.isFinite {
                    observe(k, .diverged(epoch: epoch - 1, step: m.state.step, loss: trainLoss))
                    m.status = .diverged
                } else if let criterion = m.trainer.config.stopAtTrainLoss, let t = train?[slot], t.loss <= criterion {
                    m.status = .reachedCriterion
                } else if stopEarly {
                    m.status = .earlyStopped
                }
                all[k] = m
            }
        }
    }

    /// What one member's step produced: its measurements and, unless it diverged, its new
    /// model (weights and buffers) and optimizer state.
    struct Stepped: Sendable {
        var measured: StepResult
        var next: (model: any Module, optimizer: NamedTensors, gates: NamedTensors, multiplier: Float)?
    }

    /// The one training step: a slice of members stacked through forward and backward, then each
    /// member's own clipping and update. Members' rows never mix, so each gradient is the member's own.
    func step(_ slice: [Member], population: inout Population, batches: [Batch], step: Int) -> [Stepped] {
        let trainer = slice[0].trainer
        population.parameters = Population.stack(slice.map(\.model.parameters))
        if slice.count == 1 { population.buffers = slice[0].model.buffers }
        let inputs = batches.count == 1 ? batches[0].inputs : Tensor.concatenated(batches.map(\.inputs))
        let labels = batches.count == 1 ? batches[0].labels : batches.flatMap(\.labels)
        let tracked = trainer.trainable(population.parameters).requiringGradient()
        let current = population.parameters.detached()
        var merged = population.parameters
        for (name, t) in tracked { merged[name] = t }
        // L0 gates: each gated weight enters the forward pass times a gate drawn for its member.
        let locations = trainer.config.l0 == nil ? NamedTensors() : Population.stack(slice.map(\.state.gates)).requiringGradient()
        var penalty: Tensor?
        if let l0 = trainer.config.l0 {
            // λ_k · E[open gates] / N_k: each member's own multiplier over its gate count.
            let coefficients = slice.map { Float(Double($0.state.gateMultiplier) / Double($0.state.gates.elementCount)) }
            for (index, (name, location)) in locations.enumerated() {
                let size = location.count / slice.count
                let noise = slice.flatMap { m in
                    m.trainer.rootKey.derived("l0").derived(step).derived(index).uniform(count: size).map { $0 * (1 - 2e-6) + 1e-6 }
                }
                merged[name] = merged[name]! * l0.sample(location, noise: Tensor(shape: location.shape, scalars: noise))
                let weights = coefficients.flatMap { [Float](repeating: $0, count: size) }
                let term = (l0.openProbability(location) * Tensor(shape: location.shape, scalars: weights)).sum()
                penalty = penalty.map { $0 + term } ?? term
            }
        }
        population.parameters = merged
        let contexts = slice.map { ForwardContext.training(key: $0.trainer.rootKey.derived("dropout").derived(step)) }
        let logits = population(inputs, contexts: contexts)
        let n = batches[0].labels.count
        // Σ over members of each member's mean loss: every member's gradient is its own.
        let rows = trainer.loss.rows(logits, labels)
        let loss = rows.sum() / Float(n)
        let rowLosses = rows.scalars, hits = rowHits(logits, labels)
        let grads = gradients(of: penalty.map { loss + $0 } ?? loss, wrt: trainer.optimized(tracked, gates: locations))
        let buffers = population.buffers
        return slice.enumerated().map { slot, m in
            let memberLoss = rowLosses[slot * n ..< (slot + 1) * n].reduce(0.0) { $0 + Double($1) } / Double(n)
            let measured = StepResult(loss: memberLoss, correct: hits[slot * n ..< (slot + 1) * n].reduce(0, +), count: n)
            guard memberLoss.isFinite else { return Stepped(measured: measured) }
            // A pruned weight gets no gradient (so no optimizer state and no share of the clipped
            // norm) and stays exactly 0 after the update (no weight decay either).
            let masks = m.state.masks
            let member = m.trainer.separated(Population.unstack(grads, count: slice.count, member: slot))
            var g = member.parameters.masked(by: masks)
            // Clipping bounds the weights' gradient; the gates' is their own.
            if let c = m.trainer.config.gradientClipNorm { g = clipByGlobalNorm(g, maxNorm: c).gradients }
            var next = Population.unstack(current, count: slice.count, member: slot)
            let updated = m.trainer.config.optimizer.optimizer.update(
                parameters: m.trainer.optimized(m.trainer.trainable(next), gates: m.state.gates),
                gradients: m.trainer.optimized(g, gates: member.gates), state: m.state.optimizer, learningRate: m.learningRate)
            let (parameters, gates) = m.trainer.separated(updated.parameters)
            for (name, t) in parameters.masked(by: masks) { next[name] = t }
            let multiplier = m.trainer.config.l0.map { $0.updatedMultiplier(m.state.gateMultiplier, density: $0.expectedDensity(gates)) } ?? 0
            var model = m.model
            model.parameters = next
            if slice.count == 1 { model.buffers = buffers }
            return Stepped(measured: measured, next: (model, updated.state, gates, multiplier))
        }
    }

    /// Runs `body` for slices `0..<count`: on Zoo's threads one slice each when there are several,
    /// on the calling thread (with all its compute threads) when there is one. Kernels give the
    /// same bits on any thread count, so a member's numbers do not depend on which.
    package static func forEachSlice<T: Sendable>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
        if count == 1 { return [body(0)] }
        let results = Mutex<[Int: T]>([:])
        BLAS.parallelFor(count) { s, _ in
            let r = BLAS.withThreadCount(1) { body(s) }
            results.withLock { $0[s] = r }
        }
        return results.withLock { out in (0..<count).map { out[$0]! } }
    }

    /// How many training samples the train metrics evaluate each epoch: none for `.running`, all
    /// for `.full`, as many as the test set (or validation set) has for `.sample`, at most all.
    public static func trainEvaluationCount(_ data: TrainingData, _ metrics: TrainingConfig.TrainMetrics) -> Int {
        switch metrics {
        case .running: return 0
        case .full: return data.train.count
        case .sample: return min(data.train.count, data.test?.count ?? data.validation?.count ?? data.train.count)
        }
    }

    /// The part of the training set the train metrics are measured on, or nil for `.running`.
    static func trainEvaluationSet(_ data: TrainingData, _ metrics: TrainingConfig.TrainMetrics) -> LabeledData? {
        let size = trainEvaluationCount(data, metrics)
        guard size > 0 else { return nil }
        guard size < data.train.count else { return data.train }
        // One fixed sample for every run of a data set, whatever its seed: runs compare on the same images.
        return data.train.selecting(Array(RandomKey(seed: 0, stream: 0x7472_6576_616c).permutation(data.train.count).prefix(size)).sorted())  // "treval"
    }

    /// Evaluation-mode cross-entropy and accuracy of each model on `split`: models that stack in
    /// slices of up to 4 over shared batches of 32 rows per member, in parallel; each member's
    /// numbers are independent of the others'.
    public static func evaluate(_ models: [any Module], on split: LabeledData) throws -> [SplitMetrics] {
        try evaluate(models, on: [split])[0].map(\.metrics)
    }

    /// One model's metrics on one split, and its per-example predictions when asked for.
    struct Evaluated: Sendable {
        var metrics: SplitMetrics
        var predictions: SplitPredictions?
    }

    /// ``evaluate(_:on:)`` on several splits, with the members grouped and stacked once.
    /// - Parameter predicting: the index of the split whose per-example predictions to keep.
    /// - Returns: per split, per model.
    static func evaluate(_ models: [any Module], on splits: [LabeledData], predicting: Int? = nil) throws -> [[Evaluated]] {
        guard !models.isEmpty else { return splits.map { _ in [] } }
        let slices = stackingGroups(models).flatMap { group in
            stride(from: 0, to: group.count, by: evaluationSlice).map { Array(group[$0 ..< min(group.count, $0 + evaluationSlice)]) }
        }
        let populations = try slices.map { try Population($0.map { models[$0] }) }
        let results = forEachSlice(slices.count) { s -> [[Evaluated]] in
            splits.indices.map { i in evaluate(populations[s], count: slices[s].count, on: splits[i], predicting: i == predicting) }
        }
        return splits.indices.map { i in
            var out = [Evaluated](repeating: Evaluated(metrics: SplitMetrics(loss: .nan, accuracy: .nan)), count: models.count)
            for (slice, metrics) in zip(slices, results) { for (k, m) in zip(slice, metrics[i]) { out[k] = m } }
            return out
        }
    }

    /// The metrics of the `count` members of `population` on `split`, in batches of 32 rows per
    /// member; with `predicting`, each member's predictions too, from the same logits.
    private static func evaluate(_ population: Population, count: Int, on split: LabeledData, predicting: Bool) -> [Evaluated] {
        guard split.count > 0 else { return Array(repeating: Evaluated(metrics: SplitMetrics(loss: .nan, accuracy: .nan)), count: count) }
        var loss = [Double](repeating: 0, count: count), correct = [Int](repeating: 0, count: count)
        var predictions = [SplitPredictions](repeating: SplitPredictions(classes: 0, predicted: [], labels: [], trueClassProbability: [],
                                                                         predictedClassProbability: []), count: predicting ? count : 0)
        withoutGradients {
            let crossEntropy = Loss.crossEntropy()
            for b in BatchLoader(data: split, batchSize: evaluationBatch, shuffleKey: nil) {
                let x = count == 1 ? b.inputs : Tensor.concatenated(Array(repeating: b.inputs, count: count))
                let labels = Array([[Int]](repeating: b.labels, count: count).joined())
                let logits = population.inferring(x)
                let rows = crossEntropy.rows(logits, labels).scalars, classes = rowClasses(logits)
                let n = b.labels.count
                for m in 0..<count {
                    // Row by row into the member's sum: the same sum whatever the batch size.
                    for r in m * n ..< (m + 1) * n { loss[m] += Double(rows[r]) }
                    correct[m] += (m * n ..< (m + 1) * n).reduce(0) { $0 + (classes[$1] == labels[$1] ? 1 : 0) }
                }
                if predicting { record(logits, classes: classes, labels: b.labels, into: &predictions) }
            }
        }
        return (0..<count).map { m in
            Evaluated(metrics: SplitMetrics(loss: Float(loss[m] / Double(split.count)), accuracy: Float(correct[m]) / Float(split.count)),
                      predictions: predicting ? predictions[m] : nil)
        }
    }

    /// Appends one batch's predictions to each member's: `logits` holds the members' rows one
    /// member after another, `classes` their largest-logit classes. Probabilities are the
    /// softmax's, exp(zᵢ − logsumexp z) in Double, so the predicted class's is never below the true one's.
    private static func record(_ logits: Tensor, classes: [Int], labels: [Int], into predictions: inout [SplitPredictions]) {
        let width = logits.shape[1], s = logits.scalars, n = labels.count
        for m in predictions.indices {
            predictions[m].classes = width
            for r in 0..<n {
                let row = (m * n + r) * width
                var top = -Double.infinity
                for c in 0..<width { top = max(top, Double(s[row + c])) }
                var sum = 0.0
                for c in 0..<width { sum += Foundation.exp(Double(s[row + c]) - top) }
                let logSum = top + Foundation.log(sum), predicted = classes[m * n + r]
                predictions[m].predicted.append(predicted)
                predictions[m].labels.append(labels[r])
                predictions[m].trueClassProbability.append(Float(Foundation.exp(Double(s[row + labels[r]]) - logSum)))
                predictions[m].predictedClassProbability.append(Float(Foundation.exp(Double(s[row + predicted]) - logSum)))
            }
        }
    }
}
