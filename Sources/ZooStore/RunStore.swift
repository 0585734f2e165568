import Foundation

/// Where a zoo lives: runs and their configs, the queue of work, metrics per epoch, checkpoint
/// files and sweeps. ``SQLiteStore`` implements it on one machine; a PostgreSQL store will
/// implement it for workers on many.
///
/// A store knows run ids, JSON configs and bytes — not tensors, not specs. Several processes may
/// share one: a run is claimed by one owner at a time, under a lease that its worker renews; a run
/// whose lease ran out, or whose process on this host is gone, can be claimed again.
///
/// Convenience overloads with default arguments are in the extension below; implementations
/// provide the full requirements.
public protocol RunStore: Sendable {
    /// The folder holding checkpoint files, `RUN/epoch-N.safetensors`; nil when the store keeps
    /// checkpoints in its database (PostgreSQL with `checkpoints=database`).
    var checkpointFolder: URL? { get }

    /// The schema versions applied to this store, oldest first.
    func appliedMigrations() throws -> [String]

    // MARK: Sweeps and runs

    /// Records a sweep and its runs; runs already present are left untouched (and join the sweep).
    /// - Returns: the ids of the runs that were new.
    ///
    /// `parents` names, for runs that branch from another, the run they branch from: such a run
    /// is claimed only once its parent is done, and fails when its parent fails or diverges.
    @discardableResult
    func addSweep(id: String, name: String, spec: String, runs: [(id: String, config: String, groupKey: String)],
                  parents: [String: String]) throws -> [String]

    /// Names runs within the sweep `sweep` (a spec's `label:`; nil removes a name). Labels are
    /// no part of a run's identity: the same run may carry another label in another sweep.
    func labelRuns(sweep: String, labels: [String: String?]) throws

    /// Each labeled run's label: in the sweep `sweep`, or, when nil, in the most recently added
    /// sweep that labels it.
    func runLabels(sweep: String?) throws -> [String: String]

    /// Runs, oldest first; each filter applies when not nil: any of `status`, members of the sweep
    /// `sweep`, one of `ids`.
    func runs(status: [RunStatus]?, sweep: String?, ids: [String]?) throws -> [RunRecord]

    /// The run with this id, or the only run whose id starts with it.
    func run(matching prefix: String) throws -> RunRecord

    /// The queue's counts (of the sweep `sweep`'s runs, or all), without reading the runs.
    func queueCounts(sweep: String?) throws -> QueueCounts

    // MARK: Claims

    /// Claims up to `limit` runs of one group for `owner`, for `lease` seconds: the group of the
    /// oldest claimable run, and its claimable runs oldest first. Claimable are pending runs and
    /// running runs whose lease expired or whose owner is a process of this host that `isAlive`
    /// says is gone. With `sweep`, only runs of that sweep are candidates. Each claimed run counts
    /// an attempt (``attempts(runs:)``) and, when given, records `provenance` (the latest
    /// attempt's). The attempt of a run taken over is recorded as lost, with why; a run that has
    /// lost ``QueuePolicy/maxLostAttemptsKey`` attempts (default 3) fails instead of being claimed.
    func claim(owner: ClaimOwner, limit: Int, lease: TimeInterval, sweep: String?, provenance: Provenance?,
               isAlive: (Int32) -> Bool) throws -> [RunRecord]

    /// Every claim of the given runs (all when nil) and how it ended, by run then attempt.
    func attempts(runs ids: [String]?) throws -> [AttemptRecord]

    /// Extends the lease of those of `ids` that `owner` holds.
    func renewLease(owner: ClaimOwner, runs ids: [String], lease: TimeInterval) throws

    /// Hands those of `ids` that `owner` holds back to the queue (status pending).
    func release(owner: ClaimOwner, runs ids: [String]) throws

    /// Records how a run that `owner` holds ended, with the trainer's `outcome` when it finished training.
    func finish(run id: String, owner: ClaimOwner, status: RunStatus, error: String?, outcome: String?) throws

