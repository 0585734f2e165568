import Foundation
import Testing
import ZooData
import ZooNN
import ZooOptim
import ZooTensor
import ZooTrain

/// `record_predictions: test`: the evaluation pass that measures the test accuracy also keeps
/// each example's prediction, for one member and for a population alike.
@Suite("Prediction recording")
struct PredictionRecordingTests {
    static func trainers(record: [Bool]) -> [Trainer] {
        record.enumerated().map { k, on in
            Trainer(config: TrainingConfig(epochs: 2, batchSize: 16, optimizer: .adam(Adam(learningRate: 3e-3)),
                                           recordPredictions: on ? .test : nil, seed: UInt64(k)))
        }
    }

    static func models(_ count: Int) throws -> [any Module] {
        try (0..<count).map { try PopulationTests.model("zoo-cnn", ["activation": "tanh"], seed: UInt64($0), input: [1, 20, 20], classes: 4) }
    }

    /// Checks that `predictions` fit the test split and agree exactly with `test`'s accuracy.
    static func expectConsistent(_ e: EpochMetrics, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let p = try #require(e.testPredictions, sourceLocation: sourceLocation)
        let test = try #require(PopulationTests.images.test)
        #expect(p.classes == 4 && p.labels == test.labels && p.predicted.count == test.count, sourceLocation: sourceLocation)
        #expect(Float(p.correctCount) / Float(test.count) == e.test!.accuracy, "epoch \(e.epoch)", sourceLocation: sourceLocation)
        for i in p.predicted.indices {
            #expect(p.trueClassProbability[i] <= p.predictedClassProbability[i], sourceLocation: sourceLocation)
            if p.predicted[i] == p.labels[i] { #expect(p.trueClassProbability[i] == p.predictedClassProbability[i], sourceLocation: sourceLocation) }
        }
        // The mean true-class log-probability is minus the test cross-entropy.
        let meanLog = p.trueClassProbability.reduce(0.0) { $0 + Foundation.log(Double($1)) } / Double(test.count)
        #expect(abs(-meanLog - Double(e.test!.loss)) < 1e-4, sourceLocation: sourceLocation)
    }

    @Test func aSingleRunsPredictionsAgreeWithItsTestAccuracy() throws {
        var epochs: [EpochMetrics] = []
        _ = try Self.trainers(record: [true])[0].run(model: try Self.models(1)[0], data: PopulationTests.images) { event in
            if case let .epoch(e, _) = event { epochs.append(e) }
        }
        #expect(epochs.count == 2)
        for e in epochs { try Self.expectConsistent(e) }
    }

    /// Members of a population record from the stacked pass what they record alone; a member
    /// without the key records nothing and is otherwise unchanged.
    @Test func aPopulationsPredictionsEqualTheSingleRuns() throws {
        let trainers = Self.trainers(record: [true, false, true]), models = try Self.models(3)
        var together = [[EpochMetrics]](repeating: [], count: 3)
        let results = try PopulationTrainer(members: trainers).run(models: models, data: PopulationTests.images) { m, event in
            if case let .epoch(e, _) = event { together[m].append(e) }
        }
        #expect(together[1].allSatisfy { $0.testPredictions == nil })
        for m in [0, 2] {
            var alone: [EpochMetrics] = []
            let single = try trainers[m].run(model: models[m], data: PopulationTests.images) { event in
                if case let .epoch(e, _) = event { alone.append(e) }
            }
            #expect(single.state == results[m].state)
            #expect(alone.map(\.testPredictions) == together[m].map(\.testPredictions), "member \(m)")
            for e in together[m] { try Self.expectConsistent(e) }
        }
        // Recording does not change training.
        let plain = try Trainer(config: { var c = trainers[0].config; c.recordPredictions = nil; return c }())
            .run(model: models[0], data: PopulationTests.images)
        #expect(plain.state == results[0].state)
    }

    @Test func recordingNeedsATestSplit() throws {
        let data = TrainingData(train: PopulationTests.images.train)
        #expect { try Self.trainers(record: [true])[0].run(model: try Self.models(1)[0], data: data) } throws: { error in
            "\(error)".contains("record_predictions: test") && "\(error)".contains("no test split")
        }
    }
}
