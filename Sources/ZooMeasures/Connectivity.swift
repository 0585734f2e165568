import Foundation
import ZooData
import ZooNN
import ZooOptim
import ZooTensor
import ZooTrain

/// Mode connectivity: whether two networks trained from the same configuration with different
/// seeds are joined by a path in weight space along which the error stays low — along the
/// straight line (Frankle et al. 2020's instability) or along a curve trained for it (Garipov
/// et al. 2018; Draxler et al. 2018).
///
/// Both measures evaluate the networks at `points` evenly spaced t ∈ [0, 1] (both ends included)
/// on the test split (`split` 1, the default) or on the measure's training sample (`split` 0),
/// all points of all pairs as one stacked population, and report the same keys:
/// - `error@T` (T with four decimals: `error@0.0417`) the error 1 − accuracy at t = T, as a
///   fraction, and `loss@T` the mean cross-entropy;
/// - `""` the error barrier maxₜ error(t) − ½(error(0) + error(1)), and `loss_barrier` likewise.
///
/// The ends are the two networks themselves, bit for bit, and are evaluated in evaluation mode
/// as the trainer evaluates (each row's logits do not depend on the batch), with the accuracy as the trainer
/// computes it (`Float(correct) / Float(n)`): `error@0.0000` is exactly 1 − the test accuracy the
/// run recorded for that epoch.
///
/// Both compare only seeds of one configuration (``PairScope/seeds``): between unrelated
/// configurations a path says little, and all pairs of a family would cost quadratically.
enum ConnectivityMeasures {
    static let all: [any PairMeasure] = [LinearInterpolation(), CurveConnectivity()]

    /// Rows per evaluation batch.
    static let evaluationRows = 100
    /// Rows per batch of a batch-norm reset.
    static let statisticsRows = 100

    // MARK: - Linear interpolation

    /// Linear mode connectivity (Frankle et al. 2020, "Linear Mode Connectivity and the Lottery
    /// Ticket Hypothesis", ICML): the networks θ(α) = (1 − α)·θ_A + α·θ_B, computed as
    /// θ_A + α·(θ_B − θ_A) (exactly θ_A where θ_A = θ_B), at `points` (25, at least 3) values of
    /// α. The error barrier `""` is the paper's instability: two networks are linearly connected
    /// when it is about 0 (Frankle et al. allow 2 %).
    ///
    /// Batch norm (`bn_reset` 1, the default): the running statistics of the ends do not belong
    /// to the weights in between, so each interior network's are recomputed (reset, then the
    /// cumulative average over `bn_batches` (20) training-mode batches of 100 rows of the
    /// training sample, the same seeded rows for every point, without gradients: PyTorch's
    /// `momentum=None`, ``ZooNN/Module/recomputeBatchStatistics(over:key:)``). The ends keep
    /// their own statistics: recomputed ones differ from the training-time averages (which lag
    /// behind the moving weights), and the ends would no longer be the networks whose accuracy
    /// the run recorded. With `bn_reset` 0 the buffers are interpolated like the weights.
    /// - Throws: ``MeasureError`` when the two networks differ in architecture, the data has no
    ///   test split and `split` is 1, or a setting is out of range.
    /// - Complexity: `points` evaluations of the split per pair (two of them the ends), stacked;
    ///   with batch norm and `bn_reset`, `points − 2` × `bn_batches` training-mode passes of 100 rows more.
    struct LinearInterpolation: PairMeasure {
        let name = "linear_interpolation", version = 1
        let summary = "error and loss barrier on the straight line between two seeds' weights (Frankle et al. 2020)"
        var pairing: PairScope { .seeds }
        var defaults: [String: Double] { ["points": 25, "split": 1, "bn_reset": 1, "bn_batches": 20] }

        func values(of pairs: [(Subject, Subject)], settings: MeasureSettings) throws -> [[String: Double]] {
            let ts = try ConnectivityMeasures.grid(settings)
            let data = try ConnectivityMeasures.evaluationData(pairs, settings: settings, measure: name)
            let reset = try ConnectivityMeasures.flag(settings, "bn_reset")
            let ends = try pairs.map { try Ends($0, $1, measure: name) }
            let statistics = reset && !pairs[0].0.model.buffers.isEmpty
                ? try StatisticsReset(pairs[0].0.sample, batches: FlatnessMeasures.positive(settings, "bn_batches"), seed: settings.seed, measure: name)
                : nil
            return try ConnectivityMeasures.profiles(ends, at: ts, on: data) { networks, ts in
                statistics?.applied(to: networks, at: ts) ?? networks
            }
        }
    }

