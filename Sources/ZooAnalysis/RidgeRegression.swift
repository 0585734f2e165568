import ZooTensor

/// Ridge regression on standardized features (Hoerl & Kennard 1970): each feature is centred and
/// scaled to unit variance over the training rows (a constant feature is left out), the target is
/// centred, and
///
///   w = (ZᵀZ + λI)⁻¹ Zᵀ(y − ȳ),   ŷ(x) = ȳ + w · z(x),
///
/// the minimizer of ‖y − ȳ − Zw‖² + λ‖w‖² — scikit-learn's `Ridge(alpha: λ)` after a
/// `StandardScaler` (population standard deviation). ZᵀZ is one call of the engine's GEMM
/// (Float32 `sgemm`, accumulated from standardized values of order one), the solve a Cholesky
/// factorization in Double.
/// - Complexity: O(n·p² + p³) for n rows and p features.
public struct RidgeRegression: Sendable {
    public let lambda: Double
    public private(set) var mean: [Double] = []
    public private(set) var scale: [Double] = []
    public private(set) var weights: [Double] = []
    public private(set) var intercept = 0.0

    /// Fits rows `x` (n × p) to `y`; nil when there are no rows, rows of unequal length, or the
    /// system cannot be solved (λ ≤ 0 with collinear features).
    public init?(x: [[Double]], y: [Double], lambda: Double) {
        self.lambda = lambda
        let n = x.count, p = x.first?.count ?? 0
        guard n > 0, y.count == n, x.allSatisfy({ $0.count == p }), lambda.isFinite, lambda >= 0 else { return nil }
        mean = (0..<p).map { j in x.reduce(0) { $0 + $1[j] } / Double(n) }
        scale = (0..<p).map { j in (x.reduce(0) { $0 + ($1[j] - mean[j]) * ($1[j] - mean[j]) } / Double(n)).squareRoot() }
        intercept = y.reduce(0, +) / Double(n)
        let z = x.map(standardized)
        let gram = matmulTransposingA(Tensor(shape: [n, p], scalars: z.flatMap { $0.map(Float.init) }),
                                      Tensor(shape: [n, p], scalars: z.flatMap { $0.map(Float.init) })).scalars
        var a = (0..<p).map { i in (0..<p).map { j in Double(gram[i * p + j]) + (i == j ? lambda : 0) } }
        // A constant feature has a zero column: pin its weight to 0.
        for j in 0..<p where scale[j] == 0 { a[j] = (0..<p).map { $0 == j ? 1 : 0 }; for i in 0..<p { if i != j { a[i][j] = 0 } } }
        let b = (0..<p).map { j in scale[j] == 0 ? 0 : (0..<n).reduce(0) { $0 + z[$1][j] * (y[$1] - intercept) } }
        guard let w = choleskySolve(a, b) else { return nil }
        weights = w
    }

    /// The prediction for each row of `x`.
    public func predict(_ x: [[Double]]) -> [Double] {
        x.map { row in zip(standardized(row), weights).reduce(intercept) { $0 + $1.0 * $1.1 } }
    }

    private func standardized(_ row: [Double]) -> [Double] {
        row.indices.map { scale[$0] > 0 ? (row[$0] - mean[$0]) / scale[$0] : 0 }
    }
}

/// The solution of a·x = b for a symmetric positive definite `a`, by Cholesky factorization
/// a = L·Lᵀ and two triangular solves; nil when `a` is not positive definite.
func choleskySolve(_ a: [[Double]], _ b: [Double]) -> [Double]? {
    let p = b.count
    var l = [[Double]](repeating: [Double](repeating: 0, count: p), count: p)
    for i in 0..<p {
        for j in 0...i {
            var s = a[i][j]
            for k in 0..<j { s -= l[i][k] * l[j][k] }
            if i == j {
                guard s > 0, s.isFinite else { return nil }
                l[i][i] = s.squareRoot()
            } else {
                l[i][j] = s / l[j][j]
            }
        }
    }
    var y = [Double](repeating: 0, count: p)
    for i in 0..<p { y[i] = (b[i] - (0..<i).reduce(0) { $0 + l[i][$1] * y[$1] }) / l[i][i] }
    var x = [Double](repeating: 0, count: p)
    for i in stride(from: p - 1, through: 0, by: -1) { x[i] = (y[i] - ((i + 1)..<p).reduce(0) { $0 + l[$1][i] * x[$1] }) / l[i][i] }
    return x
}
