import Foundation
import ZooData
import ZooNN
import ZooTensor
import ZooTrain

/// Size and norm measures (Jiang et al. 2019, "Fantastic Generalization Measures and Where to Find
/// Them", Appendix C.2–C.5): parameter count, Frobenius and spectral norms of the layers, distance
/// from initialization, path norm, Fisher–Rao norm, and their margin-normalized forms.
///
/// Conventions shared by the measures:
/// - The *layers* are the linear and convolution layers, d of them, with weights W₁ … W_d in the
///   order of the network. Biases are not part of the layer norms (Jiang's measures use the weight
///   matrices); ``DistanceFromInit``, ``PathNorm`` and ``FisherRaoNorm`` use every parameter.
/// - A batch norm that directly follows a layer is folded into its weight, in evaluation mode:
///   W ← diag(γ/√(σ²_running + ε)) W, the linear map the pair computes (as Neyshabur et al.'s and
///   Dziugaite et al. 2020's code for these measures do); the initial network is folded with its
///   own statistics. A batch norm's parameters are otherwise not a layer.
/// - Products over layers are stored as their logarithm (`log_…`), which cannot overflow.
/// - The margin γ is the 10th-percentile output margin of ``OutputMeasures/Margin`` on the
///   sample; a margin-normalized value is +∞ when γ ≤ 0 (as ``OutputMeasures/InverseMargin``).
/// - Parts: the product measures store each layer's norm under the layer's name (`module_list.0`).
enum NormMeasures {
    static let all: [any Measure] = [
        ParameterCount(),
        LogProdOfFro(), SumOfFro(), LogFroOverMargin(), FrobeniusDistance(), DistanceFromInit(), DistOverMargin(),
        LogProdOfSpec(), LogProdOfSpecReshaped(), SumOfSpec(), LogSpecOverMargin(), LogSpecInit(), LogSpecOrig(),
        PathNorm(), PathNormOverMargin(), FisherRaoNorm(),
    ]

    // MARK: - Size