    // MARK: - Curve connectivity

    /// Mode connectivity along a trained curve (Garipov et al. 2018, "Loss Surfaces, Mode
    /// Connectivity, and Fast Ensembling of DNNs", NeurIPS; Draxler et al. 2018, "Essentially No
    /// Barriers in Neural Network Energy Landscape", ICML): a path φ(t) from θ_A to θ_B through
    /// one bend θ_bend,
    ///
    ///     shape 0, quadratic Bézier:  φ(t) = (1 − t)²θ_A + 2t(1 − t)θ_bend + t²θ_B
    ///     shape 1, polygonal chain:   φ(t) = (1 − 2t)θ_A + 2tθ_bend for t ≤ ½, (2 − 2t)θ_bend + (2t − 1)θ_B after
    ///
    /// with θ_bend starting at (θ_A + θ_B)/2 (where both shapes are the straight line: `steps` 0
    /// gives ``LinearInterpolation``'s values up to rounding) and trained to minimise
    /// E_{t ~ U(0,1)}[L(φ(t))], L the mean cross-entropy on the training sample: each of `steps`
    /// (300) steps draws `samples` (4) values of t and a minibatch of `batch` (128) rows, evaluates
    /// the networks φ(t_k) as one stacked population, and moves θ_bend by Adam (`lr` 0.003) along
    /// (1/samples) Σ_k ∂φ/∂θ_bend(t_k) ∇L(φ(t_k)), with ∂φ/∂θ_bend = 2t(1 − t) (Bézier) or
    /// 2t, 2 − 2t (chain). The trained curve is then evaluated at `points` values of t like
    /// ``LinearInterpolation`` (same keys, same `split`); its barriers are at most the straight
    /// line's when the training succeeds.
    ///
    /// Deviations from Garipov et al.: Adam instead of SGD, far fewer steps (they train for as
    /// many epochs as the ends), the networks in evaluation mode while the bend trains (no
    /// dropout). The barrier after a few hundred steps bounds the best curve's from above.
    /// The learning rate was chosen on Fashion-MNIST (two seeds trained 5 epochs on 3,000 rows,
    /// a 2,000-row sample, 300 steps, the barrier on 1,000 test rows; straight-line loss
    /// barriers 1.54 for zoo-cnn, 0.39 for a 784-64-10 MLP): zoo-cnn's curve keeps a loss barrier
    /// of 0.30 at `lr` 0.001, 0.015 at 0.003, 0.004 at 0.01; the MLP's is 0.010 at 0.001 and
    /// 0.003 but 0.09 at 0.01, where the bend overfits the sample. 0.003 serves both.
    ///
    /// The minibatches are the same for every pair (drawn by the seed alone) and the t's are the
    /// pair's own (drawn by its key), so a pair's values do not depend on the pairs computed with it.
    /// - Throws: ``MeasureError`` for networks with batch-norm buffers (each point of a curve
    ///   would need its own statistics, recomputed at every step), and as ``LinearInterpolation``.
    /// - Complexity: `steps` × `samples` forward and backward passes of `batch` rows per pair,
    ///   stacked over pairs, then `points` evaluations of the split.
    struct CurveConnectivity: PairMeasure {
        let name = "curve_connectivity", version = 1
        let summary = "error and loss barrier on a trained Bézier curve or polygonal chain between two seeds (Garipov et al. 2018; Draxler et al. 2018)"
        var pairing: PairScope { .seeds }
        var defaults: [String: Double] { ["points": 25, "split": 1, "shape": 0, "samples": 4, "batch": 128, "lr": 0.003, "steps": 300] }

