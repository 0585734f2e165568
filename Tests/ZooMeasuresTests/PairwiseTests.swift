import Foundation
import Testing
import ZooData
@testable import ZooMeasures
import ZooNN
import ZooTensor
import ZooTrain

private func subject(_ model: any Module, run: String, model name: String = "mlp") -> Subject {
    Subject(runID: run, epoch: 3,
            config: RunConfig(model: ModelSpec(name: name), data: DataSpec(name: "fixture"), training: TrainingConfig()),
            model: model, initial: model, sample: Fixtures.data)
}

private func settings(_ m: any PairMeasure, _ overrides: [String: Double] = [:]) throws -> MeasureSettings {
    try MeasureSettings().resolved(defaults: m.defaults, overrides: overrides, measure: m.name)
}

/// ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) after centring, in double precision with plain loops.
private func referenceCKA(_ x: [[Double]], _ y: [[Double]]) -> Double {
    func centred(_ m: [[Double]]) -> [[Double]] {
        let mean = (0..<m[0].count).map { q in m.reduce(0) { $0 + $1[q] } / Double(m.count) }
        return m.map { r in (0..<r.count).map { r[$0] - mean[$0] } }
    }
    func crossNorm2(_ a: [[Double]], _ b: [[Double]]) -> Double {
        var s = 0.0
        for p in 0..<a[0].count { for q in 0..<b[0].count {
            let v = a.indices.reduce(0.0) { $0 + a[$1][p] * b[$1][q] }
            s += v * v
        } }
        return s
    }
    let (a, b) = (centred(x), centred(y))
    return crossNorm2(a, b) / (crossNorm2(a, a).squareRoot() * crossNorm2(b, b).squareRoot())
}

private func rows(_ t: Tensor) -> [[Double]] {
    (0..<t.shape[0]).map { i in t[i].scalars.map(Double.init) }
}

@Suite("Pairwise measures")
struct PairwiseTests {
    /// For one-dimensional representations CKA is the squared correlation: (1,2,3,4) against
    /// (1,2,4,8) gives 11.5² / (5 · 28.75) = 0.92.
    @Test func ckaHandValue() {
        let x = Tensor(shape: [4, 1], scalars: [1, 2, 3, 4]), y = Tensor(shape: [4, 1], scalars: [1, 2, 4, 8])
        #expect(abs(linearCKA(x, y) - 0.92) < 1e-6)
        #expect(abs(linearCKA(x, Tensor(shape: [4, 1], scalars: [1, 0, 0, 1]))) < 1e-7)
    }

    /// CKA(X, X) = 1; invariance to an orthogonal transform and to isotropic scaling; agreement
    /// with the plain formula both when features are kept (D < n) and when Gram matrices are (D ≥ n).
    @Test(arguments: [(12, 5), (6, 9)]) func ckaInvariances(n: Int, d: Int) {
        let x = Tensor.randomNormal([n, d], key: RandomKey(seed: 1))
        let y = Tensor.randomNormal([n, d + 2], key: RandomKey(seed: 2)) + matmul(x, Tensor.randomNormal([d, d + 2], key: RandomKey(seed: 3)))
        #expect(abs(linearCKA(x, x) - 1) < 1e-5)
        // A rotation by 0.7 radians in the plane of the first two features, a reflection of the third.
        let (c, s) = (Float(cos(0.7)), Float(sin(0.7)))
        var q = [Float](repeating: 0, count: d * d)
        for i in 0..<d { q[i * d + i] = 1 }
        (q[0], q[1], q[d], q[d + 1], q[2 * d + 2]) = (c, -s, s, c, -1)
        let rotated = matmul(x, Tensor(shape: [d, d], scalars: q))
        let value = linearCKA(x, y)
        #expect(abs(linearCKA(rotated, y) - value) < 1e-5)
        #expect(abs(linearCKA(x * 3.7, y * 0.2) - value) < 1e-5)
        #expect(abs(value - referenceCKA(rows(x), rows(y))) < 1e-5)
        #expect(value > 0 && value < 1)
    }

