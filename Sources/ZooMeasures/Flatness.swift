import Foundation
import ZooData
import ZooNN
import ZooTensor

/// Sharpness and flatness of the training loss around a network's weights: PAC-Bayes flatness
/// and worst-case sharpness with their bound forms (Jiang et al. 2019, "Fantastic Generalization
/// Measures and Where to Find Them", Appendix C: sharpness-based measures, magnitude-aware
/// perturbation bounds, and the σ searches of its algorithms), relative flatness (Petzka et al.
/// 2021) and the Hessian's trace and top eigenvalue (Hessian.swift).
///
/// Each search (σ, σ′, α, α′) is one measure whose own value is Jiang's flatness form (1/σ², …)
/// and whose other keys are the searched scale and the two bound forms, so one search serves all
/// four of Jiang's numbers: `pacbayes_flatness` with keys `sigma`, `init`, `orig`, and so on.
///
/// Notation: w is every parameter of the network as one vector (weights, biases, batch-norm
/// scales), w⁰ the same at initialization, ω = dim w, m the number of sample rows.
enum FlatnessMeasures {
    static let all: [any Measure] = [
        PACBayes(magnitudeAware: false), PACBayes(magnitudeAware: true),
        Sharpness(magnitudeAware: false), Sharpness(magnitudeAware: true),
        RelativeFlatness(), HessianTrace(), HessianTopEigenvalue(),
    ]

    /// Parameters per network call: perturbed copies are evaluated in chunks of at most this many
    /// scalars (64 MB of Float), so a population of resnet20 copies does not hold gigabytes at once.
    static let scalarsPerCall = 16_000_000

    // MARK: - PAC-Bayes flatness

