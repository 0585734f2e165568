import Foundation
import Testing
import ZooData
import ZooNN
import ZooOptim
import ZooTensor
import ZooTrain
import ZooTestSupport

/// Population mode: members stacked into one pass compute what they compute alone.
@Suite("Population")
struct PopulationTests {
    /// 20×20 images whose label is the quadrant with the largest mean (learnable by a CNN).
    static let images: TrainingData = {
        func split(_ n: Int, _ key: RandomKey) -> LabeledData {
            let x = Tensor.randomNormal([n, 1, 20, 20], key: key)
            let labels = (0..<n).map { i -> Int in
                let img = x.scalars[i * 400 ..< (i + 1) * 400]
                let sums = (0..<4).map { q -> Float in
                    var s: Float = 0
                    for r in 0..<10 { for c in 0..<10 { s += img[i * 400 + ((q / 2) * 10 + r) * 20 + (q % 2) * 10 + c] } }
                    return s
                }
                return sums.indices.max { sums[$0] < sums[$1] }!
            }
            return LabeledData(inputs: x, labels: labels, classCount: 4)
        }
        return TrainingData(train: split(200, RandomKey(seed: 1)), test: split(100, RandomKey(seed: 2)))
    }()

    static func model(_ name: String, _ options: [String: String], seed: UInt64, input: [Int], classes: Int) throws -> any Module {
        try ModelCatalog.make(name, options: options, input: ModelInput(shape: input, classCount: classes), key: RandomKey(seed: seed))
    }

    /// Forward in training mode (dropout on) and evaluation mode: each member's rows equal its
    /// own model's output, for a CNN, an MLP with dropout and a 1-D CNN.
    @Test(arguments: [("zoo-cnn", ["activation": "tanh"], [1, 20, 20]),
                      ("mlp", ["hidden": "12,7", "dropout": "0.3"], [5]),
                      ("cnn1d", [String: String](), [1, 40])])
    func forwardEqualsMembersAlone(name: String, options: [String: String], input: [Int]) throws {
        let members = try (0..<3).map { try Self.model(name, options, seed: UInt64(10 + $0), input: input, classes: 4) }
        var population = try Population(members)
        #expect(population.parameters.names == members[0].parameters.names)
        #expect(population.parameters.first!.1.shape == [3] + members[0].parameters.first!.1.shape)
        let n = 5
        let xs = (0..<3).map { Tensor.randomNormal([n] + input, key: RandomKey(seed: 20 + UInt64($0))) }
        for training in [true, false] {
            let contexts = (0..<3).map { ForwardContext(isTraining: training, key: RandomKey(seed: 30 + UInt64($0))) }
            let stacked = population(Tensor.concatenated(xs), contexts: contexts)
            for k in 0..<3 {
                var alone = members[k]
                let expected = alone(xs[k], context: contexts[k])
                let rows = stacked.sliced(axis: 0, k * n ..< (k + 1) * n)
                #expect(isApproximatelyEqual(rows, expected, absolute: 1e-5), "\(name) member \(k) training \(training): \(maxAbsoluteDifference(rows, expected))")
            }
        }
        #expect(Population.stack((0..<3).map { population.member($0) }) == population.parameters)
        for k in 0..<3 { #expect(population.memberModule(k).parameters == members[k].parameters) }
    }

    /// Three zoo-cnn members with different seeds, optimizers, learning rates and weight decay,
    /// trained 3 epochs as one population, end bit-identical to each trained alone (a population
    /// of one: the same engine), metrics included.
    @Test func membersEndAsIfTrainedAlone() throws {
        let optimizers: [OptimizerConfig] = [.sgd(SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-3)),
                                            .adam(Adam(learningRate: 3e-3)),
                                            .adamW(AdamW(learningRate: 1e-3, weightDecay: 0.05))]
        let trainers = optimizers.enumerated().map { k, o in
            Trainer(config: TrainingConfig(epochs: 3, batchSize: 16, optimizer: o, schedule: k == 0 ? .step(stepSize: 1, gamma: 0.5) : .constant,
                                           gradientClipNorm: k == 1 ? 1 : nil, seed: UInt64(k)))
        }
        let models = try (0..<3).map { try Self.model("zoo-cnn", ["activation": "tanh"], seed: UInt64($0), input: [1, 20, 20], classes: 4) }
        var stackedEpochs = [[EpochMetrics]](repeating: [], count: 3)
        let together = try PopulationTrainer(members: trainers).run(models: models, data: Self.images) { m, event in
            if case let .epoch(e, _) = event { stackedEpochs[m].append(e) }
        }
        for m in 0..<3 {
            var epochs: [EpochMetrics] = []
            let alone = try trainers[m].run(model: models[m], data: Self.images) { event in
                if case let .epoch(e, _) = event { epochs.append(e) }
            }
            #expect(together[m].status == .completed && alone.status == .completed)
            #expect(together[m].state == alone.state, "member \(m)")
            #expect(epochs.map { [$0.train, $0.running, $0.test] } == stackedEpochs[m].map { [$0.train, $0.running, $0.test] }, "member \(m)")
            #expect(epochs.map(\.learningRate) == stackedEpochs[m].map(\.learningRate))
        }
        #expect(stackedEpochs[0].last!.train!.loss < stackedEpochs[0].first!.train!.loss)
        // The default train metrics are measured in evaluation mode, beside the running average.
        #expect(stackedEpochs[0].allSatisfy { $0.train != nil && $0.train != $0.running })
    }

