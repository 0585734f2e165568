import Foundation
import ZooStore

/// Predicting a member's accuracy from its weights alone, as Unterthiner et al. 2020 ("Predicting
/// Neural Network Accuracy from Weights", the Small CNN Zoo) and Schürholt et al. 2022 (Model
/// Zoos) do: the features are the `weight_statistics` measure of each run's checkpoint at one
/// epoch (per-tensor mean, variance, skew, kurtosis, percentiles, ℓ₂), the members (runs, not
/// checkpoints) are split into train and test with a seeded shuffle, and ridge regression
/// (λ by k-fold cross-validation on the train members) and gradient-boosted trees are fitted on
/// the train members and scored on the held-out ones by R² = 1 − Σ(y − ŷ)²/Σ(y − ȳ)² and Kendall's τ.
public struct AccuracyPrediction: Sendable {
    /// The regression models.
    public enum Model: String, Sendable, CaseIterable, Codable {
        case ridge, trees
    }

    /// Which checkpoint of each run.
    public enum Epoch: Sendable, Equatable {
        /// The last epoch with metrics.
        case final
        case number(Int)
    }

    /// One member's features and target.
    public struct Member: Sendable {
        public var run: String
        public var epoch: Int
        public var features: [Double]
        public var target: Double
    }

    /// A member left out, and why.
    public struct Missing: Sendable, Equatable {
        public var run: String
        public var reason: String
    }

    /// A held-out member's true and predicted target.
    public struct Prediction: Sendable, Equatable, Codable {
        public var run: String
        public var truth: Double
        public var predicted: Double
    }

    /// One model's scores on the held-out members.
    public struct Result: Sendable {
        public var model: Model
        public var r2: Double
        public var tau: Double
        /// R² on the train members (how well the model fits what it saw).
        public var trainR2: Double
        /// Ridge: the λ chosen by cross-validation.
        public var lambda: Double?
        public var predictions: [Prediction]
    }

    /// The feature names in column order (sorted): `weight_statistics` and `weight_statistics.tNN.STAT`
    /// (see ``positional(_:)``).
    public var features: [String]
    public var members: [Member]
    public var missing: [Missing]
    public var train: [Member]
    public var test: [Member]
    public var results: [Result] = []

    /// A run's weight statistics under positional names: `weight_statistics` (‖w‖₂ over all
    /// parameters) and `weight_statistics.tNN.STAT` for the NN-th parameter tensor in the natural
    /// order of its dotted name (numeric parts compared as numbers). Members whose layer indices
    /// shift — a dropout layer inserted before a convolution renames `module_list.3` to
    /// `module_list.4` — then line up tensor by tensor, as the papers' per-layer features do.
    static func positional(_ keys: [String: Double]) -> [String: Double] {
        var out: [String: Double] = [:]
        var tensors: [String: [String: Double]] = [:]
        for (key, value) in keys {
            guard let dot = key.lastIndex(of: ".") else { if key.isEmpty { out["weight_statistics"] = value }; continue }
            tensors[String(key[..<dot]), default: [:]][String(key[key.index(after: dot)...])] = value
        }
        for (position, name) in tensors.keys.sorted(by: naturalOrder).enumerated() {
            for (stat, value) in tensors[name]! { out["weight_statistics." + (position < 10 ? "t0" : "t") + "\(position).\(stat)"] = value }
        }
        return out
    }

    /// Dotted names compared part by part, numeric parts as numbers: `a.9.w` < `a.11.w`.
    static func naturalOrder(_ a: String, _ b: String) -> Bool {
        let x = a.split(separator: "."), y = b.split(separator: ".")
        for (p, q) in zip(x, y) where p != q {
            if let i = Int(p), let j = Int(q) { return i < j }
            return p < q
        }
        return x.count < y.count
    }

    /// The λ tried by cross-validation: 10^-3 … 10^4 in half decades.
    public static let lambdas: [Double] = stride(from: -3.0, through: 4.0, by: 0.5).map { pow10($0) }

