import Foundation
import Synchronization
import ZooData
import ZooMeasures
import ZooNN
import ZooStore
import ZooTrain

/// Which checkpoints of a run to measure.
public enum CheckpointChoice: Sendable, Equatable {
    /// The last checkpoint.
    case final
    /// Every checkpoint.
    case all
    /// The checkpoint of this epoch (runs without one are skipped).
    case epoch(Int)

    /// `final`, `all` or an epoch number.
    public init?(_ text: String) {
        switch text {
        case "final": self = .final
        case "all": self = .all
        default:
            guard let n = Int(text), n >= 0 else { return nil }
            self = .epoch(n)
        }
    }
}

/// What a call to ``MeasureRunner/run(progress:)`` did.
public struct MeasureOutcome: Sendable {
    /// Measures computed and stored (one per run, checkpoint and measure, or per pair).
    public var computed: Int
    /// Of those, measures that could not be computed (stored with their error).
    public var failed: Int
    /// Tasks already stored (or held by another process) and skipped.
    public var skipped: Int
    public var seconds: Double
    /// Whether a stop was requested and the work in flight released.
    public var interrupted: Bool
}

/// Progress of a measure run: what just happened and how much is left.
public struct MeasureProgress: Sendable {
    /// Tasks planned in this call, and those finished (computed, failed, or skipped as stored
    /// or taken by another process).
    public var total: Int
    public var finished: Int
    public var seconds: Double
    /// The time left: each measure's remaining tasks at the seconds per task measured for it so
    /// far (the mean over measured ones for a measure not yet measured); nil before any.
    public var secondsLeft: Double?
    public var event: MeasureEvent

    /// The event as one log line.
    public var message: String {
        switch event {
        case let .started(measure, count): "computing \(measure) for \(count) checkpoint\(count == 1 ? "" : "s")"
        case let .computed(measure, labels, each):
            String(format: "computed %@ for %d checkpoint%@ (%.2f s each)", measure, labels.count, labels.count == 1 ? "" : "s", each)
                + ": " + labels.joined(separator: " ")
        case let .failed(label, error): "\(label): \(error)"
        }
    }
}

/// What a measure runner reports.
public enum MeasureEvent: Sendable {
    /// A batch of one measure over `count` checkpoints (or pairs) starts.
    case started(measure: String, count: Int)
    /// A batch was computed and stored: its tasks' labels (`RUN@EPOCH` or `RUN+RUN@EPOCH`).
    case computed(measure: String, labels: [String], secondsEach: Double)
    /// One task could not be computed (stored with its error).
    case failed(label: String, error: String)
}

/// Computes measures of a store's checkpoints and stores them, resumably: the work is a list of
/// (run, checkpoint, measure, settings) tasks; what is stored at the measure's version is skipped;
/// each batch of tasks is claimed in the store before it is computed, so several processes share
/// the work and a killed one loses only the batch in flight (its claims lapse, or are taken over
/// at once on the same host when its process is gone).
///
/// A batch is one measure over up to ``batchSize`` checkpoints of one architecture and data set,
/// computed as one stacked population.
public final class MeasureRunner: Sendable {
    public let store: any RunStore
    public let data: DataCache
    public let measures: [any Measure]
    public let pairMeasures: [any PairMeasure]
    /// The sample and seed shared by all measures.
    public let settings: MeasureSettings
    /// Per measure name, its settings that differ from the defaults.
    public let overrides: [String: [String: Double]]
    /// Checkpoints measured together (stacked) in one batch.
    public let batchSize: Int
    /// Seconds a claim lasts; it is renewed before each batch.
    public let lease: TimeInterval
    /// Pair only runs that differ in their seed alone, for every pair measure (CKA between seeds
    /// of one config), not only for those whose ``PairMeasure/pairing`` says so.
    public let seedPairsOnly: Bool
    private let stopRequested = Atomic<Bool>(false)

