import Foundation
import ZooData
import ZooNN
import ZooTensor

/// Measures of two members: how similar their representations are layer by layer (CKA), how
/// often their predictions differ, and how far apart their weights are — the
/// representation-similarity axis of the Phase Transitions Model Zoo (Schürholt et al. 2025)
/// and of Yang et al. 2021's loss-landscape taxonomy.
///
/// A call receives many pairs; each distinct member (run and epoch) is evaluated once.
enum PairwiseMeasures {
    static let all: [any PairMeasure] = [CKA(), PredictionDisagreement(), WeightDistance()]

    /// Linear centred kernel alignment (Kornblith et al. 2019, "Similarity of Neural Network
    /// Representations Revisited", ICML) of the two members' representations X `[n, D₁]`, Y
    /// `[n, D₂]` of the first n = `examples` (default 500) rows of the sample (the probe set),
    /// layer by layer (see ``FeatureExtractor`` for the layers and their names):
    ///
    ///     CKA(X, Y) = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F),   X, Y with centred columns,
    ///
    /// equivalently ⟨HKH, HLH⟩ / (‖HKH‖ ‖HLH‖) for the Gram matrices K = XXᵀ, L = YYᵀ. In [0, 1],
    /// invariant to orthogonal transforms and isotropic scaling of either representation. Keys:
    /// each layer's name, and `""` for the penultimate representation (the input of the final
    /// linear map; absent for a model without one). NaN for a constant representation.
    /// - Complexity: one forward pass over n rows per member; per layer, the smaller of D×D and
    ///   n×n floats kept per member, and per pair min(D₁D₂n, n²) multiply-adds.
    struct CKA: PairMeasure {
        let name = "cka", version = 1
        let summary = "linear CKA of each layer's representations on a probe set (Kornblith et al. 2019)"
        var defaults: [String: Double] { ["examples": 500] }
        func values(of pairs: [(Subject, Subject)], settings: MeasureSettings) throws -> [[String: Double]] {
            let (members, index) = PairwiseMeasures.distinct(pairs)
            guard members[0].sample.count > 0 else { throw MeasureError(description: "\(name): the sample is empty") }
            let representations = try members.map { s -> [String: CentredRepresentation] in
                let n = Int(settings["examples"])
                let probe = n >= s.sample.count ? s.sample.inputs : s.sample.inputs.sliced(axis: 0, 0 ..< max(1, n))
                let extractor = try FeatureExtractor(s.model, modelName: s.config.model.name)
                var out: [String: CentredRepresentation] = [:]
                extractor.forEachLayer(probe) { name, x in out[name] = CentredRepresentation(x) }
                if extractor.head != nil { out[""] = CentredRepresentation(try extractor.penultimate(probe)) }
                return out
            }
            return index.map { a, b in
                var out: [String: Double] = [:]
                for (layer, x) in representations[a] {
                    if let y = representations[b][layer] { out[layer] = x.alignment(with: y) }
                }
                return out
            }
        }
    }

    /// The fraction of the sample on which the two members' predicted classes (argmax of the
    /// logits, evaluation mode) differ: the "disagreement" of Nakkiran & Bansal 2020 and of the
    /// Phase Transitions Model Zoo's similarity axis. Members are evaluated stacked.
    struct PredictionDisagreement: PairMeasure {
        let name = "prediction_disagreement", version = 1
        let summary = "fraction of the sample where two members' predicted classes differ (Nakkiran & Bansal 2020)"
        func values(of pairs: [(Subject, Subject)], settings: MeasureSettings) throws -> [[String: Double]] {
            let (members, index) = PairwiseMeasures.distinct(pairs)
            let sample = members[0].sample
            guard sample.count > 0 else { throw MeasureError(description: "\(name): the sample is empty") }
            let predictions = try Evaluator().logits(members.map(\.model), inputs: sample.inputs).map(argmaxRows)
            return index.map { a, b in
                ["": Double(zip(predictions[a], predictions[b]).reduce(0) { $0 + ($1.0 == $1.1 ? 0 : 1) }) / Double(sample.count)]
            }
        }
    }

