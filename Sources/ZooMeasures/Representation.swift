import Foundation
import ZooData
import ZooNN
import ZooTensor

/// Measures of what a network represents: how its tangent features align with the labels, how
/// critical each of its layers is, how well its penultimate features cluster by class, and how
/// it classifies points between two examples of one class.
enum RepresentationMeasures {
    static let all: [any Measure] = [NTKAlignment(), ModuleCriticality(), DaviesBouldin(), MixupAccuracy()]

    // MARK: - Tangent kernel alignment

    /// The alignment of the empirical neural tangent kernel with the labels (Baratin et al. 2021,
    /// "Implicit Regularization via Neural Feature Alignment", AISTATS; their code's `alignment`):
    ///
    ///     A = yᵀ K y / (‖K‖_F ‖y‖²) = ⟨K, yyᵀ⟩_F / (‖K‖_F ‖yyᵀ‖_F),
    ///
    /// over the first n = `examples` (default 200) rows of the sample. K is the (C·n)×(C·n)
    /// kernel of the logits, K[(c,i),(c′,j)] = ⟨∂f_c(x_i)/∂θ, ∂f_{c′}(x_j)/∂θ⟩, with each class's
    /// tangent features centred over the examples (the paper's `centering`); y stacks the
    /// one-hot labels centred over the examples, class by class.
    ///
    /// The kernel is over every parameter when the model has at most `max_parameters` (default
    /// 10,000: the zoo CNNs and small MLPs) and the tangent features C·n·P fit in
    /// ``jacobianBudget`` floats; otherwise over the parameters of the final linear
    /// layer alone, where it is I_C ⊗ H Hᵀ for the centred penultimate features H (the bias's
    /// centred features vanish). Values: `""` the alignment, `last_layer` always the last-layer
    /// alignment, `parameters` how many parameters `""`'s kernel covers.
    /// - Complexity: C backward passes over n rows, then a Gram product of
    ///   2·min(C·n, P)²·max(C·n, P) flops (24 GFLOP for a zoo CNN at n = 200), and C·n·P floats.
    struct NTKAlignment: Measure {
        let name = "ntk_alignment", version = 1, family = MeasureFamily.representation
        let summary = "alignment ⟨K, yyᵀ⟩/(‖K‖‖yyᵀ‖) of the empirical tangent kernel with the centred labels (Baratin et al. 2021)"
        var defaults: [String: Double] { ["examples": 200, "max_parameters": 10_000] }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try subjects.map { s in
                let data = try RepresentationMeasures.firstRows(s.sample, Int(settings["examples"]), measure: name, subject: s)
                let targets = centredOneHot(data)
                let extractor = try FeatureExtractor(s.model, modelName: s.config.model.name)
                let head = try extractor.requireHead()
                guard head.isFinal else {
                    throw MeasureError(description: "\(name): the logits of model '\(s.config.model.name)' are not a linear map of its "
                        + "penultimate features (layers follow '\(extractor.leaves[head.leaf].name)')")
                }
                let features = try extractor.penultimate(data.inputs)
                guard features.shape[1] == head.weight.shape[1] else {
                    throw MeasureError(description: "\(name): the final linear layer of model '\(s.config.model.name)' is applied to "
                        + "\(features.shape[1]) features per example, not to a vector of \(head.weight.shape[1])")
                }
                let last = lastLayerAlignment(features, targets: targets)
                let p = s.model.parameterCount
                if p <= Int(settings["max_parameters"]) && data.classCount * data.count * p <= jacobianBudget {
                    let tangents = try tangentFeatures(s.model, inputs: data.inputs, classes: data.classCount)
                    let full = RepresentationMeasures.alignment(jacobian: tangents, targets: targets)
                    return ["": full, "last_layer": last, "parameters": Double(p)]
                }
                let covered = head.parameterNames.reduce(0) { $0 + (s.model.parameters[$1]?.count ?? 0) }
                return ["": last, "last_layer": last, "parameters": Double(covered)]
            }
        }
    }

    /// The most tangent-feature floats (C·n·P) the full kernel may take: 50 M, 200 MB (twice
    /// that while the kernel is formed); beyond it the last-layer kernel is used.
    static let jacobianBudget = 50_000_000

    /// The first `count` rows of `sample` (all when it is smaller).
    static func firstRows(_ sample: LabeledData, _ count: Int, measure: String, subject: Subject) throws -> LabeledData {
        guard sample.count > 0 else { throw MeasureError(description: "\(measure): the sample of run \(subject.runID) is empty") }
        return count >= sample.count ? sample : sample.selecting(Array(0..<max(1, count)))
    }

    /// One-hot labels `[C][n]` centred over the examples.
    static func centredOneHot(_ data: LabeledData) -> [[Double]] {
        let n = data.count
        return (0..<data.classCount).map { c in
            let share = Double(data.labels.reduce(0) { $0 + ($1 == c ? 1 : 0) }) / Double(n)
            return data.labels.map { ($0 == c ? 1 : 0) - share }
        }
    }

    /// The tangent features of the logits: for each class c, the `[n, P]` matrix (row-major) of
    /// ∂f_c(x_i)/∂θ over all parameters in name order. A model that stacks is run as a
    /// population of copies of itself, one example per member, so that one backward pass per
    /// class gives every example's gradient; one that does not (batch norm) runs an example at a time.
    static func tangentFeatures(_ model: any Module, inputs: Tensor, classes: Int) throws -> [[Float]] {
        let n = inputs.shape[0], p = model.parameterCount
        let chunk = (try? Population.signature(of: model)) != nil ? min(n, 32) : 1
        var features = [[Float]](repeating: [Float](repeating: 0, count: n * p), count: classes)
        for start in stride(from: 0, to: n, by: chunk) {
            let count = min(chunk, n - start)
            var population = try Population(Array(repeating: model, count: count))
            let tracked = population.parameters.detached().requiringGradient()
            population.parameters = tracked
            let logits = population(inputs.sliced(axis: 0, start ..< start + count), contexts: Array(repeating: .inference, count: count))
            for c in 0..<classes {
                var seed = [Float](repeating: 0, count: count * classes)
                for k in 0..<count { seed[k * classes + c] = 1 }
                let g = gradients(of: logits, wrt: tracked.tensors, seed: Tensor(shape: [count, classes], scalars: seed))
                var offset = 0
                for t in g {
                    let size = t.count / count, s = t.scalars
                    features[c].withUnsafeMutableBufferPointer { out in
                        for k in 0..<count {
                            let row = (start + k) * p + offset
                            for q in 0..<size { out[row + q] = s[k * size + q] }
                        }
                    }
                    offset += size
                }
            }
        }
        return features
    }

    /// yᵀKy / (‖K‖_F ‖y‖²) for K = J Jᵀ of the tangent features J (each class's `[n, P]`,
    /// centred here over the examples) and the centred targets y `[C][n]`.
    static func alignment(jacobian: [[Float]], targets: [[Double]]) -> Double {
        let classes = targets.count, n = targets[0].count, p = jacobian[0].count / max(1, n)
        var all = [Float]()
        all.reserveCapacity(classes * n * p)
        var projected = [Double](repeating: 0, count: p)  // Jᵀy
        for c in 0..<classes {
            var block = jacobian[c]
            for q in 0..<p {
                var mean = 0.0
                for i in 0..<n { mean += Double(block[i * p + q]) }
                mean /= Double(n)
                for i in 0..<n { block[i * p + q] -= Float(mean) }
            }
            for i in 0..<n where targets[c][i] != 0 {
                for q in 0..<p { projected[q] += targets[c][i] * Double(block[i * p + q]) }
            }
            all += block
        }
        let j = Tensor(shape: [classes * n, p], scalars: all)
        let gram = p < classes * n ? matmulTransposingA(j, j) : matmulTransposingB(j, j)
        let kernelNorm = gram.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let numerator = projected.reduce(0.0) { $0 + $1 * $1 }
        let targetNorm = targets.reduce(0.0) { $0 + $1.reduce(0.0) { $0 + $1 * $1 } }
        return numerator / (kernelNorm * targetNorm)
    }

    /// The alignment of the last linear layer's tangent kernel I_C ⊗ H Hᵀ (H the penultimate
    /// features `[n, D]` centred over the examples) with the centred targets `[C][n]`:
    /// Σ_c ‖Hᵀy_c‖² / (√C ‖HHᵀ‖_F ‖y‖²).
    static func lastLayerAlignment(_ features: Tensor, targets: [[Double]]) -> Double {
        let h = centredColumns(features)
        let n = h.shape[0], d = h.shape[1], s = h.scalars
        var numerator = 0.0
        for y in targets {
            var v = [Double](repeating: 0, count: d)
            for i in 0..<n where y[i] != 0 { for q in 0..<d { v[q] += y[i] * Double(s[i * d + q]) } }
            numerator += v.reduce(0.0) { $0 + $1 * $1 }
        }
        let gram = d < n ? matmulTransposingA(h, h) : matmulTransposingB(h, h)
        let gramNorm = gram.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let targetNorm = targets.reduce(0.0) { $0 + $1.reduce(0.0) { $0 + $1 * $1 } }
        return numerator / (Double(targets.count).squareRoot() * gramNorm * targetNorm)
    }

    // MARK: - Module criticality

    /// Module criticality (Chatterji, Neyshabur & Sedghi 2020, "The intriguing role of module
    /// criticality in the generalization of deep networks", ICLR, Definition 3.1): for module i
    /// (each layer with a weight matrix or kernel, weight and bias together), with the other
    /// modules at their trained values,
    ///
    ///     μ_i = min over α, σ ∈ [0, 1] of α² ‖θ_i − θ_i⁰‖²_F / σ²
    ///           subject to E_{u∼N(0, σ²I)} err(θ_i(α) + u) ≤ ε,   θ_i(α) = (1 − α) θ_i⁰ + α θ_i,
    ///
    /// err the 0–1 error on the first `examples` (default 500) rows of the sample, ε =
    /// `threshold` (default 0.1), θ⁰ the initialization rebuilt from the run's seed. `""` is the
    /// most critical module's μ_i, `sum` the network criticality Σ_i μ_i, and each module's μ_i
    /// is stored under its name. +∞ when no (α, σ) keeps the error within ε (a network whose
    /// own train error exceeds ε).
    ///
    /// The search: α on a grid of `alphas` (default 11) points 0, 1/10, …, 1; for each α the
    /// largest feasible σ in [`sigma_min`, `sigma_max`] (default 10⁻⁴, 1) by bisection in log σ
    /// (`steps`, default 5 rounds after both ends), the expectation over u estimated with
    /// `draws` (default 2) Gaussian draws shared by every α and σ (common random numbers, so the
    /// error is a smooth function of σ). α = 0 feasible means μ_i = 0. α = 1 is searched first;
    /// each smaller α is then first tried at its break-even σ (where α²‖·‖²/σ² equals the best
    /// value so far) and dropped when infeasible there, as the bisection assumes the error grows
    /// with σ; any candidate whose best possible value α²‖·‖²/σ_hi² cannot beat a value found is
    /// dropped too. Every round evaluates all candidates of all subjects and modules as one
    /// stacked population.
    /// - Complexity: modules × draws × (2 + steps) forward passes over `examples` rows for α = 1,
    ///   modules × draws × (alphas − 1) for the break-even tries, and 1 + steps more per α that beats α = 1.
    struct ModuleCriticality: Measure {
        let name = "module_criticality", version = 1, family = MeasureFamily.representation
        let summary = "largest module criticality: min α²‖θ−θ⁰‖²/σ² keeping train error ≤ ε (Chatterji et al. 2020)"
        var defaults: [String: Double] {
            ["threshold": 0.1, "examples": 500, "alphas": 11, "draws": 2, "steps": 5, "sigma_min": 1e-4, "sigma_max": 1]
        }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let data = try RepresentationMeasures.firstRows(subjects[0].sample, Int(settings["examples"]), measure: name, subject: subjects[0])
            let alphaCount = max(2, Int(settings["alphas"]))
            let search = CriticalitySearch(alphas: (0..<alphaCount).map { Double($0) / Double(alphaCount - 1) },
                                           sigmaRange: (settings["sigma_min"], settings["sigma_max"]), steps: Int(settings["steps"]))
            let draws = max(1, Int(settings["draws"])), threshold = settings["threshold"]
            let modules = subjects.map { criticalityModules(of: $0.model) }
            guard !modules[0].isEmpty else {
                throw MeasureError(description: "\(name): model '\(subjects[0].config.model.name)' has no layer with a weight matrix or kernel")
            }
            // (subject, module) problems, their distances and noise.
            var problems: [(subject: Int, module: Int)] = []
            for (s, m) in modules.enumerated() { for i in m.indices { problems.append((s, i)) } }
            let distances = problems.map { pr -> Double in
                let s = subjects[pr.subject]
                return modules[pr.subject][pr.module].names.reduce(0.0) { sum, n in
                    zip(s.model.parameters[n]!.scalars, s.initial.parameters[n]!.scalars).reduce(sum) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
                }
            }
            let noise: [[NamedTensors]] = problems.map { pr in
                let s = subjects[pr.subject], key = settings.key(name, s).derived(modules[pr.subject][pr.module].name)
                return (0..<draws).map { d in
                    NamedTensors(modules[pr.subject][pr.module].names.map { n in
                        let t = s.model.parameters[n]!
                        return (n, Tensor.randomNormal(t.shape, key: key.derived(d).derived(n)))
                    })
                }
            }
            let evaluator = Evaluator()
            let results = try search.run(problems: problems.count, distances: distances) { queries in
                var copies: [any Module] = []
                for q in queries {
                    let pr = problems[q.problem], s = subjects[pr.subject]
                    let trained = s.model.parameters, initial = s.initial.parameters
                    for d in 0..<draws {
                        var p = trained
                        for n in modules[pr.subject][pr.module].names {
                            p[n] = initial[n]! * Float(1 - q.alpha) + trained[n]! * Float(q.alpha) + noise[q.problem][d][n]! * Float(q.sigma)
                        }
                        copies.append(s.model.with(parameters: p))
                    }
                }
                let accuracy = try evaluator.lossAndAccuracy(copies, on: data).map(\.accuracy)
                return queries.indices.map { k in
                    (0..<draws).reduce(0.0) { $0 + (1 - accuracy[k * draws + $1]) } / Double(draws) <= threshold + 1e-12
                }
            }
            return subjects.indices.map { s in
                var out: [String: Double] = [:]
                var sum = 0.0, most = 0.0
                for (k, pr) in problems.enumerated() where pr.subject == s {
                    out[modules[s][pr.module].name] = results[k]
                    sum += results[k]
                    most = max(most, results[k])
                }
                out[""] = most
                out["sum"] = sum
                return out
            }
        }
    }

    /// The modules of module criticality: parameters grouped by their layer (the name up to the
    /// last dot), keeping layers with a weight of rank ≥ 2 (linear and convolutional layers;
    /// batch norm's scale and shift stay at their trained values).
    static func criticalityModules(of model: any Module) -> [(name: String, names: [String])] {
        var order: [String] = [], groups: [String: [String]] = [:], weighted: Set<String> = []
        for (n, t) in model.parameters {
            let layer = n.split(separator: ".").dropLast().joined(separator: ".")
            if groups[layer] == nil { order.append(layer) }
            groups[layer, default: []].append(n)
            if t.rank >= 2 { weighted.insert(layer) }
        }
        return order.filter(weighted.contains).map { ($0, groups[$0]!) }
    }

    /// The (α, σ) search of module criticality for many (subject, module) problems at once: for
    /// each problem and each α of the grid, the largest σ in `sigmaRange` whose error condition
    /// holds, by bisection in log σ after testing both ends; the problem's value is the least
    /// α²D²/σ² over the feasible candidates (0 for a feasible α = 0), +∞ when none is feasible.
    /// Each round asks `feasible` about every open candidate of every problem at once.
    struct CriticalitySearch {
        var alphas: [Double]
        var sigmaRange: (Double, Double)
        var steps: Int

        struct Query {
            var problem: Int
            var alpha: Double
            var sigma: Double
        }

        private struct Candidate {
            var problem: Int
            var alpha: Double
            /// The largest σ known feasible (0: none), and the smallest known infeasible.
            var lo: Double, hi: Double
            var open: Bool
        }

        /// - Parameters:
        ///   - distances: ‖θ_i − θ_i⁰‖²_F of each problem.
        ///   - feasible: whether each query's error condition holds.
        func run(problems: Int, distances: [Double], feasible: ([Query]) throws -> [Bool]) rethrows -> [Double] {
            let (low, high) = (max(sigmaRange.0, .leastNormalMagnitude), max(sigmaRange.0, sigmaRange.1))
            var best = [Double](repeating: .infinity, count: problems)
            func value(_ c: Candidate, _ sigma: Double) -> Double { c.alpha == 0 ? 0 : c.alpha * c.alpha * distances[c.problem] / (sigma * sigma) }
            // First the largest α (the trained module under noise): its value bounds the rest.
            let top = alphas.max() ?? 1
            for phase in [alphas.filter { $0 == top }, alphas.filter { $0 != top }] {
                var candidates = (0..<problems).flatMap { p in phase.map { Candidate(problem: p, alpha: $0, lo: 0, hi: high, open: true) } }
                candidates.removeAll { value($0, high) >= best[$0.problem] }
                if candidates.isEmpty { continue }
                func ask(_ indices: [Int], _ sigmas: [Double]) throws -> [Bool] {
                    try feasible(zip(indices, sigmas).map { Query(problem: candidates[$0].problem, alpha: candidates[$0].alpha, sigma: $1) })
                }
                func prune() {
                    for c in candidates where c.lo > 0 { best[c.problem] = min(best[c.problem], value(c, c.lo)) }
                    for i in candidates.indices where candidates[i].open && value(candidates[i], candidates[i].hi) >= best[candidates[i].problem] {
                        candidates[i].open = false
                    }
                }
                // The break-even σ, below which a candidate cannot beat the best value found (σ_min
                // when there is none): infeasible there, it is done.
                let all = Array(candidates.indices)
                let probes = all.map { i -> Double in
                    let c = candidates[i], d = distances[c.problem]
                    guard c.alpha > 0, d > 0, best[c.problem].isFinite else { return low }
                    return min(high, max(low, c.alpha * (d / best[c.problem]).squareRoot()))
                }
                for (i, ok) in zip(all, try ask(all, probes)) {
                    if ok { candidates[i].lo = probes[i] } else { candidates[i].open = false }
                    if probes[i] == high { candidates[i].open = false }
                }
                prune()
                // Feasible at σ_max: done at the top.
                let unknownTop = candidates.indices.filter { candidates[$0].open }
                for (i, ok) in zip(unknownTop, try ask(unknownTop, unknownTop.map { _ in high })) {
                    if ok { candidates[i].lo = high; candidates[i].open = false }
                }
                prune()
                for _ in 0..<max(0, steps) {
                    let open = candidates.indices.filter { candidates[$0].open }
                    if open.isEmpty { break }
                    let mids = open.map { (candidates[$0].lo * candidates[$0].hi).squareRoot() }
                    for (k, ok) in try ask(open, mids).enumerated() {
                        if ok { candidates[open[k]].lo = mids[k] } else { candidates[open[k]].hi = mids[k] }
                    }
                    prune()
                }
            }
            return best
        }
    }

    // MARK: - Clustering of the penultimate features

    /// The Davies–Bouldin index (Davies & Bouldin 1979) of the penultimate-layer representations
    /// of the sample grouped by their true label: with centroid c_k of class k, s_k the mean
    /// Euclidean distance of its points to c_k, and R_kl = (s_k + s_l)/‖c_k − c_l‖,
    /// DB = (1/K) Σ_k max_{l≠k} R_kl (scikit-learn's `davies_bouldin_score`). Lower is better
    /// separated. A PGDL 2020 winner's measure (Natekar & Sharma 2020, "Representation Based
    /// Complexity Measures for Predicting Generalization in Deep Learning"), who computed it on
    /// the max-pooled first-layer features of augmented batches; here, as issue 12 asks, on the
    /// penultimate features (the input of the final linear map) of the whole sample.
    /// - Throws: ``MeasureError`` when the sample has fewer than two classes, or the model no final linear map.
    struct DaviesBouldin: Measure {
        let name = "davies_bouldin", version = 1, family = MeasureFamily.representation
        let summary = "Davies–Bouldin index of the penultimate features grouped by label (Natekar & Sharma 2020, PGDL winner)"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let sample = subjects[0].sample
            guard Set(sample.labels).count >= 2 else {
                throw MeasureError(description: "\(name): the sample holds \(Set(sample.labels).count) class(es); the index needs at least two")
            }
            return try subjects.map { s in
                let features = try FeatureExtractor(s.model, modelName: s.config.model.name).penultimate(sample.inputs)
                return ["": daviesBouldinIndex(features, labels: sample.labels)]
            }
        }
    }

    // MARK: - Mixup

    /// Label-wise mixup accuracy (Natekar & Sharma 2020, the "mixup" measure of their PGDL entry):
    /// the accuracy on points λ·x_i + (1 − λ)·x_j mixed from two examples of the same class,
    /// labelled with that class. Each class's examples, in sample order, are cut into groups of
    /// `group` (default 10) and every pair i < j within a group is mixed, for the first `groups`
    /// (default 10) groups of each class — their batches of ten per class, all pairs, ten batches;
    /// λ = `lambda` (default 0.5). `""` is the mean over classes of the accuracy on the class's
    /// mixed points; `loss` the mean over classes of their cross-entropy (the variant their
    /// final submission used).
    struct MixupAccuracy: Measure {
        let name = "mixup_accuracy", version = 1, family = MeasureFamily.representation
        let summary = "accuracy on mixups λx_i + (1−λ)x_j of same-class pairs (Natekar & Sharma 2020, PGDL)"
        var defaults: [String: Double] { ["lambda": 0.5, "group": 10, "groups": 10] }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let mixed = mixupPoints(subjects[0].sample, lambda: settings["lambda"], group: Int(settings["group"]), groups: Int(settings["groups"]))
            guard mixed.count > 0 else {
                throw MeasureError(description: "\(name): no class of the sample has two examples to mix")
            }
            return try Evaluator().logits(subjects.map(\.model), inputs: mixed.inputs).map { logits in
                let hits = zip(argmaxRows(logits), mixed.labels).map { $0 == $1 ? 1.0 : 0.0 }
                let losses = crossEntropyRows(logits, mixed.labels)
                return ["": classMean(hits, mixed.labels), "loss": classMean(losses, mixed.labels)]
            }
        }

        /// The mean over the classes present of the mean of `values` within each class.
        private func classMean(_ values: [Double], _ labels: [Int]) -> Double {
            var sums: [Int: (Double, Int)] = [:]
            for (v, l) in zip(values, labels) { sums[l, default: (0, 0)].0 += v; sums[l, default: (0, 0)].1 += 1 }
            return sums.values.reduce(0.0) { $0 + $1.0 / Double($1.1) } / Double(sums.count)
        }
    }

    /// The mixed points of ``MixupAccuracy``, class by class.
    static func mixupPoints(_ sample: LabeledData, lambda: Double, group: Int, groups: Int) -> LabeledData {
        let rowShape = Array(sample.inputs.shape.dropFirst()), size = rowShape.elementCount
        let x = sample.inputs.scalars
        var scalars: [Float] = [], labels: [Int] = []
        let l = Float(lambda)
        for c in 0..<sample.classCount {
            let rows = sample.labels.indices.filter { sample.labels[$0] == c }
            for start in stride(from: 0, to: rows.count, by: max(2, group)).prefix(max(0, groups)) {
                let members = Array(rows[start ..< min(rows.count, start + max(2, group))])
                for a in members.indices { for b in members.indices where b > a {
                    let i = members[a] * size, j = members[b] * size
                    for q in 0..<size { scalars.append(l * x[i + q] + (1 - l) * x[j + q]) }
                    labels.append(c)
                } }
            }
        }
        return LabeledData(inputs: Tensor(shape: [labels.count] + rowShape, scalars: scalars), labels: labels, classCount: sample.classCount)
    }
}

