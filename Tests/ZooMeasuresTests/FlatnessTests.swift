import Foundation
import Testing
import ZooData
@testable import ZooMeasures
import ZooNN
import ZooTensor
import ZooTestSupport
import ZooTrain

/// Subjects and references for the flatness tests.
enum FlatnessFixtures {
    static let config = RunConfig(model: ModelSpec(name: "mlp"), data: DataSpec(name: "teacher-student"), training: TrainingConfig())

    static func subject(_ id: String, model: any Module, initial: any Module, sample: LabeledData = Fixtures.data) -> Subject {
        Subject(runID: id, epoch: 1, config: config, model: model, initial: initial, sample: sample)
    }

    /// An mlp subject whose initial network is another seed's (so w ≠ w⁰).
    static func mlpSubject(_ seed: UInt64) throws -> Subject {
        subject("run\(seed)", model: try Fixtures.mlp(seed: seed), initial: try Fixtures.mlp(seed: seed + 100))
    }

    static func settings(_ measure: any Measure, _ overrides: [String: Double]) throws -> MeasureSettings {
        try MeasureSettings(sampleSize: 60).resolved(defaults: measure.defaults, overrides: overrides.filter { measure.defaults[$0.key] != nil },
                                                     measure: measure.name)
    }

    /// Q diag(λ) Qᵀ for a seeded orthogonal Q (Gram–Schmidt of a Gaussian matrix), row-major.
    static func symmetric(eigenvalues: [Double], seed: UInt64) -> [[Double]] {
        let n = eigenvalues.count
        let g = RandomKey(seed: seed).normal(count: n * n).map(Double.init)
        var q: [[Double]] = []
        for i in 0..<n {
            var v = Array(g[i * n ..< (i + 1) * n])
            for u in q { let d = FlatnessMeasures.dot(u, v); v = zip(v, u).map { $0 - d * $1 } }
            q.append(FlatnessMeasures.normalized(v))
        }
        return (0..<n).map { r in (0..<n).map { c in (0..<n).reduce(0.0) { $0 + q[$1][r] * eigenvalues[$1] * q[$1][c] } } }
    }

    /// Products with fixed matrices, `matrices[owner]`.
    static func products(_ matrices: [[[Double]]]) -> FlatnessMeasures.HessianProducts {
        { owners, vectors in zip(owners, vectors).map { p, v in matrices[p].map { FlatnessMeasures.dot($0, v) } } }
    }

    /// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations, in double precision.
    static func jacobiEigenvalues(_ matrix: [[Double]]) -> [Double] {
        var a = matrix
        let n = a.count
        for _ in 0..<100 {
            var off = 0.0
            for i in 0..<n { for j in 0..<n where i != j { off += a[i][j] * a[i][j] } }
            if off < 1e-22 { break }
            for p in 0..<n {
                for q in (p + 1)..<n where a[p][q] != 0 {
                    let theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = a[k][p], akq = a[k][q]
                        a[k][p] = c * akp - s * akq
                        a[k][q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p][k], aqk = a[q][k]
                        a[p][k] = c * apk - s * aqk
                        a[q][k] = s * apk + c * aqk
                    }
                }
            }
        }
        return (0..<n).map { a[$0][$0] }.sorted()
    }

    /// The Hessian of the mean cross-entropy of `net` on `data`, column by column from
    /// Hessian-vector products with the basis vectors (all columns in one stacked call).
    static func exactHessian(_ net: any Module, columns: [Int]? = nil, data: LabeledData = Fixtures.data) throws -> [[Double]] {
        let layout = FlatnessMeasures.ParameterLayout(net.parameters)
        let chosen = columns ?? Array(0..<layout.count)
        let vectors = chosen.map { j -> NamedTensors in
            var e = [Double](repeating: 0, count: layout.count)
            e[j] = 1
            return layout.tensors(e)
        }
        let hv = try Evaluator(slice: 16).hessianVectorProducts(Array(repeating: net, count: chosen.count), vectors: vectors, on: data)
        return hv.map(layout.flatten)  // column j of H (= row j, H being symmetric)
    }
}

@Suite("Flatness measures")
struct FlatnessTests {
    // MARK: Hessian routines

    /// Hutchinson's estimator is exact for a diagonal matrix (v_i² = 1) and within a few standard
    /// errors of the trace of a dense one; the problems of one batch are kept apart.
    @Test func hutchinsonOnKnownMatrices() throws {
        let diagonal = (0..<6).map { i in (0..<6).map { j in i == j ? Double(i + 1) : 0 } }
        let dense = FlatnessFixtures.symmetric(eigenvalues: [4, -1, 2.5, 0.5, 3, -2, 1, 0], seed: 7)
        let estimates = try FlatnessMeasures.hutchinsonTraces(
            dimensions: [6, 8], draws: 400, keys: [RandomKey(seed: 1), RandomKey(seed: 2)],
            products: FlatnessFixtures.products([diagonal, dense]))
        #expect(abs(estimates[0].trace - 21) < 1e-12)
        #expect(estimates[0].standardError < 1e-12)
        #expect(estimates[1].standardError > 0.01 && estimates[1].standardError < 1)
        #expect(abs(estimates[1].trace - 8) < 4 * estimates[1].standardError)
    }

