import Foundation
import Synchronization
import ZooData
import ZooNN
import ZooOptim
import ZooTensor
import ZooTrain

/// Population training with Zoo's population mode, as `zoo sweep run` trains a group: `members`
/// models of `spec` (different seeds and learning rates, SGD with momentum 0.9) split over one
/// worker per compute thread, each worker training its share as one population with
/// ``PopulationTrainer`` on one thread — each member on its own shuffled batches of `batch`
/// random inputs, `steps` steps, with its own updates.
/// - Returns: member-samples per second and the wall time.
func populationThroughput(_ spec: ModelSpec, members: Int, batch: Int, steps: Int) throws -> (samplesPerSecond: Double, seconds: Double) {
    let n = batch * steps
    let key = RandomKey(seed: 7)
    let train = LabeledData(inputs: Tensor.randomNormal([n] + spec.inputShape, key: key.derived("x")),
                            labels: (0..<n).map { $0 % 10 }, classCount: 10)
    let models = try (0..<members).map { try makeModel(spec, key: RandomKey(seed: UInt64($0))) }
    let trainers = (0..<members).map { k in
        Trainer(config: TrainingConfig(epochs: 1, batchSize: batch,
                                       optimizer: .sgd(SGD(learningRate: 0.005 * Float(1 + k % 4), momentum: 0.9)),
                                       trainMetrics: .running, seed: UInt64(k)))
    }
    // As `zoo sweep run` trains a group: one worker per thread, each a population of its share
    // of the members on one compute thread.
    let workers = max(1, BLAS.threadCount), data = TrainingData(train: train)
    let shares = (0..<workers).map { w in Array(stride(from: w, to: members, by: workers)) }
    let statuses = Mutex<[TrainingStatus]>([])
    let elapsed = seconds {
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let share = shares[w]
            let result = BLAS.withThreadCount(1) {
                try? PopulationTrainer(members: share.map { trainers[$0] }).run(models: share.map { models[$0] }, data: data).map(\.status)
            }
            statuses.withLock { $0 += result ?? [.diverged] }
        }
    }
    let ended = statuses.withLock { $0 }
    precondition(ended.count == members && ended.allSatisfy { $0 == .completed }, "population benchmark: members ended \(Set(ended.map(\.rawValue)))")
    return (Double(members * n) / elapsed, elapsed)
}
