import Foundation
import Zoo

// 1. Data and a model, with typed options: 3,000 Fashion-MNIST training images, the 10,000 test
//    images; the Model Zoos CNN with tanh.
let dataSpec = DataSpec.fashionMNIST(subset: 3_000)
let data = try DatasetCatalog.load(dataSpec)
let training = TrainingConfig(epochs: 2, batchSize: 32, optimizer: .adam(Adam(learningRate: 3e-3)), seed: 0)
let config = RunConfig(model: .zooCNN(activation: .tanh), data: dataSpec, training: training)
let model = try config.makeModel(for: data)
print("zoo-cnn: \(model.parameterCount) parameters, \(data.train.count) training images")

// 2. Train one model, with a loss of our own (label-smoothed cross-entropy) and an observer.
let trainer = Trainer(config: training, loss: .crossEntropy(labelSmoothing: 0.1))
let result = try trainer.run(model: model, data: data) { event in
    if case let .epoch(m, _) = event, let train = m.train, let test = m.test {
        print(String(format: "epoch %d: train acc %.1f%% (evaluation mode), test acc %.1f%%", m.epoch, train.accuracy * 100, test.accuracy * 100))
    }
}
print("status \(result.status.rawValue) after \(result.state.step) steps")

// 3. A zoo: four seeds trained as one population (stacked weights, one pass per step); each
//    member ends with exactly the weights it would get alone.
let seeds: [UInt64] = [1, 2, 3, 4]
let members = seeds.map { seed in Trainer(config: TrainingConfig(epochs: 1, batchSize: 32, optimizer: .adam(Adam()), seed: seed)) }
let models = try seeds.map { seed in
    try RunConfig(model: .zooCNN(), data: dataSpec, training: TrainingConfig(seed: seed)).makeModel(for: data)
}
let zoo = try PopulationTrainer(members: members).run(models: models, data: data)
for (seed, member) in zip(seeds, zoo) {
    let test = try Trainer.evaluate(member.model, on: data.test!)
    print(String(format: "seed %d: test accuracy %.2f%%", seed, test.accuracy * 100))
}

// 4. Steps by hand: the engine's public training step on batches we choose.
var single: any Module = models[0]
var state = members[0].initialState(for: single)
for batch in BatchLoader(data: data.train, batchSize: 100, shuffleKey: RandomKey(seed: 9)).prefix(5) {
    let step = try members[0].step(&single, state: &state, batch: batch)
    print(String(format: "step %d: loss %.4f", state.step, step.loss))
}

// 5. A checkpoint that Python reads with safetensors.numpy.load_file.
let file = FileManager.default.temporaryDirectory.appendingPathComponent("train-a-zoo.safetensors")
try Checkpoint.write(result.state, config: config.json(), to: file)
print("checkpoint: \(file.path), \(try Checkpoint.read(from: file).state.model.names.count) tensors")