    /// The number of trainable scalars (Jiang et al. 2019, eq. 20, "params"), biases and batch-norm
    /// affine parameters included.
    struct ParameterCount: Measure {
        let name = "parameter_count", version = 1, family = MeasureFamily.size
        let summary = "number of trainable parameters (Jiang et al. 2019, eq. 20)"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            subjects.map { ["": Double($0.model.parameterCount)] }
        }
    }

    // MARK: - Frobenius norms and distance from initialization

    /// log Π_i ‖W_i‖²_F = Σ_i log ‖W_i‖²_F (Jiang et al. 2019, eq. 37, "prod-of-fro", in logs).
    /// Parts: `LAYER` = ‖W_i‖_F.
    struct LogProdOfFro: Measure {
        let name = "log_prod_of_fro", version = 1, family = MeasureFamily.norm
        let summary = "log of the product of the layers' squared Frobenius norms (Jiang et al. 2019, eq. 37)"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try subjects.map { s in
                let norms = try frobeniusNorms(s)
                return withParts(logProductOfSquares(norms), norms)
            }
        }
    }

    /// d · (Π_i ‖W_i‖²_F)^{1/d}, the arithmetic-mean bound on the product, rescaled (Jiang et al.
    /// 2019, eq. 39, "sum-of-fro"); computed from the logs.
    struct SumOfFro: Measure {
        let name = "sum_of_fro", version = 1, family = MeasureFamily.norm
        let summary = "d·(Π‖W_i‖²_F)^{1/d} over the d layers (Jiang et al. 2019, eq. 39)"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try subjects.map { ["": geometricSum(try frobeniusNorms($0))] }
        }
    }

    /// log(Π_i ‖W_i‖²_F / γ²) (Jiang et al. 2019, eq. 36, "prod-of-fro/margin", in logs).
    struct LogFroOverMargin: Measure {
        let name = "log_fro_over_margin", version = 1, family = MeasureFamily.norm
        let summary = "log of Π‖W_i‖²_F / γ², γ the 10th-percentile margin (Jiang et al. 2019, eq. 36)"
        var defaults: [String: Double] { ["percentile": 10] }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let margins = try OutputMeasures.margins(subjects, settings)
            return try zip(subjects, margins).map { s, gamma in ["": overMargin(logProductOfSquares(try frobeniusNorms(s)), gamma)] }
        }
    }

    /// Σ_i ‖W_i − W_i⁰‖²_F, W⁰ the initial weights rebuilt from the run's seed (Jiang et al. 2019,
    /// eq. 40, "frobenius-distance"; Nagarajan & Kolter 2019). Parts: `LAYER` = ‖W_i − W_i⁰‖_F.
    struct FrobeniusDistance: Measure {
        let name = "frobenius_distance", version = 1, family = MeasureFamily.norm
        let summary = "Σ‖W_i − W_i⁰‖²_F over the layers (Jiang et al. 2019, eq. 40; Nagarajan & Kolter 2019)"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try subjects.map { s in
                let distances = try distancesFromInit(s)
                return withParts(distances.reduce(0) { $0 + $1.norm * $1.norm }, distances)
            }
        }
    }

    /// ‖w − w⁰‖₂ over every parameter (weights, biases, batch-norm affine), unfolded (the distance
    /// from initialization of Jiang et al. 2019 and Nagarajan & Kolter 2019).
    struct DistanceFromInit: Measure {
        let name = "distance_from_init", version = 1, family = MeasureFamily.norm
        let summary = "‖w − w⁰‖₂ over all parameters (Jiang et al. 2019; Nagarajan & Kolter 2019)"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            subjects.map { ["": parameterDistanceSquared($0).squareRoot()] }
        }
    }

    /// ‖w − w⁰‖²₂ / γ² over every parameter (the distance of ``DistanceFromInit`` normalized by the
    /// 10th-percentile margin, as Jiang et al. 2019 normalize their norms).
    struct DistOverMargin: Measure {
        let name = "dist_over_margin", version = 1, family = MeasureFamily.norm
        let summary = "‖w − w⁰‖²₂ / γ², γ the 10th-percentile margin (Jiang et al. 2019)"
        var defaults: [String: Double] { ["percentile": 10] }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let margins = try OutputMeasures.margins(subjects, settings)
            return zip(subjects, margins).map { s, gamma in
                ["": gamma > 0 ? parameterDistanceSquared(s) / (gamma * gamma) : .infinity]
            }
        }
    }

    // MARK: - Spectral norms

    /// log Π_i ‖W_i‖²₂ = Σ_i log σ_max(A_i)², A_i the layer's linear map: for a convolution, the
    /// convolution on the input size the layer sees in the network (Sedghi et al. 2019), by
    /// ``Spectral`` (Jiang et al. 2019, eq. 32, "prod-of-spec", in logs). Parts: `LAYER` = ‖A_i‖₂.
    /// - Complexity: per convolution, up to `iterations` forward and backward passes of one sample.
    struct LogProdOfSpec: Measure {
        let name = "log_prod_of_spec", version = 1, family = MeasureFamily.norm
        let summary = "log Π‖W_i‖²₂ with convolutions' operator norms on their input size (Jiang et al. 2019, eq. 32; Sedghi et al. 2019)"
        var defaults: [String: Double] { spectralDefaults }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try spectralNorms(subjects, settings, reshaped: false).map { withParts(logProductOfSquares($0), $0) }
        }
    }

    /// log Π_i ‖W̃_i‖²₂ with W̃_i a convolution's kernel reshaped to `[out, in·kh·kw]` (block
    /// diagonal over groups) — the cheaper stand-in for the operator norm that most code uses
    /// (Miyato et al. 2018; Jiang et al. 2019, eq. 32, as often implemented). Linear layers are as
    /// in ``LogProdOfSpec``. Parts: `LAYER` = ‖W̃_i‖₂.
    struct LogProdOfSpecReshaped: Measure {
        let name = "log_prod_of_spec_reshaped", version = 1, family = MeasureFamily.norm
        let summary = "log Π‖W_i‖²₂ with conv kernels reshaped to [out, in·kh·kw] (Jiang et al. 2019, eq. 32; Miyato et al. 2018)"
        var defaults: [String: Double] { spectralDefaults }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try spectralNorms(subjects, settings, reshaped: true).map { withParts(logProductOfSquares($0), $0) }
        }
    }

    /// d · (Π_i ‖W_i‖²₂)^{1/d}, operator norms as in ``LogProdOfSpec`` (Jiang et al. 2019, eq. 35, "sum-of-spec").
    struct SumOfSpec: Measure {
        let name = "sum_of_spec", version = 1, family = MeasureFamily.norm
        let summary = "d·(Π‖W_i‖²₂)^{1/d} over the d layers, operator norms (Jiang et al. 2019, eq. 35)"
        var defaults: [String: Double] { spectralDefaults }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try spectralNorms(subjects, settings, reshaped: false).map { ["": geometricSum($0)] }
        }
    }

    /// log(Π_i ‖W_i‖²₂ / γ²), operator norms (Jiang et al. 2019, eq. 31, "prod-of-spec/margin";
    /// Bartlett et al. 2017's Lipschitz constant over the margin).
    struct LogSpecOverMargin: Measure {
        let name = "log_spec_over_margin", version = 1, family = MeasureFamily.norm
        let summary = "log of Π‖W_i‖²₂ / γ², operator norms, γ the 10th-percentile margin (Jiang et al. 2019, eq. 31)"
        var defaults: [String: Double] { spectralDefaults.merging(["percentile": 10]) { a, _ in a } }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let margins = try OutputMeasures.margins(subjects, settings)
            return zip(try spectralNorms(subjects, settings, reshaped: false), margins).map { ["": overMargin(logProductOfSquares($0), $1)] }
        }
    }

    /// log( Π_i ‖W_i‖²₂ / γ² · Σ_j ‖W_j − W_j⁰‖²_F / ‖W_j‖²₂ ), operator norms (Jiang et al. 2019,
    /// eq. 29, "spec-init": their simplification of Bartlett et al. 2017's bound, with the
    /// distance from initialization).
    struct LogSpecInit: Measure {
        let name = "log_spec_init", version = 1, family = MeasureFamily.norm
        let summary = "log of Π‖W_i‖²₂/γ² · Σ‖W_j − W_j⁰‖²_F/‖W_j‖²₂ (Jiang et al. 2019, eq. 29; Bartlett et al. 2017)"
        var defaults: [String: Double] { spectralDefaults.merging(["percentile": 10]) { a, _ in a } }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let margins = try OutputMeasures.margins(subjects, settings)
            let spectral = try spectralNorms(subjects, settings, reshaped: false)
            return try subjects.indices.map { k in
                let distances = try distancesFromInit(subjects[k])
                let ratio = zip(distances, spectral[k]).reduce(0.0) { $0 + $1.0.norm * $1.0.norm / ($1.1.norm * $1.1.norm) }
                return ["": overMargin(logProductOfSquares(spectral[k]) + log(ratio), margins[k])]
            }
        }
    }

    /// log( Π_i ‖W_i‖²₂ / γ² · Σ_j ‖W_j‖²_F / ‖W_j‖²₂ ), operator norms (Jiang et al. 2019, eq. 30,
    /// "spec-orig": ``LogSpecInit`` measured from the origin).
    struct LogSpecOrig: Measure {
        let name = "log_spec_orig", version = 1, family = MeasureFamily.norm
        let summary = "log of Π‖W_i‖²₂/γ² · Σ‖W_j‖²_F/‖W_j‖²₂ (Jiang et al. 2019, eq. 30; Bartlett et al. 2017)"
        var defaults: [String: Double] { spectralDefaults.merging(["percentile": 10]) { a, _ in a } }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let margins = try OutputMeasures.margins(subjects, settings)
            let spectral = try spectralNorms(subjects, settings, reshaped: false)
            return try subjects.indices.map { k in
                let frobenius = try frobeniusNorms(subjects[k])
                let ratio = zip(frobenius, spectral[k]).reduce(0.0) { $0 + $1.0.norm * $1.0.norm / ($1.1.norm * $1.1.norm) }
                return ["": overMargin(logProductOfSquares(spectral[k]) + log(ratio), margins[k])]
            }
        }
    }

    // MARK: - Path norm and Fisher–Rao norm

    /// Σ_j f_{w²}(𝟏)_j: the network with every parameter squared, applied to an input of ones, its
    /// outputs summed (Jiang et al. 2019, eq. 44; the ℓ₂ path norm of Neyshabur et al. 2015,
    /// Σ over input–output paths of the product of the squared weights along the path, biases as
    /// paths from a unit input).
    ///
    /// Evaluation mode; a batch norm is first folded into the layer before it (or, alone, made
    /// the affine map it computes) and the folded parameters are squared. Every activation is
    /// replaced by the identity: for ReLU networks this is exactly Jiang's f_{w²}(𝟏), since every
    /// pre-activation of that pass is non-negative; for other activations (tanh saturates at 1
    /// and would measure nothing) it is the path norm of the network's linear skeleton, a
    /// documented deviation. Pooling is kept as the network has it (average pooling sums paths
    /// with weights 1/k, max pooling keeps the largest). Throws for layers it cannot square
    /// (layer and group norm).
    struct PathNorm: Measure {
        let name = "path_norm", version = 1, family = MeasureFamily.norm
        let summary = "Σ f_{w²}(1): outputs of the squared-weight network on ones (Jiang et al. 2019, eq. 44; Neyshabur et al. 2015)"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try subjects.map { ["": try pathNorm($0)] }
        }
    }

    /// Σ_j f_{w²}(𝟏)_j / γ² (Jiang et al. 2019, eq. 43, "path-norm/margin"); see ``PathNorm``.
    struct PathNormOverMargin: Measure {
        let name = "path_norm_over_margin", version = 1, family = MeasureFamily.norm
        let summary = "path norm Σ f_{w²}(1) over γ², γ the 10th-percentile margin (Jiang et al. 2019, eq. 43)"
        var defaults: [String: Double] { ["percentile": 10] }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let margins = try OutputMeasures.margins(subjects, settings)
            return try zip(subjects, margins).map { s, gamma in ["": gamma > 0 ? try pathNorm(s) / (gamma * gamma) : .infinity] }
        }
    }

    /// (d + 1)² · (1/m) Σ_i ⟨w, ∇_w ℓ(f_w(x_i), y_i)⟩² over the m samples, w every parameter, ℓ the
    /// cross-entropy with the sample's labels (Jiang et al. 2019, eq. 45, "fisher-rao", after
    /// Liang et al. 2019's Fisher–Rao norm ‖w‖²_fr = ⟨w, I(w) w⟩ with the empirical Fisher
    /// information I(w) = E[∇ℓ ∇ℓᵀ]).
    ///
    /// Part `mean_square`: (1/m) Σ_i ⟨w, ∇_w ℓ_i⟩², Liang et al.'s empirical ‖w‖²_fr itself. Jiang's
    /// factor (d + 1)² comes from Liang's identity ⟨w, ∇_w ℓ⟩ = (L + 1)⟨∂ℓ/∂f, f⟩ for bias-free
    /// ReLU networks of L + 1 layers, where the norm is written with the output gradient instead;
    /// applied to the parameter-gradient form it scales that norm by a constant of the architecture.
    ///
    /// Each ⟨w, ∇_w ℓ_i⟩ is exact: a directional derivative per row, taken by double backward (the
    /// gradient with respect to row weights u of ⟨w, ∇_w Σ_i u_i ℓ_i⟩), members stacked by the
    /// ``Evaluator``. Evaluation mode.
    struct FisherRaoNorm: Measure {
        let name = "fisher_rao_norm", version = 1, family = MeasureFamily.norm
        let summary = "(d+1)²·mean ⟨w, ∇_w ℓ(f_w(x), y)⟩² over the sample (Jiang et al. 2019, eq. 45; Liang et al. 2019)"
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let d = Double(try WeightLayer.layers(of: subjects[0].model).count)
            return try fisherRaoMeanSquares(subjects).map { ["": (d + 1) * (d + 1) * $0, "mean_square": $0] }
        }
    }
}

