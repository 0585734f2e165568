import Foundation
import ZooStore

/// Follows a sweep's progress events: where each worker is, the best result so far, and the
/// time left from the measured throughput.
///
/// The time left is not member-epochs left over member-epochs per second: members differ in
/// cost (a batch of 16 costs more per epoch than one of 128; a population of 32 more than a run
/// alone), so every member-epoch weighs its run's estimated cost (``SweepPlan/estimatedRunSeconds(workers:data:cores:)``,
/// divided by its epochs). The work done counts recorded member-epochs and the finished part
/// of each worker's current epoch; time left = work left × seconds elapsed / work done. A run
/// that ends early (a criterion, divergence, failure) gives up its remaining epochs.
public struct SweepTracker: Sendable {
    /// A run still to train.
    public struct Pending: Sendable {
        public var run: String
        /// Epochs recorded before this sweep started, and the run's last epoch.
        public var epochsDone: Int
        public var epochs: Int
        /// The run's estimated cost of training all its epochs (any unit; only ratios matter).
        public var cost: Double
        /// The share of an epoch's cost in its training steps (the rest is the evaluation after
        /// them): a worker at its last step has done this much of the epoch, not all of it.
        public var trainingShare: Double

        public init(run: String, epochsDone: Int, epochs: Int, cost: Double, trainingShare: Double = 1) {
            self.run = run
            self.epochsDone = epochsDone
            self.epochs = epochs
            self.cost = cost
            self.trainingShare = trainingShare.isFinite ? min(max(trainingShare, 0), 1) : 1
        }
    }

    /// A worker's current population and the moment its epoch started.
    public struct Worker: Sendable {
        public var step: WorkerStep
        public var epochStarted: Date
        /// Member-samples per second in the current epoch so far.
        public var samplesPerSecond: Double
        /// Members whose current epoch is already recorded (no longer in flight).
        var recorded: Set<String> = []
    }

    /// The best value of the tracked metric so far, with the run and epoch it came from.
    public struct Best: Sendable, Equatable {
        public var run: String
        public var epoch: Int
        public var value: Double
    }

    private var costPerEpoch: [String: Double] = [:]
    private var trainingShare: [String: Double] = [:]
    private var epochsLeft: [String: Int] = [:]
    private var workLeft = 0.0
    private var workDone = 0.0
    public private(set) var workers: [Int: Worker] = [:]
    public private(set) var best: Best?
    public private(set) var latest: SweepProgress?
    /// The metric whose best value is kept (higher is better).
    public let metric: String

    /// - Parameters:
    ///   - pending: the runs to train; a run without a cost estimate weighs the mean of the others.
    ///   - metric: the metric followed for the best result (higher is better).
    public init(pending: [Pending], metric: String = "test_accuracy") {
        self.metric = metric
        let known = pending.map(\.cost).filter { $0.isFinite && $0 > 0 }
        let fallback = known.isEmpty ? 1 : known.reduce(0, +) / Double(known.count)
        for p in pending {
            let cost = p.cost.isFinite && p.cost > 0 ? p.cost : fallback
            costPerEpoch[p.run] = cost / Double(max(1, p.epochs))
            trainingShare[p.run] = p.trainingShare
            epochsLeft[p.run] = max(0, p.epochs - p.epochsDone)
            workLeft += costPerEpoch[p.run]! * Double(epochsLeft[p.run]!)
        }
    }

    /// Takes one event in.
    public mutating func update(_ progress: SweepProgress, now: Date = Date()) {
        latest = progress
        switch progress.event {
        case let .step(step):
            var worker = workers[step.worker]
            if worker == nil || worker!.step.runs != step.runs || worker!.step.epoch != step.epoch || step.stepsDone < worker!.step.stepsDone {
                worker = Worker(step: step, epochStarted: now, samplesPerSecond: 0)
            }
            worker!.step = step
            let elapsed = now.timeIntervalSince(worker!.epochStarted)
            let samples = Double(step.stepsDone) / Double(max(1, step.stepsInEpoch)) * Double(step.samplesInEpoch) * Double(step.runs.count)
            if elapsed > 0 { worker!.samplesPerSecond = samples / elapsed }
            workers[step.worker] = worker
        case let .epoch(e):
            let cost = costPerEpoch[e.run] ?? 0
            if let left = epochsLeft[e.run], left > 0 {
                epochsLeft[e.run] = left - 1
                workLeft -= cost
                workDone += cost
            }
            for (k, w) in workers where w.step.runs.contains(e.run) && w.step.epoch == e.epoch { workers[k]!.recorded.insert(e.run) }
            if let v = e.values[metric], v.isFinite, v > (best?.value ?? -.infinity) { best = Best(run: e.run, epoch: e.epoch, value: v) }
        case let .finished(run, status, _):
            // What a run will not train any more is no longer work left.
            if status != .pending, let left = epochsLeft[run] {
                workLeft -= (costPerEpoch[run] ?? 0) * Double(left)
                epochsLeft[run] = 0
            }
            for (k, w) in workers where w.step.runs.contains(run) && status != .pending { workers[k] = nil }
        case .message:
            break
        }
    }

    /// Work finished in the workers' current epochs, not yet recorded.
    private var inFlight: Double {
        workers.values.reduce(0) { sum, w in
            let fraction = Double(w.step.stepsDone) / Double(max(1, w.step.stepsInEpoch))
            return sum + fraction * w.step.runs.reduce(0) { $0 + (w.recorded.contains($1) ? 0 : (costPerEpoch[$1] ?? 0) * (trainingShare[$1] ?? 1)) }
        }
    }

    /// The fraction of the work done, in 0...1 (1 when there was none).
    public var fractionDone: Double {
        let total = workDone + max(0, workLeft)
        return total > 0 ? min(1, (workDone + inFlight) / total) : 1
    }

    /// Seconds left at the throughput measured over `elapsed` seconds; nil before any work is done.
    public func secondsLeft(elapsed: Double) -> Double? {
        let done = workDone + inFlight
        guard done > 0, elapsed > 0 else { return nil }
        return max(0, workLeft - inFlight) * elapsed / done
    }
}
