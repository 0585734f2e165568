import Foundation
import Testing
import ZooData
import ZooNN
import ZooOptim
import ZooTensor
import ZooTrain

@Suite("Trainer")
struct TrainerTests {
    /// A small realizable task: 512 Gaussian inputs of size 8 labelled by a random teacher.
    static let data: TrainingData = {
        let s = Synthetic.teacherStudent(inputSize: 8, teacherHidden: 16, classes: 3, trainCount: 512, testCount: 256, key: RandomKey(seed: 5))
        let split = s.train.splittingValidation(64, key: RandomKey(seed: 6))
        return TrainingData(train: split.train, validation: split.validation, test: s.test)
    }()

    static func config(epochs: Int = 4, lr: Float = 0.05) -> RunConfig {
        RunConfig(model: ModelSpec(name: "mlp", options: ["hidden": "32", "dropout": "0.1"]),
                  data: DataSpec(name: "teacher-student"),
                  training: TrainingConfig(epochs: epochs, batchSize: 32, optimizer: .sgd(SGD(learningRate: lr, momentum: 0.9)),
                                           schedule: .step(stepSize: 2, gamma: 0.5), seed: 3))
    }

    @Test func learnsTheTeacher() throws {
        let config = Self.config(epochs: 6)
        let model = try config.makeModel(for: Self.data)
        var epochs: [EpochMetrics] = []
        let result = try Trainer(config: config.training).run(model: model, data: Self.data) { event in
            if case let .epoch(m, _) = event { epochs.append(m) }
        }
        #expect(result.status == .completed)
        #expect(epochs.count == 6)
        #expect(epochs.last!.train!.loss < epochs.first!.train!.loss)
        #expect(epochs.last!.test!.accuracy > 0.7, "test accuracy \(epochs.last!.test!.accuracy)")
        #expect(epochs.map(\.learningRate) == [0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125])
        #expect(result.state.step == 6 * 14)  // 448 samples / 32
    }

    /// Train 4 epochs straight vs 2 epochs, a checkpoint file, and 2 more: identical weights.
    @Test func resumeFromCheckpointIsBitIdentical() throws {
        let config = Self.config(epochs: 4)
        let model = try config.makeModel(for: Self.data)
        let straight = try Trainer(config: config.training).run(model: model, data: Self.data)

        var first = config
        first.training.epochs = 2
        let half = try Trainer(config: first.training).run(model: model, data: Self.data)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-resume-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Checkpoint.write(half.state, config: config.json(), to: url)
        let (saved, savedConfig) = try Checkpoint.read(from: url)
        #expect(savedConfig == config.json())
        #expect(saved == half.state)
        var fresh = try config.makeModel(for: Self.data)
        try fresh.load(saved.model)
        let resumed = try Trainer(config: config.training).run(model: fresh, data: Self.data, from: saved)
        #expect(resumed.state.epoch == 4)
        #expect(resumed.state.model == straight.state.model)
        #expect(resumed.state.optimizer == straight.state.optimizer)
    }

    @Test func divergenceIsDetectedAndReported() throws {
        let config = Self.config(epochs: 3, lr: 1e6)
        let model = try config.makeModel(for: Self.data)
        var reported = false
        let result = try Trainer(config: config.training).run(model: model, data: Self.data) { event in
            if case .diverged = event { reported = true }
        }
        #expect(result.status == .diverged)
        #expect(reported)
        #expect(result.state.model.tensors.allSatisfy { $0.scalars.allSatisfy(\.isFinite) }, "the saved state holds non-finite weights")
    }

    @Test func earlyStoppingStopsOnAPlateau() throws {
        var config = Self.config(epochs: 30, lr: 0.5)
        config.training.earlyStoppingPatience = 1
        config.training.schedule = .constant
        let result = try Trainer(config: config.training).run(model: try config.makeModel(for: Self.data), data: Self.data)
        #expect(result.status == .earlyStopped || result.state.epoch == 30)
        #expect(result.state.epoch < 30, "never stopped early")
    }

    @Test func frozenParametersDoNotChange() throws {
        var config = Self.config(epochs: 1)
        config.frozen = ["1.*"]
        let model = try config.makeModel(for: Self.data)
        let result = try Trainer(config: config.training, frozen: config.frozen).run(model: model, data: Self.data)
        #expect(result.state.model["1.weight"] == model.parameters["1.weight"])
        #expect(result.state.model["4.weight"] != model.parameters["4.weight"])
    }

