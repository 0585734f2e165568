import Foundation
import ZooStore

/// One member of a zoo as ``ZooSummary`` reads it: its status, its config (and label) as text
/// values by key, its metrics per epoch and its measures per epoch.
public struct SummaryMember: Sendable {
    public var id: String
    public var status: RunStatus
    /// Config keys as text (as `RunRows.configs` writes them), plus `label` when the run has one.
    public var keys: [String: String]
    /// The run's metrics, one record per epoch (any order).
    public var metrics: [MetricRecord]
    /// Measure values by epoch, then by column (`measure` or `measure.key`).
    public var measures: [Int: [String: Double]]
    /// The position in ``metrics`` of each epoch's record.
    let positions: [Int: Int]

    /// A member; `metrics` are sorted by epoch (a repeated epoch keeps its last record).
    public init(id: String, status: RunStatus, keys: [String: String], metrics: [MetricRecord], measures: [Int: [String: Double]] = [:]) {
        self.id = id
        self.status = status
        self.keys = keys
        self.metrics = Dictionary(metrics.map { ($0.epoch, $0) }) { _, last in last }.values.sorted { $0.epoch < $1.epoch }
        self.measures = measures
        positions = Dictionary(uniqueKeysWithValues: self.metrics.enumerated().map { ($1.epoch, $0) })
    }

    /// The metrics of `epoch`, when stored.
    public func metrics(epoch: Int) -> MetricRecord? { positions[epoch].map { metrics[$0] } }

    /// The value of a metric or measure `column` at `epoch`, when stored.
    public func value(_ column: String, epoch: Int) -> Double? {
        if let v = metrics(epoch: epoch)?.values[column] { return v }
        return measures[epoch]?[column]
    }
}

/// Which epoch of each member a summary reads.
public enum SummaryEpoch: Sendable, Equatable, CustomStringConvertible {
    /// The last recorded epoch.
    case final
    /// The epoch where the summary's first column peaks (``ZooSummary/peakDirection(_:)``).
    case best
    /// This epoch (members without it have no values).
    case number(Int)

    /// `final`, `best` or a positive epoch number; nil otherwise.
    public init?(_ text: String) {
        switch text {
        case "final": self = .final
        case "best": self = .best
        default:
            guard let n = Int(text), n >= 0 else { return nil }
            self = .number(n)
        }
    }

    public var description: String {
        switch self {
        case .final: return "final"
        case .best: return "best"
        case let .number(n): return String(n)
        }
    }
}

/// A success criterion on one metric or measure, `test_accuracy>=0.85` (Madsen & Johansen 2019,
/// "How to measure success of training runs": report the rate of runs that succeed).
public struct SuccessCriterion: Sendable, Equatable, CustomStringConvertible {
    public enum Comparison: String, Sendable, CaseIterable {
        case atLeast = ">=", atMost = "<=", equal = "==", greater = ">", less = "<"
    }
    public var column: String
    public var comparison: Comparison
    public var threshold: Double

    public init(column: String, comparison: Comparison, threshold: Double) {
        self.column = column
        self.comparison = comparison
        self.threshold = threshold
    }

    /// Parses `NAME OP NUMBER` with OP one of `>=`, `>`, `<=`, `<`, `==` (blanks allowed around
    /// each part) and a finite number.
    /// - Throws: ``SummaryError`` saying what is wrong with `text`.
    public init(parsing text: String) throws {
        let help = "help: write NAME OP NUMBER with OP one of >=, >, <=, <, ==, e.g. 'test_accuracy>=0.85'"
        // Two-character operators first, so that `>=` is not read as `>` followed by `=0.85`.
        guard let (op, range) = Comparison.allCases.lazy.compactMap({ op in text.range(of: op.rawValue).map { (op, $0) } }).first else {
            throw SummaryError("--success '\(text)': no comparison operator; \(help)")
        }
        let name = text[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
        let number = text[range.upperBound...].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, !name.contains(where: { "<>=!".contains($0) || $0.isWhitespace }) else {
            throw SummaryError("--success '\(text)': '\(name)' is not a metric or measure name; \(help)")
        }
        guard let threshold = Double(number), threshold.isFinite else {
            throw SummaryError("--success '\(text)': '\(number)' is not a finite number; \(help)")
        }
        self.init(column: name, comparison: op, threshold: threshold)
    }

    /// Whether `value` meets the criterion; a missing or NaN value does not.
    public func isMet(by value: Double?) -> Bool {
        guard let value, !value.isNaN else { return false }
        switch comparison {
        case .atLeast: return value >= threshold
        case .atMost: return value <= threshold
        case .equal: return value == threshold
        case .greater: return value > threshold
        case .less: return value < threshold
        }
    }

    public var description: String { "\(column)\(comparison.rawValue)\(ZooSummary.text(threshold))" }
}

/// A summary that cannot be made as asked: the message names the option, key or column.
public struct SummaryError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A zoo summarized per group of members (the seeds of one config, or of one labeled arm): for
/// each chosen metric or measure, mean ± sd and the Student-t 95% interval over the group's members
/// at the chosen epoch, with the peak over epochs and the epoch it was reached; optimizer steps and
/// member seconds to that epoch; the generalization gap; counts of diverged and failed members;
/// and, with a ``SuccessCriterion``, the success rate with its Wilson 95% interval.
///
/// Values are over the group's members whose status is `done`. Diverged, failed and unfinished
/// members are counted, not averaged (a diverged member's metrics are NaN or meaningless); for the
/// success rate, diverged members are trials that failed, while failed (crashed) and unfinished
/// members are not trials.
public struct ZooSummary: Sendable {
    /// How groups are ordered.
    public enum Order: String, Sendable, CaseIterable {
        /// By the first column's mean, best first (highest when no direction is known); groups
        /// without a value last.
        case value
        /// By the grouping keys' values (numbers numerically).
        case keys
    }

