import Foundation
import GRDB
import ZooAnalysis
import ZooLab
import ZooReport
import ZooStore

/// Fuzzing of store rows (issue 11: "the store is trusted"): a valid store is copied, one to three
/// of its cells are overwritten with hostile values (NULLs, wrong types, path traversals, SQL
/// wildcards, huge or non-finite numbers, malformed or deeply nested JSON), a row may be deleted
/// or a junk row inserted, and then every reader runs on it: opening, listing, metrics and
/// checkpoints, prefix lookup, a claim, the report tables and exports, the identity migration.
/// A thrown error is the expected outcome; a trap or crash is a failure (the crash handler prints
/// the path of the store that caused it).
struct StoreRowsFuzz {
    let folder: URL

    /// Values a hostile or corrupt store may hold in any cell.
    static let hostile: [DatabaseValue] = [
        .null, "".databaseValue, "../../escaped".databaseValue, "%".databaseValue, "_".databaseValue,
        String(repeating: "a", count: 100_000).databaseValue, (-1).databaseValue, Int64.max.databaseValue, Int64.min.databaseValue,
        1e308.databaseValue, (-1e308).databaseValue, "NaN".databaseValue, "bogus".databaseValue, "{\"seed\":".databaseValue,
        "{\"seed\":1e999}".databaseValue, "[]".databaseValue, (String(repeating: "[", count: 100_000)).databaseValue,
        "{\"zoo_version\":1,\"threads\":\"x\"}".databaseValue, Data([0xff, 0x00, 0xfe]).databaseValue,
        "0123456789abcdef".databaseValue, "running".databaseValue, "pending".databaseValue, "v1/epoch-1.safetensors".databaseValue,
        // Prediction blobs: a header claiming 2³² − 1 examples, a truncated record, a class out of range.
        Data([1, 0, 10, 0, 0xff, 0xff, 0xff, 0xff]).databaseValue, Data([1, 0, 10, 0, 1, 0, 0, 0, 3, 3, 0]).databaseValue,
        Data([1, 0, 2, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0]).databaseValue,
    ]

    /// Tables and the columns a mutation may overwrite.
    static let columns: [(table: String, columns: [String])] = [
        ("runs", ["id", "config", "group_key", "status", "created_at", "started_at", "host", "owner", "lease_expires", "attempts",
                  "epochs_done", "error", "provenance"]),
        ("metrics", ["run_id", "epoch", "step", "seconds", "train_loss", "test_accuracy", "nan_columns", "member_seconds", "running_loss"]),
        ("checkpoints", ["run_id", "epoch", "path", "sha256", "bytes"]),
        ("sweeps", ["id", "name", "spec"]),
        ("sweep_runs", ["sweep_id", "run_id", "label"]),
        ("meta", ["key", "value"]),
        ("predictions", ["run_id", "epoch", "data"]),
    ]

    /// Writes the pristine store: a small sweep, trained by hand-written rows (no training needed).
    func makePristine() throws -> URL {
        let url = folder.appendingPathComponent("pristine.sqlite")
        let store = try SQLiteStore(path: url)
        let spec = """
            name: fuzz
            base: {model: mlp, model.hidden: "4", data: teacher-student, data.train: 100, data.test: 50, data.input-size: 4, epochs: 2}
            grid: {seed: [0, 1, 2], lr: [0.01, 0.1]}
            """
        let plan = try SweepPlan.make(try SweepSpec.parse(spec, file: "fuzz.yaml"))
        try store.addSweep(id: plan.sweepID, name: "fuzz", spec: spec, runs: plan.runs.map { ($0.id, $0.canonical, $0.groupKey) })
        let provenance = ZooVersion.provenance(threads: 1)
        let claimed = try store.claim(owner: ClaimOwner(worker: 0), limit: 3, lease: 60, sweep: plan.sweepID, provenance: provenance)
        for (k, run) in claimed.enumerated() {
            for epoch in 1...2 {
                let predictions = try PredictionLog(classes: 3, predicted: [0, 1, 2, 2], labels: [0, 1, 1, 0],
                                                    trueClassProbability: [0.9, 0.5, 0.2, 0.1], predictedClassProbability: [0.9, 0.5, 0.7, 0.8])
                try store.record(MetricRecord(runID: run.id, epoch: epoch, step: epoch * 2,
                                              values: ["train_loss": 1 / Double(epoch), "test_accuracy": 0.5, "seconds": 0.1, "running_loss": .nan],
                                              predictions: predictions))
                try store.recordCheckpoint(run: run.id, epoch: epoch, sha256: String(repeating: "0", count: 64), bytes: 10)
            }
            if k == 0 { try store.finish(run: run.id, owner: ClaimOwner(worker: 0), status: .done) }
        }
        try store.setMetadata(IdentityMigration.metadataKey, String(ConfigSchema.version))
        return url
    }

