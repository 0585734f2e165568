import Foundation
import Synchronization
import ZooData
import ZooNN
import ZooStore
import ZooTensor
import ZooTrain

/// Progress of a sweep: what just happened, with the sweep's totals at that moment.
public struct SweepProgress: Sendable {
    /// Runs of the sweep done or diverged, in the store (other processes' included).
    public var runsDone: Int
    public var runsTotal: Int
    /// Member-epochs this runner recorded so far.
    public var memberEpochs: Int
    public var seconds: Double
    public var event: SweepEvent

    /// The event as one log line, nil for a training step (too frequent to log).
    public var message: String? {
        switch event {
        case let .message(text): text
        case let .epoch(e): "\(e.run.prefix(8)) epoch \(e.epoch)/\(e.epochs)" + (e.values["test_accuracy"].map { String(format: " test acc %.2f%%", $0 * 100) } ?? "")
        case .step: nil
        case let .finished(run, status, detail):
            "\(run.prefix(8)) " + (status == .failed ? "failed: \(detail ?? "")" : detail ?? status.rawValue)
        }
    }

    public var memberEpochsPerSecond: Double { seconds > 0 ? Double(memberEpochs) / seconds : 0 }
}

/// What a sweep runner reports.
public enum SweepEvent: Sendable {
    /// A notable line: a population starts, a run ends or fails, a checkpoint is not used.
    case message(String)
    /// A worker's population took a training step.
    case step(WorkerStep)
    /// A member's epoch was recorded (its metrics as stored).
    case epoch(RecordedEpoch)
    /// A run ended: done, diverged or failed (with why), or interrupted and released.
    case finished(run: String, status: RunStatus, detail: String?)
}

/// Where one worker is: the population it trains and its step in the current epoch.
public struct WorkerStep: Sendable, Equatable {
    public var worker: Int
    /// The runs of the population (one for a population of one).
    public var runs: [String]
    /// The epoch being trained, from 1, and the population's last epoch.
    public var epoch: Int
    public var epochs: Int
    /// Steps finished in this epoch, of `stepsInEpoch`.
    public var stepsDone: Int
    public var stepsInEpoch: Int
    /// Training samples per member in an epoch.
    public var samplesInEpoch: Int
}

/// A member's recorded epoch.
public struct RecordedEpoch: Sendable {
    public var run: String
    public var epoch: Int
    public var epochs: Int
    public var values: [String: Double]
}

/// How a call to ``SweepRunner/run(progress:)`` ended.
public struct SweepOutcome: Sendable {
    /// Runs that finished (done or diverged) in this call.
    public var finished: Int
    public var failed: Int
    /// Whether a stop was requested (SIGINT/SIGTERM) and running members were checkpointed and released.
    public var interrupted: Bool
    public var memberEpochs: Int
    public var seconds: Double
    /// Where the workers' time went.
    public var timing: SweepTiming
}

/// Where a sweep's time went, in seconds summed over its workers (a worker's time is the
/// sweep's wall time): training steps, evaluation passes, recording (metrics, checkpoints and
/// the runs' outcomes written to the store), preparing claimed runs (configs, data, models,
/// checkpoints read); the rest is claiming, waiting for parents and idle workers.
public struct SweepTiming: Sendable, Equatable {
    public var steps = 0.0, evaluation = 0.0, recording = 0.0, preparing = 0.0

    /// The parts as fractions of `total` worker-seconds, with the rest as "other".
    public func fractions(of total: Double) -> [(name: String, seconds: Double, fraction: Double)] {
        let parts = [("training steps", steps), ("evaluation", evaluation), ("metrics and checkpoints", recording),
                     ("preparing runs", preparing)]
        let other = max(0, total - parts.map(\.1).reduce(0, +))
        return (parts + [("other", other)]).map { ($0.0, $0.1, total > 0 ? $0.1 / total : 0) }
    }
}