    /// Power iteration finds the largest eigenvalue of matrices with known spectra, including
    /// one whose eigenvalue of largest magnitude is negative (the shifted second iteration).
    @Test func topEigenvalueOnKnownSpectra() throws {
        let positive = FlatnessFixtures.symmetric(eigenvalues: [5, 3, 1, -2, 0.5, 0], seed: 3)
        let negative = FlatnessFixtures.symmetric(eigenvalues: [2, -6, 1, 0.5, -1], seed: 4)
        let results = try FlatnessMeasures.topEigenvalues(
            dimensions: [6, 5], iterations: 400, tolerance: 1e-13, keys: [RandomKey(seed: 5), RandomKey(seed: 6)],
            products: FlatnessFixtures.products([positive, negative]))
        #expect(abs(results[0].value - 5) < 1e-9)
        #expect(abs(results[1].value - 2) < 1e-9)
        #expect(results[0].iterations < 400)
        // The tolerance stops early: a loose one takes fewer products.
        let loose = try FlatnessMeasures.topEigenvalues(dimensions: [6], iterations: 400, tolerance: 1e-3, keys: [RandomKey(seed: 5)],
                                                        products: FlatnessFixtures.products([positive]))
        #expect(loose[0].iterations < results[0].iterations)
        #expect(abs(loose[0].value - 5) < 0.05)
    }

