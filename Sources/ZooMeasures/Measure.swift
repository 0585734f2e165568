import Foundation
import ZooData
import ZooNN
import ZooTensor
import ZooTrain

/// A number (or a few named numbers) computed from one trained network and its data: a norm, a
/// margin, a flatness, a statistic of the weights. Measures are pure: the same subject and
/// settings give the same values, so a stored value never needs recomputing.
///
/// A measure receives every subject of one architecture at once, so that it can evaluate their
/// members (and any perturbed or interpolated copies of them) as one stacked population with
/// ``Evaluator``. The values are keyed: `""` is the measure's own value, other keys name parts of
/// it (`features.0.weight.kurtosis`), stored as `measure` plus `key`.
public protocol Measure: Sendable {
    /// The stored name, `snake_case` (`pacbayes_flatness`).
    var name: String { get }
    /// Bumped whenever the formula or procedure changes: stored values of another version are not reused.
    var version: Int { get }
    var family: MeasureFamily { get }
    /// One line: what it is and the paper it comes from (`zoo measure list`).
    var summary: String { get }
    /// The measure's own settings and their defaults (draws, target deviation, iterations…). They
    /// are stored with every value; the sample size and seed are added by ``MeasureSettings``.
    var defaults: [String: Double] { get }
    /// Per subject, its values by key. Subjects share one architecture and one data set.
    func values(of subjects: [Subject], settings: MeasureSettings) throws -> [[String: Double]]
}

/// A measure of two members: values per pair (CKA, disagreement, weight distance).
public protocol PairMeasure: Sendable {
    var name: String { get }
    var version: Int { get }
    /// One line with the paper.
    var summary: String { get }
    var defaults: [String: Double] { get }
    /// Which runs it compares (default ``PairScope/all``).
    var pairing: PairScope { get }
    /// Per pair, its values by key. Both members of a pair share one architecture and one data set.
    func values(of pairs: [(Subject, Subject)], settings: MeasureSettings) throws -> [[String: Double]]
}

/// The pairs of runs a pair measure compares, among the runs of one model and data set at one epoch.
public enum PairScope: Sendable {
    /// Every pair: similarity of representations and predictions across a whole family.
    case all
    /// Only runs whose configs are equal but for their `seed`: what mode connectivity compares
    /// (two seeds of one configuration), and linear in the number of configurations rather than
    /// quadratic in the number of runs.
    case seeds
}

extension Measure {
    public var defaults: [String: Double] { [:] }
}

extension PairMeasure {
    public var defaults: [String: Double] { [:] }
    public var pairing: PairScope { .all }
}

/// The families of `zoo measure list`, in the order of Jiang et al.'s tables.
public enum MeasureFamily: String, Sendable, CaseIterable, Codable {
    case size, norm, output, flatness, dynamics, representation, weights, pairwise
}

/// One member at one checkpoint, as the measures see it.
public struct Subject: Sendable {
    public var runID: String
    /// The completed epoch of the checkpoint.
    public var epoch: Int
    public var config: RunConfig
    /// The network at the checkpoint (parameters and buffers); measures evaluate it in evaluation mode.
    public var model: any Module
    /// The network at initialization, rebuilt from the run's seed (no checkpoint needed).
    public var initial: any Module
    /// The fixed, seeded sample of the training set the measures evaluate on.
    public var sample: LabeledData
    /// The data set's test split, nil when it has none.
    public var test: LabeledData?
    /// The training loss logged while training (for the dynamics measures), empty when not logged.
    public var stepLosses: [StepLoss]

    public init(runID: String, epoch: Int, config: RunConfig, model: any Module, initial: any Module,
                sample: LabeledData, test: LabeledData? = nil, stepLosses: [StepLoss] = []) {
        self.runID = runID
        self.epoch = epoch
        self.config = config
        self.model = model
        self.initial = initial
        self.sample = sample
        self.test = test
        self.stepLosses = stepLosses
    }

