import Foundation
import Testing
import ZooTestSupport
import ZooData
import ZooMeasures
import ZooNN
import ZooTensor
import ZooTrain

/// Subjects of hand-made networks, and the measures run through their public entry point.
enum NormFixtures {
    static let config = RunConfig(model: ModelSpec(name: "hand-made"), data: DataSpec(name: "hand-made"), training: TrainingConfig())

    static func subject(_ model: any Module, initial: (any Module)? = nil, sample: LabeledData, runID: String = "run") -> Subject {
        Subject(runID: runID, epoch: 1, config: config, model: model, initial: initial ?? model, sample: sample)
    }

    /// The values of the catalog's measure `name` with its defaults under `overrides`.
    static func values(_ name: String, _ subjects: [Subject], overrides: [String: Double] = [:]) throws -> [[String: Double]] {
        let measure = try #require(MeasureCatalog.measure(name), "no measure '\(name)'")
        let settings = try MeasureSettings().resolved(defaults: measure.defaults, overrides: overrides, measure: name)
        return try measure.values(of: subjects, settings: settings)
    }

    static func value(_ name: String, _ subject: Subject, overrides: [String: Double] = [:]) throws -> [String: Double] {
        try values(name, [subject], overrides: overrides)[0]
    }

    /// Rows labelled by the network itself, so that every margin is positive.
    static func selfLabelled(_ model: any Module, inputs: Tensor, classes: Int) -> LabeledData {
        LabeledData(inputs: inputs, labels: argmaxRows(model.inferring(inputs)), classCount: classes)
    }

    /// A 3 → 2 → 3 network, x ↦ W₂ act(W₁x + b₁) + b₂, with fixed small weights.
    static func twoLayer(activation: Activation = .relu, biases: Bool = true) -> Sequential {
        let w1 = Tensor(shape: [2, 3], scalars: [0.5, -1, 0.25, 1.5, 0.75, -0.5])
        let w2 = Tensor(shape: [3, 2], scalars: [1, -2, 0.5, 1.25, -0.75, 0.3])
        return Sequential([
            Linear(weight: w1, bias: biases ? Tensor([0.2, -0.1]) : nil),
            ActivationLayer(activation),
            Linear(weight: w2, bias: biases ? Tensor([0.05, -0.3, 0.6]) : nil),
        ])
    }

    static let twoLayerInputs = Tensor(shape: [4, 3], scalars: [1, 0.5, -1, -0.5, 2, 0.25, 0.3, -1.2, 0.8, 1.5, 1, 1])
}

/// Reference linear algebra in double precision, independent of the measures' Lanczos iteration.
enum DenseReference {
    /// The eigenvalues of a symmetric n × n matrix by cyclic Jacobi rotations.
    static func symmetricEigenvalues(_ matrix: [Double], n: Int) -> [Double] {
        var a = matrix
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<n { for q in 0..<n where p != q { off += a[p * n + q] * a[p * n + q] } }
            if off < 1e-26 { break }
            for p in 0..<n {
                for q in (p + 1)..<max(p + 1, n) where abs(a[p * n + q]) > 1e-300 {
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q])
                    let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {  // columns p, q
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {  // rows p, q
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                }
            }
        }
        return (0..<n).map { a[$0 * n + $0] }
    }

    /// σ_max of a row-major `rows × columns` matrix: √λ_max(MᵀM) by Jacobi.
    static func spectralNorm(_ m: [Double], rows: Int, columns: Int) -> Double {
        var gram = [Double](repeating: 0, count: columns * columns)
        for i in 0..<columns { for j in 0..<columns { for r in 0..<rows { gram[i * columns + j] += m[r * columns + i] * m[r * columns + j] } } }
        return symmetricEigenvalues(gram, n: columns).max()!.squareRoot()
    }

    /// The matrix of the linear map `f` from `inputShape` (one sample) to its output: column j is f(e_j).
    static func explicitMatrix(inputShape: [Int], _ f: (Tensor) -> Tensor) -> (matrix: [Double], rows: Int, columns: Int) {
        let columns = inputShape.reduce(1, *)
        var cols: [[Float]] = []
        for j in 0..<columns {
            var e = [Float](repeating: 0, count: columns)
            e[j] = 1
            cols.append(f(Tensor(shape: [1] + inputShape, scalars: e)).scalars)
        }
        let rows = cols[0].count
        var m = [Double](repeating: 0, count: rows * columns)
        for j in 0..<columns { for r in 0..<rows { m[r * columns + j] = Double(cols[j][r]) } }
        return (m, rows, columns)
    }

    /// The Householder reflection I − 2uuᵀ/uᵀu, an orthogonal n × n matrix.
    static func householder(_ u: [Double]) -> [Double] {
        let n = u.count, uu = u.reduce(0) { $0 + $1 * $1 }
        return (0..<n * n).map { k in (k / n == k % n ? 1 : 0) - 2 * u[k / n] * u[k % n] / uu }
    }

    /// a (r × k) · b (k × c), row-major.
    static func product(_ a: [Double], _ b: [Double], _ r: Int, _ k: Int, _ c: Int) -> [Double] {
        (0..<r * c).map { i in (0..<k).reduce(0.0) { $0 + a[i / c * k + $1] * b[$1 * c + i % c] } }
    }
}

