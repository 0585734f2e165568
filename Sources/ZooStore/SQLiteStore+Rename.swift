import Foundation
import GRDB

/// Renaming runs: the rows in one transaction, then the checkpoint folders.
///
/// The folder operations a rename needs are written to `meta` ("pending_folder_moves") inside the
/// rename's transaction and struck off one by one as they are done, so a crash between the commit
/// and the last move leaves a store whose next opening (or next rename) finishes them. Each
/// operation can be redone after being interrupted halfway; an operation is never redone once
/// struck off, so a later one cannot be undone by replaying an earlier one.
extension SQLiteStore {
    static let pendingFolderMovesKey = RunRenaming.pendingMovesKey

    /// See ``RunStore/renameRuns(_:)``. Renames apply in order. A new id may be an existing run's
    /// (the two collapse; on a tie the existing run stays), or another rename's new id, but not
    /// the old id of another rename that moves: a chain `a → b, b → c` is refused (a rename that
    /// keeps its id and only rewrites the config is fine). Ids must be folder names
    /// (not empty, `.` or `..`, no `/`).
    /// - Complexity: one transaction with a few statements per rename, then one small write per
    ///   folder operation.
    public func renameRuns(_ renames: [RunRename]) throws {
        try RunRenaming.check(renames, store: path.path)
        try exclusively {
            try finishFolderMoves()
            try writing("rename runs") { db in
                // Parent ids change before their children's references: checked at commit.
                try db.execute(sql: "PRAGMA defer_foreign_keys = ON")
                var moves = try pendingFolderMoves(db)
                for r in renames { moves += try rename(r, db) }
                if !moves.isEmpty { try setPendingFolderMoves(moves, db) }
            }
            try finishFolderMoves()
        }
    }

    /// Rewrites one run's rows; returns the folder operations that follow.
    private func rename(_ r: RunRename, _ db: Database) throws -> [RunRenaming.FolderMove] {
        guard let old = try Self.progress(of: r.old, db) else {
            throw StoreError(description: "\(path.path): cannot rename run '\(r.old)': no such run")
        }
        if r.old == r.new {
            try db.execute(sql: "UPDATE runs SET config = ?, group_key = ? WHERE id = ?", arguments: [r.config, r.groupKey, r.old])
            return []
        }
        if let existing = try Self.progress(of: r.new, db), !(old > existing) {
            // The run already under the new id is as far along: it stays, with both runs' sweeps.
            try Self.moveSweepMemberships(from: r.old, to: r.new, db)
            try Self.deleteRun(r.old, db)
            try db.execute(sql: "UPDATE runs SET config = ?, group_key = ? WHERE id = ?", arguments: [r.config, r.groupKey, r.new])
            return [RunRenaming.FolderMove(from: r.old, to: nil)]
        }
        var moves: [RunRenaming.FolderMove] = []
        if try Self.progress(of: r.new, db) != nil {
            // The renamed run is further along: the one under the new id goes (its sweep memberships stay).
            try Self.deleteRun(r.new, db)
            moves.append(RunRenaming.FolderMove(from: r.new, to: nil))
        }
        try db.execute(sql: "UPDATE runs SET id = ?, config = ?, group_key = ? WHERE id = ?", arguments: [r.new, r.config, r.groupKey, r.old])
        try db.execute(sql: "UPDATE metrics SET run_id = ? WHERE run_id = ?", arguments: [r.new, r.old])
        try db.execute(sql: "UPDATE predictions SET run_id = ? WHERE run_id = ?", arguments: [r.new, r.old])
        try db.execute(sql: "UPDATE attempts SET run_id = ? WHERE run_id = ?", arguments: [r.new, r.old])
        try db.execute(sql: "UPDATE measures SET run_id = ? WHERE run_id = ?", arguments: [r.new, r.old])
        try db.execute(sql: "UPDATE measures SET other_run = ? WHERE other_run = ?", arguments: [r.new, r.old])
        try db.execute(sql: "DELETE FROM measure_claims WHERE run_id = ? OR other_run = ?", arguments: [r.old, r.old])
        for row in try Row.fetchAll(db, sql: "SELECT epoch, path FROM checkpoints WHERE run_id = ?", arguments: [r.old]) {
            let epoch: Int = try row.decode(forColumn: "epoch"), path: String = try row.decode(forColumn: "path")
            let moved = RunRenaming.movedPath(path, from: r.old, to: r.new)
            try db.execute(sql: "UPDATE checkpoints SET run_id = ?, path = ? WHERE run_id = ? AND epoch = ?", arguments: [r.new, moved, r.old, epoch])
        }
        for row in try Row.fetchAll(db, sql: "SELECT step, path FROM step_checkpoints WHERE run_id = ?", arguments: [r.old]) {
            let step: Int = try row.decode(forColumn: "step"), path: String = try row.decode(forColumn: "path")
            let moved = RunRenaming.movedPath(path, from: r.old, to: r.new)
            try db.execute(sql: "UPDATE step_checkpoints SET run_id = ?, path = ? WHERE run_id = ? AND step = ?", arguments: [r.new, moved, r.old, step])
        }
        // Branches keep pointing at their parent under its new id.
        try db.execute(sql: "UPDATE runs SET parent = ? WHERE parent = ?", arguments: [r.new, r.old])
        try Self.moveSweepMemberships(from: r.old, to: r.new, db)
        return moves + [RunRenaming.FolderMove(from: r.old, to: r.new)]
    }

