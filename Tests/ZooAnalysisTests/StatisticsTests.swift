import Foundation
import Testing
@testable import ZooAnalysis

/// Known answers from scipy 1.17 (`stats.t.ppf`, `stats.norm.ppf`,
/// `stats.binomtest(k, n).proportion_ci(method="wilson")`) and numpy (`np.quantile`).
@Suite("Statistics")
struct StatisticsTests {
    @Test(arguments: [(1.0, 12.706204736174694), (4.0, 2.7764451051977934), (29.0, 2.045229642132703)])
    func studentT(_ df: Double, _ expected: Double) {
        #expect(abs(studentTQuantile(0.975, degreesOfFreedom: df) - expected) < 1e-9 * expected)
        #expect(abs(studentTQuantile(0.025, degreesOfFreedom: df) + expected) < 1e-9 * expected)
    }

    @Test func normal() {
        #expect(abs(normalQuantile(0.975) - 1.959963984540054) < 1e-12)
        #expect(normalQuantile(0.5) == 0 || abs(normalQuantile(0.5)) < 1e-15)
        #expect(normalQuantile(0) == -.infinity && normalQuantile(1.5).isNaN)
    }

    @Test func wilson() throws {
        let eight = try #require(wilsonInterval(successes: 8, trials: 10))
        #expect(abs(eight.low - 0.4901624715366418) < 1e-12 && abs(eight.high - 0.9433178485456248) < 1e-12)
        let none = try #require(wilsonInterval(successes: 0, trials: 5))
        #expect(none.low == 0 && abs(none.high - 0.43448246478317476) < 1e-12)
        #expect(wilsonInterval(successes: 1, trials: 0) == nil)
        #expect(wilsonInterval(successes: 6, trials: 5) == nil)
    }

    @Test func meanEstimate() throws {
        // np.mean, np.std(ddof=1); CI = mean ± t.ppf(0.975, 3) * sd / 2.
        let e = try #require(MeanEstimate([1, 2, 4, 9, .nan]))
        #expect(e.count == 4 && e.mean == 4)
        #expect(abs(e.sd - 3.559026084010437) < 1e-12)
        #expect(abs(e.high - 9.66320470573368) < 1e-9 && abs(e.low - (-1.663204705733679)) < 1e-9)
        let one = try #require(MeanEstimate([3]))
        #expect(one.mean == 3 && one.sd.isNaN && one.low.isNaN)
        #expect(MeanEstimate([.nan, .infinity]) == nil)
    }

    @Test func quantiles() {
        #expect(quantile([3, 1, 2, 4], 0.25) == 1.75)
        #expect(quantile([3, 1, 2, 4], 1) == 4 && quantile([5], 0.3) == 5)
        #expect(quantile([], 0.5).isNaN)
    }

    @Test func incompleteBeta() {
        // scipy.special.betainc(2.5, 0.5, 0.3) and (0.5, 0.5, 0.9)
        #expect(abs(regularizedIncompleteBeta(2.5, 0.5, 0.3) - 0.018927124071945658) < 1e-12)
        #expect(abs(regularizedIncompleteBeta(0.5, 0.5, 0.9) - 0.7951672353008665) < 1e-12)
    }
}
