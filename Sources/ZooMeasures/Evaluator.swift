import Foundation
import ZooData
import ZooNN
import ZooTensor
import ZooTrain

/// Networks of one architecture evaluated on fixed data in evaluation mode, as one stacked
/// population: members that stack go through the kernels together in slices of up to
/// ``slice``, slices in parallel; a network that does not stack (batch norm) runs alone. This is
/// how a measure evaluates K members, or the perturbed and interpolated copies of one member, fast.
///
/// Losses are the mean cross-entropy over the data; every member's numbers are its own, whatever
/// it is evaluated with.
public struct Evaluator: Sendable {
    /// Members per stacked pass.
    public var slice: Int
    /// Rows per member per pass (smaller for passes that keep the graph for gradients).
    public var batchRows: Int

    public init(slice: Int = 8, batchRows: Int = 250) {
        self.slice = slice
        self.batchRows = batchRows
    }

    /// Evaluation-mode logits `[N, C]` of each network on `inputs` `[N, …]`.
    public func logits(_ networks: [any Module], inputs: Tensor) throws -> [Tensor] {
        let n = inputs.shape[0]
        return try forEachPopulation(networks) { population, count in
            var parts = [[Tensor]](repeating: [], count: count)
            withoutGradients {
                for start in stride(from: 0, to: n, by: batchRows) {
                    let x = inputs.sliced(axis: 0, start ..< min(n, start + batchRows))
                    let rows = x.shape[0]
                    let y = population.inferring(count == 1 ? x : Tensor.concatenated(Array(repeating: x, count: count)))
                    for k in 0..<count { parts[k].append(count == 1 ? y : y.sliced(axis: 0, k * rows ..< (k + 1) * rows)) }
                }
            }
            return parts.map { $0.count == 1 ? $0[0] : Tensor.concatenated($0) }
        }
    }

    /// Mean cross-entropy and accuracy of each network on `data`.
    public func lossAndAccuracy(_ networks: [any Module], on data: LabeledData) throws -> [(loss: Double, accuracy: Double)] {
        try logits(networks, inputs: data.inputs).map { logits in
            let rows = crossEntropyRows(logits, data.labels)
            let loss = rows.reduce(0.0) { $0 + Double($1) } / Double(max(1, data.count))
            let hits = zip(argmaxRows(logits), data.labels).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
            return (loss, Double(hits) / Double(max(1, data.count)))
        }
    }

    /// Mean cross-entropy on `data` and its gradient with respect to every parameter, per network.
    public func lossAndGradient(_ networks: [any Module], on data: LabeledData) throws -> [(loss: Double, gradient: NamedTensors)] {
        try forEachPopulation(networks) { population, count in
            var loss = [Double](repeating: 0, count: count)
            var sum: NamedTensors?
            for start in stride(from: 0, to: data.count, by: batchRows) {
                let range = start ..< min(data.count, start + batchRows)
                let (l, g) = batchLossAndGradient(&population, count: count, data: data, rows: range, scale: Float(range.count) / Float(data.count))
                for k in 0..<count { loss[k] += l[k] }
                sum = sum.map { $0.zipTensors(g) { $0 + $1 } } ?? g
            }
            return (0..<count).map { (loss[$0], Population.unstack(sum!, count: count, member: $0)) }
        }
    }

    /// The product of the Hessian of the mean cross-entropy on `data` (with respect to every
    /// parameter) with `vectors[k]`, at each network `k`: by double backward, the gradient of
    /// ⟨∇L, v⟩.
    public func hessianVectorProducts(_ networks: [any Module], vectors: [NamedTensors], on data: LabeledData) throws -> [NamedTensors] {
        precondition(vectors.count == networks.count, "Evaluator: \(vectors.count) vectors for \(networks.count) networks")
        return try forEachPopulation(networks, offsets: true) { population, count, first in
            let v = Population.stack(Array(vectors[first ..< first + count]))
            var sum: NamedTensors?
            for start in stride(from: 0, to: data.count, by: batchRows) {
                let range = start ..< min(data.count, start + batchRows)
                let tracked = population.parameters.detached().requiringGradient()
                population.parameters = tracked
                let rows = memberRows(&population, count: count, data: data, rows: range)
                let loss = rows.sum() * (1 / Float(data.count))
                let g = gradients(of: loss, wrt: tracked, createGraph: true)
                var dot: Tensor?
                for (name, gt) in g { let term = (gt * v[name]!).sum(); dot = dot.map { $0 + term } ?? term }
                let hv = gradients(of: dot!, wrt: tracked)
                sum = sum.map { $0.zipTensors(hv) { $0 + $1 } } ?? hv
            }
            return (0..<count).map { Population.unstack(sum!.detached(), count: count, member: $0) }
        }
    }

