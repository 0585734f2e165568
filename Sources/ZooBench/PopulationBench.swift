import Foundation
import ZooData
import ZooNN
import ZooOptim
import ZooTensor
import ZooTrain

/// Population training with Zoo's population mode: `members` models of `spec` (different seeds
/// and learning rates, SGD with momentum 0.9) each train one epoch of `steps` batches of `batch`
/// random inputs with ``PopulationTrainer`` — own shuffles, own batches, own updates.
/// - Returns: member-samples per second and the wall time.
func populationThroughput(_ spec: ModelSpec, members: Int, batch: Int, steps: Int) throws -> (samplesPerSecond: Double, seconds: Double) {
    let n = batch * steps
    let key = RandomKey(seed: 7)
    let train = LabeledData(inputs: Tensor.randomNormal([n] + spec.inputShape, key: key.derived("x")),
                            labels: (0..<n).map { $0 % 10 }, classCount: 10)
    let models = try (0..<members).map { try makeModel(spec, key: RandomKey(seed: UInt64($0))) }
    let trainers = (0..<members).map { k in
        Trainer(config: TrainingConfig(epochs: 1, batchSize: batch,
                                       optimizer: .sgd(SGD(learningRate: 0.005 * Float(1 + k % 4), momentum: 0.9)), seed: UInt64(k)))
    }
    var statuses: [TrainingStatus] = []
    let elapsed = try seconds { statuses = try PopulationTrainer(members: trainers).run(models: models, data: TrainingData(train: train)).map(\.status) }
    precondition(statuses.allSatisfy { $0 == .completed }, "population benchmark: members ended \(Set(statuses.map(\.rawValue)))")
    return (Double(members * n) / elapsed, elapsed)
}
