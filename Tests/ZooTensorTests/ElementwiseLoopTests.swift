import Testing
import ZooTensor
import ZooTestSupport

/// The element-wise ops that run as C loops in chunks over the engine's threads (`loops.h`):
/// on tensors of several chunks, with an odd tail and the edge values of a ReLU, every element
/// equals the scalar Swift rule bit for bit, on 1, 2 or 3 threads. And batch norm's loops: the
/// one-pass masked sums are the bits of the two reductions over the masked gradient written out,
/// the output and input-gradient passes the bits of their Swift expressions (no fused
/// multiply-add on any path).
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

    @Test(arguments: [0, 5, 37, 1_003])
    func normalizeIsTheScalarExpression(count: Int) {
        let x = Array(Self.values("x").scalars.prefix(count)), r = Array(Self.values("r").scalars.suffix(count))
        let (mean, scale, shift): (Float, Float, Float) = (0.3125, 1.7, -0.45)
        for (withResidual, relu) in [(false, false), (false, true), (true, false), (true, true)] {
            var y = [Float](repeating: .nan, count: count)
            x.withUnsafeBufferPointer { px in
                r.withUnsafeBufferPointer { pr in
                    y.withUnsafeMutableBufferPointer { py in
                        guard count > 0 else { return }
                        NormalizationLoops.normalize(px.baseAddress!, residual: withResidual ? pr.baseAddress! : nil, into: py.baseAddress!,
                                                     count, mean: mean, scale: scale, shift: shift, relu: relu)
                    }
                }
            }
            var wrong = 0
            for i in 0..<count {
                var v = (x[i] - mean) * scale + shift
                if withResidual { v = v + r[i] }
                if relu { v = Swift.max(v, 0) }
                if y[i].bitPattern != v.bitPattern { wrong += 1 }
            }
            #expect(wrong == 0, "\(wrong) of \(count) differ, residual \(withResidual), relu \(relu)")
        }
    }

    @Test(arguments: [0, 5, 37, 1_003])
    func normalizeGradientIsTheScalarExpression(count: Int) {
        let g = Array(Self.values("g").scalars.prefix(count)), x = Array(Self.values("x").scalars.suffix(count))
        let mask = Array(Self.values("mask").scalars.prefix(count))
        let (k, meanG, mean, inv, meanGX): (Float, Float, Float, Float, Float) = (0.8, 0.0625, -0.3, 2.3, 0.41)
        for masked in [false, true] {
            var dx = [Float](repeating: .nan, count: count)
            g.withUnsafeBufferPointer { pg in
                mask.withUnsafeBufferPointer { pm in
                    x.withUnsafeBufferPointer { px in
                        dx.withUnsafeMutableBufferPointer { pd in
                            guard count > 0 else { return }
                            NormalizationLoops.inputGradient(pg.baseAddress!, mask: masked ? pm.baseAddress! : nil, px.baseAddress!,
                                                             into: pd.baseAddress!, count, k: k, meanG: meanG, mean: mean, inv: inv,
                                                             meanGX: meanGX)
                        }
                    }
                }
            }
            var wrong = 0
            for i in 0..<count {
                let gm = masked ? g[i] * (mask[i] > 0 ? 1 : 0) : g[i]
                let expected = k * (gm - meanG - (x[i] - mean) * inv * meanGX)
                if dx[i].bitPattern != expected.bitPattern { wrong += 1 }
            }
            #expect(wrong == 0, "\(wrong) of \(count) differ, masked \(masked)")
        }
    }

    /// 1-D im2col's rows (`unfold_lines`) and their adjoint (`fold_lines`): runs of 0-40 outputs
    /// with zeros before and after, 3 samples, against the scalar loops bit for bit. The inputs
    /// end where the last sample's run ends, and fold leaves every element off the run (the odd
    /// ones of a stride-2 run, −0 among them) with its bits.
    @Test(arguments: [1, 2, 3])
    func linesAreTheScalarLoops(stride: Int) {
        let loops = BLAS.loops, samples = 3, edge = Self.values("lines").scalars
        var wrong = 0
        for n in 0...40 {
            for lo in [0, 2] {
                let ow = lo + n + 1, sampleStride = max(1, (n - 1) * stride + 1) + 3
                let count = (samples - 1) * sampleStride + max(0, (n - 1) * stride + 1)
                let x = Array(edge.prefix(count)), terms = Array(edge.suffix(samples * ow))
                var col = [Float](repeating: .nan, count: samples * ow)
                var folded = x
                x.withUnsafeBufferPointer { px in
                    col.withUnsafeMutableBufferPointer { loops.unfold_lines(px.baseAddress, sampleStride, samples, stride, lo, lo + n, ow, $0.baseAddress) }
                }
                terms.withUnsafeBufferPointer { pt in
                    folded.withUnsafeMutableBufferPointer { loops.fold_lines(pt.baseAddress, samples, stride, lo, lo + n, ow, $0.baseAddress, sampleStride) }
                }
                var expected = x
                for s in 0..<samples {
                    for j in 0..<ow {
                        let copied: Float = j >= lo && j < lo + n ? x[s * sampleStride + (j - lo) * stride] : 0
                        if col[s * ow + j].bitPattern != copied.bitPattern { wrong += 1 }
                    }
                    for j in lo ..< lo + n { expected[s * sampleStride + (j - lo) * stride] += terms[s * ow + j] }
                }
                wrong += zip(folded, expected).filter { $0.bitPattern != $1.bitPattern }.count
            }
        }
        #expect(wrong == 0, "\(wrong) elements differ with stride \(stride)")
    }

    /// `row_sums` (a bias gradient's channel sums) adds each row's `sum` into its member's slot,
    /// row by row: the bits of those calls written out, for rows shorter and longer than a vector.
    @Test(arguments: [1, 5, 19, 70])
    func rowSumsAreTheRowsSums(length: Int) {
        let loops = BLAS.loops, rows = 12, perSum = 4, stride = length + 3, sumStride = 2
        let x = Array(Tensor.randomNormal([rows * stride], key: RandomKey(seed: 19).derived(length)).scalars)
        var sums = [Float](repeating: 0.25, count: rows / perSum * sumStride), expected = sums
        x.withUnsafeBufferPointer { px in
            sums.withUnsafeMutableBufferPointer { loops.row_sums(px.baseAddress, rows, length, stride, perSum, $0.baseAddress, sumStride) }
            for r in 0..<rows { expected[r / perSum * sumStride] += loops.sum(px.baseAddress! + r * stride, length) }
        }
        #expect(sums.map(\.bitPattern) == expected.map(\.bitPattern), "\(sums) against \(expected)")
    }
}
