import Foundation
import ZooNN
import ZooTensor

// Release-build timings of every catalog model: forward (evaluation mode, no tape) and
// forward + backward (training mode, gradients of the cross-entropy wrt every parameter).
// Usage: zoo-bench [--batch N] [--repeats N] [--threads N] [--models a,b]

var batch = 128, repeats = 7, threads = 2
var only: [String] = ModelCatalog.names
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let a = arguments.next() {
    switch a {
    case "--batch": batch = Int(arguments.next() ?? "") ?? batch
    case "--repeats": repeats = Int(arguments.next() ?? "") ?? repeats
    case "--threads": threads = Int(arguments.next() ?? "") ?? threads
    case "--models": only = (arguments.next() ?? "").split(separator: ",").map(String.init)
    default:
        FileHandle.standardError.write("usage: zoo-bench [--batch N] [--repeats N] [--threads N] [--models a,b]\n".data(using: .utf8)!)
        exit(2)
    }
}
BLAS.setThreadCount(threads)

func inputShape(_ model: String) -> [Int] {
    switch model {
    case "cnn1d": return [1, 40]
    case "resnet20", "nin": return [3, 32, 32]
    default: return [1, 28, 28]
    }
}

/// The median and minimum of `repeats` timings of `body`, after one warm-up run, in milliseconds.
@MainActor func time(_ body: () -> Void) -> (median: Double, min: Double) {
    body()
    var samples: [Double] = []
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    samples.sort()
    return (samples[samples.count / 2], samples[0])
}

print("batch \(batch), \(repeats) repeats (median, min), BLAS threads \(threads)")
print("model      params     forward ms         fwd+bwd ms         fwd+bwd samples/s")
for name in only {
    let shape = inputShape(name)
    let key = RandomKey(seed: 0)
    var model = try ModelCatalog.make(name, input: ModelInput(shape: shape, classCount: 10), key: key)
    let x = Tensor.randomNormal([batch] + shape, key: key.derived("x"))
    let labels = (0..<batch).map { $0 % 10 }
    let forward = time { _ = withoutGradients { model.inferring(x) } }
    let training = time {
        let params = model.parameters.requiringGradient()
        model.parameters = params
        let loss = crossEntropy(logits: model(x, context: .training(key: key)), labels: labels)
        _ = gradients(of: loss, wrt: params)
        model.parameters = params.detached()
    }
    let pad = { (s: String, n: Int) in s.padding(toLength: n, withPad: " ", startingAt: 0) }
    print(pad(name, 11) + pad(String(model.parameterCount), 11)
          + pad(String(format: "%.2f (%.2f)", forward.median, forward.min), 19)
          + pad(String(format: "%.2f (%.2f)", training.median, training.min), 19)
          + String(format: "%.0f", Double(batch) / training.median * 1000))
}

if let k = ProcessInfo.processInfo.environment["ZOO_BENCH_POPULATION"].flatMap(Int.init) {
    for workers in [1, 2] {
        let r = try populationThroughput(members: k, batch: 32, steps: 30, workers: workers)
        print(String(format: "population %d zoo-cnn, batch 32, %d worker(s): %.0f member-samples/s (%.2f s)", k, workers, r.samplesPerSecond, r.seconds))
    }
}
