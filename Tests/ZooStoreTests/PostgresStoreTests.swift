import Foundation
import Testing
import ZooPostgres
import ZooStore
import ZooTestSupport

/// What only the PostgreSQL store has: URLs and passwords, many processes claiming at once over
/// the network, and a server that goes away and comes back.
@Suite("PostgreSQL store")
struct PostgresStoreTests {
    @Test func urlsParseWithDefaultsAndNeverPrintThePassword() throws {
        let env = ["HOME": "/nonexistent", "USER": "ann"]
        let a = try PostgresLocation(parsing: "postgres://zoo:s3cr%40t@db.example.org:6543/zoos?sslmode=require&checkpoints=/nfs/zoo", environment: env)
        #expect(a.user == "zoo" && a.password == "s3cr@t" && a.host == "db.example.org" && a.port == 6543 && a.database == "zoos")
        #expect(a.sslMode == .require && a.checkpoints == "/nfs/zoo")
        #expect(a.description == "postgres://zoo@db.example.org:6543/zoos")
        // Defaults: the system user, port 5432, the user's database, TLS when offered; PGPASSWORD.
        let b = try PostgresLocation(parsing: "postgresql://db", environment: env.merging(["PGPASSWORD": "pw"]) { $1 })
        #expect(b.user == "ann" && b.port == 5432 && b.database == "ann" && b.sslMode == .prefer && b.password == "pw")
        // The URL's password wins over the environment's.
        #expect(try PostgresLocation(parsing: "postgres://u:url@h/d", environment: ["PGPASSWORD": "env"]).password == "url")
        for (bad, says) in [("postgres://u:hunter2@h:99999/d", "not a port number"), ("postgres://u:hunter2@h/d?sslmode=maybe", "sslmode 'maybe'"),
                            ("postgres://u:hunter2@h/d?colour=red", "unknown parameter 'colour'"), ("mysql://u:hunter2@h/d", "not a PostgreSQL URL")] {
            do {
                _ = try PostgresLocation(parsing: bad, environment: env)
                Issue.record("no error for \(bad)")
            } catch {
                #expect("\(error)".contains(says), "\(error)")
                #expect(!"\(error)".contains("hunter2"), "\(error)")
            }
        }
        #expect(PostgresLocation.redact("postgres://u:hunter2@h/d?password=hunter2&sslmode=disable") == "postgres://u:***@h/d?password=***&sslmode=disable")
    }

