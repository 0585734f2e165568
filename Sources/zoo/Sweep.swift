import ArgumentParser
import Dispatch
import Foundation
import Synchronization
import ZooLab
import ZooPostgres
import ZooReport
import ZooStore

#if canImport(Glibc)
import Glibc
#endif

/// The stores this process opened for writing: when it exits, each one's write-ahead log is
/// checkpointed into its database file (``SQLiteStore/checkpointLog()``), so a store copied
/// afterwards as one file is complete. A signal handler or worker thread may still hold a
/// store at exit, so this cannot wait for the last reference to go.
enum OpenStores {
    private static let stores = Mutex<[SQLiteStore]>([])

    static func register(_ store: SQLiteStore) {
        let first = stores.withLock { list in
            list.append(store)
            return list.count == 1
        }
        if first { atexit { OpenStores.checkpointAll() } }
    }

    static func checkpointAll() {
        for store in stores.withLock({ $0 }) { store.checkpointLog() }
    }
}

/// Where the store lives: an SQLite file, or a PostgreSQL database named by a URL.
struct StoreOption: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The store: an SQLite file (checkpoints go to STORE.checkpoints/ beside it), or a PostgreSQL URL (docs/cluster.md). Default: $ZOO_STORE, else runs/zoo.sqlite.",
        discussion: "postgres://USER@HOST[:PORT]/DATABASE[?sslmode=prefer&checkpoints=/shared/folder]; the password from the URL, PGPASSWORD or ~/.pgpass, never printed.",
        valueName: "path-or-url"))
    var store: String?

    /// What `--store` names, or `$ZOO_STORE`, or the default file.
    var location: String { store ?? ProcessInfo.processInfo.environment["ZOO_STORE"] ?? "runs/zoo.sqlite" }

    var isPostgres: Bool { PostgresLocation.isURL(location) }

    /// The store as messages name it: the path, or the URL without its password.
    var name: String { Self.name(of: location) }

    /// Whether the store is there to read (a PostgreSQL store is created where it is opened).
    var exists: Bool { isPostgres || FileManager.default.fileExists(atPath: location) }

    /// Opens the store and brings its run ids to this Zoo's identity rule (``IdentityMigration``).
    /// - Parameter reading: for commands that only read: the store must exist (a mistyped path
    ///   is an error, not a new empty store), one that cannot be written is opened read-only, and
    ///   an unreachable PostgreSQL server is an error at once (writers wait for it, ten minutes).
    func open(data: DataCache = DataCache(), reading: Bool = false) throws -> any RunStore {
        try Self.open(location, data: data, reading: reading)
    }

    /// `location` as messages name it: the path, or the URL without its password.
    static func name(of location: String) -> String {
        guard PostgresLocation.isURL(location) else { return location }
        return (try? PostgresLocation(parsing: location).description) ?? PostgresLocation.redact(location)
    }

    /// Opens the store at `location` (a path or a postgres:// URL); see ``open(data:reading:)``.
    static func open(_ location: String, data: DataCache = DataCache(), reading: Bool = false) throws -> any RunStore {
        let name = Self.name(of: location)
        do {
            if PostgresLocation.isURL(location) {
                let opened = try PostgresStore(location: PostgresLocation(parsing: location), retryWindow: reading ? 0 : 600)
                let renamed = try IdentityMigration.migrate(opened, data: data)
                if renamed > 0 { FileHandle.standardError.write("\(name): \(renamed) run id(s) renamed to this Zoo's identity rule\n".data(using: .utf8)!) }
                return opened
            }
            let url = URL(fileURLWithPath: location)
            if reading {
                guard FileManager.default.fileExists(atPath: url.path) else {
                    throw StoreError(description: "\(location): no store here; help: check the path (stores are created by `zoo sweep run SPEC --store \(location)`)")
                }
                let folder = url.deletingLastPathComponent().path
                if !FileManager.default.isWritableFile(atPath: url.path) || !FileManager.default.isWritableFile(atPath: folder) {
                    let opened = try SQLiteStore(path: url, readOnly: true)
                    if try opened.metadata(IdentityMigration.metadataKey) != String(ConfigSchema.version) {
                        FileHandle.standardError.write("\(location): read-only, so its run ids keep an older identity rule here\n".data(using: .utf8)!)
                    }
                    return opened
                }
            }
            let opened = try SQLiteStore(path: url)
            OpenStores.register(opened)
            let renamed = try IdentityMigration.migrate(opened, data: data)
            if renamed > 0 { FileHandle.standardError.write("\(location): \(renamed) run id(s) renamed to this Zoo's identity rule\n".data(using: .utf8)!) }
            return opened
        } catch { throw RuntimeError("\(error)") }
    }
}

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plan and run sweeps: a base config and axes to vary, one run per config.",
        discussion: """
            A spec is YAML with a base config and grid, zip and random axes over any config key
            (see `zoo sweep keys`). Each run is named by the SHA-256 of its canonical config, so a
            config is never trained twice: running a spec again trains only what is missing. A
            `label:` in a grid, a zip group or the random section names the runs it makes (for
            `zoo summary`, `zoo ls`, --where label=…) without changing their identity. A
            `branches:` section adds runs that start from other runs' checkpoints: stages with a
            name, `from` (trunk or an earlier stage), `set` keys (prune_fraction, rewind, branch_at,
            reinit, …), optional `levels` (a chain), `grid` and `siblings` (see README, "branches").
            """,
        subcommands: [Plan.self, Run.self, Keys.self])

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the runs a spec expands to, without training.")
        @Argument(help: "The spec file (YAML).") var spec: String
        @Option(help: "Workers assumed for the time estimate.") var workers: Int = 2
        @Option(name: .customLong("max-runs"), help: "Refuse specs that expand to more runs than this.") var maxRuns: Int = SpecLimits.maximumRuns
        @Option(name: .customLong("data-dir"), help: "Folder holding Fashion-MNIST.") var dataDirectory: String?
        @OptionGroup var storeOption: StoreOption

        func run() throws {
            let data = DataCache(dataDirectory: dataDirectory.map { URL(fileURLWithPath: $0) })
            let plan = try loadPlan(spec, data: data, maxRuns: maxRuns)
            let existing = storeOption.exists
                ? Set(try storeOption.open(data: data, reading: true).runs(ids: plan.runs.map(\.id)).filter { $0.status == .done || $0.status == .diverged }.map(\.id)) : []
            let labeled = plan.runs.contains { $0.label != nil }
            let table = Table(headers: ["id", "group"] + (labeled ? ["label"] : []) + plan.variedKeys + ["stored"], rows: plan.runs.map { r in
                [String(r.id.prefix(12)), String(r.groupKey.prefix(6))] + (labeled ? [r.label ?? "-"] : [])
                    + plan.variedKeys.map { r.config[$0]?.description ?? "" } + [existing.contains(r.id) ? "done" : ""]
            })
            print(table.render())
            let groups = Set(plan.runs.map(\.groupKey)).count
            print("\n\(plan.spec.name): \(plan.runs.count) runs in \(groups) group(s)"
                  + (plan.duplicates > 0 ? ", \(plan.duplicates) duplicate config(s) merged" : "")
                  + (existing.isEmpty ? "" : ", \(existing.count) already done in \(storeOption.name)"))
            let todo = plan.runs.filter { !existing.contains($0.id) }
            var rest = plan
            rest.runs = todo
            print("estimated training time for the \(todo.count) remaining: \(formatDuration(rest.estimatedSeconds(workers: workers, data: data))) with \(workers) worker(s) (rough)")
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train every pending run of a spec into the store.",
            discussion: """
                Compatible runs (same architecture, data and batch size) are claimed together; each
                run's metrics are stored every epoch and its checkpoints as the spec says. SIGINT or
                SIGTERM checkpoints the running members at their last finished epoch, releases their
                claims and exits; after SIGKILL, the same command continues from the last checkpoints.
                Several processes may share a store. A branch (the spec's `branches:`) trains once
                its parent is done: workers with nothing else to do wait for it.
                """)
        @Argument(help: "The spec file (YAML).") var spec: String
        @OptionGroup var storeOption: StoreOption
        @Option(help: "Worker threads; each trains a population of compatible runs in one pass (or one run at a time when they do not stack).") var workers: Int = 2
        @Option(help: "The most runs one worker trains as one population.") var population: Int = 32
        @Option(name: .customLong("max-runs"), help: "Refuse specs that expand to more runs than this.") var maxRuns: Int = SpecLimits.maximumRuns
        @Flag(name: .customLong("retry-failed"), help: "Put failed runs back in the queue first.") var retryFailed = false
        @Option(name: .customLong("data-dir"), help: "Folder holding Fashion-MNIST.") var dataDirectory: String?
        @Flag(help: "Print nothing but the summary (the same as --progress quiet).") var quiet = false
        @Option(help: ProgressMode.help) var progress: ProgressMode = .auto

        func validate() throws {
            // Each worker is a thread with its own stack and population: a few per core is plenty.
            guard (1...64).contains(workers) else { throw ValidationError("--workers must be in 1...64, got \(workers)") }
            guard (1...4096).contains(population) else { throw ValidationError("--population must be in 1...4096, got \(population)") }
        }

        func run() throws {
            let data = DataCache(dataDirectory: dataDirectory.map { URL(fileURLWithPath: $0) })
            let plan = try loadPlan(spec, data: data, maxRuns: maxRuns)
            let store = try storeOption.open(data: data)
            let added = try plan.enqueue(into: store)
            if retryFailed { try store.retryFailed() }
            let ids = plan.runs.map(\.id)
            let before = try store.runs(ids: ids)
            let pending = before.filter { $0.status == .pending || $0.status == .running }
            let done = before.filter { $0.status == .done || $0.status == .diverged }.count
            print("\(plan.spec.name): \(plan.runs.count) runs, \(done) already done, \(added.count) new, \(pending.count) to train, store \(storeOption.name)")
            var failedNow = 0
            if pending.isEmpty {
                print("nothing to train: every run of this spec is in the store" + (before.contains { $0.status == .failed } ? " (failed runs: use --retry-failed)" : ""))
            } else {
                let runner = SweepRunner(store: store, data: data, workers: workers, populationSize: population, sweep: plan.sweepID,
                                         provenance: ZooVersion.provenance(threads: workers == 1 ? 2 : 1))
                let stop = StopRequest(what: "checkpointing running members at their last finished epoch") { runner.requestStop() }
                let total = plan.runs.count
                let mode = progress.resolved(quiet: quiet)
                // Each pending run weighs its estimated cost, so the time left follows the work left.
                let costs = mode == .quiet ? [:] : plan.estimatedRunCosts(workers: workers, data: data)
                let epochsOf = Dictionary(uniqueKeysWithValues: plan.runs.map { ($0.id, $0.config["epochs"]?.intValue ?? 1) })
                let tracker = Mutex(SweepTracker(pending: pending.map {
                    let cost = costs[$0.id]
                    return SweepTracker.Pending(run: $0.id, epochsDone: $0.epochsDone, epochs: epochsOf[$0.id] ?? 1,
                                                cost: cost.map { $0.train + $0.evaluate } ?? .nan,
                                                trainingShare: cost.map { $0.train / ($0.train + $0.evaluate) } ?? 1)
                }))
                let display = mode == .live ? LiveDisplay() : nil
                let outcome = runner.run(total: total) { p in
                    guard mode != .quiet else { return }
                    let (status, eta) = tracker.withLock { t -> ([String], String) in
                        t.update(p)
                        let eta = t.secondsLeft(elapsed: p.seconds).map(formatDuration) ?? "?"
                        return (display == nil ? [] : Self.statusLines(t, p, eta: eta), eta)
                    }
                    if let display {
                        if let line = p.message, Self.logsLive(p.event) { display.log(line) }
                        display.update(status)
                    } else if let line = p.message {
                        print(String(format: "[%d/%d runs · %d member-epochs · %.2f/s · %@ · ETA %@] %@", p.runsDone, p.runsTotal,
                                     p.memberEpochs, p.memberEpochsPerSecond, formatDuration(p.seconds), eta, line))
                    }
                }
                display?.finish()
                print(String(format: "trained %d member-epochs in %@ (%.1f member-epochs/min); %d run(s) finished, %d failed",
                             outcome.memberEpochs, formatDuration(outcome.seconds), Double(outcome.memberEpochs) / max(outcome.seconds, 1e-9) * 60,
                             outcome.finished, outcome.failed))
                let workerSeconds = outcome.seconds * Double(workers)
                print("time of \(workers) worker(s): " + outcome.timing.fractions(of: workerSeconds).map {
                    String(format: "%@ %.0f%% (%.3g s)", $0.name, 100 * $0.fraction, $0.seconds)
                }.joined(separator: ", "))
                failedNow = outcome.failed
                if outcome.interrupted {
                    print("interrupted: running members were checkpointed at their last finished epoch and released; run the same command to continue")
                    throw ExitCode(stop.exitCode)
                }
            }
            let rows = try RunRows(store: store, sweep: plan.sweepID)
            var summary = Reports.summaryBySeed(rows)
            // A key that does not apply to a config (momentum under adam) has no value: show "-",
            // which also keeps the columns aligned when the first cells of a row would be empty.
            summary.rows = summary.rows.map { $0.map { $0.isEmpty ? "-" : $0 } }
            print("\n" + summary.render())
            let outcomes = Dictionary(grouping: try store.runs(ids: ids).compactMap(\.outcome)) { $0 }.mapValues(\.count)
            if let reached = outcomes["reached-criterion"], let missed = Optional(outcomes["criterion-not-reached"] ?? 0) {
                print("\(reached) run(s) reached stop_at_train_loss, \(missed) did not within their epochs")
            } else if let missed = outcomes["criterion-not-reached"] {
                print("no run reached stop_at_train_loss; \(missed) ran out of epochs")
            }
            if try failedNow > 0 || store.runs(ids: ids).contains(where: { $0.status == .failed || $0.status == .diverged }) {
                print("\nsome runs diverged or failed: see `zoo ls --store \(storeOption.name) --status failed` (or diverged) and `zoo show RUN`")
                throw ExitCode(3)
            }
        }
    }
}