// MARK: - Shared computations

extension NormMeasures {
    /// A layer's name and one of its norms.
    typealias LayerNorm = (name: String, norm: Double)

    /// At most 100 products with AᵀA per layer, until σ² grows by less than 10⁻¹⁰ relative twice
    /// in a row. A looser tolerance stops early when the top two singular values nearly coincide
    /// (a zoo-cnn's first convolution at init: σ₁ = 2.0435273, σ₂ = 2.0435200; 10⁻⁶ stopped at
    /// 2.0435211, 10⁻¹⁰ gives numpy's SVD of the explicit matrix to 10⁻⁸).
    static let spectralDefaults: [String: Double] = ["iterations": 100, "tolerance": 1e-10]

    /// ‖W_i‖_F of each layer (batch norm folded).
    static func frobeniusNorms(_ s: Subject) throws -> [LayerNorm] {
        try nonEmpty(WeightLayer.layers(of: s.model), s).map { ($0.name, sumOfSquares($0.weight).squareRoot()) }
    }

    /// ‖W_i − W_i⁰‖_F of each layer (batch norm folded in both).
    static func distancesFromInit(_ s: Subject) throws -> [LayerNorm] {
        let now = try nonEmpty(WeightLayer.layers(of: s.model), s), initial = try WeightLayer.layers(of: s.initial)
        guard initial.map(\.name) == now.map(\.name) else {
            throw MeasureError(description: "run \(s.runID): the initial network's layers \(initial.map(\.name)) differ from the checkpoint's \(now.map(\.name))")
        }
        return zip(now, initial).map { a, b in
            (a.name, zip(a.weight.scalars, b.weight.scalars).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot())
        }
    }

