import Foundation
import GRDB

extension SQLiteStore {
    /// See ``RunStore/predictions(runs:epoch:)``.
    public func predictions(runs ids: [String]? = nil, epoch: Int? = nil) throws -> [PredictionRecord] {
        var clauses: [String] = [], arguments: [any DatabaseValueConvertible] = []
        if let ids {
            clauses.append("run_id IN (\(Self.marks(ids.count)))")
            arguments += ids
        }
        if let epoch {
            clauses.append("epoch = ?")
            arguments.append(epoch)
        }
        let sql = "SELECT run_id, epoch, data FROM predictions" + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "))
            + " ORDER BY run_id, epoch"
        return try reading("read predictions") { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                let run: String = try row.decode(forColumn: "run_id"), epoch: Int = try row.decode(forColumn: "epoch")
                guard case let .blob(data) = (row["data"] as DatabaseValue).storage else {
                    throw StoreError(description: "the predictions of run \(run) at epoch \(epoch) are damaged: not a blob; help: train the run again (or delete its predictions)")
                }
                return PredictionRecord(runID: run, epoch: epoch, log: try PredictionLog(decoding: data, run: run, epoch: epoch))
            }
        }
    }

    /// See ``RunStore/predictionEpochs(runs:)``.
    public func predictionEpochs(runs ids: [String]? = nil) throws -> [String: [Int]] {
        var sql = "SELECT run_id, epoch FROM predictions"
        if let ids { sql += " WHERE run_id IN (\(Self.marks(ids.count)))" }
        sql += " ORDER BY run_id, epoch"
        return try reading("read prediction epochs") { db in
            var out: [String: [Int]] = [:]
            for row in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(ids ?? [])) {
                out[try row.decode(forColumn: "run_id"), default: []].append(try row.decode(forColumn: "epoch"))
            }
            return out
        }
    }
}
