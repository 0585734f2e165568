import Foundation
import Testing
import ZooNN
import ZooTensor
import ZooTestSupport

/// Finite-difference checks of activations, losses and normalizations (step 1e-2; an element
/// passes when |analytic − numeric| ≤ 1e-2 + 1e-2·|numeric|). Inputs of kinked functions stay
/// 0.1 away from the kink.
@Suite("Functional gradients")
struct FunctionalGradientTests {
    let key = RandomKey(seed: 61)

    @Test("activations", arguments: Activation.allCases)
    func activation(_ a: Activation) {
        let x = randomAwayFromZero([4, 6], margin: 0.1, key: key)
        let r = checkGradients(of: { a($0[0]) }, at: [x])
        #expect(r.passed, "\(a): \(r)")
    }

    @Test func parametrizedActivations() {
        let x = randomAwayFromZero([3, 4, 2, 2], margin: 0.1, key: key)
        for (name, f) in [("leakyReLU 0.2", { (t: [Tensor]) in leakyReLU(t[0], negativeSlope: 0.2) }),
                          ("elu 0.5", { elu($0[0], alpha: 0.5) }),
                          ("prelu per channel", { prelu($0[0], slope: $0[1]) })] as [(String, ([Tensor]) -> Tensor)] {
            let r = checkGradients(of: f, at: [x, Tensor([0.1, 0.3, -0.2, 0.25])])
            #expect(r.passed, "\(name): \(r)")
        }
        let shared = checkGradients(of: { prelu($0[0], slope: $0[1]) }, at: [x, Tensor([0.3])])
        #expect(shared.passed, "prelu shared: \(shared)")
    }

    @Test func activationValues() throws {
        let x = Tensor([-1, 0, 1])
        #expect(isApproximatelyEqual(gelu(Tensor([1])), Tensor([0.8413447])))
        #expect(isApproximatelyEqual(swish(x), Tensor([-0.26894142, 0, 0.7310586])))
        #expect(isApproximatelyEqual(elu(x), Tensor([Float(exp(-1.0)) - 1, 0, 1])))
        #expect(leakyReLU(x).scalars == [-0.01, 0, 1])
        #expect(isApproximatelyEqual(Activation.softplus(x), Tensor([0.31326166, 0.6931472, 1.3132616])))
        #expect(try Activation(parsing: "silu") == .swish)
        #expect(throws: InvalidChoice.self) { try Activation(parsing: "relu6") }
    }

    @Test func losses() {
        let logits = Tensor.randomNormal([5, 4], key: key)
        let labels = [0, 3, 1, 1, 2]
        let soft = softmax(Tensor.randomNormal([5, 4], key: key.derived(1)), axis: 1)
        let target = Tensor.randomNormal([5, 4], key: key.derived(2))
        for (name, f) in [("softmax", { (t: [Tensor]) in softmax(t[0], axis: 1) }),
                          ("logSoftmax axis 0", { logSoftmax($0[0], axis: 0) }),
                          ("crossEntropy", { crossEntropy(logits: $0[0], labels: labels) }),
                          ("crossEntropy smoothed", { crossEntropy(logits: $0[0], labels: labels, labelSmoothing: 0.1) }),
                          ("crossEntropy soft", { crossEntropy(logits: $0[0], targetProbabilities: soft) }),
                          ("meanSquaredError", { meanSquaredError($0[0], target) })] as [(String, ([Tensor]) -> Tensor)] {
            let r = checkGradients(of: f, at: [logits])
            #expect(r.passed, "\(name): \(r)")
        }
    }

    @Test func lossValues() {
        let uniform = Tensor.zeros([3, 10])
        #expect(abs(crossEntropy(logits: uniform, labels: [0, 4, 9]).scalar - Float(log(10.0))) < 1e-5)
        let rows = softmax(Tensor.randomNormal([4, 7], key: key), axis: 1).sum(alongAxis: 1)
        #expect(isApproximatelyEqual(rows, Tensor.ones([4])))
        // By hand: logits [0, ln 3] → p = [1/4, 3/4]; label 1, ε = 0.2 → target [0.1, 0.9];
        // loss = −(0.1·ln ¼ + 0.9·ln ¾).
        let l = crossEntropy(logits: Tensor(shape: [1, 2], scalars: [0, Float(log(3.0))]), labels: [1], labelSmoothing: 0.2).scalar
        #expect(abs(Double(l) - -(0.1 * log(0.25) + 0.9 * log(0.75))) < 1e-6)
        #expect(meanSquaredError(Tensor([1, 2]), Tensor([3, 2])).scalar == 2)
        #expect(accuracy(logits: Tensor(shape: [2, 2], scalars: [1, 0, 0, 1]), labels: [0, 0]) == 0.5)
        // Stable for large logits.
        #expect(crossEntropy(logits: Tensor(shape: [1, 2], scalars: [1000, 0]), labels: [1]).scalar == 1000)
    }

