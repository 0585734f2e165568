import Foundation

/// What every store's ``RunStore/renameRuns(_:)`` shares: the checks on a list of renames, which
/// of two runs under one id is kept, and the checkpoint folder operations that follow the rows
/// (recorded before they are done, so a crash between leaves work the next opening finishes).
package enum RunRenaming {
    /// The `meta` key holding the folder operations of a committed rename not yet done (JSON list).
    package static let pendingMovesKey = "pending_folder_moves"

    /// A checkpoint folder operation: the folder `from` (a run id) moves to `to`, merging file by
    /// file into a folder already there, or is removed when `to` is nil (its run was dropped).
    package struct FolderMove: Codable, Equatable, Sendable {
        package var from: String
        package var to: String?
        package init(from: String, to: String?) {
            self.from = from
            self.to = to
        }
    }

    /// How far a run got, comparable: done > diverged > failed > running > pending, then more
    /// epochs. An unknown status reads as failed, as everywhere else.
    package struct Progress: Comparable {
        var status: Int
        var epochs: Int
        package init(status: String, epochs: Int) {
            let order: [RunStatus] = [.pending, .running, .failed, .diverged, .done]
            self.status = order.firstIndex(of: RunStatus(rawValue: status) ?? .failed) ?? 0
            self.epochs = epochs
        }
        package static func < (a: Progress, b: Progress) -> Bool { (a.status, a.epochs) < (b.status, b.epochs) }
    }

    /// Refuses renames that cannot apply in order: an id that is no folder name, a new id that is
    /// itself renamed in the same call (a chain), a run renamed twice.
    package static func check(_ renames: [RunRename], store: String) throws {
        let olds = Set(renames.map(\.old)), moving = Set(renames.filter { $0.old != $0.new }.map(\.old))
        for r in renames {
            for id in [r.old, r.new] where !isFolderName(id) {
                throw StoreError(description: "\(store): cannot rename run '\(r.old)' to '\(r.new)': '\(id)' is not a valid run id (it names a checkpoint folder)")
            }
            if r.new != r.old, moving.contains(r.new) {
                throw StoreError(description: "\(store): cannot rename run '\(r.old)' to '\(r.new)': '\(r.new)' is itself renamed in the same call; help: rename '\(r.new)' first, in a call of its own")
            }
        }
        guard olds.count == renames.count else {
            let twice = Dictionary(grouping: renames, by: \.old).filter { $0.value.count > 1 }.keys.sorted()
            throw StoreError(description: "\(store): cannot rename runs: \(twice.joined(separator: ", ")) renamed more than once")
        }
    }

    /// Whether `id` can name a folder inside the checkpoint folder.
    package static func isFolderName(_ id: String) -> Bool {
        !id.isEmpty && id != "." && id != ".." && !id.contains("/") && !id.contains("\0")
    }

    /// A checkpoint path recorded under `old`'s folder, moved to `new`'s; a path outside it (not
    /// written by Zoo) stays.
    package static func movedPath(_ path: String, from old: String, to new: String) -> String {
        path.hasPrefix(old + "/") ? new + path.dropFirst(old.count) : path
    }

    /// The folder operations stored as JSON (a `meta` value), checked: a malformed entry is an
    /// error naming `source`.
    package static func decodeMoves(_ json: String, source: String) throws -> [FolderMove] {
        let moves: [FolderMove]
        do { moves = try JSONDecoder().decode([FolderMove].self, from: Data(json.utf8)) } catch {
            throw StoreError(description: "\(source) is not a list of {\"from\", \"to\"} folder moves: \(error)")
        }
        for m in moves where !isFolderName(m.from) || !(m.to.map(isFolderName) ?? true) {
            throw StoreError(description: "\(source): '\(m.from)' → '\(m.to ?? "")' leaves the checkpoint folder")
        }
        return moves
    }

    package static func encodeMoves(_ moves: [FolderMove]) throws -> String {
        String(decoding: try JSONEncoder().encode(moves), as: UTF8.self)
    }

    /// One folder operation inside `folder`; safe to redo after an interruption.
    package static func perform(_ move: FolderMove, in folder: URL, store: String) throws {
        let files = FileManager.default
        let from = folder.appendingPathComponent(move.from)
        let target = move.to.map { folder.appendingPathComponent($0) }
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
            throw StoreError(description: "\(store): cannot \(what) (a run rename's checkpoint folder; retried when the store is next opened): \(error)")
        }
    }
}

/// Messages both stores write into runs.
package enum RunStoreMessages {
    /// The error of a run that failed because its workers kept stopping.
    package static func gaveUp(lost: Int, why: String) -> String {
        "gave up after \(lost) attempts whose workers stopped without finishing (the last: \(why)); `zoo show RUN` lists them, `zoo sweep run --retry-failed` or `zoo submit --retry-failed` puts it back"
    }
}