    /// One mutated copy of the pristine store at `target`.
    func mutate(_ pristine: URL, into target: URL, _ random: inout SplitMix64) throws {
        let fm = FileManager.default
        for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(atPath: target.path + suffix) }
        try? fm.removeItem(atPath: target.path + ".checkpoints")
        try fm.copyItem(at: pristine, to: target)
        let queue = try DatabaseQueue(path: target.path)
        try queue.write { db in
            for _ in 0...(random.next() % 3) {
                let (table, columns) = Self.columns[Int(random.next() % UInt64(Self.columns.count))]
                switch random.next() % 8 {
                case 0:
                    try? db.execute(sql: "DELETE FROM \(table) WHERE rowid IN (SELECT rowid FROM \(table) ORDER BY random() LIMIT 1)")
                case 1:
                    let values = columns.map { _ in Self.hostile[Int(random.next() % UInt64(Self.hostile.count))] }
                    try? db.execute(sql: "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))",
                                    arguments: StatementArguments(values))
                default:
                    let column = columns[Int(random.next() % UInt64(columns.count))]
                    let value = Self.hostile[Int(random.next() % UInt64(Self.hostile.count))]
                    let rows = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0
                    guard rows > 0 else { continue }
                    try? db.execute(sql: "UPDATE \(table) SET \(column) = ? WHERE rowid = (SELECT rowid FROM \(table) LIMIT 1 OFFSET ?)",
                                    arguments: [value, Int(random.next() % UInt64(rows))])
                }
            }
        }
    }

    /// Every reader of a store on `url`; returns the first error, nil when all succeeded.
    func readEverything(_ url: URL, _ random: inout SplitMix64) -> Error? {
        do {
            let store = try SQLiteStore(path: url)
            _ = try store.runs()
            _ = try store.metrics()
            _ = try store.checkpoints()
            _ = try? store.run(matching: ["0", "%", "_", "../", ""][Int(random.next() % 5)])
            let rows = try RunRows(store: store)
            _ = Reports.csv(rows)
            _ = Reports.jsonl(rows)
            _ = Reports.runList(rows).render()
            _ = Reports.summaryBySeed(rows).render()
            _ = try? store.predictions(runs: nil, epoch: nil)
            if let groups = try? Variability.study(store: store, runs: rows.runs.map { ($0.id, rows.configs[$0.id] ?? [:]) }) {
                _ = VariabilityReport.summary(groups).render()
                _ = VariabilityReport.csv(groups)
            }
            if let summary = try? ZooSummary(rows: rows, options: .init(epoch: .best, success: SuccessCriterion(column: "test_accuracy", comparison: .atLeast, threshold: 0.5))) {
                for format in SummaryFormat.allCases { _ = Reports.summary(summary, format: format) }
            }
            _ = try store.claim(owner: ClaimOwner(worker: 1), limit: 4, lease: 60)
            try store.setMetadata(IdentityMigration.metadataKey, "1")
            _ = try IdentityMigration.migrate(store, data: DataCache())
            return nil
        } catch { return error }
    }
}
