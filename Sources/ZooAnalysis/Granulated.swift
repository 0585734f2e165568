/// The granulated Kendall coefficient Ψ of Jiang et al. 2019 ("Fantastic Generalization Measures
/// and Where to Find Them", §5): for each hyperparameter i, the runs are grouped by the values of
/// every *other* hyperparameter, so that within a group only i (and the seed) changes, and
///
///   ψ_i = (1/m_i) Σ_groups τ(measure, target within the group),   Ψ = (1/k) Σ_i ψ_i,
///
/// with τ Kendall's τ_b (``kendallTau(_:_:)``), m_i the groups with a defined τ (at least two runs
/// with finite values, neither sample constant) and k the hyperparameters with a defined ψ_i.
/// A measure with a high Ψ ranks runs correctly when one knob is turned at a time, rather than
/// only riding a correlation that the hyperparameters induce across the whole zoo.
public struct GranulatedTau: Sendable, Equatable {
    /// ψ_i for each hyperparameter, in the order given; NaN where no group has a defined τ.
    public var perHyperparameter: [Double]
    /// Ψ, the mean of the defined ψ_i; NaN when none is defined.
    public var psi: Double

    /// - Parameters:
    ///   - x: the measure, one value per run.
    ///   - y: the target (the generalization gap), one value per run; x and y of unequal length
    ///     give no defined ψ_i.
    ///   - hyperparameters: for each run, its value of each hyperparameter (the same order for all
    ///     runs).
    /// - Complexity: O(k · n²) for n runs and k hyperparameters.
    public init(_ x: [Double], _ y: [Double], hyperparameters: [[String]]) {
        let k = hyperparameters.first?.count ?? 0
        guard x.count == y.count, hyperparameters.count == x.count, hyperparameters.allSatisfy({ $0.count == k }) else {
            perHyperparameter = []
            psi = .nan
            return
        }
        perHyperparameter = (0..<k).map { i in
            var groups: [[String]: [Int]] = [:]
            for (run, values) in hyperparameters.enumerated() {
                var key = values
                key.remove(at: i)
                groups[key, default: []].append(run)
            }
            // Groups in a fixed order: the sum, and so the last bit of ψ_i, must not depend on hashing.
            let taus = groups.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { groups[$0]! }.map { members in kendallTau(members.map { x[$0] }, members.map { y[$0] }) }.filter { !$0.isNaN }
            return taus.isEmpty ? .nan : taus.reduce(0, +) / Double(taus.count)
        }
        let defined = perHyperparameter.filter { !$0.isNaN }
        psi = defined.isEmpty ? .nan : defined.reduce(0, +) / Double(defined.count)
    }
}
