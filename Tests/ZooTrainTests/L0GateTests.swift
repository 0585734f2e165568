import Foundation
import Testing
import ZooData
import ZooNN
import ZooOptim
import ZooTensor
import ZooTrain
import ZooTestSupport

/// L0 gates (hard concrete, Louizos et al. 2018) under a density constraint (Gallego-Posada et al. 2022).
@Suite("L0 gates")
struct L0GateTests {
    static let data = PopulationTests.images

    @Test func gateFormulasKnownAnswers() {
        let l0 = L0Gates(targetDensity: 0.3)
        let locations = Tensor([0, 20, -20])
        // clamp(σ(log α)·1.2 − 0.1, 0, 1)
        #expect(isApproximatelyEqual(L0Gates.deterministic(locations), Tensor([0.5, 1, 0]), absolute: 1e-6))
        // P(open) = σ(log α − β log(0.1 / 1.1)), β = 2/3
        let p = Float(1 / (1 + Foundation.exp(-(2.0 / 3) * Foundation.log(11.0))))
        #expect(isApproximatelyEqual(l0.openProbability(Tensor([0])), Tensor([p]), absolute: 1e-6))
        // u = ½: s = σ(log α / β)
        let sampled = l0.sample(Tensor([0.3]), noise: Tensor([0.5]))
        let s = 1 / (1 + Foundation.exp(-0.3 / (2.0 / 3)))
        #expect(isApproximatelyEqual(sampled, Tensor([Float(s * 1.2 - 0.1)]), absolute: 1e-6))
        #expect(l0.updatedMultiplier(5, density: 0.2) == 0)  // a dual restart
        #expect(abs(l0.updatedMultiplier(0.1, density: 0.5) - 0.11) < 1e-6)
        #expect(isApproximatelyEqual(l0.initialLocations(like: Tensor([1, 2])), Tensor([Float(Foundation.log(9.0))] + [Float(Foundation.log(9.0))]), absolute: 1e-6))
    }

    /// Gated members with different targets and optimizers, trained as one population, end
    /// bit-identical to each trained alone; in 400 steps the constraint drives the expected density
    /// to its target, closed gates give exact zeros, and the networks still learn (weakly at 30%:
    /// gates need many more steps to settle, as in the papers' hundreds of epochs).
    @Test func gatedMembersTrainAsAloneAndMeetTheirTargets() throws {
        let data = try DatasetCatalog.load(DataSpec(name: "teacher-student", options: ["input-size": "16", "class-count": "4", "train": "500", "test": "300"]))
        let targets: [Float] = [0.3, 0.6]
        let trainers = targets.enumerated().map { k, t in
            Trainer(config: TrainingConfig(epochs: 20, batchSize: 25, optimizer: .adam(Adam(learningRate: 0.01)),
                                           l0: L0Gates(targetDensity: t, dualLearningRate: 2, initialKeep: 0.5), seed: UInt64(k)))
        }
        let models = try (0..<2).map { k in
            try ModelCatalog.make("mlp", options: ["hidden": "32"], input: ModelInput(shape: [16], classCount: 4), key: RandomKey(seed: UInt64(k)))
        }
        var last = [EpochMetrics?](repeating: nil, count: 2)
        let together = try PopulationTrainer(members: trainers).run(models: models, data: data) { k, event in
            if case let .epoch(m, _) = event { last[k] = m }
        }
        for k in 0..<2 {
            let alone = try trainers[k].run(model: models[k], data: data)
            #expect(alone.state == together[k].state, "member \(k)")
            let state = together[k].state
            #expect(state.gates.names == ["1.weight", "3.weight"])
            let density = trainers[k].config.l0!.expectedDensity(state.gates)
            #expect(abs(density - targets[k]) < 0.08, "member \(k): expected density \(density), target \(targets[k])")
            // The evaluated network is the raw one times the deterministic gates: exact zeros where a gate is closed.
            let evaluated = state.evaluatedModel
            for (name, location) in state.gates {
                let gate = L0Gates.deterministic(location)
                #expect(evaluated[name]! == state.model[name]! * gate)
            }
            let zeros = state.gates.names.reduce(0) { $0 + evaluated[$1]!.scalars.filter { $0 == 0 }.count }
            let accuracy = last[k]?.test?.accuracy ?? 0
            if k == 0 {
                #expect(Double(zeros) / Double(state.gates.elementCount) > 0.2, "\(zeros) exact zeros at target 0.3")
                #expect(accuracy > 0.28, "test accuracy \(accuracy) at target 0.3 (chance 0.25)")
            } else {
                #expect(accuracy > 0.6, "test accuracy \(accuracy) at target 0.6")
            }
        }
    }

    /// A gated state survives a checkpoint exactly; the file's model tensors are the gated network;
    /// a run without gates refuses a gated state.
    @Test func gatedCheckpointsRoundTrip() throws {
        let trainer = Trainer(config: TrainingConfig(epochs: 1, batchSize: 20, l0: L0Gates(targetDensity: 0.5), seed: 3))
        let model = try PruningTests.mlp(seed: 3)
        let state = try trainer.run(model: model, data: Self.data).state
        #expect(state.gateMultiplier > 0 || trainer.config.l0!.expectedDensity(state.gates) <= 0.5)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("l0-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Checkpoint.write(state, config: "{}", to: url)
        #expect(try Checkpoint.read(from: url).state == state)
        let file = try Safetensors.read(from: url).tensors
        #expect(file["1.weight"] == state.evaluatedModel["1.weight"] && file["1.weight"] != state.model["1.weight"])
        try trainer.validate(model: model, data: Self.data, resume: state)
        let plain = Trainer(config: TrainingConfig(epochs: 1, batchSize: 20, seed: 3))
        #expect(throws: TrainingError.self) { try plain.validate(model: model, data: Self.data, resume: state) }
    }
}
