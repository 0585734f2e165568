import Foundation
import Testing
import ZooData
@testable import ZooMeasures
import ZooNN
import ZooTensor
import ZooTrain

/// A subject of `model` on `data` with the given batch size and logged losses.
private func subject(_ model: any Module, data: LabeledData = Fixtures.data, batchSize: Int = 32, run: String = "run-a",
                     losses: [StepLoss] = []) -> Subject {
    Subject(runID: run, epoch: 1,
            config: RunConfig(model: ModelSpec(name: "mlp"), data: DataSpec(name: "fixture"), training: TrainingConfig(batchSize: batchSize)),
            model: model, initial: model, sample: data, stepLosses: losses)
}

private func settings(_ m: any Measure, _ overrides: [String: Double] = [:]) throws -> MeasureSettings {
    try MeasureSettings().resolved(defaults: m.defaults, overrides: overrides, measure: m.name)
}

/// `count` draws of the standard symmetric α-stable law by Chambers, Mallows & Stuck (1976):
/// X = sin(αV) / cos(V)^{1/α} · (cos(V − αV) / W)^{(1−α)/α}, V ~ U(−π/2, π/2), W ~ Exp(1).
private func symmetricStable(alpha: Double, count: Int, key: RandomKey) -> [Double] {
    let u = key.derived("angle").uniform(count: count), w = key.derived("exponential").uniform(count: count)
    let half = 0x1p-25
    return (0..<count).map { i in
        let v = Double.pi * (Double(u[i]) + half - 0.5)  // strictly inside (−π/2, π/2)
        let e = -log(Double(w[i]) + half)  // strictly positive
        return sin(alpha * v) / pow(cos(v), 1 / alpha) * pow(cos(v - alpha * v) / e, (1 - alpha) / alpha)
    }
}

@Suite("Dynamics measures")
struct DynamicsTests {
    let log = [StepLoss(step: 10, loss: 2.3), StepLoss(step: 20, loss: 0.5), StepLoss(step: 30, loss: 0.1),
               StepLoss(step: 40, loss: 0.05), StepLoss(step: 50, loss: 0.011), StepLoss(step: 60, loss: 0.009),
               StepLoss(step: 70, loss: 0.02)]

    /// Steps to 0.1 and from 0.1 to 0.01 on a hand-made log; +∞ for a loss never reached.
    @Test func stepsToCriterion() throws {
        let s = subject(try Fixtures.mlp(seed: 1), losses: log)
        let to = DynamicsMeasures.StepsToLoss(), between = DynamicsMeasures.StepsBetweenLosses()
        #expect(try to.values(of: [s], settings: settings(to)) == [["": 30]])
        #expect(try to.values(of: [s], settings: settings(to, ["threshold": 1])) == [["": 20]])
        #expect(try to.values(of: [s], settings: settings(to, ["threshold": 0.001])) == [["": .infinity]])
        #expect(try between.values(of: [s], settings: settings(between)) == [["": 30]])
        #expect(try between.values(of: [s], settings: settings(between, ["from": 0.5, "to": 0.05])) == [["": 20]])
        #expect(try between.values(of: [s], settings: settings(between, ["to": 0.001])) == [["": .infinity]])
    }

    /// A run without a step log is refused, naming the run.
    @Test func noStepLosses() throws {
        let s = subject(try Fixtures.mlp(seed: 1), run: "unlogged-run")
        let m = DynamicsMeasures.StepsToLoss()
        #expect { try m.values(of: [s], settings: settings(m)) } throws: { error in
            "\(error)".contains("unlogged-run") && "\(error)".contains("step logging")
        }
    }

    /// Mohammadi et al.'s estimator recovers α of symmetric α-stable samples (Chambers–Mallows–
    /// Stuck) within 0.15, and 2 for Gaussian samples.
    @Test(arguments: [1.2, 1.8]) func tailIndexOfStableSamples(alpha: Double) {
        let x = symmetricStable(alpha: alpha, count: 250_000, key: RandomKey(seed: 7).derived(Int(alpha * 10)))
        let estimate = stableTailIndex(x)
        #expect(abs(estimate - alpha) < 0.15, "α̂ = \(estimate) for α = \(alpha)")
        let gaussian = RandomKey(seed: 8).normal(count: 250_000).map(Double.init)
        #expect(abs(stableTailIndex(gaussian) - 2) < 0.15)
    }

    /// Batch size 1 with every example its own minibatch: the noise is the mean over examples of
    /// ‖g_i − ḡ‖² for the hand-derived per-example gradients of logistic regression,
    /// g_i = (softmax(Wx_i + b) − e_{y_i}) ⊗ (x_i, 1); the SNR is ‖ḡ‖² over it.
    @Test func gradientNoiseOfLogisticRegression() throws {
        let net = try Fixtures.mlp(seed: 4, hidden: "")
        let data = Fixtures.data, n = data.count
        let w = net.parameters["1.weight"]!.scalars, b = net.parameters["1.bias"]!.scalars, x = data.inputs.scalars
        var perExample: [[Double]] = []
        for i in 0..<n {
            let z = (0..<3).map { c in (0..<5).reduce(Double(b[c])) { $0 + Double(w[c * 5 + $1]) * Double(x[i * 5 + $1]) } }
            let m = z.max()!, e = z.map { exp($0 - m) }, total = e.reduce(0, +)
            let r = (0..<3).map { e[$0] / total - ($0 == data.labels[i] ? 1 : 0) }
            perExample.append((0..<3).flatMap { c in (0..<5).map { r[c] * Double(x[i * 5 + $0]) } } + r)
        }
        let mean = (0..<18).map { q in perExample.reduce(0) { $0 + $1[q] } / Double(n) }
        let noise = perExample.reduce(0) { sum, g in sum + zip(g, mean).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } } / Double(n)
        let signal = mean.reduce(0) { $0 + $1 * $1 }

        let noiseMeasure = DynamicsMeasures.GradientNoise(), snr = DynamicsMeasures.GradientSignalToNoise()
        let tail = DynamicsMeasures.GradientNoiseTailIndex()
        let one = subject(net, batchSize: 1)
        let s = try settings(noiseMeasure, ["minibatches": Double(n)])
        let measured = try noiseMeasure.values(of: [one], settings: s)[0][""]!
        #expect(abs(measured - noise) < 1e-5 * noise)
        #expect(abs(try snr.values(of: [one], settings: s)[0][""]! - signal / noise) < 1e-4 * signal / noise)
        #expect(try tail.values(of: [one], settings: s)[0][""]!.isFinite)
        // Members of another batch size in the same call do not change it; twice the batch, about half the noise.
        let mixed = try noiseMeasure.values(of: [subject(net, batchSize: 2, run: "run-b"), one], settings: s)
        #expect(abs(mixed[1][""]! - measured) < 1e-9 * measured)
        #expect(mixed[0][""]! > 0 && mixed[0][""]! < measured)
    }

    /// A sample too small for two minibatches of the run's batch size is refused.
    @Test func gradientNoiseNeedsTwoMinibatches() throws {
        let m = DynamicsMeasures.GradientNoise()
        #expect { try m.values(of: [subject(try Fixtures.mlp(seed: 1), batchSize: 40)], settings: settings(m)) } throws: { error in
            "\(error)".contains("batch size 40")
        }
    }
}