    /// How far a run got (``RunRenaming/Progress``); nil when there is no such run.
    private static func progress(of id: String, _ db: Database) throws -> RunRenaming.Progress? {
        guard let row = try Row.fetchOne(db, sql: "SELECT status, epochs_done FROM runs WHERE id = ?", arguments: [id]) else { return nil }
        return RunRenaming.Progress(status: try row.decode(forColumn: "status"), epochs: try row.decode(forColumn: "epochs_done"))
    }

    /// Deletes a run's row, metrics and checkpoint rows; its sweep memberships are the caller's to
    /// move or keep.
    private static func deleteRun(_ id: String, _ db: Database) throws {
        for table in ["metrics", "checkpoints", "step_checkpoints", "predictions", "attempts"] {
            try db.execute(sql: "DELETE FROM \(table) WHERE run_id = ?", arguments: [id])
        }
        try db.execute(sql: "DELETE FROM measures WHERE run_id = ? OR other_run = ?", arguments: [id, id])
        try db.execute(sql: "DELETE FROM runs WHERE id = ?", arguments: [id])
    }

    /// Moves `from`'s sweep memberships to `to` (a sweep holding both keeps one).
    private static func moveSweepMemberships(from: String, to: String, _ db: Database) throws {
        try db.execute(sql: "UPDATE OR IGNORE sweep_runs SET run_id = ? WHERE run_id = ?", arguments: [to, from])
        try db.execute(sql: "DELETE FROM sweep_runs WHERE run_id = ?", arguments: [from])
    }

    // MARK: - Folder moves

    /// The folder operations recorded in `meta`, checked: a malformed entry is an error naming the key.
    private func pendingFolderMoves(_ db: Database) throws -> [RunRenaming.FolderMove] {
        guard let json = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [Self.pendingFolderMovesKey]) else { return [] }
        return try RunRenaming.decodeMoves(json, source: "\(path.path): meta '\(Self.pendingFolderMovesKey)'")
    }

    private func setPendingFolderMoves(_ moves: [RunRenaming.FolderMove], _ db: Database) throws {
        if moves.isEmpty {
            try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [Self.pendingFolderMovesKey])
        } else {
            let json = try RunRenaming.encodeMoves(moves)
            try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [Self.pendingFolderMovesKey, json])
        }
    }

    /// Does the pending folder operations in order, striking each off once done. Call with the
    /// open lock held (``exclusively(_:)``).
    func finishFolderMoves() throws {
        var moves = try reading("read pending folder moves") { try pendingFolderMoves($0) }
        while let move = moves.first {
            try RunRenaming.perform(move, in: checkpointFiles, store: path.path)
            moves.removeFirst()
            try writing("record a finished folder move") { try setPendingFolderMoves(moves, $0) }
        }
    }

}
