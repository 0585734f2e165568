import Foundation

/// Where a run is in its life.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case pending, running, done, failed, diverged
}

/// How a queue stands, counted by the store without reading its runs (a worker asks before each
/// claim and after each epoch, so this must stay cheap on a queue of a hundred thousand runs).
public struct QueueCounts: Sendable, Equatable {
    /// Runs by status (a status with none is absent).
    public var byStatus: [RunStatus: Int]
    /// Pending runs that can start now: without a parent, or whose parent is done.
    public var ready: Int
    /// Pending runs waiting for a parent that is training, or that is pending among the counted
    /// runs (it becomes claimable when the parent is done).
    public var waiting: Int

    public init(byStatus: [RunStatus: Int] = [:], ready: Int = 0, waiting: Int = 0) {
        self.byStatus = byStatus
        self.ready = ready
        self.waiting = waiting
    }

    /// The runs with this status.
    public subscript(_ status: RunStatus) -> Int { byStatus[status] ?? 0 }

    /// Runs still to train or training.
    public var open: Int { self[.pending] + self[.running] }
}

/// One run as the store keeps it: its id, config JSON and bookkeeping.
public struct RunRecord: Sendable, Equatable {
    public var id: String
    /// The canonical config, JSON.
    public var config: String
    /// Runs with one group key can train together (same architecture, data and batch size).
    public var groupKey: String
    public var status: RunStatus
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    public var host: String?
    public var owner: String?
    public var leaseExpires: Double?
    /// How many times the run was claimed.
    public var attempts: Int
    /// Completed epochs (of the latest attempt).
    public var epochsDone: Int
    public var error: String?
    /// What produced the latest attempt (written by each claim); nil before the first claim, for
    /// runs claimed by older versions, and when the stored JSON cannot be decoded.
    public var provenance: Provenance?
    /// How training ended, in the trainer's words (`completed`, `early-stopped`, `reached-criterion`,
    /// `criterion-not-reached`, `diverged`); nil before it ended and for runs of older versions.
    public var outcome: String?
    /// The run this one branches from (it trains only once its parent is done); nil for a run
    /// that starts from its own initialization.
    public var parent: String?

    public init(id: String, config: String, groupKey: String, status: RunStatus = .pending, createdAt: Double,
                startedAt: Double? = nil, finishedAt: Double? = nil, host: String? = nil, owner: String? = nil,
                leaseExpires: Double? = nil, attempts: Int = 0, epochsDone: Int = 0, error: String? = nil,
                provenance: Provenance? = nil, outcome: String? = nil, parent: String? = nil) {
        self.outcome = outcome
        self.parent = parent
        self.id = id
        self.config = config
        self.groupKey = groupKey
        self.status = status
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.host = host
        self.owner = owner
        self.leaseExpires = leaseExpires
        self.attempts = attempts
        self.epochsDone = epochsDone
        self.error = error
        self.provenance = provenance
    }
}

/// The metrics of one epoch of one run. Non-finite values are kept (SQLite would turn NaN into NULL).
/// One claim of a run and how it ended: `done`, `diverged` or `failed` (the worker finished it),
/// `released` (handed back: SIGINT, SIGTERM), `lost` (the worker stopped renewing its lease, or its
/// process on the same host was gone, and another claim took the run over); nil while it runs.
public struct AttemptRecord: Sendable, Equatable {
    public var runID: String
    /// 1 for the first claim.
    public var attempt: Int
    public var owner: String
    public var host: String
    public var startedAt: Double
    public var endedAt: Double?
    public var outcome: String?
    public var error: String?

    public init(runID: String, attempt: Int, owner: String, host: String, startedAt: Double, endedAt: Double? = nil,
                outcome: String? = nil, error: String? = nil) {
        self.runID = runID
        self.attempt = attempt
        self.owner = owner
        self.host = host
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.error = error
    }
}

/// The queue's policy, as store metadata.
public enum QueuePolicy {
    /// The `meta` key of the most attempts a run may lose (its worker died) before it fails.
    public static let maxLostAttemptsKey = "max_lost_attempts"
    /// The default: a run whose workers die three times is more likely to kill them than unlucky.
    public static let defaultMaxLostAttempts = 3
}

/// A sweep as the store keeps it: its id (from the spec), name and spec text.
public struct SweepRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var spec: String
    public var createdAt: Double

    public init(id: String, name: String, spec: String, createdAt: Double) {
        self.id = id
        self.name = name
        self.spec = spec
        self.createdAt = createdAt
    }
}

