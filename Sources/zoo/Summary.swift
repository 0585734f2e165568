import ArgumentParser
import Foundation
import ZooAnalysis
import ZooReport
import ZooStore

extension SummaryFormat: ExpressibleByArgument {}
extension ZooSummary.Order: ExpressibleByArgument {}

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Summarize a zoo: one row per group of runs, mean ± sd and 95% CI over its members.",
        discussion: """
            Groups are the runs that share the --by keys' values; by default every config key that \
            varies except seed (a key that applies to some runs only, such as momentum under adam, is \
            left out when the other keys tell the same groups apart), or, when the spec named its arms \
            (label:), the label and the keys that still vary within a label.

            Per group, at the chosen epoch of each member: each --metric (a metric, or a measure as \
            `measure` or `measure.key`) as mean ± sd with the Student-t 95% interval of the mean; its \
            peak over epochs (the maximum of an accuracy, the minimum of a loss) and the epoch it was \
            first reached; optimizer steps and the member's own seconds to that epoch; the \
            generalization gap (train − test accuracy, test − train loss) from the measured train \
            metrics, or from the running averages when only those are stored (a note says so); and \
            the members that diverged, failed or are unfinished (counted, not averaged).

            --success 'test_accuracy>=0.85' (operators >=, >, <=, <, ==) adds the rate of members that \
            meet it, with its Wilson 95% interval (Madsen & Johansen 2019); diverged members count as \
            trials that failed.

            Text tables show accuracies in percent; csv and json hold the raw values.

            Examples:
              zoo summary --store z.sqlite
              zoo summary --store z.sqlite --metric test_accuracy --metric train_loss
              zoo summary --store z.sqlite --by label --success 'test_accuracy>=0.79'
              zoo summary --store z.sqlite --by lr --sort keys --metric distance_from_init
              zoo summary --store z.sqlite --epoch best --format csv
            """)

    @OptionGroup var storeOption: StoreOption
    @Option(help: ArgumentHelp("Group by this config key, or by label (repeatable; default: the varied keys but seed).", valueName: "key"))
    var by: [String] = []
    @Option(help: ArgumentHelp("Each member's epoch to read: final, best (where the first --metric peaks) or a number.", valueName: "final|best|N"))
    var epoch: String = "final"
    @Option(help: ArgumentHelp("A metric or measure to summarize (repeatable; default: test_accuracy). A pairwise measure (linear_interpolation, cka, …) counts once per pair, under its first run.", valueName: "name"))
    var metric: [String] = []
    @Option(help: ArgumentHelp("A success criterion, NAME OP NUMBER with OP one of >=, >, <=, <, ==.", valueName: "expr"))
    var success: String?
    @Option(name: .customLong("where"), help: ArgumentHelp("Only runs whose config key (or label) has this value (repeatable).", valueName: "key=value"))
    var filters: [String] = []
    @Option(help: "Output format.") var format: SummaryFormat = .table
    @Option(help: "Order groups by the first metric's mean, best first (value), or by the --by keys' values (keys).") var sort: ZooSummary.Order = .value

    func run() throws {
        guard let epoch = SummaryEpoch(self.epoch) else {
            throw ValidationError("--epoch takes final, best or an epoch number ≥ 0, got '\(self.epoch)'")
        }
        let criterion: SuccessCriterion?
        do { criterion = try success.map(SuccessCriterion.init(parsing:)) } catch { throw ValidationError("\(error)") }
        let conditions = try conditions(filters)
        let rows = try RunRows(store: try storeOption.open(reading: true), where: conditions, measures: true, pairMeasures: true)
        guard !rows.runs.isEmpty else {
            if conditions.isEmpty { throw RuntimeError("\(storeOption.name) holds no runs; help: train some with `zoo sweep run SPEC --store \(storeOption.name)`") }
            throw ValidationError("no run of \(storeOption.name) matches the --where conditions")
        }
        let summary: ZooSummary
        do {
            summary = try ZooSummary(rows: rows, options: .init(by: by.isEmpty ? nil : by, epoch: epoch, columns: metric,
                                                                success: criterion, order: sort))
        } catch { throw ValidationError("\(error)") }
        print(Reports.summary(summary, format: format), terminator: "")
    }
}
