import Foundation
import Testing
import ZooData
@testable import ZooMeasures
import ZooNN
import ZooTensor
import ZooTestSupport
import ZooTrain

private func subject(_ model: any Module, initial: (any Module)? = nil, data: LabeledData = Fixtures.data, model name: String = "mlp",
                     run: String = "run-a") -> Subject {
    Subject(runID: run, epoch: 1,
            config: RunConfig(model: ModelSpec(name: name), data: DataSpec(name: "fixture"), training: TrainingConfig()),
            model: model, initial: initial ?? model, sample: data)
}

private func settings(_ m: any Measure, _ overrides: [String: Double] = [:]) throws -> MeasureSettings {
    try MeasureSettings().resolved(defaults: m.defaults, overrides: overrides, measure: m.name)
}

/// Logistic regression with the teacher's weights that labelled ``Fixtures/data``: no error on it.
private func teacher(bias: [Float] = [0, 0, 0], scale: Float = 1) -> any Module {
    Sequential([Flatten(), Linear(weight: Tensor.randomNormal([3, 5], key: RandomKey(seed: 12)) * scale, bias: Tensor(bias))])
}

/// The alignment yᵀKy / (‖K‖_F ‖y‖²) of an explicit kernel `[C·n][C·n]` (class-major) with the
/// centred one-hot labels.
private func referenceAlignment(_ k: [[Double]], labels: [Int], classes: Int) -> Double {
    let n = labels.count
    var y = [Double]()
    for c in 0..<classes {
        let share = Double(labels.filter { $0 == c }.count) / Double(n)
        y += labels.map { ($0 == c ? 1 : 0) - share }
    }
    var yky = 0.0, frobenius = 0.0
    for a in y.indices { for b in y.indices { yky += y[a] * k[a][b] * y[b]; frobenius += k[a][b] * k[a][b] } }
    return yky / (frobenius.squareRoot() * y.reduce(0) { $0 + $1 * $1 })
}

/// The kernel of tangent features `[C][n][P]`, each class's features centred over the examples.
private func kernel(_ features: [[[Double]]]) -> [[Double]] {
    let centred = features.map { rows -> [[Double]] in
        let p = rows[0].count
        let mean = (0..<p).map { q in rows.reduce(0) { $0 + $1[q] } / Double(rows.count) }
        return rows.map { r in (0..<p).map { r[$0] - mean[$0] } }
    }
    let flat = centred.flatMap { $0 }
    return flat.map { a in flat.map { b in zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } } }
}

@Suite("Representation measures")
struct RepresentationTests {
    /// Logistic regression: the tangent features of f_c are (x, 1) in class c's block, so the
    /// kernel is I_C ⊗ (x_i − x̄)·(x_j − x̄) after centring; both the full and the last-layer path give its alignment.
    @Test func ntkAlignmentOfLinearModel() throws {
        let net = try Fixtures.mlp(seed: 2, hidden: "")
        let n = 30, data = Fixtures.data.selecting(Array(0..<30)), x = data.inputs.scalars
        var features = [[[Double]]](repeating: [[Double]](repeating: [Double](repeating: 0, count: 18), count: n), count: 3)
        for c in 0..<3 {
            for i in 0..<n {
                for j in 0..<5 { features[c][i][c * 5 + j] = Double(x[i * 5 + j]) }
                features[c][i][15 + c] = 1
            }
        }
        let expected = referenceAlignment(kernel(features), labels: data.labels, classes: 3)
        let m = RepresentationMeasures.NTKAlignment()
        let full = try m.values(of: [subject(net)], settings: settings(m, ["examples": 30]))[0]
        #expect(abs(full[""]! - expected) < 1e-5)
        #expect(abs(full["last_layer"]! - expected) < 1e-5)
        #expect(full["parameters"] == 18)
        let last = try m.values(of: [subject(net)], settings: settings(m, ["examples": 30, "max_parameters": 5]))[0]
        #expect(abs(last[""]! - expected) < 1e-5)
        #expect(last["parameters"] == 18)
    }

