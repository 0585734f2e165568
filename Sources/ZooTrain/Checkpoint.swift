import Foundation
import ZooTensor

/// Training checkpoints as safetensors files that Python opens with `safetensors.numpy.load_file`.
///
/// The file holds the model's state dict under its own names (so it loads straight into the
/// PyTorch twin after dropping the `optimizer.` entries), the optimizer state under
/// `optimizer.<name>`, pruning masks (``TrainingState/masks``) under `mask.<name>`, and string metadata: `format`, `config` (the run's JSON config), `epoch`,
/// `step`, and the early-stopping counters. Random numbers are a pure function of (seed, epoch,
/// step), so the counters are the whole random state.
public enum Checkpoint {
    /// The value of the `format` metadata key.
    public static let format = "zoo-checkpoint-1"
    static let optimizerPrefix = "optimizer"
    static let maskPrefix = "mask"

    /// The tensors and metadata of `state` with the run's `config` JSON.
    public static func contents(of state: TrainingState, config: String) -> (tensors: NamedTensors, metadata: [String: String]) {
        var tensors = state.model
        tensors.append(contentsOf: state.optimizer, prefix: optimizerPrefix)
        tensors.append(contentsOf: state.masks, prefix: maskPrefix)
        var metadata = ["format": format, "config": config, "epoch": String(state.epoch), "step": String(state.step),
                        "epochs_without_improvement": String(state.epochsWithoutImprovement)]
        if let b = state.bestValidationLoss { metadata["best_validation_loss"] = String(b) }
        return (tensors, metadata)
    }

    /// Writes `state` atomically (temporary file, then rename) to `url`.
    public static func write(_ state: TrainingState, config: String, to url: URL) throws {
        let c = contents(of: state, config: config)
        try Safetensors.write(c.tensors, metadata: c.metadata, to: url)
    }

    /// Reads a checkpoint written by ``write(_:config:to:)``.
    /// - Throws: ``CheckpointError`` when the file is not a Zoo checkpoint, or the safetensors error.
    public static func read(from url: URL) throws -> (state: TrainingState, config: String) {
        let (tensors, metadata) = try Safetensors.read(from: url)
        guard metadata["format"] == format else {
            throw CheckpointError(description: "\(url.path): not a Zoo checkpoint (metadata 'format' is \(metadata["format"].map { "'\($0)'" } ?? "missing"), expected '\(format)')")
        }
        guard let epoch = metadata["epoch"].flatMap(Int.init), let step = metadata["step"].flatMap(Int.init), let config = metadata["config"] else {
            throw CheckpointError(description: "\(url.path): metadata lacks 'epoch', 'step' or 'config'")
        }
        guard epoch >= 0, step >= 0 else {
            throw CheckpointError(description: "\(url.path): metadata 'epoch' = \(epoch) and 'step' = \(step) must not be negative")
        }
        if let saved = try? JSONDecoder().decode(SchemaProbe.self, from: Data(config.utf8)), saved.schemaVersion > RunConfig.currentSchemaVersion {
            throw CheckpointError(description: "\(url.path): written with run config schema \(saved.schemaVersion), newer than this Zoo's \(RunConfig.currentSchemaVersion); help: use a newer Zoo")
        }
        let model = tensors.filter { !$0.hasPrefix(optimizerPrefix + ".") && !$0.hasPrefix(maskPrefix + ".") }
        let optimizer = tensors.children(of: optimizerPrefix)
        let state = TrainingState(model: model, optimizer: optimizer, epoch: epoch, step: step,
                                  bestValidationLoss: metadata["best_validation_loss"].flatMap(Float.init),
                                  epochsWithoutImprovement: metadata["epochs_without_improvement"].flatMap(Int.init) ?? 0,
                                  masks: tensors.children(of: maskPrefix))
        return (state, config)
    }
}

/// The schema version of a run config, read before the rest.
private struct SchemaProbe: Decodable { var schemaVersion: Int }

/// A file that is a valid safetensors file but not a Zoo checkpoint.
public struct CheckpointError: Error, CustomStringConvertible {
    public var description: String
}
