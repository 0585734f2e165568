import ArgumentParser
import Foundation
import ZooAnalysis
import ZooReport
import ZooStore

/// `zoo variability`: how individual test predictions vary across seeds (Zech, Forde & Littman 2019).
struct VariabilityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "variability",
        abstract: "How individual test predictions vary across seeds, and how ensembles reduce it (Zech, Forde & Littman 2019).",
        discussion: """
            Needs runs trained with `record_predictions: test`: each epoch's evaluation
            then stores every test example's predicted class and true-class
            probability (6 bytes an example). Only finished runs (status done) are
            compared, grouped by their whole config but seed, or by the --by keys.
            Per group:
              flip %        examples some members get right and others wrong
              pair flip %   over member pairs: examples exactly one gets right
              disagree %    over member pairs: examples given different classes
              entropy       mean entropy (bits) of an example's predicted class
              unanimous %   examples every member gives the same class
              prob CV       mean sd/mean of the true-class probability (the
                            paper's measure)
            and per ensemble size k = 1…K (plurality vote, ties to the larger summed
            confidence) the mean accuracy over k-subsets and the flip rate between
            two disjoint k-ensembles.

            Examples:
              zoo variability --store runs/seed-zoo.sqlite
              zoo variability --store runs/zoo.sqlite --by lr --epoch 3 --format csv
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, csv, json }

    @OptionGroup var storeOption: StoreOption
    @Option(help: ArgumentHelp("Group runs by this config key (repeatable); default: by the whole config but seed.", valueName: "key"))
    var by: [String] = []
    @Option(help: "The predictions compared: each run's final recorded epoch, or an epoch number.") var epoch: String = "final"
    @Option(name: .customLong("where"), help: ArgumentHelp("Only runs whose config key has this value (repeatable).", valueName: "key=value"))
    var filters: [String] = []
    @Option(help: "Output format.") var format: Format = .table
    @Option(parsing: .unconditional, help: "The most k-member subsets (and pairs of subsets) evaluated per k; more are sampled.") var samples: Int = 500
    @Option(parsing: .unconditional, help: "Seed of the sampled subsets.") var seed: UInt64 = 0
    @Option(name: .customLong("predictions-csv"),
            help: ArgumentHelp("Also write every compared example's prediction to this CSV file (run, epoch, example, label, predicted, p_true, p_predicted).",
                               valueName: "file"))
    var predictionsCSV: String?

    func validate() throws {
        guard Variability.EpochChoice(epoch) != nil else { throw ValidationError("--epoch takes final or an epoch number, got '\(epoch)'") }
        guard (1...1_000_000).contains(samples) else { throw ValidationError("--samples must be in 1...1000000, got \(samples)") }
    }

    func run() throws {
        let store = try storeOption.open(reading: true)
        let rows = try RunRows(store: store, status: [.done], where: try conditions(filters))
        let groups: [VariabilityGroup]
        do {
            groups = try Variability.study(store: store, runs: rows.runs.map { ($0.id, rows.configs[$0.id] ?? [:]) }, by: by,
                                           epoch: Variability.EpochChoice(epoch)!, samples: samples, seed: seed)
        } catch let e as VariabilityError {
            throw RuntimeError("\(storeOption.name): \(e.description)")
        } catch { throw RuntimeError("\(error)") }
        if let predictionsCSV {
            var records: [PredictionRecord] = []
            for g in groups { for (id, e) in zip(g.runs, g.epochs) { records += try store.predictions(runs: [id], epoch: e) } }
            try VariabilityReport.predictionsCSV(records).write(to: URL(fileURLWithPath: predictionsCSV), atomically: true, encoding: .utf8)
        }
        switch format {
        case .table:
            print(VariabilityReport.summary(groups).render())
            print("\nensembles of k members (flip %: one k-ensemble right and a disjoint one wrong):")
            print(VariabilityReport.curves(groups).render())
            for g in groups where !g.skipped.isEmpty {
                print("\n\(g.skipped.count) run(s) without predictions at that epoch left out: \(g.skipped.map { String($0.prefix(8)) }.joined(separator: ", "))")
            }
        case .csv: print(VariabilityReport.csv(groups), terminator: "")
        case .json: print(try VariabilityReport.json(groups))
        }
    }
}
