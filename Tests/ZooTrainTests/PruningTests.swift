import Foundation
import Testing
import ZooData
import ZooNN
import ZooOptim
import ZooTensor
import ZooTrain
import ZooTestSupport

/// Pruning masks, masked training, step snapshots and branch start states.
@Suite("Pruning and branches")
struct PruningTests {
    static let data = PopulationTests.images

    static func mlp(seed: UInt64) throws -> any Module {
        try PopulationTests.model("mlp", ["hidden": "16,8"], seed: seed, input: [1, 20, 20], classes: 4)
    }

    static func weights(_ pairs: [(String, [Int], [Float])]) -> NamedTensors {
        NamedTensors(pairs.map { ($0.0, Tensor(shape: $0.1, scalars: $0.2)) })
    }

    /// Global magnitude pruning removes ⌈f · remaining⌉ of the smallest magnitudes over all
    /// prunable tensors (earlier tensor first among ties), keeps pruned weights pruned, and leaves
    /// biases and excluded tensors alone.
    @Test func globalMagnitudeKnownAnswer() {
        let w = Self.weights([("a.weight", [2, 2], [0.5, -0.1, 0.3, -0.9]), ("a.bias", [2], [0.01, 0.02]),
                              ("b.weight", [1, 3], [0.2, -0.05, 0.7])])
        let first = Pruning(fraction: 0.4).masks(weights: w, current: NamedTensors(), key: RandomKey(seed: 0))
        #expect(first.names == ["a.weight", "b.weight"])
        // 7 weights, ⌈0.4 · 7⌉ = 3 removed: 0.05, 0.1, 0.2.
        #expect(first["a.weight"]!.scalars == [1, 0, 1, 1])
        #expect(first["b.weight"]!.scalars == [0, 0, 1])
        // The next level counts the 4 remaining: ⌈0.4 · 4⌉ = 2 more (0.3, 0.5).
        let second = Pruning(fraction: 0.4).masks(weights: w, current: first, key: RandomKey(seed: 0))
        #expect(second["a.weight"]!.scalars == [0, 0, 0, 1])
        #expect(second["b.weight"]!.scalars == [0, 0, 1])
        let excluded = Pruning(fraction: 0.5, exclude: ["b.*"]).masks(weights: w, current: NamedTensors(), key: RandomKey(seed: 0))
        #expect(excluded.names == ["a.weight"])
        #expect(excluded["a.weight"]!.scalars == [1, 0, 0, 1])
    }

    /// Layer-wise pruning takes the same fraction of each tensor; random pruning removes the same
    /// count anywhere among the remaining; init-magnitude pruning reads the initial weights.
    @Test func layerwiseRandomAndInitMagnitude() {
        let w = Self.weights([("a.weight", [2, 2], [0.5, -0.1, 0.3, -0.9]), ("b.weight", [1, 4], [0.2, -0.05, 0.7, 0.6])])
        let layerwise = Pruning(fraction: 0.5, method: .layerwise).masks(weights: w, current: NamedTensors(), key: RandomKey(seed: 0))
        #expect(layerwise["a.weight"]!.scalars == [1, 0, 0, 1])
        #expect(layerwise["b.weight"]!.scalars == [0, 0, 1, 1])
        let random = Pruning(fraction: 0.5, method: .random).masks(weights: w, current: layerwise, key: RandomKey(seed: 3))
        #expect(Density(random).overall == 2.0 / 8)
        for (name, mask) in random { #expect(zip(mask.scalars, layerwise[name]!.scalars).allSatisfy { $0 <= $1 }) }
        #expect(random != Pruning(fraction: 0.5, method: .random).masks(weights: w, current: layerwise, key: RandomKey(seed: 4))
                || Density(random).overall == 0)
        let initial = Self.weights([("a.weight", [2, 2], [9, 9, 9, 0.1]), ("b.weight", [1, 4], [9, 9, 9, 9])])
        let atInit = Pruning(fraction: 0.125, method: .initMagnitude).masks(weights: w, current: NamedTensors(), initial: initial, key: RandomKey(seed: 0))
        #expect(atInit["a.weight"]!.scalars == [1, 1, 1, 0])
    }