    @Test func normalizations() {
        let x4 = Tensor.randomNormal([3, 4, 3, 2], key: key)
        let x2 = Tensor.randomNormal([5, 3], key: key.derived(1))
        let single = Tensor.randomNormal([1, 2, 3, 3], key: key.derived(2))
        let w4 = Tensor.randomNormal([4], key: key.derived(3)), b4 = Tensor.randomNormal([4], key: key.derived(4))
        let rm = Tensor.randomNormal([4], key: key.derived(5)), rv = Tensor.randomUniform([4], low: 0.5, high: 2, key: key.derived(6))
        let cases: [(String, [Tensor], ([Tensor]) -> Tensor)] = [
            ("batchNorm train 4-D", [x4, w4, b4], { batchNorm($0[0], weight: $0[1], bias: $0[2], runningMean: rm, runningVariance: rv, training: true).output }),
            ("batchNorm eval 4-D", [x4, w4, b4], { batchNorm($0[0], weight: $0[1], bias: $0[2], runningMean: rm, runningVariance: rv, training: false).output }),
            ("batchNorm train 2-D", [x2], { batchNorm($0[0], weight: nil, bias: nil, runningMean: .zeros([3]), runningVariance: .ones([3]), training: true).output }),
            ("batchNorm batch 1", [single], { batchNorm($0[0], weight: nil, bias: nil, runningMean: .zeros([2]), runningVariance: .ones([2]), training: true).output }),
            ("layerNorm", [x4, Tensor.randomNormal([3, 2], key: key.derived(7)), Tensor.randomNormal([3, 2], key: key.derived(8))],
             { layerNorm($0[0], normalizedAxes: 2, weight: $0[1], bias: $0[2]) }),
            ("groupNorm", [x4, w4, b4], { groupNorm($0[0], groups: 2, weight: $0[1], bias: $0[2]) }),
            ("dropout", [x4], { dropout($0[0], probability: 0.3, key: RandomKey(seed: 9)) }),
        ]
        for (name, inputs, f) in cases {
            let r = checkGradients(of: f, at: inputs)
            #expect(r.passed, "\(name): \(r)")
        }
    }

    @Test func dropoutKeepsTheExpectation() {
        let x = Tensor.ones([100_000])
        let y = dropout(x, probability: 0.25, key: RandomKey(seed: 3))
        let kept = y.scalars.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 4.0 / 3) < 1e-6 })
        #expect(abs(Float(kept.count) / 100_000 - 0.75) < 0.006)  // 4 standard errors
        #expect(dropout(x, probability: 0.25, key: RandomKey(seed: 3)) == y)
    }

    /// A gradient penalty: ∂/∂x of ‖∇ₓ L‖² for L the cross-entropy of a small MLP, by double
    /// backward, against finite differences.
    @Test func gradientPenaltyDifferentiatesTwice() {
        let w1 = Tensor.randomNormal([6, 4], standardDeviation: 0.5, key: key.derived("w1"))
        let w2 = Tensor.randomNormal([3, 6], standardDeviation: 0.5, key: key.derived("w2"))
        let x = Tensor.randomNormal([5, 4], key: key.derived("x"))
        let r = checkGradients(of: { xs in
            GradientMode.withGradients {
                let t = xs[0].requiresGradient ? xs[0] : xs[0].requiringGradient()
                let h = gelu(matmul(t, xs[1].transposed()))
                let loss = crossEntropy(logits: matmul(softmax(h, axis: 1), w2.transposed()), labels: [0, 1, 2, 1, 0])
                let g = gradients(of: loss, wrt: [t], createGraph: true)[0]
                return (g * g).sum()
            }
        }, at: [x, w1])
        #expect(r.passed, "\(r)")
    }
}