/// Trains the pending runs of a store with `workers` threads: each claims a group of compatible
/// runs (with a lease it renews), trains them, records metrics every epoch and checkpoints on
/// the run's schedule, and resumes an interrupted run from its last checkpoint.
///
/// Claimed runs at the same point with the same ``RunConfig/populationKey(model:)`` train in one
/// pass as a population (``PopulationTrainer``, which also trains a single run, as a population
/// of one).
public final class SweepRunner: Sendable {
    public let store: any RunStore
    public let data: DataCache
    public let workers: Int
    /// The most runs one worker trains as one population.
    public let populationSize: Int
    /// Seconds a claim lasts without renewal.
    public let lease: TimeInterval
    /// Only runs of this sweep are claimed (all pending runs of the store when nil).
    public let sweep: String?
    /// What produced the numbers, recorded with every claimed run.
    public let provenance: Provenance
    /// What a worker does when nothing can be claimed.
    public let whenIdle: IdlePolicy
    /// The most runs this runner claims in all (all it can when nil).
    public let maxRuns: Int?
    /// Compute threads of each worker's kernels (by default 2 for a single worker, else 1).
    public let kernelThreads: Int
    /// The host name its claims record (runs of a gone process of this host are taken over at once).
    public let host: String

    /// What a worker does when it finds nothing to claim.
    public enum IdlePolicy: Sendable, Equatable {
        /// Stops, unless a pending run waits for a parent that is training (`zoo sweep run`).
        case stop
        /// Waits while any run is pending or running (another worker's runs come back when its
        /// lease runs out), polling every `poll` seconds; stops when the queue is empty or after
        /// `limit` seconds without a claim (`zoo worker`).
        case waitForQueue(limit: TimeInterval, poll: TimeInterval)
    }
    private let stopRequested = Atomic<Bool>(false)
    private let counters = Mutex<(done: Int, failed: Int, epochs: Int)>((0, 0, 0))
    private let timing = Mutex(SweepTiming())
    /// Runs of the sweep done in the store, as last read (a step event does not query the store).
    private let storeDone = Atomic<Int>(0)
    /// Runs claimed so far, against ``maxRuns``.
    private let claimedCount = Mutex(0)

    public init(store: any RunStore, data: DataCache, workers: Int, populationSize: Int = 32, lease: TimeInterval = 120,
                sweep: String? = nil, provenance: Provenance, whenIdle: IdlePolicy = .stop, maxRuns: Int? = nil, kernelThreads: Int? = nil,
                host: String = ProcessInfo.processInfo.hostName) {
        precondition(workers >= 1, "SweepRunner: needs at least one worker")
        precondition(populationSize >= 1, "SweepRunner: a population needs at least one member")
        self.whenIdle = whenIdle
        self.host = host
        self.maxRuns = maxRuns
        self.kernelThreads = kernelThreads ?? (workers == 1 ? 2 : 1)
        self.populationSize = populationSize
        self.store = store
        self.data = data
        self.workers = workers
        self.lease = lease
        self.sweep = sweep
        self.provenance = provenance
    }

    /// Asks every worker to checkpoint its current run at the last finished epoch, release its
    /// claims and stop (safe to call from a signal handler's queue).
    public func requestStop() { stopRequested.store(true, ordering: .relaxed) }

    public var isStopping: Bool { stopRequested.load(ordering: .relaxed) }

