import Foundation
import GRDB
import Testing
import ZooStore

/// The compact encoding of per-example test predictions, and its table.
@Suite("Prediction log")
struct PredictionLogTests {
    static func sample() throws -> PredictionLog {
        try PredictionLog(classes: 10, predicted: [3, 1, 9, 0], labels: [3, 2, 9, 5],
                          trueClassProbability: [0.5, 0.25, 1, 0], predictedClassProbability: [0.5, 0.75, 1, 0.5])
    }

    static func decode(_ bytes: [UInt8]) throws -> PredictionLog {
        try PredictionLog(decoding: Data(bytes), run: "abc", epoch: 4)
    }

    /// The message of the error `body` throws.
    static func failure(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "" } catch { return "\(error)" }
    }

    @Test func roundTripsExactly() throws {
        let log = try Self.sample()
        let data = log.encoded()
        #expect(data.count == PredictionLog.headerBytes + 6 * 4)
        #expect([UInt8](data.prefix(8)) == [1, 0, 10, 0, 4, 0, 0, 0])
        // Example 1: predicted 1, label 2, p_true round(0.25·65535) = 16384 = 0x4000, p_pred round(0.75·65535) = 49151 = 0xBFFF.
        #expect([UInt8](data[14..<20]) == [1, 2, 0x00, 0x40, 0xFF, 0xBF])
        let back = try PredictionLog(decoding: data, run: "r", epoch: 1)
        #expect(back == log)
        #expect(back.correctCount == 2 && back.isCorrect(0) && !back.isCorrect(1))
        #expect(back.trueClassProbability == [32768, 16384, 65535, 0])
        #expect(abs(PredictionLog.probability(back.trueClassProbability[1]) - 0.25) < 1 / 65535.0)
        let empty = try PredictionLog(classes: 2, predicted: [Int](), labels: [], trueClassProbability: [], predictedClassProbability: [])
        #expect(try PredictionLog(decoding: empty.encoded(), run: "r", epoch: 0) == empty)
        #expect(PredictionLog.quantize(.nan) == 0 && PredictionLog.quantize(2) == 65535 && PredictionLog.quantize(-1) == 0)
    }

    @Test func malformedBlobsAreErrorsNamingRunAndEpoch() throws {
        let good = [UInt8](try Self.sample().encoded())
        func expectFailure(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let message = Self.failure { try Self.decode(bytes) }
            #expect(message.contains("run abc at epoch 4") && message.contains(fragment), "\(message)", sourceLocation: sourceLocation)
        }
        expectFailure([], "shorter than the 8-byte header")
        expectFailure(Array(good.prefix(7)), "shorter than the 8-byte header")
        expectFailure(Array(good.dropLast()), "declares 4 examples")  // truncated
        expectFailure(good + [0, 0, 0, 0, 0, 0], "declares 4 examples")  // one record too many
        var wrongCount = good
        wrongCount[4] = 5
        expectFailure(wrongCount, "declares 5 examples")
        // A huge claimed count is refused before anything is allocated for it.
        var huge = good
        huge.replaceSubrange(4..<8, with: [0xff, 0xff, 0xff, 0xff])
        expectFailure(huge, "declares 4294967295 examples")
        var version = good
        version[0] = 2
        expectFailure(version, "format version 2")
        var reserved = good
        reserved[1] = 7
        expectFailure(reserved, "reserved header byte")
        var noClasses = good
        noClasses[2] = 0
        expectFailure(noClasses, "0 classes")
        var tooMany = good
        tooMany.replaceSubrange(2..<4, with: [1, 1])  // 257
        expectFailure(tooMany, "257 classes")
        var badClass = good
        badClass[8 + 6] = 10  // example 1's predicted class
        expectFailure(badClass, "example 1: predicted class 10 is not in 0..<10")
        var badLabel = good
        badLabel[8 + 6 * 3 + 1] = 200
        expectFailure(badLabel, "example 3: label 200")
        var lessLikely = good
        lessLikely.replaceSubrange((8 + 6 + 4)..<(8 + 6 + 6), with: [0, 0])  // predicted class less likely than the true one
        expectFailure(lessLikely, "example 1: the predicted class is less likely")
        var unequal = good
        unequal[8 + 3] = 0  // example 0 is correct: both probabilities must be equal
        expectFailure(unequal, "example 0: the predicted class is the true class")
        // Every truncation of a good blob is an error, never a trap.
        for n in 0..<good.count { #expect(throws: StoreError.self) { try Self.decode(Array(good.prefix(n))) } }
    }

    @Test func constructionChecksClassesAndLengths() {
        #expect(Self.failure { try PredictionLog(classes: 300, predicted: [0], labels: [0], trueClassProbability: [1], predictedClassProbability: [1]) }
            .contains("300 classes"))
        #expect(Self.failure { try PredictionLog(classes: 3, predicted: [3], labels: [0], trueClassProbability: [0], predictedClassProbability: [1]) }
            .contains("class 3 or label 0 is not in 0..<3"))
        #expect(Self.failure { try PredictionLog(classes: 3, predicted: [0, 1], labels: [0], trueClassProbability: [1], predictedClassProbability: [1]) }
            .contains("2 predicted classes but 1 labels"))
        #expect(Self.failure { try PredictionLog(classes: 3, predicted: [-1], labels: [0], trueClassProbability: [1], predictedClassProbability: [1]) }
            .contains("not in 0..<3"))
    }

    @Test(arguments: Backend.all) func storedWithTheMetricsAndReadBack(_ backend: Backend) throws {
        let s = try backend.store()
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [("r1", "{}", "A"), ("r2", "{}", "A")])
        let log = try Self.sample()
        for epoch in 1...3 {
            try s.record(MetricRecord(runID: "r1", epoch: epoch, step: epoch * 10, values: ["test_accuracy": 0.5], predictions: log))
        }
        try s.record(MetricRecord(runID: "r2", epoch: 1, step: 10, values: ["test_accuracy": 0.5]))
        #expect(try s.predictionEpochs(runs: nil) == ["r1": [1, 2, 3]])
        #expect(try s.predictions(runs: ["r1"], epoch: 2) == [PredictionRecord(runID: "r1", epoch: 2, log: log)])
        #expect(try s.predictions(runs: ["r2"], epoch: nil).isEmpty)
        #expect(try s.counts()["predictions"] == 3)
        // Metrics read without their predictions.
        #expect(try s.metrics(runs: ["r1"]).allSatisfy { $0.predictions == nil })
        // Work redone after an interruption drops the predictions after the resumed epoch.
        try s.deleteMetrics(run: "r1", after: 1)
        #expect(try s.predictionEpochs(runs: ["r1"]) == ["r1": [1]])
        // A renamed run keeps its predictions.
        try s.renameRuns([RunRename(old: "r1", new: "r9", config: "{}", groupKey: "A")])
        #expect(try s.predictionEpochs(runs: nil) == ["r9": [1]])
    }

    @Test func aDamagedRowIsAnErrorNamingRunAndEpoch() throws {
        let s = try StoreTests.store()
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [("r1", "{}", "A")])
        let queue = try DatabaseQueue(path: s.path.path)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO predictions (run_id, epoch, data) VALUES ('r1', 2, ?)", arguments: [Data([1, 0, 10, 0, 0xff, 0xff, 0xff, 0x7f])])
        }
        let message = Self.failure { try s.predictions(runs: nil, epoch: nil) }
        #expect(message.contains("run r1 at epoch 2") && message.contains("declares 2147483647 examples"), "\(message)")
        try queue.write { db in try db.execute(sql: "UPDATE predictions SET data = 'text' WHERE run_id = 'r1'") }
        #expect(Self.failure { try s.predictions(runs: nil, epoch: nil) }.contains("run r1 at epoch 2"))
    }
}
