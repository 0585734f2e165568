import Foundation
import GRDB

/// Where a run is in its life.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case pending, running, done, failed, diverged
}

/// One run as the store keeps it: its id, config JSON and bookkeeping.
public struct RunRecord: Sendable, Equatable {
    public var id: String
    /// The canonical config, JSON.
    public var config: String
    /// Runs with one group key can train together (same architecture, data and batch size).
    public var groupKey: String
    public var status: RunStatus
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    public var host: String?
    public var owner: String?
    public var leaseExpires: Double?
    /// How many times the run was claimed.
    public var attempts: Int
    /// Completed epochs (of the latest attempt).
    public var epochsDone: Int
    public var error: String?
}

/// The metrics of one epoch of one run. Non-finite values are kept (SQLite would turn NaN into NULL).
public struct MetricRecord: Sendable, Equatable {
    public static let columns = ["scheduled_lr", "scheduled_batch_size", "seconds", "train_loss", "train_accuracy",
                                 "validation_loss", "validation_accuracy", "test_loss", "test_accuracy"]
    public var runID: String
    public var epoch: Int
    public var step: Int
    /// Values by column name (see ``columns``); absent when not measured.
    public var values: [String: Double]

    public init(runID: String, epoch: Int, step: Int, values: [String: Double]) {
        self.runID = runID
        self.epoch = epoch
        self.step = step
        self.values = values
    }

    public static func == (a: MetricRecord, b: MetricRecord) -> Bool {
        a.runID == b.runID && a.epoch == b.epoch && a.step == b.step && a.values.count == b.values.count
            && a.values.allSatisfy { k, v in b.values[k].map { $0 == v || ($0.isNaN && v.isNaN) } ?? false }
    }
}

/// A checkpoint file of a run, with its SHA-256.
public struct CheckpointRecord: Sendable, Equatable {
    public var runID: String
    public var epoch: Int
    /// Relative to the store's checkpoint folder.
    public var path: String
    public var sha256: String
    public var bytes: Int

    public init(runID: String, epoch: Int, path: String, sha256: String, bytes: Int) {
        self.runID = runID
        self.epoch = epoch
        self.path = path
        self.sha256 = sha256
        self.bytes = bytes
    }
}

/// Who holds a claim: a host, a process and a worker in it.
public struct ClaimOwner: Sendable, Equatable {
    public var host: String
    public var pid: Int32
    public var worker: Int
    public init(host: String = ProcessInfo.processInfo.hostName, pid: Int32 = ProcessInfo.processInfo.processIdentifier, worker: Int) {
        self.host = host
        self.pid = pid
        self.worker = worker
    }
    public var id: String { "\(host):\(pid):\(worker)" }
}

/// The embedded store: one SQLite database in WAL mode (GRDB) plus a folder of checkpoint files
/// beside it (`NAME.checkpoints/RUN/epoch-N.safetensors`).
///
/// It knows run ids, JSON configs and bytes — not tensors, not specs. Several processes may share
/// one store: claims are taken in write transactions, so no run is claimed twice; a claim carries a
/// lease that its worker renews, and a run whose lease ran out (or whose process on this host is
/// gone) can be claimed again.
public final class SQLiteStore: Sendable {
    public let path: URL
    /// The folder holding checkpoint files.
    public let checkpointFolder: URL
    let database: DatabasePool

    /// Opens (creating and migrating) the store at `path`.
    public init(path: URL) throws {
        self.path = path
        checkpointFolder = URL(fileURLWithPath: path.path + ".checkpoints")
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: checkpointFolder, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        do {
            // Two processes opening a new store at once would race to switch it to WAL and to
            // migrate it; an advisory lock beside the database makes opening one at a time.
            database = try Self.exclusively(lockFile: path.path + ".lock") {
                let pool = try DatabasePool(path: path.path, configuration: configuration)
                try Self.migrator.migrate(pool)
                return pool
            }
        } catch {
            throw StoreError(description: "\(path.path): cannot open the store: \(error)")
        }
    }

