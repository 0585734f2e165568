import Foundation

/// Appends one JSON object per line to `events.jsonl`: a run's history, readable with
/// `pandas.read_json(path, lines=True)`.
///
/// Lines: `{"event": "start", …}`, `{"event": "epoch", "epoch": 1, "train_loss": …, "test_accuracy": …}`,
/// `{"event": "diverged", …}`, `{"event": "end", "status": "completed", …}`. Non-finite numbers
/// are written as the strings "NaN", "Infinity", "-Infinity" (JSON has no literal for them).
public final class EventLog {
    private let handle: FileHandle
    public let url: URL

    /// Opens (creating or appending to) the log at `url`.
    public init(url: URL) throws {
        self.url = url
        if !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
            }
        }
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    /// Writes one event line and flushes it to the file.
    public func write(_ event: String, _ fields: [String: Any]) throws {
        var object = fields.mapValues(Self.jsonSafe)
        object["event"] = event
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        try handle.write(contentsOf: data + Data("\n".utf8))
    }

    /// The fields of an epoch's metrics, flattened: `train_loss`, `validation_accuracy`, …
    public static func fields(of m: EpochMetrics) -> [String: Any] {
        var f: [String: Any] = ["epoch": m.epoch, "step": m.step, "lr": m.learningRate, "batch_size": m.batchSize, "seconds": m.seconds,
                                "member_seconds": m.memberSeconds, "running_loss": m.running.loss, "running_accuracy": m.running.accuracy]
        if let t = m.train { f["train_loss"] = t.loss; f["train_accuracy"] = t.accuracy }
        if let v = m.validation { f["validation_loss"] = v.loss; f["validation_accuracy"] = v.accuracy }
        if let t = m.test { f["test_loss"] = t.loss; f["test_accuracy"] = t.accuracy }
        return f
    }

    private static func jsonSafe(_ value: Any) -> Any {
        switch value {
        case let f as Float: return f.isFinite ? Double("\(f)")! : jsonSafe(Double(f))  // shortest decimal of the Float
        case let d as Double where d.isNaN: return "NaN"
        case let d as Double where d.isInfinite: return d > 0 ? "Infinity" : "-Infinity"
        default: return value
        }
    }
}