    /// The Euclidean distance ‖w_a − w_b‖₂ between the two members' parameter vectors (all
    /// parameters, no buffers): the weight-space distance of Yang et al. 2021's taxonomy.
    /// Meaningful only up to the networks' symmetries (permutations of hidden units are not aligned).
    /// - Throws: ``MeasureError`` when the members' parameters differ in names or shapes.
    struct WeightDistance: PairMeasure {
        let name = "weight_distance", version = 1
        let summary = "Euclidean distance between two members' weights (Yang et al. 2021's taxonomy)"
        func values(of pairs: [(Subject, Subject)], settings: MeasureSettings) throws -> [[String: Double]] {
            try pairs.map { a, b in
                try PairwiseMeasures.checkArchitectures(a, b, measure: name)
                let pa = a.model.parameters, pb = b.model.parameters
                var sum = 0.0
                for (x, y) in zip(pa.tensors, pb.tensors) {
                    for (u, v) in zip(x.scalars, y.scalars) { sum += (Double(u) - Double(v)) * (Double(u) - Double(v)) }
                }
                return ["": sum.squareRoot()]
            }
        }
    }

    /// Checks that the two members' parameters and buffers have the same names and shapes.
    /// - Throws: ``MeasureError`` naming `measure`, the runs and the first tensor that differs.
    static func checkArchitectures(_ a: Subject, _ b: Subject, measure: String) throws {
        for (kind, ta, tb) in [("parameter", a.model.parameters, b.model.parameters), ("buffer", a.model.buffers, b.model.buffers)] {
            if ta.names == tb.names && zip(ta.tensors, tb.tensors).allSatisfy({ $0.shape == $1.shape }) { continue }
            let at = zip(ta, tb).first { $0.name != $1.name || $0.tensor.shape != $1.tensor.shape }
            throw MeasureError(description: "\(measure): runs \(a.runID) (\(a.config.model.name)) and \(b.runID) (\(b.config.model.name)) "
                + "have different architectures"
                + (at.map { ": '\($0.0.name)' \($0.0.tensor.shape) against '\($0.1.name)' \($0.1.tensor.shape)" }
                    ?? ": \(ta.count) against \(tb.count) \(kind) tensors"))
        }
    }

    /// The distinct members of `pairs` (by run and epoch) and each pair as indices into them.
    static func distinct(_ pairs: [(Subject, Subject)]) -> (members: [Subject], index: [(Int, Int)]) {
        var members: [Subject] = [], position: [String: Int] = [:]
        func id(_ s: Subject) -> Int {
            let key = "\(s.runID)\u{1F}\(s.epoch)"
            if let i = position[key] { return i }
            members.append(s)
            position[key] = members.count - 1
            return members.count - 1
        }
        let index = pairs.map { (id($0.0), id($0.1)) }
        return (members, index)
    }
}

/// A representation `[n, D]` with centred columns, kept in whichever form is smaller: the
/// features themselves when D < n, else their Gram matrix `[n, n]`; with ‖XᵀX‖_F = ‖XXᵀ‖_F.
struct CentredRepresentation {
    /// Centred features `[n, D]` or the centred Gram matrix `[n, n]`.
    var matrix: Tensor
    var isGram: Bool
    /// ‖XᵀX‖_F.
    var norm: Double

    init(_ x: Tensor) {
        let centred = centredColumns(x.reshaped([x.shape[0], -1]))
        let (n, d) = (centred.shape[0], centred.shape[1])
        isGram = d >= n
        matrix = isGram ? matmulTransposingB(centred, centred) : centred
        norm = Self.frobeniusNorm(isGram ? matrix : matmulTransposingA(centred, centred))
    }

    /// ‖t‖_F, accumulated in double precision.
    static func frobeniusNorm(_ t: Tensor) -> Double {
        t.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    /// The Gram matrix XXᵀ `[n, n]`.
    var gram: Tensor { isGram ? matrix : matmulTransposingB(matrix, matrix) }

    /// Linear CKA with `other` (same rows): ⟨XXᵀ, YYᵀ⟩ / (‖XᵀX‖ ‖YᵀY‖).
    func alignment(with other: CentredRepresentation) -> Double {
        let inner: Double
        if !isGram && !other.isGram {
            let cross = Self.frobeniusNorm(matmulTransposingA(other.matrix, matrix))
            inner = cross * cross
        } else {
            let a = gram.scalars, b = other.gram.scalars
            var s = 0.0
            for i in a.indices { s += Double(a[i]) * Double(b[i]) }
            inner = s
        }
        return inner / (norm * other.norm)
    }
}

/// Linear CKA (Kornblith et al. 2019) of two representations `[n, D₁]`, `[n, D₂]` of the same n
/// examples: ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) after centring the columns. 1 for X against itself,
/// invariant to orthogonal transforms and isotropic scaling; NaN when either is constant.
public func linearCKA(_ x: Tensor, _ y: Tensor) -> Double {
    precondition(x.rank >= 1 && y.rank >= 1 && x.shape[0] == y.shape[0], "linearCKA: \(x.shape) and \(y.shape) differ in rows")
    return CentredRepresentation(x).alignment(with: CentredRepresentation(y))
}
