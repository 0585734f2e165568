import Foundation
import ZooData
import ZooNN
import ZooTensor
import ZooTrain

extension SweepPlan {
    /// The training time of the plan's runs on this machine, measured rather than guessed: for
    /// each population group (runs that train together), a few training steps of a slice of its
    /// members and an evaluation pass are timed on synthetic inputs of the data's shape, with the
    /// threads the sweep runner gives a worker; every run then costs its epochs × (training
    /// samples × the step's cost per member-sample + evaluated samples — test, validation and
    /// the train metrics' pass — × the evaluation's cost). The sum is divided among the workers
    /// (at most one per core, and no more than there are runs).
    ///
    /// Costs a few steps per group: well under a second for small models, a few seconds for
    /// ResNet-20 or NiN groups. The measured examples are in docs/estimates.md.
    /// - Parameter cores: compute cores available (default: this machine's).
    public func estimatedSeconds(workers: Int, data: DataCache, cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Double {
        let busy = max(1, min(workers, cores, runs.count))
        return estimatedRunSeconds(workers: workers, data: data, cores: cores).values.reduce(0, +) / Double(busy)
    }

    /// Each run's share of ``estimatedSeconds(workers:data:cores:)`` before it is divided among
    /// the workers, by run id: the weights that turn a measured rate into the time left
    /// (``SweepTracker``). A run whose config or data cannot be built is left out.
    public func estimatedRunSeconds(workers: Int, data: DataCache, cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> [String: Double] {
        estimatedRunCosts(workers: workers, data: data, cores: cores).mapValues { $0.train + $0.evaluate }
    }

    /// ``estimatedRunSeconds(workers:data:cores:)`` split into training steps and evaluation passes.
    public func estimatedRunCosts(workers: Int, data: DataCache, cores: Int = ProcessInfo.processInfo.activeProcessorCount)
        -> [String: (train: Double, evaluate: Double)]
    {
        let busy = max(1, min(workers, cores, runs.count))
        let threads = workers == 1 ? min(2, cores) : 1
        var costs: [String: (train: Double, evaluate: Double)] = [:]
        let membersPerWorker = Dictionary(grouping: runs, by: \.groupKey).mapValues { max(1, ($0.count + busy - 1) / busy) }
        var seconds: [String: (train: Double, evaluate: Double)] = [:]
        for run in runs {
            guard let config = try? ConfigSchema.runConfig(run.config), let prepared = try? data.load(config.data) else { continue }
            if costs[run.groupKey] == nil {
                costs[run.groupKey] = BLAS.withThreadCount(threads) {
                    Self.measureCosts(config, prepared, members: membersPerWorker[run.groupKey] ?? 1)
                } ?? (0, 0)
            }
            let cost = costs[run.groupKey]!
            let t = config.training, epochs = Double(t.epochs)
            let trained = t.maxSteps.map { Double($0 * t.batchSize) } ?? epochs * Double(prepared.train.count)
            let evaluated = Double((prepared.test?.count ?? 0) + (prepared.validation?.count ?? 0)
                                   + PopulationTrainer.trainEvaluationCount(prepared, t.trainMetrics))
            let evaluations = t.maxSteps.map { Double($0 * t.batchSize) / Double(max(1, prepared.train.count)) } ?? epochs
            seconds[run.id] = (trained * cost.train, evaluations.rounded(.up) * evaluated * cost.evaluate)
        }
        return seconds
    }

    /// Seconds per member-sample of training and of evaluation for a population of up to
    /// `members` members of `config` (as many as one slice of the population trainer stacks),
    /// timed on synthetic inputs: a run of three steps less a run of one; one evaluation pass.
    static func measureCosts(_ config: RunConfig, _ data: TrainingData, members: Int) -> (train: Double, evaluate: Double)? {
        let batch = config.training.batchSize
        let count = max(1, min(members, max(1, 128 / batch)))
        let steps = 2, shape = data.inputShape, classes = data.train.classCount
        let n = batch * (steps + 1)
        let synthetic = LabeledData(inputs: Tensor.randomNormal([n] + shape, key: RandomKey(seed: 1)),
                                    labels: (0..<n).map { $0 % classes }, classCount: classes)
        var training = config.training
        training.epochs = 1
        training.trainMetrics = .running
        training.earlyStoppingPatience = nil
        training.batchSizeSchedule = .constant
        let trainers = (0..<count).map { k -> Trainer in
            var t = training
            t.seed = UInt64(k)
            return Trainer(config: t, frozen: config.frozen, trainOnly: config.trainOnly ?? [])
        }
        guard let models = try? (0..<count).map({ k in
            try RunConfig(model: config.model, data: config.data, training: trainers[k].config, frozen: config.frozen).makeModel(for: data)
        }), let engine = try? PopulationTrainer(members: trainers) else { return nil }
        func timed(_ maxSteps: Int) -> Double? {
            var members = engine
            for k in members.members.indices { members.members[k].config.maxSteps = maxSteps }
            let start = Date()
            guard (try? members.run(models: models, data: TrainingData(train: synthetic))) != nil else { return nil }
            return Date().timeIntervalSince(start)
        }
        // The first run pays one-time costs (threads, caches); the second is the baseline.
        guard timed(1) != nil, let warm = timed(1), let full = timed(steps + 1) else { return nil }
        let train = max(0, full - warm) / Double(steps * batch * count)
        let rows = LabeledData(inputs: synthetic.inputs.sliced(axis: 0, 0 ..< min(n, 200)), labels: Array(synthetic.labels.prefix(200)), classCount: classes)
        let start = Date()
        guard (try? PopulationTrainer.evaluate(models, on: rows)) != nil else { return nil }
        let evaluate = Date().timeIntervalSince(start) / Double(rows.count * count)
        return (train, evaluate)
    }
}