    /// PAC-Bayes flatness (Jiang et al. 2019, Appendix C, pacbayes.init/orig/flatness and the σ
    /// search; after Neyshabur et al. 2017 and Dziugaite & Roy 2017). σ is the largest standard
    /// deviation of a Gaussian perturbation u ~ N(0, σ²I) of all weights for which the expected
    /// training error moves by the target deviation d (0.1):
    ///
    ///     |E_u[err(w + u)] − err(w)| ≈ d,   found by bisection on log σ ∈ [log lower, log upper]
    ///
    /// Values: `""` = 1/σ² (Jiang's pacbayes.flatness), `sigma` = σ,
    /// `init` = ‖w − w⁰‖²/(4σ²) + log(m/σ) + 10, `orig` = ‖w‖²/(4σ²) + log(m/σ) + 10.
    ///
    /// Magnitude-aware (`pacbayes_mag_flatness`, Jiang's pacbayes.mag.init/orig/flatness):
    /// u_i ~ N(0, σ′²w_i² + ε²), ε = 10⁻³, the search on σ′; `""` = 1/σ′², `sigma` = σ′, and
    ///
    ///     init = ¼ Σ_i log[(ε² + (σ′² + 1)‖w − w⁰‖²/ω) / (ε² + σ′²(w_i − w⁰_i)²)] + log(m/δ) + 10
    ///     orig = the same with ‖w‖² in the numerator (the denominator as Jiang prints it, with w − w⁰)
    ///
    /// Procedure (Jiang's σ search): `search_steps` bisection steps, each evaluating the error
    /// at `draws` perturbations; a subject stops when |deviation − d| < `tolerance`, and its σ is
    /// the last midpoint evaluated (within [`lower`, `upper`]: a network that `upper` does not
    /// disturb enough reports nearly `upper`). Settings: `on_error` 1 measures the deviation on
    /// the 0-1 training error as Jiang does, 0 on the mean cross-entropy. Deviations from Jiang:
    /// the bisection halves log σ, not σ (σ spans orders of magnitude across a zoo: about half
    /// the steps of a linear bisection for the same relative precision), and the draws are the
    /// same standard normal directions at every σ (common random numbers), so the deviation is a
    /// smooth function of σ and the search does not chase noise.
    ///
    /// - Complexity: at most `search_steps` × `draws` evaluations of the sample, all subjects'
    ///   draws of one step as one stacked population. Measured on a zoo-cnn with 5,000 rows
    ///   (release build, CPU time): 4–7 s per checkpoint, the search ending after 4–6 steps.
    struct PACBayes: Measure {
        var magnitudeAware: Bool
        var name: String { magnitudeAware ? "pacbayes_mag_flatness" : "pacbayes_flatness" }
        let version = 1, family = MeasureFamily.flatness
        var summary: String {
            magnitudeAware
                ? "magnitude-aware PAC-Bayes flatness 1/σ′², u_i ~ N(0, σ′²w_i² + ε²), and its bounds (Jiang et al. 2019)"
                : "PAC-Bayes flatness 1/σ² of Gaussian weight noise and its init/orig bounds (Jiang et al. 2019)"
        }
        var defaults: [String: Double] {
            var d: [String: Double] = ["target_deviation": 0.1, "on_error": 1, "draws": 10, "search_steps": 20,
                                       "tolerance": 0.01, "lower": 1e-5, "upper": 2]
            if magnitudeAware { d["epsilon"] = 1e-3; d["delta"] = 0.1 }
            return d
        }

        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let sample = subjects[0].sample, evaluator = Evaluator()
            let layout = ParameterLayout(subjects[0].model.parameters)
            let quantity = Deviation(onError: settings["on_error"] != 0)
            let base = try evaluator.lossAndAccuracy(subjects.map(\.model), on: sample).map(quantity.value)
            let w = subjects.map { layout.flatten($0.model.parameters) }
            let epsilon = magnitudeAware ? settings["epsilon"] : 0
            let draws = try positive(settings, "draws")
            // One standard normal direction per (subject, draw), the same at every σ: drawn again
            // when needed rather than held (64 subjects × 10 draws of resnet20 would be 700 MB).
            func direction(_ p: Int, _ j: Int) -> [Float] { settings.key(name, subjects[p]).derived(j).normal(count: layout.count) }
            let sigmas = try FlatnessMeasures.largestScales(
                count: subjects.count, range: try searchRange(settings), steps: try positive(settings, "search_steps"),
                target: settings["target_deviation"], tolerance: settings["tolerance"]
            ) { batch in
                let copies = batch.flatMap { p, sigma in (0..<draws).map { (p, sigma, $0) } }
                let results = try FlatnessMeasures.chunked(copies, scalars: layout.count) { part in
                    let networks = part.map { p, sigma, j -> any Module in
                        var v = w[p]
                        let z = direction(p, j)
                        for i in v.indices {
                            let sd = magnitudeAware ? (sigma * sigma * v[i] * v[i] + epsilon * epsilon).squareRoot() : sigma
                            v[i] += sd * Double(z[i])
                        }
                        return subjects[p].model.with(parameters: layout.tensors(v))
                    }
                    return try evaluator.lossAndAccuracy(networks, on: sample).map(quantity.value)
                }
                return batch.indices.map { b in
                    let mean = results[b * draws ..< (b + 1) * draws].reduce(0, +) / Double(draws)
                    return abs(mean - base[batch[b].problem])
                }
            }
            return subjects.indices.map { k in
                let s = sigmas[k], m = Double(sample.count)
                let w0 = layout.flatten(subjects[k].initial.parameters)
                var out: [String: Double] = ["": 1 / (s * s), "sigma": s]
                if magnitudeAware {
                    let tail = log(m / settings["delta"]) + 10
                    out["init"] = magnitudeBound(w[k], w0, reference: zip(w[k], w0).map { $0 - $1 }, scale: s * s + 1,
                                                 alpha: s, epsilon: epsilon) + tail
                    out["orig"] = magnitudeBound(w[k], w0, reference: w[k], scale: s * s + 1, alpha: s, epsilon: epsilon) + tail
                } else {
                    out["init"] = squaredDistance(w[k], w0) / (4 * s * s) + log(m / s) + 10
                    out["orig"] = squaredNorm(w[k]) / (4 * s * s) + log(m / s) + 10
                }
                return out
            }
        }
    }

    // MARK: - Worst-case sharpness

    /// Worst-case sharpness (Jiang et al. 2019, Appendix C, sharpness.init/orig/flatness and the α
    /// search by gradient ascent; after Keskar et al. 2017). α is the largest half-width of a box
    /// of weight perturbations within which the worst training error moves by the target
    /// deviation d (0.1):
    ///
    ///     |err(w + u*) − err(w)| ≈ d,   u* ≈ argmax_{‖u‖∞ ≤ α} L(w + u),   bisection on log α
    ///
    /// Values: `""` = 1/α² (Jiang's sharpness.flatness), `alpha` = α,
    /// `init` = ‖w − w⁰‖² log(2ω)/(4α²) + log(m/δ) + 10, `orig` = the same with ‖w‖².
    ///
    /// Magnitude-aware (`sharpness_mag_flatness`, Jiang's sharpness.mag.init/orig/flatness): the
    /// box is |u_i| ≤ α′|w_i| + ε, ε = 10⁻³, the search on α′; `""` = 1/α′², `alpha` = α′, and
    ///
    ///     init = ¼ Σ_i log[(ε² + (α′² + 4 log(2ω/δ))‖w − w⁰‖²/ω) / (ε² + α′²(w_i − w⁰_i)²)] + log(m/δ) + 10
    ///     orig = the same with ‖w‖² in the numerator
    ///
    /// The maximum is approximated by projected sign-gradient ascent on the mean cross-entropy
    /// (steepest ascent for the ∞-norm, as in PGD): from a random point in the box shrunk ten
    /// times, `ascent_steps` steps u ← clip(u + η·h ⊙ sign ∇L(w + u), −h, h), h the box half-widths,
    /// η = `step_size`; the deviation is then measured at the end point (on the error when
    /// `on_error` is 1, Jiang's choice, or on the cross-entropy), the largest over `restarts`
    /// random starts. Jiang's bound prints log(m/σ) for this bound, with σ undefined there; we
    /// use log(m/δ) as in his magnitude-aware forms.
    ///
    /// - Complexity: at most `search_steps` × `restarts` × (`ascent_steps` gradient passes + one
    ///   evaluation) of the sample, every subject's ascent stacked into one population per step.
    ///   Measured on a zoo-cnn with 5,000 rows (release build, CPU time): 11–13 s per checkpoint,
    ///   the most expensive flatness measure; 5 ascent steps (not Jiang's 10–20 gradient steps)
    ///   because a sign step of a quarter half-width reaches the box's faces in four.
    struct Sharpness: Measure {
        var magnitudeAware: Bool
        var name: String { magnitudeAware ? "sharpness_mag_flatness" : "sharpness_flatness" }
        let version = 1, family = MeasureFamily.flatness
        var summary: String {
            magnitudeAware
                ? "magnitude-aware worst-case sharpness 1/α′², box |u_i| ≤ α′|w_i| + ε, and its bounds (Jiang et al. 2019)"
                : "worst-case sharpness 1/α² in an ∞-norm box of weight perturbations and its init/orig bounds (Jiang et al. 2019; Keskar et al. 2017)"
        }
        var defaults: [String: Double] {
            var d: [String: Double] = ["target_deviation": 0.1, "on_error": 1, "search_steps": 20, "tolerance": 0.01,
                                       "lower": 1e-5, "upper": 2, "ascent_steps": 5, "step_size": 0.25, "restarts": 1,
                                       "delta": 0.1]
            if magnitudeAware { d["epsilon"] = 1e-3 }
            return d
        }

        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let sample = subjects[0].sample, evaluator = Evaluator()
            let layout = ParameterLayout(subjects[0].model.parameters)
            let quantity = Deviation(onError: settings["on_error"] != 0)
            let base = try evaluator.lossAndAccuracy(subjects.map(\.model), on: sample).map(quantity.value)
            let w = subjects.map { layout.flatten($0.model.parameters) }
            let epsilon = magnitudeAware ? settings["epsilon"] : 0
            let restarts = try positive(settings, "restarts")
            let box = BoxAscent(
                slopes: w.map { v in magnitudeAware ? v.map(abs) : [Double](repeating: 1, count: v.count) },
                offsets: epsilon,
                starts: subjects.map { s in
                    (0..<restarts).map { r in settings.key(name, s).derived(r).uniform(count: layout.count).map { 2 * Double($0) - 1 } }
                },
                steps: try nonNegative(settings, "ascent_steps"), stepSize: settings["step_size"])
            func networks(_ points: [(problem: Int, u: [Double])]) -> [any Module] {
                points.map { p, u in subjects[p].model.with(parameters: layout.tensors(zip(w[p], u).map { $0 + $1 })) }
            }
            let alphas = try FlatnessMeasures.largestBoxes(
                box, range: try searchRange(settings), steps: try positive(settings, "search_steps"),
                target: settings["target_deviation"], tolerance: settings["tolerance"],
                gradients: { points in
                    try FlatnessMeasures.chunked(points, scalars: layout.count) { part in
                        try evaluator.lossAndGradient(networks(part), on: sample).map { layout.flatten($0.gradient) }
                    }
                },
                deviations: { points in
                    try FlatnessMeasures.chunked(points, scalars: layout.count) { part in
                        try zip(part, evaluator.lossAndAccuracy(networks(part), on: sample)).map { point, result in
                            abs(quantity.value(result) - base[point.problem])
                        }
                    }
                })
            let omega = Double(layout.count), delta = settings["delta"]
            return subjects.indices.map { k in
                let a = alphas[k], m = Double(sample.count)
                let w0 = layout.flatten(subjects[k].initial.parameters)
                var out: [String: Double] = ["": 1 / (a * a), "alpha": a]
                let tail = log(m / delta) + 10
                if magnitudeAware {
                    let scale = a * a + 4 * log(2 * omega / delta)
                    out["init"] = magnitudeBound(w[k], w0, reference: zip(w[k], w0).map { $0 - $1 }, scale: scale,
                                                 alpha: a, epsilon: epsilon) + tail
                    out["orig"] = magnitudeBound(w[k], w0, reference: w[k], scale: scale, alpha: a, epsilon: epsilon) + tail
                } else {
                    out["init"] = squaredDistance(w[k], w0) * log(2 * omega) / (4 * a * a) + tail
                    out["orig"] = squaredNorm(w[k]) * log(2 * omega) / (4 * a * a) + tail
                }
                return out
            }
        }
    }

    // MARK: - Relative flatness

    /// Relative flatness of the last layer (Petzka et al. 2021, "Relative Flatness and
    /// Generalization", its trace form κ_Tr), for a network whose output
    /// is a linear layer z = Wφ(x) + b on features φ(x) ∈ ℝᴰ, W ∈ ℝ^{C×D} with rows w_s:
    ///
    ///     κ = Σ_{s,s′} ⟨w_s, w_s′⟩ · Tr(H_{s,s′}),   H_{s,s′} = ∂²L / ∂w_s ∂w_s′ ∈ ℝ^{D×D}
    ///
    /// L the mean cross-entropy on the sample. For softmax cross-entropy the blocks are exact in
    /// closed form: ∂²L/∂W_{sk}∂W_{s′k′} = (1/m) Σ_n A_n[s,s′] φ_nk φ_nk′, with A_n = diag(p_n) − p_n p_nᵀ
    /// the softmax Jacobian, so Tr(H_{s,s′}) = (1/m) Σ_n A_n[s,s′] ‖φ_n‖² and, with G = WWᵀ,
    ///
    ///     κ = (1/m) Σ_n ‖φ_n‖² (Σ_s G_ss p_ns − p_nᵀ G p_n)
    ///
    /// computed in double precision from one pass of the network without its last layer. Petzka
    /// et al.'s own code also rescales features by their standard deviation in some experiments;
    /// this is the plain definition. Throws ``MeasureError`` for a model that does not end in a
    /// linear layer (nin ends in global pooling).
    ///
    /// - Complexity: one forward pass of the sample and O(m·C·(C + D)) in double precision:
    ///   0.15 s per zoo-cnn checkpoint with 5,000 rows.
    struct RelativeFlatness: Measure {
        let name = "relative_flatness", version = 1, family = MeasureFamily.flatness
        let summary = "relative flatness Σ⟨w_s,w_s′⟩Tr(H_s,s′) of the last linear layer (Petzka et al. 2021)"

        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let split = try subjects.map { s -> (features: any Module, last: Linear) in
                guard let parts = splitLastLinear(s.model) else {
                    throw MeasureError(description: "relative_flatness: the model of run \(s.runID) does not end in a linear layer; "
                        + "the measure needs logits z = Wφ(x) + b (mlp, zoo-cnn, lenet5, cnn1d, resnet20 do; nin does not)")
                }
                return parts
            }
            let sample = subjects[0].sample
            let features = try Evaluator().logits(split.map(\.features), inputs: sample.inputs)
            return try zip(split, features).map { parts, phi in
                guard phi.rank == 2, phi.shape[1] == parts.last.inputSize else {
                    throw MeasureError(description: "relative_flatness: the features before the last layer have shape \(phi.shape), "
                        + "expected [rows, \(parts.last.inputSize)]")
                }
                return ["": relativeFlatness(features: phi, weight: parts.last.weight, bias: parts.last.bias)]
            }
        }
    }
}

