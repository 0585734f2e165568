import Foundation
import Testing
import ZooOptim

@Suite("Schedules")
struct ScheduleTests {
    func close(_ a: Float, _ b: Double) -> Bool { abs(Double(a) - b) < 1e-6 * max(1, abs(b)) }

    @Test func stepMultistepExponential() {
        let step = LearningRateSchedule.step(stepSize: 3, gamma: 0.1)
        #expect([0, 2, 3, 5, 6].map { step.learningRate(atStep: $0, base: 1) }.enumerated().allSatisfy { close($1, [1, 1, 0.1, 0.1, 0.01][$0]) })
        let multi = LearningRateSchedule.multiStep(milestones: [2, 5], gamma: 0.5)
        #expect([0, 1, 2, 4, 5, 9].map { multi.learningRate(atStep: $0, base: 0.4) }.enumerated().allSatisfy { close($1, [0.4, 0.4, 0.2, 0.2, 0.1, 0.1][$0]) })
        #expect(close(LearningRateSchedule.exponential(gamma: 0.9).learningRate(atStep: 3, base: 2), 2 * pow(0.9, 3)))
        #expect(LearningRateSchedule.constant.learningRate(atStep: 99, base: 0.3) == 0.3)
    }

    @Test func cosineWithWarmup() {
        let s = LearningRateSchedule.cosine(totalSteps: 10, warmupSteps: 4, minimum: 0.01)
        #expect(close(s.learningRate(atStep: 0, base: 1), 0.25))
        #expect(close(s.learningRate(atStep: 3, base: 1), 1))
        #expect(close(s.learningRate(atStep: 4, base: 1), 1))
        // t = 7: progress (7 − 4) / 6 = ½ → 0.01 + 0.99 · ½(1 + cos(π/2)).
        #expect(close(s.learningRate(atStep: 7, base: 1), 0.01 + 0.99 * 0.5))
        #expect(close(s.learningRate(atStep: 10, base: 1), 0.01))
        #expect(close(s.learningRate(atStep: 50, base: 1), 0.01))
    }

    @Test func oneCycleMatchesPyTorch() {
        // OneCycleLR(max_lr=1, total_steps=100, pct_start=0.3, div_factor=25, final_div_factor=1e4).
        let s = LearningRateSchedule.oneCycle(totalSteps: 100, maxLearningRate: 1)
        #expect(close(s.learningRate(atStep: 0, base: 0), 0.04))
        #expect(close(s.learningRate(atStep: 29, base: 0), 1))
        #expect(close(s.learningRate(atStep: 14, base: 0), 0.04 + (1 - 0.04) / 2 * (1 - cos(Double.pi * 14 / 29))))
        #expect(close(s.learningRate(atStep: 99, base: 0), 0.04 / 1e4))
        let p = 40.0 / 70
        #expect(close(s.learningRate(atStep: 69, base: 0), 0.04e-4 + (1 - 0.04e-4) / 2 * (cos(Double.pi * p) + 1)))
    }

    @Test func batchSizeSchedule() {
        let s = BatchSizeSchedule.multiStep(milestones: [10, 20], factor: 5)
        #expect([0, 9, 10, 19, 20, 30].map { s.batchSize(atStep: $0, base: 128) } == [128, 128, 640, 640, 3200, 3200])
        #expect(BatchSizeSchedule.constant.batchSize(atStep: 7, base: 32) == 32)
    }

    @Test func validationNamesTheKey() {
        func message(_ s: LearningRateSchedule) -> String {
            do { try s.validate(); return "" } catch { return "\(error)" }
        }
        #expect(message(.step(stepSize: 0, gamma: 0.1)).contains("step-size"))
        #expect(message(.multiStep(milestones: [5, 2], gamma: 0.1)).contains("milestones"))
        #expect(message(.cosine(totalSteps: 10, warmupSteps: 20, minimum: 0)).contains("warmup"))
        #expect(message(.oneCycle(totalSteps: 10, maxLearningRate: -1)).contains("max learning rate"))
        #expect(message(.constant).isEmpty)
    }

    @Test func jsonIsReadable() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(LearningRateSchedule.step(stepSize: 30, gamma: 0.1)), as: UTF8.self)
        #expect(json == #"{"step":{"gamma":0.1,"stepSize":30}}"#)
        for s in [LearningRateSchedule.constant, .cosine(totalSteps: 5, warmupSteps: 1, minimum: 0), .oneCycle(totalSteps: 9, maxLearningRate: 0.1)] {
            #expect(try JSONDecoder().decode(LearningRateSchedule.self, from: encoder.encode(s)) == s)
        }
    }
}