    /// Per-row cross-entropy of the population's members on rows `rows` of `data`, member-major
    /// `[count · rows]`, differentiable with respect to the population's parameters.
    public func memberRows(_ population: inout Population, count: Int, data: LabeledData, rows: Range<Int>) -> Tensor {
        let x = data.inputs.sliced(axis: 0, rows)
        let labels = Array(data.labels[rows])
        let logits = population(count == 1 ? x : Tensor.concatenated(Array(repeating: x, count: count)),
                                contexts: Array(repeating: .inference, count: count))
        return Loss.crossEntropy().rows(logits, Array([[Int]](repeating: labels, count: count).joined()))
    }

    /// One batch's contribution to each member's mean loss (scaled by `scale`) and the stacked gradient of their sum.
    private func batchLossAndGradient(_ population: inout Population, count: Int, data: LabeledData, rows: Range<Int>,
                                      scale: Float) -> ([Double], NamedTensors) {
        let tracked = population.parameters.detached().requiringGradient()
        population.parameters = tracked
        let perRow = memberRows(&population, count: count, data: data, rows: rows)
        let loss = perRow.sum() * (scale / Float(rows.count))
        let g = gradients(of: loss, wrt: tracked)
        let s = perRow.scalars, n = rows.count
        let losses = (0..<count).map { k in s[k * n ..< (k + 1) * n].reduce(0.0) { $0 + Double($1) } / Double(n) * Double(scale) }
        population.parameters = tracked.detached()
        return (losses, g)
    }

    /// Runs `body` on populations of the networks (stacked slices, or one network at a time when
    /// they do not stack), slices in parallel, and returns the results in the networks' order.
    public func forEachPopulation<T: Sendable>(_ networks: [any Module], _ body: @Sendable (inout Population, Int) throws -> [T]) throws -> [T] {
        try forEachPopulation(networks, offsets: true) { population, count, _ in try body(&population, count) }
    }

    private func forEachPopulation<T: Sendable>(_ networks: [any Module], offsets: Bool,
                                                _ body: @Sendable (inout Population, Int, Int) throws -> [T]) throws -> [T] {
        guard !networks.isEmpty else { return [] }
        let stacks = networks.count > 1 && networks.allSatisfy { $0.buffers.isEmpty }
            && (try? Population.signature(of: networks[0])).map { s in networks.dropFirst().allSatisfy { (try? Population.signature(of: $0)) == s } } == true
        let width = stacks ? max(1, slice) : 1
        let starts = Array(stride(from: 0, to: networks.count, by: width))
        let populations = try starts.map { try Population(Array(networks[$0 ..< min(networks.count, $0 + width)])) }
        let results = PopulationTrainer.forEachSlice(starts.count) { s -> Result<[T], Error> in
            var p = populations[s]
            return Result { try body(&p, p.count, starts[s]) }
        }
        return try results.flatMap { try $0.get() }
    }
}

extension Module {
    /// A copy with other parameters (same names and shapes), keeping the buffers.
    public func with(parameters: NamedTensors) -> any Module {
        var copy: any Module = self
        copy.parameters = parameters
        return copy
    }
}

/// Per-row cross-entropy of logits `[N, C]`, in double precision.
public func crossEntropyRows(_ logits: Tensor, _ labels: [Int]) -> [Double] {
    let c = logits.shape[1], s = logits.scalars
    return labels.enumerated().map { r, label in
        var m = -Double.infinity
        for j in 0..<c { m = max(m, Double(s[r * c + j])) }
        var z = 0.0
        for j in 0..<c { z += Foundation.exp(Double(s[r * c + j]) - m) }
        return m + Foundation.log(z) - Double(s[r * c + label])
    }
}

/// The class of the largest logit of each row of `[N, C]` (ties: the first).
public func argmaxRows(_ logits: Tensor) -> [Int] {
    let c = logits.shape[1], s = logits.scalars
    return (0..<logits.shape[0]).map { r in
        var best = 0
        for j in 1..<c where s[r * c + j] > s[r * c + best] { best = j }
        return best
    }
}