@Suite("Spectral norms")
struct SpectralNormTests {
    /// W = U diag(s) Vᵀ with Householder U, V: the largest singular value is s₁, also when the
    /// top ones nearly coincide in a larger matrix (80 × 64, s = 3, 2.99999, 2.9999, 2.999, then
    /// 2.9 down to 0.1), where plain power iteration would need tens of thousands of steps.
    @Test(arguments: [[3.0, 2.5, 1, 0.5], [3.0, 2.99999, 2.9999, 2.999] + (0..<60).map { 2.9 - Double($0) * 2.8 / 59 }])
    func matrixWithKnownSingularValues(_ s: [Double]) throws {
        let columns = s.count, rows = columns + columns / 4 + 2
        let u = DenseReference.householder((0..<rows).map { sin(Double($0) + 1) })
        let v = DenseReference.householder((0..<columns).map { cos(2 * Double($0) + 0.5) })  // symmetric: V = Vᵀ
        var sigma = [Double](repeating: 0, count: rows * columns)
        for i in 0..<columns { sigma[i * columns + i] = s[i] }
        let w = DenseReference.product(DenseReference.product(u, sigma, rows, rows, columns), v, rows, columns, columns)
        let model = Sequential([Linear(weight: Tensor(shape: [rows, columns], scalars: w.map(Float.init)), bias: nil)])
        let subject = NormFixtures.subject(model, sample: LabeledData(inputs: .zeros([1, columns]), labels: [0], classCount: rows))
        for measure in ["log_prod_of_spec", "log_prod_of_spec_reshaped"] {
            let values = try NormFixtures.value(measure, subject)
            #expect(abs(values["0"]! - s[0]) < 1e-6 * s[0], "\(measure): \(values["0"]!) vs \(s[0])")
            #expect(abs(values[""]! - 2 * log(s[0])) < 2e-6)
        }
    }

    struct ConvCase: Sendable, CustomStringConvertible {
        var inChannels = 2, outChannels = 3, kernel = 3, stride = 1, padding = 1, groups = 1, oneDimensional = false
        var description: String { "\(oneDimensional ? "1d" : "2d") \(inChannels)→\(outChannels) k\(kernel) s\(stride) p\(padding) g\(groups)" }
    }