    /// Builds the feature table from store records and splits it.
    /// - Parameters:
    ///   - runs: the run ids to use, in any order.
    ///   - target: a metric column (`test_accuracy`, …), read at the chosen epoch.
    ///   - testFraction: the share of complete members held out, rounded, at least one.
    /// - Throws: ``AnalysisError`` naming what is missing when no run has the features, or fewer
    ///   than four members are complete.
    public init(runs: [String], measures: [MeasureRecord], metrics: [MetricRecord], target: String, epoch: Epoch = .final,
                testFraction: Double = 0.2, seed: UInt64 = 0) throws {
        var lastEpoch: [String: Int] = [:], targets: [String: Double] = [:]
        for m in metrics { lastEpoch[m.runID] = max(lastEpoch[m.runID] ?? m.epoch, m.epoch) }
        func chosenEpoch(_ run: String) -> Int? {
            switch epoch { case .final: lastEpoch[run]; case .number(let e): e }
        }
        for m in metrics where m.epoch == chosenEpoch(m.runID) { if let v = m.values[target] { targets[m.runID] = v } }
        var raw: [String: [String: Double]] = [:]
        for r in measures where r.task.measure == "weight_statistics" && r.task.otherRun.isEmpty && r.task.epoch == chosenEpoch(r.task.runID) {
            raw[r.task.runID, default: [:]][r.key] = r.error == nil ? r.value : .nan
        }
        let values = raw.mapValues(Self.positional)
        let names = Set(values.values.flatMap(\.keys)).sorted()
        guard !names.isEmpty else {
            let at: String = switch epoch { case .final: "final"; case .number(let e): String(e) }
            throw AnalysisError("no run has the weight_statistics measure at epoch \(at); compute it with `zoo measure --store STORE --measure weight_statistics --epoch \(at)`")
        }
        features = names
        var members: [Member] = [], missing: [Missing] = []
        for run in Set(runs).sorted() {
            guard let e = chosenEpoch(run), let own = values[run] else { missing.append(Missing(run: run, reason: "no weight_statistics at this epoch")); continue }
            guard let t = targets[run], t.isFinite else { missing.append(Missing(run: run, reason: "no finite \(target) at epoch \(e)")); continue }
            let row = names.map { own[$0] ?? .nan }
            if let bad = zip(names, row).first(where: { !$0.1.isFinite }) {
                missing.append(Missing(run: run, reason: own[bad.0] == nil ? "feature \(bad.0) missing" : "feature \(bad.0) is not finite"))
                continue
            }
            members.append(Member(run: run, epoch: e, features: row, target: t))
        }
        self.members = members
        self.missing = missing
        guard members.count >= 4 else {
            throw AnalysisError("only \(members.count) run(s) have every weight statistic and a finite \(target) (\(missing.count) left out); at least 4 are needed")
        }
        guard testFraction > 0, testFraction < 1 else { throw AnalysisError("the test fraction must be in (0, 1), got \(testFraction)") }
        let order = seededPermutation(members.count, seed: seed)
        let testCount = min(members.count - 2, max(1, Int((testFraction * Double(members.count)).rounded())))
        test = order.prefix(testCount).map { members[$0] }
        train = order.dropFirst(testCount).map { members[$0] }
    }

    /// Fits `models` on the train members and scores them on the test members. Ridge's λ is the
    /// one of ``lambdas`` with the least mean squared error over `folds`-fold cross-validation of
    /// the train members (folds from the seeded shuffle; the smaller λ on ties).
    public mutating func fit(_ models: [Model], folds: Int = 5, trees settings: GradientBoostedTrees.Settings = .init(), seed: UInt64 = 0) {
        let x = train.map(\.features), y = train.map(\.target), tx = test.map(\.features), ty = test.map(\.target)
        results = models.compactMap { model in
            guard let fit = Self.fitted(model, x: x, y: y, folds: folds, trees: settings, seed: seed) else { return nil }
            let predicted = fit.predict(tx)
            return Result(model: model, r2: rSquared(ty, predicted), tau: kendallTau(ty, predicted), trainR2: rSquared(y, fit.predict(x)), lambda: fit.lambda,
                          predictions: zip(test, predicted).map { Prediction(run: $0.run, truth: $0.target, predicted: $1) })
        }
    }