/// The Davies–Bouldin index (Davies & Bouldin 1979) of the rows of `features` `[N, D]` clustered
/// by `labels`, as scikit-learn's `davies_bouldin_score` computes it: s_k the mean Euclidean
/// distance of cluster k's rows to its centroid c_k, R_kl = (s_k + s_l)/‖c_k − c_l‖ (0 for
/// coinciding centroids), and DB = (1/K) Σ_k max_{l≠k} R_kl over the K labels present; 0 when
/// every s_k or every centroid distance is 0; NaN for fewer than two clusters.
public func daviesBouldinIndex(_ features: Tensor, labels: [Int]) -> Double {
    precondition(features.rank == 2 && features.shape[0] == labels.count,
                 "daviesBouldinIndex: features \(features.shape) for \(labels.count) labels")
    let d = features.shape[1], x = features.scalars
    let clusters = Array(Set(labels)).sorted()
    guard clusters.count >= 2 else { return .nan }
    let index = Dictionary(uniqueKeysWithValues: clusters.enumerated().map { ($1, $0) })
    var centroids = [[Double]](repeating: [Double](repeating: 0, count: d), count: clusters.count)
    var counts = [Int](repeating: 0, count: clusters.count)
    for (r, l) in labels.enumerated() {
        let k = index[l]!
        counts[k] += 1
        for q in 0..<d { centroids[k][q] += Double(x[r * d + q]) }
    }
    for k in centroids.indices { for q in 0..<d { centroids[k][q] /= Double(counts[k]) } }
    var spread = [Double](repeating: 0, count: clusters.count)
    for (r, l) in labels.enumerated() {
        let k = index[l]!
        var s = 0.0
        for q in 0..<d { let e = Double(x[r * d + q]) - centroids[k][q]; s += e * e }
        spread[k] += s.squareRoot() / Double(counts[k])
    }
    func distance(_ a: Int, _ b: Int) -> Double {
        zip(centroids[a], centroids[b]).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
    }
    let k = clusters.count
    var allDistancesZero = true
    for a in 0..<k { for b in 0..<k where b != a && distance(a, b) != 0 { allDistancesZero = false } }
    if spread.allSatisfy({ $0 == 0 }) || allDistancesZero { return 0 }
    var total = 0.0
    for a in 0..<k {
        var worst = 0.0
        for b in 0..<k where b != a {
            let dist = distance(a, b)
            worst = max(worst, dist == 0 ? 0 : (spread[a] + spread[b]) / dist)
        }
        total += worst
    }
    return total / Double(k)
}

/// Tensors with each column minus its mean over the rows: `[N, D]`.
func centredColumns(_ x: Tensor) -> Tensor {
    let n = x.shape[0], d = x.shape[1], s = x.scalars
    var mean = [Double](repeating: 0, count: d)
    for i in 0..<n { for q in 0..<d { mean[q] += Double(s[i * d + q]) } }
    var out = s
    for q in 0..<d { mean[q] /= Double(max(1, n)) }
    for i in 0..<n { for q in 0..<d { out[i * d + q] = Float(Double(s[i * d + q]) - mean[q]) } }
    return Tensor(shape: [n, d], scalars: out)
}
