import Foundation
import Testing
import ZooData
import ZooMeasures
import ZooNN
import ZooTensor
import ZooTestSupport
import ZooTrain

/// Small networks and data shared by the measure tests.
enum Fixtures {
    /// 60 rows of 5 features, 3 classes from a random linear teacher.
    static let data: LabeledData = {
        let x = Tensor.randomNormal([60, 5], key: RandomKey(seed: 11))
        let w = Tensor.randomNormal([3, 5], key: RandomKey(seed: 12))
        let logits = matmulTransposingB(x, w)
        return LabeledData(inputs: x, labels: argmaxRows(logits), classCount: 3)
    }()

    static func mlp(seed: UInt64, hidden: String = "7") throws -> any Module {
        try ModelCatalog.make("mlp", options: ["hidden": hidden, "activation": "tanh"], input: ModelInput(shape: [5], classCount: 3),
                              key: RandomKey(seed: seed))
    }
}

@Suite("Evaluator")
struct EvaluatorTests {
    /// Stacked evaluation gives each network what it gives alone (slices of 2, batches of 7 rows).
    @Test func stackedEqualsAlone() throws {
        let nets = try (0..<5).map { try Fixtures.mlp(seed: UInt64($0)) }
        let stacked = try Evaluator(slice: 2, batchRows: 7).lossAndGradient(nets, on: Fixtures.data)
        for (k, net) in nets.enumerated() {
            let alone = try Evaluator(slice: 1, batchRows: 60).lossAndGradient([net], on: Fixtures.data)[0]
            #expect(abs(stacked[k].loss - alone.loss) < 1e-5)
            for (name, g) in alone.gradient { #expect(isApproximatelyEqual(stacked[k].gradient[name]!, g, absolute: 1e-5)) }
            let la = try Evaluator().lossAndAccuracy([net], on: Fixtures.data)[0]
            #expect(abs(la.loss - alone.loss) < 1e-5)
        }
    }

    /// The gradient matches central finite differences of the loss; the Hessian-vector product
    /// matches finite differences of the gradient.
    @Test func gradientAndHessianVectorProduct() throws {
        let net = try Fixtures.mlp(seed: 3)
        let e = Evaluator(slice: 4, batchRows: 25)
        let g = try e.lossAndGradient([net], on: Fixtures.data)[0].gradient
        let v = net.parameters.mapTensors { Tensor.randomNormal($0.shape, key: RandomKey(seed: UInt64($0.count))) }
        let hv = try e.hessianVectorProducts([net, net], vectors: [v, v.mapTensors { $0 * 2 }], on: Fixtures.data)
        let h: Float = 1e-2
        let plus = net.with(parameters: net.parameters.zipTensors(v) { $0 + $1 * h })
        let minus = net.with(parameters: net.parameters.zipTensors(v) { $0 - $1 * h })
        let gp = try e.lossAndGradient([plus], on: Fixtures.data)[0], gm = try e.lossAndGradient([minus], on: Fixtures.data)[0]
        var directional = 0.0
        for (name, t) in g { directional += zip(t.scalars, v[name]!.scalars).reduce(0.0) { $0 + Double($1.0 * $1.1) } }
        #expect(abs((gp.loss - gm.loss) / Double(2 * h) - directional) < 1e-3 * max(1, abs(directional)))
        for (name, t) in hv[0] {
            let numeric = (gp.gradient[name]! - gm.gradient[name]!) * (1 / (2 * h))
            #expect(maxAbsoluteDifference(t, numeric) < 2e-3, "\(name)")
            #expect(maxAbsoluteDifference(hv[1][name]!, t * 2) < 1e-4, "\(name) linear in v")
        }
    }
}

@Suite("Output measures")
struct OutputMeasureTests {
    /// Margins, entropy and percentiles on hand-made logits.
    @Test func marginEntropyPercentile() {
        let logits = Tensor(shape: [3, 3], scalars: [2, 0, 1, 0, 0, 0, 1, 3, 0])
        #expect(rowMargins(logits, [0, 1, 0]) == [1, 0, -2])
        #expect(abs(meanEntropy(Tensor(shape: [1, 4], scalars: [0, 0, 0, 0])) - log(4.0)) < 1e-12)
        #expect(percentile([4, 1, 3, 2, 5], 50) == 3)
        #expect(abs(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 10) - 2) < 1e-12)
        #expect(percentile([1, 2], 25) == 1.25)
    }
}