    /// The operator norm of a convolution on a 2-channel 5×5 (or length-9) input equals the
    /// largest singular value of its explicit matrix (columns: the images of the basis vectors),
    /// and the reshaped-kernel norm that of the `[out, in·k·k]` matrix.
    @Test(arguments: [
        ConvCase(), ConvCase(stride: 2), ConvCase(outChannels: 4, kernel: 2, padding: 0), ConvCase(outChannels: 4, groups: 2),
        ConvCase(outChannels: 3, stride: 2, oneDimensional: true),
    ])
    func convolutionAgainstItsMatrix(_ c: ConvCase) throws {
        let key = RandomKey(seed: 21)
        let layer: any Module
        let inputShape: [Int]
        let forward: (Tensor) -> Tensor
        if c.oneDimensional {
            let conv = Conv1d(c.inChannels, c.outChannels, kernelSize: c.kernel, stride: c.stride, padding: c.padding, groups: c.groups, key: key)
            (layer, inputShape) = (conv, [c.inChannels, 9])
            forward = { conv1d($0, weight: conv.weight, stride: c.stride, padding: c.padding, groups: c.groups) }
        } else {
            let conv = Conv2d(c.inChannels, c.outChannels, kernelSize: c.kernel, stride: c.stride, padding: c.padding, groups: c.groups, key: key)
            (layer, inputShape) = (conv, [c.inChannels, 5, 5])
            forward = { conv2d($0, weight: conv.weight, stride: (c.stride, c.stride), padding: (c.padding, c.padding), groups: c.groups) }
        }
        let model = Sequential([layer])
        let subject = NormFixtures.subject(model, sample: LabeledData(inputs: .ones([2] + inputShape), labels: [0, 1], classCount: 2))

        let explicit = DenseReference.explicitMatrix(inputShape: inputShape, forward)
        let expected = DenseReference.spectralNorm(explicit.matrix, rows: explicit.rows, columns: explicit.columns)
        let measured = try NormFixtures.value("log_prod_of_spec", subject)["0"]!
        #expect(abs(measured - expected) < 1e-5 * expected, "\(c): operator norm \(measured) vs explicit \(expected)")

        // The reshaped kernel: block diagonal over groups, so the largest block's norm.
        let weight = model.parameters["0.weight"]!
        let rows = c.outChannels / c.groups, columns = weight.count / c.outChannels
        let blocks = (0..<c.groups).map { g in
            DenseReference.spectralNorm(weight.scalars[g * rows * columns ..< (g + 1) * rows * columns].map(Double.init), rows: rows, columns: columns)
        }
        let reshaped = try NormFixtures.value("log_prod_of_spec_reshaped", subject)["0"]!
        #expect(abs(reshaped - blocks.max()!) < 1e-5 * reshaped, "\(c): reshaped \(reshaped) vs \(blocks)")
    }

    /// A batch norm after a convolution is folded into it: the operator norm is that of x ↦ BN(conv(x)) − BN(0).
    @Test func batchNormIsFolded() throws {
        let conv = Conv2d(2, 3, kernelSize: 3, padding: 1, bias: false, key: RandomKey(seed: 4))
        var bn = BatchNorm(channels: 3)
        bn.weight = Tensor([2, -0.5, 1])
        bn.bias = Tensor([0.3, 0.1, -0.2])
        bn.runningMean = Tensor([0.1, -0.2, 0.4])
        bn.runningVariance = Tensor([0.5, 2, 1.5])
        let model = Sequential([conv, bn])
        let subject = NormFixtures.subject(model, sample: LabeledData(inputs: .ones([1, 2, 5, 5]), labels: [0], classCount: 3))
        let zero = model.inferring(.zeros([1, 2, 5, 5]))
        let explicit = DenseReference.explicitMatrix(inputShape: [2, 5, 5]) { model.inferring($0) - zero }
        let expected = DenseReference.spectralNorm(explicit.matrix, rows: explicit.rows, columns: explicit.columns)
        let measured = try NormFixtures.value("log_prod_of_spec", subject)["0"]!
        #expect(abs(measured - expected) < 1e-5 * expected)
        // The Frobenius norm of the folded kernel: each output channel scaled by γ/√(σ² + ε).
        let scale = (0..<3).map { Double(bn.weight!.scalars[$0]) / Double(bn.runningVariance.scalars[$0] + bn.epsilon).squareRoot() }
        let w = conv.weight.scalars, inner = w.count / 3
        let frobenius = (0..<w.count).reduce(0.0) { $0 + pow(scale[$1 / inner] * Double(w[$1]), 2) }.squareRoot()
        #expect(abs(try NormFixtures.value("log_prod_of_fro", subject)["0"]! - frobenius) < 1e-6 * frobenius)
    }
}

