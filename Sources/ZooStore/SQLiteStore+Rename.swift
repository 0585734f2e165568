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
    /// The `meta` key holding the folder operations of a committed rename not yet done (JSON list).
    static let pendingFolderMovesKey = "pending_folder_moves"

    /// A checkpoint folder operation: the folder `from` (a run id) moves to `to`, merging file by
    /// file into a folder already there, or is removed when `to` is nil (its run was dropped).
    struct FolderMove: Codable, Equatable {
        var from: String
        var to: String?
    }

    /// See ``RunStore/renameRuns(_:)``. Renames apply in order. A new id may be an existing run's
    /// (the two collapse; on a tie the existing run stays), or another rename's new id, but not
    /// the old id of another rename that moves: a chain `a → b, b → c` is refused (a rename that
    /// keeps its id and only rewrites the config is fine). Ids must be folder names
    /// (not empty, `.` or `..`, no `/`).
    /// - Complexity: one transaction with a few statements per rename, then one small write per
    ///   folder operation.
    public func renameRuns(_ renames: [RunRename]) throws {
        let olds = Set(renames.map(\.old)), moving = Set(renames.filter { $0.old != $0.new }.map(\.old))
        for r in renames {
            for id in [r.old, r.new] where !Self.isFolderName(id) {
                throw StoreError(description: "\(path.path): cannot rename run '\(r.old)' to '\(r.new)': '\(id)' is not a valid run id (it names a checkpoint folder)")
            }
            if r.new != r.old, moving.contains(r.new) {
                throw StoreError(description: "\(path.path): cannot rename run '\(r.old)' to '\(r.new)': '\(r.new)' is itself renamed in the same call; help: rename '\(r.new)' first, in a call of its own")
            }
        }
        guard olds.count == renames.count else {
            let twice = Dictionary(grouping: renames, by: \.old).filter { $0.value.count > 1 }.keys.sorted()
            throw StoreError(description: "\(path.path): cannot rename runs: \(twice.joined(separator: ", ")) renamed more than once")
        }
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
    private func rename(_ r: RunRename, _ db: Database) throws -> [FolderMove] {
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
            return [FolderMove(from: r.old, to: nil)]
        }
        var moves: [FolderMove] = []
        if try Self.progress(of: r.new, db) != nil {
            // The renamed run is further along: the one under the new id goes (its sweep memberships stay).
            try Self.deleteRun(r.new, db)
            moves.append(FolderMove(from: r.new, to: nil))
        }
        try db.execute(sql: "UPDATE runs SET id = ?, config = ?, group_key = ? WHERE id = ?", arguments: [r.new, r.config, r.groupKey, r.old])
        try db.execute(sql: "UPDATE metrics SET run_id = ? WHERE run_id = ?", arguments: [r.new, r.old])
        try db.execute(sql: "UPDATE predictions SET run_id = ? WHERE run_id = ?", arguments: [r.new, r.old])
        try db.execute(sql: "UPDATE measures SET run_id = ? WHERE run_id = ?", arguments: [r.new, r.old])
        try db.execute(sql: "UPDATE measures SET other_run = ? WHERE other_run = ?", arguments: [r.new, r.old])
        try db.execute(sql: "DELETE FROM measure_claims WHERE run_id = ? OR other_run = ?", arguments: [r.old, r.old])
        for row in try Row.fetchAll(db, sql: "SELECT epoch, path FROM checkpoints WHERE run_id = ?", arguments: [r.old]) {
            let epoch: Int = try row.decode(forColumn: "epoch"), path: String = try row.decode(forColumn: "path")
            // "OLD/epoch-N.safetensors" follows its folder; a path outside it (not written by Zoo) stays.
            let moved = path.hasPrefix(r.old + "/") ? r.new + path.dropFirst(r.old.count) : path
            try db.execute(sql: "UPDATE checkpoints SET run_id = ?, path = ? WHERE run_id = ? AND epoch = ?", arguments: [r.new, moved, r.old, epoch])
        }
        for row in try Row.fetchAll(db, sql: "SELECT step, path FROM step_checkpoints WHERE run_id = ?", arguments: [r.old]) {
            let step: Int = try row.decode(forColumn: "step"), path: String = try row.decode(forColumn: "path")
            let moved = path.hasPrefix(r.old + "/") ? r.new + path.dropFirst(r.old.count) : path
            try db.execute(sql: "UPDATE step_checkpoints SET run_id = ?, path = ? WHERE run_id = ? AND step = ?", arguments: [r.new, moved, r.old, step])
        }
        // Branches keep pointing at their parent under its new id.
        try db.execute(sql: "UPDATE runs SET parent = ? WHERE parent = ?", arguments: [r.new, r.old])
        try Self.moveSweepMemberships(from: r.old, to: r.new, db)
        return moves + [FolderMove(from: r.old, to: r.new)]
    }

    /// How far a run got, comparable: done > diverged > failed > running > pending, then more epochs.
    /// Nil when there is no such run.
    private static func progress(of id: String, _ db: Database) throws -> Progress? {
        guard let row = try Row.fetchOne(db, sql: "SELECT status, epochs_done FROM runs WHERE id = ?", arguments: [id]) else { return nil }
        let order: [RunStatus] = [.pending, .running, .failed, .diverged, .done]
        // An unknown status reads as failed, as everywhere else.
        let status = RunStatus(rawValue: try row.decode(forColumn: "status")) ?? .failed
        return Progress(status: order.firstIndex(of: status) ?? 0, epochs: try row.decode(forColumn: "epochs_done"))
    }

    private struct Progress: Comparable {
        var status: Int
        var epochs: Int
        static func < (a: Progress, b: Progress) -> Bool { (a.status, a.epochs) < (b.status, b.epochs) }
    }

    /// Deletes a run's row, metrics and checkpoint rows; its sweep memberships are the caller's to
    /// move or keep.
    private static func deleteRun(_ id: String, _ db: Database) throws {
        for table in ["metrics", "checkpoints", "step_checkpoints", "predictions"] {
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

    /// Whether `id` can name a folder inside the checkpoint folder.
    static func isFolderName(_ id: String) -> Bool {
        !id.isEmpty && id != "." && id != ".." && !id.contains("/") && !id.contains("\0")
    }

    // MARK: - Folder moves

    /// The folder operations recorded in `meta`, checked: a malformed entry is an error naming the key.
    private func pendingFolderMoves(_ db: Database) throws -> [FolderMove] {
        guard let json = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [Self.pendingFolderMovesKey]) else { return [] }
        let source = "\(path.path): meta '\(Self.pendingFolderMovesKey)'"
        let moves: [FolderMove]
        do { moves = try JSONDecoder().decode([FolderMove].self, from: Data(json.utf8)) } catch {
            throw StoreError(description: "\(source) is not a list of {\"from\", \"to\"} folder moves: \(error)")
        }
        for m in moves where !Self.isFolderName(m.from) || !(m.to.map(Self.isFolderName) ?? true) {
            throw StoreError(description: "\(source): '\(m.from)' → '\(m.to ?? "")' leaves the checkpoint folder")
        }
        return moves
    }

    private func setPendingFolderMoves(_ moves: [FolderMove], _ db: Database) throws {
        if moves.isEmpty {
            try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [Self.pendingFolderMovesKey])
        } else {
            let json = String(decoding: try JSONEncoder().encode(moves), as: UTF8.self)
            try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [Self.pendingFolderMovesKey, json])
        }
    }

    /// Does the pending folder operations in order, striking each off once done. Call with the
    /// open lock held (``exclusively(_:)``).
    func finishFolderMoves() throws {
        var moves = try reading("read pending folder moves") { try pendingFolderMoves($0) }
        while let move = moves.first {
            try perform(move)
            moves.removeFirst()
            try writing("record a finished folder move") { try setPendingFolderMoves(moves, $0) }
        }
    }

    /// One folder operation; safe to redo after an interruption.
    private func perform(_ move: FolderMove) throws {
        let files = FileManager.default
        let from = checkpointFolder.appendingPathComponent(move.from)
        let target = move.to.map { checkpointFolder.appendingPathComponent($0) }
        do {
            guard files.fileExists(atPath: from.path) else { return }
            guard let target else { return try files.removeItem(at: from) }
            guard files.fileExists(atPath: target.path) else { return try files.moveItem(at: from, to: target) }
            for name in try files.contentsOfDirectory(atPath: from.path) {
                let destination = target.appendingPathComponent(name)
                if files.fileExists(atPath: destination.path) { try files.removeItem(at: destination) }
                try files.moveItem(at: from.appendingPathComponent(name), to: destination)
            }
            try files.removeItem(at: from)
        } catch {
            let what = target.map { "move \(from.path) to \($0.path)" } ?? "remove \(from.path)"
            throw StoreError(description: "\(path.path): cannot \(what) (a run rename's checkpoint folder; retried when the store is next opened): \(error)")
        }
    }
}
