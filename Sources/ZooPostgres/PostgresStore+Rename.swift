import Foundation
import PostgresNIO
import ZooStore

/// Renaming runs, as the SQLite store does (``RunRenaming``): the rows in one transaction under
/// the schema lock, the folder operations recorded in `meta` inside it, then done one by one.
extension PostgresStore {
    /// See ``RunStore/renameRuns(_:)`` and ``SQLiteStore/renameRuns(_:)`` (the same rules).
    public func renameRuns(_ renames: [RunRename]) throws {
        try RunRenaming.check(renames, store: "\(location)")
        try finishFolderMoves()
        try session.transaction("rename runs") { tx in
            try tx.execute("SELECT pg_advisory_xact_lock(\(Self.schemaLock))")
            // Parent ids change before their children's references: checked at commit.
            try tx.execute("SET CONSTRAINTS ALL DEFERRED")
            var moves = try pendingFolderMoves(tx)
            for r in renames { moves += try rename(r, tx) }
            // Checkpoints in the database moved with their rows: no folder to tidy.
            if !moves.isEmpty, checkpointFolder != nil { try Self.setMetadata(RunRenaming.pendingMovesKey, try RunRenaming.encodeMoves(moves), tx) }
        }
        try finishFolderMoves()
    }

    /// Rewrites one run's rows; returns the folder operations that follow.
    private func rename(_ r: RunRename, _ tx: Transaction) throws -> [RunRenaming.FolderMove] {
        guard let old = try Self.progress(of: r.old, tx) else {
            throw StoreError(description: "\(location): cannot rename run '\(r.old)': no such run")
        }
        if r.old == r.new {
            try tx.execute("UPDATE runs SET config = \(r.config), group_key = \(r.groupKey) WHERE id = \(r.old)")
            return []
        }
        if let existing = try Self.progress(of: r.new, tx), !(old > existing) {
            // The run already under the new id is as far along: it stays, with both runs' sweeps.
            try Self.moveSweepMemberships(from: r.old, to: r.new, tx)
            try Self.deleteRun(r.old, tx)
            try tx.execute("UPDATE runs SET config = \(r.config), group_key = \(r.groupKey) WHERE id = \(r.new)")
            return [RunRenaming.FolderMove(from: r.old, to: nil)]
        }
        var moves: [RunRenaming.FolderMove] = []
        if try Self.progress(of: r.new, tx) != nil {
            // The renamed run is further along: the one under the new id goes (its sweep memberships stay).
            try Self.deleteRun(r.new, tx)
            moves.append(RunRenaming.FolderMove(from: r.new, to: nil))
        }
        try tx.execute("UPDATE runs SET id = \(r.new), config = \(r.config), group_key = \(r.groupKey) WHERE id = \(r.old)")
        for table in ["metrics", "predictions", "measures", "attempts"] {
            try tx.execute(PostgresQuery(unsafeSQL: "UPDATE \(table) SET run_id = $1 WHERE run_id = $2", binds: Self.binds(r.new, r.old)))
        }
        try tx.execute("UPDATE measures SET other_run = \(r.new) WHERE other_run = \(r.old)")
        try tx.execute("DELETE FROM measure_claims WHERE run_id = \(r.old) OR other_run = \(r.old)")
        for table in ["checkpoints", "step_checkpoints"] {
            for row in try tx.rows(PostgresQuery(unsafeSQL: "SELECT path FROM \(table) WHERE run_id = $1", binds: Self.binds(r.old))) {
                let path = try row["path"].decode(String.self)
                try tx.execute(PostgresQuery(unsafeSQL: "UPDATE \(table) SET run_id = $1, path = $2 WHERE run_id = $3 AND path = $4",
                                             binds: Self.binds(r.new, RunRenaming.movedPath(path, from: r.old, to: r.new), r.old, path)))
            }
        }
        // Branches keep pointing at their parent under its new id.
        try tx.execute("UPDATE runs SET parent = \(r.new) WHERE parent = \(r.old)")
        try Self.moveSweepMemberships(from: r.old, to: r.new, tx)
        return moves + [RunRenaming.FolderMove(from: r.old, to: r.new)]
    }

    private static func binds(_ values: String...) -> PostgresBindings {
        var binds = PostgresBindings()
        for v in values { binds.append(v) }
        return binds
    }

    private static func progress(of id: String, _ tx: Transaction) throws -> RunRenaming.Progress? {
        try tx.rows("SELECT status, epochs_done FROM runs WHERE id = \(id)").first.map {
            RunRenaming.Progress(status: try $0["status"].decode(String.self), epochs: try $0["epochs_done"].decode(Int.self))
        }
    }

    /// Deletes a run's row, metrics and checkpoint rows; its sweep memberships are the caller's to
    /// move or keep.
    private static func deleteRun(_ id: String, _ tx: Transaction) throws {
        for table in ["metrics", "checkpoints", "step_checkpoints", "predictions", "attempts"] {
            try tx.execute(PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE run_id = $1", binds: binds(id)))
        }
        try tx.execute("DELETE FROM measures WHERE run_id = \(id) OR other_run = \(id)")
        try tx.execute("DELETE FROM runs WHERE id = \(id)")
    }

    /// Moves `from`'s sweep memberships to `to` (a sweep holding both keeps `to`'s).
    private static func moveSweepMemberships(from: String, to: String, _ tx: Transaction) throws {
        try tx.execute("""
            INSERT INTO sweep_runs (sweep_id, run_id, label) SELECT sweep_id, \(to), label FROM sweep_runs WHERE run_id = \(from)
            ON CONFLICT DO NOTHING
            """)
        try tx.execute("DELETE FROM sweep_runs WHERE run_id = \(from)")
    }

    // MARK: - Folder moves

    private func pendingFolderMoves(_ tx: Transaction) throws -> [RunRenaming.FolderMove] {
        guard let json = try Self.metadata(RunRenaming.pendingMovesKey, tx) else { return [] }
        return try RunRenaming.decodeMoves(json, source: "\(location): meta '\(RunRenaming.pendingMovesKey)'")
    }

    /// Does the pending folder operations in order, each under the schema lock, striking it off
    /// once done (a crash between leaves it to the next opening or rename).
    func finishFolderMoves() throws {
        while try session.transaction("finish a rename's folder moves", { tx -> Bool in
            try tx.execute("SELECT pg_advisory_xact_lock(\(Self.schemaLock))")
            var moves = try pendingFolderMoves(tx)
            guard let move = moves.first, let checkpointFolder else { return false }
            try RunRenaming.perform(move, in: checkpointFolder, store: "\(location)")
            moves.removeFirst()
            if moves.isEmpty {
                try tx.execute("DELETE FROM meta WHERE key = \(RunRenaming.pendingMovesKey)")
            } else {
                try Self.setMetadata(RunRenaming.pendingMovesKey, try RunRenaming.encodeMoves(moves), tx)
            }
            return true
        }) {}
    }
}