    /// A tanh MLP: the full kernel's alignment matches one built from finite-difference tangent features.
    @Test func ntkAlignmentMatchesFiniteDifferences() throws {
        let net = try Fixtures.mlp(seed: 6, hidden: "4")
        let n = 12, data = Fixtures.data.selecting(Array(0..<n))
        let base = net.parameters
        var copies: [any Module] = []
        let h: Float = 1e-2
        for (name, t) in base {
            for q in 0..<t.count {
                for sign: Float in [1, -1] {
                    var s = t.scalars
                    s[q] += sign * h
                    var p = base
                    p[name] = Tensor(shape: t.shape, scalars: s)
                    copies.append(net.with(parameters: p))
                }
            }
        }
        let logits = try Evaluator().logits(copies, inputs: data.inputs).map(\.scalars)
        let count = copies.count / 2
        var features = [[[Double]]](repeating: [[Double]](repeating: [Double](repeating: 0, count: count), count: n), count: 3)
        for c in 0..<3 {
            for i in 0..<n {
                for q in 0..<count {
                    let difference = logits[2 * q][i * 3 + c] - logits[2 * q + 1][i * 3 + c]
                    features[c][i][q] = Double(difference) / Double(2 * h)
                }
            }
        }
        let expected = referenceAlignment(kernel(features), labels: data.labels, classes: 3)
        let m = RepresentationMeasures.NTKAlignment()
        let measured = try m.values(of: [subject(net)], settings: settings(m, ["examples": Double(n)]))[0]
        #expect(abs(measured[""]! - expected) < 2e-3, "\(measured) against \(expected)")
        #expect(measured["parameters"] == Double(net.parameterCount))
    }

    /// The search on hand-made feasible regions: α ≥ 0.5 and σ ≤ 0.2 gives 0.5²·D²/0.2²; σ ≤ 0.3α
    /// gives D²/0.09 at every α; a feasible α = 0 gives 0; nothing feasible gives +∞.
    @Test func criticalitySearchOnKnownRegions() {
        let search = RepresentationMeasures.CriticalitySearch(alphas: (0...10).map { Double($0) / 10 }, sigmaRange: (1e-4, 1), steps: 30)
        let box = search.run(problems: 2, distances: [1, 3]) { $0.map { $0.alpha >= 0.5 - 1e-12 && $0.sigma <= 0.2 } }
        #expect(abs(box[0] - 6.25) < 1e-4 && abs(box[1] - 18.75) < 1e-3)
        let cone = search.run(problems: 1, distances: [2]) { $0.map { $0.sigma <= 0.3 * $0.alpha } }
        #expect(abs(cone[0] - 2 / 0.09) < 1e-3)
        #expect(search.run(problems: 1, distances: [2]) { $0.map { _ in true } } == [0])
        #expect(search.run(problems: 1, distances: [2]) { $0.map { _ in false } } == [.infinity])
    }

