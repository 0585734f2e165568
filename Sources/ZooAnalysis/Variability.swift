import Foundation
import ZooStore
import ZooTensor

/// How much the predictions of individual test examples vary across members that differ only
/// in their seed, and how much ensembling reduces it: Zech, Forde & Littman (2019),
/// "Individual predictions matter: assessing the effect of data ordering in training fine-tuned
/// CNNs for medical imaging" (arXiv:1912.03606). They trained CheXNet with 50 seeds: the AUC
/// barely moved, but the probability given to one radiograph varied widely from run to run,
/// and averaging 10 models cut that variability by about 70 %.
///
/// Over K members with predictions on the same N test examples (``PredictionLog``), with
/// cᵢₘ = 1 when member m classifies example i correctly:
/// - **flip fraction**: the fraction of examples that some members get right and others wrong,
///   #{i : 0 < Σₘ cᵢₘ < K} / N (it grows with K);
/// - **pairwise flip rate**: over pairs of members, the mean fraction of examples exactly one of
///   the two gets right — the chance that retraining with another seed flips an example;
/// - **pairwise disagreement**: over pairs, the mean fraction of examples whose predicted
///   classes differ (right or wrong);
/// - **entropy** of the predicted class of example i across members, Hᵢ = −Σ_c pᵢ_c log₂ pᵢ_c with
///   pᵢ_c the fraction of members predicting c (bits; 0 when all agree, at most log₂ min(K, classes)):
///   its mean, quantiles, the unanimous fraction and a histogram;
/// - **probability CV**, the paper's measure: per example, the coefficient of variation
///   (sample sd with n − 1, over the mean) of the true-class probability across members,
///   averaged over the examples whose mean probability is not 0;
/// - **ensembles of k = 1…K members**: a k-ensemble predicts by plurality vote of its members'
///   predicted classes; a tie goes to the tied class whose voters' predicted-class probabilities
///   sum highest (then to the smallest class). Its accuracy is averaged over k-subsets, and its
///   **flip rate** (for 2k ≤ K) is the mean fraction of examples that one k-ensemble gets right
///   and another, disjoint one gets wrong — the flips left after ensembling (k = 1: the pairwise
///   flip rate). Subsets (and pairs of disjoint subsets) are all enumerated when there are at
///   most `samples` of them, else `samples` are drawn with the seed.
///
/// Deviations from the paper: it measures the spread of one finding's probability; here the
/// members are classifiers, so the primary figures are about correctness and the predicted
/// class, with the paper's coefficient of variation beside them; the ensembles vote (the store
/// keeps only the true and the predicted class's probabilities, not whole distributions).
public struct PredictionVariability: Sendable, Equatable, Codable {
    /// Members (K) and test examples (N).
    public var members: Int
    public var examples: Int
    public var classes: Int
    /// Each member's test accuracy, in the order given.
    public var memberAccuracies: [Double]
    public var flipFraction: Double
    /// Fractions of examples every member gets right, and every member gets wrong.
    public var alwaysCorrect: Double
    public var alwaysWrong: Double
    /// NaN for one member.
    public var pairwiseFlipRate: Double
    public var pairwiseDisagreement: Double
    public var entropy: EntropySummary
    /// NaN for one member or when every example's mean probability is 0.
    public var probabilityCV: Double
    /// k = 1…K.
    public var ensembles: [EnsemblePoint]

    /// The mean of ``memberAccuracies``.
    public var meanAccuracy: Double { memberAccuracies.reduce(0, +) / Double(max(1, memberAccuracies.count)) }
}

/// The distribution over examples of the entropy (bits) of the predicted class across members.
public struct EntropySummary: Sendable, Equatable, Codable {
    public var mean: Double
    public var median: Double
    public var p90: Double
    public var p99: Double
    public var max: Double
    /// The fraction of examples on which all members predict the same class (entropy 0).
    public var unanimous: Double
    /// Examples per bin of width ``binWidth`` from 0 (the last bin includes its upper edge,
    /// log₂ min(K, classes)); one bin when that is 0.
    public var histogram: [Int]
    public var binWidth: Double
}

/// Ensembles of one size k: the points of the curves against k.
public struct EnsemblePoint: Sendable, Equatable, Codable {
    public var size: Int
    /// Mean accuracy over the k-subsets evaluated, and its sample sd (NaN for one subset).
    public var accuracy: Double
    public var accuracySD: Double
    public var subsets: Int
    /// Mean fraction of examples one k-ensemble gets right and a disjoint one wrong; nil when 2k > K.
    public var flipRate: Double?
    public var pairs: Int
    /// Whether every subset (and every pair) was evaluated rather than a sample.
    public var exhaustive: Bool
}