@Suite("Norm measures")
struct NormMeasureTests {
    /// Frobenius measures, sizes and distances of the 3 → 2 → 3 network by hand.
    @Test func frobeniusAndDistances() throws {
        let model = NormFixtures.twoLayer()
        var initial: any Module = model
        initial.parameters = model.parameters.mapTensors { $0 * 0.5 }
        let sample = NormFixtures.selfLabelled(model, inputs: NormFixtures.twoLayerInputs, classes: 3)
        let s = NormFixtures.subject(model, initial: initial, sample: sample)
        let w1 = model.parameters["0.weight"]!.scalars.map(Double.init), w2 = model.parameters["2.weight"]!.scalars.map(Double.init)
        let f1 = w1.reduce(0) { $0 + $1 * $1 }, f2 = w2.reduce(0) { $0 + $1 * $1 }
        let all = model.parameters.tensors.flatMap(\.scalars).reduce(0.0) { $0 + Double($1) * Double($1) }

        let count: Double = 3 * 2 + 2 + 2 * 3 + 3
        #expect(try NormFixtures.value("parameter_count", s)[""] == count)
        let prod = try NormFixtures.value("log_prod_of_fro", s)
        #expect(abs(prod[""]! - log(f1 * f2)) < 1e-6)
        #expect(abs(prod["0"]! - f1.squareRoot()) < 1e-6 && abs(prod["2"]! - f2.squareRoot()) < 1e-6)
        #expect(abs(try NormFixtures.value("sum_of_fro", s)[""]! - 2 * (f1 * f2).squareRoot()) < 1e-5)
        // Each weight moved by half of itself; every parameter too.
        #expect(abs(try NormFixtures.value("frobenius_distance", s)[""]! - (f1 + f2) / 4) < 1e-6)
        #expect(abs(try NormFixtures.value("distance_from_init", s)[""]! - (all / 4).squareRoot()) < 1e-6)

        let gamma = try NormFixtures.value("margin", s)[""]!
        #expect(gamma > 0)
        #expect(abs(try NormFixtures.value("log_fro_over_margin", s)[""]! - (log(f1 * f2) - 2 * log(gamma))) < 1e-6)
        #expect(abs(try NormFixtures.value("dist_over_margin", s)[""]! - all / 4 / (gamma * gamma)) < 1e-6 * all / (gamma * gamma))

        // A network at its initialization is at distance zero.
        let atInit = NormFixtures.subject(model, sample: sample)
        #expect(try NormFixtures.value("distance_from_init", atInit)[""] == 0)
        #expect(try NormFixtures.value("frobenius_distance", atInit)[""] == 0)
        #expect(try NormFixtures.value("dist_over_margin", atInit)[""] == 0)
    }

    /// The spectral measures combine the layers' norms as Jiang et al. write them.
    @Test func spectralCombinations() throws {
        // Diagonal weights: singular values are the absolute diagonal entries.
        let model = Sequential([
            Linear(weight: Tensor(shape: [2, 2], scalars: [2, 0, 0, -1]), bias: Tensor([0.1, 0.2])),
            ActivationLayer(.relu),
            Linear(weight: Tensor(shape: [2, 2], scalars: [0.5, 0, 0, 3]), bias: nil),
        ])
        let initial = Sequential([
            Linear(weight: Tensor(shape: [2, 2], scalars: [1, 0, 0, -1]), bias: Tensor([0, 0])),
            ActivationLayer(.relu),
            Linear(weight: Tensor(shape: [2, 2], scalars: [0.5, 1, 0, 3]), bias: nil),
        ])
        let inputs = Tensor(shape: [5, 2], scalars: [1, 0.2, 0.1, 1, 2, 0.5, 0.4, 1.5, 1, 1.1])
        let s = NormFixtures.subject(model, initial: initial, sample: NormFixtures.selfLabelled(model, inputs: inputs, classes: 2))
        let gamma = try NormFixtures.value("margin", s)[""]!
        try #require(gamma > 0)
        let logProd = log(4.0 * 9)  // σ₁² σ₂² = 2² · 3²
        #expect(abs(try NormFixtures.value("log_prod_of_spec", s)[""]! - logProd) < 1e-5)
        #expect(abs(try NormFixtures.value("sum_of_spec", s)[""]! - 2 * 6) < 1e-4)
        #expect(abs(try NormFixtures.value("log_spec_over_margin", s)[""]! - (logProd - 2 * log(gamma))) < 1e-5)
        // spec-init: Σ‖W − W⁰‖²_F/‖W‖²₂ = 1/4 + 1/9; spec-orig: Σ‖W‖²_F/‖W‖²₂ = 5/4 + 9.25/9.
        #expect(abs(try NormFixtures.value("log_spec_init", s)[""]! - (logProd - 2 * log(gamma) + log(1.0 / 4 + 1.0 / 9))) < 1e-5)
        #expect(abs(try NormFixtures.value("log_spec_orig", s)[""]! - (logProd - 2 * log(gamma) + log(5.0 / 4 + 9.25 / 9))) < 1e-5)
    }