    /// End to end on the teacher (error 0), initialized at zero: classification by αW + σZ depends
    /// on σ/α only, so μ = ‖W‖²/r² for the largest feasible ratio r; the same from a grid of two
    /// α as of eleven; at σ = ‖W‖/√μ the error holds, at twice that it does not. A module that did
    /// not move is 0; a network above the error threshold is +∞.
    @Test func moduleCriticality() throws {
        let trained = teacher()
        let zero = trained.with(parameters: trained.parameters.mapTensors { Tensor.zeros($0.shape) })
        let s = subject(trained, initial: zero)
        let m = RepresentationMeasures.ModuleCriticality()
        let options: [String: Double] = ["examples": 60, "steps": 8]
        let fine = try m.values(of: [s], settings: settings(m, options))[0]
        let coarse = try m.values(of: [s], settings: settings(m, options.merging(["alphas": 2]) { $1 }))[0]
        let d2 = trained.parameters["1.weight"]!.scalars.reduce(0.0) { $0 + Double($1 * $1) }
        let mu = fine["1"]!
        #expect(mu.isFinite && mu > 0)
        #expect(fine[""] == mu && fine["sum"] == mu)
        #expect(abs(coarse[""]! - mu) <= 0.2 * mu)
        // Feasibility around σ* = ‖W‖/√μ at α = 1, with the measure's own noise draws.
        let key = try settings(m, options).key(m.name, s).derived("1")
        func error(_ sigma: Double) throws -> Double {
            let copies = (0..<2).map { d -> any Module in
                trained.with(parameters: NamedTensors(trained.parameters.map { name, t in
                    (name, t + Tensor.randomNormal(t.shape, key: key.derived(d).derived(name)) * Float(sigma))
                }))
            }
            return try Evaluator().lossAndAccuracy(copies, on: Fixtures.data).reduce(0) { $0 + (1 - $1.accuracy) } / 2
        }
        let sigma = (d2 / mu).squareRoot()
        #expect(try error(sigma) <= 0.1)
        #expect(try error(2 * sigma) > 0.1)

        #expect(try m.values(of: [subject(trained)], settings: settings(m, options))[0][""] == 0)
        let random = try Fixtures.mlp(seed: 3)
        #expect(try m.values(of: [subject(random, initial: try Fixtures.mlp(seed: 4))], settings: settings(m, ["threshold": 0.01, "steps": 2]))[0][""]
            == .infinity)
    }

    /// Hand-made clusters: (0,0),(2,0) | (10,0),(10,4) | (0,10),(0,12), with spreads 1, 2, 1.
    @Test func daviesBouldinOnHandClusters() {
        let x = Tensor(shape: [6, 2], scalars: [0, 0, 2, 0, 10, 0, 10, 4, 0, 10, 0, 12])
        let r01 = 3 / 85.0.squareRoot(), r02 = 2 / 122.0.squareRoot(), r12 = 3 / 181.0.squareRoot()
        let expected = (max(r01, r02) + max(r01, r12) + max(r02, r12)) / 3
        #expect(abs(daviesBouldinIndex(x, labels: [0, 0, 1, 1, 2, 2]) - expected) < 1e-12)
        #expect(abs(daviesBouldinIndex(Tensor(shape: [4, 2], scalars: [0, 0, 2, 0, 10, 0, 10, 4]), labels: [5, 5, 9, 9]) - r01) < 1e-12)
        #expect(daviesBouldinIndex(x, labels: [1, 1, 1, 1, 1, 1]).isNaN)
    }

    /// The measure reads the penultimate features: for logistic regression, the inputs themselves.
    @Test func daviesBouldinOfPenultimateFeatures() throws {
        let m = RepresentationMeasures.DaviesBouldin()
        let value = try m.values(of: [subject(try Fixtures.mlp(seed: 2, hidden: ""))], settings: settings(m))[0][""]!
        #expect(abs(value - daviesBouldinIndex(Fixtures.data.inputs, labels: Fixtures.data.labels)) < 1e-9)
    }

    /// Mixed points are the pairs within groups of each class; the teacher (a linear classifier,
    /// whose classes are convex) gets every one right; constant logits b get 1/3 right, with the
    /// cross-entropy of softmax(b) averaged over the classes.
    @Test func mixupAccuracy() throws {
        let data = Fixtures.data
        let mixed = RepresentationMeasures.mixupPoints(data, lambda: 0.25, group: 4, groups: 2)
        let perClass = (0..<3).map { c in min(2, (data.classCounts[c] + 3) / 4) }
        var expectedCount = 0
        for c in 0..<3 {
            for g in 0..<perClass[c] { let size = min(4, data.classCounts[c] - 4 * g); expectedCount += size * (size - 1) / 2 }
        }
        #expect(mixed.count == expectedCount)
        let first = data.labels.indices.filter { data.labels[$0] == 0 }.prefix(2)
        let a = data.inputs[first.first!].scalars, b = data.inputs[first.last!].scalars
        #expect(zip(mixed.inputs[0].scalars, zip(a, b)).allSatisfy { abs($0 - (0.25 * $1.0 + 0.75 * $1.1)) < 1e-6 })

        let m = RepresentationMeasures.MixupAccuracy()
        #expect(try m.values(of: [subject(teacher())], settings: settings(m))[0][""] == 1)
        let constant = teacher(bias: [1, 0, -1], scale: 0)
        let values = try m.values(of: [subject(constant)], settings: settings(m))[0]
        #expect(abs(values[""]! - 1.0 / 3) < 1e-12)
        let z = [1.0, 0, -1].map(exp).reduce(0, +)
        let expectedLoss = ([1.0, 0, -1].map { log(z) - $0 }).reduce(0, +) / 3
        #expect(abs(values["loss"]! - expectedLoss) < 1e-5)
    }

    /// The penultimate features map to the logits through the head, for a Linear head (zoo-cnn,
    /// resnet20) and a 1×1 convolution with global pooling (nin); the layers are the leaves.
    @Test(arguments: [("zoo-cnn", [1, 28, 28], [String: String]()), ("nin", [3, 8, 8], ["depth": "1", "width": "4"]),
                      ("resnet20", [3, 8, 8], [:])])
    func penultimateFeedsTheHead(model: String, shape: [Int], options: [String: String]) throws {
        let net = try ModelCatalog.make(model, options: options, input: ModelInput(shape: shape, classCount: 10), key: RandomKey(seed: 1))
        let x = Tensor.randomUniform([3] + shape, key: RandomKey(seed: 2))
        let extractor = try FeatureExtractor(net, modelName: model)
        let head = try extractor.requireHead()
        let h = try extractor.penultimate(x, batchRows: 2)
        var logits = matmulTransposingB(h, head.weight)
        if let b = head.bias { logits = logits + b }
        #expect(head.isFinal)
        #expect(maxAbsoluteDifference(logits, net.inferring(x)) < 1e-4)
        var names: [String] = []
        extractor.forEachLayer(x) { name, out in
            names.append(name)
            #expect(out.shape[0] == 3 && out.rank == 2)
        }
        #expect(names == extractor.layerNames && !names.contains { $0.hasSuffix("flatten") })
        if model == "resnet20" {
            let blocks: [String] = (1...3).flatMap { s in (0..<3).map { b in "layer\(s).\(b)" } }
            let expected: [String] = ["conv1", "bn1", "act"] + blocks + ["pool", "linear"]
            #expect(names == expected)
        }
        if model == "zoo-cnn" { #expect(names.first == "module_list.0" && !names.contains("module_list.8")) }  // 8 is the flatten
    }

    /// A model that is not a Sequential network is refused by name.
    @Test func featuresNeedSequential() {
        #expect { try FeatureExtractor(Linear(inputSize: 2, outputSize: 2, key: RandomKey(seed: 1)), modelName: "custom") } throws: { error in
            "\(error)".contains("custom")
        }
    }
}

