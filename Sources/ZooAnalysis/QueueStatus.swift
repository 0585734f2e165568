import Foundation
import ZooStore

/// Where a store's queue stands, from its rows alone (so any process can tell, while workers in
/// other processes train): runs by status, each worker's runs and epochs, the throughput since
/// the oldest running or finished attempt started, the time left at that rate, and stale leases.
public struct QueueStatus: Sendable {
    /// One worker (a claim owner, `HOST:PID:WORKER`) and what it holds.
    public struct Worker: Sendable, Equatable {
        public var owner: String
        public var runs: [String]
        /// Epochs recorded and to record by its runs.
        public var epochsDone: Int
        public var epochs: Int
        /// Seconds since its earliest run was claimed.
        public var seconds: Double
        /// Whether every lease it holds has expired (the worker is gone or stuck).
        public var stale: Bool

        /// Member-epochs per minute of this worker's runs since they started (nil before any).
        public var memberEpochsPerMinute: Double? { seconds > 0 && epochsDone > 0 ? Double(epochsDone) / seconds * 60 : nil }
    }

    public var counts: [RunStatus: Int]
    public var workers: [Worker]
    /// Member-epochs recorded by runs of the current attempts, and those left (pending and running runs).
    public var memberEpochsDone: Int
    public var memberEpochsLeft: Int
    /// Member-epochs per second since the oldest current attempt started; nil before any.
    public var rate: Double?
    /// Runs whose lease has expired while they are still marked running.
    public var staleRuns: [String]

    /// Seconds left at ``rate``; nil without a rate.
    public var secondsLeft: Double? {
        guard let rate, rate > 0 else { return memberEpochsLeft == 0 ? 0 : nil }
        return Double(memberEpochsLeft) / rate
    }

    /// - Parameters:
    ///   - runs: the store's runs (of one sweep, or all).
    ///   - epochs: a run's last epoch (from its config, with the default filled in).
    ///   - now: seconds since 1970, as the store's timestamps.
    public init(runs: [RunRecord], epochs: (RunRecord) -> Int, now: Double = Date().timeIntervalSince1970) {
        counts = Dictionary(grouping: runs, by: \.status).mapValues(\.count)
        var byOwner: [String: [RunRecord]] = [:]
        for r in runs where r.status == .running { byOwner[r.owner ?? "?", default: []].append(r) }
        workers = byOwner.keys.sorted().map { owner in
            let held = byOwner[owner]!
            return Worker(owner: owner, runs: held.map(\.id).sorted(), epochsDone: held.reduce(0) { $0 + $1.epochsDone },
                          epochs: held.reduce(0) { $0 + epochs($1) },
                          seconds: max(0, now - (held.compactMap(\.startedAt).min() ?? now)),
                          stale: held.allSatisfy { ($0.leaseExpires ?? .infinity) < now })
        }
        staleRuns = runs.filter { $0.status == .running && ($0.leaseExpires ?? .infinity) < now }.map(\.id).sorted()
        let active = runs.filter { $0.status == .pending || $0.status == .running }
        memberEpochsLeft = active.reduce(0) { $0 + max(0, epochs($1) - $1.epochsDone) }
        // Throughput over the attempts that ran in this stretch: running runs and runs finished
        // since the oldest running one started (or all finished ones when none runs).
        let started = runs.filter { $0.status == .running }.compactMap(\.startedAt).min()
        let counted = runs.filter { r in
            guard r.startedAt != nil else { return false }
            if r.status == .running { return true }
            guard r.status == .done || r.status == .diverged, let f = r.finishedAt else { return false }
            return started.map { f >= $0 } ?? true
        }
        memberEpochsDone = counted.reduce(0) { $0 + $1.epochsDone }
        let from = counted.compactMap(\.startedAt).min()
        let until = runs.contains { $0.status == .running } ? now : (counted.compactMap(\.finishedAt).max() ?? now)
        if let from, until > from, memberEpochsDone > 0 { rate = Double(memberEpochsDone) / (until - from) } else { rate = nil }
    }
}
