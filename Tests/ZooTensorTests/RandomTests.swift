import Testing
import ZooTensor

@Suite("Counter-based random numbers")
struct RandomTests {
    @Test func sameKeySameBits() {
        let k = RandomKey(seed: 42, stream: 7)
        #expect(Tensor.randomNormal([1000], key: k) == Tensor.randomNormal([1000], key: k))
        #expect(Tensor.randomUniform([33], key: k) == Tensor.randomUniform([33], key: k))
    }

    @Test func prefixIsStable() {
        // Element i depends only on (seed, stream, i): a longer draw extends a shorter one.
        let k = RandomKey(seed: 1)
        #expect(Array(k.normal(count: 101).prefix(7)) == k.normal(count: 7))
        #expect(Array(k.uniform(count: 50).prefix(9)) == k.uniform(count: 9))
    }

    @Test func momentsOfDraws() {
        let n = 100_000
        let z = RandomKey(seed: 3).normal(count: n).map(Double.init)
        let mean = z.reduce(0, +) / Double(n)
        let variance = z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        // Standard errors: mean 1/√n ≈ 0.003, variance √(2/n) ≈ 0.0045; allow 4 of them.
        #expect(abs(mean) < 0.013)
        #expect(abs(variance - 1) < 0.018)
        let u = RandomKey(seed: 4).uniform(count: n).map(Double.init)
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(abs(u.reduce(0, +) / Double(n) - 0.5) < 4 * (1.0 / 12).squareRoot() / Double(n).squareRoot())
        let b = Tensor.bernoulli([n], probability: 0.3, key: RandomKey(seed: 5)).scalars.reduce(0, +) / Float(n)
        #expect(abs(b - 0.3) < 4 * (0.3 * 0.7 / Float(n)).squareRoot())
    }

    @Test func streamsAreUncorrelated() {
        let n = 100_000
        let a = RandomKey(seed: 9, stream: 0).normal(count: n), b = RandomKey(seed: 9, stream: 1).normal(count: n)
        let c = RandomKey(seed: 9).derived("layer.weight").normal(count: n)
        for (x, y) in [(a, b), (a, c), (b, c)] {
            let r = zip(x, y).map { Double($0) * Double($1) }.reduce(0, +) / Double(n)
            #expect(abs(r) < 4 / Double(n).squareRoot(), "correlation \(r)")
        }
        #expect(a != b)
    }

    @Test func permutationIsAPermutation() {
        let p = RandomKey(seed: 2).permutation(1000)
        #expect(p.sorted() == Array(0..<1000))
        #expect(p != Array(0..<1000))
    }
}