        func values(of pairs: [(Subject, Subject)], settings: MeasureSettings) throws -> [[String: Double]] {
            let ts = try ConnectivityMeasures.grid(settings)
            let data = try ConnectivityMeasures.evaluationData(pairs, settings: settings, measure: name)
            let path: Path = try ConnectivityMeasures.flag(settings, "shape") ? .chain : .bezier
            let a = pairs[0].0
            guard a.model.buffers.isEmpty else {
                throw MeasureError(description: "\(name): run \(a.runID) (\(a.config.model.name)) has batch-norm buffers "
                    + "(\(a.model.buffers.names.prefix(2).joined(separator: ", "))…), which every point of a curve would need recomputed; "
                    + "linear_interpolation handles them (bn_reset)")
            }
            let ends = try pairs.map { try Ends($0, $1, measure: name) }
            let bends = try trainBends(ends, keys: pairs.map { a, b in settings.key(name, a).derived(b.runID) }, path: path,
                                       sample: a.sample, settings: settings)
            return try ConnectivityMeasures.profiles(ends, at: ts, on: data, path: path, bends: bends)
        }

        /// The trained bend of each pair, θ_bend − θ_A.
        func trainBends(_ ends: [Ends], keys: [RandomKey], path: Path, sample: LabeledData, settings: MeasureSettings) throws -> [NamedTensors] {
            guard sample.count > 0 else { throw MeasureError(description: "\(name): the sample is empty") }
            let steps = try FlatnessMeasures.nonNegative(settings, "steps"), draws = try FlatnessMeasures.positive(settings, "samples")
            let rows = min(sample.count, try FlatnessMeasures.positive(settings, "batch"))
            let adam = Adam(learningRate: Float(settings["lr"]))
            // The bend as an offset from θ_A: the straight line's midpoint to start.
            var bends = ends.map { $0.towardB.mapTensors { $0 * 0.5 } }
            var states = bends.map { adam.initialState(for: $0) }
            let minibatches = RandomKey(seed: settings.seed, stream: 0x6375_7276)  // "curv"
            for step in 0..<steps {
                let batch = rows == sample.count ? sample : sample.selecting(minibatches.derived(step).permutation(sample.count).prefix(rows).sorted())
                let ts = keys.map { $0.derived(step).uniform(count: draws) }
                let results = try ConnectivityMeasures.bendGradients(ends.indices.map { (ends[$0], bends[$0], ts[$0]) }, path: path, on: batch)
                for p in ends.indices {
                    (bends[p], states[p]) = adam.update(parameters: bends[p], gradients: results[p].gradient, state: states[p],
                                                        learningRate: adam.learningRate)
                }
            }
            return bends
        }
    }

    /// For each pair (its ends, its bend θ_bend − θ_A and the t's drawn), the mean over the t's
    /// of the mean cross-entropy L(φ(t)) on `data` and its gradient with respect to θ_bend,
    /// (1/K) Σ_k ∂φ/∂θ_bend(t_k) ∇L(φ(t_k)). All pairs' networks go through ``Evaluator`` stacked.
    static func bendGradients(_ items: [(ends: Ends, bend: NamedTensors, ts: [Float])], path: Path, on data: LabeledData) throws
        -> [(loss: Double, gradient: NamedTensors)]
    {
        let points = items.indices.flatMap { p in items[p].ts.map { (p, $0) } }
        let results = try FlatnessMeasures.chunked(points, scalars: items[0].ends.towardB.elementCount) { part in
            try Evaluator().lossAndGradient(part.map { p, t in items[p].ends.network(at: t, path: path, bend: items[p].bend) }, on: data)
        }
        var out: [(loss: Double, gradient: NamedTensors)] = []
        var start = 0
        for item in items {
            let k = Float(item.ts.count)
            var loss = 0.0, gradient: NamedTensors?
            for (t, r) in zip(item.ts, results[start ..< start + item.ts.count]) {
                let weight = path.coefficients(t).bend / k
                loss += r.loss / Double(k)
                let term = r.gradient.mapTensors { $0 * weight }
                gradient = gradient.map { $0.zipTensors(term) { $0 + $1 } } ?? term
            }
            start += item.ts.count
            out.append((loss, gradient!))
        }
        return out
    }

    // MARK: - Paths

