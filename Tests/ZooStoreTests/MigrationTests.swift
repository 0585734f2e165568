import Foundation
import GRDB
import Testing
import ZooStore

/// Schema v2: stores written by v1 migrate; provenance and the new metric columns round-trip.
@Suite("Store schema v2")
struct MigrationTests {
    /// The schema exactly as migration v1 wrote it: stores in the wild look like this.
    static let v1 = """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY, config TEXT NOT NULL, group_key TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending', created_at REAL NOT NULL,
            started_at REAL, finished_at REAL, host TEXT, owner TEXT, lease_expires REAL,
            attempts INTEGER NOT NULL DEFAULT 0, epochs_done INTEGER NOT NULL DEFAULT 0, error TEXT);
        CREATE INDEX runs_status ON runs(status, group_key);
        CREATE TABLE metrics (
            run_id TEXT NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL, step INTEGER NOT NULL,
            scheduled_lr REAL, scheduled_batch_size REAL, seconds REAL, train_loss REAL, train_accuracy REAL,
            validation_loss REAL, validation_accuracy REAL, test_loss REAL, test_accuracy REAL,
            nan_columns TEXT NOT NULL DEFAULT '', PRIMARY KEY (run_id, epoch));
        CREATE TABLE checkpoints (
            run_id TEXT NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL, path TEXT NOT NULL,
            sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (run_id, epoch));
        CREATE TABLE sweeps (id TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, created_at REAL NOT NULL);
        CREATE TABLE sweep_runs (sweep_id TEXT NOT NULL REFERENCES sweeps(id), run_id TEXT NOT NULL REFERENCES runs(id),
            PRIMARY KEY (sweep_id, run_id));
        """