    /// ‖w − w⁰‖²₂ over every parameter.
    static func parameterDistanceSquared(_ s: Subject) -> Double {
        let initial = s.initial.parameters
        return s.model.parameters.reduce(0.0) { total, entry in
            guard let w0 = initial[entry.name] else { return total }
            return total + zip(entry.tensor.scalars, w0.scalars).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        }
    }

    /// σ_max of every layer of every subject: operator norms (convolutions on the input size
    /// they see, found by running the first sample) or reshaped-kernel norms. Subjects in parallel.
    static func spectralNorms(_ subjects: [Subject], _ settings: MeasureSettings, reshaped: Bool) throws -> [[LayerNorm]] {
        let steps = max(1, Int(settings["iterations"])), tolerance = settings["tolerance"]
        let layers = try subjects.map { try nonEmpty(WeightLayer.layers(of: $0.model), $0) }
        var found: [String: [Int]] = [:]
        if !reshaped, layers[0].contains(where: { if case .linear = $0.kind { return false }; return true }) {
            let sample = subjects[0].sample
            guard sample.count > 0 else { throw MeasureError(description: "the sample is empty: a convolution's operator norm needs one input to find its size") }
            found = try Spectral.inputShapes(of: subjects[0].model, input: sample.inputs.sliced(axis: 0, 0..<1))
        }
        let shapes = found
        let results = PopulationTrainer.forEachSlice(subjects.count) { k -> Result<[LayerNorm], Error> in
            Result {
                try layers[k].map { layer in
                    let key = settings.key("spectral_norm", subjects[k]).derived(layer.name)
                    if reshaped { return (layer.name, Spectral.reshapedNorm(layer, steps: steps, tolerance: tolerance, key: key)) }
                    if case .linear = layer.kind { return (layer.name, Spectral.reshapedNorm(layer, steps: steps, tolerance: tolerance, key: key)) }
                    guard let shape = shapes[layer.name] else {
                        throw MeasureError(description: "layer '\(layer.name)' received no input when the first sample was run through the network")
                    }
                    return (layer.name, Spectral.operatorNorm(layer, inputShape: shape, steps: steps, tolerance: tolerance, key: key))
                }
            }
        }
        return try results.map { try $0.get() }
    }

