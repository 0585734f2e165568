import ArgumentParser
import Foundation
import ZooLab
import ZooReport
import ZooStore

extension RunStatus: ExpressibleByArgument {}

/// `--where key=value` conditions.
func conditions(_ pairs: [String]) throws -> [(String, String)] {
    try parsePairs(pairs, option: "--where").sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the runs of a store.",
        discussion: "Example: zoo ls --status done --where optimizer=adam --where model=zoo-cnn\nzoo ls --tree shows branches (pruning levels, rewinds, copies) under their parents.")
    @OptionGroup var storeOption: StoreOption
    @Option(help: "Only runs with this status (repeatable).") var status: [RunStatus] = []
    @Option(name: .customLong("where"), help: ArgumentHelp("Only runs whose config key has this value (repeatable).", valueName: "key=value"))
    var filters: [String] = []
    @Option(help: ArgumentHelp("Add a column with this measure (or measure.key) at the latest measured epoch (repeatable).", valueName: "name"))
    var measure: [String] = []
    @Flag(help: "Show runs as families: each branch (a spec's `branches:`) under the run it branches from, with what it did there.")
    var tree = false

    func run() throws {
        let rows = try RunRows(store: try storeOption.open(reading: true), status: status.isEmpty ? nil : status, where: try conditions(filters),
                               measures: !measure.isEmpty)
        if tree {
            print(Reports.runTree(rows))
            print("\(rows.runs.count) run(s)")
            return
        }
        if let missing = measure.first(where: { !rows.measureColumns.contains($0) }) {
            throw ValidationError("no measure '\(missing)' is stored for these runs; stored: \(rows.measureColumns.prefix(20).joined(separator: ", "))")
        }
        print(Reports.runList(rows, measures: measure).render())
        print("\(rows.runs.count) run(s)")
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one run: config, status, its attempts (who trained it, how each ended), metrics per epoch, checkpoints.")
    @Argument(help: "A run id or a unique prefix of one.") var id: String
    @OptionGroup var storeOption: StoreOption

    func run() throws {
        let store = try storeOption.open(reading: true)
        let r: RunRecord
        do { r = try store.run(matching: id) } catch { throw RuntimeError("\(error)") }
        print("run \(r.id)  status \(r.status.rawValue)" + (r.outcome.map { " (\($0))" } ?? "") + "  attempts \(r.attempts)  epochs \(r.epochsDone)"
              + (r.host.map { "  host \($0)" } ?? ""))
        if let e = r.error { print("error: \(e)") }
        print("\nconfig:")
        for (k, v) in RunRows.flatten(r.config).sorted(by: { $0.key < $1.key }) { print("  \(k) = \(v)") }
        print("\nprovenance:" + (r.provenance != nil ? "" : r.attempts == 0 ? " none yet (never claimed)" : " not recorded (claimed by an older Zoo)"))
        if let p = r.provenance {
            print("  zoo_version = \(p.zooVersion)" + (p.gitCommit.map { " (commit \($0))" } ?? ""))
            print("  kernels = \(p.kernels)")
            print("  threads = \(p.threads)")
            print("  cpu = \(p.cpu)")
            print("  cpu_flags = \(p.cpuFlags.joined(separator: " "))")
            print("  host = \(p.host)")
        }
        let attempts = try store.attempts(runs: [r.id])
        if !attempts.isEmpty {
            print("\nattempts:")
            for a in attempts {
                let took = a.endedAt.map { formatDuration($0 - a.startedAt) } ?? "running"
                print("  \(a.attempt): \(a.owner)  \(a.outcome ?? "running")  \(took)" + (a.error.map { "  \($0)" } ?? ""))
            }
        }
        let metrics = try store.metrics(runs: [r.id])
        if !metrics.isEmpty {
            let columns = MetricRecord.columns.filter { c in metrics.contains { $0.values[c] != nil } }
            print("\n" + Table(headers: ["epoch", "step"] + columns, rows: metrics.map { m in
                [String(m.epoch), String(m.step)] + columns.map { c in m.values[c].map { $0.isNaN ? "NaN" : String(format: "%.5g", $0) } ?? "" }
            }).render())
        }
        let checkpoints = try store.checkpoints(runs: [r.id])
        if !checkpoints.isEmpty {
            print("\ncheckpoints (\(store.checkpointFolder.map { "in \($0.path)" } ?? "in the database")):")
            for c in checkpoints { print("  epoch \(c.epoch): \(c.path)  \(c.bytes) bytes  sha256 \(c.sha256.prefix(16))…") }
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export metrics: one row per run and epoch, config keys as columns.",
        discussion: "Example: zoo export --format csv --output zoo.csv; then pandas.read_csv(\"zoo.csv\").")
    enum Format: String, ExpressibleByArgument, CaseIterable { case csv, jsonl }
    @OptionGroup var storeOption: StoreOption
    @Option(help: "Output format.") var format: Format = .csv
    @Option(help: "Write to this file instead of standard output.") var output: String?
    @Option(help: "Only runs with this status (repeatable).") var status: [RunStatus] = []
    @Option(name: .customLong("where"), help: ArgumentHelp("Only runs whose config key has this value (repeatable).", valueName: "key=value"))
    var filters: [String] = []
    @Flag(help: "Add a column per stored measure (measure or measure.key), its value at the row's epoch.") var measures = false

    func run() throws {
        let rows = try RunRows(store: try storeOption.open(reading: true), status: status.isEmpty ? nil : status, where: try conditions(filters),
                               measures: measures)
        let text = format == .csv ? Reports.csv(rows) : Reports.jsonl(rows)
        if let output { try text.write(to: URL(fileURLWithPath: output), atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
    }
}
