import Testing
import ZooLab
import ZooTrain

/// `record_predictions`: off by default (old run ids unchanged); `test` names other runs.
@Suite("record_predictions key")
struct RecordPredictionsKeyTests {
    static let base: FlatConfig = ["model": .string("mlp"), "data": .string("teacher-student"), "seed": .int(3)]

    @Test func offKeepsIdsAndTestMakesOtherRuns() throws {
        let plain = try ConfigSchema.complete(Self.base)
        var off = Self.base, on = Self.base
        off["record_predictions"] = try ConfigSchema.coerce(.string("off"), for: "record_predictions")
        on["record_predictions"] = try ConfigSchema.coerce(.string("test"), for: "record_predictions")
        #expect(ConfigSchema.runID(of: try ConfigSchema.complete(off)) == ConfigSchema.runID(of: plain))
        let recorded = try ConfigSchema.complete(on)
        #expect(ConfigSchema.runID(of: recorded) != ConfigSchema.runID(of: plain))
        #expect(try ConfigSchema.runConfig(recorded).training.recordPredictions == .test)
        #expect(try ConfigSchema.runConfig(plain).training.recordPredictions == nil)
    }

    @Test func otherValuesAreRefusedWithTheChoices() {
        #expect { try ConfigSchema.coerce(.string("train"), for: "record_predictions") } throws: { error in
            "\(error)".contains("record_predictions = train is invalid: expected one of off, test")
        }
        #expect(throws: ConfigError.self) { try ConfigSchema.coerce(.bool(true), for: "record_predictions") }
    }
}
