import ArgumentParser
import Foundation
import ZooLab
import ZooStore

/// `zoo submit`: a spec's runs into a store's queue, for workers to train.
struct Submit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plan a spec and put its runs in a store's queue, for `zoo worker` processes to train.",
        discussion: """
            Idempotent: runs already in the store (pending, training or done) are left as they \
            are, so submitting a spec again adds only what is new. Nothing trains here: start \
            workers on any machine that reaches the store (`zoo worker`, or the job scripts of \
            `zoo deploy`), and watch them with `zoo status`. With an SQLite store the workers \
            must share its folder; with PostgreSQL they may run anywhere (docs/cluster.md).

            Example: zoo submit examples/quickstart.yaml --store postgres://zoo@db.example.org/zoo?checkpoints=/shared/zoo
            """)
    @Argument(help: "The spec file (YAML).") var spec: String
    @OptionGroup var storeOption: StoreOption
    @Option(name: .customLong("max-runs"), help: "Refuse specs that expand to more runs than this.") var maxRuns: Int = SpecLimits.maximumRuns
    @Flag(name: .customLong("retry-failed"), help: "Put failed runs back in the queue too.") var retryFailed = false
    @Option(name: .customLong("data-dir"), help: "Folder holding Fashion-MNIST (for the plan's checks).") var dataDirectory: String?
    @Option(name: .customLong("max-attempts"),
            help: "A run fails after this many attempts whose worker died (its lease ran out), a store-wide setting (default 3).")
    var maxAttempts: Int?

    func validate() throws {
        if let maxAttempts, !(1...1000).contains(maxAttempts) { throw ValidationError("--max-attempts must be in 1...1000, got \(maxAttempts)") }
    }

    func run() throws {
        let data = DataCache(dataDirectory: dataDirectory.map { URL(fileURLWithPath: $0) })
        let plan = try loadPlan(spec, data: data, maxRuns: maxRuns)
        let store = try storeOption.open(data: data)
        if let maxAttempts { try store.setMetadata(QueuePolicy.maxLostAttemptsKey, String(maxAttempts)) }
        let added = try plan.enqueue(into: store)
        let retried = retryFailed ? try store.retryFailed() : 0
        let rows = try store.runs(ids: plan.runs.map(\.id))
        let by = Dictionary(grouping: rows, by: \.status).mapValues(\.count)
        print("\(plan.spec.name): \(plan.runs.count) runs, \(added.count) new" + (retried > 0 ? ", \(retried) failed run(s) back in the queue" : "")
              + "; " + RunStatus.allCases.map { "\(by[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ") + " in \(storeOption.name)")
        if (by[.pending] ?? 0) + (by[.running] ?? 0) > 0 {
            print("train them with: zoo worker --store \(storeOption.name)   (on each machine; watch with zoo status)")
        }
    }
}

