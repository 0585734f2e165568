import Foundation
import Testing
import ZooData
import ZooMeasures
import ZooNN
import ZooTensor

@Suite("Weight statistics")
struct WeightStatisticsTests {
    /// Values 1, 2, 3, 4, 10: mean 4; central moments m₂ = 10, m₃ = 36, m₄ = 278.8; skew
    /// 36/10^{3/2}, excess kurtosis 278.8/100 − 3; percentiles at positions p/100 · 4 of the
    /// sorted values. The constant bias has zero variance, skew and kurtosis.
    @Test func handMadeTensor() throws {
        let model = Sequential([Linear(weight: Tensor(shape: [1, 5], scalars: [3, 10, 1, 4, 2]), bias: Tensor([7]))])
        let s = NormFixtures.subject(model, sample: LabeledData(inputs: .zeros([1, 5]), labels: [0], classCount: 1))
        let v = try NormFixtures.value("weight_statistics", s)
        let expected: [String: Double] = [
            "0.weight.mean": 4, "0.weight.variance": 10, "0.weight.skew": 36 / pow(10, 1.5), "0.weight.kurtosis": 278.8 / 100 - 3,
            "0.weight.p1": 1.04, "0.weight.p25": 2, "0.weight.p50": 3, "0.weight.p75": 4, "0.weight.p99": 9.76,
            "0.weight.l2": 130.0.squareRoot(),
            "0.bias.mean": 7, "0.bias.variance": 0, "0.bias.skew": 0, "0.bias.kurtosis": 0,
            "0.bias.p1": 7, "0.bias.p25": 7, "0.bias.p50": 7, "0.bias.p75": 7, "0.bias.p99": 7, "0.bias.l2": 7,
            "": (130.0 + 49).squareRoot(),
        ]
        #expect(Set(v.keys) == Set(expected.keys))
        for (key, value) in expected {
            #expect(abs(v[key]! - value) < 1e-12 * max(1, abs(value)), "\(key): \(v[key]!) vs \(value)")
        }
    }

    /// Statistics are of the parameters only: batch-norm running statistics are buffers.
    @Test func buffersAreNotParameters() throws {
        let model = Sequential([Linear(inputSize: 3, outputSize: 2, key: RandomKey(seed: 1)), BatchNorm(channels: 2)])
        let s = NormFixtures.subject(model, sample: LabeledData(inputs: .zeros([1, 3]), labels: [0], classCount: 2))
        let keys = Set(try NormFixtures.value("weight_statistics", s).keys.map { $0.split(separator: ".").dropLast().joined(separator: ".") })
        #expect(keys == ["", "0.weight", "0.bias", "1.weight", "1.bias"])
    }
}
