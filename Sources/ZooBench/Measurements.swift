import ZooNN
import ZooData
import ZooOptim
import ZooTensor
import ZooTrain

// One function per kind of workload. Each builds its inputs, runs `warmup` untimed steps, times
// `steps` steps, and returns the result line. Inputs are standard normal, labels are i mod 10.

/// Runs `body(i)` for `warmup` untimed then `steps` timed iterations; returns the timed seconds.
func timedSteps(warmup: Int, steps: Int, _ body: (Int) throws -> Void) rethrows -> Double {
    for i in 0..<warmup { try body(i) }
    return try seconds { for i in 0..<steps { try body(warmup + i) } }
}

/// The fixed batch of a benchmark: inputs `[batch] + shape` and labels `i mod 10`.
func fixedBatch(_ spec: ModelSpec, batch: Int, key: RandomKey) -> (inputs: Tensor, labels: [Int]) {
    (Tensor.randomNormal([batch] + spec.inputShape, key: key.derived("x")), (0..<batch).map { $0 % 10 })
}

func makeModel(_ spec: ModelSpec, key: RandomKey) throws -> any Module {
    try ModelCatalog.make(spec.name, options: spec.options, input: ModelInput(shape: spec.inputShape, classCount: 10), key: key)
}

/// Training throughput: one step is Zoo's training step (``Trainer/step(_:state:batch:learningRate:)``,
/// the engine's step with a population of one): a training-mode forward pass, the cross-entropy,
/// gradients of every parameter and an SGD update (learning rate 0.01, momentum 0.9).
func measureTraining(_ spec: ModelSpec, batch: Int, steps: Int, warmup: Int) throws -> ResultLine {
    let key = RandomKey(seed: 0)
    var model = try makeModel(spec, key: key.derived("model"))
    let (x, labels) = fixedBatch(spec, batch: batch, key: key)
    let trainer = Trainer(config: TrainingConfig(batchSize: batch, optimizer: .sgd(SGD(learningRate: 0.01, momentum: 0.9))))
    var state = trainer.initialState(for: model)
    var lastLoss = Double.nan
    let elapsed = try timedSteps(warmup: warmup, steps: steps) { _ in
        lastLoss = try trainer.step(&model, state: &state, batch: Batch(inputs: x, labels: labels)).loss
    }
    var line = ResultLine(samples: batch * steps, seconds: elapsed)
    line.append("params", model.parameterCount)
    line.append("batch", batch)
    line.append("final_loss", lastLoss)
    return line
}

/// Inference throughput: evaluation-mode forward passes with the tape off.
func measureInference(_ spec: ModelSpec, batch: Int, steps: Int, warmup: Int) throws -> ResultLine {
    let key = RandomKey(seed: 0)
    let model = try makeModel(spec, key: key.derived("model"))
    let (x, _) = fixedBatch(spec, batch: batch, key: key)
    var checksum: Float = 0
    let elapsed = timedSteps(warmup: warmup, steps: steps) { _ in
        let logits = withoutGradients { model.inferring(x) }
        checksum += logits.scalars[0]
    }
    var line = ResultLine(samples: batch * steps, seconds: elapsed)
    line.append("params", model.parameterCount)
    line.append("batch", batch)
    line.append("checksum", Double(checksum))
    return line
}

/// GEMM peak: `size`³ products through `matmul` (OpenBLAS sgemm), 2·size³ FLOPs each.
/// `samples` counts products.
func measureGEMM(size: Int, steps: Int, warmup: Int) -> ResultLine {
    let key = RandomKey(seed: 0)
    let a = Tensor.randomNormal([size, size], key: key.derived("a"))
    let b = Tensor.randomNormal([size, size], key: key.derived("b"))
    var checksum: Float = 0
    let elapsed = timedSteps(warmup: warmup, steps: steps) { _ in
        checksum += withoutGradients { matmul(a, b) }.scalars[0]
    }
    var line = ResultLine(samples: steps, seconds: elapsed)
    line.append("gflops", 2 * Double(size * size * size) * Double(steps) / elapsed / 1e9)
    line.append("size", size)
    line.append("checksum", Double(checksum))
    return line
}
