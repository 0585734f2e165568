import Foundation
import PostgresNIO
import ZooStore

extension PostgresStore {
    /// See ``RunStore/claimMeasures(_:owner:limit:lease:isAlive:)``. One transaction; each task's
    /// claim row is inserted, or taken over from the owner just read (a lease that ran out, a gone
    /// process of this host, or this owner), so two workers racing for a task cannot both win.
    public func claimMeasures(_ tasks: [MeasureTask], owner: ClaimOwner, limit: Int, lease: TimeInterval,
                              isAlive: (Int32) -> Bool) throws -> [MeasureTask] {
        guard limit > 0, !tasks.isEmpty else { return [] }
        return try session.transaction("claim measures") { tx in
            let now = try tx.now()
            var claimed: [MeasureTask] = []
            for t in tasks {
                let stored = try tx.rows("""
                    SELECT version FROM measures WHERE run_id = \(t.runID) AND other_run = \(t.otherRun) AND epoch = \(t.epoch)
                    AND measure = \(t.measure) AND settings = \(t.settings) LIMIT 1
                    """).first.map { try $0["version"].decode(Int.self) }
                if stored == t.version { continue }
                let holder = try tx.rows("""
                    SELECT owner, lease_expires FROM measure_claims WHERE run_id = \(t.runID) AND other_run = \(t.otherRun)
                    AND epoch = \(t.epoch) AND measure = \(t.measure) AND settings = \(t.settings)
                    """).first
                let won: Int
                if let holder {
                    let current = try holder["owner"].decode(String.self), expires = try holder["lease_expires"].decode(Double.self)
                    if expires >= now && current != owner.id && !ClaimOwner.isGone(current, host: owner.host, isAlive: isAlive) { continue }
                    won = try tx.execute("""
                        UPDATE measure_claims SET owner = \(owner.id), host = \(owner.host), lease_expires = \(now + lease)
                        WHERE run_id = \(t.runID) AND other_run = \(t.otherRun) AND epoch = \(t.epoch) AND measure = \(t.measure)
                        AND settings = \(t.settings) AND owner = \(current)
                        """)
                } else {
                    won = try tx.execute("""
                        INSERT INTO measure_claims (run_id, other_run, epoch, measure, settings, owner, host, lease_expires)
                        VALUES (\(t.runID), \(t.otherRun), \(t.epoch), \(t.measure), \(t.settings), \(owner.id), \(owner.host), \(now + lease))
                        ON CONFLICT DO NOTHING
                        """)
                }
                guard won > 0 else { continue }
                claimed.append(t)
                if claimed.count == limit { break }
            }
            return claimed
        }
    }

    /// See ``RunStore/recordMeasures(_:values:seconds:error:owner:)``.
    public func recordMeasures(_ task: MeasureTask, values: [String: Double], seconds: Double, error: String?, owner: ClaimOwner) throws {
        let rows = values.isEmpty ? ["": Double.nan] : values
        let t = task
        try session.transaction("record measure \(task.label)") { tx in
            try tx.execute("""
                DELETE FROM measures WHERE run_id = \(t.runID) AND other_run = \(t.otherRun) AND epoch = \(t.epoch)
                AND measure = \(t.measure) AND settings = \(t.settings)
                """)
            let keys = Array(rows.keys), numbers = keys.map { rows[$0]! }
            try tx.execute("""
                INSERT INTO measures (run_id, other_run, epoch, measure, settings, key, version, value, seconds, error, computed_at)
                SELECT \(t.runID), \(t.otherRun), \(t.epoch), \(t.measure), \(t.settings), v.key, \(t.version), v.value, \(seconds), \(error),
                EXTRACT(EPOCH FROM clock_timestamp())
                FROM unnest(\(keys)::text[], \(numbers)::float8[]) AS v(key, value)
                """)
            try tx.execute("""
                DELETE FROM measure_claims WHERE run_id = \(t.runID) AND other_run = \(t.otherRun) AND epoch = \(t.epoch)
                AND measure = \(t.measure) AND settings = \(t.settings) AND owner = \(owner.id)
                """)
        }
    }

    public func releaseMeasures(_ tasks: [MeasureTask], owner: ClaimOwner) throws {
        guard !tasks.isEmpty else { return }
        try session.transaction("release measure claims") { tx in
            for t in tasks {
                try tx.execute("""
                    DELETE FROM measure_claims WHERE run_id = \(t.runID) AND other_run = \(t.otherRun) AND epoch = \(t.epoch)
                    AND measure = \(t.measure) AND settings = \(t.settings) AND owner = \(owner.id)
                    """)
            }
        }
    }

    public func renewMeasureClaims(_ tasks: [MeasureTask], owner: ClaimOwner, lease: TimeInterval) throws {
        guard !tasks.isEmpty else { return }
        try session.transaction("renew measure claims") { tx in
            let now = try tx.now()
            for t in tasks {
                try tx.execute("""
                    UPDATE measure_claims SET lease_expires = \(now + lease)
                    WHERE run_id = \(t.runID) AND other_run = \(t.otherRun) AND epoch = \(t.epoch) AND measure = \(t.measure)
                    AND settings = \(t.settings) AND owner = \(owner.id)
                    """)
            }
        }
    }

    public func measures(runs ids: [String]?) throws -> [MeasureRecord] {
        try session.query("read measures", """
            SELECT run_id, other_run, epoch, measure, settings, key, version, value, seconds, error FROM measures
            WHERE (\(ids)::text[] IS NULL OR run_id = ANY(\(ids)::text[])) ORDER BY run_id, other_run, epoch, measure, key
            """).map { r in
            let task = MeasureTask(runID: try r["run_id"].decode(String.self), otherRun: try r["other_run"].decode(String.self),
                                   epoch: try r["epoch"].decode(Int.self), measure: try r["measure"].decode(String.self),
                                   version: try r["version"].decode(Int.self), settings: try r["settings"].decode(String.self))
            return MeasureRecord(task: task, key: try r["key"].decode(String.self), value: try r["value"].decode(Double?.self) ?? .nan,
                                 seconds: try r["seconds"].decode(Double.self), error: try r["error"].decode(String?.self))
        }
    }
}
