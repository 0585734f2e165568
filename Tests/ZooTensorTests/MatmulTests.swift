import Testing
import ZooTensor
import ZooTestSupport

@Suite("Matrix products")
struct MatmulTests {
    /// The naive triple loop, batched over the leading axis.
    func reference(_ a: Tensor, _ b: Tensor) -> Tensor {
        let batch = a.rank == 3 ? a.shape[0] : 1
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        var out = [Float](repeating: 0, count: batch * m * n)
        for z in 0..<batch {
            for i in 0..<m { for j in 0..<n {
                var s: Float = 0
                for p in 0..<k {
                    let bIndex = b.rank == 3 ? z * k * n + p * n + j : p * n + j
                    s += a.scalars[z * m * k + i * k + p] * b.scalars[bIndex]
                }
                out[z * m * n + i * n + j] = s
            } }
        }
        return Tensor(shape: (a.rank == 3 ? [batch] : []) + [m, n], scalars: out)
    }

    @Test("forward and gradient", arguments: [([3, 4], [4, 5]), ([1, 1], [1, 1]), ([2, 3, 4], [4, 2]), ([2, 3, 4], [2, 4, 5]), ([7, 1], [1, 3])])
    func matmulMatchesReference(shapes: ([Int], [Int])) {
        let a = Tensor.randomNormal(shapes.0, key: RandomKey(seed: 6))
        let b = Tensor.randomNormal(shapes.1, key: RandomKey(seed: 7))
        #expect(isApproximatelyEqual(matmul(a, b), reference(a, b)))
        let r = checkGradients(of: { matmul($0[0], $0[1]) }, at: [a, b])
        #expect(r.passed, "\(shapes): \(r)")
    }

    @Test func broadcastBatch() {
        let a = Tensor.randomNormal([3, 4], key: RandomKey(seed: 8))
        let b = Tensor.randomNormal([2, 4, 5], key: RandomKey(seed: 9))
        #expect(matmul(a, b).shape == [2, 3, 5])
        let r = checkGradients(of: { matmul($0[0], $0[1]) }, at: [a, b])
        #expect(r.passed, "\(r)")
    }

    /// The transposing products equal products with materialized transposes, and pass finite
    /// differences; a second-order product through them matches finite differences of gradients.
    @Test func transposingProducts() {
        let key = RandomKey(seed: 10)
        let a = Tensor.randomNormal([5, 3], key: key.derived("a")), b = Tensor.randomNormal([4, 3], key: key.derived("b"))
        let c = Tensor.randomNormal([5, 4], key: key.derived("c"))
        #expect(isApproximatelyEqual(matmulTransposingB(a, b), matmul(a, b.transposed()), absolute: 1e-5))
        #expect(isApproximatelyEqual(matmulTransposingA(a, c), matmul(a.transposed(), c), absolute: 1e-5))
        #expect(checkGradients(of: { matmulTransposingB($0[0], $0[1]).tanh() }, at: [a, b]).passed)
        #expect(checkGradients(of: { matmulTransposingA($0[0], $0[1]).tanh() }, at: [a, c]).passed)
        // ∂/∂b of ‖∂L/∂a‖² with L = Σ tanh(a · bᵀ), against central differences in b.
        func gradNormSquared(_ bb: Tensor) -> (Tensor, Tensor) {
            let (ta, tb) = (a.requiringGradient(), bb.requiringGradient())
            let ga = gradients(of: matmulTransposingB(ta, tb).tanh().sum(), wrt: [ta], createGraph: true)[0]
            let q = (ga * ga).sum()
            return (q, gradients(of: q, wrt: [tb])[0])
        }
        let analytic = gradNormSquared(b).1
        let v = Tensor.randomNormal(b.shape, key: key.derived("v")), eps: Float = 1e-2
        let numeric = (gradNormSquared(b + eps * v).0 - gradNormSquared(b - eps * v).0) / (2 * eps)
        #expect(abs((analytic * v).sum().scalar - numeric.scalar) < 2e-2 * max(1, abs(numeric.scalar)))
    }

    /// Stacked products, for every pair of transposes: each member's slice equals its own product
    /// bit for bit (a member's result does not depend on the stack), and gradients pass finite
    /// differences (the backward products are stacked products of the other transposes).
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func stackedProducts(transposingA ta: Bool, transposingB tb: Bool) {
        let key = RandomKey(seed: 11)
        let (k, m, n, inner) = (3, 4, 5, 6)
        let a = Tensor.randomNormal(ta ? [k, inner, m] : [k, m, inner], key: key.derived("a"))
        let b = Tensor.randomNormal(tb ? [k, n, inner] : [k, inner, n], key: key.derived("b"))
        let c = stackedMatmul(a, b, transposingA: ta, transposingB: tb)
        #expect(c.shape == [k, m, n])
        for i in 0..<k {
            let ai = a.sliced(axis: 0, i ..< i + 1), bi = b.sliced(axis: 0, i ..< i + 1)
            #expect(stackedMatmul(ai, bi, transposingA: ta, transposingB: tb) == c.sliced(axis: 0, i ..< i + 1))
            let plain = matmul(ta ? ai.reshaped([inner, m]).transposed() : ai.reshaped([m, inner]),
                               tb ? bi.reshaped([n, inner]).transposed() : bi.reshaped([inner, n]))
            #expect(isApproximatelyEqual(c.sliced(axis: 0, i ..< i + 1).reshaped([m, n]), plain, absolute: 1e-5))
        }
        #expect(checkGradients(of: { stackedMatmul($0[0], $0[1], transposingA: ta, transposingB: tb).tanh() }, at: [a, b]).passed)
    }

    /// A product split over two threads equals the single-threaded one.
    @Test func threadCountIsSettableAndSplitsAgree() {
        let key = RandomKey(seed: 9)
        let a = Tensor.randomNormal([300, 200], key: key.derived("a")), b = Tensor.randomNormal([200, 90], key: key.derived("b"))
        let one = BLAS.withThreadCount(1) { () -> Tensor in
            #expect(BLAS.threadCount == 1)
            return matmul(a, b)
        }
        let two = BLAS.withThreadCount(2) { () -> Tensor in
            #expect(BLAS.threadCount == 2)
            return matmul(a, b)
        }
        #expect(isApproximatelyEqual(one, two, absolute: 1e-4))
        let wide = BLAS.withThreadCount(2) { matmul(b.transposed(), a.transposed()) }
        #expect(isApproximatelyEqual(wide, one.transposed(), absolute: 1e-4))
    }
}