    /// The measure: a member against itself is 1 at every layer and at the penultimate one;
    /// against another, in [0, 1]; each distinct member evaluated once.
    @Test func ckaMeasure() throws {
        let a = subject(try Fixtures.mlp(seed: 1), run: "a"), b = subject(try Fixtures.mlp(seed: 2), run: "b")
        let m = PairwiseMeasures.CKA()
        let values = try m.values(of: [(a, a), (a, b)], settings: settings(m, ["examples": 40]))
        #expect(Set(values[0].keys) == ["", "1", "2", "3"])  // Linear, Tanh, Linear; "" the Tanh's output
        for (_, v) in values[0] { #expect(abs(v - 1) < 1e-5) }
        for (_, v) in values[1] { #expect(v >= 0 && v <= 1 + 1e-6) }
        #expect(values[1][""] == values[1]["2"])
        let features = try FeatureExtractor(b.model, modelName: "mlp").penultimate(Fixtures.data.inputs.sliced(axis: 0, 0..<40))
        let other = try FeatureExtractor(a.model, modelName: "mlp").penultimate(Fixtures.data.inputs.sliced(axis: 0, 0..<40))
        #expect(abs(values[1][""]! - linearCKA(other, features)) < 1e-9)
    }

    /// A member disagrees with itself nowhere; with a copy whose output classes are permuted, on
    /// every row whose predicted class the permutation moves.
    @Test func predictionDisagreement() throws {
        let net = try Fixtures.mlp(seed: 3)
        let predictions = try argmaxRows(Evaluator().logits([net], inputs: Fixtures.data.inputs)[0])
        func permuted(_ order: [Int]) -> any Module {
            var p = net.parameters
            let w = p["3.weight"]!, b = p["3.bias"]!, width = w.shape[1]
            p["3.weight"] = Tensor(shape: w.shape, scalars: order.flatMap { w.scalars[$0 * width ..< ($0 + 1) * width] })
            p["3.bias"] = Tensor(order.map { b.scalars[$0] })
            return net.with(parameters: p)
        }
        let m = PairwiseMeasures.PredictionDisagreement()
        let a = subject(net, run: "a")
        let swap = subject(permuted([1, 0, 2]), run: "swap"), cycle = subject(permuted([1, 2, 0]), run: "cycle")
        let values = try m.values(of: [(a, a), (a, swap), (a, cycle), (swap, cycle)], settings: settings(m)).map { $0[""]! }
        let moved = Double(predictions.filter { $0 != 2 }.count) / Double(predictions.count)
        #expect(values[0] == 0)
        #expect(abs(values[1] - moved) < 1e-12)
        #expect(values[2] == 1)
        #expect(abs(values[3] - Double(predictions.filter { $0 != 1 }.count) / Double(predictions.count)) < 1e-12)  // both send 1 to 0
    }

    /// Every parameter shifted by 0.5: the distance is 0.5·√P; another architecture is refused.
    @Test func weightDistance() throws {
        let net = try Fixtures.mlp(seed: 4)
        let shifted = net.with(parameters: net.parameters.mapTensors { $0 + 0.5 })
        let m = PairwiseMeasures.WeightDistance()
        let values = try m.values(of: [(subject(net, run: "a"), subject(shifted, run: "b")), (subject(net, run: "a"), subject(net, run: "a"))],
                                  settings: settings(m))
        #expect(abs(values[0][""]! - 0.5 * Double(net.parameterCount).squareRoot()) < 1e-5)
        #expect(values[1][""] == 0)
        let wide = subject(try Fixtures.mlp(seed: 4, hidden: "9"), run: "wide")
        #expect { try m.values(of: [(subject(net, run: "a"), wide)], settings: settings(m)) } throws: { error in
            "\(error)".contains("wide") && "\(error)".contains("different architectures")
        }
    }
}