// MARK: - Searches

extension FlatnessMeasures {
    /// Jiang et al.'s bisection, for many problems at once and on a logarithmic scale: for each
    /// problem the scale s ∈ `range` whose deviation d(s) meets `target`, assuming d grows with s.
    /// Each step calls `deviations` once with every unfinished problem and its midpoint √(low·high);
    /// a problem finishes when |d − target| < `tolerance`. The result is each problem's last
    /// midpoint (so strictly inside `range`).
    static func largestScales(count: Int, range: ClosedRange<Double>, steps: Int, target: Double, tolerance: Double,
                              deviations: ([(problem: Int, scale: Double)]) throws -> [Double]) rethrows -> [Double] {
        var low = [Double](repeating: range.lowerBound, count: count), high = [Double](repeating: range.upperBound, count: count)
        var result = [Double](repeating: (range.lowerBound * range.upperBound).squareRoot(), count: count)
        var active = Array(0..<count)
        for _ in 0..<steps where !active.isEmpty {
            let batch = active.map { (problem: $0, scale: (low[$0] * high[$0]).squareRoot()) }
            let d = try deviations(batch)
            active = []
            for (b, item) in batch.enumerated() {
                result[item.problem] = item.scale
                if abs(d[b] - target) < tolerance { continue }
                if d[b] > target { high[item.problem] = item.scale } else { low[item.problem] = item.scale }
                active.append(item.problem)
            }
        }
        return result
    }

