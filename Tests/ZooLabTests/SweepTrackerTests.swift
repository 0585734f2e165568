import Foundation
import Testing
import ZooStore
@testable import ZooLab

/// The time left weighs each member-epoch by its run's estimated cost.
@Suite("Sweep tracker")
struct SweepTrackerTests {
    static func progress(_ event: SweepEvent, seconds: Double) -> SweepProgress {
        SweepProgress(runsDone: 0, runsTotal: 2, memberEpochs: 0, seconds: seconds, event: event)
    }

    static func epoch(_ run: String, _ epoch: Int, accuracy: Double = 0.5) -> SweepEvent {
        .epoch(RecordedEpoch(run: run, epoch: epoch, epochs: 4, values: ["test_accuracy": accuracy]))
    }

    @Test func weighsEpochsByCost() throws {
        // "cheap" costs 1 per epoch, "dear" 3 per epoch: 16 units in all.
        var t = SweepTracker(pending: [.init(run: "cheap", epochsDone: 0, epochs: 4, cost: 4),
                                       .init(run: "dear", epochsDone: 0, epochs: 4, cost: 12)])
        #expect(t.secondsLeft(elapsed: 10) == nil && t.fractionDone == 0)
        // Two cheap epochs in 10 s: 2 units done, 14 left, at 0.2 units/s → 70 s.
        t.update(Self.progress(Self.epoch("cheap", 1), seconds: 5))
        t.update(Self.progress(Self.epoch("cheap", 2), seconds: 10))
        #expect(try #require(t.secondsLeft(elapsed: 10)) == 70)
        #expect(t.fractionDone == 2.0 / 16)
        // A member-epoch count would have said 6 left at 0.2/s = 30 s: the dear run is the work.
        t.update(Self.progress(Self.epoch("dear", 1, accuracy: 0.8), seconds: 16))
        #expect(t.fractionDone == 5.0 / 16)
        #expect(t.best == SweepTracker.Best(run: "dear", epoch: 1, value: 0.8))
        // The cheap run stops early (a criterion): its two epochs are no longer work left.
        t.update(Self.progress(.finished(run: "cheap", status: .done, detail: nil), seconds: 16))
        #expect(try #require(t.secondsLeft(elapsed: 16)) == 9 * 16 / 5)
    }

    @Test func countsTheWorkInFlight() throws {
        var t = SweepTracker(pending: [.init(run: "a", epochsDone: 0, epochs: 2, cost: 2), .init(run: "b", epochsDone: 0, epochs: 2, cost: 2)])
        let start = Date()
        let step = WorkerStep(worker: 0, runs: ["a", "b"], epoch: 1, epochs: 2, stepsDone: 1, stepsInEpoch: 4, samplesInEpoch: 100)
        t.update(Self.progress(.step(step), seconds: 1), now: start)
        var half = step
        half.stepsDone = 2
        t.update(Self.progress(.step(half), seconds: 2), now: start.addingTimeInterval(2))
        // Half an epoch of two runs: 1 unit of 4 done in 2 s → 6 s left.
        #expect(t.fractionDone == 0.25)
        #expect(try #require(t.secondsLeft(elapsed: 2)) == 6)
        let w = try #require(t.workers[0])
        #expect(w.samplesPerSecond == 50)  // 2 members × 50 samples in 2 s
        // Recorded members of the current epoch are no longer in flight.
        t.update(Self.progress(Self.epoch("a", 1), seconds: 3))
        #expect(t.fractionDone == (1 + 0.5) / 4)
        // When evaluation is half an epoch's cost, the last step is half the epoch, not all of it.
        var shared = SweepTracker(pending: [.init(run: "a", epochsDone: 0, epochs: 1, cost: 2, trainingShare: 0.5)])
        var last = step
        last.runs = ["a"]
        last.stepsDone = 4
        shared.update(Self.progress(.step(last), seconds: 1), now: start)
        #expect(shared.fractionDone == 0.5)
        // An unknown cost weighs the mean of the known ones; none known weighs 1.
        let unknown = SweepTracker(pending: [.init(run: "x", epochsDone: 1, epochs: 2, cost: .nan)])
        #expect(unknown.fractionDone == 0)
    }
}