    /// What to summarize and how.
    public struct Options: Sendable {
        /// Grouping keys; nil for ``ZooSummary/defaultGrouping(_:)``.
        public var by: [String]?
        public var epoch: SummaryEpoch
        /// Metric or measure columns, in order; empty for ``ZooSummary/defaultColumns(_:)``.
        public var columns: [String]
        public var success: SuccessCriterion?
        public var order: Order

        public init(by: [String]? = nil, epoch: SummaryEpoch = .final, columns: [String] = [], success: SuccessCriterion? = nil,
                    order: Order = .value) {
            self.by = by
            self.epoch = epoch
            self.columns = columns
            self.success = success
            self.order = order
        }
    }

    /// One column of one group: its value at the chosen epoch, its peak over epochs and the epoch
    /// of the peak (nil for a column without a ``ZooSummary/PeakDirection``), each over the group's
    /// done members that have it.
    public struct Column: Sendable, Equatable {
        public var value: MeanEstimate?
        public var peak: MeanEstimate?
        public var bestEpoch: MeanEstimate?
    }

    /// Where the generalization gap's train side comes from.
    public enum GapSource: String, Sendable {
        /// `train_accuracy` / `train_loss`: the trained model measured in evaluation mode on the
        /// training data (a fixed sample, or all of it with `train_metrics: full`).
        case measured
        /// `running_accuracy` / `running_loss`: averages over the epoch's batches in training mode
        /// (dropout on, the weights still moving), used only where no measured train metric exists.
        case running
    }

    /// Members of a group by what became of them.
    public struct Counts: Sendable, Equatable {
        public var members = 0, done = 0, diverged = 0, failed = 0, unfinished = 0

        public init(members: Int = 0, done: Int = 0, diverged: Int = 0, failed: Int = 0, unfinished: Int = 0) {
            self.members = members
            self.done = done
            self.diverged = diverged
            self.failed = failed
            self.unfinished = unfinished
        }
    }

    /// The success rate of a group with its Wilson 95% interval.
    public struct SuccessRate: Sendable, Equatable {
        public var successes: Int
        /// Done and diverged members.
        public var trials: Int
        public var rate: Double { trials > 0 ? Double(successes) / Double(trials) : .nan }
        public var low: Double
        public var high: Double
    }

    /// One group of members.
    public struct Group: Sendable {
        /// The values of the grouping keys (``ZooSummary/by``), in order; empty for a missing key.
        public var key: [String]
        /// The members' run ids.
        public var members: [String]
        public var counts: Counts
        /// The epoch read from each done member.
        public var epoch: MeanEstimate?
        /// By column name (``ZooSummary/columns``).
        public var columns: [String: Column]
        /// Optimizer steps to the chosen epoch.
        public var steps: MeanEstimate?
        /// Each member's own training seconds (`member_seconds`) summed to the chosen epoch.
        public var memberSeconds: MeanEstimate?
        /// Train accuracy − test accuracy at the chosen epoch.
        public var accuracyGap: MeanEstimate?
        /// Test loss − train loss at the chosen epoch.
        public var lossGap: MeanEstimate?
        /// `.running` when any member's gap came from running averages.
        public var gapSource: GapSource?
        public var success: SuccessRate?
    }

    public var by: [String]
    public var columns: [String]
    public var options: Options
    public var groups: [Group]

    /// Whether a larger or smaller value of a column is better, for peaks and `--epoch best`:
    /// a name ending in `accuracy` peaks at its maximum, one ending in `loss` or `error` at its
    /// minimum; other columns (measures, `scheduled_lr`, `seconds`) have no peak.
    public enum PeakDirection: Sendable { case maximum, minimum }