    /// `model` fitted to rows `x` and targets `y` (ridge's λ by `folds`-fold cross-validation
    /// on them); nil when the fit is impossible.
    static func fitted(_ model: Model, x: [[Double]], y: [Double], folds: Int, trees settings: GradientBoostedTrees.Settings, seed: UInt64)
        -> (predict: ([[Double]]) -> [Double], lambda: Double?)?
    {
        switch model {
        case .ridge:
            let chosen = crossValidatedLambda(x: x, y: y, folds: folds, seed: seed)
            guard let fit = RidgeRegression(x: x, y: y, lambda: chosen) else { return nil }
            return (fit.predict, chosen)
        case .trees:
            guard let fit = GradientBoostedTrees(x: x, y: y, settings: settings) else { return nil }
            return (fit.predict, nil)
        }
    }

    /// Out-of-fold predictions over every complete member: the members (runs) are shuffled with
    /// `seed` and dealt into `folds` folds; each fold is predicted by `model` fitted on the
    /// others, so every member is held out exactly once. A steadier figure than one split.
    public struct CrossValidation: Sendable {
        public var model: Model
        public var folds: Int
        /// R² and Kendall's τ of all out-of-fold predictions together.
        public var r2: Double
        public var tau: Double
        /// R² of each fold's held-out members.
        public var foldR2: [Double]
        public var predictions: [Prediction]
    }

    /// ``CrossValidation`` of each of `models` over ``members`` (`folds` in 2...members).
    public func crossValidate(_ models: [Model], folds: Int, trees settings: GradientBoostedTrees.Settings = .init(), seed: UInt64 = 0) -> [CrossValidation] {
        let k = min(max(2, folds), members.count)
        let order = seededPermutation(members.count, seed: seed)
        let foldOf = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($0.element, $0.offset % k) })
        return models.compactMap { model in
            var predicted = [Double](repeating: .nan, count: members.count), foldR2: [Double] = []
            for f in 0..<k {
                let held = members.indices.filter { foldOf[$0] == f }, kept = members.indices.filter { foldOf[$0] != f }
                guard let fit = Self.fitted(model, x: kept.map { members[$0].features }, y: kept.map { members[$0].target }, folds: 5, trees: settings, seed: seed)
                else { return nil }
                let out = fit.predict(held.map { members[$0].features })
                for (i, v) in zip(held, out) { predicted[i] = v }
                foldR2.append(rSquared(held.map { members[$0].target }, out))
            }
            let truth = members.map(\.target)
            return CrossValidation(model: model, folds: k, r2: rSquared(truth, predicted), tau: kendallTau(truth, predicted), foldR2: foldR2,
                                   predictions: zip(members, predicted).map { Prediction(run: $0.run, truth: $0.target, predicted: $1) })
        }
    }

    /// The λ of ``lambdas`` with the least cross-validated mean squared error.
    public static func crossValidatedLambda(x: [[Double]], y: [Double], folds: Int, seed: UInt64) -> Double {
        let k = max(2, min(folds, x.count))
        let order = seededPermutation(x.count, seed: seed &+ 1)
        var best = (error: Double.infinity, lambda: lambdas[lambdas.count / 2])
        for lambda in lambdas {
            var squared = 0.0, count = 0
            for f in 0..<k {
                let held = order.indices.filter { $0 % k == f }.map { order[$0] }, heldSet = Set(held)
                let kept = x.indices.filter { !heldSet.contains($0) }
                guard !held.isEmpty, kept.count >= 2, let fit = RidgeRegression(x: kept.map { x[$0] }, y: kept.map { y[$0] }, lambda: lambda) else { continue }
                for (i, p) in zip(held, fit.predict(held.map { x[$0] })) { squared += (y[i] - p) * (y[i] - p); count += 1 }
            }
            if count > 0, squared / Double(count) < best.error { best = (squared / Double(count), lambda) }
        }
        return best.lambda
    }
}

/// The coefficient of determination R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² (scikit-learn's `r2_score`);
/// NaN for fewer than two values or a constant `truth`.
public func rSquared(_ truth: [Double], _ predicted: [Double]) -> Double {
    guard truth.count == predicted.count, truth.count >= 2 else { return .nan }
    let mean = truth.reduce(0, +) / Double(truth.count)
    let total = truth.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
    let residual = zip(truth, predicted).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    return total > 0 ? 1 - residual / total : .nan
}

/// An analysis that cannot be done with what the store holds; the message names what is missing.
public struct AnalysisError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

private func pow10(_ e: Double) -> Double { Foundation.pow(10, e) }