    /// libpq's password file: the first matching line, `*` matching anything, `\:` escaped; a file
    /// that others may read is ignored, as libpq ignores it.
    @Test func thePasswordFileIsReadAsLibpqReadsIt() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-pgpass-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("pgpass")
        try "# comment\nother:5432:*:zoo:wrong\ndb:*:zoos:zoo:pa\\:ss\n*:*:*:*:fallback\n".write(to: file, atomically: true, encoding: .utf8)
        chmod(file.path, 0o600)
        func password(_ url: String) throws -> String? { try PostgresLocation(parsing: url, environment: ["PGPASSFILE": file.path]).password }
        #expect(try password("postgres://zoo@db/zoos") == "pa:ss")
        #expect(try password("postgres://zoo@db/elsewhere") == "fallback")
        chmod(file.path, 0o644)
        #expect(try password("postgres://zoo@db/zoos") == nil)
    }

    /// Eight processes' worth of connections claim from one queue at once: every run is claimed
    /// exactly once, and each claim is one group.
    @Test(arguments: Backend.all) func concurrentClaimersNeverShareARun(_ backend: Backend) throws {
        let store = try backend.store()
        let runs = (0..<240).map { (id: String(format: "run%03d", $0), config: "{}", groupKey: "G\($0 % 4)") }
        try store.addSweep(id: "sw", name: "n", spec: "", runs: runs)
        let stores = try (0..<8).map { _ in try backend.reopen(store) }
        let claimed = LockedList()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let owner = ClaimOwner(host: "host\(i)", pid: Int32(100 + i), worker: 0)
            while let batch = try? stores[i].claim(owner: owner, limit: 7, lease: 600, sweep: nil, provenance: nil, isAlive: { _ in true }),
                  !batch.isEmpty {
                claimed.append(batch)
                for r in batch { try? stores[i].finish(run: r.id, owner: owner, status: .done) }
            }
        }
        let ids = claimed.batches.flatMap { $0.map(\.id) }
        #expect(ids.count == runs.count)
        #expect(Set(ids) == Set(runs.map(\.id)))
        #expect(claimed.batches.allSatisfy { batch in Set(batch.map(\.groupKey)).count == 1 && batch.count <= 7 })
        #expect(try store.runs().allSatisfy { $0.status == .done && $0.attempts == 1 })
    }

    /// A wrong password is refused with a message naming the store but not the password.
    @Test(.enabled(if: Backend.postgresServer != nil)) func aWrongPasswordSaysSoWithoutIt() throws {
        let server = try #require(Backend.postgresServer)
        let url = server.replacingOccurrences(of: "postgres://zoo@", with: "postgres://zoo:hunter2-wrong@") + "/postgres?checkpoints=/tmp"
        do {
            _ = try PostgresStore(location: PostgresLocation(parsing: url), retryWindow: 0)
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("postgres://zoo@127.0.0.1"), "\(error)")
            #expect("\(error)".contains("password authentication failed"), "\(error)")
            #expect(!"\(error)".contains("hunter2"), "\(error)")
        }
    }

    /// The server stopped (as by a crash) and started again 3 s later: an operation begun while it
    /// is down waits, says so once per retry, and completes; nothing is lost. A server of its own,
    /// so that the other tests' server stays up.
    @Test(.enabled(if: Backend.postgresServer != nil)) func aServerRestartIsWaitedOut() throws {
        let server = try PostgresTestServer()
        defer { server.remove() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-restart-\(UUID())")
        let notices = LockedLines()
        let store = try PostgresStore(location: PostgresLocation(parsing: server.url + "/zoo?checkpoints=\(folder.path)",
                                                                environment: ["PGPASSWORD": server.password]),
                                      retryWindow: 60, log: { notices.append($0) })
        try store.addSweep(id: "sw", name: "n", spec: "", runs: (0..<3).map { (id: "r\($0)", config: "{}", groupKey: "A") })
        let owner = ClaimOwner(worker: 0)
        #expect(try store.claim(owner: owner, limit: 1, lease: 60).map(\.id) == ["r0"])
        try store.record(MetricRecord(runID: "r0", epoch: 1, step: 10, values: ["test_accuracy": 0.5]))
        try server.run("stop")
        let restarted = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 3) {
            try? server.run("restart")
            restarted.signal()
        }
        // Begun while the server is down: waits for it.
        try store.record(MetricRecord(runID: "r0", epoch: 2, step: 20, values: ["test_accuracy": 0.75]))
        restarted.wait()
        #expect(notices.lines.contains { $0.contains("unreachable") && !$0.contains(server.password) }, "\(notices.lines)")
        #expect(notices.lines.last?.contains("reachable again") == true, "\(notices.lines)")
        #expect(try store.metrics().map(\.epoch) == [1, 2])
        #expect(try store.claim(owner: owner, limit: 5, lease: 60).map(\.id) == ["r1", "r2"])
        #expect(try store.runs().allSatisfy { $0.attempts == 1 })
    }
}

final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [[RunRecord]] = []
    func append(_ batch: [RunRecord]) { lock.withLock { stored.append(batch) } }
    var batches: [[RunRecord]] { lock.withLock { stored } }
}

final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var lines: [String] { lock.withLock { stored } }
}

/// TLS against the test server (scripts/postgres-test-server.sh signs a certificate for 127.0.0.1).
@Suite("PostgreSQL TLS", .enabled(if: Backend.postgresServer != nil && ProcessInfo.processInfo.environment["ZOO_TEST_POSTGRES_DIR"] != nil))
struct PostgresTLSTests {
    static func open(_ parameters: String) throws -> PostgresStore {
        let server = try #require(Backend.postgresServer)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-tls-\(UUID())").path
        return try PostgresStore(location: PostgresLocation(parsing: "\(server)/zoo_tls?checkpoints=\(folder)&\(parameters)"), retryWindow: 0)
    }

    @Test func encryptedWhenOfferedAndVerifiedWhenAsked() throws {
        let certificate = try #require(ProcessInfo.processInfo.environment["ZOO_TEST_POSTGRES_DIR"]) + "/server.crt"
        // prefer (the default) and require encrypt; disable does not.
        #expect(try Self.open("sslmode=prefer").connectionInfo().contains("TLSv1."))
        #expect(try Self.open("sslmode=require").connectionInfo().contains("TLSv1."))
        #expect(try Self.open("sslmode=disable").connectionInfo().contains("not encrypted"))
        // verify-full trusts only the authorities it is given: the self-signed certificate is refused,
        // at once and saying so, until it is named as the root.
        do {
            _ = try Self.open("sslmode=verify-full")
            Issue.record("an untrusted certificate was accepted")
        } catch {
            #expect("\(error)".lowercased().contains("certificate"), "\(error)")
            #expect(!"\(error)".contains("unreachable"), "\(error)")
        }
        #expect(try Self.open("sslmode=verify-full&sslrootcert=\(certificate)").connectionInfo().contains("TLSv1."))
    }
}
