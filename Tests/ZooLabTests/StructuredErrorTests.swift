import Foundation
import Testing
import ZooData
import ZooLab
import ZooNN
import ZooOptim
import ZooTensor
import ZooTrain

/// Errors carry what is at fault as fields, so no caller searches an error's text for a key.
@Suite("Structured errors")
struct StructuredErrorTests {
    @Test func modelAndDataOptionsAreNamed() {
        let input = ModelInput(shape: [8], classCount: 3)
        #expect { try ModelCatalog.make("mlp", options: ["hidden": "x"], input: input, key: RandomKey(seed: 0)) } throws: {
            ($0 as? ModelOptionError)?.option == "hidden"
        }
        #expect { try ModelCatalog.make("mlp", options: ["widht": "3"], input: input, key: RandomKey(seed: 0)) } throws: {
            ($0 as? ModelOptionError)?.option == "widht"
        }
        #expect { try DatasetCatalog.load(DataSpec(name: "teacher-student", options: ["train": "100", "subset": "500"])) } throws: {
            ($0 as? DataSpecError)?.option == "subset"
        }
    }

    @Test func trainingOptimizerAndScheduleSettingsAreNamed() {
        #expect { try TrainingConfig(batchSize: 0).validate() } throws: { ($0 as? TrainingConfigError)?.key == "batch-size" }
        #expect { try OptimizerConfig.sgd(SGD(learningRate: 0.1, momentum: 2)).validate() } throws: { ($0 as? OptimizerConfigError)?.setting == "momentum" }
        #expect { try LearningRateSchedule.step(stepSize: 0, gamma: 0.5).validate() } throws: { ($0 as? ScheduleError)?.setting == "step-size" }
    }

    /// Spec keys whose values pass their own range but not the typed config's checks.
    @Test(arguments: [("nesterov", "true"), ("milestones", "[3, 1]")])
    func specErrorsNameTheKey(key: String, value: String) {
        let text = "base:\n  model: mlp\n  data: teacher-student\n  optimizer: sgd\n  schedule: multistep\n  \(key): \(value)\n"
        #expect { try SweepPlan.make(try SweepSpec.parse(text, file: "spec.yaml")) } throws: { error in
            guard let e = error as? SpecError else { return false }
            return e.key == key && e.line == 6
        }
    }
}
