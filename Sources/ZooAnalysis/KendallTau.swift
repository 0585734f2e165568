/// Kendall's rank correlation τ_b between two samples (ties handled as in Kendall 1945):
/// τ_b = (C − D) / √((n₀ − n₁)(n₀ − n₂)), with C and D the concordant and discordant pairs, n₀ the
/// number of pairs and n₁, n₂ the pairs tied in x and in y. Pairs with a non-finite value are
/// left out; NaN when fewer than two pairs remain or one sample is constant.
public func kendallTau(_ x: [Double], _ y: [Double]) -> Double {
    precondition(x.count == y.count, "kendallTau: \(x.count) x values and \(y.count) y values")
    let pairs = zip(x, y).filter { $0.0.isFinite && $0.1.isFinite }
    guard pairs.count >= 2 else { return .nan }
    var concordant = 0, discordant = 0, tiedX = 0, tiedY = 0, total = 0
    for i in pairs.indices {
        for j in pairs.indices where j > i {
            total += 1
            let dx = pairs[i].0 - pairs[j].0, dy = pairs[i].1 - pairs[j].1
            if dx == 0 { tiedX += 1 }
            if dy == 0 { tiedY += 1 }
            if dx == 0 || dy == 0 { continue }
            if (dx > 0) == (dy > 0) { concordant += 1 } else { discordant += 1 }
        }
    }
    let denominator = (Double(total - tiedX) * Double(total - tiedY)).squareRoot()
    return denominator > 0 ? Double(concordant - discordant) / denominator : .nan
}
