/// Every measure of a zoo scored as Jiang et al. 2019 score their 40 measures: Kendall's τ with the
/// target over all runs, the granulated coefficient Ψ with its ψ_i (``GranulatedTau``), and the
/// conditional mutual information score (``ConditionalMutualInformation``), with percentile
/// bootstrap intervals of τ and Ψ over runs (``bootstrapInterval(count:replicates:seed:level:statistic:)``).
public struct GeneralizationAnalysis: Sendable {
    /// One run: its hyperparameter values (in the order of ``hyperparameters``), its target and
    /// its measures by column.
    public struct Run: Sendable {
        public var id: String
        public var hyperparameters: [String]
        public var target: Double
        public var measures: [String: Double]

        public init(id: String, hyperparameters: [String], target: Double, measures: [String: Double]) {
            self.id = id
            self.hyperparameters = hyperparameters
            self.target = target
            self.measures = measures
        }
    }

    public struct Row: Sendable {
        public var measure: String
        /// Runs with a finite value of the measure and of the target.
        public var count: Int
        public var tau: Double
        public var tauInterval: (low: Double, high: Double)?
        public var psi: Double
        public var psiInterval: (low: Double, high: Double)?
        /// ψ_i, in the order of ``GeneralizationAnalysis/hyperparameters``.
        public var perHyperparameter: [Double]
        public var cmi: Double
        /// The hyperparameters of the conditioning set attaining the CMI minimum.
        public var cmiConditioning: [String]
    }

    /// The hyperparameters (varied config keys, seed excluded), in the runs' order.
    public var hyperparameters: [String]
    /// By decreasing Ψ (NaN last, ties by name).
    public var rows: [Row]

    /// - Parameters:
    ///   - conditioningSize: |S| of the CMI's conditioning sets (2 as in PGDL).
    ///   - bootstrap: bootstrap replicates for the intervals (0: none).
    ///   - progress: called after each measure with the measures done and their count.
    /// - Complexity: per measure O((1 + bootstrap) · k · n²) plus the CMI's O(C(k, |S|) · n²).
    public init(runs: [Run], hyperparameters: [String], conditioningSize: Int = 2, bootstrap: Int = 0, seed: UInt64 = 0,
                progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) {
        self.hyperparameters = hyperparameters
        let columns = Set(runs.flatMap(\.measures.keys)).sorted()
        var done = 0
        rows = columns.map { column in
            defer { done += 1; progress(done, columns.count) }
            let kept = runs.filter { ($0.measures[column]?.isFinite ?? false) && $0.target.isFinite && $0.hyperparameters.count == hyperparameters.count }
            let x = kept.map { $0.measures[column]! }, y = kept.map(\.target), h = kept.map(\.hyperparameters)
            let granulated = GranulatedTau(x, y, hyperparameters: h)
            let cmi = ConditionalMutualInformation(x, y, hyperparameters: h, size: conditioningSize)
            var row = Row(measure: column, count: kept.count, tau: kendallTau(x, y), tauInterval: nil, psi: granulated.psi, psiInterval: nil,
                          perHyperparameter: granulated.perHyperparameter, cmi: cmi.score,
                          cmiConditioning: cmi.conditioningSet.map { hyperparameters[$0] })
            if bootstrap > 0 {
                row.tauInterval = bootstrapInterval(count: kept.count, replicates: bootstrap, seed: seed) { s in kendallTau(s.map { x[$0] }, s.map { y[$0] }) }
                row.psiInterval = bootstrapInterval(count: kept.count, replicates: bootstrap, seed: seed) { s in
                    GranulatedTau(s.map { x[$0] }, s.map { y[$0] }, hyperparameters: s.map { h[$0] }).psi
                }
            }
            return row
        }.sorted { a, b in
            if a.psi.isNaN != b.psi.isNaN { return !a.psi.isNaN }
            return a.psi == b.psi || a.psi.isNaN ? a.measure < b.measure : a.psi > b.psi
        }
    }
}
