import Foundation
import ZooNN
import ZooTensor

/// Spectral norms ‖A‖₂ = σ_max(A) of the linear maps of a network's layers, by power iteration
/// on AᵀA.
///
/// A convolution's map is the convolution itself on the input size the layer sees in the network
/// (Sedghi et al. 2019, "The Singular Values of Convolutional Layers"): AᵀA v is the input
/// gradient of ½‖conv(v)‖², one forward and one backward pass on the tape, so zero padding,
/// stride, dilation and groups are all accounted for. The reshaped kernel `[out, in/groups·kh·kw]`
/// is a different matrix with another norm (Miyato et al.'s approximation), kept as a second measure.
///
/// The iteration is power iteration with Rayleigh–Ritz on the Krylov space it visits (Lanczos, in
/// double precision with full reorthogonalization): the estimate after k operator products is the
/// best one over every vector of span{v, AᵀAv, …, (AᵀA)^{k−1}v}, the power iterate included, so
/// it is never worse than plain power iteration and converges far faster when the top singular
/// values cluster, as a convolution's do (its spectrum is close to continuous). It stops when the
/// estimate of σ² grows by less than `tolerance` relative twice in a row, after `steps` products,
/// or when the Krylov space is exhausted (then it is exact).
enum Spectral {
    /// The largest eigenvalue of the symmetric positive semi-definite operator `apply` on ℝⁿ.
    /// - Parameters:
    ///   - steps: at most this many products (the Krylov dimension); capped at `n`.
    ///   - tolerance: stop when the estimate grows by at most this fraction, twice in a row.
    ///   - key: draws the start vector.
    /// - Complexity: `steps` products plus O(steps² · n) for the reorthogonalization.
    static func largestEigenvalue(dimension n: Int, steps: Int, tolerance: Double, key: RandomKey,
                                  _ apply: ([Double]) -> [Double]) -> Double {
        guard n > 0 else { return 0 }
        var v = key.normal(count: n).map(Double.init)
        let start = norm(v)
        guard start > 0 else { return 0 }
        for i in v.indices { v[i] /= start }
        var basis: [[Double]] = []
        var diagonal: [Double] = [], offDiagonal: [Double] = []
        var estimate = 0.0, quietSteps = 0
        for _ in 0 ..< max(1, min(steps, n)) {
            basis.append(v)
            var w = apply(v)
            diagonal.append(dot(w, v))
            // Gram–Schmidt against the whole basis, twice ("twice is enough"): this subsumes the
            // three-term recurrence and keeps the basis orthogonal in floating point.
            for _ in 0..<2 {
                for b in basis {
                    let c = dot(w, b)
                    for i in w.indices { w[i] -= c * b[i] }
                }
            }
            let next = largestEigenvalue(diagonal: diagonal, offDiagonal: offDiagonal)
            let growth = next - estimate
            estimate = next
            quietSteps = growth <= tolerance * abs(next) ? quietSteps + 1 : 0
            let beta = norm(w)
            if quietSteps >= 2 || beta <= 1e-12 * max(abs(estimate), Double.leastNormalMagnitude) { break }
            offDiagonal.append(beta)
            v = w.map { $0 / beta }
        }
        return estimate
    }

    /// The largest eigenvalue of the symmetric tridiagonal matrix with `diagonal` and
    /// `offDiagonal` (one shorter), by bisection on Sturm counts to the precision of Double.
    static func largestEigenvalue(diagonal a: [Double], offDiagonal b: [Double]) -> Double {
        let n = a.count
        precondition(n >= 1 && b.count == n - 1, "Spectral: tridiagonal of \(n) diagonal and \(b.count) off-diagonal entries")
        // Gershgorin discs bound the spectrum.
        var low = Double.infinity, high = -Double.infinity
        for i in 0..<n {
            let r = (i > 0 ? abs(b[i - 1]) : 0) + (i < n - 1 ? abs(b[i]) : 0)
            low = min(low, a[i] - r)
            high = max(high, a[i] + r)
        }
        // The number of eigenvalues below x: the negative pivots of the LDLᵀ factorization of T − x.
        func countBelow(_ x: Double) -> Int {
            var count = 0, q = 1.0
            for i in 0..<n {
                q = a[i] - x - (i > 0 ? b[i - 1] * b[i - 1] / q : 0)
                if q == 0 { q = -Double.ulpOfOne * max(1, abs(x)) }
                if q < 0 { count += 1 }
            }
            return count
        }
        for _ in 0..<200 {
            let mid = (low + high) / 2
            guard mid > low && mid < high else { break }
            if countBelow(mid) == n { high = mid } else { low = mid }
        }
        return (low + high) / 2
    }