public struct MetricRecord: Sendable, Equatable {
    /// The metric columns. `seconds` is the epoch's wall time (of the whole population when members
    /// train together), `member_seconds` this member's own share of it; `running_loss` and
    /// `running_accuracy` are the training-mode averages over the epoch's batches (dropout on,
    /// batch statistics), not a measurement of the trained model.
    public static let columns = ["scheduled_lr", "scheduled_batch_size", "seconds", "train_loss", "train_accuracy",
                                 "validation_loss", "validation_accuracy", "test_loss", "test_accuracy",
                                 "member_seconds", "running_loss", "running_accuracy"]
    public var runID: String
    public var epoch: Int
    public var step: Int
    /// Values by column name (see ``columns``); absent when not measured.
    public var values: [String: Double]
    /// The training loss logged during the epoch, when logging was on.
    public var stepLosses: StepLossLog?
    /// The test predictions of the epoch (`record_predictions: test`), written with the metrics
    /// in one transaction. ``RunStore/metrics(runs:)`` leaves it nil: read them with
    /// ``RunStore/predictions(runs:epoch:)``.
    public var predictions: PredictionLog?

    public init(runID: String, epoch: Int, step: Int, values: [String: Double], stepLosses: StepLossLog? = nil,
                predictions: PredictionLog? = nil) {
        self.runID = runID
        self.epoch = epoch
        self.step = step
        self.values = values
        self.stepLosses = stepLosses
        self.predictions = predictions
    }

    public static func == (a: MetricRecord, b: MetricRecord) -> Bool {
        a.runID == b.runID && a.epoch == b.epoch && a.step == b.step && a.values.count == b.values.count && a.stepLosses == b.stepLosses
            && a.predictions == b.predictions
            && a.values.allSatisfy { k, v in b.values[k].map { $0 == v || ($0.isNaN && v.isNaN) } ?? false }
    }
}

/// A checkpoint file of a run, with its SHA-256.
public struct CheckpointRecord: Sendable, Equatable {
    public var runID: String
    /// The completed epochs of the state it holds.
    public var epoch: Int
    /// Relative to the store's checkpoint folder: `RUN/epoch-N.safetensors`, or
    /// `RUN/step-K.safetensors` for a step checkpoint.
    public var path: String
    public var sha256: String
    public var bytes: Int
    /// For a step checkpoint (taken after optimizer step `step`, possibly mid-epoch, for branches
    /// that rewind to it): the step; nil for an epoch's checkpoint.
    public var step: Int?

    /// The path of a run's checkpoint relative to the checkpoint folder (the same name when it is
    /// kept in a database): `RUN/epoch-N.safetensors`, or `RUN/step-K.safetensors` with a step.
    public static func path(run id: String, epoch: Int, step: Int?) -> String {
        step.map { "\(id)/step-\($0).safetensors" } ?? "\(id)/epoch-\(epoch).safetensors"
    }

    public init(runID: String, epoch: Int, path: String, sha256: String, bytes: Int, step: Int? = nil) {
        self.step = step
        self.runID = runID
        self.epoch = epoch
        self.path = path
        self.sha256 = sha256
        self.bytes = bytes
    }
}

/// Who holds a claim: a host, a process and a worker in it.
public struct ClaimOwner: Sendable, Equatable {
    public var host: String
    public var pid: Int32
    public var worker: Int
    public init(host: String = ProcessInfo.processInfo.hostName, pid: Int32 = ProcessInfo.processInfo.processIdentifier, worker: Int) {
        self.host = host
        self.pid = pid
        self.worker = worker
    }
    /// `HOST:PID:WORKER`, as stored in `runs.owner`.
    public var id: String { "\(host):\(pid):\(worker)" }

    /// Whether a process with this id exists on this host.
    public static let processIsAlive: @Sendable (Int32) -> Bool = { pid in kill(pid, 0) == 0 || errno == EPERM }

    /// Whether the owner stored as `owner` (``id``) is a process of `host` that is gone.
    package static func isGone(_ owner: String?, host: String, isAlive: (Int32) -> Bool) -> Bool {
        guard let parts = owner?.split(separator: ":"), parts.count >= 3, String(parts[0]) == host, let pid = Int32(parts[1]) else { return false }
        return !isAlive(pid)
    }
}

/// A run's new identity: `old` becomes `new`, with the config and group key that go with it.
public struct RunRename: Sendable, Equatable, Codable {
    public var old: String
    public var new: String
    /// The canonical config JSON of the new id.
    public var config: String
    public var groupKey: String

    public init(old: String, new: String, config: String, groupKey: String) {
        self.old = old
        self.new = new
        self.config = config
        self.groupKey = groupKey
    }
}

