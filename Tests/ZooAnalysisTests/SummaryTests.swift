import Foundation
import Testing
import ZooAnalysis
import ZooStore

/// ``ZooSummary`` on hand-made members whose answers are worked out by hand (and the t and Wilson
/// intervals by scipy 1.17: `stats.t.ppf(0.975, 2)`, `stats.binomtest(2, 4).proportion_ci(method="wilson")`).
@Suite("Summary")
struct SummaryTests {
    /// A member with one metric record per epoch from the given columns (epochs from 1, 10 steps and
    /// 1 member-second each).
    static func member(_ id: String, _ status: RunStatus = .done, keys: [String: String], _ columns: [String: [Double]],
                       measures: [Int: [String: Double]] = [:]) -> SummaryMember {
        let epochs = columns.values.map(\.count).max() ?? 0
        let metrics = (0..<epochs).map { e in
            MetricRecord(runID: id, epoch: e + 1, step: 10 * (e + 1),
                         values: columns.compactMapValues { $0.indices.contains(e) ? $0[e] : nil }.merging(["member_seconds": 1]) { a, _ in a })
        }
        return SummaryMember(id: id, status: status, keys: keys, metrics: metrics, measures: measures)
    }

    /// Group lr=0.1: three done members, one diverged, one failed; group lr=0.01: one done member
    /// with only running train metrics.
    static let zoo: [SummaryMember] = [
        member("a1", keys: ["lr": "0.1", "seed": "0"], ["test_accuracy": [0.5, 0.8, 0.7], "train_accuracy": [0.6, 0.9, 0.95],
                                                      "test_loss": [1.0, 0.6, 0.7], "train_loss": [0.9, 0.3, 0.2]], measures: [3: ["norm": 2]]),
        member("a2", keys: ["lr": "0.1", "seed": "1"], ["test_accuracy": [0.6, 0.7, 0.9], "train_accuracy": [0.6, 0.8, 0.95],
                                                      "test_loss": [0.9, 0.7, 0.4], "train_loss": [0.8, 0.5, 0.3]], measures: [3: ["norm": 4]]),
        member("a3", keys: ["lr": "0.1", "seed": "2"], ["test_accuracy": [0.4, 0.6, 0.8], "train_accuracy": [0.5, 0.7, 0.9],
                                                      "test_loss": [1.2, 0.9, 0.5], "train_loss": [1.0, 0.6, 0.45]]),
        member("a4", .diverged, keys: ["lr": "0.1", "seed": "3"], ["test_accuracy": [0.1, .nan]]),
        member("a5", .failed, keys: ["lr": "0.1", "seed": "4"], [:]),
        member("b1", keys: ["lr": "0.01", "seed": "0"], ["test_accuracy": [0.3, 0.5], "running_accuracy": [0.4, 0.6]]),
    ]

    static func close(_ a: Double?, _ b: Double, _ tolerance: Double = 1e-9) -> Bool { a.map { abs($0 - b) < tolerance } ?? false }

    @Test func finalEpochStatisticsPeaksGapsAndCounts() throws {
        let s = try ZooSummary(members: Self.zoo, options: .init(columns: ["test_accuracy", "norm"]))
        #expect(s.by == ["lr"])
        #expect(s.groups.map(\.key) == [["0.1"], ["0.01"]], "ordered by mean test accuracy, best first")
        let a = s.groups[0]
        #expect(a.counts == ZooSummary.Counts(members: 5, done: 3, diverged: 1, failed: 1, unfinished: 0))
        let value = try #require(a.columns["test_accuracy"]?.value)
        #expect(value.count == 3 && Self.close(value.mean, 0.8) && Self.close(value.sd, 0.1))
        #expect(Self.close(value.low, 0.5515862288249671, 1e-8) && Self.close(value.high, 1.0484137711750332, 1e-8))
        // Peaks 0.8 (epoch 2), 0.9 (3), 0.8 (3).
        #expect(Self.close(a.columns["test_accuracy"]?.peak?.mean, 2.5 / 3))
        #expect(Self.close(a.columns["test_accuracy"]?.bestEpoch?.mean, 8.0 / 3))
        // A measure: averaged over the members that have it, no peak.
        #expect(a.columns["norm"]?.value?.mean == 3 && a.columns["norm"]?.value?.count == 2 && a.columns["norm"]?.peak == nil)
        #expect(a.epoch?.mean == 3 && a.steps?.mean == 30 && a.memberSeconds?.mean == 3)
        #expect(Self.close(a.accuracyGap?.mean, (0.25 + 0.05 + 0.1) / 3) && a.gapSource == .measured)
        #expect(Self.close(a.lossGap?.mean, (0.5 + 0.1 + 0.05) / 3))
        let b = s.groups[1]
        #expect(b.counts.done == 1 && b.columns["test_accuracy"]?.value?.mean == 0.5 && b.columns["test_accuracy"]?.value?.sd.isNaN == true)
        #expect(Self.close(b.accuracyGap?.mean, 0.1) && b.gapSource == .running && b.lossGap == nil)
    }