    /// The largest singular value of a dense `rows × columns` matrix (row-major, in double
    /// precision): power iteration on the Gram matrix of the smaller side.
    static func matrixNorm(_ m: [Double], rows: Int, columns: Int, steps: Int, tolerance: Double, key: RandomKey) -> Double {
        precondition(m.count == rows * columns, "Spectral.matrixNorm: \(m.count) entries for \(rows)×\(columns)")
        let product: ([Double]) -> [Double]
        if columns <= rows {
            product = { v in  // Mᵀ(M v)
                var out = [Double](repeating: 0, count: columns)
                for r in 0..<rows {
                    var t = 0.0
                    for c in 0..<columns { t += m[r * columns + c] * v[c] }
                    for c in 0..<columns { out[c] += m[r * columns + c] * t }
                }
                return out
            }
        } else {
            product = { u in  // M(Mᵀ u)
                var t = [Double](repeating: 0, count: columns)
                for r in 0..<rows { for c in 0..<columns { t[c] += m[r * columns + c] * u[r] } }
                return (0..<rows).map { r in (0..<columns).reduce(0.0) { $0 + m[r * columns + $1] * t[$1] } }
            }
        }
        let lambda = largestEigenvalue(dimension: min(rows, columns), steps: steps, tolerance: tolerance, key: key, product)
        return max(0, lambda).squareRoot()
    }

    /// ‖W‖₂ of the layer's weight as the matrix `[out, in/groups·kh·kw]` (for a linear layer, its
    /// operator norm; for a convolution, the reshaped-kernel norm). With groups, the convolution's
    /// kernel matrix is block diagonal over the groups, so its norm is the largest over the blocks.
    static func reshapedNorm(_ layer: WeightLayer, steps: Int, tolerance: Double, key: RandomKey) -> Double {
        let w = layer.weight.scalars.map(Double.init)
        let out = layer.weight.shape[0], inner = layer.weight.count / max(1, out)
        let groups = layer.groups, rows = out / groups
        return (0..<groups).map { g in
            matrixNorm(Array(w[g * rows * inner ..< (g + 1) * rows * inner]), rows: rows, columns: inner,
                       steps: steps, tolerance: tolerance, key: key.derived(g))
        }.max() ?? 0
    }

    /// ‖A‖₂ of the layer's linear map (no bias) on inputs of `inputShape` (one sample, no batch
    /// axis): for a linear layer the matrix norm of W, for a convolution the operator norm of
    /// the convolution on that input size.
    static func operatorNorm(_ layer: WeightLayer, inputShape: [Int], steps: Int, tolerance: Double, key: RandomKey) -> Double {
        if case .linear = layer.kind { return reshapedNorm(layer, steps: steps, tolerance: tolerance, key: key) }
        let dimension = inputShape.reduce(1, *)
        let map = layer.linearMap
        let lambda = GradientMode.withGradients {
            largestEigenvalue(dimension: dimension, steps: steps, tolerance: tolerance, key: key) { v in
                let x = Tensor(shape: [1] + inputShape, scalars: v.map(Float.init)).requiringGradient()
                let y = map(x)
                let g = gradient(of: (y * y).sum() * 0.5, wrt: x)  // AᵀA v
                return g.scalars.map(Double.init)
            }
        }
        return max(0, lambda).squareRoot()
    }

    private static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }

    private static func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }
}

// MARK: - The input each layer sees

extension Spectral {
    /// The input shape (one sample, without the batch axis) of every linear and convolution
    /// layer, by name, found by running `input` (one sample, `[1, …]`) through `model` in
    /// evaluation mode and recording what each layer receives.
    /// - Throws: ``MeasureError`` naming a layer with parameters inside a container other than
    ///   `Sequential` and `BasicBlock`, whose inputs cannot be seen.
    static func inputShapes(of model: any Module, input: Tensor) throws -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        func run(_ module: any Module, _ x: Tensor, _ path: [String]) throws -> Tensor {
            switch module {
            case let s as Sequential:
                var y = x
                for child in s.children { y = try run(child.module, y, path + [child.name]) }
                return y
            case let block as BasicBlock:
                _ = try run(block.body, x, path)
                if let shortcut = block.shortcut { _ = try run(shortcut, x, path + ["shortcut"]) }
                return block.inferring(x)
            default:
                if WeightLayer(module, name: "") != nil {
                    shapes[path.joined(separator: ".")] = Array(x.shape.dropFirst())
                } else if !module.parameters.isEmpty && !WeightLayer.isKnownLeaf(module) {
                    throw MeasureError(description: "layer '\(path.joined(separator: "."))' (\(type(of: module))) has parameters inside "
                        + "a container the norm measures cannot look into (they know Sequential and BasicBlock)")
                }
                return module.inferring(x)
            }
        }
        _ = try withoutGradients { try run(model, input, []) }
        return shapes
    }
}

// MARK: - The layers