/// A store that cannot be opened or queried as asked.
public struct StoreError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// The training loss logged within one epoch: the mean minibatch loss of every `interval`
/// optimizer steps (the last window of the epoch may be shorter), for the training-dynamics
/// measures. Stored compactly with the epoch's metrics (4 bytes a window).
public struct StepLossLog: Sendable, Equatable {
    /// Steps per window.
    public var interval: Int
    /// The optimizer step count when the epoch began.
    public var firstStep: Int
    /// The step count when it ended.
    public var lastStep: Int
    /// One mean loss per window, in order.
    public var means: [Float]

    public init(interval: Int, firstStep: Int, lastStep: Int, means: [Float]) {
        self.interval = interval
        self.firstStep = firstStep
        self.lastStep = lastStep
        self.means = means
    }

    /// The step count at the end of each window.
    public var steps: [Int] { means.indices.map { min(firstStep + ($0 + 1) * interval, lastStep) } }

    public static func == (a: StepLossLog, b: StepLossLog) -> Bool {
        a.interval == b.interval && a.firstStep == b.firstStep && a.lastStep == b.lastStep && a.means.count == b.means.count
            && zip(a.means, b.means).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
    }
}

/// One (run, checkpoint, measure, settings) to compute: what a measure claim names.
public struct MeasureTask: Sendable, Hashable {
    public var runID: String
    /// The second run of a pairwise measure; empty for a measure of one run.
    public var otherRun: String
    public var epoch: Int
    public var measure: String
    /// The measure's version: stored values of another version are computed again.
    public var version: Int
    /// Canonical JSON of the settings the values depend on.
    public var settings: String

    public init(runID: String, otherRun: String = "", epoch: Int, measure: String, version: Int, settings: String) {
        self.runID = runID
        self.otherRun = otherRun
        self.epoch = epoch
        self.measure = measure
        self.version = version
        self.settings = settings
    }

    /// `RUN[×OTHER]@EPOCH MEASURE`, for logs.
    public var label: String {
        "\(runID.prefix(8))\(otherRun.isEmpty ? "" : "×" + otherRun.prefix(8))@\(epoch) \(measure)"
    }
}

/// One stored measure value.
public struct MeasureRecord: Sendable, Equatable {
    public var task: MeasureTask
    /// The part of the measure this value is (`""` for the measure's own value).
    public var key: String
    public var value: Double
    /// Seconds the whole measure took on this checkpoint (all its keys).
    public var seconds: Double
    /// Why the measure could not be computed (the value is NaN then).
    public var error: String?

    public init(task: MeasureTask, key: String, value: Double, seconds: Double, error: String? = nil) {
        self.task = task
        self.key = key
        self.value = value
        self.seconds = seconds
        self.error = error
    }

    /// `measure` or `measure.key`: the column name in tables and exports.
    public var column: String { key.isEmpty ? task.measure : "\(task.measure).\(key)" }

    public static func == (a: MeasureRecord, b: MeasureRecord) -> Bool {
        a.task == b.task && a.key == b.key && (a.value == b.value || (a.value.isNaN && b.value.isNaN))
            && a.seconds == b.seconds && a.error == b.error
    }
}

extension StepLossLog {
    /// The stored form: `interval, firstStep, lastStep` as three little-endian Int64, then the
    /// means as little-endian Float32 (the `step_losses` column of every store).
    public func encoded() -> Data {
        var out = Data(capacity: 24 + 4 * means.count)
        for v in [interval, firstStep, lastStep] { withUnsafeBytes(of: Int64(v).littleEndian) { out.append(contentsOf: $0) } }
        for m in means { withUnsafeBytes(of: m.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }

    /// The log in `data`, or nil when the bytes are not one (a damaged row is not trusted: the
    /// epoch's metrics still read, without their step losses).
    public init?(encoded data: Data) {
        let bytes = [UInt8](data)
        guard bytes.count >= 24, (bytes.count - 24) % 4 == 0 else { return nil }
        func int(_ at: Int) -> Int64 { (0..<8).reduce(Int64(0)) { $0 | Int64(bytes[at + $1]) << (8 * $1) } }
        let interval = int(0), first = int(8), last = int(16)
        guard interval >= 1, first >= 0, last >= first, interval <= Int64(Int32.max), last <= Int64(Int32.max) else { return nil }
        let means = stride(from: 24, to: bytes.count, by: 4).map { at in
            Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) })
        }
        self.init(interval: Int(interval), firstStep: Int(first), lastStep: Int(last), means: means)
    }
}
