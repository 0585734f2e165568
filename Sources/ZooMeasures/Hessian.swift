import Foundation
import ZooData
import ZooNN
import ZooTensor

// The Hessian of the mean cross-entropy on the sample, H = ∇²L(w) over every parameter, seen only
// through Hessian-vector products (the engine's double backward): its trace by Hutchinson's
// estimator and its largest eigenvalue by power iteration. The routines take the products as a
// closure, so they are tested on matrices with known spectra as well as on networks.

extension FlatnessMeasures {
    /// Products of several Hessians with vectors, in one batch: `vectors[i]` is multiplied by the
    /// Hessian of problem `owners[i]`; the results in the same order.
    typealias HessianProducts = (_ owners: [Int], _ vectors: [[Double]]) throws -> [[Double]]

    /// Trace of the Hessian by Hutchinson's estimator (Hutchinson 1989; for networks, Yao et al.
    /// 2020, PyHessian): Tr H = E[vᵀHv] for v with independent Rademacher (±1) entries,
    /// estimated by the mean over `draws` vectors, with its standard error s/√draws (key
    /// `standard_error`; the variance of one draw is 2 Σ_{i≠j} H_ij², so a diagonal Hessian is
    /// exact). Deterministic: the vectors come from `settings.key`.
    ///
    /// - Complexity: `draws` Hessian-vector products (each about two and a half gradient passes
    ///   over the sample), all draws of all subjects as one stacked population. The default of 10
    ///   draws costs about 9 s of CPU per zoo-cnn checkpoint with 5,000 rows (release build;
    ///   0.8 s per product), with a standard error near a fifth of the trace on a briefly trained
    ///   zoo-cnn: raise `draws` for a finer estimate (the error shrinks as 1/√draws).
    struct HessianTrace: Measure {
        let name = "hessian_trace", version = 1, family = MeasureFamily.flatness
        let summary = "trace of the loss Hessian by Hutchinson's estimator with Rademacher vectors (Yao et al. 2020, PyHessian)"
        var defaults: [String: Double] { ["draws": 10] }

        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let layout = ParameterLayout(subjects[0].model.parameters)
            let estimates = try FlatnessMeasures.hutchinsonTraces(
                dimensions: subjects.map { _ in layout.count }, draws: try positive(settings, "draws"),
                keys: subjects.map { settings.key(name, $0) }, products: networkProducts(subjects, layout))
            return estimates.map { ["": $0.trace, "standard_error": $0.standardError] }
        }
    }

    /// Largest eigenvalue λ_max of the Hessian (Yao et al. 2020; Keskar et al. 2017 use it as
    /// sharpness) by power iteration v ← Hv/‖Hv‖ from a random unit vector, with the Rayleigh
    /// quotient vᵀHv as the estimate, until two estimates agree within `tolerance` (relative) or
    /// after `iterations` products. Power iteration finds the eigenvalue of largest magnitude; when
    /// that one is negative (away from a minimum), a second power iteration on the positive
    /// semi-definite H − λI gives λ_max = λ + its top eigenvalue. Key `iterations`: the products used.
    ///
    /// - Complexity: at most 2 × `iterations` Hessian-vector products, every subject's product of
    ///   one iteration in one stacked population: about 7 iterations and 5 s of CPU per zoo-cnn
    ///   checkpoint with 5,000 rows (release build).
    struct HessianTopEigenvalue: Measure {
        let name = "hessian_top_eigenvalue", version = 1, family = MeasureFamily.flatness
        let summary = "largest eigenvalue of the loss Hessian by power iteration on Hessian-vector products (Yao et al. 2020; Keskar et al. 2017)"
        var defaults: [String: Double] { ["iterations": 20, "tolerance": 1e-3] }

        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            let layout = ParameterLayout(subjects[0].model.parameters)
            let results = try FlatnessMeasures.topEigenvalues(
                dimensions: subjects.map { _ in layout.count }, iterations: try positive(settings, "iterations"),
                tolerance: settings["tolerance"], keys: subjects.map { settings.key(name, $0) },
                products: networkProducts(subjects, layout))
            return results.map { ["": $0.value, "iterations": Double($0.iterations)] }
        }
    }

    /// Hessian-vector products of the subjects' mean cross-entropy on their sample, through the
    /// ``Evaluator`` (stacked, in chunks that bound memory).
    static func networkProducts(_ subjects: [Subject], _ layout: ParameterLayout) -> HessianProducts {
        { owners, vectors in
            let pairs = Array(zip(owners, vectors))
            return try chunked(pairs, scalars: layout.count) { part in
                try Evaluator().hessianVectorProducts(part.map { subjects[$0.0].model }, vectors: part.map { layout.tensors($0.1) },
                                                      on: subjects[0].sample).map(layout.flatten)
            }
        }
    }

    /// Hutchinson's estimate of each problem's trace from `draws` Rademacher vectors (from
    /// `keys[p].derived(draw)`), all products in one call; the standard error is s/√draws
    /// (0 for one draw).
    static func hutchinsonTraces(dimensions: [Int], draws: Int, keys: [RandomKey],
                                 products: HessianProducts) throws -> [(trace: Double, standardError: Double)] {
        var owners: [Int] = [], vectors: [[Double]] = []
        for (p, n) in dimensions.enumerated() {
            for j in 0..<draws {
                owners.append(p)
                vectors.append(keys[p].derived(j).uniform(count: n).map { $0 < 0.5 ? -1 : 1 })
            }
        }
        let hv = try products(owners, vectors)
        var samples = [[Double]](repeating: [], count: dimensions.count)
        for i in owners.indices { samples[owners[i]].append(dot(vectors[i], hv[i])) }
        return samples.map { s in
            let mean = s.reduce(0, +) / Double(s.count)
            guard s.count > 1 else { return (mean, 0) }
            let variance = s.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(s.count - 1)
            return (mean, (variance / Double(s.count)).squareRoot())
        }
    }

    /// Each problem's largest eigenvalue (see ``HessianTopEigenvalue``) and the products it took.
    static func topEigenvalues(dimensions: [Int], iterations: Int, tolerance: Double, keys: [RandomKey],
                               products: HessianProducts) throws -> [(value: Double, iterations: Int)] {
        var results = try powerIteration(dimensions: dimensions, iterations: iterations, tolerance: tolerance,
                                         keys: keys, products: products)
        let negative = results.indices.filter { results[$0].value < 0 }
        guard !negative.isEmpty else { return results }
        // λ is (nearly) the most negative eigenvalue, so H − λI is positive semi-definite and its
        // top eigenvalue, found by the same iteration, is λ_max − λ.
        let shifts = negative.map { results[$0].value }
        let shifted = try powerIteration(
            dimensions: negative.map { dimensions[$0] }, iterations: iterations, tolerance: tolerance,
            keys: negative.map { keys[$0].derived("shifted") }
        ) { owners, vectors in
            let hv = try products(owners.map { negative[$0] }, vectors)
            return owners.indices.map { i in zip(hv[i], vectors[i]).map { $0 - shifts[owners[i]] * $1 } }
        }
        for (k, p) in negative.enumerated() {
            results[p] = (shifts[k] + shifted[k].value, results[p].iterations + shifted[k].iterations)
        }
        return results
    }

    /// Power iteration for the eigenvalue of largest magnitude, all unfinished problems' products
    /// of one iteration in one call.
    static func powerIteration(dimensions: [Int], iterations: Int, tolerance: Double, keys: [RandomKey],
                               products: HessianProducts) throws -> [(value: Double, iterations: Int)] {
        var v = dimensions.indices.map { p in normalized(keys[p].normal(count: dimensions[p]).map(Double.init)) }
        var value = [Double](repeating: 0, count: dimensions.count), used = [Int](repeating: 0, count: dimensions.count)
        var active = Array(dimensions.indices)
        for k in 1...max(1, iterations) where !active.isEmpty {
            let hv = try products(active, active.map { v[$0] })
            var next: [Int] = []
            for (i, p) in active.enumerated() {
                let estimate = dot(v[p], hv[i]), norm = dot(hv[i], hv[i]).squareRoot()
                let settled = k > 1 && abs(estimate - value[p]) <= tolerance * abs(estimate)
                value[p] = estimate
                used[p] = k
                guard norm > 0 else { continue }  // Hv = 0: v is in the null space and 0 is the answer
                v[p] = hv[i].map { $0 / norm }
                if !settled { next.append(p) }
            }
            active = next
        }
        return zip(value, used).map { ($0, $1) }
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }

    static func normalized(_ v: [Double]) -> [Double] {
        let n = dot(v, v).squareRoot()
        return n > 0 ? v.map { $0 / n } : v
    }
}