/// `zoo worker`: trains runs from a store's queue until it is empty.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Train runs from a store's queue until it is empty: the process Slurm or Kubernetes starts on each machine.",
        discussion: """
            Stateless: everything it needs is in the store. Each worker thread claims a batch of \
            compatible runs (one query; no run is claimed twice), trains them as one population, \
            renews their lease every quarter of it, and records metrics and checkpoints every \
            epoch. A worker that dies loses its runs' current epochs only: their leases run out \
            and another worker resumes them from their last checkpoints. SIGTERM (what Slurm and \
            Kubernetes send first) checkpoints the running members, releases their runs at once \
            and exits with 143. While the server is unreachable, the worker waits and retries \
            (ten minutes at most per operation), saying so on standard error.

            It stops when no run is pending or running, after --max-runs runs, or after \
            --idle-exit seconds without anything to claim (while other workers still train, it \
            waits to take over runs whose worker died). Exit status: 0, 3 when a run it trained \
            failed or diverged, 143 after SIGTERM, 130 after SIGINT.

            Example: zoo worker --store postgres://zoo@db.example.org/zoo --threads 2 --idle-exit 300
            """)
    @OptionGroup var storeOption: StoreOption
    @Option(help: "Worker threads, each training one population with single-threaded kernels (2 on a 2-core machine).") var threads: Int = 2
    @Option(help: "The most runs one thread trains as one population.") var population: Int = 32
    @Option(name: .customLong("max-runs"), help: "Claim at most this many runs in all, then exit when they are done.") var maxRuns: Int?
    @Option(name: .customLong("idle-exit"), help: "Exit after this many seconds without a run to claim, even while others still train.") var idleExit: Double?
    @Option(help: "Seconds a claim lasts without renewal: a dead worker's runs return to the queue after this long.") var lease: Double = 120
    @Option(help: ArgumentHelp("The host name its claims record (default: this machine's).",
                               discussion: "Workers that share a host name take over each other's runs at once when the process is gone; give containers whose host names are not unique a name of their own."))
    var host: String?
    @Option(name: .customLong("data-dir"), help: "Folder holding Fashion-MNIST.") var dataDirectory: String?
    @Flag(help: "Print nothing but the summary.") var quiet = false

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be in 1...64, got \(threads)") }
        guard (1...4096).contains(population) else { throw ValidationError("--population must be in 1...4096, got \(population)") }
        if let maxRuns, maxRuns < 1 { throw ValidationError("--max-runs must be at least 1, got \(maxRuns)") }
        if let idleExit, !(idleExit >= 0) { throw ValidationError("--idle-exit must be 0 or more seconds, got \(idleExit)") }
        if let host, host.isEmpty || host.contains(":") { throw ValidationError("--host must be a name without ':', got '\(host)'") }
        guard lease >= 2, lease <= 86_400 else { throw ValidationError("--lease must be in 2...86400 seconds, got \(lease)") }
    }

    func run() throws {
        let data = DataCache(dataDirectory: dataDirectory.map { URL(fileURLWithPath: $0) })
        let store = try storeOption.open(data: data)
        let queue = try store.queueCounts(sweep: nil)
        let host = self.host ?? ProcessInfo.processInfo.hostName, pid = ProcessInfo.processInfo.processIdentifier
        print("worker \(host):\(pid): \(queue.open) run(s) pending or running in \(storeOption.name); \(threads) thread(s)")
        let runner = SweepRunner(store: store, data: data, workers: threads, populationSize: population, lease: lease,
                                 provenance: ZooVersion.provenance(threads: 1),
                                 whenIdle: .waitForQueue(limit: idleExit ?? .infinity, poll: min(5, lease / 4)),
                                 maxRuns: maxRuns, kernelThreads: 1, host: host)
        let stop = StopRequest(what: "checkpointing running members at their last finished epoch and releasing their runs") { runner.requestStop() }
        let quiet = self.quiet
        // Progress counts the store's finished runs (any worker's) out of all that are or were queued.
        let outcome = runner.run(total: queue.open + queue[.done] + queue[.diverged]) { p in
            guard !quiet, let line = p.message else { return }
            print(String(format: "[%d member-epochs · %.2f/s · %@] %@", p.memberEpochs, p.memberEpochsPerSecond, formatDuration(p.seconds), line))
        }
        print(String(format: "worker %@:%d: trained %d member-epochs in %@; %d run(s) finished, %d failed",
                     host, pid, outcome.memberEpochs, formatDuration(outcome.seconds), outcome.finished, outcome.failed))
        if outcome.interrupted {
            print("interrupted: running members were checkpointed at their last finished epoch and their runs released")
            throw ExitCode(stop.exitCode)
        }
        if outcome.failed > 0 { throw ExitCode(3) }
    }
}

/// `zoo store`: whole-store operations.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Whole-store operations: copy a zoo between stores.",
        subcommands: [Copy.self])

    struct Copy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a zoo from one store to another: runs, metrics, predictions, checkpoints (verified by SHA-256), measures, sweeps, labels.",
            discussion: """
                Either store may be an SQLite file or a postgres:// URL: PostgreSQL to a file for \
                analysis on a laptop, and back. Idempotent: runs the target already holds as far \
                along are left alone, so copying again writes nothing; a run further along in the \
                source replaces the target's. Each checkpoint file is checked against its SHA-256 \
                before and after copying; one that fails is named and not copied (exit status 1), \
                the rest is.

                Example: zoo store copy postgres://zoo@db.example.org/zoo runs/zoo.sqlite
                """)
        @Argument(help: "The store to copy from (a path or a postgres:// URL).") var from: String
        @Argument(help: "The store to copy into (created when missing).") var to: String

        func run() throws {
            let source = try StoreOption.open(from, reading: true), target = try StoreOption.open(to)
            let (fromName, toName) = (StoreOption.name(of: from), StoreOption.name(of: to))
            print("copying \(fromName) → \(toName)")
            let outcome = try StoreCopy.copy(from: source, to: target) { print("  " + $0) }
            print("copied \(outcome.runs) run(s), \(outcome.metrics) epoch(s) of metrics, \(outcome.checkpoints) checkpoint(s) "
                  + "(\(outcome.bytes / 1024) KiB), \(outcome.attempts) attempt(s), \(outcome.measures) measure task(s); \(outcome.sweeps) sweep(s)")
            guard outcome.problems.isEmpty else {
                for p in outcome.problems { FileHandle.standardError.write(Data(("zoo: " + p + "\n").utf8)) }
                throw RuntimeError("\(outcome.problems.count) checkpoint(s) of \(fromName) could not be copied (above); everything else was")
            }
        }
    }
}
