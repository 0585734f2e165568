import Foundation
import GRDB

/// The embedded store: one SQLite database in WAL mode (GRDB) plus a folder of checkpoint files
/// beside it (`NAME.checkpoints/RUN/epoch-N.safetensors`).
///
/// Several processes may share one store: claims are taken in write transactions, so no run is
/// claimed twice (see ``RunStore``). Opening a store migrates it to the current schema and
/// finishes any checkpoint folder moves that a rename left undone (``renameRuns(_:)``).
public final class SQLiteStore: RunStore {
    public let path: URL
    /// The folder holding checkpoint files, beside the database file.
    public let checkpointFiles: URL
    public var checkpointFolder: URL? { checkpointFiles }
    let database: DatabasePool

    /// Opens (creating and migrating) the store at `path`, or, with `readOnly`, opens an existing
    /// store without writing anything (for commands that only read: a store on a read-only disk
    /// or of another user can be listed).
    /// - Throws: ``StoreError`` when the store cannot be opened, does not exist (`readOnly`), was
    ///   written by a newer Zoo (it has migrations this one does not know), or needs migrating but
    ///   is read-only.
    public init(path: URL, readOnly: Bool = false) throws {
        self.path = path
        checkpointFiles = URL(fileURLWithPath: path.path + ".checkpoints")
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.readonly = readOnly
        if readOnly {
            guard FileManager.default.fileExists(atPath: path.path) else {
                throw StoreError(description: "\(path.path): no store here; help: check the path, or create one with `zoo sweep run SPEC --store \(path.path)`")
            }
            do { database = try DatabasePool(path: path.path, configuration: configuration) } catch {
                throw StoreError(description: "\(path.path): cannot open the store to read: \(error)")
            }
            try checkSchema(migrating: false)
            return
        }
        do {
            try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: checkpointFiles, withIntermediateDirectories: true)
            // Two processes opening a new store at once would race to switch it to WAL and to
            // migrate it; an advisory lock beside the database makes opening one at a time.
            database = try Self.exclusively(lockFile: path.path + ".lock") {
                try DatabasePool(path: path.path, configuration: configuration)
            }
        } catch {
            throw StoreError(description: "\(path.path): cannot open the store: \(error)")
        }
        try exclusively {
            try checkSchema(migrating: true)
            try finishFolderMoves()
        }
    }

    /// Refuses a store written by a newer Zoo (naming both schemas); migrates an older one when
    /// `migrating`, refuses it otherwise.
    private func checkSchema(migrating: Bool) throws {
        let known = Self.migrator.migrations
        let applied = try reading("read the schema version") { db -> [String] in
            guard try db.tableExists("grdb_migrations") else { return [] }
            return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
        }
        if let newer = applied.first(where: { !known.contains($0) }) {
            throw StoreError(description: "\(path.path): written by a newer Zoo (schema \(applied.sorted().joined(separator: ", ")); this Zoo knows \(known.joined(separator: ", ")), not \(newer)); help: use a newer Zoo")
        }
        guard applied.count < known.count else { return }
        guard migrating else {
            throw StoreError(description: "\(path.path): written by an older Zoo (schema \(applied.joined(separator: ", "))) and read-only here, so it cannot be migrated to \(known.joined(separator: ", ")); help: open it once where it is writable")
        }
        do { try Self.migrator.migrate(database) } catch {
            throw StoreError(description: "\(path.path): cannot migrate the store: \(error)")
        }
    }

    /// Runs `body` while holding an exclusive `flock` on `lockFile` (created if needed).
    static func exclusively<T>(lockFile: String, _ body: () throws -> T) throws -> T {
        let fd = open(lockFile, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw StoreError(description: "\(lockFile): cannot create the lock file (errno \(errno))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw StoreError(description: "\(lockFile): cannot lock (errno \(errno))") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Runs `body` holding this store's open lock: no other process opens or renames meanwhile.
    func exclusively<T>(_ body: () throws -> T) throws -> T {
        try Self.exclusively(lockFile: path.path + ".lock", body)
    }

    /// The schema, one migration per version. A migration, once released, is never edited:
    /// stores written by older versions run the ones they lack.
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
        // Provenance per run (JSON), each member's own seconds and the running averages per epoch,
        // store-wide metadata (renames), and indexes for the claim query and renames.
        m.registerMigration("v2") { db in
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN provenance TEXT;
                ALTER TABLE metrics ADD COLUMN member_seconds REAL;
                ALTER TABLE metrics ADD COLUMN running_loss REAL;
                ALTER TABLE metrics ADD COLUMN running_accuracy REAL;
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE INDEX runs_queue ON runs(status, created_at, id);
                CREATE INDEX sweep_runs_run ON sweep_runs(run_id);
                """)
        }
        // How each run ended (the trainer's outcome), the training loss logged within each epoch,
        // measures of checkpoints (of one run, or of a pair) and the claims that share them out.
        m.registerMigration("v3") { db in
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN outcome TEXT;
                ALTER TABLE metrics ADD COLUMN step_losses BLOB;
                CREATE TABLE measures (
                    run_id TEXT NOT NULL, other_run TEXT NOT NULL DEFAULT '', epoch INTEGER NOT NULL, measure TEXT NOT NULL,
                    settings TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, value REAL, is_nan INTEGER NOT NULL DEFAULT 0,
                    seconds REAL NOT NULL, error TEXT, computed_at REAL NOT NULL,
                    PRIMARY KEY (run_id, other_run, epoch, measure, settings, key));
                CREATE TABLE measure_claims (
                    run_id TEXT NOT NULL, other_run TEXT NOT NULL, epoch INTEGER NOT NULL, measure TEXT NOT NULL, settings TEXT NOT NULL,
                    owner TEXT NOT NULL, host TEXT NOT NULL, lease_expires REAL NOT NULL,
                    PRIMARY KEY (run_id, other_run, epoch, measure, settings));
                """)
        }
        // Each evaluated epoch's test predictions (`record_predictions: test`), a PredictionLog blob.
        m.registerMigration("v4-predictions") { db in
            try db.execute(sql: """
                CREATE TABLE predictions (
                    run_id TEXT NOT NULL, epoch INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (run_id, epoch));
                """)
        }
        // A name per run within a sweep (the spec's `label:`), which is no part of the run's identity.
        m.registerMigration("v4-labels") { db in
            try db.execute(sql: "ALTER TABLE sweep_runs ADD COLUMN label TEXT")
        }
        // Branches: the run a run branches from, and checkpoints taken after given optimizer steps
        // (possibly mid-epoch) for branches that rewind to them.
        m.registerMigration("v5-branches") { db in
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN parent TEXT;
                CREATE INDEX runs_parent ON runs(parent);
                CREATE TABLE step_checkpoints (
                    run_id TEXT NOT NULL, step INTEGER NOT NULL, epoch INTEGER NOT NULL, path TEXT NOT NULL,
                    sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (run_id, step));
                """)
        }
        // Every claim of a run and how it ended (done, failed, diverged, released, lost), so a run
        // whose workers keep dying shows each attempt and fails after a few.
        m.registerMigration("v6-attempts") { db in
            try db.execute(sql: """
                CREATE TABLE attempts (
                    run_id TEXT NOT NULL, attempt INTEGER NOT NULL, owner TEXT NOT NULL, host TEXT NOT NULL, started_at REAL NOT NULL,
                    ended_at REAL, outcome TEXT, error TEXT, PRIMARY KEY (run_id, attempt));
                """)
        }
        // The claim's scan: the oldest pending runs of one group, in order, from an index.
        m.registerMigration("v7-claim-index") { db in
            try db.execute(sql: "CREATE INDEX runs_claim ON runs(status, group_key, created_at, id)")
        }
        // Checkpoint bytes inside the database, for PostgreSQL stores made with `checkpoints=database`;
        // an SQLite store keeps files beside it and leaves the column empty (one schema for both).
        m.registerMigration("v8-checkpoint-data") { db in
            try db.execute(sql: "ALTER TABLE checkpoints ADD COLUMN data BLOB")
            try db.execute(sql: "ALTER TABLE step_checkpoints ADD COLUMN data BLOB")
        }
        return m
    }

    public func appliedMigrations() throws -> [String] {
        try reading("read the schema version") { try Self.migrator.appliedMigrations($0) }
    }

    static var now: Double { Date().timeIntervalSince1970 }

    /// Moves everything in the write-ahead log into the database file and empties the log, so
    /// that the `.sqlite` file alone holds the whole store (a copy of it misses nothing).
    /// SQLite does this when the last connection closes; a process that exits with the store
    /// still open calls this first. Best effort: a reader in another process keeps the log.
    public func checkpointLog() {
        guard !database.configuration.readonly else { return }
        _ = try? database.writeWithoutTransaction { try $0.checkpoint(.truncate) }
    }

    /// A read; errors other than ``StoreError`` are wrapped in one naming the store and `what`.
    func reading<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do { return try database.read(body) } catch let error as StoreError { throw error } catch {
            throw StoreError(description: "\(path.path): cannot \(what): \(error)")
        }
    }

    /// A write transaction; errors wrapped as in ``reading(_:_:)``.
    func writing<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do { return try database.write(body) } catch let error as StoreError { throw error } catch {
            throw StoreError(description: "\(path.path): cannot \(what): \(error)")
        }
    }

    /// `?, ?, …` for `count` SQL arguments.
    static func marks(_ count: Int) -> String { Array(repeating: "?", count: count).joined(separator: ", ") }

    // MARK: - Sweeps and runs

    @discardableResult
    public func addSweep(id: String, name: String, spec: String, runs: [(id: String, config: String, groupKey: String)],
                         parents: [String: String]) throws -> [String] {
        try writing("add sweep '\(id)'") { db in
            try db.execute(sql: "INSERT OR IGNORE INTO sweeps (id, name, spec, created_at) VALUES (?, ?, ?, ?)", arguments: [id, name, spec, Self.now])
            var added: [String] = []
            for r in runs {
                try db.execute(sql: "INSERT OR IGNORE INTO runs (id, config, group_key, created_at, parent) VALUES (?, ?, ?, ?, ?)",
                               arguments: [r.id, r.config, r.groupKey, Self.now, parents[r.id]])
                if db.changesCount > 0 { added.append(r.id) }
                try db.execute(sql: "INSERT OR IGNORE INTO sweep_runs (sweep_id, run_id) VALUES (?, ?)", arguments: [id, r.id])
            }
            return added
        }
    }

    public func labelRuns(sweep: String, labels: [String: String?]) throws {
        guard !labels.isEmpty else { return }
        try writing("label the runs of sweep '\(sweep)'") { db in
            for (run, label) in labels {
                try db.execute(sql: "UPDATE sweep_runs SET label = ? WHERE sweep_id = ? AND run_id = ?", arguments: [label, sweep, run])
            }
        }
    }

    public func runLabels(sweep: String?) throws -> [String: String] {
        // The latest sweep's label wins: rows in order of their sweep's creation, later ones overwrite.
        var sql = """
            SELECT sweep_runs.run_id, sweep_runs.label FROM sweep_runs JOIN sweeps ON sweeps.id = sweep_runs.sweep_id
            WHERE sweep_runs.label IS NOT NULL
            """
        var arguments: [any DatabaseValueConvertible] = []
        if let sweep {
            sql += " AND sweep_runs.sweep_id = ?"
            arguments.append(sweep)
        }
        sql += " ORDER BY sweeps.created_at, sweeps.rowid"
        return try reading("read run labels") { db in
            var out: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)) {
                // A label that is not text (a damaged or hostile store) is no label.
                if let label = try? row.decode(String.self, forColumn: "label") { out[try row.decode(forColumn: "run_id")] = label }
            }
            return out
        }
    }

    public func runs(status: [RunStatus]? = nil, sweep: String? = nil, ids: [String]? = nil) throws -> [RunRecord] {
        var sql = "SELECT runs.* FROM runs"
        var clauses: [String] = [], arguments: [any DatabaseValueConvertible] = []
        if let sweep {
            sql += " JOIN sweep_runs ON sweep_runs.run_id = runs.id"
            clauses.append("sweep_runs.sweep_id = ?")
            arguments.append(sweep)
        }
        if let status {
            clauses.append("status IN (\(Self.marks(status.count)))")
            arguments += status.map(\.rawValue)
        }
        if let ids {
            clauses.append("id IN (\(Self.marks(ids.count)))")
            arguments += ids
        }
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY created_at, id"
        return try reading("read runs") { db in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map(Self.run) }
    }

    public func queueCounts(sweep: String?) throws -> QueueCounts {
        // A parent is "among the counted runs" when it belongs to the sweep (any run without one).
        let scope = sweep == nil ? "" : "JOIN sweep_runs s ON s.run_id = r.id AND s.sweep_id = :sweep"
        let parentInScope = sweep == nil ? "1" : "EXISTS (SELECT 1 FROM sweep_runs ps WHERE ps.sweep_id = :sweep AND ps.run_id = p.id)"
        let rows = try reading("count the queue") { db in
            try Row.fetchAll(db, sql: """
                SELECT r.status AS status, COUNT(*) AS n,
                    SUM(r.status = 'pending' AND (r.parent IS NULL OR p.status = 'done')) AS ready,
                    SUM(r.status = 'pending' AND (p.status = 'running' OR (p.status = 'pending' AND \(parentInScope)))) AS waiting
                FROM runs r \(scope) LEFT JOIN runs p ON p.id = r.parent GROUP BY r.status
                """, arguments: ["sweep": sweep])
        }
        var counts = QueueCounts()
        for row in rows {
            // An unknown status counts as failed, as a run with one reads.
            let status = RunStatus(rawValue: row["status"] ?? "") ?? .failed
            counts.byStatus[status, default: 0] += row["n"] ?? 0
            counts.ready += row["ready"] ?? 0
            counts.waiting += row["waiting"] ?? 0
        }
        return counts
    }

    public func run(matching prefix: String) throws -> RunRecord {
        // `%`, `_` and `\` in the prefix are matched as themselves.
        let pattern = prefix.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
        let found = try reading("look up run '\(prefix)'") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 3", arguments: [pattern]).map(Self.run)
        }
        guard let first = found.first else { throw StoreError(description: "no run with id '\(prefix)' in \(path.path)") }
        guard found.count == 1 || found[0].id == prefix else {
            throw StoreError(description: "run id '\(prefix)' is ambiguous: \(found.map(\.id).joined(separator: ", ")), …")
        }
        return first
    }

    /// A `runs` row; a value of the wrong type or a NULL where none belongs is an error, an unknown
    /// status reads as failed and an undecodable provenance as nil.
    static func run(_ row: Row) throws -> RunRecord {
        let status: String = try row.decode(forColumn: "status")
        return RunRecord(
            id: try row.decode(forColumn: "id"), config: try row.decode(forColumn: "config"), groupKey: try row.decode(forColumn: "group_key"),
            status: RunStatus(rawValue: status) ?? .failed, createdAt: try row.decode(forColumn: "created_at"),
            startedAt: try row.decode(forColumn: "started_at"), finishedAt: try row.decode(forColumn: "finished_at"),
            host: try row.decode(forColumn: "host"), owner: try row.decode(forColumn: "owner"),
            leaseExpires: try row.decode(forColumn: "lease_expires"), attempts: try row.decode(forColumn: "attempts"),
            epochsDone: try row.decode(forColumn: "epochs_done"), error: try row.decode(forColumn: "error"),
            provenance: Provenance.decode(try row.decode(forColumn: "provenance")), outcome: try row.decode(forColumn: "outcome"),
            parent: try row.decode(forColumn: "parent"))
    }

    // MARK: - Claims

    /// See ``RunStore/claim(owner:limit:lease:sweep:provenance:isAlive:)``. The candidates and the
    /// group are chosen in SQL; only the running runs of this host under a live lease are read, to
    /// ask `isAlive` about their processes.
    public func claim(owner: ClaimOwner, limit: Int, lease: TimeInterval, sweep: String? = nil, provenance: Provenance? = nil,
                      isAlive: (Int32) -> Bool = ClaimOwner.processIsAlive) throws -> [RunRecord] {
        guard limit > 0 else { return [] }
        let provenanceJSON = try provenance?.json()
        return try writing("claim runs") { db in
            let now = Self.now
            var inSweep = "", sweepArguments: [any DatabaseValueConvertible] = []
            if let sweep {
                inSweep = " AND EXISTS (SELECT 1 FROM sweep_runs s WHERE s.sweep_id = ? AND s.run_id = runs.id)"
                sweepArguments = [sweep]
            }
            var orphaned: [String] = []
            for row in try Row.fetchAll(db, sql: "SELECT id, owner FROM runs WHERE status = 'running' AND host = ? AND lease_expires >= ?" + inSweep,
                                        arguments: StatementArguments([owner.host, now] + sweepArguments)) {
                if ClaimOwner.isGone(try row.decode(forColumn: "owner"), host: owner.host, isAlive: isAlive) {
                    orphaned.append(try row.decode(forColumn: "id"))
                }
            }
            // Stale runs lose their attempt, with why, and return to the queue; a run that lost
            // too many fails.
            let stale = "COALESCE(lease_expires, 0) < ?" + (orphaned.isEmpty ? "" : " OR id IN (\(Self.marks(orphaned.count)))")
            let maxLost = Int(try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [QueuePolicy.maxLostAttemptsKey]) ?? "")
                ?? QueuePolicy.defaultMaxLostAttempts
            for row in try Row.fetchAll(db, sql: "SELECT id, owner, attempts FROM runs WHERE status = 'running' AND (\(stale))" + inSweep,
                                        arguments: StatementArguments([now] + orphaned + sweepArguments)) {
                let id: String = try row.decode(forColumn: "id"), holder: String? = try row.decode(forColumn: "owner")
                let why = orphaned.contains(id) ? "its process (\(holder ?? "?")) is gone" : "the lease of \(holder ?? "?") ran out"
                try db.execute(sql: "UPDATE attempts SET ended_at = ?, outcome = 'lost', error = ? WHERE run_id = ? AND attempt = ? AND ended_at IS NULL",
                               arguments: [now, why, id, try row.decode(Int.self, forColumn: "attempts")])
                let lost = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts WHERE run_id = ? AND outcome = 'lost'", arguments: [id]) ?? 0
                if lost >= maxLost {
                    try db.execute(sql: "UPDATE runs SET status = 'failed', owner = NULL, lease_expires = NULL, finished_at = ?, error = ? WHERE id = ?",
                                   arguments: [now, RunStoreMessages.gaveUp(lost: lost, why: why), id])
                } else {
                    try db.execute(sql: "UPDATE runs SET status = 'pending', owner = NULL, lease_expires = NULL WHERE id = ?", arguments: [id])
                }
            }
            // A branch whose parent failed or diverged cannot start: it fails too (and its own
            // branches after it); `retryFailed` puts them all back. Found from the failed parents.
            repeat {
                try db.execute(sql: """
                    UPDATE runs SET status = 'failed', finished_at = ?,
                    error = 'its parent run ' || parent || ' ' || (SELECT p.status FROM runs p WHERE p.id = runs.parent) || '; it trains once the parent is done (zoo sweep retry)'
                    WHERE id IN (SELECT c.id FROM runs p JOIN runs c ON c.parent = p.id WHERE p.status IN ('failed', 'diverged') AND c.status = 'pending')
                    """, arguments: [now])
            } while db.changesCount > 0
            // The oldest pending runs of one group; a branch is claimable once its parent is done.
            let claimable = "status = 'pending' AND (parent IS NULL OR (SELECT p.status FROM runs p WHERE p.id = runs.parent) = 'done')" + inSweep
            let ids = try String.fetchAll(db, sql: """
                SELECT id FROM runs WHERE \(claimable)
                AND group_key = (SELECT group_key FROM runs WHERE \(claimable) ORDER BY created_at, id LIMIT 1)
                ORDER BY created_at, id LIMIT ?
                """, arguments: StatementArguments(sweepArguments + sweepArguments + [limit]))
            guard !ids.isEmpty else { return [] }
            try db.execute(sql: """
                UPDATE runs SET status = 'running', owner = ?, host = ?, lease_expires = ?, attempts = attempts + 1,
                started_at = COALESCE(started_at, ?), provenance = ? WHERE id IN (\(Self.marks(ids.count)))
                """, arguments: StatementArguments([owner.id, owner.host, now + lease, now, provenanceJSON] as [(any DatabaseValueConvertible)?] + ids))
            try db.execute(sql: """
                INSERT OR REPLACE INTO attempts (run_id, attempt, owner, host, started_at)
                SELECT id, attempts, owner, host, ? FROM runs WHERE id IN (\(Self.marks(ids.count)))
                """, arguments: StatementArguments([now] + ids))
            return try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE id IN (\(Self.marks(ids.count))) ORDER BY created_at, id",
                                    arguments: StatementArguments(ids)).map(Self.run)
        }
    }

    public func attempts(runs ids: [String]?) throws -> [AttemptRecord] {
        var sql = "SELECT * FROM attempts"
        if let ids { sql += " WHERE run_id IN (\(Self.marks(ids.count)))" }
        sql += " ORDER BY run_id, attempt"
        return try reading("read attempts") { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(ids ?? [])).map { row in
                AttemptRecord(runID: try row.decode(forColumn: "run_id"), attempt: try row.decode(forColumn: "attempt"),
                              owner: try row.decode(forColumn: "owner"), host: try row.decode(forColumn: "host"),
                              startedAt: try row.decode(forColumn: "started_at"), endedAt: try row.decode(forColumn: "ended_at"),
                              outcome: try row.decode(forColumn: "outcome"), error: try row.decode(forColumn: "error"))
            }
        }
    }

    public func importAttempts(_ attempts: [AttemptRecord]) throws {
        guard !attempts.isEmpty else { return }
        try writing("write \(attempts.count) attempt(s)") { db in
            for a in attempts {
                try db.execute(sql: """
                    INSERT OR REPLACE INTO attempts (run_id, attempt, owner, host, started_at, ended_at, outcome, error)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [a.runID, a.attempt, a.owner, a.host, a.startedAt, a.endedAt, a.outcome, a.error])
            }
        }
    }

    public func renewLease(owner: ClaimOwner, runs ids: [String], lease: TimeInterval) throws {
        try writing("renew leases") { db in
            for id in ids {
                try db.execute(sql: "UPDATE runs SET lease_expires = ? WHERE id = ? AND owner = ? AND status = 'running'",
                               arguments: [Self.now + lease, id, owner.id])
            }
        }
    }

    public func release(owner: ClaimOwner, runs ids: [String]) throws {
        try writing("release runs") { db in
            for id in ids {
                try db.execute(sql: """
                    UPDATE attempts SET ended_at = ?, outcome = 'released' WHERE run_id = ? AND owner = ? AND ended_at IS NULL
                    AND run_id IN (SELECT id FROM runs WHERE status = 'running' AND owner = ?)
                    """, arguments: [Self.now, id, owner.id, owner.id])
                try db.execute(sql: "UPDATE runs SET status = 'pending', owner = NULL, lease_expires = NULL WHERE id = ? AND owner = ? AND status = 'running'",
                               arguments: [id, owner.id])
            }
        }
    }

    public func finish(run id: String, owner: ClaimOwner, status: RunStatus, error: String? = nil, outcome: String? = nil) throws {
        try writing("finish run \(id)") { db in
            try db.execute(sql: """
                UPDATE attempts SET ended_at = ?, outcome = ?, error = ? WHERE run_id = ? AND owner = ? AND ended_at IS NULL
                AND run_id IN (SELECT id FROM runs WHERE owner = ?)
                """, arguments: [Self.now, status.rawValue, error, id, owner.id, owner.id])
            try db.execute(sql: """
                UPDATE runs SET status = ?, error = ?, outcome = ?, finished_at = ?, owner = NULL, lease_expires = NULL WHERE id = ? AND owner = ?
                """, arguments: [status.rawValue, error, outcome, Self.now, id, owner.id])
        }
    }

    @discardableResult
    public func retryFailed() throws -> Int {
        try writing("retry failed runs") { db in
            try db.execute(sql: "UPDATE runs SET status = 'pending', error = NULL WHERE status = 'failed'")
            return db.changesCount
        }
    }

    // MARK: - Metrics and checkpoints

    /// See ``RunStore/record(_:)``. NaN is kept in `nan_columns` (SQLite stores NaN as NULL).
    public func record(_ m: MetricRecord) throws {
        var values: [Double?] = [], nans: [String] = []
        for c in MetricRecord.columns {
            let v = m.values[c]
            if let v, v.isNaN { nans.append(c) }
            values.append(v.flatMap { $0.isNaN ? nil : $0 })
        }
        try writing("record metrics of run \(m.runID), epoch \(m.epoch)") { db in
            let columns = MetricRecord.columns.joined(separator: ", ")
            try db.execute(sql: "INSERT OR REPLACE INTO metrics (run_id, epoch, step, \(columns), nan_columns, step_losses) VALUES (?, ?, ?, \(Self.marks(values.count)), ?, ?)",
                           arguments: StatementArguments([m.runID, m.epoch, m.step] as [any DatabaseValueConvertible] + values
                                                         + [nans.joined(separator: ","), m.stepLosses.map { $0.encoded() }]))
            if let p = m.predictions {
                try db.execute(sql: "INSERT OR REPLACE INTO predictions (run_id, epoch, data) VALUES (?, ?, ?)", arguments: [m.runID, m.epoch, p.encoded()])
            }
            try db.execute(sql: "UPDATE runs SET epochs_done = ? WHERE id = ?", arguments: [m.epoch, m.runID])
        }
    }

    public func deleteMetrics(run id: String, after epoch: Int) throws {
        try writing("delete metrics of run \(id)") { db in
            try db.execute(sql: "DELETE FROM metrics WHERE run_id = ? AND epoch > ?", arguments: [id, epoch])
            try db.execute(sql: "DELETE FROM checkpoints WHERE run_id = ? AND epoch > ?", arguments: [id, epoch])
            try db.execute(sql: "DELETE FROM predictions WHERE run_id = ? AND epoch > ?", arguments: [id, epoch])
            try db.execute(sql: "UPDATE runs SET epochs_done = ? WHERE id = ?", arguments: [epoch, id])
        }
    }

    public func metrics(runs ids: [String]? = nil) throws -> [MetricRecord] {
        var sql = "SELECT * FROM metrics"
        if let ids { sql += " WHERE run_id IN (\(Self.marks(ids.count)))" }
        sql += " ORDER BY run_id, epoch"
        return try reading("read metrics") { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(ids ?? [])).map { row in
                let nans = Set(((try row.decode(String?.self, forColumn: "nan_columns")) ?? "").split(separator: ",").map(String.init))
                var values: [String: Double] = [:]
                for c in MetricRecord.columns {
                    if nans.contains(c) { values[c] = .nan } else if let v = try row.decode(Double?.self, forColumn: c) { values[c] = v }
                }
                let log = try (row.decode(Data?.self, forColumn: "step_losses")).flatMap { StepLossLog(encoded: $0) }
                return MetricRecord(runID: try row.decode(forColumn: "run_id"), epoch: try row.decode(forColumn: "epoch"),
                                    step: try row.decode(forColumn: "step"), values: values, stepLosses: log)
            }
        }
    }

    public func recordCheckpoint(run id: String, epoch: Int, sha256: String, bytes: Int) throws {
        let relative = CheckpointRecord.path(run: id, epoch: epoch, step: nil)
        try writing("record checkpoint \(relative)") { db in
            try db.execute(sql: "INSERT OR REPLACE INTO checkpoints (run_id, epoch, path, sha256, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [id, epoch, relative, sha256, bytes, Self.now])
        }
    }

    public func recordStepCheckpoint(run id: String, step: Int, epoch: Int, sha256: String, bytes: Int) throws {
        let relative = CheckpointRecord.path(run: id, epoch: epoch, step: step)
        try writing("record checkpoint \(relative)") { db in
            try db.execute(sql: "INSERT OR REPLACE INTO step_checkpoints (run_id, step, epoch, path, sha256, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [id, step, epoch, relative, sha256, bytes, Self.now])
        }
    }

    public func stepCheckpoints(runs ids: [String]? = nil) throws -> [CheckpointRecord] {
        var sql = "SELECT * FROM step_checkpoints"
        if let ids { sql += " WHERE run_id IN (\(Self.marks(ids.count)))" }
        sql += " ORDER BY run_id, step"
        return try reading("read step checkpoints") { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(ids ?? [])).map { try Self.checkpoint($0, step: true) }
        }
    }

    public func checkpoints(runs ids: [String]? = nil) throws -> [CheckpointRecord] {
        var sql = "SELECT * FROM checkpoints"
        if let ids { sql += " WHERE run_id IN (\(Self.marks(ids.count)))" }
        sql += " ORDER BY run_id, epoch"
        return try reading("read checkpoints") { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(ids ?? [])).map { try Self.checkpoint($0, step: false) }
        }
    }

    /// A `checkpoints` row, or with `step` a `step_checkpoints` row.
    static func checkpoint(_ row: Row, step: Bool) throws -> CheckpointRecord {
        CheckpointRecord(runID: try row.decode(forColumn: "run_id"), epoch: try row.decode(forColumn: "epoch"),
                         path: try row.decode(forColumn: "path"), sha256: try row.decode(forColumn: "sha256"),
                         bytes: try row.decode(forColumn: "bytes"), step: step ? try row.decode(forColumn: "step") : nil)
    }

    public func counts() throws -> [String: Int] {
        try reading("count rows") { db in
            var out: [String: Int] = [:]
            for t in ["runs", "metrics", "checkpoints", "step_checkpoints", "sweeps", "sweep_runs", "measures", "measure_claims", "predictions", "attempts"] {
                out[t] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(t)") ?? 0
            }
            return out
        }
    }

    // MARK: - Copies

    public func sweeps() throws -> [SweepRecord] {
        try reading("read sweeps") { db in
            try Row.fetchAll(db, sql: "SELECT id, name, spec, created_at FROM sweeps ORDER BY created_at, rowid").map { row in
                SweepRecord(id: try row.decode(forColumn: "id"), name: try row.decode(forColumn: "name"), spec: try row.decode(forColumn: "spec"),
                            createdAt: try row.decode(forColumn: "created_at"))
            }
        }
    }

    @discardableResult
    public func importRuns(_ runs: [RunRecord]) throws -> [String] {
        guard !runs.isEmpty else { return [] }
        return try writing("copy runs") { db in
            var written: [String] = []
            for r in runs {
                let values: [(any DatabaseValueConvertible)?] = [
                    r.config, r.groupKey, r.status.rawValue, r.createdAt, r.startedAt, r.finishedAt, r.host, r.owner, r.leaseExpires,
                    r.attempts, r.epochsDone, r.error, try r.provenance?.json(), r.outcome, r.parent, r.id]
                if let row = try Row.fetchOne(db, sql: "SELECT status, epochs_done FROM runs WHERE id = ?", arguments: [r.id]) {
                    let here = RunRenaming.Progress(status: try row.decode(forColumn: "status"), epochs: try row.decode(forColumn: "epochs_done"))
                    guard RunRenaming.Progress(status: r.status.rawValue, epochs: r.epochsDone) > here else { continue }
                    try db.execute(sql: """
                        UPDATE runs SET config = ?, group_key = ?, status = ?, created_at = ?, started_at = ?, finished_at = ?, host = ?,
                        owner = ?, lease_expires = ?, attempts = ?, epochs_done = ?, error = ?, provenance = ?, outcome = ?, parent = ? WHERE id = ?
                        """, arguments: StatementArguments(values))
                } else {
                    try db.execute(sql: """
                        INSERT INTO runs (config, group_key, status, created_at, started_at, finished_at, host, owner, lease_expires, attempts,
                        epochs_done, error, provenance, outcome, parent, id) VALUES (\(Self.marks(values.count)))
                        """, arguments: StatementArguments(values))
                }
                written.append(r.id)
            }
            return written
        }
    }

    // MARK: - Metadata

    public func metadata(_ key: String) throws -> String? {
        try reading("read metadata '\(key)'") { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    public func setMetadata(_ key: String, _ value: String) throws {
        try writing("write metadata '\(key)'") { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [key, value])
        }
    }

    public func relabelRunningMetrics(runs ids: [String]) throws {
        guard !ids.isEmpty else { return }
        try writing("relabel running metrics") { db in
            try db.execute(sql: """
                UPDATE metrics SET running_loss = train_loss, running_accuracy = train_accuracy, train_loss = NULL, train_accuracy = NULL,
                nan_columns = REPLACE(REPLACE(nan_columns, 'train_loss', 'running_loss'), 'train_accuracy', 'running_accuracy')
                WHERE running_loss IS NULL AND running_accuracy IS NULL AND run_id IN (\(Self.marks(ids.count)))
                """, arguments: StatementArguments(ids))
        }
    }
}
