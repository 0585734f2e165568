import Testing
import ZooStore
@testable import ZooAnalysis

/// The queue as any process reads it from the store's rows.
@Suite("Queue status")
struct QueueStatusTests {
    static func run(_ id: String, _ status: RunStatus, owner: String? = nil, started: Double? = nil, finished: Double? = nil,
                    lease: Double? = nil, epochsDone: Int = 0) -> RunRecord {
        RunRecord(id: id, config: "{}", groupKey: "g", status: status, createdAt: 0, startedAt: started, finishedAt: finished,
                  owner: owner, leaseExpires: lease, epochsDone: epochsDone)
    }

    @Test func workersRateAndTimeLeft() throws {
        let now = 1_000.0
        let runs = [
            Self.run("a", .done, started: 900, finished: 940, epochsDone: 4),
            Self.run("b", .running, owner: "h:1:0", started: 950, lease: 1_100, epochsDone: 2),
            Self.run("c", .running, owner: "h:1:0", started: 960, lease: 1_100, epochsDone: 2),
            Self.run("d", .running, owner: "h:2:0", started: 970, lease: 990, epochsDone: 0),
            Self.run("e", .pending),
            Self.run("f", .failed),
        ]
        let q = QueueStatus(runs: runs, epochs: { _ in 4 }, now: now)
        #expect(q.counts == [.done: 1, .running: 3, .pending: 1, .failed: 1])
        #expect(q.workers.map(\.owner) == ["h:1:0", "h:2:0"])
        #expect(q.workers[0] == QueueStatus.Worker(owner: "h:1:0", runs: ["b", "c"], epochsDone: 4, epochs: 8, seconds: 50, stale: false))
        #expect(q.workers[1].stale && q.staleRuns == ["d"])
        // Left: b 2 + c 2 + d 4 + e 4. Done since the oldest running attempt (950): the running
        // runs' 4 epochs; a finished before it started. 4 member-epochs in 50 s.
        #expect(q.memberEpochsLeft == 12 && q.memberEpochsDone == 4)
        #expect(try #require(q.rate) == 4.0 / 50)
        #expect(try #require(q.secondsLeft) == 150)
    }

    @Test func idleAndEmptyStores() throws {
        let finished = QueueStatus(runs: [Self.run("a", .done, started: 0, finished: 10, epochsDone: 5)], epochs: { _ in 5 }, now: 100)
        #expect(finished.memberEpochsLeft == 0 && finished.secondsLeft == 0 && finished.rate == 0.5)
        let empty = QueueStatus(runs: [], epochs: { _ in 1 }, now: 0)
        #expect(empty.workers.isEmpty && empty.rate == nil && empty.secondsLeft == 0)
        let waiting = QueueStatus(runs: [Self.run("p", .pending)], epochs: { _ in 3 }, now: 0)
        #expect(waiting.secondsLeft == nil && waiting.memberEpochsLeft == 3)
    }
}