    @Test func checkpointRejectsOtherFiles() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-not-checkpoint-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Safetensors.write(NamedTensors([("w", Tensor([1, 2]))]), metadata: [:], to: url)
        #expect(throws: CheckpointError.self) { _ = try Checkpoint.read(from: url) }
        try Data("garbage".utf8).write(to: url)
        #expect(throws: (any Error).self) { _ = try Checkpoint.read(from: url) }
    }

    @Test func eventLogWritesJSONLines() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-events-\(UUID()).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        let log = try EventLog(url: url)
        try log.write("epoch", ["epoch": 1, "train_loss": Float(0.25), "test_loss": Float.nan])
        try log.write("end", ["status": "completed"])
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0] == #"{"epoch":1,"event":"epoch","test_loss":"NaN","train_loss":0.25}"#)
    }
}

/// A short run on real Fashion-MNIST (a 2,000-image subset, one epoch) as a smoke test.
@Suite("Real data smoke test")
struct RealDataTests {
    @Test func mlpLearnsFashionMNISTSubset() throws {
        let spec = DataSpec(name: "fashion-mnist", options: ["subset": "2000"])
        let data = try DatasetCatalog.load(spec)
        #expect(data.train.count == 2000)
        #expect(data.test?.count == 10_000)
        let config = RunConfig(model: ModelSpec(name: "mlp", options: ["hidden": "64"]), data: spec,
                               training: TrainingConfig(epochs: 2, batchSize: 32, optimizer: .adam(Adam(learningRate: 1e-3)), seed: 0))
        let result = try Trainer(config: config.training).run(model: try config.makeModel(for: data), data: data)
        let test = try Trainer.evaluate(result.model, on: data.test!)
        #expect(test.accuracy > 0.65, "test accuracy \(test.accuracy)")
    }
}

@Suite("Training to a criterion and step-loss logging")
struct CriterionTests {
    /// With stop-at-train-loss the run ends `.reachedCriterion` at the first epoch whose full-pass
    /// train loss is at most the criterion, and not before; without reaching it, it completes.
    @Test func stopsAtTheCriterion() throws {
        var config = TrainerTests.config(epochs: 12).training
        config.trainMetrics = .full
        var losses: [Float] = []
        let model = try TrainerTests.config().makeModel(for: TrainerTests.data)
        let free = try Trainer(config: config).run(model: model, data: TrainerTests.data) { event in
            if case let .epoch(m, _) = event { losses.append(m.train!.loss) }
        }
        #expect(free.status == .completed)
        let criterion = losses[4] + 1e-6  // reached at epoch 5 at the latest
        let first = losses.firstIndex { $0 <= criterion }! + 1
        config.stopAtTrainLoss = criterion
        let stopped = try Trainer(config: config).run(model: model, data: TrainerTests.data)
        #expect(stopped.status == .reachedCriterion)
        #expect(stopped.state.epoch == first)
        config.stopAtTrainLoss = 1e-9
        #expect(try Trainer(config: config).run(model: model, data: TrainerTests.data).status == .completed)
        config.trainMetrics = .sample
        #expect(throws: TrainingConfigError.self) { try config.validate() }
    }

    /// The logged windows are the means of the step losses of every `interval` steps of an epoch,
    /// the last one shorter; logging changes no weight.
    @Test func logsWindowMeans() throws {
        var config = TrainerTests.config(epochs: 2).training
        let model = try TrainerTests.config().makeModel(for: TrainerTests.data)
        var plain: [Float] = []
        let unlogged = try Trainer(config: config).run(model: model, data: TrainerTests.data) { event in
            if case let .step(_, _, _, _, loss, _, _) = event { plain.append(loss) }
        }
        config.stepLossInterval = 4
        var logs: [LoggedLosses] = []
        let logged = try Trainer(config: config).run(model: model, data: TrainerTests.data) { event in
            if case let .epoch(m, _) = event { logs.append(m.stepLosses!) }
        }
        #expect(logged.state == unlogged.state)
        #expect(logs.map(\.firstStep) == [0, 14])
        for (e, log) in logs.enumerated() {
            let steps = Array(plain[e * 14 ..< (e + 1) * 14])
            let expected = stride(from: 0, to: 14, by: 4).map { s -> Float in
                let w = steps[s ..< min(14, s + 4)]
                return Float(w.reduce(0.0) { $0 + Double($1) } / Double(w.count))
            }
            #expect(log.means.count == 4)
            for (a, b) in zip(log.means, expected) { #expect(abs(a - b) < 1e-4 * max(1, abs(b))) }
        }
    }
}