    /// A subject of `config` at a checkpoint's `state`: the initial network rebuilt from the
    /// config's seed, the sample drawn from `data` by ``MeasureSettings/sample(of:)``, the test
    /// split `data`'s.
    /// - Throws: ``StateMismatch`` when the checkpoint does not fit the config's model.
    public init(runID: String, epoch: Int, config: RunConfig, state: NamedTensors, data: TrainingData,
                settings: MeasureSettings, stepLosses: [StepLoss] = []) throws {
        let initial = try config.makeModel(for: data)
        var model = initial
        try model.load(state)
        self.init(runID: runID, epoch: epoch, config: config, model: model, initial: initial,
                  sample: settings.sample(of: data.train), test: data.test, stepLosses: stepLosses)
    }
}

/// The mean training loss over `steps` optimizer steps ending at `step` (logged while training).
public struct StepLoss: Sendable, Equatable {
    /// The optimizer step after which it was logged (1-based: after the first step it is 1).
    public var step: Int
    /// The mean of the minibatch losses of the steps since the previous log entry.
    public var loss: Float
    public init(step: Int, loss: Float) {
        self.step = step
        self.loss = loss
    }
}

/// The settings of one measure computation: the sample (size and seed) and the measure's own
/// settings, overridable by `measure.key=value`. All of them are stored with each value.
public struct MeasureSettings: Sendable, Equatable {
    /// Training examples the measures evaluate on (all when the training set is smaller).
    public var sampleSize: Int
    /// Seed of the sample and of every random draw of the measures.
    public var seed: UInt64
    /// The measure's own settings, defaults merged with overrides.
    public var values: [String: Double]

    public static let defaultSampleSize = 5000
    /// The largest value a setting may be given.
    public static let largestSetting = 1_000_000.0

    public init(sampleSize: Int = defaultSampleSize, seed: UInt64 = 0, values: [String: Double] = [:]) {
        self.sampleSize = sampleSize
        self.seed = seed
        self.values = values
    }

    /// The setting `key`, which the measure must declare in its defaults.
    public subscript(_ key: String) -> Double {
        guard let v = values[key] else { preconditionFailure("MeasureSettings: '\(key)' is not among the measure's settings \(values.keys.sorted())") }
        return v
    }

    /// `self` with `measure`'s defaults under the given overrides.
    /// - Throws: ``MeasureError`` for an override the measure does not have.
    public func resolved(defaults: [String: Double], overrides: [String: Double], measure: String) throws -> MeasureSettings {
        var out = self
        out.values = defaults
        for (k, v) in overrides {
            guard defaults[k] != nil else {
                throw MeasureError(description: "measure '\(measure)' has no setting '\(k)'; its settings: "
                    + (defaults.isEmpty ? "none" : defaults.keys.sorted().joined(separator: ", ")))
            }
            // Settings are counts, rates and radii: a bound keeps every integer conversion and range safe.
            guard v.isFinite, (0...Self.largestSetting).contains(v) else {
                throw MeasureError(description: "measure '\(measure)': setting '\(k)' = \(v) is invalid: expected a number in 0...\(Int(Self.largestSetting))")
            }
            out.values[k] = v
        }
        return out
    }

    /// Canonical JSON of everything that determines a value: stored with it, and part of its identity.
    public var json: String {
        var all: [String: Double] = values
        all["sample_size"] = Double(sampleSize)
        all["seed"] = Double(seed)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(all), as: UTF8.self)
    }

    /// The fixed sample of `train`: `sampleSize` rows drawn by `seed`, in their original order,
    /// the same for every run of a data set.
    public func sample(of train: LabeledData) -> LabeledData {
        guard sampleSize < train.count else { return train }
        let rows = RandomKey(seed: seed, stream: 0x6d65_6173).permutation(train.count).prefix(sampleSize)  // "meas"
        return train.selecting(rows.sorted())
    }

    /// A random key for the draws of `measure` on `subject` (independent of other measures and subjects).
    public func key(_ measure: String, _ subject: Subject) -> RandomKey {
        RandomKey(seed: seed, stream: 0x6472_6177).derived(measure).derived(subject.runID).derived(subject.epoch)  // "draw"
    }
}

/// A measure cannot be computed as asked (an unknown setting, a model it does not apply to).
public struct MeasureError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