/// Members whose predictions cannot be compared.
public struct VariabilityError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum Variability {
    /// The variability of `members`' predictions (see ``PredictionVariability``).
    /// - Parameters:
    ///   - samples: the most k-subsets (and pairs of subsets) evaluated per k; more are sampled.
    ///   - seed: seed of the sampled subsets.
    /// - Throws: ``VariabilityError`` when there is no member, or members differ in their test
    ///   examples (count, classes or labels), naming the runs.
    /// - Complexity: O(N·K²) for the pairs and O(samples·N·K) per ensemble size.
    public static func analyze(_ members: [PredictionRecord], samples: Int = 500, seed: UInt64 = 0) throws -> PredictionVariability {
        guard let first = members.first else { throw VariabilityError("no member has predictions to compare") }
        guard samples >= 1 else { throw VariabilityError("samples must be at least 1, got \(samples)") }
        for m in members.dropFirst() {
            guard m.log.count == first.log.count, m.log.classes == first.log.classes, m.log.labels == first.log.labels else {
                throw VariabilityError("run \(m.runID) (epoch \(m.epoch)) was evaluated on other test examples than run \(first.runID) (epoch \(first.epoch)): \(m.log.count) vs \(first.log.count) examples, \(m.log.classes) vs \(first.log.classes) classes\(m.log.labels == first.log.labels ? "" : ", other labels"); help: group only runs of one data set (--by)")
            }
        }
        let logs = members.map(\.log), k = logs.count, n = first.log.count, classes = first.log.classes
        let labels = first.log.labels
        let correct = logs.map { log in (0..<n).map { log.isCorrect($0) } }
        let accuracies = correct.map { Double($0.count(where: { $0 })) / Double(max(1, n)) }
        var flips = 0, allRight = 0, allWrong = 0
        var entropies = [Double](repeating: 0, count: n)
        var cvSum = 0.0, cvCount = 0
        var counts = [Int](repeating: 0, count: classes)
        for i in 0..<n {
            let right = correct.reduce(0) { $0 + ($1[i] ? 1 : 0) }
            if right == k { allRight += 1 } else if right == 0 { allWrong += 1 } else { flips += 1 }
            for log in logs { counts[Int(log.predicted[i])] += 1 }
            var h = 0.0
            for log in logs where counts[Int(log.predicted[i])] > 0 {
                let p = Double(counts[Int(log.predicted[i])]) / Double(k)
                h -= p * Foundation.log2(p)
                counts[Int(log.predicted[i])] = 0
            }
            entropies[i] = h == 0 ? 0 : h
            if k > 1 {
                let p = logs.map { PredictionLog.probability($0.trueClassProbability[i]) }
                let mean = p.reduce(0, +) / Double(k)
                if mean > 0 {
                    let sd = (p.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(k - 1)).squareRoot()
                    cvSum += sd / mean
                    cvCount += 1
                }
            }
        }
        var flipPairs = 0.0, disagreePairs = 0.0, pairCount = 0
        for a in 0..<k {
            for b in (a + 1)..<max(a + 1, k) {
                var flip = 0, disagree = 0
                for i in 0..<n {
                    if correct[a][i] != correct[b][i] { flip += 1 }
                    if logs[a].predicted[i] != logs[b].predicted[i] { disagree += 1 }
                }
                flipPairs += Double(flip) / Double(max(1, n))
                disagreePairs += Double(disagree) / Double(max(1, n))
                pairCount += 1
            }
        }
        let votes = Votes(logs: logs, labels: labels, classes: classes)
        let ensembles = (1...k).map { size in ensemble(size: size, of: k, votes: votes, samples: samples, seed: seed) }
        return PredictionVariability(
            members: k, examples: n, classes: classes, memberAccuracies: accuracies,
            flipFraction: Double(flips) / Double(max(1, n)), alwaysCorrect: Double(allRight) / Double(max(1, n)),
            alwaysWrong: Double(allWrong) / Double(max(1, n)),
            pairwiseFlipRate: pairCount == 0 ? .nan : flipPairs / Double(pairCount),
            pairwiseDisagreement: pairCount == 0 ? .nan : disagreePairs / Double(pairCount),
            entropy: summarize(entropies, members: k, classes: classes),
            probabilityCV: cvCount == 0 ? .nan : cvSum / Double(cvCount), ensembles: ensembles)
    }

