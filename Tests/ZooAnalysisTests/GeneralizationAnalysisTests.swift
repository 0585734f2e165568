import Foundation
import Testing
import ZooAnalysis
import ZooStore

@Suite("Ψ, CMI and bootstrap: known answers")
struct GeneralizationAnalysisTests {
    /// A 2 × 3 grid of (a, b), one run each. Within each b the measure orders the two a's as the
    /// gap does (ψ_a = 1); within a = 0 it orders the b's as the gap does (+1), within a = 1
    /// reversed (−1), so ψ_b = 0 and Ψ = 0.5. Over all 15 pairs 3 are discordant: τ = 9/15.
    static let grid = [["0", "0"], ["0", "1"], ["0", "2"], ["1", "0"], ["1", "1"], ["1", "2"]]
    static let gap: [Double] = [1, 2, 3, 4, 5, 6], measure: [Double] = [1, 2, 3, 6, 5, 4]

    @Test func granulatedByHand() {
        let g = GranulatedTau(Self.measure, Self.gap, hyperparameters: Self.grid)
        #expect(g.perHyperparameter == [1, 0])
        #expect(g.psi == 0.5)
        #expect(abs(kendallTau(Self.measure, Self.gap) - 0.6) < 1e-12)
        // A hyperparameter whose groups all have one run has no ψ_i; Ψ averages the others.
        let lone = GranulatedTau([1, 2, 3], [1, 2, 3], hyperparameters: [["x", "p"], ["y", "p"], ["z", "q"]])
        #expect(lone.perHyperparameter[0] == 1 && lone.perHyperparameter[1].isNaN && lone.psi == 1)
        // Mismatched input gives NaN, never a trap.
        #expect(GranulatedTau([1, 2], [1], hyperparameters: [["a"], ["b"]]).psi.isNaN)
        #expect(GranulatedTau([1, 2], [1, 2], hyperparameters: [["a"], ["b", "c"]]).psi.isNaN)
    }

    /// Known CMI values without conditioning: a measure equal to the gap gives 1; one with as many
    /// concordant as discordant pairs gives 0; 5 concordant and 1 discordant pair of 4 runs give
    /// the 2 × 2 table [[5, 1], [1, 5]]/12, whose MI over H(V_g) = ln 2 is
    /// ((5/6) ln(5/3) − (1/6) ln 3) / ln 2.
    @Test func mutualInformationByHand() {
        let none = [[String]](repeating: [], count: 4)
        let y: [Double] = [1, 2, 3, 4]
        #expect(abs(ConditionalMutualInformation(y, y, hyperparameters: none, size: 0).score - 1) < 1e-12)
        #expect(abs(ConditionalMutualInformation([2, 4, 1, 3], y, hyperparameters: none, size: 0).score) < 1e-12)
        let expected = ((5.0 / 6) * log(5.0 / 3) - (1.0 / 6) * log(3.0)) / log(2.0)
        #expect(abs(ConditionalMutualInformation([1, 3, 2, 4], y, hyperparameters: none, size: 0).score - expected) < 1e-12)
        // A constant gap has no entropy: undefined, not a trap.
        #expect(ConditionalMutualInformation([1, 2, 3], [1, 1, 1], hyperparameters: none.dropLast(), size: 0).score.isNaN)
        #expect(ConditionalMutualInformation([1], [1, 2], hyperparameters: [[], []], size: 2).score.isNaN)
        // Eight hyperparameters with a distinct value per run: every cell holds one pair, whose
        // gap sign has no entropy there (undefined, and no integer overflow on the way).
        let many = (0..<40).map { r in (0..<8).map { "v\(r * 8 + $0)" } }
        #expect(ConditionalMutualInformation((0..<40).map(Double.init), (0..<40).map { Double($0 % 7) }, hyperparameters: many, size: 8).score.isNaN)
    }

    /// A hyperparameter that sets both the gap and the measure explains their agreement away:
    /// across its two groups the signs are constant (no entropy), within each group the measure
    /// is independent of the gap (3 concordant, 3 discordant pairs), so Ĩ given a is 0 while the
    /// unconditioned Ĩ is large; the minimum over the sets of size 1 picks a.
    @Test func conditioningExplainsAway() {
        let y: [Double] = [1, 2, 3, 4, 11, 12, 13, 14], x: [Double] = [2, 4, 1, 3, 12, 14, 11, 13]
        let h = (0..<8).map { [$0 < 4 ? "0" : "1", String($0 % 2)] }
        let unconditioned = ConditionalMutualInformation(x, y, hyperparameters: h, size: 0)
        #expect(unconditioned.score > 0.2)
        let given = ConditionalMutualInformation(x, y, hyperparameters: h, size: 1)
        #expect(abs(given.score) < 1e-12)
        #expect(given.conditioningSet == [0])
    }

    /// The bootstrap is seeded (same seed, same interval), covers the statistic of the whole sample
    /// for a smooth statistic, and is nil when nothing can be drawn.
    @Test func bootstrapIsSeeded() throws {
        let values = (0..<50).map { Double($0 % 7) }
        let mean = { (s: [Int]) in s.reduce(0) { $0 + values[$1] } / Double(s.count) }
        let a = try #require(bootstrapInterval(count: 50, replicates: 300, seed: 3, statistic: mean))
        let b = try #require(bootstrapInterval(count: 50, replicates: 300, seed: 3, statistic: mean))
        #expect(a.low == b.low && a.high == b.high)
        let full = mean(Array(0..<50))
        #expect(a.low < full && full < a.high)
        #expect(bootstrapInterval(count: 0, replicates: 10, seed: 0, statistic: mean) == nil)
        #expect(Set(seededPermutation(20, seed: 1)) == Set(0..<20))
        #expect(seededPermutation(20, seed: 1) == seededPermutation(20, seed: 1))
    }

    /// The table over the hand-made grid: Ψ and τ as computed by hand, rows by decreasing Ψ.
    @Test func analysisTable() {
        let runs = (0..<6).map { i in
            GeneralizationAnalysis.Run(id: "r\(i)", hyperparameters: Self.grid[i], target: Self.gap[i],
                                       measures: ["good": Self.measure[i], "bad": -Self.measure[i], "nan": i == 0 ? .nan : 1])
        }
        let a = GeneralizationAnalysis(runs: runs, hyperparameters: ["a", "b"], bootstrap: 50, seed: 1)
        #expect(a.rows.map(\.measure) == ["good", "bad", "nan"])
        #expect(a.rows[0].psi == 0.5 && abs(a.rows[0].tau - 0.6) < 1e-12 && a.rows[0].count == 6)
        #expect(a.rows[1].psi == -0.5)
        #expect(a.rows[2].count == 5 && a.rows[2].psi.isNaN)
        #expect(a.rows[0].psiInterval != nil && a.rows[0].tauInterval != nil)
    }
}
