import Foundation
import Synchronization
import ZooData
import ZooNN
import ZooStore
import ZooTensor
import ZooTrain

/// Progress of a sweep, reported as runs and epochs finish.
public struct SweepProgress: Sendable {
    public var runsDone: Int
    public var runsTotal: Int
    public var memberEpochs: Int
    public var seconds: Double
    /// What just happened, one line (e.g. "abc123… epoch 2/3 test acc 84.1%").
    public var message: String

    public var memberEpochsPerSecond: Double { seconds > 0 ? Double(memberEpochs) / seconds : 0 }
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
}

/// Trains the pending runs of a store with `workers` threads: each claims a group of compatible
/// runs (with a lease it renews), trains them, records metrics every epoch and checkpoints on
/// the run's schedule, and resumes an interrupted run from its last checkpoint.
///
/// Members of a claimed group train one after another; training them in one pass with stacked
/// weights is the speed work's population mode.
public final class SweepRunner: Sendable {
    public let store: SQLiteStore
    public let data: DataCache
    public let workers: Int
    /// Seconds a claim lasts without renewal.
    public let lease: TimeInterval
    private let stopRequested = Atomic<Bool>(false)
    private let counters = Mutex<(done: Int, failed: Int, epochs: Int)>((0, 0, 0))

    public init(store: SQLiteStore, data: DataCache, workers: Int, lease: TimeInterval = 120) {
        precondition(workers >= 1, "SweepRunner: needs at least one worker")
        self.store = store
        self.data = data
        self.workers = workers
        self.lease = lease
    }

    /// Asks every worker to checkpoint its current run at the last finished epoch, release its
    /// claims and stop (safe to call from a signal handler's queue).
    public func requestStop() { stopRequested.store(true, ordering: .relaxed) }

    public var isStopping: Bool { stopRequested.load(ordering: .relaxed) }

