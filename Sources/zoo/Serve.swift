import ArgumentParser
import Dispatch
import Foundation
import ZooAnalysis
import ZooDashboard
import ZooLab
import ZooReport
import ZooStore

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a store as a local, read-only dashboard: the report's pages and the queue, live while a sweep runs.",
        discussion: """
            Pages: / (the queue, then the report of `zoo report`: summary, curves, measures, \
            predictor, variability) and /queue (the queue alone: runs by status, each worker's \
            runs and epochs, throughput, time left, stale leases). Each request reads the store \
            afresh, so the pages follow a sweep that other processes are running; while runs are \
            pending or running, the pages reload every --refresh seconds. Nothing is written \
            (a store of an older Zoo is migrated when opened, as by `zoo ls`). Every other path is a 404.

            Binds to 127.0.0.1 by default. Ctrl-C (SIGINT) or SIGTERM stops the server.

            Example: zoo serve --store runs/zoo.sqlite   (then open http://127.0.0.1:8421/)
            """)
    @OptionGroup var storeOption: StoreOption
    @Option(help: "The address to listen on (127.0.0.1: this machine only).") var host = "127.0.0.1"
    @Option(help: "The port (0: any free one; the line printed at start names it).") var port = 8421
    @Option(help: "Seconds between reloads while runs are in flight.") var refresh = 5
    @Option(name: .customLong("where"), help: ArgumentHelp("Only runs whose config key has this value (repeatable).", valueName: "key=value"))
    var filters: [String] = []
    @Option(help: ArgumentHelp("Group the report's curves by this config key (repeatable).", valueName: "key")) var by: [String] = []

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be in 0...65535, got \(port)") }
        guard (1...3600).contains(refresh) else { throw ValidationError("--refresh must be in 1...3600 seconds, got \(refresh)") }
        _ = try conditions(filters)
    }

    func run() throws {
        let path = storeOption.name
        // Opened as `zoo ls` opens a store: an older schema is migrated when the file is writable.
        let store = try storeOption.open(reading: true)
        let options = ReportOptions(storePath: path, conditions: try conditions(filters), by: by, outPath: "report")
        let refresh = self.refresh
        // The report (its predictor fit, variability study, τ tables) is rebuilt only when the
        // store's rows have changed since the last request, not on every reload.
        let cached = LockedBox<(key: String, report: HTMLReport)?>(nil)
        let pages = [
            DashboardPage(path: "/") {
                let queue = try Self.queueSection(store, name: path)
                let statuses = Dictionary(grouping: try store.runs(), by: \.status.rawValue).mapValues(\.count)
                let key = "\(try store.counts().sorted { $0.key < $1.key })|\(statuses.sorted { $0.key < $1.key })"
                var report: HTMLReport
                if let hit = cached.value, hit.key == key { report = hit.report } else {
                    report = try HTMLReport.make(store: store, options: options)
                    cached.value = (key, report)
                }
                report.title = "Zoo dashboard"
                report.sections.insert(queue.section, at: 0)
                report.refreshSeconds = queue.inFlight ? refresh : nil
                return report.html()
            },
            DashboardPage(path: "/queue") {
                let queue = try Self.queueSection(store, name: path)
                var page = HTMLReport(title: "Zoo queue", summary: ["store: \(path)"], sections: [queue.section])
                page.refreshSeconds = queue.inFlight ? refresh : nil
                return page.html()
            },
        ]
        if !["127.0.0.1", "localhost", "::1"].contains(host) {
            FileHandle.standardError.write("warning: --host \(host) serves the store to other machines; the dashboard has no authentication\n".data(using: .utf8)!)
        }
        let dashboard = Dashboard(host: host, port: port, pages: pages)
        let host = self.host
        let finished = DispatchSemaphore(value: 0)
        let failure = LockedBox<Error?>(nil)
        Task.detached {
            do {
                try await dashboard.run { port in
                    print("serving \(path) at http://\(host.contains(":") ? "[\(host)]" : host):\(port)/ (Ctrl-C stops)")
                    fflush(nil)
                }
            } catch { failure.value = error }
            finished.signal()
        }
        finished.wait()
        if let error = failure.value { throw RuntimeError("cannot serve on \(host):\(port): \(error)") }
    }

    /// The queue as a section (``QueueStatus``), and whether runs are pending or running.
    static func queueSection(_ store: any RunStore, name: String) throws -> (section: ReportSection, inFlight: Bool) {
        let q = try queueTables(store)
        let section = ReportSection(id: "queue", title: "Queue", text: q.text, figures: [
            Figure(chart: nil, table: q.counts, commands: ["zoo status --store \(name)"]),
            Figure(chart: nil, table: q.workers),
        ])
        return (section, q.inFlight)
    }

    /// The queue's tables (``QueueStatus``): runs by status with the throughput and time left;
    /// a row per worker; a sentence on workers and expired leases; whether runs are in flight.
    static func queueTables(_ store: any RunStore) throws -> (counts: Table, workers: Table, text: String, inFlight: Bool) {
        let runs = try store.runs()
        let q = QueueStatus(runs: runs, epochs: Self.epochs)
        let order: [RunStatus] = [.pending, .running, .done, .diverged, .failed]
        let counts = Table(headers: order.map(\.rawValue) + ["member-epochs left", "member-epochs/s", "time left"],
                           rows: [order.map { String(q.counts[$0] ?? 0) } + [String(q.memberEpochsLeft), q.rate.map { String(format: "%.2f", $0) } ?? "-",
                                                                             q.secondsLeft.map(formatDuration) ?? "?"]])
        let workers = Table(headers: ["worker (host:pid:thread)", "runs", "epochs done", "epochs", "progress", "running for", "member-epochs/min", "lease"],
                            rows: q.workers.map { w in
                                [w.owner, w.runs.map { String($0.prefix(8)) }.joined(separator: " "), String(w.epochsDone), String(w.epochs),
                                 String(format: "%.0f%%", 100 * Double(w.epochsDone) / Double(max(1, w.epochs))), formatDuration(w.seconds),
                                 w.memberEpochsPerMinute.map { String(format: "%.1f", $0) } ?? "-", w.stale ? "expired" : "held"]
                            })
        var text = q.workers.isEmpty ? "No worker holds a run now." : "\(q.workers.count) worker(s) training."
        if !q.staleRuns.isEmpty {
            text += " \(q.staleRuns.count) run(s) have an expired lease (a worker died or hangs); another worker takes them over: \(q.staleRuns.prefix(8).map { String($0.prefix(8)) }.joined(separator: ", "))."
        }
        return (counts, workers, text, (q.counts[.pending] ?? 0) + (q.counts[.running] ?? 0) > 0)
    }

    /// A run's last epoch, from its stored config with the defaults filled in (1 when it cannot be read).
    static func epochs(_ run: RunRecord) -> Int {
        guard let flat = try? FlatConfig.fromCanonicalJSON(run.config), let config = try? ConfigSchema.runConfig(flat) else { return 1 }
        return config.training.epochs
    }
}

/// A value shared between the server's task and the waiting command.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