    /// Runs grouped for a study of seeds, in order of first appearance: by their values of `keys`
    /// (a missing key is ""), or, when `keys` is empty, by their whole config but `seed`. Each
    /// group is named by its values of `keys`, or of the keys (not `seed`) whose values differ
    /// between groups (none when there is one group).
    public static func groups(_ runs: [(id: String, config: [String: String])], by keys: [String]) -> [(name: [String: String], runs: [String])] {
        func identity(_ config: [String: String]) -> [String: String] {
            keys.isEmpty ? config.filter { $0.key != "seed" } : Dictionary(uniqueKeysWithValues: keys.map { ($0, config[$0] ?? "") })
        }
        var order: [[String: String]] = [], members: [[String: String]: [String]] = [:]
        for r in runs {
            let key = identity(r.config)
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(r.id)
        }
        let all = Set(order.flatMap(\.keys))
        let naming = keys.isEmpty ? all.filter { k in Set(order.map { $0[k] ?? "" }).count > 1 }.sorted() : keys
        return order.map { key in (Dictionary(uniqueKeysWithValues: naming.map { ($0, key[$0] ?? "") }), members[key]!) }
    }

    /// Mean, quantiles, unanimous fraction and a 10-bin histogram of per-example entropies.
    static func summarize(_ entropies: [Double], members: Int, classes: Int) -> EntropySummary {
        let top = Foundation.log2(Double(min(members, classes))), bins = top > 0 ? 10 : 1
        let width = top > 0 ? top / Double(bins) : 0
        var histogram = [Int](repeating: 0, count: bins)
        for h in entropies { histogram[width > 0 ? min(bins - 1, Int(h / width)) : 0] += 1 }
        let n = Double(max(1, entropies.count))
        return EntropySummary(mean: entropies.reduce(0, +) / n, median: quantile(entropies, 0.5), p90: quantile(entropies, 0.9),
                              p99: quantile(entropies, 0.99), max: entropies.max() ?? .nan,
                              unanimous: Double(entropies.count(where: { $0 == 0 })) / n, histogram: histogram, binWidth: width)
    }

    /// The members' predictions laid out for voting.
    struct Votes {
        var logs: [PredictionLog]
        var labels: [UInt8]
        var classes: Int

        /// Whether the ensemble of `members` classifies each example correctly: plurality vote,
        /// ties to the larger sum of the voters' predicted-class probabilities, then the smaller class.
        func correct(_ members: [Int]) -> [Bool] {
            var votes = [Int](repeating: 0, count: classes), confidence = [Int](repeating: 0, count: classes)
            return labels.indices.map { i in
                var best = -1
                for m in members {
                    let c = Int(logs[m].predicted[i])
                    votes[c] += 1
                    confidence[c] += Int(logs[m].predictedClassProbability[i])
                }
                for m in members {
                    let c = Int(logs[m].predicted[i])
                    if best < 0 || (votes[c], confidence[c], -c) > (votes[best], confidence[best], -best) { best = c }
                }
                for m in members { votes[Int(logs[m].predicted[i])] = 0; confidence[Int(logs[m].predicted[i])] = 0 }
                return best == Int(labels[i])
            }
        }
    }

    /// Accuracy and flip rate of ensembles of `size` of the `count` members.
    static func ensemble(size: Int, of count: Int, votes: Votes, samples: Int, seed: UInt64) -> EnsemblePoint {
        let key = RandomKey(seed: seed, stream: 0x7661_7269).derived(size)  // "vari"
        let n = Double(max(1, votes.labels.count))
        var cache: [[Int]: [Bool]] = [:]
        func correct(_ members: [Int]) -> [Bool] {
            if let c = cache[members] { return c }
            let c = votes.correct(members)
            if cache.count < 4 * samples { cache[members] = c }
            return c
        }
        // Subsets: all of them when few enough, else the first `size` of random permutations.
        let total = binomial(count, size, cap: samples + 1)
        let exhaustiveSubsets = total <= samples
        let subsets = exhaustiveSubsets ? combinations(Array(0..<count), size)
            : (0..<samples).map { Array(key.derived("subset").derived($0).permutation(count).prefix(size)).sorted() }
        let accuracies = subsets.map { s in Double(correct(s).count(where: { $0 })) / n }
        var flipRate: Double?, pairCount = 0, exhaustivePairs = true
        if 2 * size <= count {
            // Unordered pairs of disjoint subsets: C(K, k)·C(K − k, k)/2.
            let pairTotal = binomial(count, size, cap: 2 * samples + 2) * binomial(count - size, size, cap: 2 * samples + 2) / 2
            exhaustivePairs = pairTotal <= samples
            var pairs: [([Int], [Int])] = []
            if exhaustivePairs {
                for a in combinations(Array(0..<count), size) {
                    let rest = (0..<count).filter { !a.contains($0) && $0 > a[0] }
                    for b in combinations(rest, size) { pairs.append((a, b)) }
                }
            } else {
                pairs = (0..<samples).map { s in
                    let p = key.derived("pair").derived(s).permutation(count)
                    return (Array(p.prefix(size)).sorted(), Array(p[size ..< 2 * size]).sorted())
                }
            }
            var sum = 0.0
            for (a, b) in pairs {
                let ca = correct(a), cb = correct(b)
                sum += Double(zip(ca, cb).count(where: { $0 != $1 })) / n
            }
            flipRate = sum / Double(max(1, pairs.count))
            pairCount = pairs.count
        }
        let estimate = MeanEstimate(accuracies)
        return EnsemblePoint(size: size, accuracy: estimate?.mean ?? .nan, accuracySD: estimate?.sd ?? .nan, subsets: subsets.count,
                             flipRate: flipRate, pairs: pairCount, exhaustive: exhaustiveSubsets && exhaustivePairs)
    }

