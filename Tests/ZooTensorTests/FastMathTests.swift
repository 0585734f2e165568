import Foundation
import Testing
import ZooTensor

/// tanh and sigmoid use vectorizable approximations: checked against Double libm on a dense grid
/// and at the special values.
@Suite("Fast activations")
struct FastMathTests {
    static let grid: [Float] = stride(from: -30.0, through: 30.0, by: 0.0007).map { Float($0) }
        + [0, -0, 1e-30, -1e-30, 1e-7, 0.2499999, 0.25, -0.25, 88, -88, 100, -100, 1e30, -1e30]
        + [1e-40, -1e-40, .leastNonzeroMagnitude, .leastNormalMagnitude, 0.00776718, 0.0620001, 19.99, 20, 20.01]

    @Test func tanhMatchesLibm() {
        let y = Tensor(Self.grid).tanh().scalars
        var worst = 0.0
        for (x, v) in zip(Self.grid, y) {
            let exact = Foundation.tanh(Double(x))
            worst = max(worst, abs(Double(v) - exact) / max(abs(exact), 1e-30))
        }
        // 2.4 ulp measured over every 7th float in [2⁻⁴⁰, 12] (a relative 1.9e-7 on every path).
        #expect(worst < 2.5e-7, "worst relative error \(worst)")
        let zeros = Tensor([0.0, -0.0]).tanh().scalars
        #expect(zeros[0] == 0 && zeros[0].sign == .plus && zeros[1] == 0 && zeros[1].sign == .minus)
    }

    @Test func sigmoidMatchesLibm() {
        let y = Tensor(Self.grid).sigmoid().scalars
        var worst = 0.0
        for (x, v) in zip(Self.grid, y) where abs(x) < 80 {
            let exact = 1 / (1 + Foundation.exp(-Double(x)))
            worst = max(worst, abs(Double(v) - exact) / exact)
        }
        #expect(worst < 1e-6, "worst relative error \(worst)")
        let tails = Tensor([-1e30, 1e30, 200, -200]).sigmoid().scalars
        #expect(tails[0] >= 0 && tails[0] < 1e-37 && tails[1] == 1 && tails[2] == 1 && tails[3] < 1e-37)
    }

    @Test func nanAndInfinityPropagate() {
        let t = Tensor([.nan, .infinity, -.infinity]).tanh().scalars
        #expect(t[0].isNaN && t[1] == 1 && t[2] == -1)
        let s = Tensor([.nan, .infinity, -.infinity]).sigmoid().scalars
        #expect(s[0].isNaN && s[1] == 1 && s[2] == 0 || s[2] < 1e-37)
    }
}