    /// Runs until no run is left to claim or a stop is requested.
    public func run(total: Int, progress: @escaping @Sendable (SweepProgress) -> Void = { _ in }) -> SweepOutcome {
        BLAS.setThreadCount(workers == 1 ? 2 : 1)
        let started = Date()
        let group = DispatchGroup()
        for w in 0..<workers {
            group.enter()
            let thread = Thread { [self] in
                self.work(worker: w, total: total, started: started, progress: progress)
                group.leave()
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        group.wait()
        let c = counters.withLock { $0 }
        return SweepOutcome(finished: c.done, failed: c.failed, interrupted: isStopping, memberEpochs: c.epochs,
                            seconds: Date().timeIntervalSince(started))
    }

    private func work(worker: Int, total: Int, started: Date, progress: @Sendable (SweepProgress) -> Void) {
        let owner = ClaimOwner(worker: worker)
        func report(_ message: String) {
            let done = (try? store.runs(status: [.done, .diverged]).count) ?? 0
            let c = counters.withLock { $0 }
            progress(SweepProgress(runsDone: done, runsTotal: total, memberEpochs: c.epochs, seconds: Date().timeIntervalSince(started), message: message))
        }
        while !isStopping {
            let claimed: [RunRecord]
            do { claimed = try store.claim(owner: owner, limit: 1, lease: lease) } catch {
                report("worker \(worker): cannot claim runs: \(error)")
                return
            }
            if claimed.isEmpty { return }
            for (i, run) in claimed.enumerated() {
                if isStopping {
                    try? store.release(owner: owner, runs: claimed[i...].map(\.id))
                    return
                }
                train(run, owner: owner, report: report)
            }
        }
    }

    private func train(_ run: RunRecord, owner: ClaimOwner, report: (String) -> Void) {
        let short = String(run.id.prefix(8))
        do {
            let flat = try FlatConfig.fromCanonicalJSON(run.config)
            let config = try ConfigSchema.runConfig(flat)
            let prepared = try data.load(config.data)
            var model = try config.makeModel(for: prepared)
            let every = flat["checkpoint_every"]?.intValue ?? 1
            var resume: TrainingState?
            var lastCheckpoint = 0
            if let last = try store.checkpoints(runs: [run.id]).last {
                let url = store.checkpointFolder.appendingPathComponent(last.path)
                let bytes = try Data(contentsOf: url)
                guard Identity.sha256(bytes) == last.sha256 else {
                    throw StoreError(description: "\(url.path): checksum does not match the store's record")
                }
                let checkpoint = try Checkpoint.read(from: url)
                try model.load(checkpoint.state.model)
                resume = checkpoint.state
                lastCheckpoint = checkpoint.state.epoch
            }
            // Epochs after the last checkpoint were lost with the interruption: they are redone.
            try store.deleteMetrics(run: run.id, after: lastCheckpoint)
            let json = config.json()
            var renewed = Date()
            func save(_ state: TrainingState) throws {
                let url = store.checkpointURL(run: run.id, epoch: state.epoch)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Checkpoint.write(state, config: json, to: url)
                let bytes = try Data(contentsOf: url)
                try store.recordCheckpoint(run: run.id, epoch: state.epoch, sha256: Identity.sha256(bytes), bytes: bytes.count)
                lastCheckpoint = state.epoch
            }
            var failure: Error?
            let trainer = Trainer(config: config.training, frozen: config.frozen)
            let result = trainer.run(model: model, data: prepared, from: resume, observe: { event in
                guard failure == nil else { return }
                do {
                    switch event {
                    case let .epoch(m, state):
                        try store.record(Self.metricRecord(run: run.id, m))
                        if every > 0 && m.epoch % every == 0 { try save(state) }
                        counters.withLock { $0.epochs += 1 }
                        try store.renewLease(owner: owner, runs: [run.id], lease: lease)
                        renewed = Date()
                        report("\(short) epoch \(m.epoch)/\(config.training.epochs)" + (m.test.map { String(format: " test acc %.2f%%", $0.accuracy * 100) } ?? ""))
                    case .step:
                        if Date().timeIntervalSince(renewed) > lease / 4 {
                            try store.renewLease(owner: owner, runs: [run.id], lease: lease)
                            renewed = Date()
                        }
                    case .diverged:
                        break
                    }
                } catch { failure = error }
            }, stop: { [self] in self.isStopping || failure != nil })
            if let failure { throw failure }
            switch result.status {
            case .completed, .earlyStopped:
                if result.state.epoch > lastCheckpoint || lastCheckpoint == 0 { try save(result.state) }
                try store.finish(run: run.id, owner: owner, status: .done)
                counters.withLock { $0.done += 1 }
                report("\(short) done")
            case .diverged:
                if result.state.epoch > lastCheckpoint { try save(result.state) }
                try store.finish(run: run.id, owner: owner, status: .diverged, error: "the loss became non-finite in epoch \(result.state.epoch + 1)")
                counters.withLock { $0.done += 1 }
                report("\(short) diverged")
            case .interrupted:
                if result.state.epoch > lastCheckpoint { try save(result.state) }
                try store.release(owner: owner, runs: [run.id])
                report("\(short) interrupted at epoch \(result.state.epoch); checkpointed and released")
            }
        } catch {
            try? store.finish(run: run.id, owner: owner, status: .failed, error: "\(error)")
            counters.withLock { $0.failed += 1 }
            report("\(short) failed: \(error)")
        }
    }

    static func metricRecord(run: String, _ m: EpochMetrics) -> MetricRecord {
        var v: [String: Double] = ["scheduled_lr": Double(m.learningRate), "scheduled_batch_size": Double(m.batchSize), "seconds": m.seconds,
                                   "train_loss": Double(m.train.loss), "train_accuracy": Double(m.train.accuracy)]
        if let x = m.validation { v["validation_loss"] = Double(x.loss); v["validation_accuracy"] = Double(x.accuracy) }
        if let x = m.test { v["test_loss"] = Double(x.loss); v["test_accuracy"] = Double(x.accuracy) }
        return MetricRecord(runID: run, epoch: m.epoch, step: m.step, values: v)
    }
}
