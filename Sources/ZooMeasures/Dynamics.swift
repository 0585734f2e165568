import Foundation
import ZooData
import ZooNN
import ZooTensor

/// Measures of how training went: the optimizer steps it took to reach a training loss (from the
/// loss logged while training), and the noise of the minibatch gradients at the checkpoint
/// (its size, its signal-to-noise ratio, and the heaviness of its tails).
enum DynamicsMeasures {
    static let all: [any Measure] = [StepsToLoss(), StepsBetweenLosses(), GradientNoise(), GradientSignalToNoise(), GradientNoiseTailIndex()]

    /// The first logged optimizer step at which the logged training loss (the mean minibatch
    /// cross-entropy since the previous log entry) is at most `threshold` (default 0.1); +∞ when
    /// it never is. Jiang et al. 2019 (§C.3, "optimization-based measures") count the steps to
    /// cross-entropy 0.1, an effect of how hard the data is for the architecture.
    ///
    /// The resolution is the logging interval. The value is over the whole log the subject
    /// carries (the steps of the run up to where the log was read).
    /// - Throws: ``MeasureError`` when the run logged no step losses.
    struct StepsToLoss: Measure {
        let name = "steps_to_ce_0_1", version = 1, family = MeasureFamily.dynamics
        let summary = "optimizer steps until the logged training cross-entropy reaches 0.1 (Jiang et al. 2019, §C.3)"
        var defaults: [String: Double] { ["threshold": 0.1] }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try subjects.map { s in ["": try DynamicsMeasures.firstStep(s, atMost: settings["threshold"], measure: name)] }
        }
    }

    /// The optimizer steps from the first logged step with training loss ≤ `from` (default 0.1)
    /// to the first with loss ≤ `to` (default 0.01): Jiang et al. 2019's "steps from 0.1 to 0.01"
    /// (§C.3), the length of the final, interpolating phase. +∞ when `to` is never reached.
    /// - Throws: ``MeasureError`` when the run logged no step losses.
    struct StepsBetweenLosses: Measure {
        let name = "steps_ce_0_1_to_0_01", version = 1, family = MeasureFamily.dynamics
        let summary = "optimizer steps from logged training cross-entropy 0.1 to 0.01 (Jiang et al. 2019, §C.3)"
        var defaults: [String: Double] { ["from": 0.1, "to": 0.01] }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try subjects.map { s in
                let a = try DynamicsMeasures.firstStep(s, atMost: settings["from"], measure: name)
                let b = try DynamicsMeasures.firstStep(s, atMost: settings["to"], measure: name)
                return ["": b.isFinite ? b - a : .infinity]
            }
        }
    }

    /// The first logged step whose loss is at most `threshold` (compared in the log's single
    /// precision), +∞ when none is.
    static func firstStep(_ subject: Subject, atMost threshold: Double, measure: String) throws -> Double {
        guard !subject.stepLosses.isEmpty else {
            throw MeasureError(description: "\(measure): no step losses were logged for run \(subject.runID): train it with step logging")
        }
        return subject.stepLosses.first { $0.loss <= Float(threshold) }.map { Double($0.step) } ?? .infinity
    }

    // MARK: - Gradient noise

    /// The trace of the covariance of the minibatch gradient at the run's batch size B:
    /// (1/M) Σ_b ‖g_b − g‖², over M disjoint minibatches g_b of B sample rows (`minibatches`,
    /// default 32, fewer when the sample holds fewer), around the full-sample gradient g of the
    /// mean cross-entropy. The "gradient noise" of SGD studied by Simsekli et al. 2019 ("A
    /// Tail-Index Analysis of Stochastic Gradient Noise in Deep Neural Networks") and Panigrahi
    /// et al. 2019 ("Non-Gaussianity of Stochastic Gradient Noise").
    ///
    /// The minibatches are drawn from the sample by a permutation keyed by the settings' seed
    /// alone (the same minibatches for every member: common random numbers across the zoo), and
    /// members of one batch size are evaluated as one stacked population per minibatch.
    /// - Complexity: one gradient pass over the sample and one over M·B rows.
    struct GradientNoise: Measure {
        let name = "gradient_noise", version = 1, family = MeasureFamily.dynamics
        let summary = "trace of the minibatch-gradient covariance at the run's batch size (Simsekli et al. 2019; Panigrahi et al. 2019)"
        var defaults: [String: Double] { ["minibatches": 32] }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try DynamicsMeasures.gradientNoise(subjects, settings: settings, measure: name).map { ["": $0.noise] }
        }
    }

    /// The gradient signal-to-noise ratio ‖g‖² / ((1/M) Σ_b ‖g_b − g‖²): the squared norm of the
    /// full-sample gradient over the trace of the minibatch-gradient covariance at the run's
    /// batch size (``GradientNoise``). This is B / B_simple for the "simple noise scale"
    /// B_simple = tr(Σ)/‖g‖² of McCandlish et al. 2018 ("An Empirical Model of Large-Batch
    /// Training"), Σ the per-example covariance (up to the finite-sample correction of drawing
    /// without replacement); not the per-coordinate mean-over-deviation ratio.
    struct GradientSignalToNoise: Measure {
        let name = "gradient_snr", version = 1, family = MeasureFamily.dynamics
        let summary = "gradient signal-to-noise ‖g‖² / E‖g_b − g‖² at the run's batch size (McCandlish et al. 2018's B/B_simple)"
        var defaults: [String: Double] { ["minibatches": 32] }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try DynamicsMeasures.gradientNoise(subjects, settings: settings, measure: name).map { ["": $0.snr] }
        }
    }

    /// The tail index α of the minibatch-gradient noise, by the estimator of Mohammadi et al.
    /// 2015 that Simsekli et al. 2019 use (their Theorem 2 and §4): every coordinate of every
    /// noise vector g_b − g (``GradientNoise``'s minibatches, in order) is one sample X_j, j ≤ K;
    /// with K₁ = ⌊√K⌋ and K₂ = ⌊K/K₁⌋ blocks of K₁ consecutive samples, Y_i the sum of block i,
    ///
    ///     1/α̂ = (1 / log K₁) · ( (1/K₂) Σ_i log|Y_i| − (1/(K₁K₂)) Σ_{j in the blocks} log|X_j| ).
    ///
    /// α = 2 is Gaussian noise; smaller is heavier-tailed. Exact zeros (parameters without a
    /// gradient) are not samples. The estimate is not clipped to (0, 2].
    struct GradientNoiseTailIndex: Measure {
        let name = "gradient_noise_tail_index", version = 1, family = MeasureFamily.dynamics
        let summary = "tail index α of the minibatch-gradient noise, Mohammadi et al. 2015's estimator (Simsekli et al. 2019)"
        var defaults: [String: Double] { ["minibatches": 32] }
        func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]] {
            try DynamicsMeasures.gradientNoise(subjects, settings: settings, measure: name).map { ["": $0.tailIndex] }
        }
    }

    /// The disjoint minibatches of `batchSize` rows of a sample of `count` rows: at most
    /// `limit`, consecutive slices of a permutation keyed by `seed` (the same for every member).
    static func minibatches(count: Int, batchSize: Int, limit: Int, seed: UInt64) -> [[Int]] {
        let m = min(limit, count / max(1, batchSize))
        let order = RandomKey(seed: seed, stream: 0x6e6f_6973).permutation(count)  // "nois"
        return (0..<m).map { Array(order[$0 * batchSize ..< ($0 + 1) * batchSize]) }
    }

    /// Noise trace, signal-to-noise ratio and tail index of each subject.
    static func gradientNoise(_ subjects: [Subject], settings: MeasureSettings, measure: String) throws
        -> [(noise: Double, snr: Double, tailIndex: Double)] {
        let sample = subjects[0].sample
        guard sample.count > 0 else { throw MeasureError(description: "\(measure): the sample of run \(subjects[0].runID) is empty") }
        let limit = Int(settings["minibatches"])
        let evaluator = Evaluator()
        let full = try evaluator.lossAndGradient(subjects.map(\.model), on: sample).map { flatten($0.gradient) }
        var out = [(noise: Double, snr: Double, tailIndex: Double)](repeating: (0, 0, 0), count: subjects.count)
        let groups = Dictionary(grouping: subjects.indices) { subjects[$0].config.training.batchSize }
        for (batchSize, members) in groups.sorted(by: { $0.key < $1.key }) {
            let batches = minibatches(count: sample.count, batchSize: batchSize, limit: limit, seed: settings.seed)
            guard batches.count >= 2 else {
                throw MeasureError(description: "\(measure): the sample of \(sample.count) rows holds \(batches.count) minibatch(es) of "
                    + "run \(subjects[members[0]].runID)'s batch size \(batchSize); it needs at least 2: measure with a larger sample")
            }
            let parameterCount = full[members[0]].count
            var noise = [Double](repeating: 0, count: members.count)
            var tails = members.map { _ in TailIndexEstimator(blockSize: max(2, Int(Double(batches.count * parameterCount).squareRoot()))) }
            for rows in batches {
                let g = try evaluator.lossAndGradient(members.map { subjects[$0].model }, on: sample.selecting(rows))
                for (j, k) in members.enumerated() {
                    let gb = flatten(g[j].gradient), g0 = full[k]
                    var sum = 0.0
                    for i in gb.indices {
                        let x = Double(gb[i]) - Double(g0[i])
                        sum += x * x
                        tails[j].add(x)
                    }
                    noise[j] += sum / Double(batches.count)
                }
            }
            for (j, k) in members.enumerated() {
                let signal = full[k].reduce(0.0) { $0 + Double($1) * Double($1) }
                out[k] = (noise[j], noise[j] > 0 ? signal / noise[j] : .infinity, tails[j].estimate)
            }
        }
        return out
    }

    /// Every parameter's gradient, one after another in name order.
    static func flatten(_ t: NamedTensors) -> [Float] { t.tensors.flatMap(\.scalars) }
}

