/// Gradient-boosted regression trees with squared loss (Friedman 2001): start from the mean of
/// the target, then `estimators` times fit a regression tree of depth ≤ `maxDepth` to the
/// residuals and add it scaled by `learningRate`. Each split is the best over every feature and
/// every midpoint between consecutive distinct sorted values, by the reduction of the squared
/// error (equal to Friedman's improvement n_l·n_r/(n_l + n_r)·(ȳ_l − ȳ_r)², scikit-learn's
/// default criterion), with at least `minLeaf` rows per leaf. With `subsample` < 1 each tree is
/// grown on that share of the rows, drawn without replacement from `seed` (Friedman 2002,
/// stochastic gradient boosting); at 1 the fit is deterministic. The defaults are scikit-learn's
/// `GradientBoostingRegressor`'s.
/// - Complexity: O(estimators · 2^maxDepth · n · p) after one O(p · n log n) sort.
public struct GradientBoostedTrees: Sendable {
    public struct Settings: Sendable, Equatable {
        public var estimators = 100
        public var learningRate = 0.1
        public var maxDepth = 3
        public var minLeaf = 1
        /// The share of rows each tree is grown on, in (0, 1].
        public var subsample = 1.0
        /// Seeds the rows drawn for each tree when `subsample` < 1.
        public var seed: UInt64 = 0
        public init() {}
    }

    /// A node: a leaf (`feature` < 0) with its value, or a split `x[feature] <= threshold` → left.
    struct Node: Sendable {
        var feature = -1, threshold = 0.0, value = 0.0, left = -1, right = -1
    }

    public let settings: Settings
    public private(set) var initial = 0.0
    private var trees: [[Node]] = []

    /// Fits rows `x` (n × p) to `y`; nil when there are no rows or rows of unequal length.
    public init?(x: [[Double]], y: [Double], settings: Settings = Settings()) {
        self.settings = settings
        let n = x.count, p = x.first?.count ?? 0
        guard n > 0, y.count == n, x.allSatisfy({ $0.count == p }) else { return nil }
        let order: [[Int]] = (0..<p).map { (j: Int) -> [Int] in
            (0..<n).sorted { (a: Int, b: Int) -> Bool in x[a][j] == x[b][j] ? a < b : x[a][j] < x[b][j] }
        }
        initial = y.reduce(0, +) / Double(n)
        var prediction = [Double](repeating: initial, count: n)
        let subsample = settings.subsample.isFinite ? min(max(settings.subsample, 0), 1) : 1
        let drawn = min(n, max(2 * max(1, settings.minLeaf), Int((subsample * Double(n)).rounded())))
        for t in 0..<max(0, settings.estimators) {
            let residual = (0..<n).map { y[$0] - prediction[$0] }
            let rows = drawn < n ? seededPermutation(n, seed: settings.seed &+ UInt64(t)).prefix(drawn).sorted() : Array(0..<n)
            var nodes: [Node] = []
            grow(&nodes, rows: rows, depth: 0, x: x, residual: residual, order: order)
            trees.append(nodes)
            for i in 0..<n { prediction[i] += settings.learningRate * Self.evaluate(nodes, x[i]) }
        }
    }

    /// The prediction for each row of `x`.
    public func predict(_ x: [[Double]]) -> [Double] {
        x.map { row in trees.reduce(initial) { $0 + settings.learningRate * Self.evaluate($1, row) } }
    }

    static func evaluate(_ nodes: [Node], _ row: [Double]) -> Double {
        var i = 0
        while nodes[i].feature >= 0 { i = row[nodes[i].feature] <= nodes[i].threshold ? nodes[i].left : nodes[i].right }
        return nodes[i].value
    }

    /// Appends the subtree over `rows` to `nodes`, returning its index.
    @discardableResult
    private func grow(_ nodes: inout [Node], rows: [Int], depth: Int, x: [[Double]], residual: [Double], order: [[Int]]) -> Int {
        let index = nodes.count
        let total = rows.reduce(0) { $0 + residual[$1] }, count = Double(rows.count)
        nodes.append(Node(value: total / count))
        guard depth < settings.maxDepth, rows.count >= 2 * max(1, settings.minLeaf) else { return index }
        var member = [Bool](repeating: false, count: x.count)
        for r in rows { member[r] = true }
        // Maximize Σ_l²/n_l + Σ_r²/n_r, i.e. minimize the children's squared error.
        let parentScore = total * total / count
        var best = (score: parentScore + 1e-12 * max(1, abs(parentScore)), feature: -1, threshold: 0.0)
        let minLeaf = max(1, settings.minLeaf)
        for (j, sorted) in order.enumerated() {
            let node = sorted.filter { member[$0] }
            var left = 0.0
            for k in 0..<(node.count - 1) {
                left += residual[node[k]]
                let nl = k + 1, nr = node.count - nl
                guard nl >= minLeaf, nr >= minLeaf, x[node[k]][j] < x[node[k + 1]][j] else { continue }
                let right = total - left
                let score = left * left / Double(nl) + right * right / Double(nr)
                if score > best.score { best = (score, j, (x[node[k]][j] + x[node[k + 1]][j]) / 2) }
            }
        }
        guard best.feature >= 0 else { return index }
        let leftRows = rows.filter { x[$0][best.feature] <= best.threshold }, rightRows = rows.filter { x[$0][best.feature] > best.threshold }
        let l = grow(&nodes, rows: leftRows, depth: depth + 1, x: x, residual: residual, order: order)
        let r = grow(&nodes, rows: rightRows, depth: depth + 1, x: x, residual: residual, order: order)
        nodes[index].feature = best.feature
        nodes[index].threshold = best.threshold
        nodes[index].left = l
        nodes[index].right = r
        return index
    }
}
