import Foundation
import GRDB

extension SQLiteStore {
    // MARK: - Measures

    /// See ``RunStore/claimMeasures(_:owner:limit:lease:isAlive:)``: one write transaction.
    public func claimMeasures(_ tasks: [MeasureTask], owner: ClaimOwner, limit: Int, lease: TimeInterval,
                              isAlive: (Int32) -> Bool) throws -> [MeasureTask] {
        guard limit > 0, !tasks.isEmpty else { return [] }
        return try writing("claim measures") { db in
            let now = Self.now
            var claimed: [MeasureTask] = []
            for t in tasks {
                let key: [any DatabaseValueConvertible] = [t.runID, t.otherRun, t.epoch, t.measure, t.settings]
                let stored = try Int.fetchOne(db, sql: """
                    SELECT version FROM measures WHERE run_id = ? AND other_run = ? AND epoch = ? AND measure = ? AND settings = ? LIMIT 1
                    """, arguments: StatementArguments(key))
                if stored == t.version { continue }
                if let row = try Row.fetchOne(db, sql: """
                    SELECT owner, lease_expires FROM measure_claims WHERE run_id = ? AND other_run = ? AND epoch = ? AND measure = ? AND settings = ?
                    """, arguments: StatementArguments(key)) {
                    let holder: String = try row.decode(forColumn: "owner"), expires: Double = try row.decode(forColumn: "lease_expires")
                    if expires >= now && holder != owner.id && !ClaimOwner.isGone(holder, host: owner.host, isAlive: isAlive) { continue }
                }
                try db.execute(sql: """
                    INSERT OR REPLACE INTO measure_claims (run_id, other_run, epoch, measure, settings, owner, host, lease_expires)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: StatementArguments(key + [owner.id, owner.host, now + lease]))
                claimed.append(t)
                if claimed.count == limit { break }
            }
            return claimed
        }
    }

    /// See ``RunStore/recordMeasures(_:values:seconds:error:owner:)``.
    public func recordMeasures(_ task: MeasureTask, values: [String: Double], seconds: Double, error: String?, owner: ClaimOwner) throws {
        try writing("record measure \(task.label)") { db in
            let key: [any DatabaseValueConvertible] = [task.runID, task.otherRun, task.epoch, task.measure, task.settings]
            try db.execute(sql: "DELETE FROM measures WHERE run_id = ? AND other_run = ? AND epoch = ? AND measure = ? AND settings = ?",
                           arguments: StatementArguments(key))
            let rows = values.isEmpty ? ["": Double.nan] : values
            for (k, v) in rows {
                try db.execute(sql: """
                    INSERT INTO measures (run_id, other_run, epoch, measure, settings, key, version, value, is_nan, seconds, error, computed_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: StatementArguments(key + [k, task.version] as [any DatabaseValueConvertible]
                                                       + [v.isNaN ? nil : v, v.isNaN ? 1 : 0, seconds, error, Self.now] as [(any DatabaseValueConvertible)?]))
            }
            try db.execute(sql: "DELETE FROM measure_claims WHERE run_id = ? AND other_run = ? AND epoch = ? AND measure = ? AND settings = ? AND owner = ?",
                           arguments: StatementArguments(key + [owner.id]))
        }
    }

    public func releaseMeasures(_ tasks: [MeasureTask], owner: ClaimOwner) throws {
        guard !tasks.isEmpty else { return }
        try writing("release measure claims") { db in
            for t in tasks {
                try db.execute(sql: "DELETE FROM measure_claims WHERE run_id = ? AND other_run = ? AND epoch = ? AND measure = ? AND settings = ? AND owner = ?",
                               arguments: [t.runID, t.otherRun, t.epoch, t.measure, t.settings, owner.id])
            }
        }
    }

    public func renewMeasureClaims(_ tasks: [MeasureTask], owner: ClaimOwner, lease: TimeInterval) throws {
        guard !tasks.isEmpty else { return }
        try writing("renew measure claims") { db in
            for t in tasks {
                try db.execute(sql: """
                    UPDATE measure_claims SET lease_expires = ?
                    WHERE run_id = ? AND other_run = ? AND epoch = ? AND measure = ? AND settings = ? AND owner = ?
                    """, arguments: [Self.now + lease, t.runID, t.otherRun, t.epoch, t.measure, t.settings, owner.id])
            }
        }
    }

    public func measures(runs ids: [String]?) throws -> [MeasureRecord] {
        var sql = "SELECT * FROM measures"
        if let ids { sql += " WHERE run_id IN (\(Self.marks(ids.count)))" }
        sql += " ORDER BY run_id, other_run, epoch, measure, key"
        return try reading("read measures") { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(ids ?? [])).map { row in
                let task = MeasureTask(runID: try row.decode(forColumn: "run_id"), otherRun: try row.decode(forColumn: "other_run"),
                                       epoch: try row.decode(forColumn: "epoch"), measure: try row.decode(forColumn: "measure"),
                                       version: try row.decode(forColumn: "version"), settings: try row.decode(forColumn: "settings"))
                let isNaN: Int = try row.decode(forColumn: "is_nan")
                let value: Double? = try row.decode(forColumn: "value")
                return MeasureRecord(task: task, key: try row.decode(forColumn: "key"), value: isNaN != 0 ? .nan : (value ?? .nan),
                                     seconds: try row.decode(forColumn: "seconds"), error: try row.decode(forColumn: "error"))
            }
        }
    }
}
