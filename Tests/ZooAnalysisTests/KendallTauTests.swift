import Testing
import ZooAnalysis
import ZooStore

@Suite("Kendall's tau and measure ranking")
struct KendallTauTests {
    /// Known values: perfect agreement, perfect disagreement, a hand count, and τ_b with ties
    /// (scipy.stats.kendalltau([1, 2, 2, 3], [1, 3, 2, 3]) = 0.8).
    @Test func knownValues() {
        #expect(kendallTau([1, 2, 3, 4], [10, 20, 30, 40]) == 1)
        #expect(kendallTau([1, 2, 3, 4], [4, 3, 2, 1]) == -1)
        // Pairs: (1,2)+ (1,3)+ (1,4)+ (2,3)- (2,4)+ (3,4)+ → (5 − 1) / 6.
        #expect(abs(kendallTau([1, 2, 3, 4], [1, 3, 2, 4]) - 4.0 / 6) < 1e-12)
        #expect(abs(kendallTau([1, 2, 2, 3], [1, 3, 2, 3]) - 0.8) < 1e-12)
        #expect(kendallTau([1, 1, 1], [1, 2, 3]).isNaN)
        #expect(kendallTau([1, .nan, 3, .infinity], [1, 2, 3, 4]) == 1)
    }

    /// The ranking pairs each run's measure with the gap of the same epoch, sorts by τ.
    @Test func rankingAgainstTheGap() {
        func metric(_ run: String, _ train: Double, _ test: Double) -> MetricRecord {
            MetricRecord(runID: run, epoch: 2, step: 10, values: ["train_accuracy": train, "test_accuracy": test])
        }
        let metrics = [metric("a", 1.0, 0.9), metric("b", 1.0, 0.8), metric("c", 0.95, 0.9)]  // gaps 0.1, 0.2, 0.05
        func value(_ run: String, _ measure: String, _ v: Double) -> MeasureRecord {
            MeasureRecord(task: MeasureTask(runID: run, epoch: 2, measure: measure, version: 1, settings: "{}"), key: "", value: v, seconds: 0)
        }
        let measures = [value("a", "up", 2), value("b", "up", 3), value("c", "up", 1),
                        value("a", "down", 2), value("b", "down", 1), value("c", "down", 3)]
        let ranking = MeasureRanking(measures: measures, metrics: metrics)
        #expect(ranking.rows.map(\.measure) == ["up", "down"])
        #expect(ranking.rows.map(\.tau) == [1, -1])
        #expect(ranking.rows.map(\.count) == [3, 3])
    }
}