    /// A path φ(t) from θ_A (t = 0) to θ_B (t = 1), written as
    /// φ(t) = θ_A + c_bend(t)·(θ_bend − θ_A) + c_B(t)·(θ_B − θ_A): the weights of θ_A, θ_bend, θ_B
    /// sum to 1, and c_bend = ∂φ/∂θ_bend.
    enum Path: Sendable {
        case line, bezier, chain

        func coefficients(_ t: Float) -> (bend: Float, end: Float) {
            switch self {
            case .line: (0, t)
            case .bezier: (2 * t * (1 - t), t * t)
            case .chain: t <= 0.5 ? (2 * t, 0) : (2 - 2 * t, 2 * t - 1)
            }
        }
    }

    /// The two networks of a pair and the difference of their weights.
    struct Ends: Sendable {
        var a: any Module, b: any Module
        /// θ_B − θ_A.
        var towardB: NamedTensors
        /// B's buffers − A's (empty without batch norm).
        var buffersTowardB: NamedTensors

        /// - Throws: ``MeasureError`` when the networks' parameters or buffers differ in names or shapes.
        init(_ a: Subject, _ b: Subject, measure: String) throws {
            try PairwiseMeasures.checkArchitectures(a, b, measure: measure)
            self.a = a.model
            self.b = b.model
            towardB = b.model.parameters.zipTensors(a.model.parameters) { $0 - $1 }
            buffersTowardB = b.model.buffers.zipTensors(a.model.buffers) { $0 - $1 }
        }

        /// The network at `t` on `path` through the bend θ_bend − θ_A: exactly network A at t = 0
        /// and network B at t = 1, both with their own buffers; in between, the buffers on the line.
        func network(at t: Float, path: Path, bend: NamedTensors? = nil) -> any Module {
            if t == 0 { return a }
            if t == 1 { return b }
            let c = path.coefficients(t)
            var parameters = a.parameters.zipTensors(towardB) { $0 + $1 * c.end }
            if let bend, c.bend != 0 { parameters = parameters.zipTensors(bend) { $0 + $1 * c.bend } }
            var network = a.with(parameters: parameters)
            if !buffersTowardB.isEmpty { network.buffers = a.buffers.zipTensors(buffersTowardB) { $0 + $1 * t } }
            return network
        }
    }

    // MARK: - Evaluation

    /// `points` evenly spaced values in [0, 1], both ends included.
    static func grid(_ settings: MeasureSettings) throws -> [Float] {
        let n = try FlatnessMeasures.positive(settings, "points")
        // Four decimals name the points: at most 10,001 of them stay distinct.
        guard (3...10_001).contains(n) else { throw MeasureError(description: "setting 'points' must be from 3 to 10,001, got \(n)") }
        return (0..<n).map { Float($0) / Float(n - 1) }
    }

    /// A 0/1 setting.
    static func flag(_ settings: MeasureSettings, _ key: String) throws -> Bool {
        let v = settings[key]
        guard v == 0 || v == 1 else { throw MeasureError(description: "setting '\(key)' must be 0 or 1, got \(v)") }
        return v == 1
    }

    /// The rows the path is evaluated on: the test split (`split` 1) or the training sample (0).
    /// The pairs share one data set (the runner groups them so), so the first pair's stands for all.
    static func evaluationData(_ pairs: [(Subject, Subject)], settings: MeasureSettings, measure: String) throws -> LabeledData {
        guard let (a, _) = pairs.first else { throw MeasureError(description: "\(measure): no pairs given") }
        let onTest = try flag(settings, "split"), data: LabeledData
        if onTest {
            guard let test = a.test else {
                throw MeasureError(description: "\(measure): run \(a.runID) (data \(a.config.data.name)) has no test split; "
                    + "set \(measure).split=0 to evaluate on the training sample")
            }
            data = test
        } else {
            data = a.sample
        }
        guard data.count > 0 else { throw MeasureError(description: "\(measure): the \(onTest ? "test split" : "sample") of run \(a.runID) is empty") }
        return data
    }