    public init(store: any RunStore, data: DataCache, measures: [any Measure], pairMeasures: [any PairMeasure] = [],
                settings: MeasureSettings = MeasureSettings(), overrides: [String: [String: Double]] = [:],
                batchSize: Int = 16, lease: TimeInterval = 900, seedPairsOnly: Bool = false) throws {
        self.seedPairsOnly = seedPairsOnly
        self.store = store
        self.data = data
        self.measures = measures
        self.pairMeasures = pairMeasures
        self.settings = settings
        self.overrides = overrides
        self.batchSize = max(1, batchSize)
        self.lease = lease
        let known = Set(measures.map(\.name) + pairMeasures.map(\.name))
        if let unknown = overrides.keys.first(where: { !known.contains($0) }) {
            throw MeasureError(description: "settings are given for '\(unknown)', which is not among the measures computed (\(known.sorted().joined(separator: ", ")))")
        }
        for m in measures { _ = try self.settings(m.name, m.defaults) }
        for m in pairMeasures { _ = try self.settings(m.name, m.defaults) }
    }

    /// Asks the runner to stop after the batch in flight (its claims are released).
    public func requestStop() { stopRequested.store(true, ordering: .relaxed) }
    public var isStopping: Bool { stopRequested.load(ordering: .relaxed) }

    private func settings(_ name: String, _ defaults: [String: Double]) throws -> MeasureSettings {
        try settings.resolved(defaults: defaults, overrides: overrides[name] ?? [:], measure: name)
    }

    /// A checkpoint to measure, with what groups it: runs of one model and data set stack.
    struct Point: Hashable {
        var run: String
        var epoch: Int
        var family: String
    }

    /// The tasks for `runs` at `choice`, in batches: one measure, one architecture and data set each.
    /// Pairs are the runs of one model and data set at the same epoch; for a measure of
    /// ``PairScope/seeds``, only those whose configs differ in nothing but the seed.
    func plan(runs: [RunRecord], choice: CheckpointChoice) throws -> [[MeasureTask]] {
        let checkpoints = try store.checkpoints(runs: runs.map(\.id))
        var byRun: [String: [Int]] = [:]
        for c in checkpoints { byRun[c.runID, default: []].append(c.epoch) }
        var points: [Point] = []
        for r in runs {
            guard let epochs = byRun[r.id]?.sorted(), !epochs.isEmpty else { continue }
            let chosen: [Int]
            switch choice {
            case .final: chosen = [epochs.last!]
            case .all: chosen = epochs
            case let .epoch(n): chosen = epochs.contains(n) ? [n] : []
            }
            let family = Self.family(of: r.config)
            points += chosen.map { Point(run: r.id, epoch: $0, family: family) }
        }
        // Checkpoints of one model and data set stack whatever their epochs; pairs compare one epoch.
        let families = Dictionary(grouping: points) { $0.family }.sorted { $0.key < $1.key }.map(\.value)
        let groups = Dictionary(grouping: points) { "\($0.family)\u{0}\($0.epoch)" }.sorted { $0.key < $1.key }.map(\.value)
        let seedless = Dictionary(runs.map { ($0.id, Self.withoutSeed($0.config)) }) { first, _ in first }
        var batches: [[MeasureTask]] = []
        for m in measures {
            let json = try settings(m.name, m.defaults).json
            for group in families {
                let tasks = group.map { MeasureTask(runID: $0.run, epoch: $0.epoch, measure: m.name, version: m.version, settings: json) }
                batches += stride(from: 0, to: tasks.count, by: batchSize).map { Array(tasks[$0 ..< min(tasks.count, $0 + batchSize)]) }
            }
        }
        for m in pairMeasures {
            let json = try settings(m.name, m.defaults).json
            for group in groups {
                var tasks: [MeasureTask] = []
                for i in group.indices { for j in group.indices where j > i {
                    if (m.pairing == .seeds || seedPairsOnly) && seedless[group[i].run] != seedless[group[j].run] { continue }
                    tasks.append(MeasureTask(runID: group[i].run, otherRun: group[j].run, epoch: group[i].epoch, measure: m.name,
                                             version: m.version, settings: json))
                } }
                batches += stride(from: 0, to: tasks.count, by: batchSize).map { Array(tasks[$0 ..< min(tasks.count, $0 + batchSize)]) }
            }
        }
        return batches
    }

