import Foundation
import ZooData
import ZooNN
import ZooOptim
import ZooTensor
import ZooTrain

/// Population training throughput: `members` zoo-cnn members (different seeds and learning
/// rates, SGD with momentum) each train one epoch of `steps` batches of `batch` random 28×28
/// images, as Zoo's population mode does, split over `workers` threads (each a population of its
/// own, one compute thread each; with one worker the population uses every thread).
/// - Returns: member-samples per second and the wall time.
func populationThroughput(members: Int, batch: Int, steps: Int, workers: Int) throws -> (samplesPerSecond: Double, seconds: Double) {
    let n = batch * steps
    let key = RandomKey(seed: 7)
    let train = LabeledData(inputs: Tensor.randomNormal([n, 1, 28, 28], key: key.derived("x")),
                            labels: (0..<n).map { $0 % 10 }, classCount: 10)
    let data = TrainingData(train: train)
    let input = ModelInput(shape: [1, 28, 28], classCount: 10)
    let models = try (0..<members).map { try ModelCatalog.make("zoo-cnn", input: input, key: RandomKey(seed: UInt64($0))) }
    let trainers = (0..<members).map { k in
        Trainer(config: TrainingConfig(epochs: 1, batchSize: batch,
                                       optimizer: .sgd(SGD(learningRate: 0.01 * Float(1 + k % 4), momentum: 0.9)), seed: UInt64(k)))
    }
    let parts = (0..<workers).map { w in Array(stride(from: w, to: members, by: workers)) }
    let started = DispatchTime.now().uptimeNanoseconds
    if workers == 1 {
        _ = try PopulationTrainer(members: trainers).run(models: models, data: data)
    } else {
        let group = DispatchGroup()
        for part in parts {
            group.enter()
            let thread = Thread {
                BLAS.withThreadCount(1) {
                    _ = try? PopulationTrainer(members: part.map { trainers[$0] }).run(models: part.map { models[$0] }, data: data)
                }
                group.leave()
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        group.wait()
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    return (Double(members * n) / seconds, seconds)
}