    /// The values of each pair (see ``ConnectivityMeasures``): its path's networks at `ts`
    /// (through its bend, if any), passed through `adjust` with their t's, evaluated on `data` in
    /// chunks that hold at most ``FlatnessMeasures/scalarsPerCall`` parameters and logits.
    static func profiles(_ ends: [Ends], at ts: [Float], on data: LabeledData, path: Path = .line, bends: [NamedTensors]? = nil,
                         adjust: ([any Module], [Float]) -> [any Module] = { networks, _ in networks }) throws -> [[String: Double]] {
        let points = ends.indices.flatMap { p in ts.map { (p, $0) } }
        let scalars = ends[0].towardB.elementCount + data.count * data.classCount
        let metrics = try FlatnessMeasures.chunked(points, scalars: scalars) { part in
            let networks = part.map { p, t in ends[p].network(at: t, path: path, bend: bends?[p]) }
            return try errorsAndLosses(adjust(networks, part.map(\.1)), on: data)
        }
        return ends.indices.map { p in values(Array(metrics[p * ts.count ..< (p + 1) * ts.count]), at: ts) }
    }

    /// Each network's error and mean cross-entropy on `data`, evaluated as the trainer does
    /// (batches of 100 rows; accuracy `Float(correct) / Float(n)`, error 1 − accuracy), the
    /// cross-entropy in double precision.
    static func errorsAndLosses(_ networks: [any Module], on data: LabeledData) throws -> [(error: Double, loss: Double)] {
        try Evaluator(batchRows: evaluationRows).logits(networks, inputs: data.inputs).map { logits in
            let loss = crossEntropyRows(logits, data.labels).reduce(0, +) / Double(data.count)
            let correct = zip(argmaxRows(logits), data.labels).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
            return (1 - Double(Float(correct) / Float(data.count)), loss)
        }
    }

    /// The keys of one pair from its points' errors and losses (see ``ConnectivityMeasures``).
    static func values(_ metrics: [(error: Double, loss: Double)], at ts: [Float]) -> [String: Double] {
        var out: [String: Double] = [:]
        for (t, m) in zip(ts, metrics) {
            let label = String(format: "%.4f", Double(t))
            out["error@\(label)"] = m.error
            out["loss@\(label)"] = m.loss
        }
        out[""] = barrier(metrics.map(\.error))
        out["loss_barrier"] = barrier(metrics.map(\.loss))
        return out
    }

    /// maxᵢ yᵢ − (y_first + y_last)/2; NaN when any value is.
    static func barrier(_ ys: [Double]) -> Double {
        guard !ys.contains(where: \.isNaN) else { return .nan }
        return ys.max()! - (ys.first! + ys.last!) / 2
    }

    // MARK: - Batch norm

    /// The batch-norm reset of the interior points of a path: `batches` batches of 100 rows of the
    /// sample in a seeded order (fewer when the sample is smaller; a last batch of one row is
    /// dropped, as batch norm cannot train on it), the same for every point, and the key of
    /// their dropout masks.
    struct StatisticsReset: Sendable {
        var batches: [Tensor]
        var key: RandomKey

        init(_ sample: LabeledData, batches count: Int, seed: UInt64, measure: String) throws {
            key = RandomKey(seed: seed, stream: 0x626e_7374)  // "bnst"
            let order = key.permutation(sample.count), end = min(sample.count, count * statisticsRows)
            batches = stride(from: 0, to: end, by: statisticsRows).compactMap { start in
                let rows = Array(order[start ..< min(end, start + statisticsRows)])
                return rows.count > 1 ? sample.inputs.gatheringRows(rows) : nil
            }
            guard !batches.isEmpty else {
                throw MeasureError(description: "\(measure): the sample has \(sample.count) row(s); a batch-norm reset needs at least 2 "
                    + "(or set \(measure).bn_reset=0)")
            }
        }

        /// `networks`, the points of paths at `ts`, with the statistics of those strictly between
        /// the ends recomputed, in parallel.
        func applied(to networks: [any Module], at ts: [Float]) -> [any Module] {
            let (batches, key) = (self.batches, self.key.derived("dropout"))
            return PopulationTrainer.forEachSlice(networks.count) { i in
                var network = networks[i]
                if ts[i] > 0 && ts[i] < 1 { network.recomputeBatchStatistics(over: batches, key: key) }
                return network
            }
        }
    }
}
