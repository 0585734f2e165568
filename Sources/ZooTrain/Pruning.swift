import ZooNN
import ZooTensor

/// How a pruning step chooses the weights it removes.
public enum PruningMethod: String, Codable, Sendable, CaseIterable {
    /// The smallest magnitudes over all prunable tensors together: the global iterative magnitude
    /// pruning of Frankle & Carbin (2019) and OpenLTH's `sparse_global`.
    case global
    /// The smallest magnitudes within each tensor, the same fraction of each (Han et al. 2015;
    /// the layer-wise rates of the lottery ticket paper).
    case layerwise
    /// Uniformly random among the remaining weights of all prunable tensors: the random-mask control.
    case random
    /// The smallest magnitudes of the network at initialization, not of the trained one: pruning at
    /// initialization by magnitude (a baseline of Frankle et al. 2021, "Pruning Neural Networks at
    /// Initialization: Why Are We Missing the Mark?").
    case initMagnitude = "init-magnitude"
}

/// One pruning step: which tensors it may touch, what fraction of their remaining weights it
/// removes, and how it chooses them. Masks are named tensors of 0 and 1 with the shapes of the
/// weights they mask (absent: dense); a pruned weight is exactly 0 and is never updated again.
public struct Pruning: Codable, Sendable, Equatable {
    /// The fraction of the remaining (unmasked) prunable weights removed, in [0, 1).
    public var fraction: Double
    public var method: PruningMethod
    /// Glob patterns of prunable tensors kept dense (say, the output layer).
    public var exclude: [String]

    public init(fraction: Double, method: PruningMethod = .global, exclude: [String] = []) {
        self.fraction = fraction
        self.method = method
        self.exclude = exclude
    }

    /// The tensors pruning may touch: parameters of rank ≥ 2 (convolution and linear weights;
    /// not biases or normalization scales) that no `exclude` pattern matches, in order.
    public func prunable(_ parameters: NamedTensors) -> [String] { Self.prunable(parameters, exclude: exclude) }

    /// The parameters of rank ≥ 2 that no `exclude` pattern matches, in order: what pruning and
    /// L0 gates act on.
    public static func prunable(_ parameters: NamedTensors, exclude: [String] = []) -> [String] {
        parameters.filter { name in
            parameters[name]!.shape.count >= 2 && !exclude.contains { globMatches($0, name) }
        }.names
    }

    /// The masks after this step: `current` (dense where a prunable tensor has none) with
    /// ⌈fraction · remaining⌉ of its remaining weights removed — counted over all prunable tensors
    /// for `.global`, `.random` and `.initMagnitude`, per tensor for `.layerwise` (OpenLTH rounds
    /// up too). Among equal magnitudes the earlier tensor and position go first, so the result is
    /// a pure function of its inputs.
    /// - Parameters:
    ///   - weights: the network whose magnitudes decide (for every method but `.initMagnitude`).
    ///   - initial: the network at initialization (for `.initMagnitude`).
    ///   - key: the draws of `.random`.
    /// - Returns: a mask for every prunable tensor, in their order.
    public func masks(weights: NamedTensors, current: NamedTensors, initial: NamedTensors? = nil, key: RandomKey) -> NamedTensors {
        let names = prunable(weights)
        let source = method == .initMagnitude ? (initial ?? weights) : weights
        var masks = names.map { name in (current[name] ?? .ones(like: weights[name]!)).scalars }
        // The remaining weights, as (tensor, position).
        func remaining(_ tensors: [Int]) -> [(tensor: Int, index: Int)] {
            tensors.flatMap { t in masks[t].indices.filter { masks[t][$0] != 0 }.map { (t, $0) } }
        }
        func prune(_ tensors: [Int]) {
            let candidates = remaining(tensors)
            let count = min(candidates.count, Int((fraction * Double(candidates.count)).rounded(.up)))
            guard count > 0 else { return }
            let chosen: [(tensor: Int, index: Int)]
            if method == .random {
                chosen = key.permutation(candidates.count).prefix(count).map { candidates[$0] }
            } else {
                let magnitudes = tensors.reduce(into: [Int: [Float]]()) { $0[$1] = source[names[$1]]!.scalars.map(abs) }
                chosen = Array(candidates.sorted { a, b in
                    let x = magnitudes[a.tensor]![a.index], y = magnitudes[b.tensor]![b.index]
                    return x != y ? x < y : (a.tensor, a.index) < (b.tensor, b.index)
                }.prefix(count))
            }
            for c in chosen { masks[c.tensor][c.index] = 0 }
        }
        if method == .layerwise {
            for t in names.indices { prune([t]) }
        } else {
            prune(Array(names.indices))
        }
        return NamedTensors(names.enumerated().map { t, name in (name, Tensor(shape: weights[name]!.shape, scalars: masks[t])) })
    }
}

extension NamedTensors {
    /// Each tensor that `masks` names multiplied by its mask; the others unchanged.
    public func masked(by masks: NamedTensors) -> NamedTensors {
        guard !masks.isEmpty else { return self }
        var out = self
        for (name, mask) in masks { if let t = self[name] { out[name] = t * mask } }
        return out
    }
}

/// The share of weights that masks keep: per masked tensor and over all of them.
public struct Density: Sendable, Equatable {
    /// Kept weights over all masked tensors, divided by their size (1 without masks).
    public var overall: Double
    /// Per masked tensor, in order.
    public var perTensor: [(name: String, density: Double)]

    public init(_ masks: NamedTensors) {
        var kept = 0.0, total = 0
        perTensor = masks.map { name, mask in
            let k = mask.scalars.reduce(0.0) { $0 + Double($1) }
            kept += k
            total += mask.count
            return (name, mask.count == 0 ? 1 : k / Double(mask.count))
        }
        overall = total == 0 ? 1 : kept / Double(total)
    }

    public static func == (a: Density, b: Density) -> Bool {
        a.overall == b.overall && a.perTensor.map(\.name) == b.perTensor.map(\.name) && a.perTensor.map(\.density) == b.perTensor.map(\.density)
    }
}
