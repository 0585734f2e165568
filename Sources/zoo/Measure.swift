import ArgumentParser
@preconcurrency import Foundation
import ZooAnalysis
import ZooLab
import ZooMeasures
import ZooReport
import ZooStore
import ZooTensor

/// `zoo measure`: compute measures of a store's checkpoints, list them, rank them.
struct MeasureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Compute measures of the checkpoints in a store (norms, margins, flatness, dynamics, representations), list them, rank them.",
        discussion: """
            `zoo measure --store S --all` computes every measure of every run's final checkpoint and
            stores the values (table `measures`); `zoo measure list` says what each one is;
            `zoo measure rank` gives Kendall's τ of each with the generalization gap (`zoo analyze`
            adds Ψ, CMI and intervals).
            """,
        subcommands: [Compute.self, List.self, Rank.self],
        defaultSubcommand: Compute.self)

    struct Compute: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "compute",
            abstract: "Compute measures of checkpoints and store them (the default subcommand).",
            discussion: """
                Every chosen (run, checkpoint, measure) not yet stored at the measure's version and
                settings is computed and stored; the rest is skipped, so the command resumes where
                it stopped. Work is claimed in the store batch by batch: several processes may share
                one store, and after SIGKILL the same command loses only the batch in flight. A
                batch is one measure over up to --batch checkpoints of one model and data set,
                evaluated as one stacked population. Measures are evaluated in evaluation mode on a
                fixed sample of each run's training set (--samples, drawn with --seed).

                Examples:
                  zoo measure --store runs/zoo.sqlite --all
                  zoo measure --store runs/zoo.sqlite --measure margin --measure pacbayes_mag_flatness --epoch all
                  zoo measure --store runs/zoo.sqlite --measure hessian_trace --set hessian_trace.draws=100
                """)
        @OptionGroup var storeOption: StoreOption
        @Option(help: ArgumentHelp("A measure to compute (repeatable); see `zoo measure list`.", valueName: "name")) var measure: [String] = []
        @Flag(help: "Compute every measure of one run (pairwise measures only with --pairs).") var all = false
        @Flag(help: "Also compute the pairwise measures: CKA, disagreement and weight distance of every two runs of one model and data set; linear and curve mode connectivity of every two runs that differ only in their seed (the curve trains 300 steps per pair).") var pairs = false
        @Flag(help: "Pair only runs that differ in their seed alone, for every pairwise measure (CKA or disagreement between seeds of one config).")
        var seedPairs = false
        @Option(help: "Which checkpoints: final, all, or an epoch number.") var epoch: String = "final"
        @Option(name: .customLong("where"), help: ArgumentHelp("Only runs whose config key has this value (repeatable).", valueName: "key=value"))
        var filters: [String] = []
        @Option(parsing: .unconditional, help: "Training examples the measures evaluate on (all when the training set is smaller).") var samples: Int = MeasureSettings.defaultSampleSize
        @Option(parsing: .unconditional, help: "Seed of the sample and of every random draw.") var seed: UInt64 = 0
        @Option(help: ArgumentHelp("A measure's setting (repeatable), e.g. pacbayes_flatness.draws=20; `zoo measure list --settings` shows them.",
                                   valueName: "measure.key=value")) var set: [String] = []
        @Option(parsing: .unconditional, help: "Checkpoints measured together as one stacked population.") var batch: Int = 16
        @Option(parsing: .unconditional, help: "Compute threads.") var threads: Int = 2
        @Option(name: .customLong("data-dir"), help: "Folder holding Fashion-MNIST.") var dataDirectory: String?
        @Flag(help: "Print nothing but the summary (the same as --progress quiet).") var quiet = false
        @Option(help: ProgressMode.help) var progress: ProgressMode = .auto

        func validate() throws {
            guard all || pairs || !measure.isEmpty else { throw ValidationError("name measures with --measure NAME, or use --all; `zoo measure list` lists them") }
            guard CheckpointChoice(epoch) != nil else { throw ValidationError("--epoch takes final, all or an epoch number, got '\(epoch)'") }
            guard (1...10_000_000).contains(samples) else { throw ValidationError("--samples must be in 1...10000000, got \(samples)") }
            guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096, got \(batch)") }
            guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256, got \(threads)") }
            for name in measure where !MeasureCatalog.names.contains(name) {
                throw ValidationError("unknown measure '\(name)'; valid: \(MeasureCatalog.names.joined(separator: ", "))")
            }
            _ = try overrides()
        }

        /// `--set measure.key=value` by measure.
        func overrides() throws -> [String: [String: Double]] {
            var out: [String: [String: Double]] = [:]
            for (name, text) in try parsePairs(set, option: "--set") {
                guard let dot = name.firstIndex(of: "."), dot != name.startIndex else {
                    throw ValidationError("--set takes measure.key=value, got '\(name)=\(text)'")
                }
                guard let value = Double(text), value.isFinite else { throw ValidationError("--set \(name): '\(text)' is not a number") }
                out[String(name[..<dot]), default: [:]][String(name[name.index(after: dot)...])] = value
            }
            return out
        }

        func run() throws {
            BLAS.setThreadCount(threads)
            let data = DataCache(dataDirectory: dataDirectory.map { URL(fileURLWithPath: $0) })
            let store = try storeOption.open(data: data)
            let chosen = all ? MeasureCatalog.measures : MeasureCatalog.measures.filter { measure.contains($0.name) }
            let chosenPairs = pairs ? MeasureCatalog.pairMeasures : MeasureCatalog.pairMeasures.filter { measure.contains($0.name) }
            let rows = try RunRows(store: store, status: [.done, .diverged, .running, .pending], where: try conditions(filters))
            let runner: MeasureRunner
            do {
                runner = try MeasureRunner(store: store, data: data, measures: chosen, pairMeasures: chosenPairs,
                                           settings: MeasureSettings(sampleSize: samples, seed: seed), overrides: try overrides(), batchSize: batch,
                                           seedPairsOnly: seedPairs)
            } catch let e as MeasureError { throw ValidationError(e.description) }
            let stop = StopRequest(what: "after the batch in flight") { runner.requestStop() }
            print("measuring \(rows.runs.count) run(s), \(chosen.count + chosenPairs.count) measure(s), checkpoints: \(epoch), store \(storeOption.name)")
            let mode = progress.resolved(quiet: quiet)
            let display = mode == .live ? LiveDisplay() : nil
            var current = ""
            let outcome = try runner.run(runs: rows.runs, choice: CheckpointChoice(epoch)!) { p in
                switch (mode, p.event) {
                case (.quiet, _), (.auto, _): return
                case (.plain, .started): return
                case (.plain, _): print(p.message)
                case (.live, _):
                    if case .failed = p.event { display?.log(p.message) }
                    if case let .started(measure, count) = p.event { current = "now \(measure) × \(count)" }
                    display?.update([String(format: "measures %@ %d/%d · %@ elapsed · ETA %@  %@", LiveDisplay.bar(Double(p.finished) / Double(max(1, p.total))),
                                            p.finished, p.total, formatDuration(p.seconds), p.secondsLeft.map(formatDuration) ?? "?", current)], force: true)
                }
            }
            display?.finish()
            print(String(format: "computed %d measure(s) in %@ (%d failed, %d already stored or taken by another process)",
                         outcome.computed, formatDuration(outcome.seconds), outcome.failed, outcome.skipped))
            if outcome.interrupted {
                print("interrupted: run the same command to continue")
                throw ExitCode(stop.exitCode)
            }
            if outcome.failed > 0 { throw ExitCode(3) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the measures, one line each with the paper it comes from.")
        @Flag(help: "Also list each measure's settings and their defaults.") var settings = false

        func run() throws {
            var rows: [[String]] = []
            for family in MeasureFamily.allCases {
                for m in MeasureCatalog.measures where m.family == family { rows.append(row(m.name, family.rawValue, m.summary, m.defaults)) }
                if family == .pairwise { for m in MeasureCatalog.pairMeasures { rows.append(row(m.name, family.rawValue, m.summary, m.defaults)) } }
            }
            print(Table(headers: settings ? ["measure", "family", "what it is", "settings"] : ["measure", "family", "what it is"], rows: rows).render())
        }

        private func row(_ name: String, _ family: String, _ summary: String, _ defaults: [String: Double]) -> [String] {
            let base = [name, family, summary]
            guard settings else { return base }
            return base + [defaults.sorted { $0.key < $1.key }.map { "\($0.key)=\(ConfigNumber.text($0.value))" }.joined(separator: " ")]
        }
    }

    struct Rank: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rank",
            abstract: "Kendall's τ of each stored measure with the generalization gap (or another target), over the runs measured.",
            discussion: """
                As Jiang et al. (2019) rank measures: τ between a measure at each run's checkpoint
                and the target at the same epoch. gap is test error minus train error, from the
                full-pass train metrics (train with train_metrics: full). `zoo analyze` gives the
                same τ with the granulated coefficient Ψ, the conditional mutual information and
                bootstrap intervals.
                """)
        enum TargetChoice: String, ExpressibleByArgument, CaseIterable { case gap, testError = "test-error", lossGap = "loss-gap" }
        @OptionGroup var storeOption: StoreOption
        @Option(help: "What the measures are ranked against.") var target: TargetChoice = .gap
        @Option(name: .customLong("where"), help: ArgumentHelp("Only runs whose config key has this value (repeatable).", valueName: "key=value"))
        var filters: [String] = []
        @Option(help: "Output format.") var format: Format = .table
        enum Format: String, ExpressibleByArgument, CaseIterable { case table, csv }

        func run() throws {
            let store = try storeOption.open(reading: true)
            let rows = try RunRows(store: store, where: try conditions(filters))
            let ids = rows.runs.map(\.id)
            let ranking = MeasureRanking(measures: ids.isEmpty ? [] : try store.measures(runs: ids), metrics: rows.metrics,
                                         target: MeasureRanking.Target(rawValue: target.rawValue)!)
            let cells = ranking.rows.map { [$0.measure, $0.tau.isNaN ? "-" : String(format: "%+.3f", $0.tau), String($0.count)] }
            switch format {
            case .table:
                print("Kendall's τ with \(target.rawValue) over \(ids.count) run(s), by decreasing τ:")
                print(Table(headers: ["measure", "τ", "runs"], rows: cells).render())
            case .csv:
                print("measure,tau,runs")
                for c in cells { print(c.joined(separator: ",")) }
            }
        }
    }
}

/// Numbers as config files write them: integers without a fraction.
enum ConfigNumber {
    static func text(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }
}