    /// Boxes |u_i| ≤ α·slopes[p][i] + offsets around each problem's weights and the projected
    /// ascent that looks for the worst point in them.
    struct BoxAscent {
        /// Per problem, the half-width of the box per unit α (1, or |w_i|).
        var slopes: [[Double]]
        /// Added to every half-width (ε), independent of α.
        var offsets: Double
        /// Per problem and restart, a point of [−1, 1]^ω: the start is a tenth of it, in box units.
        var starts: [[[Double]]]
        var steps: Int
        /// Each step moves a coordinate by this fraction of its half-width.
        var stepSize: Double

        /// The end points of the ascents at scale `alpha` for each (problem, restart), problem-major.
        func ascend(_ batch: [(problem: Int, scale: Double)],
                    gradients: ([(problem: Int, u: [Double])]) throws -> [[Double]]) rethrows -> [(problem: Int, u: [Double])] {
            let widths = batch.map { p, alpha in slopes[p].map { alpha * $0 + offsets } }
            var points: [(problem: Int, u: [Double])] = []
            var owner: [Int] = []
            for (b, item) in batch.enumerated() {
                for start in starts[item.problem] {
                    points.append((item.problem, zip(start, widths[b]).map { 0.1 * $0 * $1 }))
                    owner.append(b)
                }
            }
            for _ in 0..<steps {
                let g = try gradients(points)
                for i in points.indices {
                    let h = widths[owner[i]]
                    for j in points[i].u.indices where g[i][j] != 0 {
                        let moved = points[i].u[j] + (g[i][j] > 0 ? 1 : -1) * stepSize * h[j]
                        points[i].u[j] = min(h[j], max(-h[j], moved))
                    }
                }
            }
            return points
        }
    }