    /// Runs until no run is left to claim or a stop is requested.
    public func run(total: Int, progress: @escaping @Sendable (SweepProgress) -> Void = { _ in }) -> SweepOutcome {
        BLAS.setThreadCount(kernelThreads)
        let started = Date()
        let group = DispatchGroup()
        for w in 0..<workers {
            group.enter()
            let thread = Thread { [self] in
                BLAS.prepareCurrentThread()
                self.work(worker: w, total: total, started: started, progress: progress)
                group.leave()
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        group.wait()
        let c = counters.withLock { $0 }
        return SweepOutcome(finished: c.done, failed: c.failed, interrupted: isStopping, memberEpochs: c.epochs,
                            seconds: Date().timeIntervalSince(started), timing: timing.withLock { $0 })
    }

    private func work(worker: Int, total: Int, started: Date, progress: @Sendable (SweepProgress) -> Void) {
        let owner = ClaimOwner(host: host, worker: worker)
        func report(_ event: SweepEvent) {
            if case .step = event {} else if let counts = try? store.queueCounts(sweep: sweep) {
                storeDone.store(counts[.done] + counts[.diverged], ordering: .relaxed)
            }
            let c = counters.withLock { $0 }
            progress(SweepProgress(runsDone: storeDone.load(ordering: .relaxed), runsTotal: total, memberEpochs: c.epochs,
                                   seconds: Date().timeIntervalSince(started), event: event))
        }
        var idleSince: Date?
        while !isStopping {
            let claimed: [RunRecord]
            do {
                let limit = reserve(claimShare())
                guard limit > 0 else { return }
                claimed = try store.claim(owner: owner, limit: limit, lease: lease, sweep: sweep, provenance: provenance)
                unreserve(limit - claimed.count)
            } catch {
                report(.message("worker \(worker): cannot claim runs: \(error)"))
                return
            }
            if claimed.isEmpty {
                let since = idleSince ?? Date()
                idleSince = since
                guard let pause = idlePause(idleFor: Date().timeIntervalSince(since)) else { return }
                Thread.sleep(forTimeInterval: pause)
                continue
            }
            idleSince = nil
            var members: [Member] = []
            timed(\.preparing) {
                for run in claimed {
                    do { members.append(try prepare(run, report: report)) } catch { fail(run, owner: owner, error, report: report) }
                }
            }
            // Members at the same point with one population key train in one pass.
            var rest = members
            while let first = rest.first {
                if isStopping {
                    try? store.release(owner: owner, runs: rest.map(\.run.id))
                    return
                }
                let batch = rest.filter { $0.resumePoint == first.resumePoint && $0.populationKey == first.populationKey }
                rest.removeAll { m in batch.contains { $0.run.id == m.run.id } }
                train(batch, worker: worker, owner: owner, claimed: claimed.map(\.id), report: report)
            }
        }
    }

    /// Runs `body`, adding its wall time to one part of ``SweepTiming``.
    private func timed<T>(_ part: WritableKeyPath<SweepTiming, Double>, _ body: () throws -> T) rethrows -> T {
        let start = Date()
        defer { let seconds = Date().timeIntervalSince(start); timing.withLock { $0[keyPath: part] += seconds } }
        return try body()
    }

    /// How many runs a worker claims: an even share among the workers of the runs that can train
    /// now (pending ones whose parent, if any, is done) and those training, at most
    /// `populationSize`. Counted afresh at each claim, so that a wave of branches released by
    /// their parents is split between the workers instead of taken whole by the first.
    private func claimShare() -> Int {
        guard let counts = try? store.queueCounts(sweep: sweep) else { return populationSize }
        let ready = counts.ready + counts[.running]
        return max(1, min(populationSize, (ready + workers - 1) / workers))
    }

    /// Takes up to `wanted` of the runs ``maxRuns`` leaves; returns how many.
    private func reserve(_ wanted: Int) -> Int {
        claimedCount.withLock { count in
            let granted = maxRuns.map { max(0, min(wanted, $0 - count)) } ?? wanted
            count += granted
            return granted
        }
    }

    /// Gives back reserved runs that were not claimed.
    private func unreserve(_ unused: Int) { claimedCount.withLock { $0 -= unused } }

    /// How long to wait before looking at the queue again when nothing could be claimed, nil to
    /// stop (see ``IdlePolicy``).
    private func idlePause(idleFor seconds: TimeInterval) -> TimeInterval? {
        switch whenIdle {
        case .stop:
            // Branches wait for parents that another worker (or process) is training.
            return waitingForParents() ? parentPollSeconds : nil
        case let .waitForQueue(limit, poll):
            guard seconds < limit, let counts = try? store.queueCounts(sweep: sweep), counts.open > 0 else { return nil }
            return poll
        }
    }

    /// Seconds between looks at the queue while branches wait for their parents.
    var parentPollSeconds: Double { min(1, lease / 8) }

    /// Whether a pending run of the sweep waits for a parent that is training, or pending among
    /// the runs this runner trains (it becomes claimable when the parent is done). A parent
    /// pending outside the sweep is nobody's to train here: no waiting for it.
    private func waitingForParents() -> Bool {
        ((try? store.queueCounts(sweep: sweep))?.waiting ?? 0) > 0
    }

    /// A claimed run, ready to train: its config, model, data and where it resumes.
    private final class Member {
        let run: RunRecord
        let config: RunConfig
        let trainer: Trainer
        let data: TrainingData
        let model: any Module
        let resume: TrainingState?
        let checkpointEvery: Int
        let populationKey: String
        var lastCheckpoint: Int
        var failure: Error?
        var short: String { String(run.id.prefix(8)) }
        var resumePoint: [Int] { [resume?.epoch ?? 0, resume?.step ?? 0] }

        init(run: RunRecord, config: RunConfig, data: TrainingData, model: any Module, resume: TrainingState?, checkpointEvery: Int, lastCheckpoint: Int) {
            self.run = run
            self.config = config
            self.trainer = config.trainer
            self.data = data
            self.model = model
            self.resume = resume
            self.checkpointEvery = checkpointEvery
            self.lastCheckpoint = lastCheckpoint
            self.populationKey = config.populationKey(model: model)
        }
    }

    /// Builds a claimed run's model and data, and loads its last usable checkpoint: the file must
    /// lie inside the checkpoint folder, match the store's checksum, and be a state this run could
    /// have written (``Trainer/validate(model:data:resume:)``). A checkpoint that is missing or
    /// fails a check is reported and the one before it is tried (or the run starts over); metrics
    /// and checkpoint records after the point it resumes from are dropped, to be redone.
    /// - Throws: when the run's id is not a run id (a store row is not trusted to name a folder),
    ///   or its config, data or model cannot be built.
    private func prepare(_ run: RunRecord, report: (SweepEvent) -> Void) throws -> Member {
        guard Self.isRunID(run.id) else {
            throw StoreError(description: "run id '\(run.id.prefix(40))' is not 16 lowercase hex digits; the store's row is not used to build a path")
        }
        let flat = try FlatConfig.fromCanonicalJSON(run.config)
        let config = try ConfigSchema.runConfig(flat)
        let prepared = try data.load(config.data)
        var model = try config.makeModel(for: prepared)
        let trainer = config.trainer
        var resume: TrainingState?
        for record in try store.checkpoints(runs: [run.id]).reversed() {
            do {
                let state = try StoredCheckpoint.load(record, from: store)
                try trainer.validate(model: model, data: prepared, resume: state)
                try model.load(state.model)
                resume = state
                break
            } catch {
                report(.message("\(run.id.prefix(8)): checkpoint of epoch \(record.epoch) not used (\(error)); trying the one before"))
            }
        }
        let fromLineage = resume == nil && config.branch != nil
        if fromLineage {
            // A branch without a checkpoint of its own starts from its parent's, rebuilt.
            let start = try Lineage(store: store, data: data).startState(of: config, model: model, data: prepared)
            do { try trainer.validate(model: model, data: prepared, resume: start) } catch {
                throw TrainingError("the branch's start state does not fit: \(error)")
            }
            try model.load(start.model)
            resume = start
        }
        let from = resume?.epoch ?? 0
        // Epochs after the checkpoint resumed from were lost (or their checkpoint was): redone.
        try store.deleteMetrics(run: run.id, after: from)
        // A branch's first checkpoint is due even when it starts at a later epoch.
        return Member(run: run, config: config, data: prepared, model: model, resume: resume,
                      checkpointEvery: flat["checkpoint_every"]?.intValue ?? 1, lastCheckpoint: fromLineage ? 0 : from)
    }

    /// Whether `id` has the form of a run id: 16 lowercase hex digits (``ConfigSchema/runID(of:)``).
    static func isRunID(_ id: String) -> Bool {
        id.utf8.count == 16 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    private func save(_ m: Member, _ state: TrainingState) throws {
        try write(m, state, step: nil)
        m.lastCheckpoint = state.epoch
    }

    /// Writes a step checkpoint (``TrainingConfig/checkpointSteps``).
    private func saveStep(_ m: Member, _ state: TrainingState) {
        guard m.failure == nil else { return }
        do { try write(m, state, step: state.step) } catch { m.failure = error }
    }

    /// Stores `state` with the member's config as the checkpoint of its epoch (or of `step`).
    private func write(_ m: Member, _ state: TrainingState, step: Int?) throws {
        let bytes = Data(Checkpoint.encode(state, config: try m.config.json()))
        try store.saveCheckpoint(bytes, sha256: Identity.sha256(bytes), run: m.run.id, epoch: state.epoch, step: step)
    }

    /// Records an epoch's metrics and its checkpoint when one is due.
    private func recordEpoch(_ m: Member, _ metrics: EpochMetrics, _ state: TrainingState, report: (SweepEvent) -> Void) {
        guard m.failure == nil else { return }
        do {
            let record = try Self.metricRecord(run: m.run.id, metrics)
            try store.record(record)
            if m.checkpointEvery > 0 && metrics.epoch % m.checkpointEvery == 0 { try save(m, state) }
            counters.withLock { $0.epochs += 1 }
            report(.epoch(RecordedEpoch(run: m.run.id, epoch: metrics.epoch, epochs: m.config.training.epochs, values: record.values)))
        } catch { m.failure = error }
    }

    /// Stores how a member's training ended.
    private func conclude(_ m: Member, _ status: TrainingStatus, _ state: TrainingState, owner: ClaimOwner, report: (SweepEvent) -> Void) {
        do {
            if let failure = m.failure { throw failure }
            switch status {
            case .completed, .earlyStopped, .reachedCriterion:
                if state.epoch > m.lastCheckpoint || m.lastCheckpoint == 0 { try save(m, state) }
                let outcome = status == .completed && m.config.training.stopAtTrainLoss != nil ? "criterion-not-reached" : status.rawValue
                try store.finish(run: m.run.id, owner: owner, status: .done, error: nil, outcome: outcome)
                counters.withLock { $0.done += 1 }
                report(.finished(run: m.run.id, status: .done, detail: nil))
            case .diverged:
                if state.epoch > m.lastCheckpoint { try save(m, state) }
                try store.finish(run: m.run.id, owner: owner, status: .diverged, error: "the loss became non-finite in epoch \(state.epoch + 1)",
                                 outcome: status.rawValue)
                counters.withLock { $0.done += 1 }
                report(.finished(run: m.run.id, status: .diverged, detail: nil))
            case .interrupted:
                if state.epoch > m.lastCheckpoint { try save(m, state) }
                try store.release(owner: owner, runs: [m.run.id])
                report(.finished(run: m.run.id, status: .pending, detail: "interrupted at epoch \(state.epoch); checkpointed and released"))
            }
        } catch { fail(m.run, owner: owner, error, report: report) }
    }

    private func fail(_ run: RunRecord, owner: ClaimOwner, _ error: Error, report: (SweepEvent) -> Void) {
        try? store.finish(run: run.id, owner: owner, status: .failed, error: "\(error)")
        counters.withLock { $0.failed += 1 }
        report(.finished(run: run.id, status: .failed, detail: "\(error)"))
    }

    /// Renews the lease of `runs` when a quarter of it has passed since `last`.
    private func renewIfDue(_ last: inout Date, owner: ClaimOwner, runs: [String]) throws {
        if Date().timeIntervalSince(last) > lease / 4 {
            try store.renewLease(owner: owner, runs: runs, lease: lease)
            last = Date()
        }
    }

    /// Trains members that share a population key and a resume point: one population, or a
    /// population of one.
    private func train(_ members: [Member], worker: Int, owner: ClaimOwner, claimed: [String], report: (SweepEvent) -> Void) {
        var renewed = Date()
        var failure: Error?
        if members.count > 1 {
            report(.message("population of \(members.count) members (\(members.map(\.short).prefix(4).joined(separator: ", "))…) starts"))
        }
        let runs = members.map(\.run.id)
        let epochs = members.map(\.config.training.epochs).max() ?? 1
        var timedEpoch = -1, snapshotSeconds = 0.0
        do {
            let results = try PopulationTrainer(members: members.map(\.trainer)).run(
                models: members.map(\.model), data: members[0].data, from: members.map(\.resume),
                observe: { k, event in
                    switch event {
                    case let .epoch(metrics, state):
                        // The population's epoch, timed once: its first member's seconds are the
                        // steps, the step checkpoints written among them, and the evaluation (the
                        // other members' seconds include the first ones' recording).
                        if metrics.epoch != timedEpoch {
                            timedEpoch = metrics.epoch
                            let evaluation = metrics.evaluationSeconds ?? 0, steps = metrics.seconds - evaluation - snapshotSeconds
                            timing.withLock { $0.steps += steps; $0.evaluation += evaluation }
                            snapshotSeconds = 0
                        }
                        timed(\.recording) { recordEpoch(members[k], metrics, state, report: report) }
                    case let .snapshot(state):
                        let start = Date()
                        timed(\.recording) { saveStep(members[k], state) }
                        snapshotSeconds += Date().timeIntervalSince(start)
                    // Every member steps together: the first one's step is the population's.
                    case let .step(epoch, _, stepsInEpoch, batchIndex, _, _, _) where k == 0:
                        report(.step(WorkerStep(worker: worker, runs: runs, epoch: epoch + 1, epochs: epochs, stepsDone: batchIndex + 1,
                                                stepsInEpoch: stepsInEpoch, samplesInEpoch: members[0].data.train.count)))
                    default: break
                    }
                    do { try renewIfDue(&renewed, owner: owner, runs: claimed) } catch { failure = failure ?? error }
                },
                stop: { [self] in self.isStopping || failure != nil || members.contains { $0.failure != nil } })
            for (m, r) in zip(members, results) {
                if let failure, m.failure == nil { m.failure = failure }
                timed(\.recording) { conclude(m, r.status, r.state, owner: owner, report: report) }
            }
        } catch {
            for m in members { fail(m.run, owner: owner, error, report: report) }
        }
    }

    /// The store's record of an epoch's metrics, with its test predictions when recorded.
    /// - Throws: ``StoreError`` when the predictions cannot be stored (more than 256 classes).
    static func metricRecord(run: String, _ m: EpochMetrics) throws -> MetricRecord {
        var v: [String: Double] = ["scheduled_lr": Double(m.learningRate), "scheduled_batch_size": Double(m.batchSize), "seconds": m.seconds,
                                   "member_seconds": m.memberSeconds,
                                   "running_loss": Double(m.running.loss), "running_accuracy": Double(m.running.accuracy)]
        if let x = m.train { v["train_loss"] = Double(x.loss); v["train_accuracy"] = Double(x.accuracy) }
        if let x = m.validation { v["validation_loss"] = Double(x.loss); v["validation_accuracy"] = Double(x.accuracy) }
        if let x = m.test { v["test_loss"] = Double(x.loss); v["test_accuracy"] = Double(x.accuracy) }
        let log = m.stepLosses.map { StepLossLog(interval: $0.interval, firstStep: $0.firstStep, lastStep: m.step, means: $0.means) }
        let predictions = try m.testPredictions.map {
            try PredictionLog(classes: $0.classes, predicted: $0.predicted, labels: $0.labels,
                              trueClassProbability: $0.trueClassProbability, predictedClassProbability: $0.predictedClassProbability)
        }
        return MetricRecord(runID: run, epoch: m.epoch, step: m.step, values: v, stepLosses: log, predictions: predictions)
    }
}