    /// The ``PeakDirection`` of `column`, nil when it has none.
    public static func peakDirection(_ column: String) -> PeakDirection? {
        if column.hasSuffix("accuracy") { return .maximum }
        if column.hasSuffix("loss") || column.hasSuffix("error") { return .minimum }
        return nil
    }

    /// The metric and measure columns stored for `members`, metrics first (in
    /// `MetricRecord.columns` order), then measures sorted.
    public static func availableColumns(_ members: [SummaryMember]) -> [String] {
        let metrics = Set(members.flatMap { $0.metrics.flatMap(\.values.keys) })
        let measures = Set(members.flatMap { $0.measures.values.flatMap(\.keys) })
        return MetricRecord.columns.filter(metrics.contains) + measures.subtracting(metrics).sorted()
    }

    /// `test_accuracy`, or the first of validation accuracy, train accuracy, test loss and train
    /// loss that is stored; empty when none is.
    public static func defaultColumns(_ members: [SummaryMember]) -> [String] {
        let stored = Set(availableColumns(members))
        return ["test_accuracy", "validation_accuracy", "train_accuracy", "test_loss", "train_loss"].first(where: stored.contains).map { [$0] } ?? []
    }

    /// The keys whose values differ among `members`, sorted, `seed` and `parent` left out (a
    /// branch of each seed's run has its own parent: they are replicates too); when some member has
    /// a `label`, `label` first and then only the keys that still vary within a label's members.
    /// A key that some members lack (one that does not apply to them, as `momentum` under adam) is
    /// left out too when the other keys already tell the same groups apart.
    public static func defaultGrouping(_ members: [SummaryMember]) -> [String] {
        let keys = Set(members.flatMap(\.keys.keys))
        var varied = keys.filter { k in Set(members.map { $0.keys[k] ?? "" }).count > 1 && k != "seed" && k != "parent" && k != "label" }.sorted()
        let labeled = members.contains { $0.keys["label"] != nil }
        if labeled {
            let byLabel = Dictionary(grouping: members) { $0.keys["label"] ?? "" }
            varied = varied.filter { k in byLabel.values.contains { Set($0.map { $0.keys[k] ?? "" }).count > 1 } }
        }
        let head = labeled ? ["label"] : []
        func groupCount(_ by: [String]) -> Int { Set(members.map { m in by.map { m.keys[$0] ?? "" } }).count }
        let full = groupCount(head + varied)
        for k in varied where members.contains(where: { $0.keys[k] == nil }) {
            let rest = varied.filter { $0 != k }
            if groupCount(head + rest) == full { varied = rest }
        }
        return head + varied
    }

    /// Summarizes `members` as `options` say.
    /// - Throws: ``SummaryError`` for a grouping key no member has, a column that is not stored,
    ///   or `--epoch best` on a column without a peak direction.
    public init(members: [SummaryMember], options: Options = Options()) throws {
        self.options = options
        let keys = Set(members.flatMap(\.keys.keys))
        by = options.by ?? Self.defaultGrouping(members)
        for k in by where !keys.contains(k) {
            let help = k == "label" ? "; help: name the arms with `label:` in the spec's zip, grid or random section and run it again (it trains nothing)" : ""
            throw SummaryError("--by \(k): no run has this key; keys: \(keys.sorted().joined(separator: ", "))\(help)")
        }
        let available = Self.availableColumns(members)
        columns = options.columns.isEmpty ? Self.defaultColumns(members) : options.columns
        for c in columns + (options.success.map { [$0.column] } ?? []) where !available.contains(c) {
            throw SummaryError("'\(c)' is not a metric or measure stored for these runs; stored: \(Self.shortList(available))")
        }
        if options.epoch == .best {
            guard let first = columns.first, Self.peakDirection(first) != nil else {
                throw SummaryError("--epoch best picks the epoch where the first --metric peaks, but '\(columns.first ?? "")' has no direction (an accuracy peaks at its maximum, a loss at its minimum); help: put an accuracy or a loss first")
            }
        }
        let by = self.by, columns = self.columns
        let grouped = Dictionary(grouping: members) { m in by.map { m.keys[$0] ?? "" } }
        groups = grouped.map { key, members in Self.group(key: key, members: members, columns: columns, options: options) }
            .sorted(by: Self.ordering(options.order, column: columns.first))
    }

    /// The epoch of `member` that the summary reads, nil when it has none.
    static func chosenEpoch(_ member: SummaryMember, _ epoch: SummaryEpoch, firstColumn: String?) -> Int? {
        switch epoch {
        case .final: return member.metrics.last?.epoch
        case let .number(n): return member.metrics(epoch: n) != nil ? n : nil
        case .best:
            guard let column = firstColumn else { return member.metrics.last?.epoch }
            return peak(member, column)?.epoch
        }
    }

