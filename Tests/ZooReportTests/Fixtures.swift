import Foundation
import ZooStore

/// Stores written through the store API, with metrics and measures that follow known formulas.
enum Fixtures {
    static let script = "<script>alert(1)</script>"
    static let quotes = "\"'&../../etc"
    static let imageTag = "<img src=x onerror=alert(2)>"

    static func temporaryFolder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-report-\(UUID())")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A zoo of optimizer × lr × seed (12 runs) over `epochs` epochs, with three measures at the
    /// last epoch. `hostile`: run ids, config values, a config key and a measure name are markup, quotes and paths.
    static func store(in folder: URL, hostile: Bool = false, epochs: Int = 6, seeds: [Int] = [0, 1, 2],
                      optimizers: [String]? = nil, lrs: [Double] = [0.01, 0.1]) throws -> SQLiteStore {
        let store = try SQLiteStore(path: folder.appendingPathComponent("z.sqlite"))
        let optimizers = optimizers ?? (hostile ? [script, quotes] : ["adam", "sgd"])
        var runs: [(id: String, config: String, groupKey: String)] = []
        var index: [String: (Int, Double, Int)] = [:]
        for (o, optimizer) in optimizers.enumerated() {
            for lr in lrs {
                for seed in seeds {
                    var config: [String: Any] = ["schema": 1, "model": "mlp", "optimizer": optimizer, "lr": lr, "seed": seed]
                    if hostile { config[imageTag] = "../" + script }
                    let json = String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), as: UTF8.self)
                    let id = (hostile ? "../\(script)" : "run") + "-\(o)-\(lr)-\(seed)"
                    runs.append((id, json, "g"))
                    index[id] = (o, lr, seed)
                }
            }
        }
        try store.addSweep(id: "s", name: hostile ? script : "fixture", spec: "", runs: runs)
        let owner = ClaimOwner(worker: 0)
        _ = try store.claim(owner: owner, limit: 1000, lease: 600)
        var tasks: [MeasureTask] = []
        for (id, (o, lr, seed)) in index.sorted(by: { $0.key < $1.key }) {
            let ceiling = 0.7 + 0.1 * Double(o) + lr + 0.01 * Double(seed)
            for e in 1...epochs {
                let progress = 1 - exp(-Double(e) / 2)
                let test = ceiling * progress, train = min(1, (ceiling + 0.05 + lr) * progress)
                try store.record(MetricRecord(runID: id, epoch: e, step: e * 10, values: [
                    "test_accuracy": test, "train_accuracy": train, "test_loss": 2 * (1 - test) + 0.05, "train_loss": 2 * (1 - train) + 0.01,
                ]))
            }
            try store.finish(run: id, owner: owner, status: .done)
            for measure in ["l2_norm", "sharpness", hostile ? imageTag : "path_norm"] {
                tasks.append(MeasureTask(runID: id, epoch: epochs, measure: measure, version: 1, settings: "{}"))
            }
        }
        for task in try store.claimMeasures(tasks, owner: owner, limit: 10_000, lease: 600) {
            let (o, lr, seed) = index[task.runID]!
            let value = task.measure == "l2_norm" ? 10 + lr * 50 + Double(seed) : task.measure == "sharpness" ? pow(10, Double(o) * 3 + lr * 10) : Double(seed) - lr
            try store.recordMeasures(task, values: ["": value], seconds: 0.1, error: nil, owner: owner)
        }
        return store
    }
}