    /// Path norm of W₂ act(W₁x + b₁) + b₂: Σ_j Σ_k W₂[j,k]² (Σ_i W₁[k,i]² + b₁[k]²) + b₂[j]², whatever the activation.
    @Test(arguments: [Activation.relu, .tanh])
    func pathNormByHand(_ activation: Activation) throws {
        let model = NormFixtures.twoLayer(activation: activation)
        let sample = NormFixtures.selfLabelled(model, inputs: NormFixtures.twoLayerInputs, classes: 3)
        let expected = Self.pathNorm(w1: model.parameters["0.weight"]!, b1: model.parameters["0.bias"]!,
                                     w2: model.parameters["2.weight"]!, b2: model.parameters["2.bias"]!)
        let s = NormFixtures.subject(model, sample: sample)
        #expect(abs(try NormFixtures.value("path_norm", s)[""]! - expected) < 1e-5 * expected)
        let gamma = try NormFixtures.value("margin", s)[""]!
        #expect(abs(try NormFixtures.value("path_norm_over_margin", s)[""]! - expected / (gamma * gamma)) < 1e-5 * expected / (gamma * gamma))
    }

    /// With a batch norm after the first layer, the path norm is that of the folded network
    /// W₁' = diag(s) W₁, b₁' = s(b₁ − μ) + β, s = γ/√(σ² + ε).
    @Test func pathNormFoldsBatchNorm() throws {
        let plain = NormFixtures.twoLayer()
        var bn = BatchNorm(channels: 2)
        bn.weight = Tensor([1.5, -0.5])
        bn.bias = Tensor([0.2, 0.4])
        bn.runningMean = Tensor([0.3, -0.1])
        bn.runningVariance = Tensor([0.8, 2])
        let model = Sequential([plain.children[0].module, bn, plain.children[1].module, plain.children[2].module])
        let scale = (0..<2).map { bn.weight!.scalars[$0] / (bn.runningVariance.scalars[$0] + bn.epsilon).squareRoot() }
        let w1 = plain.parameters["0.weight"]!, b1 = plain.parameters["0.bias"]!
        let foldedW = Tensor(shape: [2, 3], scalars: (0..<6).map { w1.scalars[$0] * scale[$0 / 3] })
        let foldedB = Tensor((0..<2).map { scale[$0] * (b1.scalars[$0] - bn.runningMean.scalars[$0]) + bn.bias!.scalars[$0] })
        let expected = Self.pathNorm(w1: foldedW, b1: foldedB, w2: plain.parameters["2.weight"]!, b2: plain.parameters["2.bias"]!)
        let s = NormFixtures.subject(model, sample: NormFixtures.selfLabelled(model, inputs: NormFixtures.twoLayerInputs, classes: 3))
        #expect(abs(try NormFixtures.value("path_norm", s)[""]! - expected) < 1e-5 * expected)
    }