    /// The largest box scale α per problem whose worst deviation (the largest over restarts of
    /// `deviations` at the ascents' end points) meets `target`: ``largestScales`` over ``BoxAscent``.
    static func largestBoxes(_ box: BoxAscent, range: ClosedRange<Double>, steps: Int, target: Double, tolerance: Double,
                             gradients: ([(problem: Int, u: [Double])]) throws -> [[Double]],
                             deviations: ([(problem: Int, u: [Double])]) throws -> [Double]) rethrows -> [Double] {
        try largestScales(count: box.slopes.count, range: range, steps: steps, target: target, tolerance: tolerance) { batch in
            let ends = try box.ascend(batch, gradients: gradients)
            let d = try deviations(ends)
            var worst = [Double](repeating: -.infinity, count: batch.count)
            var b = 0
            for (i, end) in ends.enumerated() {
                if i > 0 && end.problem != ends[i - 1].problem { b += 1 }
                worst[b] = max(worst[b], d[i])
            }
            return worst
        }
    }

    /// `body` over consecutive parts of `items`, each part at most ``scalarsPerCall`` parameters
    /// (and at least one item), results concatenated in order.
    static func chunked<T, R>(_ items: [T], scalars: Int, _ body: ([T]) throws -> [R]) rethrows -> [R] {
        let size = max(1, scalarsPerCall / max(1, scalars))
        var out: [R] = []
        out.reserveCapacity(items.count)
        for start in stride(from: 0, to: items.count, by: size) {
            out += try body(Array(items[start ..< min(items.count, start + size)]))
        }
        return out
    }
}