    /// The path norm Σ_j f_{w²}(𝟏)_j of ``PathNorm``.
    static func pathNorm(_ s: Subject) throws -> Double {
        let skeleton = try squaredSkeleton(s.model, path: [])
        let ones = Tensor.ones([1] + Array(s.sample.inputs.shape.dropFirst()))
        return withoutGradients { skeleton.inferring(ones) }.scalars.reduce(0.0) { $0 + Double($1) }
    }

    /// The network whose forward pass on ones is the path norm: batch norms folded, parameters
    /// squared, activations the identity.
    static func squaredSkeleton(_ module: any Module, path: [String]) throws -> any Module {
        let name = path.joined(separator: ".")
        switch module {
        case let s as Sequential:
            return try squaredSequential(s, path: path)
        case var block as BasicBlock:
            block.body = try squaredSequential(block.body, path: path)
            if let shortcut = block.shortcut { block.shortcut = try squaredSequential(shortcut, path: path + ["shortcut"]) }
            block.activation = .identity
            return block
        case let bn as BatchNorm:
            // Alone, a batch norm in evaluation mode is x ↦ s·x + t per channel: square s and t.
            let (scale, shift) = WeightLayer.affine(of: bn)
            var affine = BatchNorm(channels: bn.channels, epsilon: 0)
            affine.weight = Tensor(shape: [bn.channels], scalars: scale.map { $0 * $0 })
            affine.bias = Tensor(shape: [bn.channels], scalars: shift.map { $0 * $0 })
            return affine
        case is ActivationLayer, is PReLU:
            return ActivationLayer(.identity)
        case is Dropout, is Flatten, is Pool:
            return module
        default:
            guard WeightLayer(module, name: name) != nil else {
                throw MeasureError(description: "path_norm: layer '\(name)' (\(type(of: module))) has no path-norm form; "
                    + "it applies to linear, convolution, batch-norm, activation, pooling and dropout layers")
            }
            var squared = module
            squared.parameters = module.parameters.mapTensors { $0 * $0 }
            return squared
        }
    }