    /// Masks and the rest of the state survive a checkpoint bit for bit; a mask that does not fit
    /// the model is refused with its name.
    @Test func masksSurviveCheckpointAndBadMasksAreRefused() throws {
        let model = try Self.mlp(seed: 1)
        let trainer = Trainer(config: TrainingConfig(epochs: 1, batchSize: 20))
        var state = trainer.initialState(for: model)
        state.masks = Pruning(fraction: 0.3).masks(weights: model.parameters, current: NamedTensors(), key: RandomKey(seed: 0))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mask-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Checkpoint.write(state, config: "{}", to: url)
        let read = try Checkpoint.read(from: url)
        #expect(read.state == state)
        #expect(read.state.masks.names == ["1.weight", "3.weight", "5.weight"])
        var bad = state
        bad.masks["1.weight"] = Tensor(shape: [2, 2], repeating: 1)
        #expect(throws: TrainingError.self) { try trainer.validate(model: model, data: Self.data, resume: bad) }
        bad.masks["1.weight"] = Tensor(shape: state.masks["1.weight"]!.shape, repeating: 2)
        let error = #expect(throws: TrainingError.self) { try trainer.validate(model: model, data: Self.data, resume: bad) }
        #expect(error?.description.contains("1.weight") == true)
        bad.masks = NamedTensors([("9.weight", Tensor(shape: [1], repeating: 1))])
        #expect(throws: TrainingError.self) { try trainer.validate(model: model, data: Self.data, resume: bad) }
    }