extension Sweep.Run {
    /// The live status: a line per worker (its population, epoch, steps, rate) and the totals
    /// (runs done, share of the work, elapsed, time left, best test accuracy so far).
    static func statusLines(_ t: SweepTracker, _ p: SweepProgress, eta: String) -> [String] {
        var lines = t.workers.keys.sorted().map { k -> String in
            let w = t.workers[k]!, s = w.step
            let members = s.runs.count == 1 ? "run \(s.runs[0].prefix(8))" : "\(s.runs.count) members"
            return String(format: "worker %d  %@  epoch %d/%d %@ %d/%d  %@ samples/s", k + 1, members, s.epoch, s.epochs,
                          LiveDisplay.bar(Double(s.stepsDone) / Double(max(1, s.stepsInEpoch))), s.stepsDone, s.stepsInEpoch,
                          w.samplesPerSecond > 0 ? LiveDisplay.compact(w.samplesPerSecond) : "-")
        }
        var total = String(format: "%d/%d runs done · %.0f%% of the work · %@ elapsed · ETA %@", p.runsDone, p.runsTotal,
                           t.fractionDone * 100, formatDuration(p.seconds), eta)
        if let b = t.best { total += String(format: " · best test acc %.2f%% (%@, epoch %d)", b.value * 100, String(b.run.prefix(8)), b.epoch) }
        lines.append(total)
        return lines
    }