    /// Members that differ in activation do not stack: they train in separate populations and
    /// each ends as it does alone (a wrong stacking would run member 0's tanh for member 1).
    @Test func membersThatDoNotStackAreSplit() throws {
        let activations = ["tanh", "relu", "tanh"]
        let models = try activations.enumerated().map { try Self.model("zoo-cnn", ["activation": $1], seed: UInt64($0), input: [1, 20, 20], classes: 4) }
        #expect(throws: PopulationError.self) { try Population(models) }
        #expect(try Population.signature(of: models[0]) == Population.signature(of: models[2]))
        let trainers = (0..<3).map { Trainer(config: TrainingConfig(epochs: 1, batchSize: 20, optimizer: .adam(Adam(learningRate: 3e-3)), seed: UInt64($0))) }
        let together = try PopulationTrainer(members: trainers).run(models: models, data: Self.images)
        for k in 0..<3 {
            #expect(together[k].state == (try trainers[k].run(model: models[k], data: Self.images)).state, "member \(k)")
        }
    }

    /// Two layers of one type that differ in a hyperparameter have different signatures.
    @Test func signaturesNameEveryHyperparameter() {
        let key = RandomKey(seed: 1)
        #expect(Conv2d(1, 4, kernelSize: 3, stride: 1, key: key).stackingSignature != Conv2d(1, 4, kernelSize: 3, stride: 2, key: key).stackingSignature)
        #expect(Conv2d(1, 4, kernelSize: 3, padding: 0, key: key).stackingSignature != Conv2d(1, 4, kernelSize: 3, padding: 1, key: key).stackingSignature)
        #expect(Pool.max2d(2).stackingSignature != Pool.avg2d(2).stackingSignature)
        #expect(ActivationLayer(.relu).stackingSignature != ActivationLayer(.tanh).stackingSignature)
        #expect(Dropout(probability: 0.1).stackingSignature == Dropout(probability: 0.5).stackingSignature)
    }

    /// A member's numbers do not depend on who else is in its population (so a sweep that an
    /// interruption split into smaller populations ends bit-identical), on one or two threads.
    @Test func membersAreBitIdenticalWhateverThePopulation() throws {
        let trainers = (0..<3).map { k in
            Trainer(config: TrainingConfig(epochs: 2, batchSize: 16, optimizer: .sgd(SGD(learningRate: 0.03 * Float(k + 1), momentum: 0.9)), seed: UInt64(k)))
        }
        let models = try (0..<3).map { try Self.model("zoo-cnn", ["dropout": "0.2"], seed: UInt64($0), input: [1, 20, 20], classes: 4) }
        for threads in [1, 2] {
            try BLAS.withThreadCount(threads) {
                let three = try PopulationTrainer(members: trainers).run(models: models, data: Self.images)
                let one = try PopulationTrainer(members: [trainers[1]]).run(models: [models[1]], data: Self.images)
                #expect(three[1].state == one[0].state, "threads \(threads)")
            }
        }
    }

    /// A member whose learning rate makes it diverge leaves; the others finish unchanged.
    @Test func aDivergingMemberLeavesTheOthersGoOn() throws {
        let lrs: [Float] = [0.05, 1e9, 0.02]
        let trainers = lrs.enumerated().map { k, lr in
            Trainer(config: TrainingConfig(epochs: 2, batchSize: 20, optimizer: .sgd(SGD(learningRate: lr, momentum: 0.9)), seed: UInt64(k)))
        }
        let models = try (0..<3).map { try Self.model("mlp", ["hidden": "16"], seed: UInt64($0), input: [1, 20, 20], classes: 4) }
        var diverged: [Int] = []
        let result = try PopulationTrainer(members: trainers).run(models: models, data: Self.images) { m, event in
            if case .diverged = event { diverged.append(m) }
        }
        #expect(result.map(\.status) == [.completed, .diverged, .completed])
        #expect(diverged == [1])
        let alone = try trainers[2].run(model: models[2], data: Self.images)
        #expect(result[2].state == alone.state)
        // The diverged member returns its last completed epoch's state: finite weights.
        #expect(result[1].state.model.tensors.allSatisfy { $0.scalars.allSatisfy(\.isFinite) })
    }

    /// Layers with running statistics are refused with a message naming them; one such model
    /// is a population of one that runs itself and keeps its buffers.
    @Test func batchNormIsNotStackable() throws {
        let a = try Self.model("resnet20", [:], seed: 0, input: [3, 32, 32], classes: 10)
        #expect { try Population([a, a]) } throws: { "\($0)".contains("buffers") }
        var one = try Population([a])
        let x = Tensor.randomNormal([2, 3, 32, 32], key: RandomKey(seed: 3))
        var alone = a
        let context = ForwardContext.training(key: RandomKey(seed: 4))
        #expect(one(x, contexts: [context]) == alone(x, context: context))
        #expect(one.buffers == alone.buffers && one.buffers != a.buffers)
    }
}