    /// A masked member trains with its pruned weights held at exactly 0 (no update, no weight
    /// decay, no optimizer state) and, in a population with other masks, ends bit-identical to
    /// itself trained alone; interrupting and resuming from the checkpointed state changes nothing.
    @Test func maskedMembersTrainAsAloneAndResumeBitExactly() throws {
        let optimizers: [OptimizerConfig] = [.sgd(SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-2)), .adamW(AdamW(learningRate: 3e-3, weightDecay: 0.1))]
        let trainers = optimizers.enumerated().map { k, o in Trainer(config: TrainingConfig(epochs: 3, batchSize: 20, optimizer: o, seed: UInt64(k))) }
        let models = try (0..<2).map { try Self.mlp(seed: UInt64($0)) }
        let starts = (0..<2).map { k -> TrainingState in
            var s = trainers[k].initialState(for: models[k])
            s.masks = Pruning(fraction: 0.4 + 0.3 * Double(k)).masks(weights: models[k].parameters, current: NamedTensors(), key: RandomKey(seed: 0))
            var m = models[k]
            m.parameters = m.parameters.masked(by: s.masks)
            s.model = m.state
            return s
        }
        let prepared = (0..<2).map { k -> any Module in var m = models[k]; try! m.load(starts[k].model); return m }
        let together = try PopulationTrainer(members: trainers).run(models: prepared, data: Self.data, from: starts)
        for k in 0..<2 {
            let alone = try trainers[k].run(model: prepared[k], data: Self.data, from: starts[k])
            #expect(alone.state == together[k].state, "member \(k)")
            for (name, mask) in starts[k].masks {
                let w = together[k].state.model[name]!.scalars
                #expect(zip(w, mask.scalars).allSatisfy { $1 != 0 || $0 == 0 }, "\(name): a pruned weight moved")
                #expect(zip(w, mask.scalars).contains { $1 != 0 && $0 != 0 })
            }
            #expect(together[k].state.masks == starts[k].masks)
            // Two epochs, a checkpoint, one more epoch: the same bits.
            var first = trainers[k]
            first.config.epochs = 2
            let half = try first.run(model: prepared[k], data: Self.data, from: starts[k])
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("resume-\(UUID().uuidString).safetensors")
            defer { try? FileManager.default.removeItem(at: url) }
            try Checkpoint.write(half.state, config: "{}", to: url)
            let saved = try Checkpoint.read(from: url).state
            var resumedModel = prepared[k]
            try resumedModel.load(saved.model)
            let resumed = try trainers[k].run(model: resumedModel, data: Self.data, from: saved)
            #expect(resumed.state == together[k].state, "member \(k) resumed")
        }
    }

    /// A snapshot after step k (mid-epoch) resumed from there ends bit-identical to the run that
    /// was never stopped: the trainer skips the batches the epoch already took.
    @Test func resumingFromAMidEpochSnapshotEqualsTheWholeRun() throws {
        var config = TrainingConfig(epochs: 2, batchSize: 30, optimizer: .sgd(SGD(learningRate: 0.05, momentum: 0.9)), seed: 4)
        config.checkpointSteps = [3, 9]
        let trainer = Trainer(config: config)
        let model = try Self.mlp(seed: 2)
        var snapshots: [TrainingState] = []
        let whole = try trainer.run(model: model, data: Self.data) { if case let .snapshot(s) = $0 { snapshots.append(s) } }
        // 200 samples in batches of 30: 7 steps an epoch; step 9 is inside epoch 2.
        #expect(snapshots.map(\.step) == [3, 9])
        #expect(snapshots.map(\.epoch) == [0, 1])
        for snapshot in snapshots {
            var resumedModel = model
            try resumedModel.load(snapshot.model)
            try trainer.validate(model: model, data: Self.data, resume: snapshot)
            let resumed = try trainer.run(model: resumedModel, data: Self.data, from: snapshot)
            #expect(resumed.state == whole.state, "from step \(snapshot.step)")
        }
        #expect(config.counters(atStep: 9, trainCount: 200) == (1, 9))
        #expect(config.counters(atStep: 7, trainCount: 200) == (1, 7))
        #expect(config.counters(at: .epoch(2), trainCount: 200)! == (2, 14))
    }

    /// A branch's start: pruned by the parent's magnitudes, weights rewound (or kept for
    /// learning-rate rewinding, or re-drawn, perturbed, or interpolated with another network),
    /// masked weights 0, counters at the rewind point, a fresh optimizer state.
    @Test func branchStartStates() throws {
        let data = Self.data
        let config = RunConfig(model: ModelSpec(name: "mlp", options: ["hidden": "16,8"]), data: DataSpec(name: "synthetic"),
                               training: TrainingConfig(epochs: 3, batchSize: 20, seed: 7))
        let initial = try config.makeModel(for: data)
        let trained = try config.trainer.run(model: initial, data: data)
        let parent = trained.state, start = config.trainer.initialState(for: initial)
        let prune = Pruning(fraction: 0.5)
        func branch(_ b: Branch) throws -> TrainingState {
            var c = config
            c.branch = b
            let weights = b.weightsPoint == .end ? parent : start
            let counters = b.rewind.flatMap { c.training.counters(at: $0, trainCount: data.train.count) } ?? (parent.epoch, parent.step)
            return try b.startState(parent: parent, weights: weights, config: c, model: initial, data: data, counters: counters)
        }
        let expectedMasks = prune.masks(weights: parent.model.filter { initial.parameters[$0] != nil }, current: NamedTensors(), key: RandomKey(seed: 0))
        let rewound = try branch(Branch(parent: "0123456789abcdef", rewind: .step(0), pruning: prune))
        #expect(rewound.masks == expectedMasks)
        #expect((rewound.epoch, rewound.step) == (0, 0))
        for (name, mask) in expectedMasks {
            #expect(rewound.model[name]! == initial.parameters[name]! * mask)
        }
        #expect(rewound.optimizer == start.optimizer)
        let lrRewound = try branch(Branch(parent: "0123456789abcdef", rewind: .epoch(1), rewindWeights: false, pruning: prune))
        for (name, mask) in expectedMasks { #expect(lrRewound.model[name]! == parent.model[name]! * mask) }
        #expect((lrRewound.epoch, lrRewound.step) == (1, 10))
        let reinit = try branch(Branch(parent: "0123456789abcdef", rewind: .step(0), reinitialize: true, pruning: prune))
        #expect(reinit.masks == expectedMasks)
        for (name, mask) in expectedMasks {
            #expect(reinit.model[name]! != rewound.model[name]!)
            #expect(zip(reinit.model[name]!.scalars, mask.scalars).allSatisfy { $1 != 0 || $0 == 0 })
        }
        let perturbed = try branch(Branch(parent: "0123456789abcdef", perturbation: 0.01))
        #expect(perturbed.model != parent.model && (perturbed.epoch, perturbed.step) == (parent.epoch, parent.step))
        // A point on the line between the parent and another network: (1 − α)·θ_parent + α·θ_other.
        var c = config
        let line = Branch(parent: "0123456789abcdef", interpolation: .init(other: "fedcba9876543210", alpha: 0.25))
        c.branch = line
        let between = try line.startState(parent: parent, weights: parent, config: c, model: initial, data: data,
                                          counters: (parent.epoch, parent.step), partner: start)
        for name in initial.parameters.names { #expect(between.model[name]! == parent.model[name]! * 0.75 + start.model[name]! * 0.25) }
        #expect(throws: TrainingError.self) {
            try line.startState(parent: parent, weights: parent, config: c, model: initial, data: data, counters: (0, 0))
        }
    }
}