    /// The peak of `column` over `member`'s epochs and the first epoch reaching it (non-finite
    /// values skipped); nil without a direction or a finite value.
    static func peak(_ member: SummaryMember, _ column: String) -> (value: Double, epoch: Int)? {
        guard let direction = peakDirection(column) else { return nil }
        var best: (value: Double, epoch: Int)?
        for m in member.metrics {
            guard let v = member.value(column, epoch: m.epoch), v.isFinite else { continue }
            if let b = best, direction == .maximum ? v <= b.value : v >= b.value { continue }
            best = (v, m.epoch)
        }
        return best
    }

    static func group(key: [String], members: [SummaryMember], columns: [String], options: Options) -> Group {
        var counts = Counts()
        counts.members = members.count
        for m in members {
            switch m.status {
            case .done: counts.done += 1
            case .diverged: counts.diverged += 1
            case .failed: counts.failed += 1
            case .pending, .running: counts.unfinished += 1
            }
        }
        let done = members.filter { $0.status == .done }
        let epochs = done.map { chosenEpoch($0, options.epoch, firstColumn: columns.first) }
        func estimate(_ value: (SummaryMember, Int) -> Double?) -> MeanEstimate? {
            MeanEstimate(zip(done, epochs).compactMap { m, e in e.flatMap { value(m, $0) } })
        }
        var summaries: [String: Column] = [:]
        for c in columns {
            let peaks = done.compactMap { peak($0, c) }
            summaries[c] = Column(value: estimate { $0.value(c, epoch: $1) },
                                  peak: peakDirection(c) == nil ? nil : MeanEstimate(peaks.map(\.value)),
                                  bestEpoch: peakDirection(c) == nil ? nil : MeanEstimate(peaks.map { Double($0.epoch) }))
        }
        var source: GapSource?
        func gap(_ train: String, _ running: String, _ test: String, sign: Double) -> (SummaryMember, Int) -> Double? {
            { m, e in
                guard let t = m.value(test, epoch: e) else { return nil }
                if let tr = m.value(train, epoch: e) {
                    if source == nil { source = .measured }
                    return sign * (tr - t)
                }
                guard let r = m.value(running, epoch: e) else { return nil }
                source = .running
                return sign * (r - t)
            }
        }
        let accuracyGap = estimate(gap("train_accuracy", "running_accuracy", "test_accuracy", sign: 1))
        let lossGap = estimate(gap("train_loss", "running_loss", "test_loss", sign: -1))
        var success: SuccessRate?
        if let criterion = options.success {
            let trials = counts.done + counts.diverged
            let successes = zip(done, epochs).filter { m, e in criterion.isMet(by: e.flatMap { m.value(criterion.column, epoch: $0) }) }.count
            let interval = wilsonInterval(successes: successes, trials: trials) ?? (.nan, .nan)
            success = SuccessRate(successes: successes, trials: trials, low: interval.low, high: interval.high)
        }
        return Group(
            key: key, members: members.map(\.id).sorted(), counts: counts, epoch: MeanEstimate(epochs.compactMap { $0.map(Double.init) }),
            columns: summaries,
            steps: estimate { m, e in m.metrics(epoch: e).map { Double($0.step) } },
            memberSeconds: estimate { m, e in
                let seconds = m.metrics.filter { $0.epoch <= e }.compactMap { $0.values["member_seconds"] }
                return seconds.isEmpty ? nil : seconds.reduce(0, +)
            },
            accuracyGap: accuracyGap, lossGap: lossGap, gapSource: source, success: success)
    }

    static func ordering(_ order: Order, column: String?) -> (Group, Group) -> Bool {
        func byKeys(_ a: Group, _ b: Group) -> Bool {
            for (x, y) in zip(a.key, b.key) where x != y {
                if let dx = Double(x), let dy = Double(y) { return dx < dy }
                return x < y
            }
            return false
        }
        guard order == .value, let column else { return byKeys }
        let larger = peakDirection(column) != .minimum
        return { a, b in
            let x = a.columns[column]?.value?.mean, y = b.columns[column]?.value?.mean
            switch (x, y) {
            case let (x?, y?) where x != y: return larger ? x > y : x < y
            case (.some, nil): return true
            case (nil, .some): return false
            default: return byKeys(a, b)
            }
        }
    }

    /// A number in its shortest round-tripping form (integral values without a fraction).
    static func text(_ d: Double) -> String {
        d == d.rounded() && Swift.abs(d) < 1e15 ? String(Int(d)) : "\(d)"
    }

    /// The first names of `list`, with how many more.
    static func shortList(_ list: [String], limit: Int = 20) -> String {
        list.prefix(limit).joined(separator: ", ") + (list.count > limit ? ", … (\(list.count - limit) more)" : "")
    }
}