    static func pathNorm(w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Double {
        let (hidden, inputs) = (w1.shape[0], w1.shape[1])
        return (0..<w2.shape[0]).reduce(0.0) { total, j in
            let paths = (0..<hidden).reduce(0.0) { sum, k in
                let into = (0..<inputs).reduce(Double(b1.scalars[k] * b1.scalars[k])) { $0 + pow(Double(w1.scalars[k * inputs + $1]), 2) }
                return sum + pow(Double(w2.scalars[j * hidden + k]), 2) * into
            }
            return total + paths + Double(b2.scalars[j] * b2.scalars[j])
        }
    }

    /// Fisher–Rao of the 3 → 2 → 3 ReLU network by hand: ⟨w, ∇_w ℓ⟩ = ⟨δz, z⟩ + ⟨δh, h⟩ with
    /// z the logits, δz = softmax(z) − e_y, h = W₁x + b₁, δh = (W₂ᵀδz) ⊙ 1[h > 0]; then
    /// (d + 1)² · mean of its square, d = 2. Without biases it is 2⟨δz, z⟩ (Liang et al.'s lemma).
    @Test(arguments: [true, false])
    func fisherRaoByHand(_ biases: Bool) throws {
        let model = NormFixtures.twoLayer(biases: biases)
        let x = NormFixtures.twoLayerInputs
        let labels = [0, 2, 1, 2]
        let sample = LabeledData(inputs: x, labels: labels, classCount: 3)
        let w1 = model.parameters["0.weight"]!.scalars.map(Double.init), w2 = model.parameters["2.weight"]!.scalars.map(Double.init)
        let b1 = model.parameters["0.bias"]?.scalars.map(Double.init) ?? [0, 0]
        let b2 = model.parameters["2.bias"]?.scalars.map(Double.init) ?? [0, 0, 0]
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0.0) { $0 + $1.0 * $1.1 } }
        var squares = 0.0
        for (row, y) in labels.enumerated() {
            let xi: [Double] = (0..<3).map { Double(x.scalars[row * 3 + $0]) }
            var h = b1, z = b2
            for k in 0..<2 { h[k] += dot(Array(w1[k * 3 ..< k * 3 + 3]), xi) }
            let a = h.map { max(0, $0) }
            for j in 0..<3 { z[j] += dot(Array(w2[j * 2 ..< j * 2 + 2]), a) }
            let m = z.max()!
            let e = z.map { exp($0 - m) }
            let total = e.reduce(0, +)
            let dz: [Double] = (0..<3).map { e[$0] / total - ($0 == y ? 1 : 0) }
            var dh = [0.0, 0.0]
            for k in 0..<2 where h[k] > 0 { for j in 0..<3 { dh[k] += w2[j * 2 + k] * dz[j] } }
            let inner = dot(dz, z) + dot(dh, h)
            if !biases { #expect(abs(inner - 2 * dot(dz, z)) < 1e-12) }
            squares += inner * inner
        }
        let expected = 9 * squares / 4
        let values = try NormFixtures.value("fisher_rao_norm", NormFixtures.subject(model, sample: sample))
        #expect(abs(values[""]! - expected) < 1e-5 * max(1, expected), "\(values) vs \(expected)")
        #expect(abs(values["mean_square"]! - squares / 4) < 1e-5 * max(1, expected))
    }

    /// On convolutional networks (max pooling, tanh; batch norm in evaluation mode), each
    /// ⟨w, ∇_w ℓ_i⟩ is the derivative of ℓ_i(f_{(1+t)w}) at t = 0: central differences of the
    /// per-row losses of the scaled networks give the same mean square.
    @Test(arguments: [("zoo-cnn", [1, 20, 20], [String: String]()), ("nin", [3, 8, 8], ["width": "6"])])
    func fisherRaoMatchesFiniteDifferences(_ name: String, _ shape: [Int], _ options: [String: String]) throws {
        let model = try ModelCatalog.make(name, options: options, input: ModelInput(shape: shape, classCount: 3), key: RandomKey(seed: 6))
        let inputs = Tensor.randomNormal([8] + shape, key: RandomKey(seed: 7))
        let sample = LabeledData(inputs: inputs, labels: [0, 1, 2, 0, 1, 2, 0, 1], classCount: 3)
        let h: Float = 1e-3
        let plus = model.with(parameters: model.parameters.mapTensors { $0 * (1 + h) })
        let minus = model.with(parameters: model.parameters.mapTensors { $0 * (1 - h) })
        let logits = try Evaluator().logits([plus, minus], inputs: inputs)
        let lp = crossEntropyRows(logits[0], sample.labels), lm = crossEntropyRows(logits[1], sample.labels)
        let numeric = zip(lp, lm).reduce(0.0) { $0 + pow(($1.0 - $1.1) / (2 * Double(h)), 2) } / Double(sample.count)
        let measured = try NormFixtures.value("fisher_rao_norm", NormFixtures.subject(model, sample: sample))["mean_square"]!
        #expect(abs(measured - numeric) < 2e-3 * numeric + 1e-6, "\(name): exact \(measured), central differences \(numeric)")
    }

