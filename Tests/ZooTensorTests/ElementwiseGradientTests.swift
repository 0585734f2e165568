import Testing
import ZooTensor
import ZooTestSupport

/// Finite-difference checks of the elementwise ops (step 1e-2 unless stated; an element passes
/// when |analytic − numeric| ≤ 1e-2 + 1e-2·|numeric|).
@Suite("Elementwise gradients")
struct ElementwiseGradientTests {
    static let shapes: [([Int], [Int])] = [([1], [1]), ([3, 5], [3, 5]), ([2, 3, 4], [4]), ([2, 1, 4], [3, 1]), ([5], [])]

    @Test("binary ops with broadcasting", arguments: shapes)
    func binary(shapes: ([Int], [Int])) {
        let key = RandomKey(seed: 1)
        let a = Tensor.randomNormal(shapes.0, key: key.derived("a"))
        let b = randomAwayFromZero(shapes.1, margin: 0.5, key: key.derived("b"))
        for (name, f) in [("add", { (x: [Tensor]) in x[0] + x[1] }), ("subtract", { $0[0] - $0[1] }),
                          ("multiply", { $0[0] * $0[1] }), ("divide", { $0[0] / $0[1] })] as [(String, ([Tensor]) -> Tensor)] {
            let r = checkGradients(of: f, at: [a, b])
            #expect(r.passed, "\(name) \(shapes): \(r)")
        }
    }

    @Test("unary functions", arguments: ["exp", "log", "sqrt", "pow3", "abs", "relu", "sigmoid", "tanh", "erf", "softplus", "clamp", "negate", "scalar"])
    func unary(name: String) {
        let key = RandomKey(seed: 2)
        let x = randomAwayFromZero([3, 7], margin: 0.2, key: key)
        let positive = x.abs() + 0.5
        let f: (Tensor) -> Tensor
        var input = x
        switch name {
        case "exp": f = { $0.exp() }
        case "log": f = { $0.log() }; input = positive
        case "sqrt": f = { $0.sqrt() }; input = positive
        case "pow3": f = { $0.pow(3) }
        case "abs": f = { $0.abs() }
        case "relu": f = { $0.relu() }
        case "sigmoid": f = { $0.sigmoid() }
        case "tanh": f = { $0.tanh() }
        case "erf": f = { $0.erf() }
        case "softplus": f = { $0.softplus() }
        case "clamp": f = { $0.clamped(min: -0.7, max: 0.9) }; input = Tensor(shape: x.shape, scalars: x.scalars.map { abs(abs($0) - 0.7) < 0.05 || abs($0 - 0.9) < 0.05 ? $0 + 0.13 : $0 })
        case "negate": f = { -$0 }
        default: f = { 2 * $0 + 1 - $0 / 4 }
        }
        let r = checkGradients(of: { f($0[0]) }, at: [input])
        #expect(r.passed, "\(name): \(r)")
    }

    @Test func maximumRoutesGradientToTheLarger() {
        let a = Tensor([1, 5, -2]).requiringGradient(), b = Tensor([3, 2, -1]).requiringGradient()
        let g = gradients(of: Tensor.maximum(a, b).sum(), wrt: [a, b])
        #expect(g[0].scalars == [0, 1, 0])
        #expect(g[1].scalars == [1, 0, 1])
    }

    @Test func forwardValuesMatchScalarMath() {
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor([10, 20, 30])
        #expect((a + b).scalars == [11, 22, 33, 14, 25, 36])
        #expect((a * Tensor(shape: [2, 1], scalars: [2, 3])).scalars == [2, 4, 6, 12, 15, 18])
        #expect((a - 1).scalars == [0, 1, 2, 3, 4, 5])
        #expect((Tensor([4, 9]).sqrt()).scalars == [2, 3])
        #expect((a .> Tensor(3)).scalars == [0, 0, 0, 1, 1, 1])
        #expect(Tensor.select(Tensor([1, 0]), Tensor([5, 6]), Tensor([7, 8])).scalars == [5, 8])
    }
}
