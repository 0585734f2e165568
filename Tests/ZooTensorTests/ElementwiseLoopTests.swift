import Testing
import ZooTensor
import ZooTestSupport

/// The element-wise ops that run as C loops in chunks over the engine's threads (`loops.h`):
/// on tensors of several chunks, with an odd tail and the edge values of a ReLU, every element
/// equals the scalar Swift rule bit for bit, on 1, 2 or 3 threads. And batch norm's one-pass
/// masked sums: the bits of the two reductions over the masked gradient written out.
@Suite("Chunked element-wise loops")
struct ElementwiseLoopTests {
    /// 100,003 elements (three chunks and a partial one), zeros of both signs, NaN and infinities.
    static func values(_ key: String) -> Tensor {
        var t = Tensor.randomNormal([100_003], key: RandomKey(seed: 17).derived(key)).scalars
        for (i, v) in [Float(0), -0.0, .nan, .infinity, -.infinity].enumerated() {
            for at in stride(from: i * 7, to: t.count, by: 9_973) { t[at] = v }
        }
        return Tensor(shape: [100_003], scalars: t)
    }

    @Test(arguments: [1, 2, 3])
    func everyElementIsTheScalarRule(threads: Int) {
        let a = Self.values("a"), b = Self.values("b")
        let (x, y) = (a.scalars, b.scalars)
        let (sum, relu, masked) = BLAS.withThreadCount(threads) { (a + b, reluOfSum(a, b), a.reluGradient(b)) }
        var wrong = 0
        for i in x.indices {
            if sum.scalars[i].bitPattern != (x[i] + y[i]).bitPattern { wrong += 1 }
            if relu.scalars[i].bitPattern != Swift.max(x[i] + y[i], 0).bitPattern { wrong += 1 }
            if masked.scalars[i].bitPattern != (y[i] * (x[i] > 0 ? 1 : 0)).bitPattern { wrong += 1 }
        }
        #expect(wrong == 0, "\(wrong) elements differ on \(threads) threads")
    }

    @Test(arguments: [0, 5, 37, 100, 1_003])
    func maskedSumsAreTheTwoReductions(count: Int) {
        // Finite g and x (a NaN would hide the order of the sums); the mask has the edge values.
        let key = RandomKey(seed: 18), loops = BLAS.loops, shift: Float = 0.375
        let g = Tensor.randomNormal([count], key: key.derived("g")).scalars, x = Tensor.randomNormal([count], key: key.derived("x")).scalars
        let mask = Array(Self.values("mask").scalars.prefix(count))
        for masked in [false, true] {
            let gm = masked ? zip(g, mask).map { $0 * ($1 > 0 ? 1 : 0) } : g
            var sums: [Float] = [0, 0]
            g.withUnsafeBufferPointer { pg in
                mask.withUnsafeBufferPointer { pm in
                    x.withUnsafeBufferPointer { px in
                        loops.masked_sums(pg.baseAddress, masked ? pm.baseAddress : nil, px.baseAddress, shift, count, &sums)
                    }
                }
            }
            let (sum, dot) = gm.withUnsafeBufferPointer { pg in
                x.withUnsafeBufferPointer { px in (loops.sum(pg.baseAddress, count), loops.centered_dot(pg.baseAddress, px.baseAddress, shift, count)) }
            }
            #expect(sums[0].bitPattern == sum.bitPattern && sums[1].bitPattern == dot.bitPattern,
                    "\(count) elements, masked \(masked): \(sums) against \(sum), \(dot)")
        }
    }
}