    /// Puts failed runs back in the queue.
    /// - Returns: how many.
    @discardableResult
    func retryFailed() throws -> Int

    // MARK: Metrics and checkpoints

    /// Stores (or replaces) the metrics of one epoch, and sets the run's completed-epoch count to it.
    func record(_ metrics: MetricRecord) throws

    /// Removes the metrics and the checkpoint records after `epoch` (work lost by an
    /// interruption, or a checkpoint file that is missing or corrupt, about to be redone).
    func deleteMetrics(run id: String, after epoch: Int) throws

    /// Every epoch's metrics of the given runs (all runs when nil), by run then epoch.
    func metrics(runs ids: [String]?) throws -> [MetricRecord]

    /// Stores the bytes of the checkpoint of `run` at `epoch` (after optimizer step `step` for a
    /// step checkpoint) where this store keeps checkpoints, and records them with their SHA-256
    /// (hex, computed by the caller); a second one for the same point replaces the first. Files
    /// are written atomically.
    func saveCheckpoint(_ bytes: Data, sha256: String, run id: String, epoch: Int, step: Int?) throws

    /// The bytes of a recorded checkpoint, as stored (``StoredCheckpoint`` checks them against
    /// the record).
    /// - Throws: ``StoreError`` naming the checkpoint when they are missing, or when the record's
    ///   path leaves its run's folder.
    func checkpointData(_ record: CheckpointRecord) throws -> Data

    /// Records a checkpoint file already written at ``checkpointURL(run:epoch:)``.
    func recordCheckpoint(run id: String, epoch: Int, sha256: String, bytes: Int) throws

    /// The checkpoints of the given runs (all when nil), by run then epoch.
    func checkpoints(runs ids: [String]?) throws -> [CheckpointRecord]

    /// Records a step checkpoint file already written at ``stepCheckpointURL(run:step:)``
    /// (the state after optimizer step `step`, within epoch `epoch + 1`).
    func recordStepCheckpoint(run id: String, step: Int, epoch: Int, sha256: String, bytes: Int) throws

    /// The step checkpoints of the given runs (all when nil), by run then step.
    func stepCheckpoints(runs ids: [String]?) throws -> [CheckpointRecord]

    /// The recorded test predictions (``MetricRecord/predictions``) of the given runs (all when
    /// nil), at `epoch` or at every epoch when nil, by run then epoch.
    /// - Throws: ``StoreError`` naming the run and epoch of a blob that does not decode.
    func predictions(runs ids: [String]?, epoch: Int?) throws -> [PredictionRecord]

    /// The epochs at which each of the given runs (all when nil) has recorded predictions,
    /// ascending, without reading them; runs without any are absent.
    func predictionEpochs(runs ids: [String]?) throws -> [String: [Int]]

    /// The row count of each table (for checks and summaries).
    func counts() throws -> [String: Int]

    // MARK: Measures

    /// Claims, in order, up to `limit` of `tasks` for `owner` for `lease` seconds: those whose
    /// values are not stored at the task's version and that no one else holds (a claim whose lease
    /// ran out, or whose owner is a process of this host that `isAlive` says is gone, is taken over).
    func claimMeasures(_ tasks: [MeasureTask], owner: ClaimOwner, limit: Int, lease: TimeInterval,
                       isAlive: (Int32) -> Bool) throws -> [MeasureTask]

    /// Stores a claimed task's values (replacing any of another version) and drops its claim, in
    /// one transaction. With `error`, the measure could not be computed: one NaN value records why.
    func recordMeasures(_ task: MeasureTask, values: [String: Double], seconds: Double, error: String?, owner: ClaimOwner) throws

    /// Drops `owner`'s claims on `tasks` (not computed after all).
    func releaseMeasures(_ tasks: [MeasureTask], owner: ClaimOwner) throws

    /// Extends `owner`'s claims on `tasks`.
    func renewMeasureClaims(_ tasks: [MeasureTask], owner: ClaimOwner, lease: TimeInterval) throws