    /// C(n, k), or `cap` when it is at least `cap` (no overflow for any n).
    static func binomial(_ n: Int, _ k: Int, cap: Int) -> Int {
        guard k >= 0, k <= n else { return 0 }
        var result = 1
        for i in 0..<min(k, n - k) {
            result = result * (n - i) / (i + 1)
            if result >= cap { return cap }
        }
        return result
    }

    /// The `size`-element subsets of `items`, in lexicographic order.
    static func combinations(_ items: [Int], _ size: Int) -> [[Int]] {
        guard size > 0 else { return [[]] }
        guard items.count >= size else { return [] }
        var out: [[Int]] = [], index = Array(0..<size)
        while true {
            out.append(index.map { items[$0] })
            var j = size - 1
            while j >= 0 && index[j] == items.count - size + j { j -= 1 }
            if j < 0 { return out }
            index[j] += 1
            for l in (j + 1)..<size { index[l] = index[l - 1] + 1 }
        }
    }
}

/// One group of a variability study: members that differ only in seed (or share the `--by` keys).
public struct VariabilityGroup: Sendable, Equatable, Codable {
    /// The group's values of the grouping keys (see ``Variability/groups(_:by:)``).
    public var name: [String: String]
    /// The runs compared, and the epoch of each one's predictions.
    public var runs: [String]
    public var epochs: [Int]
    /// Runs of the group without predictions at the chosen epoch, left out.
    public var skipped: [String]
    public var variability: PredictionVariability
}

extension Variability {
    /// Which recorded epoch of each run a study compares.
    public enum EpochChoice: Sendable, Equatable {
        /// Each run's last epoch with predictions.
        case final
        case epoch(Int)

        /// `final` or an epoch number ≥ 0; nil otherwise.
        public init?(_ text: String) {
            if text == "final" { self = .final } else if let n = Int(text), n >= 0 { self = .epoch(n) } else { return nil }
        }
    }

    /// Groups `runs` (``groups(_:by:)``), reads each member's predictions at `epoch` from `store`
    /// and analyzes each group (``analyze(_:samples:seed:)``).
    /// - Throws: ``VariabilityError`` when no run has predictions (at that epoch), or a group's
    ///   members were evaluated on different examples; ``StoreError`` for a damaged blob.
    public static func study(store: any RunStore, runs: [(id: String, config: [String: String])], by keys: [String] = [],
                             epoch: EpochChoice = .final, samples: Int = 500, seed: UInt64 = 0) throws -> [VariabilityGroup] {
        let help = "help: set `record_predictions: test` in the spec and train the runs with it (runs trained without it are other runs: the key is part of their identity)"
        guard !runs.isEmpty else { throw VariabilityError("no runs to compare; \(help)") }
        let recorded = try store.predictionEpochs(runs: runs.map(\.id))
        guard !recorded.isEmpty else { throw VariabilityError("none of the \(runs.count) run(s) has recorded predictions; \(help)") }
        var chosen: [String: Int] = [:]
        for r in runs {
            guard let epochs = recorded[r.id] else { continue }
            switch epoch {
            case .final: chosen[r.id] = epochs.last
            case let .epoch(n): if epochs.contains(n) { chosen[r.id] = n }
            }
        }
        guard !chosen.isEmpty else {
            let available = Set(recorded.values.joined()).sorted().map(String.init).joined(separator: ", ")
            throw VariabilityError("no run has predictions at the epoch asked for; recorded epochs: \(available)")
        }
        var out: [VariabilityGroup] = []
        for group in groups(runs, by: keys) {
            let present = group.runs.filter { chosen[$0] != nil }
            guard !present.isEmpty else { continue }
            var records: [PredictionRecord] = []
            for id in present { records += try store.predictions(runs: [id], epoch: chosen[id]!) }
            out.append(VariabilityGroup(name: group.name, runs: records.map(\.runID), epochs: records.map(\.epoch),
                                        skipped: group.runs.filter { chosen[$0] == nil },
                                        variability: try analyze(records, samples: samples, seed: seed)))
        }
        return out
    }
}
