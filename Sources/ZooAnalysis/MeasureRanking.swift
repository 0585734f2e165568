import ZooStore

/// How well each measure ranks the members of a zoo by a target (the generalization gap by
/// default), as Jiang et al. (2019) rank their 40 measures: Kendall's τ between the measure at
/// each run's checkpoint and the target at the same epoch, over the runs that have both.
public struct MeasureRanking: Sendable {
    public struct Row: Sendable, Equatable {
        /// `measure` or `measure.key`.
        public var measure: String
        public var tau: Double
        /// Runs with a finite value of both.
        public var count: Int
    }

    /// The rows, by decreasing τ (NaN last).
    public var rows: [Row]

    /// The quantities a measure is ranked against.
    public enum Target: String, Sendable, CaseIterable {
        /// Test error minus train error (1 − accuracy), from the full-pass metrics of the epoch.
        case gap
        /// Test error.
        case testError = "test-error"
        /// Test loss minus train loss.
        case lossGap = "loss-gap"

        /// The target from an epoch's metrics; nil when they lack it.
        public func value(_ m: MetricRecord) -> Double? {
            switch self {
            case .gap:
                guard let train = m.values["train_accuracy"], let test = m.values["test_accuracy"] else { return nil }
                return train - test
            case .testError: return m.values["test_accuracy"].map { 1 - $0 }
            case .lossGap:
                guard let train = m.values["train_loss"], let test = m.values["test_loss"] else { return nil }
                return test - train
            }
        }
    }

    /// Ranks the measures of single runs in `measures` against `target` from `metrics`; a measure
    /// stored under several settings is ranked once per settings (the settings differ by a suffix then).
    public init(measures: [MeasureRecord], metrics: [MetricRecord], target: Target = .gap) {
        var targets: [String: Double] = [:]
        for m in metrics { if let t = target.value(m) { targets["\(m.runID)@\(m.epoch)"] = t } }
        let settingsPerMeasure = Dictionary(grouping: measures.filter { $0.task.otherRun.isEmpty }) { $0.task.measure }
            .mapValues { Set($0.map(\.task.settings)) }
        var columns: [String: [(Double, Double)]] = [:]
        for r in measures where r.task.otherRun.isEmpty && r.error == nil {
            guard let t = targets["\(r.task.runID)@\(r.task.epoch)"] else { continue }
            var name = r.column
            if let all = settingsPerMeasure[r.task.measure], all.count > 1 { name += " " + r.task.settings }
            columns[name, default: []].append((r.value, t))
        }
        rows = columns.map { name, pairs in
            let finite = pairs.filter { $0.0.isFinite && $0.1.isFinite }
            return Row(measure: name, tau: kendallTau(pairs.map(\.0), pairs.map(\.1)), count: finite.count)
        }.sorted { a, b in
            if a.tau.isNaN != b.tau.isNaN { return !a.tau.isNaN }
            return a.tau == b.tau ? a.measure < b.measure : a.tau > b.tau
        }
    }
}