    /// The stored measure values of the given runs (as the first run of a pair too; all when nil).
    func measures(runs ids: [String]?) throws -> [MeasureRecord]

    // MARK: Metadata and renames

    /// The store-wide value of `key`, nil when unset.
    func metadata(_ key: String) throws -> String?

    /// Sets the store-wide value of `key`.
    func setMetadata(_ key: String, _ value: String) throws

    /// Gives runs new ids (the identity rule changed), with everything that refers to them:
    /// metrics, checkpoints and their files, sweep memberships. All or nothing for the store's rows;
    /// checkpoint folders follow after, and a move interrupted by a crash is finished the next time
    /// the store is opened. When a new id is already taken, the run further along is kept (done,
    /// diverged, failed, running, pending; then more epochs) and the other is dropped. Meant for
    /// a store no worker is training in: a worker holding a renamed run would write to the old id.
    func renameRuns(_ renames: [RunRename]) throws

    // MARK: Copies

    /// The sweeps, oldest first.
    func sweeps() throws -> [SweepRecord]

    /// Writes runs as another store holds them (a copy, ``StoreCopy``): a run missing here is
    /// added as given; one here is overwritten when the given one is further along (done >
    /// diverged > failed > running > pending, then more epochs), else left as it is.
    /// - Returns: the ids written, in the given order.
    @discardableResult
    func importRuns(_ runs: [RunRecord]) throws -> [String]

    /// Writes attempts as another store holds them (a copy): each replaces the attempt with the
    /// same run and number.
    func importAttempts(_ attempts: [AttemptRecord]) throws

    /// Moves the train loss and accuracy of the given runs' metrics to the running columns where
    /// those are empty: for runs whose train metrics were the running average (stores of Zoo 0.4
    /// kept it under `train_*`).
    func relabelRunningMetrics(runs ids: [String]) throws
}

extension RunStore {
    /// Where the checkpoint of `run` at `epoch` is written in the checkpoint folder (nil without one).
    public func checkpointURL(run id: String, epoch: Int) -> URL? {
        checkpointFolder?.appendingPathComponent(CheckpointRecord.path(run: id, epoch: epoch, step: nil))
    }

    /// Where the checkpoint of `run` after optimizer step `step` is written (nil without a folder).
    public func stepCheckpointURL(run id: String, step: Int) -> URL? {
        checkpointFolder?.appendingPathComponent(CheckpointRecord.path(run: id, epoch: 0, step: step))
    }

    public func saveCheckpoint(_ bytes: Data, sha256: String, run id: String, epoch: Int, step: Int?) throws {
        try writeCheckpointFile(bytes, sha256: sha256, run: id, epoch: epoch, step: step)
    }

    public func checkpointData(_ record: CheckpointRecord) throws -> Data {
        try readCheckpointFile(record)
    }

