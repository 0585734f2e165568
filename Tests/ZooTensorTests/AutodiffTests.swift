import Testing
import ZooTensor
import ZooTestSupport

@Suite("Autodiff tape")
struct AutodiffTests {
    @Test func gradientOfPolynomial() {
        let x = Tensor([1, 2, 3]).requiringGradient()
        let y = (x * x * x).sum()  // dy/dx = 3x²
        #expect(gradient(of: y, wrt: x).scalars == [3, 12, 27])
    }

    @Test func noGradScopeAndDetach() {
        let x = Tensor([2]).requiringGradient()
        let y = withoutGradients { x * x }
        #expect(!y.requiresGradient)
        let z = (x * x.detached()).sum()
        #expect(gradient(of: z, wrt: x).scalars == [2])
    }

    @Test func unusedInputHasZeroGradient() {
        let x = Tensor([1, 2]).requiringGradient(), w = Tensor([3, 4]).requiringGradient()
        let g = gradients(of: (x * 2).sum(), wrt: [x, w])
        #expect(g[0].scalars == [2, 2])
        #expect(g[1].scalars == [0, 0])
    }

    @Test func backwardAccumulatesOverPasses() {
        let w = Tensor([1, -1]).requiringGradient()
        (w * 3).sum().backward()
        (w * w).sum().backward()
        #expect(w.gradient?.scalars == [3 + 2, 3 - 2])
        w.zeroGradient()
        #expect(w.gradient == nil)
    }

    @Test func secondDerivativeOfCube() {
        let x = Tensor([2]).requiringGradient()
        let g = gradient(of: (x * x * x).sum(), wrt: x, createGraph: true)  // 3x²
        #expect(g.requiresGradient)
        let h = gradient(of: g.sum(), wrt: x)  // 6x
        #expect(h.scalars == [12])
    }

    /// Hessian-vector product of a small tanh MLP: Hv from double backward vs the finite
    /// difference (∇f(w + εv) − ∇f(w − εv)) / 2ε, within 2e-2 relative.
    @Test func hessianVectorProductOfMLP() {
        let key = RandomKey(seed: 10)
        let x = Tensor.randomNormal([5, 4], key: key.derived("x"))
        let target = Tensor.randomNormal([5, 3], key: key.derived("t"))
        let w1 = Tensor.randomNormal([4, 6], standardDeviation: 0.5, key: key.derived("w1"))
        let w2 = Tensor.randomNormal([6, 3], standardDeviation: 0.5, key: key.derived("w2"))
        let v1 = Tensor.randomNormal([4, 6], key: key.derived("v1")), v2 = Tensor.randomNormal([6, 3], key: key.derived("v2"))
        func loss(_ a: Tensor, _ b: Tensor) -> Tensor {
            let d = matmul(matmul(x, a).tanh(), b) - target
            return (d * d).mean()
        }
        let a = w1.requiringGradient(), b = w2.requiringGradient()
        let g = gradients(of: loss(a, b), wrt: [a, b], createGraph: true)
        let gv = (g[0] * v1).sum() + (g[1] * v2).sum()
        let hv = gradients(of: gv, wrt: [a, b])
        let eps: Float = 1e-2
        func grad(_ s: Float) -> [Tensor] {
            let a = (w1 + s * v1).requiringGradient(), b = (w2 + s * v2).requiringGradient()
            return gradients(of: loss(a, b), wrt: [a, b])
        }
        let plus = grad(eps), minus = grad(-eps)
        for i in 0..<2 {
            let numeric = (plus[i] - minus[i]) / (2 * eps)
            #expect(isApproximatelyEqual(hv[i], numeric, absolute: 2e-3, relative: 2e-2), "Hv[\(i)]: \(hv[i]) vs \(numeric)")
        }
    }
}
