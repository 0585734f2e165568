import Testing
import ZooTensor
import ZooTestSupport

@Suite("Reductions and shape ops")
struct ReductionAndShapeTests {
    let x = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])

    @Test func reductionValues() {
        #expect(x.sum().scalar == 21)
        #expect(x.sum(alongAxis: 0).scalars == [5, 7, 9])
        #expect(x.sum(alongAxis: -1, keepingDimensions: true).shape == [2, 1])
        #expect(x.mean(alongAxis: 1).scalars == [2, 5])
        #expect(x.max(alongAxes: [1]).scalars == [3, 6])
        #expect(x.min().scalar == 1)
        #expect(x.argmax(alongAxis: 1).scalars == [2, 2])
        #expect(Tensor(shape: [2, 2], scalars: [3, 1, 0, 7]).argmax(alongAxis: 0).scalars == [0, 1])
        #expect(abs(x.variance().scalar - 35.0 / 12) < 1e-6)
        #expect(abs(x.variance(unbiased: true).scalar - 3.5) < 1e-6)
        #expect(abs(Tensor([0, 0]).logSumExp(alongAxes: [0]).scalar - 0.6931472) < 1e-6)
    }

    @Test("reduction gradients", arguments: [[0], [1], [2], [0, 2], []])
    func reductionGradients(axes: [Int]) {
        let key = RandomKey(seed: 3)
        let t = randomDistinct([3, 4, 5], key: key)
        for (name, f) in [("sum", { (x: Tensor) in x.sum(alongAxes: axes) }), ("mean", { $0.mean(alongAxes: axes, keepingDimensions: true) }),
                          ("max", { $0.max(alongAxes: axes) }), ("min", { $0.min(alongAxes: axes) }),
                          ("variance", { $0.variance(alongAxes: axes, unbiased: true) }), ("logSumExp", { $0.logSumExp(alongAxes: axes) })] as [(String, (Tensor) -> Tensor)] {
            let r = checkGradients(of: { f($0[0]) }, at: [t])
            #expect(r.passed, "\(name) over \(axes): \(r)")
        }
    }

    @Test func shapeOpValues() {
        #expect(x.transposed().scalars == [1, 4, 2, 5, 3, 6])
        #expect(x.reshaped([3, -1]).shape == [3, 2])
        #expect(x.sliced(axis: 1, 1..<3).scalars == [2, 3, 5, 6])
        #expect(x[1].scalars == [4, 5, 6])
        #expect(Tensor.concatenated([x, x], axis: 1).scalars == [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
        #expect(Tensor.stacked([Tensor([1, 2]), Tensor([3, 4])], axis: 1).scalars == [1, 3, 2, 4])
        #expect(Tensor([1, 2]).padded(axis: 0, before: 1, after: 2).scalars == [0, 1, 2, 0, 0])
        let p = Tensor.arange(0, 24).reshaped([2, 3, 4]).permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        #expect(p.scalars.prefix(6) == [0, 4, 8, 12, 16, 20])
        #expect(Tensor([1, 2]).expanded(to: [2, 2]).scalars == [1, 2, 1, 2])
    }

    @Test func shapeOpGradients() {
        let t = Tensor.randomNormal([2, 3, 4], key: RandomKey(seed: 4))
        let u = Tensor.randomNormal([2, 2, 4], key: RandomKey(seed: 5))
        let cases: [(String, ([Tensor]) -> Tensor)] = [
            ("reshape", { $0[0].reshaped([6, 4]) }),
            ("permute", { $0[0].permuted([1, 2, 0]) }),
            ("transpose", { $0[0].transposed() }),
            ("slice", { $0[0].sliced(axis: 1, 1..<3) }),
            ("pad", { $0[0].padded(axis: 2, before: 2, after: 1) }),
            ("concatenate", { Tensor.concatenated([$0[0], $0[1]], axis: 1) }),
            ("stack", { Tensor.stacked([$0[0].sliced(axis: 1, 0..<2), $0[1]], axis: 0) }),
            ("expand", { $0[0].sliced(axis: 1, 0..<1).expanded(to: [2, 5, 4]) }),
        ]
        for (name, f) in cases {
            let r = checkGradients(of: f, at: [t, u])
            #expect(r.passed, "\(name): \(r)")
        }
    }

    /// `subsampled` is `x[:, :, ::sh, ::sw]` (against index arithmetic, on odd and even extents
    /// and planes on several threads); `spread` is its adjoint, and both have finite-difference
    /// gradients, twice over.
    @Test(arguments: [(2, 2), (3, 2), (1, 3)])
    func subsampleAndSpread(sh: Int, sw: Int) {
        let x = Tensor.randomNormal([3, 40, 7, 8], key: RandomKey(seed: 6))
        let s = x.subsampled(stride: (sh, sw))
        let (oh, ow) = ((7 + sh - 1) / sh, (8 + sw - 1) / sw)
        #expect(s.shape == [3, 40, oh, ow])
        var wrong = 0
        for p in 0 ..< 120 { for i in 0..<oh { for j in 0..<ow where s.scalars[(p * oh + i) * ow + j] != x.scalars[(p * 7 + i * sh) * 8 + j * sw] { wrong += 1 } } }
        #expect(wrong == 0)
        // ⟨subsample(x), y⟩ = ⟨x, spread(y)⟩.
        let y = Tensor.randomNormal(s.shape, key: RandomKey(seed: 7))
        let lhs = (s * y).sum().scalars[0], rhs = (x * y.spread(stride: (sh, sw), height: 7, width: 8)).sum().scalars[0]
        #expect(abs(lhs - rhs) <= 1e-3 * abs(lhs) + 1e-3)
        let small = Tensor.randomNormal([2, 2, 5, 4], key: RandomKey(seed: 8))
        #expect(checkGradients(of: { $0[0].subsampled(stride: (sh, sw)) }, at: [small]).passed)
        #expect(checkGradients(of: { $0[0].spread(stride: (sh, sw), height: 5, width: 4) }, at: [small.subsampled(stride: (sh, sw))]).passed)
        // Second order, through spread's own pullback: for L = Σ subsample(z)², the gradient of
        // ⟨∇L, v⟩ is 2·spread(subsample(v)).
        let v = Tensor.randomNormal(small.shape, key: RandomKey(seed: 9)), z = small.requiringGradient()
        let g = gradients(of: (z.subsampled(stride: (sh, sw)) * z.subsampled(stride: (sh, sw))).sum(), wrt: [z], createGraph: true)[0]
        let hv = gradients(of: (g * v).sum(), wrt: [z])[0]
        #expect(hv.scalars == (2 * v.subsampled(stride: (sh, sw))).spread(stride: (sh, sw), height: 5, width: 4).scalars)
    }
}
