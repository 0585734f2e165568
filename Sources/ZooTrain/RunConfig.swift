import Foundation
import ZooData
import ZooNN
import ZooTensor

/// A model by catalog name plus options, as written in a config.
public struct ModelSpec: Codable, Sendable, Equatable, Hashable {
    public var name: String
    public var options: [String: String]
    public init(name: String, options: [String: String] = [:]) {
        self.name = name
        self.options = options
    }
}

/// Everything that defines one training run: model, data, training settings, frozen parameters.
/// Its JSON is `config.json` of a run and the `config` metadata of every checkpoint.
public struct RunConfig: Codable, Sendable, Equatable {
    /// The schema this Zoo writes; a config of a newer schema is refused.
    public static let currentSchemaVersion = 1
    /// Bumped when the meaning of a field changes.
    public var schemaVersion: Int = currentSchemaVersion
    public var model: ModelSpec
    public var data: DataSpec
    public var training: TrainingConfig
    /// Glob patterns of parameters that are not trained.
    public var frozen: [String]
    /// When set, only parameters matching one of these glob patterns are trained (say, batch
    /// norm's `*.weight` and `*.bias` of `bn*` layers: Frankle et al. 2021, "Training BatchNorm and
    /// Only BatchNorm"); `frozen` still applies.
    public var trainOnly: [String]?
    /// How the run starts from another run's checkpoint; nil: from its own initialization.
    public var branch: Branch?

    public init(model: ModelSpec, data: DataSpec, training: TrainingConfig, frozen: [String] = [], trainOnly: [String]? = nil,
                branch: Branch? = nil) {
        self.model = model
        self.data = data
        self.training = training
        self.frozen = frozen
        self.trainOnly = trainOnly
        self.branch = branch
    }

    /// The trainer of this config.
    public var trainer: Trainer { Trainer(config: training, frozen: frozen, trainOnly: trainOnly ?? []) }

    /// Canonical JSON: sorted keys, so that equal configs give equal bytes.
    public func json(pretty: Bool = false) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    /// Decodes a config from JSON, naming `source` in the error.
    public static func decode(_ json: String, source: String) throws -> RunConfig {
        do {
            return try JSONDecoder().decode(RunConfig.self, from: Data(json.utf8))
        } catch {
            throw TrainingConfigError(description: "\(source): not a valid run config: \(error)")
        }
    }

    /// The model built for `data`, its initial weights keyed by the training seed.
    public func makeModel(for data: TrainingData) throws -> any Module {
        try makeModel(for: data, key: RandomKey(seed: training.seed, stream: 0x6d6f_6465_6c))  // "model"
    }

    /// The model built for `data` with its initial weights drawn from `key`.
    public func makeModel(for data: TrainingData, key: RandomKey) throws -> any Module {
        try ModelCatalog.make(model.name, options: model.options, input: ModelInput(shape: data.inputShape, classCount: data.train.classCount),
                              key: key)
    }
}

extension RunConfig {
    /// The runs that may train as one population share this text (the planner stores its hash as
    /// the run's group): the data, ``PopulationTrainer/SharedSettings``, and the model's
    /// ``Population/signature(of:)`` — or, for a model that does not stack, its name and options
    /// (such runs are claimed together and train one after another).
    /// - Parameter model: this config's model, built (its initial weights do not matter).
    public func populationKey(model: any Module) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func json<T: Encodable>(_ value: T) -> String { String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self) }
        let architecture = (try? Population.signature(of: model)) ?? "does not stack: \(json(self.model))"
        return "data \(json(data))\nsettings \(json(PopulationTrainer.SharedSettings(trainer)))\n\(architecture)"
    }
}