    /// On a real mlp (66 parameters): trace and top eigenvalue of the exact Hessian assembled
    /// from Hessian-vector products, with a Jacobi eigen solver in double precision as reference.
    @Test func hessianMeasuresOnMLP() throws {
        let subject = try FlatnessFixtures.mlpSubject(3)
        let h = try FlatnessFixtures.exactHessian(subject.model)
        let n = h.count
        for i in 0..<n { for j in 0..<i { #expect(abs(h[i][j] - h[j][i]) < 1e-4) } }
        let symmetric = (0..<n).map { i in (0..<n).map { j in (h[i][j] + h[j][i]) / 2 } }
        let eigenvalues = FlatnessFixtures.jacobiEigenvalues(symmetric)
        let trace = (0..<n).reduce(0.0) { $0 + h[$1][$1] }
        #expect(abs(eigenvalues.reduce(0, +) - trace) < 1e-6 * max(1, abs(trace)))

        let traceMeasure = FlatnessMeasures.HessianTrace()
        let t = try traceMeasure.values(of: [subject], settings: FlatnessFixtures.settings(traceMeasure, ["draws": 100]))[0]
        #expect(t["standard_error"]! > 0)
        #expect(abs(t[""]! - trace) < 4 * t["standard_error"]! + 1e-4)

        let topMeasure = FlatnessMeasures.HessianTopEigenvalue()
        let top = try topMeasure.values(of: [subject], settings: FlatnessFixtures.settings(topMeasure, ["iterations": 200, "tolerance": 1e-5]))[0]
        #expect(abs(top[""]! - eigenvalues.last!) < 1e-3 * max(1, abs(eigenvalues.last!)), "\(top) vs \(eigenvalues.suffix(3))")
    }

    // MARK: Searches

    /// The bisection finds σ* = √(d/(cω)) where the deviation is the exact expectation
    /// E‖w + u‖²c − c‖w‖² = cωσ² of a quadratic loss under u ~ N(0, σ²I); with a tolerance it stops
    /// as soon as the deviation is within it.
    @Test func bisectionOnQuadraticLoss() {
        let c = [0.5, 2.0, 0.01, 1e-6], omega = [10.0, 1000, 50, 10]
        let exact = FlatnessMeasures.largestScales(count: 4, range: 1e-5...2, steps: 80, target: 0.1, tolerance: 0) { batch in
            batch.map { c[$0.problem] * omega[$0.problem] * $0.scale * $0.scale }
        }
        for p in 0..<4 {  // the last one saturates at the upper end
            let expected = min(2, (0.1 / (c[p] * omega[p])).squareRoot())
            #expect(abs(exact[p] - expected) < 1e-12 * max(1, expected), "problem \(p): \(exact[p]) vs \(expected)")
        }
        var calls = 0
        let early = FlatnessMeasures.largestScales(count: 1, range: 1e-5...2, steps: 60, target: 0.1, tolerance: 0.01) { batch in
            calls += 1
            return batch.map { 5 * $0.scale * $0.scale }
        }
        #expect(abs(5 * early[0] * early[0] - 0.1) < 0.01)
        #expect(calls < 60)
    }

    /// The same bisection through the PAC-Bayes measure on a real mlp, on the cross-entropy: at
    /// the σ it returns, the deviation recomputed independently (same draws) meets the target.
    @Test func pacBayesMeetsTargetOnMLP() throws {
        for magnitudeAware in [false, true] {
            let measure = FlatnessMeasures.PACBayes(magnitudeAware: magnitudeAware)
            let subject = try FlatnessFixtures.mlpSubject(4)
            let settings = try FlatnessFixtures.settings(measure, ["on_error": 0, "target_deviation": 0.05, "tolerance": 1e-4,
                                                                   "search_steps": 40, "draws": 4])
            let v = try measure.values(of: [subject], settings: settings)[0]
            let sigma = v["sigma"]!
            #expect(sigma > 0 && sigma < 2)
            #expect(abs(v[""]! - 1 / (sigma * sigma)) < 1e-9 * v[""]!)
            let w = subject.model.parameters
            let copies = (0..<4).map { j -> any Module in
                let z = settings.key(measure.name, subject).derived(j).normal(count: w.elementCount)
                var offset = 0
                return subject.model.with(parameters: w.mapTensors { t in
                    let part = z[offset ..< offset + t.count]
                    offset += t.count
                    let sd = zip(t.scalars, part).map { x, e -> Float in
                        let s = magnitudeAware ? (Float(sigma * sigma) * x * x + 1e-6).squareRoot() : Float(sigma)
                        return x + s * e
                    }
                    return Tensor(shape: t.shape, scalars: sd)
                })
            }
            let base = try Evaluator().lossAndAccuracy([subject.model], on: subject.sample)[0].loss
            let perturbed = try Evaluator().lossAndAccuracy(copies, on: subject.sample).map(\.loss)
            let deviation = abs(perturbed.reduce(0, +) / 4 - base)
            #expect(abs(deviation - 0.05) < 2e-4, "magnitude-aware \(magnitudeAware): deviation \(deviation) at σ \(sigma)")
        }
    }

    /// Worst-case sharpness of a linear loss Σ g_i u_i: its maximum over the box |u_i| ≤ α is
    /// α‖g‖₁, so α* = d/‖g‖₁; over |u_i| ≤ α|w_i| + ε it is α Σ|g_i w_i| + ε‖g‖₁.
    @Test func sharpnessOnLinearLoss() {
        let g = [0.5, -2, 1.5, 0.25, -0.75], w = [1, -0.5, 2, 0.1, -3]
        let l1 = g.reduce(0) { $0 + abs($1) }, weighted = zip(g, w).reduce(0) { $0 + abs($1.0 * $1.1) }
        for (slopes, offset, expected) in [(g.map { _ in 1.0 }, 0.0, 0.1 / l1), (w.map(abs), 1e-3, (0.1 - 1e-3 * l1) / weighted)] {
            let box = FlatnessMeasures.BoxAscent(
                slopes: [slopes], offsets: offset,
                starts: [[RandomKey(seed: 9).uniform(count: 5).map { 2 * Double($0) - 1 }, [1, 1, 1, 1, 1].map { -Double($0) }]],
                steps: 5, stepSize: 0.25)
            let alpha = FlatnessMeasures.largestBoxes(
                box, range: 1e-5...2, steps: 80, target: 0.1, tolerance: 0,
                gradients: { points in points.map { _ in g } },
                deviations: { points in points.map { FlatnessMeasures.dot(g, $0.u) } })
            #expect(abs(alpha[0] - expected) < 1e-12, "\(alpha[0]) vs \(expected)")
        }
    }

    // MARK: Relative flatness

    /// One row x = (1, 2), W = I, b = 0: z = x, p = (1, e)/(1 + e), G = I, so
    /// κ = ‖x‖² (1 − p₀² − p₁²) = 10e/(1 + e)².
    @Test func relativeFlatnessByHand() throws {
        let linear = Linear(weight: Tensor(shape: [2, 2], scalars: [1, 0, 0, 1]), bias: Tensor([0, 0]))
        let net = Sequential([Flatten(), linear])
        let data = LabeledData(inputs: Tensor(shape: [1, 2], scalars: [1, 2]), labels: [0], classCount: 2)
        let subject = FlatnessFixtures.subject("hand", model: net, initial: net, sample: data)
        let v = try FlatnessMeasures.RelativeFlatness().values(of: [subject], settings: MeasureSettings())[0]
        let e = exp(1.0)
        #expect(abs(v[""]! - 10 * e / ((1 + e) * (1 + e))) < 1e-6)

        let notLinear = Sequential([Flatten(), linear, ActivationLayer(.tanh)])
        #expect(throws: MeasureError.self) {
            try FlatnessMeasures.RelativeFlatness().values(of: [FlatnessFixtures.subject("x", model: notLinear, initial: notLinear, sample: data)],
                                                           settings: MeasureSettings())
        }
    }

    /// On a real mlp the closed form equals Σ⟨w_s, w_s′⟩ Tr(H_{s,s′}) with the blocks of the
    /// last layer's Hessian taken from Hessian-vector products.
    @Test func relativeFlatnessMatchesHessianBlocks() throws {
        let subject = try FlatnessFixtures.mlpSubject(5)
        let params = subject.model.parameters
        let last = params["3.weight"]!  // [3 classes, 7 features]
        let offset = params.names.prefix { $0 != "3.weight" }.reduce(0) { $0 + params[$1]!.count }
        let (c, d) = (last.shape[0], last.shape[1])
        let columns = try FlatnessFixtures.exactHessian(subject.model, columns: Array(offset ..< offset + c * d))
        let w = last.scalars.map(Double.init)
        var kappa = 0.0
        for s in 0..<c {
            for t in 0..<c {
                let inner = (0..<d).reduce(0.0) { $0 + w[s * d + $1] * w[t * d + $1] }
                let trace = (0..<d).reduce(0.0) { $0 + columns[t * d + $1][offset + s * d + $1] }
                kappa += inner * trace
            }
        }
        let v = try FlatnessMeasures.RelativeFlatness().values(of: [subject], settings: MeasureSettings())[0]
        #expect(abs(v[""]! - kappa) < 1e-4 * max(1, abs(kappa)), "\(v[""]!) vs \(kappa)")
    }

    // MARK: Integration

    /// Every catalog model (small options, three rows): every flatness measure gives finite
    /// values, or a ``MeasureError`` for one that does not apply (relative flatness of nin).
    /// lenet5 and resnet20 (61 k and 270 k parameters, seconds in a debug build) check only the
    /// measure that depends on the model's structure; nin covers batch norm and unstackable models.
    @Test func everyCatalogModel() throws {
        let models: [(String, [String: String], [Int])] = [
            ("mlp", ["hidden": "4"], [5]), ("zoo-cnn", [:], [1, 28, 28]), ("lenet5", [:], [1, 28, 28]),
            ("cnn1d", ["channels": "3"], [1, 40]), ("resnet20", [:], [3, 8, 8]), ("nin", ["depth": "1", "width": "4"], [3, 8, 8]),
        ]
        let tiny: [String: Double] = ["draws": 1, "search_steps": 1, "ascent_steps": 1, "iterations": 1]
        for (name, options, shape) in models {
            let input = ModelInput(shape: shape, classCount: 3)
            let data = LabeledData(inputs: Tensor.randomNormal([3] + shape, key: RandomKey(seed: 1)), labels: [0, 1, 2], classCount: 3)
            let net = try ModelCatalog.make(name, options: options, input: input, key: RandomKey(seed: 2))
            let initial = try ModelCatalog.make(name, options: options, input: input, key: RandomKey(seed: 3))
            let subject = FlatnessFixtures.subject(name, model: net, initial: initial, sample: data)
            let large = name == "lenet5" || name == "resnet20"
            for measure in FlatnessMeasures.all where !large || measure.name == "relative_flatness" {
                do {
                    let v = try measure.values(of: [subject], settings: FlatnessFixtures.settings(measure, tiny))
                    #expect(v.count == 1 && v[0][""] != nil && v[0].values.allSatisfy(\.isFinite), "\(name) \(measure.name): \(v)")
                } catch let error as MeasureError {
                    #expect(name == "nin" && measure.name == "relative_flatness", "\(name) \(measure.name): \(error)")
                }
            }
        }
    }

    /// Every flatness measure gives two mlps stacked the values it gives each alone.
    @Test func stackedEqualsAlone() throws {
        let subjects = try [FlatnessFixtures.mlpSubject(1), FlatnessFixtures.mlpSubject(2)]
        let small: [String: Double] = ["draws": 3, "search_steps": 6, "ascent_steps": 3, "restarts": 2, "iterations": 5]
        for measure in FlatnessMeasures.all {
            let settings = try FlatnessFixtures.settings(measure, small)
            let together = try measure.values(of: subjects, settings: settings)
            #expect(together.count == 2)
            for (k, subject) in subjects.enumerated() {
                let alone = try measure.values(of: [subject], settings: settings)[0]
                #expect(Set(alone.keys) == Set(together[k].keys), "\(measure.name)")
                for (key, value) in alone {
                    #expect(value.isFinite, "\(measure.name).\(key)")
                    #expect(abs(value - together[k][key]!) <= 1e-9 * max(1, abs(value)), "\(measure.name).\(key): \(value) vs \(together[k][key]!)")
                }
            }
        }
    }
}