    static func path() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("zoo-store-\(UUID())").appendingPathComponent("zoo.sqlite")
    }

    static let provenance = Provenance(zooVersion: "0.9.0", gitCommit: "abc123", kernels: "avx512", cpu: "Test CPU @ 2GHz",
                                       cpuFlags: ["avx2", "fma"], threads: 2, host: "testhost")

    @Test func v1StoreMigratesWithItsData() throws {
        let path = Self.path()
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        do {
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { try $0.execute(sql: Self.v1) }
            let pool = try DatabasePool(path: path.path)
            try migrator.migrate(pool)
            try pool.write { db in
                try db.execute(sql: """
                    INSERT INTO runs (id, config, group_key, status, created_at, epochs_done) VALUES ('r1', '{"seed":1}', 'A', 'done', 1, 2);
                    INSERT INTO sweeps VALUES ('sw', 'name', 'spec', 1);
                    INSERT INTO sweep_runs VALUES ('sw', 'r1');
                    INSERT INTO metrics (run_id, epoch, step, train_loss, test_accuracy, nan_columns) VALUES ('r1', 2, 20, NULL, 0.75, 'train_loss');
                    INSERT INTO checkpoints VALUES ('r1', 2, 'r1/epoch-2.safetensors', 'ab', 10, 1);
                    """)
            }
        }
        let s = try SQLiteStore(path: path)
        #expect(try s.appliedMigrations() == ["v1", "v2", "v3", "v4-predictions", "v4-labels", "v5-branches", "v6-attempts", "v7-claim-index", "v8-checkpoint-data"])
        let run = try #require(try s.runs().first)
        #expect(run.id == "r1" && run.status == .done && run.epochsDone == 2 && run.provenance == nil)
        #expect(try s.runs(sweep: "sw").map(\.id) == ["r1"])
        let m = try s.metrics()
        #expect(m.count == 1 && m[0].values["train_loss"]!.isNaN && m[0].values["test_accuracy"] == 0.75 && m[0].values.count == 2)
        #expect(try s.checkpoints() == [CheckpointRecord(runID: "r1", epoch: 2, path: "r1/epoch-2.safetensors", sha256: "ab", bytes: 10)])
        #expect(try s.metadata("anything") == nil)
        // The new columns work on the migrated store.
        try s.record(MetricRecord(runID: "r1", epoch: 3, step: 30, values: ["member_seconds": 1.5, "running_loss": 0.25]))
        #expect(try s.metrics().last?.values == ["member_seconds": 1.5, "running_loss": 0.25])
    }

    @Test func newMetricColumnsRoundTripWithNaN() throws {
        let s = try SQLiteStore(path: Self.path())
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [("r", "{}", "A")])
        let m = MetricRecord(runID: "r", epoch: 1, step: 5, values: [
            "seconds": 4, "member_seconds": 2, "running_loss": .nan, "running_accuracy": 0.5, "train_loss": -.infinity,
        ])
        try s.record(m)
        let read = try s.metrics(runs: ["r"])
        #expect(read == [m])
        #expect(read[0].values["running_loss"]!.isNaN)
        #expect(MetricRecord.columns.suffix(3) == ["member_seconds", "running_loss", "running_accuracy"])
    }

    @Test func provenanceIsWrittenByEachClaim() throws {
        let s = try SQLiteStore(path: Self.path())
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [("r", "{}", "A"), ("q", "{}", "A")])
        let claimed = try s.claim(owner: ClaimOwner(worker: 0), limit: 1, lease: -1, provenance: Self.provenance)
        #expect(claimed.map(\.provenance) == [Self.provenance])
        #expect(try s.runs(ids: ["r"])[0].provenance == Self.provenance)
        #expect(try s.runs(ids: ["q"])[0].provenance == nil)
        // The next attempt's provenance replaces it.
        var other = Self.provenance
        other.kernels = "baseline"
        other.gitCommit = nil
        _ = try s.claim(owner: ClaimOwner(worker: 1), limit: 1, lease: 60, provenance: other)
        #expect(try s.run(matching: "r").provenance == other)
        // Stored as snake-case JSON; a malformed value reads as nil.
        let queue = try DatabaseQueue(path: s.path.path)
        let json = try queue.read { try String.fetchOne($0, sql: "SELECT provenance FROM runs WHERE id = 'r'") }
        #expect(json?.contains("\"zoo_version\":\"0.9.0\"") == true && json?.contains("\"cpu_flags\"") == true)
        try queue.write { try $0.execute(sql: "UPDATE runs SET provenance = '{\"zoo_version\": 3' WHERE id = 'r'") }
        #expect(try s.run(matching: "r").provenance == nil)
    }

    @Test func provenanceReadsTheProcessor() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-cpuinfo-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let cpuinfo = folder.appendingPathComponent("cpuinfo")
        try """
            processor\t: 0
            vendor_id\t: GenuineIntel
            model name\t: Intel(R) Xeon(R) Test CPU @ 2.00GHz
            flags\t\t: fpu sse sse4_2 avx avx2 fma avx512f avx512bw avx512vl zzz

            processor\t: 1
            model name\t: Another
            flags\t\t: fpu
            """.write(to: cpuinfo, atomically: true, encoding: .utf8)
        let p = Provenance.current(zooVersion: "1.0", gitCommit: nil, kernels: "avx512", threads: 2, cpuInfo: cpuinfo)
        #expect(p.cpu == "Intel(R) Xeon(R) Test CPU @ 2.00GHz")
        #expect(p.cpuFlags == ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl"])
        #expect(p.zooVersion == "1.0" && p.kernels == "avx512" && p.threads == 2 && p.host == ProcessInfo.processInfo.hostName)
        let missing = Provenance.current(zooVersion: "1.0", gitCommit: "c", kernels: "baseline", threads: 1,
                                         cpuInfo: folder.appendingPathComponent("absent"))
        #expect(missing.cpu == "unknown" && missing.cpuFlags.isEmpty)
        // This machine's, whatever it has.
        #expect(!Provenance.current(zooVersion: "1.0", gitCommit: nil, kernels: "baseline", threads: 1).cpu.isEmpty)
    }

    @Test func hostileRowsGiveErrorsNotTraps() throws {
        let s = try SQLiteStore(path: Self.path())
        try s.addSweep(id: "sw", name: "n", spec: "", runs: [("r", "{}", "A")])
        // SQLite lets a TEXT primary key be NULL.
        let queue = try DatabaseQueue(path: s.path.path)
        try queue.write { try $0.execute(sql: "INSERT INTO runs (id, config, group_key, created_at) VALUES (NULL, '{}', 'A', 2)") }
        do {
            _ = try s.runs()
            Issue.record("no error")
        } catch {
            #expect(error is StoreError && "\(error)".contains(s.path.path), "\(error)")
        }
        #expect(try s.runs(ids: ["r"]).count == 1)
    }
}