    /// The model and data of a stored config: checkpoints of one family stack.
    static func family(of config: String) -> String {
        let flat = (try? FlatConfig.fromCanonicalJSON(config)) ?? [:]
        return flat.filter { $0.key == "model" || $0.key.hasPrefix("model.") || $0.key == "data" || $0.key.hasPrefix("data.") }
            .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.description)" }.joined(separator: "\n")
    }

    /// A stored config without its `seed` key, canonical: equal for runs that differ only in their seed.
    static func withoutSeed(_ config: String) -> String {
        guard var flat = try? FlatConfig.fromCanonicalJSON(config) else { return config }
        flat["seed"] = nil
        return flat.canonicalJSON()
    }

    /// Computes every task not yet stored for `runs` at `choice`.
    /// - Parameter progress: called as each batch starts, is computed, or has a task fail.
    public func run(runs: [RunRecord], choice: CheckpointChoice, owner: ClaimOwner = ClaimOwner(worker: 0),
                    progress: (MeasureProgress) -> Void = { _ in }) throws -> MeasureOutcome {
        let started = Date()
        var outcome = MeasureOutcome(computed: 0, failed: 0, skipped: 0, seconds: 0, interrupted: false)
        let records = Dictionary(uniqueKeysWithValues: runs.map { ($0.id, $0) })
        var subjects = SubjectCache(capacity: 4 * batchSize)
        let batches = try plan(runs: runs, choice: choice)
        var remaining: [String: Int] = [:]
        for b in batches { remaining[b[0].measure, default: 0] += b.count }
        var timing: [String: (tasks: Int, seconds: Double)] = [:]
        let total = batches.reduce(0) { $0 + $1.count }
        func report(_ event: MeasureEvent) {
            let measured = timing.values.reduce((0, 0.0)) { ($0.0 + $1.tasks, $0.1 + $1.seconds) }
            let left: Double? = measured.0 == 0 ? nil : remaining.reduce(0.0) { sum, entry in
                let t = timing[entry.key]
                return sum + Double(entry.value) * (t.map { $0.seconds / Double($0.tasks) } ?? measured.1 / Double(measured.0))
            }
            progress(MeasureProgress(total: total, finished: outcome.computed + outcome.skipped, seconds: Date().timeIntervalSince(started),
                                     secondsLeft: left, event: event))
        }
        for batch in batches {
            if isStopping { outcome.interrupted = true; break }
            let measure = batch[0].measure
            let claimed = try store.claimMeasures(batch, owner: owner, limit: batch.count, lease: lease)
            outcome.skipped += batch.count - claimed.count
            remaining[measure, default: 0] -= batch.count - claimed.count
            guard !claimed.isEmpty else { continue }
            report(.started(measure: measure, count: claimed.count))
            let measured = compute(claimed, records: records, subjects: &subjects)
            for (task, result) in zip(claimed, measured.results) {
                switch result {
                case let .success(values):
                    try store.recordMeasures(task, values: values, seconds: measured.seconds, error: nil, owner: owner)
                case let .failure(error):
                    try store.recordMeasures(task, values: [:], seconds: measured.seconds, error: "\(error)", owner: owner)
                    outcome.failed += 1
                    report(.failed(label: task.label, error: "\(error)"))
                }
                outcome.computed += 1
            }
            remaining[measure, default: 0] -= claimed.count
            timing[measure, default: (0, 0)].tasks += claimed.count
            timing[measure, default: (0, 0)].seconds += measured.seconds * Double(claimed.count)
            report(.computed(measure: measure, labels: claimed.map(\.label), secondsEach: measured.seconds))
        }
        outcome.seconds = Date().timeIntervalSince(started)
        return outcome
    }

    /// Per task its values or why it failed, and the seconds per task. A batch whose stacked
    /// computation fails is computed again one task at a time, so that one bad checkpoint does
    /// not fail the others.
    private func compute(_ tasks: [MeasureTask], records: [String: RunRecord], subjects: inout SubjectCache)
        -> (results: [Result<[String: Double], Error>], seconds: Double)
    {
        let started = Date()
        var results: [Result<[String: Double], Error>]
        do {
            results = try computeTogether(tasks, records: records, subjects: &subjects).map { .success($0) }
        } catch {
            results = tasks.count == 1 ? [.failure(error)] : tasks.map { task in
                Result { try computeTogether([task], records: records, subjects: &subjects)[0] }
            }
        }
        return (results, Date().timeIntervalSince(started) / Double(tasks.count))
    }

    private func computeTogether(_ tasks: [MeasureTask], records: [String: RunRecord], subjects: inout SubjectCache) throws -> [[String: Double]] {
        let name = tasks[0].measure
        func subject(_ run: String, _ epoch: Int, _ s: MeasureSettings) throws -> Subject {
            guard let record = records[run] else { throw MeasureError(description: "run \(run) is not among the runs measured") }
            return try subjects.subject(record, epoch: epoch, settings: s, store: store, data: data)
        }
        if let m = measures.first(where: { $0.name == name }) {
            let s = try settings(m.name, m.defaults)
            let values = try m.values(of: try tasks.map { try subject($0.runID, $0.epoch, s) }, settings: s)
            guard values.count == tasks.count else { throw MeasureError(description: "\(name) returned \(values.count) results for \(tasks.count) checkpoints") }
            return values
        }
        guard let m = pairMeasures.first(where: { $0.name == name }) else { throw MeasureError(description: "unknown measure '\(name)'") }
        let s = try settings(m.name, m.defaults)
        let values = try m.values(of: try tasks.map { (try subject($0.runID, $0.epoch, s), try subject($0.otherRun, $0.epoch, s)) }, settings: s)
        guard values.count == tasks.count else { throw MeasureError(description: "\(name) returned \(values.count) results for \(tasks.count) pairs") }
        return values
    }
}