    /// Members measured together (stacked for Fisher–Rao) get what each gets alone.
    @Test func stackedSubjectsEqualAlone() throws {
        let subjects = try (0..<3).map { k -> Subject in
            let model = try Fixtures.mlp(seed: UInt64(k))
            return NormFixtures.subject(model, initial: try Fixtures.mlp(seed: UInt64(k + 10)), sample: Fixtures.data, runID: "m\(k)")
        }
        for name in ["fisher_rao_norm", "log_prod_of_spec", "path_norm"] {
            let together = try NormFixtures.values(name, subjects)
            for (k, s) in subjects.enumerated() {
                let alone = try NormFixtures.value(name, s)
                #expect(abs(together[k][""]! - alone[""]!) <= 1e-5 * abs(alone[""]!), "\(name) member \(k)")
            }
        }
    }

    /// Every norm measure runs on every catalog model (small inputs) with finite values; resnet20's
    /// residual blocks are covered by ``residualBlocks()`` on a smaller network.
    @Test(arguments: [
        ("mlp", [6], ["hidden": "16"]), ("zoo-cnn", [1, 20, 20], [:]), ("lenet5", [1, 12, 12], [:]), ("cnn1d", [1, 40], [:]),
        ("nin", [3, 8, 8], ["width": "6"]),
    ])
    func everyCatalogModel(_ name: String, _ shape: [Int], _ options: [String: String]) throws {
        let key = RandomKey(seed: 8)
        let input = ModelInput(shape: shape, classCount: 3)
        let model = try ModelCatalog.make(name, options: options, input: input, key: key)
        let initial = try ModelCatalog.make(name, options: options, input: input, key: key.derived(1))
        let inputs = Tensor.randomNormal([6] + shape, key: RandomKey(seed: 9))
        try Self.expectFiniteNorms(NormFixtures.subject(model, initial: initial, sample: NormFixtures.selfLabelled(model, inputs: inputs, classes: 3)), name)
    }

    /// Residual blocks (resnet20's `BasicBlock`, with a projection shortcut and with the zero-padded
    /// one) are looked into: their convolutions are layers named as their parameters, each with
    /// its batch norm folded, and each operator norm is taken on the input the layer sees.
    @Test func residualBlocks() throws {
        let key = RandomKey(seed: 3)
        func net(_ key: RandomKey) -> Sequential {
            Sequential(named: [
                ("conv", Conv2d(3, 4, kernelSize: 3, padding: 1, bias: false, key: key.derived(0))), ("bn", BatchNorm(channels: 4)),
                ("act", ActivationLayer(.relu)),
                ("blocks", Sequential([
                    BasicBlock(inChannels: 4, outChannels: 8, stride: 2, projection: true, key: key.derived(1)),
                    BasicBlock(inChannels: 8, outChannels: 16, stride: 2, key: key.derived(2)),
                ])),
                ("pool", Pool(.globalAvg)), ("linear", Linear(inputSize: 16, outputSize: 3, key: key.derived(3))),
            ])
        }
        let model = net(key)
        let inputs = Tensor.randomNormal([4, 3, 8, 8], key: RandomKey(seed: 5))
        let s = NormFixtures.subject(model, initial: net(key.derived(9)), sample: NormFixtures.selfLabelled(model, inputs: inputs, classes: 3))
        let spectral = try NormFixtures.value("log_prod_of_spec", s)
        #expect(Set(spectral.keys) == ["", "conv", "blocks.0.conv1", "blocks.0.conv2", "blocks.0.shortcut.0", "blocks.1.conv1", "blocks.1.conv2", "linear"])
        // blocks.1.conv2 sees 16 × 2 × 2 (8 × 8 halved twice); default running statistics scale it by 1/√(1 + ε).
        let block = (model.children[3].module as! Sequential).children[1].module as! BasicBlock
        let conv = block.body.children[3].module as! Conv2d
        let scale = 1 / (1 + Float(1e-5)).squareRoot()
        let explicit = DenseReference.explicitMatrix(inputShape: [16, 2, 2]) { conv2d($0, weight: conv.weight * scale, padding: (1, 1)) }
        let expected = DenseReference.spectralNorm(explicit.matrix, rows: explicit.rows, columns: explicit.columns)
        #expect(abs(spectral["blocks.1.conv2"]! - expected) < 1e-5 * expected)
        try Self.expectFiniteNorms(s, "residual")
    }

