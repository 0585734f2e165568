import Foundation

/// The conditional mutual information score of Jiang et al. 2019 (§6) and of the PGDL
/// competition's scorer (Jiang et al. 2020): how much the sign of a measure's difference between
/// two runs says about the sign of their generalization gaps' difference, once the values of a
/// set S of hyperparameters of both runs are known.
///
/// Over ordered pairs of distinct runs (θ, θ′): V_μ = [μ(θ) > μ(θ′)], V_g = [g(θ) > g(θ′)] (a tie
/// counts as "not greater", as PGDL bins it), and U_S = the values of the hyperparameters in S of
/// θ and of θ′. Then
///
///   Ĩ(V_μ, V_g | U_S) = Î(V_μ, V_g | U_S) / Ĥ(V_g | U_S)
///
/// with plug-in estimates weighted by p(U_S), and the score is the minimum of Ĩ over every S of
/// the given size (PGDL: pairs of hyperparameters). 0 when the measure's sign says nothing the
/// hyperparameters do not already say; 1 when it determines the gap's sign in every cell.
///
/// Deviations from PGDL's code, which agree with it on a full grid: cells are weighted by p(U_S)
/// (PGDL averages cells uniformly; on a full grid every cell holds the same number of pairs),
/// empty cells are skipped, and a run is not paired with itself.
public struct ConditionalMutualInformation: Sendable, Equatable {
    /// The minimum of Ĩ over the conditioning sets; NaN when no set gives a defined Ĩ.
    public var score: Double
    /// Indices (into the hyperparameters given) of the conditioning set that attains the minimum.
    public var conditioningSet: [Int]

    /// - Parameters:
    ///   - x: the measure, one value per run; y: the gap. Runs with a non-finite value are left out.
    ///   - hyperparameters: for each run, its value of each hyperparameter.
    ///   - size: |S|; clamped to the number of hyperparameters (0 conditions on nothing: Ĩ is then
    ///     I(V_μ; V_g) / H(V_g)).
    /// - Complexity: O(C(k, |S|) · n²) for n runs and k hyperparameters.
    public init(_ x: [Double], _ y: [Double], hyperparameters: [[String]], size: Int = 2) {
        score = .nan
        conditioningSet = []
        let k = hyperparameters.first?.count ?? 0
        guard x.count == y.count, hyperparameters.count == x.count, hyperparameters.allSatisfy({ $0.count == k }) else { return }
        let runs = x.indices.filter { x[$0].isFinite && y[$0].isFinite }
        guard runs.count >= 2 else { return }
        // Each hyperparameter's values as small integers.
        var codes = [[Int]](repeating: [], count: k)
        for h in 0..<k {
            var index: [String: Int] = [:]
            codes[h] = runs.map { r in
                if let c = index[hyperparameters[r][h]] { return c }
                index[hyperparameters[r][h]] = index.count
                return index.count - 1
            }
        }
        let xs = runs.map { x[$0] }, ys = runs.map { y[$0] }
        for set in subsets(of: k, size: max(0, min(size, k))) {
            let value = Self.normalized(xs, ys, codes: set.map { codes[$0] })
            if !value.isNaN, score.isNaN || value < score {
                score = value
                conditioningSet = set
            }
        }
    }

    /// Ĩ for one conditioning set given as the runs' value codes of each of its hyperparameters.
    static func normalized(_ x: [Double], _ y: [Double], codes: [[Int]]) -> Double {
        let n = x.count
        // counts[cell] = [gap+ measure+, gap+ measure−, gap− measure+, gap− measure−]
        // A cell is the list of both runs' value codes (a list, not one packed integer, which
        // would overflow for many hyperparameters with many values).
        var counts: [[Int]: [Int]] = [:]
        for i in 0..<n {
            for j in 0..<n where j != i {
                let cell = codes.flatMap { [$0[i], $0[j]] }
                let index = (y[i] > y[j] ? 0 : 2) + (x[i] > x[j] ? 0 : 1)
                counts[cell, default: [0, 0, 0, 0]][index] += 1
            }
        }
        let total = Double(n * (n - 1))
        var information = 0.0, entropy = 0.0
        for cell in counts.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {  // a fixed order: the sums must not depend on hashing
            let c = counts[cell]!
            let cellTotal = Double(c.reduce(0, +))
            let weight = cellTotal / total
            let gap = [Double(c[0] + c[1]), Double(c[2] + c[3])].map { $0 / cellTotal }
            let measure = [Double(c[0] + c[2]), Double(c[1] + c[3])].map { $0 / cellTotal }
            for g in 0..<2 {
                if gap[g] > 0 { entropy -= weight * gap[g] * log(gap[g]) }
                for m in 0..<2 {
                    let joint = Double(c[2 * g + m]) / cellTotal
                    if joint > 0 { information += weight * joint * log(joint / (gap[g] * measure[m])) }
                }
            }
        }
        return entropy > 0 ? max(0, information) / entropy : .nan
    }
}

/// Every subset of 0..<n of `size` elements, in lexicographic order.
func subsets(of n: Int, size: Int) -> [[Int]] {
    guard size > 0 else { return [[]] }
    guard size <= n else { return [] }
    var out: [[Int]] = []
    func extend(_ prefix: [Int], from start: Int) {
        if prefix.count == size { out.append(prefix); return }
        for i in start..<n where n - i >= size - prefix.count { extend(prefix + [i], from: i + 1) }
    }
    extend([], from: 0)
    return out
}