@Suite("Dynamics, representation and pairwise measures on the catalog")
struct CatalogMeasureTests {
    /// Every measure of these families runs on every catalog model (stacking or not, linear or
    /// pooled head) without trapping, with values that are numbers or ±∞.
    @Test(arguments: [("mlp", [6], ["hidden": "8"]), ("zoo-cnn", [1, 20, 20], [:]), ("lenet5", [1, 12, 12], [:]),
                      ("cnn1d", [1, 40], [:]), ("resnet20", [3, 8, 8], [:]), ("nin", [3, 8, 8], ["depth": "1", "width": "4"])])
    func everyMeasureRuns(model: String, shape: [Int], options: [String: String]) throws {
        let rows = 16
        let data = LabeledData(inputs: Tensor.randomUniform([rows] + shape, key: RandomKey(seed: 3)), labels: (0..<rows).map { $0 % 3 }, classCount: 3)
        let input = ModelInput(shape: shape, classCount: 3)
        let config = RunConfig(model: ModelSpec(name: model, options: options), data: DataSpec(name: "fixture"), training: TrainingConfig(batchSize: 4))
        let subjects = try (0..<2).map { k in
            Subject(runID: "run-\(k)", epoch: 1, config: config,
                    model: try ModelCatalog.make(model, options: options, input: input, key: RandomKey(seed: UInt64(10 + k))),
                    initial: try ModelCatalog.make(model, options: options, input: input, key: RandomKey(seed: UInt64(20 + k))),
                    sample: data, stepLosses: [StepLoss(step: 5, loss: 0.2)])
        }
        let overrides: [String: Double] = ["minibatches": 4, "examples": 8, "alphas": 2, "steps": 0, "draws": 1, "group": 3, "groups": 1]
        // ResNet-20 (270k parameters) is slow in debug builds for the measures that take many
        // gradients or copies; nin covers their batch-norm path.
        let slow: Set<String> = model == "resnet20" ? ["module_criticality", "gradient_noise", "gradient_snr", "gradient_noise_tail_index"] : []
        for m in DynamicsMeasures.all + RepresentationMeasures.all where !slow.contains(m.name) {
            let s = try MeasureSettings().resolved(defaults: m.defaults, overrides: overrides.filter { m.defaults[$0.key] != nil }, measure: m.name)
            let values = try m.values(of: subjects, settings: s)
            #expect(values.count == 2 && values.allSatisfy { $0[""].map { !$0.isNaN } == true }, "\(m.name) on \(model): \(values)")
        }
        for m in PairwiseMeasures.all {
            let s = try MeasureSettings().resolved(defaults: m.defaults, overrides: overrides.filter { m.defaults[$0.key] != nil }, measure: m.name)
            let values = try m.values(of: [(subjects[0], subjects[1]), (subjects[1], subjects[1])], settings: s)
            #expect(values.count == 2 && values.allSatisfy { $0[""].map { $0.isFinite } == true }, "\(m.name) on \(model): \(values)")
        }
    }
}