    /// Whether an event is worth a log line above the live status (not every epoch or run done).
    static func logsLive(_ event: SweepEvent) -> Bool {
        switch event {
        case .message: true
        case let .finished(_, status, _): status != .done
        case .epoch, .step: false
        }
    }
}

extension Sweep {
    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the config keys a spec may set or vary.")
        func run() {
            for k in ConfigSchema.keys { print("  " + k.name.padding(toLength: 24, withPad: " ", startingAt: 0) + k.summary) }
            print("  model.<option>          a model option (see `zoo models`), e.g. model.activation, model.init, model.dropout")
            print("  data.<option>           a data option (see `zoo datasets`), e.g. data.subset, data.label-noise, data.crop")
            print("  label                   (grid, zip, random only) names the runs a section makes, not part of their identity:")
            print("                          a list of names in a zip group or random, or a template such as \"lr {lr}\" ({index}: position)")
            print("  branches                (a section) stages of runs started from other runs: name, from, set, levels, grid, siblings, label")
        }
    }
}

/// Reads and plans a spec, turning spec errors into a clean failure.
func loadPlan(_ path: String, data: DataCache, maxRuns: Int) throws -> SweepPlan {
    do {
        return try SweepPlan.make(try SweepSpec.load(URL(fileURLWithPath: path)), data: data, maxRuns: maxRuns)
    } catch let error as SpecError {
        throw RuntimeError(error.description)
    }
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t / 60 % 60) : t >= 60 ? String(format: "%dm%02ds", t / 60, t % 60) : "\(t)s"
}