// MARK: - Helpers

extension FlatnessMeasures {
    /// The training quantity whose deviation the searches bound: the 0-1 error or the cross-entropy.
    struct Deviation: Sendable {
        var onError: Bool
        func value(_ result: (loss: Double, accuracy: Double)) -> Double { onError ? 1 - result.accuracy : result.loss }
    }

    /// All parameters of a network as one vector in double precision, in the order of its names, and back.
    struct ParameterLayout: Sendable {
        let template: NamedTensors
        let count: Int

        init(_ template: NamedTensors) {
            self.template = template
            count = template.elementCount
        }

        func flatten(_ parameters: NamedTensors) -> [Double] {
            var out: [Double] = []
            out.reserveCapacity(count)
            for name in template.names { out += parameters[name]!.scalars.map(Double.init) }
            return out
        }

        func tensors(_ vector: [Double]) -> NamedTensors {
            precondition(vector.count == count, "ParameterLayout: \(vector.count) values for \(count) parameters")
            var out = template, offset = 0
            for (name, t) in template {
                out[name] = Tensor(shape: t.shape, scalars: vector[offset ..< offset + t.count].map(Float.init))
                offset += t.count
            }
            return out
        }
    }

    /// ¼ Σ_i log[(ε² + scale·‖reference‖²/ω) / (ε² + α²(w_i − w⁰_i)²)]: Jiang's magnitude-aware bound terms.
    static func magnitudeBound(_ w: [Double], _ w0: [Double], reference: [Double], scale: Double, alpha: Double, epsilon: Double) -> Double {
        let e2 = epsilon * epsilon
        let numerator = e2 + scale * squaredNorm(reference) / Double(w.count)
        var sum = 0.0
        for i in w.indices {
            let d = w[i] - w0[i]
            sum += log(numerator / (e2 + alpha * alpha * d * d))
        }
        return sum / 4
    }

