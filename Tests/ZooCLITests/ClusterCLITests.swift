import Foundation
import Testing
import ZooPostgres
import ZooStore
import ZooTestSupport

/// `zoo submit` and `zoo worker` on PostgreSQL, as separate processes: each run trained exactly
/// once and the same bits as one process on SQLite, whatever kills a worker or the server.
/// Runs when `ZOO_TEST_POSTGRES` names a server (scripts/test.sh starts one).
@Suite("zoo worker on PostgreSQL", .serialized, .enabled(if: ProcessInfo.processInfo.environment["ZOO_TEST_POSTGRES"] != nil))
struct ClusterCLITests {
    static let server = ProcessInfo.processInfo.environment["ZOO_TEST_POSTGRES"] ?? ""

    /// A store URL with a new database and a checkpoint folder in `dir`, or checkpoints kept in
    /// the database.
    static func url(in dir: URL, server: String = server, checkpointsInDatabase: Bool = false) -> String {
        "\(server)/zoo_cli_\(UUID().uuidString.prefix(8).lowercased())?checkpoints=" + (checkpointsInDatabase ? "database" : "\(dir.path)/checkpoints")
    }

    /// A `zoo` process whose standard error goes to a file in `dir` (read with ``errors(_:)``).
    static func launch(_ arguments: [String], in dir: URL, name: String, environment: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardOutput = FileHandle.nullDevice
        let log = dir.appendingPathComponent("\(name).err")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: log)
        try p.run()
        return p
    }

    static func errors(_ dir: URL, _ name: String) -> String {
        (try? String(contentsOf: dir.appendingPathComponent("\(name).err"), encoding: .utf8)) ?? ""
    }

    /// Waits until `condition` holds, checking every 50 ms, for at most `seconds`.
    static func wait(seconds: Double = 120, _ what: String, until condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try !condition() {
            guard Date() < deadline else { throw StoreError(description: "timed out waiting for \(what)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Waits for a process for at most `seconds`, killing it after that.
    static func finish(_ p: Process, seconds: Double = 300) -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// The spec's runs trained by one process on SQLite: the reference.
    static func reference(_ spec: String, in dir: URL) throws -> (runs: [String: RunStatus], metrics: [String], checkpoints: [String]) {
        let path = dir.appendingPathComponent("one.sqlite").path
        let one = try CLITests.zoo(["sweep", "run", spec, "--store", path, "--workers", "1", "--quiet"])
        #expect(one.status == 0, "\(one.stderr)")
        return try SweepCLITests.fingerprint(path)
    }

    /// Four workers on one spec: each run trained once; the store equals one process's SQLite
    /// store bit for bit (run ids, metrics, checkpoint hashes). Submitting twice adds nothing.
    @Test func fourWorkersEqualOneProcess() throws {
        let dir = SweepCLITests.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try SweepCLITests.write(SweepCLITests.spec(seeds: [0, 1, 2, 3], epochs: 2, train: 1000), in: dir)
        let url = Self.url(in: dir)
        let first = try CLITests.zoo(["submit", spec, "--store", url])
        #expect(first.status == 0 && first.stdout.contains("8 runs, 8 new"), "\(first.stdout)\(first.stderr)")
        #expect(!first.stdout.contains(ProcessInfo.processInfo.environment["PGPASSWORD"] ?? "-"))
        let again = try CLITests.zoo(["submit", spec, "--store", url])
        #expect(again.stdout.contains("8 runs, 0 new"), "\(again.stdout)")
        let workers = try (0..<4).map { try Self.launch(["worker", "--store", url, "--threads", "1", "--population", "2", "--quiet"], in: dir, name: "w\($0)") }
        for (i, w) in workers.enumerated() { #expect(Self.finish(w) == 0, "\(Self.errors(dir, "w\(i)"))") }
        let store = try PostgresStore(url: url)
        let runs = try store.runs()
        #expect(runs.count == 8 && runs.allSatisfy { $0.status == .done && $0.attempts == 1 }, "\(runs.map { ($0.id.prefix(6), $0.status, $0.attempts) })")
        let status = try CLITests.zoo(["status", "--store", url])
        #expect(status.status == 0 && status.stdout.contains("No worker holds a run now."), "\(status.stdout)\(status.stderr)")
        #expect(status.stdout.split(separator: "\n").contains { $0.hasPrefix("0 ") && $0.contains(" 8 ") }, "\(status.stdout)")
        let distributed = try SweepCLITests.fingerprint(store), single = try Self.reference(spec, in: dir)
        #expect(distributed.runs == single.runs)
        #expect(distributed.metrics == single.metrics)
        #expect(distributed.checkpoints == single.checkpoints)
    }

    /// A worker killed mid-run and one killed right after its claim (before its first heartbeat):
    /// their runs return when the lease runs out (workers on different hosts cannot see each
    /// other's processes), a third worker resumes them from their checkpoints, every attempt is
    /// counted, nothing is trained twice, and the store equals one process's bit for bit.
    @Test func killedWorkersRunsAreReclaimedAfterOneLease() throws {
        let dir = SweepCLITests.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try SweepCLITests.write(SweepCLITests.spec(seeds: [0, 1], epochs: 4, train: 3000), in: dir)
        // Checkpoints in the database here: the resumed runs read theirs from it.
        let url = Self.url(in: dir, checkpointsInDatabase: true)
        #expect(try CLITests.zoo(["submit", spec, "--store", url]).status == 0)
        let store = try PostgresStore(url: url)
        #expect(store.checkpointFolder == nil)
        func worker(_ host: String) throws -> Process {
            try Self.launch(["worker", "--store", url, "--host", host, "--lease", "4", "--threads", "1", "--population", "2"], in: dir, name: host)
        }
        func held(by host: String) throws -> [RunRecord] { try store.runs().filter { $0.owner?.hasPrefix(host + ":") == true } }
        // Killed after its first epoch.
        let a = try worker("node-a")
        try Self.wait("node-a's first epoch") { try held(by: "node-a").contains { $0.epochsDone >= 1 } }
        kill(a.processIdentifier, SIGKILL)
        a.waitUntilExit()
        let lostA = try held(by: "node-a").map(\.id)
        // Killed as soon as it holds runs: before any heartbeat.
        let b = try worker("node-b")
        try Self.wait("node-b's claim") { try !held(by: "node-b").isEmpty }
        kill(b.processIdentifier, SIGKILL)
        b.waitUntilExit()
        let lostB = try held(by: "node-b").map(\.id)
        #expect(lostA.count == 2 && lostB.count == 2 && Set(lostA).isDisjoint(with: lostB))
        let started = Date()
        let c = try worker("node-c")
        #expect(Self.finish(c) == 0, "\(Self.errors(dir, "node-c"))")
        #expect(Date().timeIntervalSince(started) > 3, "the leases were taken over before they ran out")
        let runs = try store.runs()
        #expect(runs.allSatisfy { $0.status == .done && $0.attempts == 2 }, "\(runs.map { ($0.id.prefix(6), $0.status, $0.attempts) })")
        #expect(try store.metrics().count == 16)
        // Each attempt and how it ended, in the store and in `zoo show`.
        #expect(try store.attempts(runs: lostA).allSatisfy { $0.outcome == ($0.attempt == 1 ? "lost" : "done") })
        #expect(try store.attempts(runs: lostA).first?.error?.contains("the lease of node-a:") == true)
        let shown = try CLITests.zoo(["show", lostB[0], "--store", url])
        #expect(shown.stdout.contains("1: node-b:") && shown.stdout.contains("lost") && shown.stdout.contains("2: node-c:"), "\(shown.stdout)")
        let recovered = try SweepCLITests.fingerprint(store), single = try Self.reference(spec, in: dir)
        #expect(recovered.runs == single.runs)
        #expect(recovered.metrics == single.metrics)
        #expect(recovered.checkpoints == single.checkpoints)
    }

    /// SIGTERM (what Slurm and Kubernetes send first): the worker checkpoints, releases its runs
    /// and exits with 143; another worker takes them at once, not after the lease (10 minutes).
    @Test func sigtermReleasesRunsAtOnce() throws {
        let dir = SweepCLITests.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try SweepCLITests.write(SweepCLITests.spec(seeds: [0], epochs: 4, train: 3000), in: dir)
        let url = Self.url(in: dir)
        #expect(try CLITests.zoo(["submit", spec, "--store", url]).status == 0)
        let store = try PostgresStore(url: url)
        let a = try Self.launch(["worker", "--store", url, "--host", "node-a", "--lease", "600", "--threads", "1"], in: dir, name: "a")
        try Self.wait("the first epoch") { try store.runs().contains { $0.epochsDone >= 1 } }
        kill(a.processIdentifier, SIGTERM)
        #expect(Self.finish(a) == 143, "\(Self.errors(dir, "a"))")
        let released = try store.runs()
        #expect(released.allSatisfy { $0.status == .pending || $0.status == .done }, "\(released.map { ($0.id.prefix(6), $0.status) })")
        let b = try Self.launch(["worker", "--store", url, "--host", "node-b", "--lease", "600", "--threads", "1"], in: dir, name: "b")
        #expect(Self.finish(b, seconds: 120) == 0, "\(Self.errors(dir, "b"))")
        let runs = try store.runs()
        #expect(runs.allSatisfy { $0.status == .done }, "\(runs.map { ($0.id.prefix(6), $0.status) })")
        #expect(runs.contains { $0.attempts == 2 })
        #expect(try store.metrics().count == 8)
    }

    /// The server stopped for 10 s and started again while two workers train: both wait, say so,
    /// go on, and finish; every run is done once, with all its epochs, as one process trains it.
    @Test func aDatabaseRestartLosesNothing() throws {
        let dir = SweepCLITests.folder()
        let server = try PostgresTestServer()
        defer {
            server.remove()
            try? FileManager.default.removeItem(at: dir)
        }
        let spec = try SweepCLITests.write(SweepCLITests.spec(seeds: [0, 1], epochs: 6, train: 3000), in: dir)
        let url = Self.url(in: dir, server: server.url)
        let environment = ["PGPASSWORD": server.password]
        let submitted = try Self.launch(["submit", spec, "--store", url], in: dir, name: "submit", environment: environment)
        #expect(Self.finish(submitted) == 0, "\(Self.errors(dir, "submit"))")
        let workers = try (0..<2).map { try Self.launch(["worker", "--store", url, "--threads", "1", "--population", "2"], in: dir, name: "w\($0)", environment: environment) }
        let store = try PostgresStore(location: PostgresLocation(parsing: url, environment: environment), retryWindow: 60)
        try Self.wait("the first epochs") { try store.metrics().count >= 2 }
        try server.run("stop")
        Thread.sleep(forTimeInterval: 10)
        try server.run("restart")
        for (i, w) in workers.enumerated() {
            #expect(Self.finish(w) == 0, "\(Self.errors(dir, "w\(i)"))")
            #expect(Self.errors(dir, "w\(i)").contains("unreachable"), "\(Self.errors(dir, "w\(i)"))")
            #expect(!Self.errors(dir, "w\(i)").contains(server.password))
        }
        let runs = try store.runs()
        #expect(runs.count == 4 && runs.allSatisfy { $0.status == .done && $0.attempts == 1 }, "\(runs.map { ($0.id.prefix(6), $0.status, $0.attempts) })")
        let restarted = try SweepCLITests.fingerprint(store), single = try Self.reference(spec, in: dir)
        #expect(restarted.metrics == single.metrics)
        #expect(restarted.checkpoints == single.checkpoints)
    }

    /// `zoo store copy` SQLite → PostgreSQL (checkpoints in the database) → SQLite: the copy of
    /// the copy equals the original (runs, metrics, checkpoint hashes, measures, attempts);
    /// copying again writes nothing; a checkpoint file that no longer matches its SHA-256 is
    /// named and not copied, the rest is.
    @Test func storeCopyRoundTrips() throws {
        let dir = SweepCLITests.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try SweepCLITests.write(SweepCLITests.spec(seeds: [0, 1], epochs: 2, train: 1000), in: dir)
        let original = dir.appendingPathComponent("one.sqlite").path
        let trained = try CLITests.zoo(["sweep", "run", spec, "--store", original, "--workers", "1", "--quiet"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let measured = try CLITests.zoo(["measure", "--store", original, "--measure", "log_prod_of_fro", "--measure", "parameter_count", "--epoch", "all"])
        #expect(measured.status == 0, "\(measured.stderr)")
        let url = Self.url(in: dir, checkpointsInDatabase: true), back = dir.appendingPathComponent("back.sqlite").path
        let there = try CLITests.zoo(["store", "copy", original, url])
        #expect(there.status == 0 && there.stdout.contains("copied 4 run(s), 8 epoch(s) of metrics, 8 checkpoint(s)"), "\(there.stdout)\(there.stderr)")
        #expect(there.stdout.contains("4 attempt(s)"), "\(there.stdout)")
        let home = try CLITests.zoo(["store", "copy", url, back])
        #expect(home.status == 0, "\(home.stderr)")
        #expect(!there.stdout.contains(ProcessInfo.processInfo.environment["PGPASSWORD"] ?? "-"))
        let a = try SweepCLITests.fingerprint(original), b = try SweepCLITests.fingerprint(back)
        #expect(a.runs == b.runs && a.metrics == b.metrics && a.checkpoints == b.checkpoints)
        let attempts = try SQLiteStore(path: URL(fileURLWithPath: original)).attempts(runs: nil)
        #expect(attempts.count == 4 && attempts.allSatisfy { $0.outcome == "done" })
        #expect(try SQLiteStore(path: URL(fileURLWithPath: back)).attempts(runs: nil) == attempts)
        let m1 = try SQLiteStore(path: URL(fileURLWithPath: original)).measures(), m2 = try SQLiteStore(path: URL(fileURLWithPath: back)).measures()
        #expect(!m1.isEmpty && m1.map(\.task) == m2.map(\.task) && zip(m1, m2).allSatisfy { $0.key == $1.key && $0.value == $1.value })
        let again = try CLITests.zoo(["store", "copy", original, url])
        #expect(again.status == 0 && again.stdout.contains("copied 0 run(s), 0 epoch(s) of metrics, 0 checkpoint(s) (0 KiB), 0 attempt(s), 0 measure task(s)"), "\(again.stdout)")
        // A damaged file in the source: named, not copied; the rest arrives.
        let store = try SQLiteStore(path: URL(fileURLWithPath: original))
        let damaged = try #require(try store.checkpoints().first)
        try Data("not a checkpoint".utf8).write(to: store.checkpointFolder!.appendingPathComponent(damaged.path))
        let fresh = dir.appendingPathComponent("fresh.sqlite").path
        let partial = try CLITests.zoo(["store", "copy", original, fresh])
        #expect(partial.status == 1 && partial.stderr.contains(damaged.path) && partial.stderr.contains("SHA-256"), "\(partial.stderr)")
        #expect(try SQLiteStore(path: URL(fileURLWithPath: fresh)).checkpoints().count == 7)
    }
}

