import Foundation
import ZooTensor

/// Training checkpoints as safetensors files that Python opens with `safetensors.numpy.load_file`.
///
/// The file holds the model's state dict under its own names (so it loads straight into the
/// PyTorch twin after dropping the `optimizer.` entries), the optimizer state under
/// `optimizer.<name>`, pruning masks (``TrainingState/masks``) under `mask.<name>`, L0 gates under
/// `gate.location.<name>` (the model's tensors are then the gated network, the trained values under
/// `gate.weight.<name>`), and string metadata: `format`, `config` (the run's JSON config), `epoch`,
/// `step`, and the early-stopping counters. Random numbers are a pure function of (seed, epoch,
/// step), so the counters are the whole random state.
public enum Checkpoint {
    /// The value of the `format` metadata key.
    public static let format = "zoo-checkpoint-1"
    static let optimizerPrefix = "optimizer"
    static let maskPrefix = "mask"

    /// The tensors and metadata of `state` with the run's `config` JSON.
    public static func contents(of state: TrainingState, config: String) -> (tensors: NamedTensors, metadata: [String: String]) {
        // With L0 gates the model's tensors are the evaluated (gated, sparse) network, as a reader
        // expects; the trained values and the gates follow under `gate.`.
        var tensors = state.evaluatedModel
        tensors.append(contentsOf: state.optimizer, prefix: optimizerPrefix)
        tensors.append(contentsOf: state.masks, prefix: maskPrefix)
        if !state.gates.isEmpty {
            tensors.append(contentsOf: state.model.filter { state.gates[$0] != nil }, prefix: "\(L0Gates.prefix).weight")
            tensors.append(contentsOf: state.gates, prefix: "\(L0Gates.prefix).location")
        }
        var metadata = ["format": format, "config": config, "epoch": String(state.epoch), "step": String(state.step),
                        "epochs_without_improvement": String(state.epochsWithoutImprovement)]
        if let b = state.bestValidationLoss { metadata["best_validation_loss"] = String(b) }
        if !state.gates.isEmpty { metadata["gate_multiplier"] = String(state.gateMultiplier) }
        return (tensors, metadata)
    }

    /// Writes `state` atomically (temporary file, then rename) to `url`.
    public static func write(_ state: TrainingState, config: String, to url: URL) throws {
        let c = contents(of: state, config: config)
        try Safetensors.write(c.tensors, metadata: c.metadata, to: url)
    }

    /// The bytes of the file ``write(_:config:to:)`` writes.
    public static func encode(_ state: TrainingState, config: String) -> [UInt8] {
        let c = contents(of: state, config: config)
        return Safetensors.encode(c.tensors, metadata: c.metadata)
    }

    /// Reads a checkpoint written by ``write(_:config:to:)``.
    /// - Throws: ``CheckpointError`` when the file is not a Zoo checkpoint, or the safetensors error.
    public static func read(from url: URL) throws -> (state: TrainingState, config: String) {
        let (tensors, metadata) = try Safetensors.read(from: url)
        return try state(tensors, metadata, source: url.path)
    }

    /// Reads a checkpoint's bytes (``encode(_:config:)``); `source` names them in errors.
    /// - Throws: as ``read(from:)``.
    public static func decode(_ bytes: [UInt8], source: String) throws -> (state: TrainingState, config: String) {
        let (tensors, metadata) = try Safetensors.decode(bytes, source: source)
        return try state(tensors, metadata, source: source)
    }

    private static func state(_ tensors: NamedTensors, _ metadata: [String: String], source: String) throws -> (state: TrainingState, config: String) {
        guard metadata["format"] == format else {
            throw CheckpointError(description: "\(source): not a Zoo checkpoint (metadata 'format' is \(metadata["format"].map { "'\($0)'" } ?? "missing"), expected '\(format)')")
        }
        guard let epoch = metadata["epoch"].flatMap(Int.init), let step = metadata["step"].flatMap(Int.init), let config = metadata["config"] else {
            throw CheckpointError(description: "\(source): metadata lacks 'epoch', 'step' or 'config'")
        }
        guard epoch >= 0, step >= 0 else {
            throw CheckpointError(description: "\(source): metadata 'epoch' = \(epoch) and 'step' = \(step) must not be negative")
        }
        if let saved = try? JSONDecoder().decode(SchemaProbe.self, from: Data(config.utf8)), saved.schemaVersion > RunConfig.currentSchemaVersion {
            throw CheckpointError(description: "\(source): written with run config schema \(saved.schemaVersion), newer than this Zoo's \(RunConfig.currentSchemaVersion); help: use a newer Zoo")
        }
        var model = tensors.filter { !$0.hasPrefix(optimizerPrefix + ".") && !$0.hasPrefix(maskPrefix + ".") && !$0.hasPrefix(L0Gates.prefix + ".") }
        let optimizer = tensors.children(of: optimizerPrefix)
        // A gated network's trained (ungated) values, to train on from.
        for (name, t) in tensors.children(of: "\(L0Gates.prefix).weight") where model[name] != nil { model[name] = t }
        let multiplier = metadata["gate_multiplier"].flatMap(Float.init) ?? 0
        let state = TrainingState(model: model, optimizer: optimizer, epoch: epoch, step: step,
                                  bestValidationLoss: metadata["best_validation_loss"].flatMap(Float.init),
                                  epochsWithoutImprovement: metadata["epochs_without_improvement"].flatMap(Int.init) ?? 0,
                                  masks: tensors.children(of: maskPrefix), gates: tensors.children(of: "\(L0Gates.prefix).location"),
                                  gateMultiplier: multiplier)
        return (state, config)
    }
}

/// The schema version of a run config, read before the rest.
private struct SchemaProbe: Decodable { var schemaVersion: Int }

/// A file that is a valid safetensors file but not a Zoo checkpoint.
public struct CheckpointError: Error, CustomStringConvertible {
    public var description: String
}