    /// Runs `body` while holding an exclusive `flock` on `lockFile` (created if needed).
    private static func exclusively<T>(lockFile: String, _ body: () throws -> T) throws -> T {
        let fd = open(lockFile, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw StoreError(description: "\(lockFile): cannot create the lock file (errno \(errno))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw StoreError(description: "\(lockFile): cannot lock (errno \(errno))") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// The schema, one migration per version.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
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
                """)
        }
        return m
    }

    /// The schema versions applied to this store.
    public func appliedMigrations() throws -> [String] {
        try database.read { try Self.migrator.appliedMigrations($0) }
    }

    static var now: Double { Date().timeIntervalSince1970 }

    // MARK: - Sweeps and runs

    /// Records a sweep and its runs; runs already present are left untouched.
    /// - Returns: the ids of the runs that were new.
    @discardableResult
    public func addSweep(id: String, name: String, spec: String, runs: [(id: String, config: String, groupKey: String)]) throws -> [String] {
        try database.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO sweeps (id, name, spec, created_at) VALUES (?, ?, ?, ?)", arguments: [id, name, spec, Self.now])
            var added: [String] = []
            for r in runs {
                try db.execute(sql: "INSERT OR IGNORE INTO runs (id, config, group_key, created_at) VALUES (?, ?, ?, ?)",
                               arguments: [r.id, r.config, r.groupKey, Self.now])
                if db.changesCount > 0 { added.append(r.id) }
                try db.execute(sql: "INSERT OR IGNORE INTO sweep_runs (sweep_id, run_id) VALUES (?, ?)", arguments: [id, r.id])
            }
            return added
        }
    }

    /// Runs, optionally only those of some statuses or of one sweep, oldest first.
    public func runs(status: [RunStatus]? = nil, sweep: String? = nil, ids: [String]? = nil) throws -> [RunRecord] {
        var sql = "SELECT runs.* FROM runs"
        var clauses: [String] = [], arguments: [any DatabaseValueConvertible] = []
        if let s = sweep {
            sql += " JOIN sweep_runs ON sweep_runs.run_id = runs.id"
            clauses.append("sweep_runs.sweep_id = ?")
            arguments.append(s)
        }
        if let s = status {
            clauses.append("status IN (\(s.map { _ in "?" }.joined(separator: ",")))")
            arguments += s.map(\.rawValue)
        }
        if let ids {
            clauses.append("id IN (\(ids.map { _ in "?" }.joined(separator: ",")))")
            arguments += ids
        }
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY created_at, id"
        return try database.read { db in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map(Self.run) }
    }

    /// The run with this id, or the only run whose id starts with it.
    public func run(matching prefix: String) throws -> RunRecord {
        let found = try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE id LIKE ? ORDER BY id LIMIT 3", arguments: [prefix + "%"]).map(Self.run)
        }
        guard let first = found.first else { throw StoreError(description: "no run with id '\(prefix)' in \(path.path)") }
        guard found.count == 1 || found[0].id == prefix else {
            throw StoreError(description: "run id '\(prefix)' is ambiguous: \(found.map(\.id).joined(separator: ", ")), …")
        }
        return first
    }

    static func run(_ row: Row) -> RunRecord {
        RunRecord(id: row["id"], config: row["config"], groupKey: row["group_key"], status: RunStatus(rawValue: row["status"]) ?? .failed,
                  createdAt: row["created_at"], startedAt: row["started_at"], finishedAt: row["finished_at"], host: row["host"],
                  owner: row["owner"], leaseExpires: row["lease_expires"], attempts: row["attempts"], epochsDone: row["epochs_done"],
                  error: row["error"])
    }

    // MARK: - Claims

    /// Claims up to `limit` runs of one group for `owner`: pending runs, and running runs whose lease
    /// has expired or whose process on this host is gone. The group is that of the oldest claimable run.
    public func claim(owner: ClaimOwner, limit: Int, lease: TimeInterval, isAlive: (Int32) -> Bool = processIsAlive) throws -> [RunRecord] {
        try database.write { db in
            let now = Self.now
            let candidates = try Row.fetchAll(db, sql: """
                SELECT * FROM runs WHERE status = 'pending' OR status = 'running' ORDER BY created_at, id
                """).map(Self.run).filter { r in
                r.status == .pending || (r.leaseExpires ?? 0) < now || Self.ownerIsGone(r.owner, host: owner.host, isAlive: isAlive)
            }
            guard let first = candidates.first else { return [] }
            let chosen = candidates.filter { $0.groupKey == first.groupKey }.prefix(limit)
            for r in chosen {
                try db.execute(sql: """
                    UPDATE runs SET status = 'running', owner = ?, host = ?, lease_expires = ?, attempts = attempts + 1,
                    started_at = COALESCE(started_at, ?) WHERE id = ?
                    """, arguments: [owner.id, owner.host, now + lease, now, r.id])
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE id IN (\(chosen.map { _ in "?" }.joined(separator: ",")))",
                                    arguments: StatementArguments(chosen.map(\.id))).map(Self.run).sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    static func ownerIsGone(_ owner: String?, host: String, isAlive: (Int32) -> Bool) -> Bool {
        guard let parts = owner?.split(separator: ":"), parts.count >= 3, String(parts[0]) == host, let pid = Int32(parts[1]) else { return false }
        return !isAlive(pid)
    }

    /// Whether a process with this id exists on this host.
    public static let processIsAlive: @Sendable (Int32) -> Bool = { pid in kill(pid, 0) == 0 || errno == EPERM }

    /// Extends the lease of `owner`'s runs.
    public func renewLease(owner: ClaimOwner, runs ids: [String], lease: TimeInterval) throws {
        try database.write { db in
            for id in ids {
                try db.execute(sql: "UPDATE runs SET lease_expires = ? WHERE id = ? AND owner = ? AND status = 'running'",
                               arguments: [Self.now + lease, id, owner.id])
            }
        }
    }

    /// Hands runs back (status pending) so that another worker may take them.
    public func release(owner: ClaimOwner, runs ids: [String]) throws {
        try database.write { db in
            for id in ids {
                try db.execute(sql: "UPDATE runs SET status = 'pending', owner = NULL, lease_expires = NULL WHERE id = ? AND owner = ? AND status = 'running'",
                               arguments: [id, owner.id])
            }
        }
    }

    /// Records how a run ended.
    public func finish(run id: String, owner: ClaimOwner, status: RunStatus, error: String? = nil) throws {
        try database.write { db in
            try db.execute(sql: """
                UPDATE runs SET status = ?, error = ?, finished_at = ?, owner = NULL, lease_expires = NULL WHERE id = ? AND owner = ?
                """, arguments: [status.rawValue, error, Self.now, id, owner.id])
        }
    }

    /// Puts failed runs back in the queue.
    @discardableResult
    public func retryFailed() throws -> Int {
        try database.write { db in
            try db.execute(sql: "UPDATE runs SET status = 'pending', error = NULL WHERE status = 'failed'")
            return db.changesCount
        }
    }

    // MARK: - Metrics and checkpoints

    /// Stores (or replaces) the metrics of one epoch and the run's completed-epoch count.
    public func record(_ m: MetricRecord) throws {
        var values: [Double?] = [], nans: [String] = []
        for c in MetricRecord.columns {
            let v = m.values[c]
            if let v, v.isNaN { nans.append(c) }
            values.append(v.flatMap { $0.isNaN ? nil : $0 })
        }
        try database.write { db in
            let columns = MetricRecord.columns.joined(separator: ", ")
            let marks = MetricRecord.columns.map { _ in "?" }.joined(separator: ", ")
            try db.execute(sql: "INSERT OR REPLACE INTO metrics (run_id, epoch, step, \(columns), nan_columns) VALUES (?, ?, ?, \(marks), ?)",
                           arguments: StatementArguments([m.runID, m.epoch, m.step] as [any DatabaseValueConvertible] + values + [nans.joined(separator: ",")]))
            try db.execute(sql: "UPDATE runs SET epochs_done = ? WHERE id = ?", arguments: [m.epoch, m.runID])
        }
    }

    /// Removes metrics after `epoch` (work lost by an interruption, about to be redone).
    public func deleteMetrics(run id: String, after epoch: Int) throws {
        try database.write { db in
            try db.execute(sql: "DELETE FROM metrics WHERE run_id = ? AND epoch > ?", arguments: [id, epoch])
            try db.execute(sql: "UPDATE runs SET epochs_done = ? WHERE id = ?", arguments: [epoch, id])
        }
    }

    /// Every epoch's metrics of the given runs (all runs when nil), by run then epoch.
    public func metrics(runs ids: [String]? = nil) throws -> [MetricRecord] {
        try database.read { db in
            var sql = "SELECT * FROM metrics"
            var arguments: [any DatabaseValueConvertible] = []
            if let ids {
                sql += " WHERE run_id IN (\(ids.map { _ in "?" }.joined(separator: ",")))"
                arguments = ids
            }
            sql += " ORDER BY run_id, epoch"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                let nans = Set((row["nan_columns"] as String).split(separator: ",").map(String.init))
                var values: [String: Double] = [:]
                for c in MetricRecord.columns {
                    if nans.contains(c) { values[c] = .nan } else if let v: Double = row[c] { values[c] = v }
                }
                return MetricRecord(runID: row["run_id"], epoch: row["epoch"], step: row["step"], values: values)
            }
        }
    }

    /// Where the checkpoint of `run` at `epoch` lives.
    public func checkpointURL(run id: String, epoch: Int) -> URL {
        checkpointFolder.appendingPathComponent(id).appendingPathComponent("epoch-\(epoch).safetensors")
    }

    /// Records a checkpoint file already written at ``checkpointURL(run:epoch:)``.
    public func recordCheckpoint(run id: String, epoch: Int, sha256: String, bytes: Int) throws {
        let relative = "\(id)/epoch-\(epoch).safetensors"
        try database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO checkpoints (run_id, epoch, path, sha256, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [id, epoch, relative, sha256, bytes, Self.now])
        }
    }

    /// The checkpoints of the given runs (all when nil), by run then epoch.
    public func checkpoints(runs ids: [String]? = nil) throws -> [CheckpointRecord] {
        try database.read { db in
            var sql = "SELECT * FROM checkpoints"
            var arguments: [any DatabaseValueConvertible] = []
            if let ids {
                sql += " WHERE run_id IN (\(ids.map { _ in "?" }.joined(separator: ",")))"
                arguments = ids
            }
            sql += " ORDER BY run_id, epoch"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map {
                CheckpointRecord(runID: $0["run_id"], epoch: $0["epoch"], path: $0["path"], sha256: $0["sha256"], bytes: $0["bytes"])
            }
        }
    }

    /// The row counts of each table (for checks and summaries).
    public func counts() throws -> [String: Int] {
        try database.read { db in
            var out: [String: Int] = [:]
            for t in ["runs", "metrics", "checkpoints", "sweeps", "sweep_runs"] {
                out[t] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(t)") ?? 0
            }
            return out
        }
    }
}

/// A store that cannot be opened or queried as asked.
public struct StoreError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
