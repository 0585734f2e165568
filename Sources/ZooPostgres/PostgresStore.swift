import Foundation
import NIOCore
import PostgresNIO
import ZooStore

/// A store in a PostgreSQL database, for workers on many machines: the queue and the record of
/// a zoo, with the tables, migrations and semantics of ``SQLiteStore`` (a run is claimed by one
/// worker at a time under a lease; metrics and checkpoints are recorded per epoch).
///
/// Checkpoints live in a folder every worker sees (NFS on a cluster), named by the URL's
/// `checkpoints=` parameter the first time and remembered by the store, or, with
/// `checkpoints=database`, inside the database (`bytea` columns of the checkpoint tables: no
/// shared file system, at the cost of database size and of every read and write crossing the
/// network; fine for zoo-sized models, docs/cluster.md). Leases and timestamps use
/// the database's clock. Claims take runs with `FOR UPDATE SKIP LOCKED`, so any number of
/// workers claim at once without waiting on one another and no run is claimed twice.
///
/// Give a zoo a database of its own: the tables have plain names (`runs`, `metrics`, …).
public final class PostgresStore: RunStore {
    public let location: PostgresLocation
    /// The shared checkpoint folder; nil when checkpoints are kept in the database.
    public let checkpointFolder: URL?
    let session: PostgresSession

    /// The `checkpoints=` value that keeps checkpoints in the database (a folder of that name
    /// is `checkpoints=./database`).
    public static let inDatabase = "database"

    /// The `meta` key remembering the checkpoint folder.
    static let checkpointFolderKey = "checkpoint_folder"