    /// Runs every size and norm measure on `s` (few iterations) and expects finite values.
    static func expectFiniteNorms(_ s: Subject, _ label: String) throws {
        let fast = ["iterations": 12.0, "tolerance": 1e-4]
        for measure in MeasureCatalog.measures where measure.family == .norm || measure.family == .size {
            let values = try NormFixtures.value(measure.name, s, overrides: fast.filter { measure.defaults[$0.key] != nil })
            #expect(values[""].map { $0.isFinite } == true, "\(label) \(measure.name): \(values[""] as Any)")
        }
    }

    /// A layer the measures cannot look into is named in the error, not trapped on.
    @Test func unknownContainerThrows() throws {
        struct Wrapper: Module {
            var inner = Linear(inputSize: 3, outputSize: 2, key: RandomKey(seed: 1))
            var parameters: NamedTensors {
                get { inner.parameters }
                set { inner.parameters = newValue }
            }
            func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor { inner(input, context: context) }
        }
        let model = Sequential(named: [("wrapped", Wrapper())])
        let s = NormFixtures.subject(model, sample: LabeledData(inputs: .ones([2, 3]), labels: [0, 1], classCount: 2))
        for name in ["log_prod_of_fro", "log_prod_of_spec", "path_norm"] {
            #expect(throws: MeasureError.self, "\(name)") { try NormFixtures.value(name, s) }
            do { _ = try NormFixtures.value(name, s) } catch { #expect("\(error)".contains("'wrapped'"), "\(name): \(error)") }
        }
    }
}

@Suite("Norms against numpy")
struct NormsAgainstNumpyTests {

    /// A zoo-cnn's weight statistics and layer norms equal numpy's on its safetensors state
    /// (`scripts/python/measures_check.py`), to 1e-4 relative.
    @Test func zooCNNMatchesNumpy() throws {
        let model = try ModelCatalog.make("zoo-cnn", options: [:], input: ModelInput(shape: [1, 28, 28], classCount: 10), key: RandomKey(seed: 17))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-measures-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Safetensors.write(model.state, to: url)

        let check = try Python.check("measures_check.py", [url.path])
        try #require(check.status == 0, "python3 with numpy and safetensors is required (scripts/install-deps.sh): \(check.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(check.output.utf8)) as? [String: Any])
        let numpy = try #require(json["tensors"] as? [String: [String: Double]])

        let sample = LabeledData(inputs: Tensor.randomNormal([4, 1, 28, 28], key: RandomKey(seed: 18)), labels: [0, 1, 2, 3], classCount: 10)
        let s = NormFixtures.subject(model, sample: sample)
        func close(_ a: Double?, _ b: Double?, _ what: String) {
            guard let a, let b else { Issue.record("\(what): missing (\(a as Any), \(b as Any))"); return }
            #expect(abs(a - b) <= 1e-4 * abs(b) + 1e-9, "\(what): Zoo \(a), numpy \(b)")
        }
        let statistics = try NormFixtures.value("weight_statistics", s)
        #expect(Set(numpy.keys) == Set(model.parameters.names))
        for (name, reference) in numpy {
            for key in ["mean", "variance", "skew", "kurtosis", "p1", "p25", "p50", "p75", "p99", "l2"] {
                close(statistics["\(name).\(key)"], reference[key], "\(name).\(key)")
            }
        }
        let frobenius = try NormFixtures.value("log_prod_of_fro", s)
        let reshaped = try NormFixtures.value("log_prod_of_spec_reshaped", s)
        let spectral = try NormFixtures.value("log_prod_of_spec", s)
        let layers = model.parameters.names.filter { $0.hasSuffix(".weight") }.map { String($0.dropLast(".weight".count)) }
        #expect(layers.count == 5)
        for layer in layers {
            close(frobenius[layer], numpy["\(layer).weight"]?["l2"], "\(layer) Frobenius")
            close(reshaped[layer], numpy["\(layer).weight"]?["spectral"], "\(layer) reshaped spectral")
            if model.parameters["\(layer).weight"]?.rank == 2 {
                close(spectral[layer], numpy["\(layer).weight"]?["spectral"], "\(layer) spectral")
            }
        }
    }
}
