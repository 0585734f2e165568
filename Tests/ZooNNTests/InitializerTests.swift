import Foundation
import Testing
import ZooNN
import ZooTensor

/// Moments of 10⁵ draws against the formulas. With n = 10⁵ the standard error of a sample
/// standard deviation is about σ/√(2n) ≈ 0.22 % of σ; the tolerance is 1.5 %.
@Suite("Initializers")
struct InitializerTests {
    let shape = [250, 100, 2, 2]   // 10⁵ elements; fanIn 400, fanOut 1000
    let key = RandomKey(seed: 77)

    func moments(_ t: Tensor) -> (mean: Double, sd: Double, maxAbs: Double) {
        let v = t.scalars.map(Double.init)
        let mean = v.reduce(0, +) / Double(v.count)
        let sd = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
        return (mean, sd, v.map(abs).max()!)
    }

    /// (name, initializer, expected standard deviation, bounded) for a weight [250, 100, 2, 2].
    static let schemes: [(String, Initializer, Double, Bool)] = {
        let fanIn = 400.0, fanOut = 1000.0
        var s: [(String, Initializer, Double, Bool)] = []
        s.append(("xavier-uniform", .xavierUniform(gain: 1), (2 / (fanIn + fanOut)).squareRoot(), true))
        s.append(("xavier-normal", .xavierNormal(gain: 1), (2 / (fanIn + fanOut)).squareRoot(), false))
        s.append(("kaiming-uniform relu", .kaimingUniform(gain: Float(2).squareRoot(), mode: .fanIn), (2 / fanIn).squareRoot(), true))
        s.append(("kaiming-normal relu", .kaimingNormal(gain: Float(2).squareRoot(), mode: .fanIn), (2 / fanIn).squareRoot(), false))
        s.append(("kaiming-normal fan-out", .kaimingNormal(gain: 1, mode: .fanOut), (1 / fanOut).squareRoot(), false))
        s.append(("uniform", .uniform(low: -0.5, high: 0.5), 1 / 12.0.squareRoot(), true))
        s.append(("normal", .normal(mean: 0, standardDeviation: 0.3), 0.3, false))
        s.append(("pytorch default", .pytorchDefault, 1 / (3 * fanIn).squareRoot(), true))
        return s
    }()

    @Test("variance-scaling schemes", arguments: schemes.map(\.0))
    func statistics(name: String) {
        let (_, initializer, expectedSD, bounded) = Self.schemes.first { $0.0 == name }!
        let t = initializer.make(shape, key: key)
        let m = moments(t)
        #expect(abs(m.mean) < 4 * expectedSD / 316, "\(name) mean \(m.mean)")
        #expect(abs(m.sd / expectedSD - 1) < 0.015, "\(name) sd \(m.sd) vs \(expectedSD)")
        if bounded { #expect(m.maxAbs <= expectedSD * 3.0.squareRoot() * 1.0001, "\(name) exceeds its bound") }
        #expect(t == initializer.make(shape, key: key), "\(name) is not deterministic")
        #expect(t != initializer.make(shape, key: key.derived(1)))
    }

    @Test func orthogonalIsOrthogonal() {
        for shape in [[6, 6], [4, 9], [9, 4], [8, 2, 3, 3]] {
            let w = Initializer.orthogonal(gain: 2).make(shape, key: key)
            let m = w.reshaped([shape[0], -1])
            let gram = shape[0] <= m.shape[1] ? matmul(m, m.transposed()) : matmul(m.transposed(), m)
            let n = gram.shape[0]
            #expect(isApproximatelyEqualToIdentity(gram * 0.25, n: n), "\(shape)")
        }
    }

    private func isApproximatelyEqualToIdentity(_ t: Tensor, n: Int) -> Bool {
        (0..<n).allSatisfy { i in (0..<n).allSatisfy { j in abs(t.scalars[i * n + j] - (i == j ? 1 : 0)) < 1e-4 } }
    }

    @Test func constantAndFans() {
        #expect(Initializer.constant(value: 0.5).make([3], key: key).scalars == [0.5, 0.5, 0.5])
        #expect(Initializer.fans(of: [16, 8, 3, 3]) == (72, 144))
        #expect(Initializer.fans(of: [10, 20]) == (20, 10))
    }

    @Test func gainsFollowPyTorch() {
        #expect(Activation.relu.kaimingGain == Float(2).squareRoot())
        #expect(Activation.tanh.kaimingGain == 5.0 / 3)
        #expect(Activation.identity.kaimingGain == 1)
        #expect(abs(Activation.leakyReLU.kaimingGain - (2 / (1 + 0.01 * 0.01) as Float).squareRoot()) < 1e-6)
    }

    @Test func parsingListsChoices() throws {
        #expect(throws: (any Error).self) { try Initializer(parsing: "lecun", activation: .relu) }
        #expect(try Initializer(parsing: "kaiming-normal", activation: .relu) == .kaimingNormal(gain: Float(2).squareRoot(), mode: .fanIn))
    }
}