/// The subjects built recently (a checkpoint is read once for all the measures of a batch).
struct SubjectCache {
    var capacity: Int
    private var entries: [(key: String, subject: Subject)] = []

    init(capacity: Int) { self.capacity = capacity }

    /// The subject of `run` at `epoch`: its config rebuilt, its checkpoint read and checked, its
    /// step losses up to `epoch`, the sample drawn by `settings`.
    mutating func subject(_ run: RunRecord, epoch: Int, settings: MeasureSettings, store: any RunStore, data: DataCache) throws -> Subject {
        let key = "\(run.id)@\(epoch)@\(settings.sampleSize)@\(settings.seed)"
        if let hit = entries.first(where: { $0.key == key }) { return hit.subject }
        guard let record = try store.checkpoints(runs: [run.id]).first(where: { $0.epoch == epoch }) else {
            throw MeasureError(description: "run \(run.id) has no checkpoint of epoch \(epoch)")
        }
        let config = try ConfigSchema.runConfig(try FlatConfig.fromCanonicalJSON(run.config))
        let prepared = try data.load(config.data)
        let state = try StoredCheckpoint.load(record, from: store)
        var losses: [StepLoss] = []
        for m in try store.metrics(runs: [run.id]) where m.epoch <= epoch {
            if let log = m.stepLosses { losses += zip(log.steps, log.means).map { StepLoss(step: $0, loss: $1) } }
        }
        let subject = try Subject(runID: run.id, epoch: epoch, config: config, state: state.evaluatedModel, data: prepared,
                                  settings: settings, stepLosses: losses)
        entries.append((key, subject))
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        return subject
    }
}