    /// ``squaredSkeleton(_:path:)`` of each child, after folding each batch norm into the layer before it.
    static func squaredSequential(_ sequential: Sequential, path: [String]) throws -> Sequential {
        var s = sequential
        for i in s.children.indices.dropFirst() {
            if let bn = s.children[i].module as? BatchNorm, let folded = WeightLayer.folding(bn, into: s.children[i - 1].module) {
                s.children[i - 1].module = folded
                s.children[i].module = ActivationLayer(.identity)
            }
        }
        for i in s.children.indices {
            s.children[i].module = try squaredSkeleton(s.children[i].module, path: path + [s.children[i].name])
        }
        return s
    }

    /// (1/m) Σ_i ⟨w, ∇_w ℓ_i⟩² per subject, members stacked.
    static func fisherRaoMeanSquares(_ subjects: [Subject]) throws -> [Double] {
        let sample = subjects[0].sample
        guard sample.count > 0 else { throw MeasureError(description: "fisher_rao_norm: the sample is empty") }
        let evaluator = Evaluator()
        return try evaluator.forEachPopulation(subjects.map(\.model)) { population, count in
            var sums = [Double](repeating: 0, count: count)
            for start in stride(from: 0, to: sample.count, by: evaluator.batchRows) {
                let range = start ..< min(sample.count, start + evaluator.batchRows)
                let tracked = population.parameters.detached().requiringGradient()
                population.parameters = tracked
                let rows = evaluator.memberRows(&population, count: count, data: sample, rows: range)
                let rowWeights = Tensor.ones(rows.shape).requiringGradient()
                let g = gradients(of: (rows * rowWeights).sum(), wrt: tracked, createGraph: true)
                var inner: Tensor?
                for (name, gw) in g {
                    let term = (gw * tracked[name]!.detached()).sum()
                    inner = inner.map { $0 + term } ?? term
                }
                let directional = gradient(of: inner!, wrt: rowWeights).scalars  // ⟨w, ∇ℓ_i⟩, member-major
                let n = range.count
                for k in 0..<count {
                    for r in 0..<n { sums[k] += Double(directional[k * n + r]) * Double(directional[k * n + r]) }
                }
                population.parameters = tracked.detached()
            }
            return sums.map { $0 / Double(sample.count) }
        }
    }

    static func sumOfSquares(_ t: Tensor) -> Double { t.scalars.reduce(0.0) { $0 + Double($1) * Double($1) } }

    /// Σ_i log ‖·‖²_i.
    static func logProductOfSquares(_ norms: [LayerNorm]) -> Double { norms.reduce(0.0) { $0 + 2 * log($1.norm) } }

    /// d · (Π_i ‖·‖²_i)^{1/d}.
    static func geometricSum(_ norms: [LayerNorm]) -> Double {
        Double(norms.count) * exp(logProductOfSquares(norms) / Double(norms.count))
    }

    /// log(X / γ²) from log X: +∞ when γ ≤ 0.
    static func overMargin(_ logValue: Double, _ gamma: Double) -> Double { gamma > 0 ? logValue - 2 * log(gamma) : .infinity }

    /// `value` under `""` and each layer's norm under its name (a network that is one bare
    /// layer, whose name is empty, has no parts).
    static func withParts(_ value: Double, _ norms: [LayerNorm]) -> [String: Double] {
        var out = Dictionary(norms.map { ($0.name, $0.norm) }, uniquingKeysWith: { a, _ in a })
        out[""] = value
        return out
    }

    private static func nonEmpty(_ layers: [WeightLayer], _ s: Subject) throws -> [WeightLayer] {
        guard !layers.isEmpty else {
            throw MeasureError(description: "run \(s.runID): the network has no linear or convolution layer, so no layer norms")
        }
        return layers
    }
}