    /// ``saveCheckpoint(_:sha256:run:epoch:step:)`` for checkpoints kept as files: written atomically
    /// (a temporary file, flushed, then renamed) into the run's folder, then recorded.
    public func writeCheckpointFile(_ bytes: Data, sha256: String, run id: String, epoch: Int, step: Int?) throws {
        guard let folder = checkpointFolder else { throw StoreError(description: "this store has no checkpoint folder") }
        let url = folder.appendingPathComponent(CheckpointRecord.path(run: id, epoch: epoch, step: step))
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw StoreError(description: "cannot create \(temporary.path)")
            }
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try handle.write(contentsOf: bytes)
            try handle.synchronize()
            guard rename(temporary.path, url.path) == 0 else { throw StoreError(description: "cannot rename \(temporary.path) to \(url.path) (errno \(errno))") }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw StoreError(description: "cannot write checkpoint \(url.path): \(error)")
        }
        if let step {
            try recordStepCheckpoint(run: id, step: step, epoch: epoch, sha256: sha256, bytes: bytes.count)
        } else {
            try recordCheckpoint(run: id, epoch: epoch, sha256: sha256, bytes: bytes.count)
        }
    }

    /// ``checkpointData(_:)`` for checkpoints kept as files: the record's path must lie inside
    /// its run's folder (a store row is not trusted to name a file elsewhere).
    public func readCheckpointFile(_ record: CheckpointRecord) throws -> Data {
        guard let folder = checkpointFolder?.standardizedFileURL.resolvingSymlinksInPath() else {
            throw StoreError(description: "checkpoint \(record.path.prefix(200)) is not in the database, and this store has no checkpoint folder")
        }
        let url = folder.appendingPathComponent(record.path).standardizedFileURL.resolvingSymlinksInPath()
        guard !record.runID.isEmpty, !record.runID.contains("/"), record.runID != "..", url.path.hasPrefix(folder.path + "/\(record.runID)/") else {
            throw StoreError(description: "the recorded path '\(record.path.prefix(200))' leaves the run's checkpoint folder")
        }
        do { return try Data(contentsOf: url) } catch { throw StoreError(description: "\(url.path) is missing") }
    }

    /// Records a sweep of runs that branch from none (see ``addSweep(id:name:spec:runs:parents:)``).
    @discardableResult
    public func addSweep(id: String, name: String, spec: String, runs: [(id: String, config: String, groupKey: String)]) throws -> [String] {
        try addSweep(id: id, name: name, spec: spec, runs: runs, parents: [:])
    }

    /// Runs, oldest first, optionally only those of some statuses or of one sweep.
    public func runs(status: [RunStatus]? = nil, sweep: String? = nil) throws -> [RunRecord] {
        try runs(status: status, sweep: sweep, ids: nil)
    }

    /// The runs with these ids, oldest first.
    public func runs(ids: [String]) throws -> [RunRecord] {
        try runs(status: nil, sweep: nil, ids: ids)
    }

    /// Claims runs as ``claim(owner:limit:lease:sweep:provenance:isAlive:)`` does, checking
    /// processes of this host with ``ClaimOwner/processIsAlive``.
    public func claim(owner: ClaimOwner, limit: Int, lease: TimeInterval, sweep: String? = nil,
                      provenance: Provenance? = nil) throws -> [RunRecord] {
        try claim(owner: owner, limit: limit, lease: lease, sweep: sweep, provenance: provenance, isAlive: ClaimOwner.processIsAlive)
    }

    /// Claims runs of any sweep, checking processes of this host with `isAlive`.
    public func claim(owner: ClaimOwner, limit: Int, lease: TimeInterval, isAlive: (Int32) -> Bool) throws -> [RunRecord] {
        try claim(owner: owner, limit: limit, lease: lease, sweep: nil, provenance: nil, isAlive: isAlive)
    }

    /// Records how a run ended, without an error message.
    public func finish(run id: String, owner: ClaimOwner, status: RunStatus) throws {
        try finish(run: id, owner: owner, status: status, error: nil, outcome: nil)
    }

    /// Records how a run ended, with an error message and no outcome.
    public func finish(run id: String, owner: ClaimOwner, status: RunStatus, error: String?) throws {
        try finish(run: id, owner: owner, status: status, error: error, outcome: nil)
    }

    /// Claims measure tasks as ``claimMeasures(_:owner:limit:lease:isAlive:)`` does, checking
    /// processes of this host with ``ClaimOwner/processIsAlive``.
    public func claimMeasures(_ tasks: [MeasureTask], owner: ClaimOwner, limit: Int, lease: TimeInterval) throws -> [MeasureTask] {
        try claimMeasures(tasks, owner: owner, limit: limit, lease: lease, isAlive: ClaimOwner.processIsAlive)
    }

    /// Every stored measure value.
    public func measures() throws -> [MeasureRecord] { try measures(runs: nil) }

    /// Every run's metrics, by run then epoch.
    public func metrics() throws -> [MetricRecord] { try metrics(runs: nil) }

    /// Every run's checkpoints, by run then epoch.
    public func checkpoints() throws -> [CheckpointRecord] { try checkpoints(runs: nil) }
}