    /// Opens (creating and migrating) the store at `location`.
    /// - Parameters:
    ///   - retryWindow: how long each operation keeps retrying while the server is unreachable
    ///     (workers wait out a restart; a command that only looks should say so at once).
    ///   - log: where retry notices go.
    /// - Throws: ``StoreError`` naming the store (never its password): unreachable, refused, written by
    ///   a newer Zoo, or no checkpoint folder known.
    public init(location: PostgresLocation, retryWindow: TimeInterval = 600,
                log: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("zoo: " + $0 + "\n").utf8)) }) throws {
        self.location = location
        session = PostgresSession(location: location, retryWindow: retryWindow, log: log)
        try Self.migrate(session)
        let named = location.checkpoints.map { $0 == Self.inDatabase ? $0 : URL(fileURLWithPath: $0).standardizedFileURL.path }
        let stored = try session.transaction("find the checkpoint folder") { tx -> String? in
            let stored = try Self.metadata(Self.checkpointFolderKey, tx)
            if stored == nil, let named { try Self.setMetadata(Self.checkpointFolderKey, named, tx) }
            return stored
        }
        // The folder may be mounted elsewhere on another machine, so the URL's wins; but a store
        // keeps its checkpoints either in files or in the database, never both.
        if let named, let stored, (named == Self.inDatabase) != (stored == Self.inDatabase) {
            let kept = stored == Self.inDatabase ? "in the database" : "in the folder \(stored)"
            throw StoreError(description: "\(location) keeps its checkpoints \(kept); the URL's checkpoints=\(named) cannot change that; help: drop checkpoints= from the URL")
        }
        guard let place = named ?? stored else {
            throw StoreError(description: "\(location): no checkpoint folder known; help: name one that every worker sees, once: \(location)?checkpoints=/shared/zoo-checkpoints (or checkpoints=database to keep them in the database)")
        }
        if place == Self.inDatabase {
            checkpointFolder = nil
        } else {
            let folder = URL(fileURLWithPath: place, isDirectory: true)
            do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
                throw StoreError(description: "\(location): cannot create the checkpoint folder \(place): \(error)")
            }
            checkpointFolder = folder
            try finishFolderMoves()
        }
    }

    /// Opens the store at `url` (see ``PostgresLocation``).
    public convenience init(url: String, retryWindow: TimeInterval = 600) throws {
        try self.init(location: PostgresLocation(parsing: url), retryWindow: retryWindow)
    }

    // MARK: - Schema

    /// The schema, one migration per version, named as ``SQLiteStore``'s are: the same tables and
    /// columns, in PostgreSQL's types. NaN is stored as itself (SQLite's REAL cannot, so the SQLite
    /// store keeps a list of NaN columns). Ids sort bytewise (`COLLATE "C"`), as in SQLite, whatever
    /// the database's locale. A migration, once released, is never edited.
    static let migrations: [(id: String, statements: [String])] = [
        ("v1", [
            """
            CREATE TABLE runs (
                id TEXT COLLATE "C" PRIMARY KEY, config TEXT NOT NULL, group_key TEXT COLLATE "C" NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
                created_at DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION, host TEXT, owner TEXT,
                lease_expires DOUBLE PRECISION, attempts BIGINT NOT NULL DEFAULT 0, epochs_done BIGINT NOT NULL DEFAULT 0, error TEXT)
            """,
            "CREATE INDEX runs_status ON runs(status, group_key)",
            """
            CREATE TABLE metrics (
                run_id TEXT COLLATE "C" NOT NULL REFERENCES runs(id) DEFERRABLE, epoch BIGINT NOT NULL, step BIGINT NOT NULL,
                scheduled_lr DOUBLE PRECISION, scheduled_batch_size DOUBLE PRECISION, seconds DOUBLE PRECISION,
                train_loss DOUBLE PRECISION, train_accuracy DOUBLE PRECISION, validation_loss DOUBLE PRECISION,
                validation_accuracy DOUBLE PRECISION, test_loss DOUBLE PRECISION, test_accuracy DOUBLE PRECISION,
                PRIMARY KEY (run_id, epoch))
            """,
            """
            CREATE TABLE checkpoints (
                run_id TEXT COLLATE "C" NOT NULL REFERENCES runs(id) DEFERRABLE, epoch BIGINT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,
                bytes BIGINT NOT NULL, created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (run_id, epoch))
            """,
            "CREATE TABLE sweeps (id TEXT COLLATE \"C\" PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
            """
            CREATE TABLE sweep_runs (sweep_id TEXT COLLATE "C" NOT NULL REFERENCES sweeps(id), run_id TEXT COLLATE "C" NOT NULL REFERENCES runs(id) DEFERRABLE,
                PRIMARY KEY (sweep_id, run_id))
            """,
        ]),
        ("v2", [
            "ALTER TABLE runs ADD COLUMN provenance TEXT",
            """
            ALTER TABLE metrics ADD COLUMN member_seconds DOUBLE PRECISION, ADD COLUMN running_loss DOUBLE PRECISION,
                ADD COLUMN running_accuracy DOUBLE PRECISION
            """,
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE INDEX runs_queue ON runs(status, created_at, id)",
            "CREATE INDEX sweep_runs_run ON sweep_runs(run_id)",
        ]),
        ("v3", [
            "ALTER TABLE runs ADD COLUMN outcome TEXT",
            "ALTER TABLE metrics ADD COLUMN step_losses BYTEA",
            """
            CREATE TABLE measures (
                run_id TEXT COLLATE "C" NOT NULL, other_run TEXT COLLATE "C" NOT NULL DEFAULT '', epoch BIGINT NOT NULL,
                measure TEXT COLLATE "C" NOT NULL, settings TEXT NOT NULL, key TEXT COLLATE "C" NOT NULL, version BIGINT NOT NULL, value DOUBLE PRECISION,
                seconds DOUBLE PRECISION NOT NULL, error TEXT, computed_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (run_id, other_run, epoch, measure, settings, key))
            """,
            """
            CREATE TABLE measure_claims (
                run_id TEXT NOT NULL, other_run TEXT NOT NULL, epoch BIGINT NOT NULL, measure TEXT NOT NULL, settings TEXT NOT NULL,
                owner TEXT NOT NULL, host TEXT NOT NULL, lease_expires DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (run_id, other_run, epoch, measure, settings))
            """,
        ]),
        ("v4-predictions", [
            "CREATE TABLE predictions (run_id TEXT COLLATE \"C\" NOT NULL, epoch BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (run_id, epoch))",
        ]),
        ("v4-labels", ["ALTER TABLE sweep_runs ADD COLUMN label TEXT"]),
        ("v5-branches", [
            "ALTER TABLE runs ADD COLUMN parent TEXT COLLATE \"C\"",
            "CREATE INDEX runs_parent ON runs(parent)",
            """
            CREATE TABLE step_checkpoints (
                run_id TEXT COLLATE "C" NOT NULL, step BIGINT NOT NULL, epoch BIGINT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,
                bytes BIGINT NOT NULL, created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (run_id, step))
            """,
        ]),
        ("v6-attempts", [
            """
            CREATE TABLE attempts (
                run_id TEXT COLLATE "C" NOT NULL, attempt BIGINT NOT NULL, owner TEXT NOT NULL, host TEXT NOT NULL,
                started_at DOUBLE PRECISION NOT NULL, ended_at DOUBLE PRECISION, outcome TEXT, error TEXT, PRIMARY KEY (run_id, attempt))
            """,
        ]),
        // The claim's scan: the oldest pending runs of one group, in order, from an index.
        ("v7-claim-index", ["CREATE INDEX runs_claim ON runs(status, group_key, created_at, id)"]),
        // Checkpoint bytes inside the database (`checkpoints=database`); NULL for checkpoint files.
        ("v8-checkpoint-data", ["ALTER TABLE checkpoints ADD COLUMN data BYTEA", "ALTER TABLE step_checkpoints ADD COLUMN data BYTEA"]),
    ]

    /// The advisory lock that makes opening (migrating) and renaming one process at a time.
    static let schemaLock = 0x5A4F4F

    /// Applies the migrations the database lacks, in one transaction under the schema lock (workers
    /// starting together do not race); refuses a database migrated by a newer Zoo.
    static func migrate(_ session: PostgresSession) throws {
        try session.transaction("migrate the schema") { tx in
            try tx.execute("SELECT pg_advisory_xact_lock(\(schemaLock))")
            try tx.execute("CREATE TABLE IF NOT EXISTS zoo_migrations (identifier TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            let applied = try tx.rows("SELECT identifier FROM zoo_migrations").map { try $0["identifier"].decode(String.self) }
            let known = migrations.map(\.id)
            if let newer = applied.first(where: { !known.contains($0) }) {
                throw StoreError(description: "\(session.location): written by a newer Zoo (schema \(applied.sorted().joined(separator: ", ")); this Zoo knows \(known.joined(separator: ", ")), not \(newer)); help: use a newer Zoo")
            }
            for migration in migrations where !applied.contains(migration.id) {
                for statement in migration.statements { try tx.execute(PostgresQuery(unsafeSQL: statement)) }
                try tx.execute("INSERT INTO zoo_migrations (identifier, applied_at) VALUES (\(migration.id), EXTRACT(EPOCH FROM clock_timestamp()))")
            }
        }
    }

    /// The server's version and whether this connection is encrypted, e.g. "PostgreSQL 15.18, TLSv1.3"
    /// or "PostgreSQL 15.18, not encrypted".
    public func connectionInfo() throws -> String {
        let row = try session.query("read the server's version", """
            SELECT current_setting('server_version') AS version,
            (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl) AS tls
            """).first
        let version = try row?["version"].decode(String.self) ?? "?"
        return "PostgreSQL \(version), " + ((try row?["tls"].decode(String?.self)) ?? nil ?? "not encrypted")
    }

    public func appliedMigrations() throws -> [String] {
        let applied = Set(try session.query("read the schema version", "SELECT identifier FROM zoo_migrations").map { try $0["identifier"].decode(String.self) })
        return Self.migrations.map(\.id).filter(applied.contains)
    }

    // MARK: - Sweeps and runs

    @discardableResult
    public func addSweep(id: String, name: String, spec: String, runs: [(id: String, config: String, groupKey: String)],
                         parents: [String: String]) throws -> [String] {
        let ids = runs.map(\.id), configs = runs.map(\.config), groups = runs.map(\.groupKey), parentIDs = runs.map { parents[$0.id] ?? "" }
        let added = try session.transaction("add sweep '\(id)'") { tx -> Set<String> in
            let now = try tx.now()
            try tx.execute("INSERT INTO sweeps (id, name, spec, created_at) VALUES (\(id), \(name), \(spec), \(now)) ON CONFLICT (id) DO NOTHING")
            // Runs keep the spec's order: each a microsecond after the one before.
            let added = try tx.rows("""
                INSERT INTO runs (id, config, group_key, created_at, parent)
                SELECT t.id, t.config, t.group_key, \(now) + (t.ord - 1) * 1e-6, NULLIF(t.parent, '')
                FROM unnest(\(ids)::text[], \(configs)::text[], \(groups)::text[], \(parentIDs)::text[]) WITH ORDINALITY AS t(id, config, group_key, parent, ord)
                ON CONFLICT (id) DO NOTHING RETURNING id
                """).map { try $0["id"].decode(String.self) }
            try tx.execute("INSERT INTO sweep_runs (sweep_id, run_id) SELECT \(id), unnest(\(ids)::text[]) ON CONFLICT DO NOTHING")
            return Set(added)
        }
        // The claim's plan depends on the table's statistics: without them, the first minute of
        // a fresh queue (before autovacuum looks) sorts every pending run at each claim.
        if !added.isEmpty { try session.query("analyze the queue", "ANALYZE runs, sweep_runs") }
        var seen = Set<String>()
        return ids.filter { added.contains($0) && seen.insert($0).inserted }
    }

    public func labelRuns(sweep: String, labels: [String: String?]) throws {
        guard !labels.isEmpty else { return }
        let runs = Array(labels.keys), names = runs.map { labels[$0]! ?? "" }, cleared = runs.map { labels[$0]! == nil }
        try session.transaction("label the runs of sweep '\(sweep)'") { tx in
            try tx.execute("""
                UPDATE sweep_runs SET label = CASE WHEN t.cleared THEN NULL ELSE t.label END
                FROM unnest(\(runs)::text[], \(names)::text[], \(cleared)::bool[]) AS t(run_id, label, cleared)
                WHERE sweep_runs.sweep_id = \(sweep) AND sweep_runs.run_id = t.run_id
                """)
        }
    }

    public func runLabels(sweep: String?) throws -> [String: String] {
        // The latest sweep's label wins: rows in order of their sweep's creation, later ones overwrite.
        let rows = try session.query("read run labels", """
            SELECT sweep_runs.run_id, sweep_runs.label FROM sweep_runs JOIN sweeps ON sweeps.id = sweep_runs.sweep_id
            WHERE sweep_runs.label IS NOT NULL AND (\(sweep)::text IS NULL OR sweep_runs.sweep_id = \(sweep))
            ORDER BY sweeps.created_at, sweeps.id
            """)
        var out: [String: String] = [:]
        for row in rows { out[try row["run_id"].decode(String.self)] = try row["label"].decode(String.self) }
        return out
    }

    /// The columns of a run, in the order ``run(_:)`` reads them.
    static let runColumns = "id, config, group_key, status, created_at, started_at, finished_at, host, owner, lease_expires, attempts, epochs_done, error, provenance, outcome, parent"

    public func runs(status: [RunStatus]?, sweep: String?, ids: [String]?) throws -> [RunRecord] {
        let statuses = status?.map(\.rawValue)
        return try session.query("read runs", """
            SELECT \(unescaped: Self.runColumns) FROM runs
            WHERE (\(statuses)::text[] IS NULL OR status = ANY(\(statuses)::text[]))
            AND (\(sweep)::text IS NULL OR id IN (SELECT run_id FROM sweep_runs WHERE sweep_id = \(sweep)))
            AND (\(ids)::text[] IS NULL OR id = ANY(\(ids)::text[]))
            ORDER BY created_at, id
            """).map(Self.run)
    }

    public func queueCounts(sweep: String?) throws -> QueueCounts {
        // A parent is "among the counted runs" when it belongs to the sweep (any run without one).
        let rows = try session.query("count the queue", """
            SELECT r.status, COUNT(*) AS n,
                COUNT(*) FILTER (WHERE r.status = 'pending' AND (r.parent IS NULL OR p.status = 'done')) AS ready,
                COUNT(*) FILTER (WHERE r.status = 'pending' AND (p.status = 'running' OR (p.status = 'pending'
                    AND (\(sweep)::text IS NULL OR EXISTS (SELECT 1 FROM sweep_runs ps WHERE ps.sweep_id = \(sweep) AND ps.run_id = p.id))))) AS waiting
            FROM runs r LEFT JOIN runs p ON p.id = r.parent
            WHERE \(sweep)::text IS NULL OR EXISTS (SELECT 1 FROM sweep_runs s WHERE s.sweep_id = \(sweep) AND s.run_id = r.id)
            GROUP BY r.status
            """)
        var counts = QueueCounts()
        for row in rows {
            // An unknown status counts as failed, as a run with one reads.
            let status = RunStatus(rawValue: try row["status"].decode(String.self)) ?? .failed
            counts.byStatus[status, default: 0] += try row["n"].decode(Int.self)
            counts.ready += try row["ready"].decode(Int.self)
            counts.waiting += try row["waiting"].decode(Int.self)
        }
        return counts
    }

    public func run(matching prefix: String) throws -> RunRecord {
        // `%`, `_` and `\` in the prefix are matched as themselves.
        let pattern = prefix.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
        let found = try session.query("look up run '\(prefix)'", """
            SELECT \(unescaped: Self.runColumns) FROM runs WHERE id LIKE \(pattern) ESCAPE '\\' ORDER BY id LIMIT 3
            """).map(Self.run)
        guard let first = found.first else { throw StoreError(description: "no run with id '\(prefix)' in \(location)") }
        guard found.count == 1 || found[0].id == prefix else {
            throw StoreError(description: "run id '\(prefix)' is ambiguous: \(found.map(\.id).joined(separator: ", ")), …")
        }
        return first
    }

    /// A run's row (``runColumns``); an unknown status reads as failed and an undecodable
    /// provenance as nil, as in the SQLite store.
    static func run(_ r: PostgresRandomAccessRow) throws -> RunRecord {
        RunRecord(
            id: try r["id"].decode(String.self), config: try r["config"].decode(String.self), groupKey: try r["group_key"].decode(String.self),
            status: RunStatus(rawValue: try r["status"].decode(String.self)) ?? .failed, createdAt: try r["created_at"].decode(Double.self),
            startedAt: try r["started_at"].decode(Double?.self), finishedAt: try r["finished_at"].decode(Double?.self),
            host: try r["host"].decode(String?.self), owner: try r["owner"].decode(String?.self),
            leaseExpires: try r["lease_expires"].decode(Double?.self), attempts: try r["attempts"].decode(Int.self),
            epochsDone: try r["epochs_done"].decode(Int.self), error: try r["error"].decode(String?.self),
            provenance: Provenance.decode(try r["provenance"].decode(String?.self)), outcome: try r["outcome"].decode(String?.self),
            parent: try r["parent"].decode(String?.self))
    }

    // MARK: - Claims

    /// See ``RunStore/claim(owner:limit:lease:sweep:provenance:isAlive:)``. One transaction, each
    /// step reading only what it needs through an index, so a claim costs the same with a hundred
    /// runs queued or a hundred thousand: the running runs of this host whose process is gone are
    /// found (only this host can tell); stale runs lose their attempt and go back to pending (or
    /// fail, after too many); branches of failed parents fail; then one `UPDATE … WHERE id IN
    /// (SELECT … FOR UPDATE SKIP LOCKED LIMIT k) RETURNING …` takes the oldest pending runs of one
    /// group and writes owner, attempt and lease from the database's clock.
    public func claim(owner: ClaimOwner, limit: Int, lease: TimeInterval, sweep: String?, provenance: Provenance?,
                      isAlive: (Int32) -> Bool) throws -> [RunRecord] {
        guard limit > 0 else { return [] }
        let provenanceJSON = try provenance?.json()
        return try session.transaction("claim runs") { tx in
            let now = try tx.now()
            var orphaned: [String] = []
            for row in try tx.rows("""
                SELECT id, owner FROM runs WHERE status = 'running' AND host = \(owner.host) AND lease_expires >= \(now)
                AND (\(sweep)::text IS NULL OR EXISTS (SELECT 1 FROM sweep_runs s WHERE s.sweep_id = \(sweep) AND s.run_id = runs.id))
                """) where ClaimOwner.isGone(try row["owner"].decode(String?.self), host: owner.host, isAlive: isAlive) {
                orphaned.append(try row["id"].decode(String.self))
            }
            // Stale runs (of the sweep, with one) lose their attempt, with why, and return to the
            // queue; a run that lost too many fails.
            var maxLostAttempts: Int?   // read when a run is stale, not at every claim
            for row in try tx.rows("""
                SELECT id, owner, attempts FROM runs WHERE status = 'running' AND (COALESCE(lease_expires, 0) < \(now) OR id = ANY(\(orphaned)::text[]))
                AND (\(sweep)::text IS NULL OR EXISTS (SELECT 1 FROM sweep_runs s WHERE s.sweep_id = \(sweep) AND s.run_id = runs.id))
                FOR UPDATE SKIP LOCKED
                """) {
                let id = try row["id"].decode(String.self), holder = try row["owner"].decode(String?.self) ?? "?"
                let why = orphaned.contains(id) ? "its process (\(holder)) is gone" : "the lease of \(holder) ran out"
                try tx.execute("""
                    UPDATE attempts SET ended_at = \(now), outcome = 'lost', error = \(why)
                    WHERE run_id = \(id) AND attempt = \(try row["attempts"].decode(Int.self)) AND ended_at IS NULL
                    """)
                let lost = try tx.rows("SELECT COUNT(*) AS n FROM attempts WHERE run_id = \(id) AND outcome = 'lost'").first.map { try $0["n"].decode(Int.self) } ?? 0
                let maxLost = try maxLostAttempts ?? Int(Self.metadata(QueuePolicy.maxLostAttemptsKey, tx) ?? "") ?? QueuePolicy.defaultMaxLostAttempts
                maxLostAttempts = maxLost
                if lost >= maxLost {
                    try tx.execute("""
                        UPDATE runs SET status = 'failed', owner = NULL, lease_expires = NULL, finished_at = \(now),
                        error = \(RunStoreMessages.gaveUp(lost: lost, why: why)) WHERE id = \(id)
                        """)
                } else {
                    try tx.execute("UPDATE runs SET status = 'pending', owner = NULL, lease_expires = NULL WHERE id = \(id)")
                }
            }
            // A branch whose parent failed or diverged cannot start: it fails too (and its own
            // branches after it); `retryFailed` puts them all back. Found from the failed parents.
            while try tx.execute("""
                UPDATE runs SET status = 'failed', finished_at = \(now),
                error = 'its parent run ' || p.id || ' ' || p.status || '; it trains once the parent is done (zoo sweep retry)'
                FROM runs p WHERE runs.parent = p.id AND runs.status = 'pending' AND p.status IN ('failed', 'diverged')
                """) > 0 {}
            var binds = PostgresBindings()
            binds.append(now)                   // $1
            binds.append(sweep)                 // $2
            binds.append(owner.id)              // $3
            binds.append(owner.host)            // $4
            binds.append(now + lease)           // $5
            binds.append(provenanceJSON)        // $6
            binds.append(limit)                 // $7
            // A branch is claimable once its parent is done. Each condition is a lookup per
            // candidate row (the planner would hash an `IN (SELECT …)` or an `x IS NULL OR
            // EXISTS (…)` over the whole table at every claim), and the sweep's only when given.
            let claimable = "status = 'pending' AND (parent IS NULL OR (SELECT p.status FROM runs p WHERE p.id = runs.parent) = 'done')"
                + (sweep == nil ? "" : " AND EXISTS (SELECT 1 FROM sweep_runs s WHERE s.sweep_id = $2::text AND s.run_id = runs.id)")
            let claimed = try tx.rows(PostgresQuery(unsafeSQL: """
                UPDATE runs SET status = 'running', owner = $3, host = $4, lease_expires = $5, attempts = attempts + 1,
                started_at = COALESCE(started_at, $1), provenance = $6
                WHERE $2::text IS NOT DISTINCT FROM $2::text AND id IN (
                    SELECT id FROM runs WHERE \(claimable)
                    AND group_key = (SELECT group_key FROM runs WHERE \(claimable) ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                    ORDER BY created_at, id LIMIT $7 FOR UPDATE SKIP LOCKED)
                RETURNING \(Self.runColumns)
                """, binds: binds)).map(Self.run)
            if !claimed.isEmpty {
                try tx.execute("""
                    INSERT INTO attempts (run_id, attempt, owner, host, started_at)
                    SELECT id, attempts, owner, host, \(now) FROM runs WHERE id = ANY(\(claimed.map(\.id))::text[])
                    ON CONFLICT (run_id, attempt) DO UPDATE SET owner = EXCLUDED.owner, host = EXCLUDED.host, started_at = EXCLUDED.started_at,
                    ended_at = NULL, outcome = NULL, error = NULL
                    """)
            }
            return claimed.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    public func attempts(runs ids: [String]?) throws -> [AttemptRecord] {
        try session.query("read attempts", """
            SELECT run_id, attempt, owner, host, started_at, ended_at, outcome, error FROM attempts
            WHERE (\(ids)::text[] IS NULL OR run_id = ANY(\(ids)::text[])) ORDER BY run_id, attempt
            """).map { r in
            AttemptRecord(runID: try r["run_id"].decode(String.self), attempt: try r["attempt"].decode(Int.self),
                          owner: try r["owner"].decode(String.self), host: try r["host"].decode(String.self),
                          startedAt: try r["started_at"].decode(Double.self), endedAt: try r["ended_at"].decode(Double?.self),
                          outcome: try r["outcome"].decode(String?.self), error: try r["error"].decode(String?.self))
        }
    }

    public func importAttempts(_ attempts: [AttemptRecord]) throws {
        guard !attempts.isEmpty else { return }
        // Arrays of optionals do not bind: each optional column is a value and a flag.
        let runs = attempts.map(\.runID), numbers = attempts.map(\.attempt), owners = attempts.map(\.owner), hosts = attempts.map(\.host)
        let started = attempts.map(\.startedAt), ended = attempts.map { $0.endedAt ?? 0 }, hasEnded = attempts.map { $0.endedAt != nil }
        let outcomes = attempts.map { $0.outcome ?? "" }, hasOutcome = attempts.map { $0.outcome != nil }
        let errors = attempts.map { $0.error ?? "" }, hasError = attempts.map { $0.error != nil }
        try session.transaction("write \(attempts.count) attempt(s)") { tx in
            try tx.execute("""
                INSERT INTO attempts (run_id, attempt, owner, host, started_at, ended_at, outcome, error)
                SELECT t.run_id, t.attempt, t.owner, t.host, t.started_at, CASE WHEN t.has_ended THEN t.ended_at END,
                    CASE WHEN t.has_outcome THEN t.outcome END, CASE WHEN t.has_error THEN t.error END
                FROM unnest(\(runs)::text[], \(numbers)::bigint[], \(owners)::text[], \(hosts)::text[], \(started)::float8[],
                    \(ended)::float8[], \(hasEnded)::bool[], \(outcomes)::text[], \(hasOutcome)::bool[], \(errors)::text[], \(hasError)::bool[])
                    AS t(run_id, attempt, owner, host, started_at, ended_at, has_ended, outcome, has_outcome, error, has_error)
                ON CONFLICT (run_id, attempt) DO UPDATE SET owner = EXCLUDED.owner, host = EXCLUDED.host, started_at = EXCLUDED.started_at,
                ended_at = EXCLUDED.ended_at, outcome = EXCLUDED.outcome, error = EXCLUDED.error
                """)
        }
    }

    public func renewLease(owner: ClaimOwner, runs ids: [String], lease: TimeInterval) throws {
        guard !ids.isEmpty else { return }
        try session.transaction("renew leases") { tx in
            try tx.execute("""
                UPDATE runs SET lease_expires = EXTRACT(EPOCH FROM clock_timestamp()) + \(lease)
                WHERE id = ANY(\(ids)::text[]) AND owner = \(owner.id) AND status = 'running'
                """)
        }
    }

    public func release(owner: ClaimOwner, runs ids: [String]) throws {
        guard !ids.isEmpty else { return }
        try session.transaction("release runs") { tx in
            try tx.execute("""
                UPDATE attempts SET ended_at = EXTRACT(EPOCH FROM clock_timestamp()), outcome = 'released'
                WHERE run_id = ANY(\(ids)::text[]) AND owner = \(owner.id) AND ended_at IS NULL
                AND run_id IN (SELECT id FROM runs WHERE status = 'running' AND owner = \(owner.id))
                """)
            try tx.execute("""
                UPDATE runs SET status = 'pending', owner = NULL, lease_expires = NULL
                WHERE id = ANY(\(ids)::text[]) AND owner = \(owner.id) AND status = 'running'
                """)
        }
    }

    public func finish(run id: String, owner: ClaimOwner, status: RunStatus, error: String?, outcome: String?) throws {
        try session.transaction("finish run \(id)") { tx in
            try tx.execute("""
                UPDATE attempts SET ended_at = EXTRACT(EPOCH FROM clock_timestamp()), outcome = \(status.rawValue), error = \(error)
                WHERE run_id = \(id) AND owner = \(owner.id) AND ended_at IS NULL AND run_id IN (SELECT id FROM runs WHERE owner = \(owner.id))
                """)
            try tx.execute("""
                UPDATE runs SET status = \(status.rawValue), error = \(error), outcome = \(outcome),
                finished_at = EXTRACT(EPOCH FROM clock_timestamp()), owner = NULL, lease_expires = NULL
                WHERE id = \(id) AND owner = \(owner.id)
                """)
        }
    }

    @discardableResult
    public func retryFailed() throws -> Int {
        try session.transaction("retry failed runs") { tx in
            try tx.execute("UPDATE runs SET status = 'pending', error = NULL WHERE status = 'failed'")
        }
    }

    // MARK: - Metrics and checkpoints

    public func record(_ m: MetricRecord) throws {
        var binds = PostgresBindings()
        binds.append(m.runID)
        binds.append(m.epoch)
        binds.append(m.step)
        for c in MetricRecord.columns { binds.append(m.values[c]) }
        try binds.append(m.stepLosses.map { $0.encoded() })
        let columns = MetricRecord.columns.joined(separator: ", ")
        let marks = (1...binds.count).map { "$\($0)" }.joined(separator: ", ")
        let insert = PostgresQuery(unsafeSQL: "INSERT INTO metrics (run_id, epoch, step, \(columns), step_losses) VALUES (\(marks))", binds: binds)
        try session.transaction("record metrics of run \(m.runID), epoch \(m.epoch)") { tx in
            try tx.execute("DELETE FROM metrics WHERE run_id = \(m.runID) AND epoch = \(m.epoch)")
            try tx.execute(insert)
            if let p = m.predictions {
                try tx.execute("""
                    INSERT INTO predictions (run_id, epoch, data) VALUES (\(m.runID), \(m.epoch), \(p.encoded()))
                    ON CONFLICT (run_id, epoch) DO UPDATE SET data = EXCLUDED.data
                    """)
            }
            try tx.execute("UPDATE runs SET epochs_done = \(m.epoch) WHERE id = \(m.runID)")
        }
    }

    public func deleteMetrics(run id: String, after epoch: Int) throws {
        try session.transaction("delete metrics of run \(id)") { tx in
            try tx.execute("DELETE FROM metrics WHERE run_id = \(id) AND epoch > \(epoch)")
            try tx.execute("DELETE FROM checkpoints WHERE run_id = \(id) AND epoch > \(epoch)")
            try tx.execute("DELETE FROM predictions WHERE run_id = \(id) AND epoch > \(epoch)")
            try tx.execute("UPDATE runs SET epochs_done = \(epoch) WHERE id = \(id)")
        }
    }

    public func metrics(runs ids: [String]?) throws -> [MetricRecord] {
        let columns = MetricRecord.columns.joined(separator: ", ")
        return try session.query("read metrics", """
            SELECT run_id, epoch, step, \(unescaped: columns), step_losses FROM metrics
            WHERE (\(ids)::text[] IS NULL OR run_id = ANY(\(ids)::text[])) ORDER BY run_id, epoch
            """).map { row in
            var values: [String: Double] = [:]
            for c in MetricRecord.columns { if let v = try row[c].decode(Double?.self) { values[c] = v } }
            let log = try row["step_losses"].decode(Data?.self).flatMap { StepLossLog(encoded: $0) }
            return MetricRecord(runID: try row["run_id"].decode(String.self), epoch: try row["epoch"].decode(Int.self),
                                step: try row["step"].decode(Int.self), values: values, stepLosses: log)
        }
    }

    public func recordCheckpoint(run id: String, epoch: Int, sha256: String, bytes: Int) throws {
        try upsertCheckpoint(run: id, epoch: epoch, step: nil, sha256: sha256, bytes: bytes, data: nil)
    }

    public func saveCheckpoint(_ bytes: Data, sha256: String, run id: String, epoch: Int, step: Int?) throws {
        guard checkpointFolder == nil else { return try writeCheckpointFile(bytes, sha256: sha256, run: id, epoch: epoch, step: step) }
        try upsertCheckpoint(run: id, epoch: epoch, step: step, sha256: sha256, bytes: bytes.count, data: ByteBuffer(bytes: bytes))
    }

    /// Records a checkpoint of `run` at `epoch` (a step checkpoint with `step`), replacing one at
    /// the same point; `data` (bytea) holds its bytes when they live in the database, NULL when
    /// they are a file in the folder.
    private func upsertCheckpoint(run id: String, epoch: Int, step: Int?, sha256: String, bytes: Int, data: ByteBuffer?) throws {
        let relative = CheckpointRecord.path(run: id, epoch: epoch, step: step)
        try session.transaction("record checkpoint \(relative)") { tx in
            if let step {
                try tx.execute("""
                    INSERT INTO step_checkpoints (run_id, step, epoch, path, sha256, bytes, created_at, data)
                    VALUES (\(id), \(step), \(epoch), \(relative), \(sha256), \(bytes), EXTRACT(EPOCH FROM clock_timestamp()), \(data))
                    ON CONFLICT (run_id, step) DO UPDATE SET epoch = EXCLUDED.epoch, path = EXCLUDED.path, sha256 = EXCLUDED.sha256,
                    bytes = EXCLUDED.bytes, created_at = EXCLUDED.created_at, data = EXCLUDED.data
                    """)
            } else {
                try tx.execute("""
                    INSERT INTO checkpoints (run_id, epoch, path, sha256, bytes, created_at, data)
                    VALUES (\(id), \(epoch), \(relative), \(sha256), \(bytes), EXTRACT(EPOCH FROM clock_timestamp()), \(data))
                    ON CONFLICT (run_id, epoch) DO UPDATE SET path = EXCLUDED.path, sha256 = EXCLUDED.sha256, bytes = EXCLUDED.bytes,
                    created_at = EXCLUDED.created_at, data = EXCLUDED.data
                    """)
            }
        }
    }

    public func checkpointData(_ record: CheckpointRecord) throws -> Data {
        guard checkpointFolder == nil else { return try readCheckpointFile(record) }
        let query: PostgresQuery = record.step.map { "SELECT data FROM step_checkpoints WHERE run_id = \(record.runID) AND step = \($0)" }
            ?? "SELECT data FROM checkpoints WHERE run_id = \(record.runID) AND epoch = \(record.epoch)"
        let rows = try session.query("read checkpoint \(record.path.prefix(200))", query)
        guard let data = try rows.first?["data"].decode(ByteBuffer?.self) else {
            throw StoreError(description: "\(location): checkpoint \(record.path.prefix(200)) is missing from the database")
        }
        return Data(data.readableBytesView)
    }

    public func checkpoints(runs ids: [String]?) throws -> [CheckpointRecord] {
        try session.query("read checkpoints", """
            SELECT run_id, epoch, path, sha256, bytes FROM checkpoints
            WHERE (\(ids)::text[] IS NULL OR run_id = ANY(\(ids)::text[])) ORDER BY run_id, epoch
            """).map { try Self.checkpoint($0, step: nil) }
    }

    public func recordStepCheckpoint(run id: String, step: Int, epoch: Int, sha256: String, bytes: Int) throws {
        try upsertCheckpoint(run: id, epoch: epoch, step: step, sha256: sha256, bytes: bytes, data: nil)
    }

    public func stepCheckpoints(runs ids: [String]?) throws -> [CheckpointRecord] {
        try session.query("read step checkpoints", """
            SELECT run_id, step, epoch, path, sha256, bytes FROM step_checkpoints
            WHERE (\(ids)::text[] IS NULL OR run_id = ANY(\(ids)::text[])) ORDER BY run_id, step
            """).map { try Self.checkpoint($0, step: try $0["step"].decode(Int.self)) }
    }

    static func checkpoint(_ r: PostgresRandomAccessRow, step: Int?) throws -> CheckpointRecord {
        CheckpointRecord(runID: try r["run_id"].decode(String.self), epoch: try r["epoch"].decode(Int.self),
                         path: try r["path"].decode(String.self), sha256: try r["sha256"].decode(String.self),
                         bytes: try r["bytes"].decode(Int.self), step: step)
    }

    public func predictions(runs ids: [String]?, epoch: Int?) throws -> [PredictionRecord] {
        try session.query("read predictions", """
            SELECT run_id, epoch, data FROM predictions
            WHERE (\(ids)::text[] IS NULL OR run_id = ANY(\(ids)::text[])) AND (\(epoch)::bigint IS NULL OR epoch = \(epoch))
            ORDER BY run_id, epoch
            """).map { row in
            let run = try row["run_id"].decode(String.self), epoch = try row["epoch"].decode(Int.self)
            return PredictionRecord(runID: run, epoch: epoch, log: try PredictionLog(decoding: try row["data"].decode(Data.self), run: run, epoch: epoch))
        }
    }

    public func predictionEpochs(runs ids: [String]?) throws -> [String: [Int]] {
        var out: [String: [Int]] = [:]
        for row in try session.query("read prediction epochs", """
            SELECT run_id, epoch FROM predictions WHERE (\(ids)::text[] IS NULL OR run_id = ANY(\(ids)::text[])) ORDER BY run_id, epoch
            """) {
            out[try row["run_id"].decode(String.self), default: []].append(try row["epoch"].decode(Int.self))
        }
        return out
    }

    public func counts() throws -> [String: Int] {
        let tables = ["runs", "metrics", "checkpoints", "step_checkpoints", "sweeps", "sweep_runs", "measures", "measure_claims", "predictions", "attempts"]
        let row = try session.query("count rows", PostgresQuery(unsafeSQL: "SELECT " + tables.map { "(SELECT COUNT(*) FROM \($0)) AS \($0)" }.joined(separator: ", ")))
        guard let row = row.first else { return [:] }
        var out: [String: Int] = [:]
        for t in tables { out[t] = try row[t].decode(Int.self) }
        return out
    }

    // MARK: - Copies

    public func sweeps() throws -> [SweepRecord] {
        try session.query("read sweeps", "SELECT id, name, spec, created_at FROM sweeps ORDER BY created_at, id").map { r in
            SweepRecord(id: try r["id"].decode(String.self), name: try r["name"].decode(String.self), spec: try r["spec"].decode(String.self),
                        createdAt: try r["created_at"].decode(Double.self))
        }
    }

    @discardableResult
    public func importRuns(_ runs: [RunRecord]) throws -> [String] {
        guard !runs.isEmpty else { return [] }
        return try session.transaction("copy runs") { tx in
            // A run replaced is deleted and inserted again: its metrics' references are checked at commit.
            try tx.execute("SET CONSTRAINTS ALL DEFERRED")
            var written: [String] = []
            for r in runs {
                if let here = try tx.rows("SELECT status, epochs_done FROM runs WHERE id = \(r.id) FOR UPDATE").first {
                    let progress = RunRenaming.Progress(status: try here["status"].decode(String.self), epochs: try here["epochs_done"].decode(Int.self))
                    guard RunRenaming.Progress(status: r.status.rawValue, epochs: r.epochsDone) > progress else { continue }
                    try tx.execute("DELETE FROM runs WHERE id = \(r.id)")
                }
                try tx.execute("""
                    INSERT INTO runs (id, config, group_key, status, created_at, started_at, finished_at, host, owner, lease_expires, attempts,
                    epochs_done, error, provenance, outcome, parent)
                    VALUES (\(r.id), \(r.config), \(r.groupKey), \(r.status.rawValue), \(r.createdAt), \(r.startedAt), \(r.finishedAt), \(r.host),
                    \(r.owner), \(r.leaseExpires), \(r.attempts), \(r.epochsDone), \(r.error), \(try r.provenance?.json()), \(r.outcome), \(r.parent))
                    """)
                written.append(r.id)
            }
            return written
        }
    }

    // MARK: - Metadata

    public func metadata(_ key: String) throws -> String? {
        try session.transaction("read metadata '\(key)'") { try Self.metadata(key, $0) }
    }

    public func setMetadata(_ key: String, _ value: String) throws {
        try session.transaction("write metadata '\(key)'") { try Self.setMetadata(key, value, $0) }
    }

    static func metadata(_ key: String, _ tx: Transaction) throws -> String? {
        try tx.rows("SELECT value FROM meta WHERE key = \(key)").first.map { try $0["value"].decode(String.self) }
    }

    static func setMetadata(_ key: String, _ value: String, _ tx: Transaction) throws {
        try tx.execute("INSERT INTO meta (key, value) VALUES (\(key), \(value)) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    }

    public func relabelRunningMetrics(runs ids: [String]) throws {
        guard !ids.isEmpty else { return }
        try session.transaction("relabel running metrics") { tx in
            try tx.execute("""
                UPDATE metrics SET running_loss = train_loss, running_accuracy = train_accuracy, train_loss = NULL, train_accuracy = NULL
                WHERE running_loss IS NULL AND running_accuracy IS NULL AND run_id = ANY(\(ids)::text[])
                """)
        }
    }
}