/// A linear or convolution layer as the norm measures see it: its name (the dotted path of its
/// parameters without `.weight`), the linear map it computes without bias, and its weight with a
/// batch norm that directly follows it folded in (evaluation mode).
struct WeightLayer: Sendable {
    enum Kind: Sendable {
        case linear
        case conv1d(stride: Int, padding: Int, dilation: Int)
        case conv2d(stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int))
    }

    var name: String
    var kind: Kind
    var groups: Int
    /// `[out, in]` or `[out, in/groups, k…]`, batch norm folded.
    var weight: Tensor

    /// The layer of `module`, or nil when it is not a linear or convolution layer.
    init?(_ module: any Module, name: String) {
        switch module {
        case let l as Linear: (kind, groups, weight) = (.linear, 1, l.weight)
        case let c as Conv2d: (kind, groups, weight) = (.conv2d(stride: c.stride, padding: c.padding, dilation: c.dilation), c.groups, c.weight)
        case let c as Conv1d: (kind, groups, weight) = (.conv1d(stride: c.stride, padding: c.padding, dilation: c.dilation), c.groups, c.weight)
        default: return nil
        }
        self.name = name
    }

    /// x ↦ A x for one batch `[N, …]`, without bias.
    var linearMap: (Tensor) -> Tensor {
        let w = weight, g = groups
        switch kind {
        case .linear: return { matmulTransposingB($0, w) }
        case let .conv1d(s, p, d): return { conv1d($0, weight: w, stride: s, padding: p, dilation: d, groups: g) }
        case let .conv2d(s, p, d): return { conv2d($0, weight: w, stride: s, padding: p, dilation: d, groups: g) }
        }
    }

    /// Layers without linear or convolution weights inside that the measures know.
    static func isKnownLeaf(_ module: any Module) -> Bool {
        module is BatchNorm || module is LayerNorm || module is GroupNorm || module is PReLU || module is ActivationLayer
            || module is Dropout || module is Flatten || module is Pool
    }

    /// The layers of `model` in order, each batch norm that directly follows one folded into it.
    /// - Throws: ``MeasureError`` naming a module with parameters that is neither a known layer
    ///   nor a container the measures can look into (`Sequential`, `BasicBlock`).
    static func layers(of model: any Module) throws -> [WeightLayer] {
        var out: [WeightLayer] = []
        func visit(_ module: any Module, _ path: [String]) throws {
            switch module {
            case let s as Sequential:
                for (i, child) in s.children.enumerated() {
                    let childPath = path + [child.name]
                    guard var layer = WeightLayer(child.module, name: childPath.joined(separator: ".")) else {
                        try visit(child.module, childPath)
                        continue
                    }
                    if i + 1 < s.children.count, let bn = s.children[i + 1].module as? BatchNorm, bn.channels == layer.weight.shape[0] {
                        layer.weight = scaledRows(layer.weight, by: affine(of: bn).scale)
                    }
                    out.append(layer)
                }
            case let block as BasicBlock:
                try visit(block.body, path)
                if let shortcut = block.shortcut { try visit(shortcut, path + ["shortcut"]) }
            default:
                if let layer = WeightLayer(module, name: path.joined(separator: ".")) {
                    out.append(layer)
                } else if !module.parameters.isEmpty && !isKnownLeaf(module) {
                    throw MeasureError(description: "layer '\(path.joined(separator: "."))' (\(type(of: module))) has parameters the norm "
                        + "measures cannot attribute to layers (they look into Sequential and BasicBlock)")
                }
            }
        }
        try visit(model, [])
        return out
    }

    /// A batch norm in evaluation mode as the per-channel map x ↦ scale·x + shift:
    /// scale = γ/√(σ²_running + ε), shift = β − scale·μ_running (γ = 1, β = 0 without affine parameters).
    static func affine(of bn: BatchNorm) -> (scale: [Float], shift: [Float]) {
        let gamma = bn.weight?.scalars ?? [Float](repeating: 1, count: bn.channels)
        let beta = bn.bias?.scalars ?? [Float](repeating: 0, count: bn.channels)
        let mean = bn.runningMean.scalars, variance = bn.runningVariance.scalars
        let scale = (0..<bn.channels).map { gamma[$0] / (variance[$0] + bn.epsilon).squareRoot() }
        return (scale, (0..<bn.channels).map { beta[$0] - scale[$0] * mean[$0] })
    }

    /// A linear or convolution `module` with the batch norm `bn` after it folded in (weight rows
    /// scaled, bias scale·b + shift), or nil when `module` is not such a layer of `bn`'s width.
    static func folding(_ bn: BatchNorm, into module: any Module) -> (any Module)? {
        guard let layer = WeightLayer(module, name: ""), layer.weight.shape[0] == bn.channels else { return nil }
        let (scale, shift) = affine(of: bn)
        let weight = scaledRows(layer.weight, by: scale)
        let oldBias = module.parameters["bias"]?.scalars ?? [Float](repeating: 0, count: bn.channels)
        let bias = Tensor(shape: [bn.channels], scalars: (0..<bn.channels).map { scale[$0] * oldBias[$0] + shift[$0] })
        switch module {
        case is Linear: return Linear(weight: weight, bias: bias)
        case let c as Conv2d: return Conv2d(weight: weight, bias: bias, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        case let c as Conv1d: return Conv1d(weight: weight, bias: bias, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        default: return nil
        }
    }

    /// `w` with row (output channel) `o` multiplied by `scale[o]`.
    static func scaledRows(_ w: Tensor, by scale: [Float]) -> Tensor {
        let inner = w.count / w.shape[0]
        var s = w.scalars
        for o in 0..<w.shape[0] { for i in 0..<inner { s[o * inner + i] *= scale[o] } }
        return Tensor(shape: w.shape, scalars: s)
    }
}