    static func squaredNorm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 } }

    static func squaredDistance(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } }

    /// The search range [`lower`, `upper`] of the settings, 0 < lower < upper.
    static func searchRange(_ settings: MeasureSettings) throws -> ClosedRange<Double> {
        let lower = settings["lower"], upper = settings["upper"]
        guard lower > 0, upper > lower, upper.isFinite else {
            throw MeasureError(description: "settings 'lower' and 'upper' must satisfy 0 < lower < upper, got lower \(lower), upper \(upper)")
        }
        return lower...upper
    }

    /// A setting that must be a whole number ≥ 1.
    static func positive(_ settings: MeasureSettings, _ key: String) throws -> Int {
        let v = settings[key]
        guard v >= 1, v <= 1_000_000, v == v.rounded() else {
            throw MeasureError(description: "setting '\(key)' must be a whole number from 1 to 1,000,000, got \(v)")
        }
        return Int(v)
    }

    /// A setting that must be a whole number ≥ 0.
    static func nonNegative(_ settings: MeasureSettings, _ key: String) throws -> Int {
        let v = settings[key]
        guard v >= 0, v <= 1_000_000, v == v.rounded() else {
            throw MeasureError(description: "setting '\(key)' must be a whole number from 0 to 1,000,000, got \(v)")
        }
        return Int(v)
    }

    /// The network without its last linear layer, and that layer: the last leaf of nested
    /// ``Sequential``s when it is a ``Linear``; nil otherwise.
    static func splitLastLinear(_ model: any Module) -> (features: any Module, last: Linear)? {
        guard var sequential = model as? Sequential, let tail = sequential.children.last else { return nil }
        if let linear = tail.module as? Linear {
            sequential.children.removeLast()
            return (sequential, linear)
        }
        guard let inner = splitLastLinear(tail.module) else { return nil }
        sequential.children[sequential.children.count - 1].module = inner.features
        return (sequential, inner.last)
    }

    /// κ = (1/m) Σ_n ‖φ_n‖² (Σ_s G_ss p_ns − p_nᵀ G p_n), G = WWᵀ, p_n = softmax(Wφ_n + b): the relative
    /// flatness of ``FlatnessMeasures/RelativeFlatness`` from features `[m, D]`, weight `[C, D]`.
    /// (The cross-entropy's Hessian in the logits does not depend on the labels.)
    static func relativeFlatness(features: Tensor, weight: Tensor, bias: Tensor?) -> Double {
        let n = features.shape[0], d = features.shape[1], c = weight.shape[0]
        let phi = features.scalars.map(Double.init), wt = weight.scalars.map(Double.init)
        let b = bias.map { $0.scalars.map(Double.init) } ?? [Double](repeating: 0, count: c)
        var gram = [Double](repeating: 0, count: c * c)
        for s in 0..<c {
            for t in 0..<c {
                var dot = 0.0
                for k in 0..<d { dot += wt[s * d + k] * wt[t * d + k] }
                gram[s * c + t] = dot
            }
        }
        var total = 0.0
        var z = [Double](repeating: 0, count: c)
        for r in 0..<n {
            var norm2 = 0.0
            for k in 0..<d { norm2 += phi[r * d + k] * phi[r * d + k] }
            for s in 0..<c {
                var v = b[s]
                for k in 0..<d { v += wt[s * d + k] * phi[r * d + k] }
                z[s] = v
            }
            let top = z.max()!
            let e = z.map { exp($0 - top) }, sum = e.reduce(0, +)
            let p = e.map { $0 / sum }
            var diagonal = 0.0, quadratic = 0.0
            for s in 0..<c {
                diagonal += gram[s * c + s] * p[s]
                for t in 0..<c { quadratic += p[s] * gram[s * c + t] * p[t] }
            }
            total += norm2 * (diagonal - quadratic)
        }
        return total / Double(max(1, n))
    }
}