/// Mohammadi et al. 2015's estimator of the index α of a symmetric α-stable law ("On estimating
/// the tail index and the spectral measure of multivariate α-stable distributions", Metrika;
/// Simsekli et al. 2019, Theorem 2), fed one sample at a time: samples are grouped into
/// consecutive blocks of K₁ = `blockSize`, Y_i the sum of block i, and
/// 1/α̂ = (mean_i log|Y_i| − mean_j log|X_j|) / log K₁ over the samples of the complete blocks.
/// It rests on Y_i being distributed as K₁^{1/α}·X for stable X. Exact zeros are skipped.
struct TailIndexEstimator {
    let blockSize: Int
    private var blockSum = 0.0, blockLogs = 0.0, blockCount = 0
    private var logX = 0.0, logY = 0.0, blocks = 0

    init(blockSize: Int) {
        precondition(blockSize >= 2, "TailIndexEstimator: blocks need at least 2 samples, got \(blockSize)")
        self.blockSize = blockSize
    }

    mutating func add(_ x: Double) {
        guard x != 0, x.isFinite else { return }
        blockSum += x
        blockLogs += Foundation.log(abs(x))
        blockCount += 1
        if blockCount == blockSize {
            if blockSum != 0 {
                logY += Foundation.log(abs(blockSum))
                logX += blockLogs
                blocks += 1
            }
            blockSum = 0; blockLogs = 0; blockCount = 0
        }
    }

    /// α̂, NaN without a complete block.
    var estimate: Double {
        guard blocks > 0 else { return .nan }
        let inverse = (logY / Double(blocks) - logX / Double(blocks * blockSize)) / Foundation.log(Double(blockSize))
        return 1 / inverse
    }
}

/// The tail index α̂ of `samples` by Mohammadi et al. 2015's estimator with blocks of
/// K₁ = `blockSize` samples (default ⌊√K⌋), as Simsekli et al. 2019 apply it to gradient noise:
/// 2 for Gaussian samples, α for symmetric α-stable ones; NaN for fewer than 4 non-zero samples.
public func stableTailIndex(_ samples: [Double], blockSize: Int? = nil) -> Double {
    let k1 = blockSize ?? Int(Double(samples.count).squareRoot())
    guard k1 >= 2 else { return .nan }
    var estimator = TailIndexEstimator(blockSize: k1)
    for x in samples { estimator.add(x) }
    return estimator.estimate
}
