import Foundation
import ZooNN
import ZooTensor

/// The table mode: for each catalog model, the forward pass (evaluation mode, no tape) and
/// forward + backward (training mode, gradients of the cross-entropy wrt every parameter),
/// median and minimum of `repeats` timings after one warm-up run.
struct ModelTable {
    var batch: Int
    var repeats: Int
    var threads: Int
    var models: [String]

    func run() throws {
        print("batch \(batch), \(repeats) repeats (median, min), threads \(threads)")
        print("model      params     forward ms         fwd+bwd ms         fwd+bwd samples/s")
        for name in models { try printRow(name) }
    }

    private func printRow(_ name: String) throws {
        let shape = Self.inputShape(name)
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

    /// The input shape each catalog model is timed on.
    static func inputShape(_ model: String) -> [Int] {
        switch model {
        case "cnn1d": return [1, 40]
        case "resnet20", "nin": return [3, 32, 32]
        default: return [1, 28, 28]
        }
    }

    /// The median and minimum of `repeats` timings of `body`, after one warm-up run, in milliseconds.
    private func time(_ body: () -> Void) -> (median: Double, min: Double) {
        body()
        var samples: [Double] = []
        for _ in 0..<repeats {
            samples.append(seconds(of: body) * 1000)
        }
        samples.sort()
        return (samples[samples.count / 2], samples[0])
    }
}

/// The wall-clock seconds `body` takes (monotonic clock).
func seconds(of body: () throws -> Void) rethrows -> Double {
    let d = try ContinuousClock().measure(body)
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