    @Test func bestAndNumberedEpochs() throws {
        let best = try ZooSummary(members: Self.zoo, options: .init(epoch: .best))
        let a = best.groups[0]
        // a1 peaks at epoch 2 (0.8), a2 and a3 at epoch 3.
        #expect(Self.close(a.epoch?.mean, 8.0 / 3) && Self.close(a.steps?.mean, 80.0 / 3) && Self.close(a.memberSeconds?.mean, 8.0 / 3))
        #expect(Self.close(a.columns["test_accuracy"]?.value?.mean, 2.5 / 3))
        let second = try ZooSummary(members: Self.zoo, options: .init(epoch: .number(2), columns: ["test_loss"]))
        #expect(second.groups.map(\.key) == [["0.1"]] + [["0.01"]] && Self.close(second.groups[0].columns["test_loss"]?.value?.mean, 2.2 / 3))
        // A loss peaks at its minimum: a1 at epoch 2 (0.6), a2 and a3 at epoch 3.
        #expect(Self.close(second.groups[0].columns["test_loss"]?.bestEpoch?.mean, 8.0 / 3) && Self.close(second.groups[0].columns["test_loss"]?.peak?.mean, 1.5 / 3))
        let late = try ZooSummary(members: Self.zoo, options: .init(epoch: .number(3)))
        #expect(late.groups.first { $0.key == ["0.01"] }?.columns["test_accuracy"]?.value == nil, "b1 has no epoch 3")
    }

    @Test func successRateWithWilsonInterval() throws {
        let criterion = try SuccessCriterion(parsing: " test_accuracy >= 0.8 ")
        #expect(criterion == SuccessCriterion(column: "test_accuracy", comparison: .atLeast, threshold: 0.8))
        let s = try ZooSummary(members: Self.zoo, options: .init(success: criterion))
        // a2 (0.9) and a3 (0.8) succeed; a1 (0.7) does not, nor the diverged a4; the failed a5 is no trial.
        let r = try #require(s.groups[0].success)
        #expect(r.successes == 2 && r.trials == 4 && r.rate == 0.5)
        #expect(Self.close(r.low, 0.15003898915214953, 1e-12) && Self.close(r.high, 0.8499610108478505, 1e-12))
        #expect(try SuccessCriterion(parsing: "test_loss<0.5").isMet(by: 0.4) && !(try SuccessCriterion(parsing: "test_loss<0.5").isMet(by: nil)))
        #expect(try SuccessCriterion(parsing: "norm==2").isMet(by: 2) && !(try SuccessCriterion(parsing: "x>1").isMet(by: .nan)))
    }

    @Test(arguments: ["test_accuracy", "test_accuracy=0.8", ">=0.8", "test_accuracy>=", "test_accuracy>=high", "test_accuracy>=nan",
                      "test accuracy>=0.8", "test_accuracy=>0.8", "test_accuracy>=0.8>=1"])
    func malformedCriteriaAreRefused(_ text: String) {
        #expect(throws: SummaryError.self) { try SuccessCriterion(parsing: text) }
    }

    @Test func errorsNameTheKeyOrColumn() {
        func message(_ options: ZooSummary.Options) -> String {
            do { _ = try ZooSummary(members: Self.zoo, options: options); return "" } catch { return "\(error)" }
        }
        #expect(message(.init(by: ["optimizer"])).contains("--by optimizer: no run has this key; keys: lr, seed"))
        #expect(message(.init(columns: ["test_acc"])).contains("'test_acc' is not a metric or measure stored"))
        #expect(message(.init(success: SuccessCriterion(column: "sharpness", comparison: .less, threshold: 1))).contains("'sharpness'"))
        #expect(message(.init(epoch: .best, columns: ["norm"])).contains("--epoch best"))
    }

    @Test func defaultGroupingPrefersLabels() {
        let plain = [Self.member("x", keys: ["lr": "1", "seed": "0", "momentum": "0"], [:]),
                     Self.member("y", keys: ["lr": "2", "seed": "1", "momentum": "0"], [:])]
        #expect(ZooSummary.defaultGrouping(plain) == ["lr"])
        // The label determines schedule but not lr: group by label and lr.
        let labeled = [Self.member("a", keys: ["label": "decay", "schedule": "step", "lr": "1", "seed": "0"], [:]),
                       Self.member("b", keys: ["label": "decay", "schedule": "step", "lr": "2", "seed": "0"], [:]),
                       Self.member("c", keys: ["label": "flat", "schedule": "constant", "lr": "1", "seed": "0"], [:])]
        #expect(ZooSummary.defaultGrouping(labeled) == ["label", "lr"])
        // momentum applies to sgd only: the optimizer already tells its groups apart.
        let optimizers = [Self.member("s", keys: ["optimizer": "sgd", "momentum": "0.9", "lr": "1"], [:]),
                          Self.member("t", keys: ["optimizer": "sgd", "momentum": "0.9", "lr": "2"], [:]),
                          Self.member("u", keys: ["optimizer": "adam", "lr": "1"], [:])]
        #expect(ZooSummary.defaultGrouping(optimizers) == ["lr", "optimizer"])
        // Unless it splits a group: two momenta under sgd.
        let momenta = optimizers + [Self.member("v", keys: ["optimizer": "sgd", "momentum": "0", "lr": "1"], [:])]
        #expect(ZooSummary.defaultGrouping(momenta) == ["lr", "momentum", "optimizer"])
        #expect(SummaryEpoch("final") == .final && SummaryEpoch("best") == .best && SummaryEpoch("12") == .number(12))
        #expect(SummaryEpoch("-1") == nil && SummaryEpoch("last") == nil)
    }

    @Test func orderByKeysIsNumeric() throws {
        let members = ["10", "9", "0.5"].map { Self.member("r\($0)", keys: ["batch": $0], ["test_accuracy": [0.5]]) }
        let s = try ZooSummary(members: members, options: .init(order: .keys))
        #expect(s.groups.map(\.key) == [["0.5"], ["9"], ["10"]])
    }
}
