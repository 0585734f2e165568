import Foundation
import ZooData
import ZooNN
import ZooOptim
import ZooTrain

/// The keys a sweep spec may set or vary, their types, ranges and defaults, and how a flat config
/// becomes a ``RunConfig``.
///
/// `model.<option>` and `data.<option>` pass options to the catalogs (`model.activation`,
/// `data.subset`, `data.label-noise`); their defaults come from the catalogs too, so a config
/// that spells out a default and one that omits it are the same run.
public enum ConfigSchema {
    /// Part of every run's identity (``identity(of:)``). The rule for changing keys:
    /// - adding a key whose default keeps the old behaviour needs nothing: configs that do not
    ///   set it keep their ids, since only values that differ from their defaults are hashed;
    /// - changing a key's default, or what an existing value means (so that a config as written
    ///   would train differently), requires bumping this version, which renames every run; stores
    ///   are migrated by ``IdentityMigration``.
    ///
    /// Keys that only add output and do not change training (`checkpoint_every`,
    /// `step_loss_interval`, `record_predictions`) are part of identity too when they differ from
    /// their defaults: a store holds each run's outputs as its config asked for them, and a spec
    /// that asks for more output (predictions, more checkpoints) must plan runs that produce it,
    /// not find the runs trained without it and skip them as done.
    ///
    /// Version 2 (2026-11-30): ids hash only non-default values (version 1 hashed every key with
    /// its default filled in); `train_metrics` defaults to `sample`.
    public static let version = 2

    public enum Kind: Sendable {
        case string(choices: [String]?)
        case int(ClosedRange<Int>)
        case double(ClosedRange<Double>, open: Bool)
        case bool
        case ints
        case strings

        var expected: String {
            switch self {
            case let .string(choices): return choices.map { "one of \($0.joined(separator: ", "))" } ?? "a string"
            case let .int(r): return "an integer in \(r.lowerBound)...\(r.upperBound)"
            case let .double(r, open): return open ? "a number in (\(r.lowerBound), \(r.upperBound)]" : "a number in [\(r.lowerBound), \(r.upperBound)]"
            case .bool: return "true or false"
            case .ints: return "a list of integers"
            case .strings: return "a list of strings"
            }
        }
    }

    public struct Key: Sendable {
        public var name: String
        public var kind: Kind
        public var summary: String
    }

    static let big = 1_000_000_000
    public static let keys: [Key] = [
        Key(name: "model", kind: .string(choices: ModelCatalog.names), summary: "catalog model"),
        Key(name: "data", kind: .string(choices: nil), summary: "data set (fashion-mnist, mnist1d, idx:DIR, …)"),
        Key(name: "optimizer", kind: .string(choices: OptimizerConfig.kinds), summary: "optimizer"),
        Key(name: "lr", kind: .double(0...10, open: true), summary: "learning rate (default 1e-3 for adam/adamw, 1e-2 otherwise)"),
        Key(name: "momentum", kind: .double(0...0.999_999, open: false), summary: "momentum (sgd, rmsprop)"),
        Key(name: "nesterov", kind: .bool, summary: "Nesterov momentum (sgd)"),
        Key(name: "weight_decay", kind: .double(0...10, open: false), summary: "weight decay (decoupled for adamw, default 0.01 there)"),
        Key(name: "beta1", kind: .double(0...0.999_999, open: false), summary: "Adam β₁"),
        Key(name: "beta2", kind: .double(0...0.999_999_999, open: false), summary: "Adam β₂"),
        Key(name: "schedule", kind: .string(choices: ["constant", "step", "multistep", "exponential", "cosine", "one-cycle"]), summary: "learning-rate schedule"),
        Key(name: "schedule_unit", kind: .string(choices: ["epoch", "step"]), summary: "a schedule step is an epoch or an optimizer step"),
        Key(name: "step_size", kind: .int(1...big), summary: "step schedule: decay interval"),
        Key(name: "gamma", kind: .double(0...10, open: true), summary: "step/multistep/exponential decay factor"),
        Key(name: "milestones", kind: .ints, summary: "multistep schedule milestones"),
        Key(name: "warmup", kind: .int(0...big), summary: "cosine schedule warmup steps"),
        Key(name: "min_lr", kind: .double(0...10, open: false), summary: "cosine schedule final learning rate"),
        Key(name: "batch_size", kind: .int(1...big), summary: "samples per step"),
        Key(name: "batch_size_milestones", kind: .ints, summary: "epochs at which the batch size grows (Smith et al. 2017)"),
        Key(name: "batch_size_factor", kind: .int(1...1000), summary: "batch size growth factor"),
        Key(name: "epochs", kind: .int(1...100_000), summary: "passes over the training set"),
        Key(name: "max_steps", kind: .int(0...big), summary: "stop after this many steps (0: no limit)"),
        Key(name: "seed", kind: .int(0...Int(Int32.max)), summary: "seed of init, shuffling, dropout, augmentation"),
        Key(name: "clip_norm", kind: .double(0...1e9, open: false), summary: "clip gradients to this global norm (0: off)"),
        Key(name: "label_smoothing", kind: .double(0...0.999, open: false), summary: "label smoothing ε"),
        Key(name: "early_stopping", kind: .int(0...100_000), summary: "patience in epochs on the validation loss (0: off)"),
        Key(name: "train_metrics", kind: .string(choices: ["sample", "full", "running"]),
            summary: "train loss/accuracy in evaluation mode on a fixed sample of the test set's size, on all of it, or only the running average"),
        Key(name: "stop_at_train_loss", kind: .double(0...1e9, open: false),
            summary: "stop a run once its full-pass train cross-entropy is at most this (needs train_metrics: full; 0: off; epochs is the cap)"),
        Key(name: "step_loss_interval", kind: .int(0...1_000_000),
            summary: "log the mean training loss of every N steps to the store, for the dynamics measures (0: off)"),
        Key(name: "record_predictions", kind: .string(choices: ["off", "test"]),
            summary: "record each test example's predicted class and true-class probability at every epoch (6 bytes an example), for `zoo variability`"),
        Key(name: "freeze", kind: .strings, summary: "glob patterns of parameters not trained"),
        Key(name: "train_only", kind: .strings,
            summary: "glob patterns of the only parameters trained, e.g. batch norm's γ/β (empty: all but `freeze`)"),
        Key(name: "checkpoint_every", kind: .int(0...100_000), summary: "checkpoint every N epochs (0: final only)"),
        Key(name: "checkpoint_steps", kind: .ints,
            summary: "also checkpoint after these optimizer steps (possibly mid-epoch), for branches that rewind to them"),
        Key(name: "parent", kind: .string(choices: nil),
            summary: "branch from this run (its id; a spec's `branches:` fills it in): the run trains once the parent is done"),
        Key(name: "branch_at", kind: .string(choices: nil), summary: "the parent's point the branch starts from: end, epoch:N or step:N"),
        Key(name: "rewind", kind: .string(choices: nil),
            summary: "restart the schedule and budget at this point of the lineage (epoch:N, step:N; none: continue)"),
        Key(name: "rewind_weights", kind: .bool,
            summary: "with rewind, also take the lineage's weights there (weight rewinding); false: learning-rate rewinding"),
        Key(name: "reinit", kind: .bool, summary: "re-draw the branch's weights from the initializer (random re-initialization control)"),
        Key(name: "prune_fraction", kind: .double(0...0.999, open: false),
            summary: "prune this fraction of the remaining prunable weights at the branch point"),
        Key(name: "prune_method", kind: .string(choices: PruningMethod.allCases.map(\.rawValue)), summary: "how pruning chooses weights"),
        Key(name: "prune_exclude", kind: .strings, summary: "glob patterns of prunable weights kept dense (e.g. the output layer)"),
        Key(name: "perturb", kind: .double(0...1e3, open: false), summary: "add Gaussian noise of this deviation to the branch's weights"),
        Key(name: "interpolate_with", kind: .string(choices: nil),
            summary: "start from the line between the parent and this run (its id; done) at branch_at, at interpolate_alpha"),
        Key(name: "interpolate_alpha", kind: .double(0...1, open: false), summary: "the point on that line: 0 the parent, 1 the other run"),
        Key(name: "l0_density", kind: .double(0...0.999, open: false),
            summary: "learn sparsity with L0 hard-concrete gates, the expected density held at most at this (0: off)"),
        Key(name: "l0_dual_lr", kind: .double(0...100, open: true), summary: "L0 gates: ascent step of the density constraint's multiplier"),
        Key(name: "l0_temperature", kind: .double(0...10, open: true), summary: "L0 gates: temperature β of the hard concrete distribution"),
        Key(name: "l0_initial_keep", kind: .double(0...0.999, open: true), summary: "L0 gates: probability that a gate is open at initialization"),
    ]

    public static func key(_ name: String) -> Key? { keys.first { $0.name == name } }

    /// Keys that only matter for some optimizers or schedules: dropped otherwise, so that varying
    /// them where they do nothing does not create distinct runs.
    static func applies(_ key: String, in c: FlatConfig) -> Bool {
        let optimizer = c["optimizer"]?.description ?? "adam"
        let schedule = c["schedule"]?.description ?? "constant"
        let isBranch = !(c["parent"]?.description ?? "").isEmpty
        switch key {
        case "momentum": return optimizer == "sgd" || optimizer == "rmsprop"
        case "nesterov": return optimizer == "sgd"
        case "beta1", "beta2": return optimizer == "adam" || optimizer == "adamw"
        case "step_size": return schedule == "step"
        case "gamma": return ["step", "multistep", "exponential"].contains(schedule)
        case "milestones": return schedule == "multistep"
        case "warmup", "min_lr": return schedule == "cosine"
        case "schedule_unit": return schedule != "constant"
        case "batch_size_factor": return c["batch_size_milestones"].map { !$0.description.isEmpty } ?? false
        case "branch_at", "rewind", "reinit", "prune_fraction", "perturb", "interpolate_with": return isBranch
        case "interpolate_alpha": return isBranch && !(c["interpolate_with"]?.description ?? "").isEmpty
        case "rewind_weights": return isBranch && (c["rewind"]?.description ?? "none") != "none"
        case "prune_method", "prune_exclude": return isBranch && (c["prune_fraction"]?.doubleValue ?? 0) > 0
        case "l0_dual_lr", "l0_temperature", "l0_initial_keep": return (c["l0_density"]?.doubleValue ?? 0) > 0
        default: return true
        }
    }

    /// The defaults of every plain key, given the optimizer.
    static func defaults(for c: FlatConfig) -> FlatConfig {
        let optimizer = c["optimizer"]?.description ?? "adam"
        return [
            "model": .string("zoo-cnn"), "data": .string("fashion-mnist"), "optimizer": .string("adam"),
            "lr": .double(optimizer == "adam" || optimizer == "adamw" ? 1e-3 : 1e-2),
            "momentum": .double(0), "nesterov": .bool(false), "weight_decay": .double(optimizer == "adamw" ? 0.01 : 0),
            "beta1": .double(0.9), "beta2": .double(0.999),
            "schedule": .string("constant"), "schedule_unit": .string("epoch"), "step_size": .int(30), "gamma": .double(0.1),
            "milestones": .list([]), "warmup": .int(0), "min_lr": .double(0),
            "batch_size": .int(32), "batch_size_milestones": .list([]), "batch_size_factor": .int(5),
            "epochs": .int(10), "max_steps": .int(0), "seed": .int(0), "clip_norm": .double(0), "label_smoothing": .double(0),
            "early_stopping": .int(0), "train_metrics": .string("sample"), "freeze": .list([]), "checkpoint_every": .int(1),
            "stop_at_train_loss": .double(0), "step_loss_interval": .int(10), "record_predictions": .string("off"),
            "train_only": .list([]), "checkpoint_steps": .list([]), "parent": .string(""), "branch_at": .string("end"),
            "rewind": .string("none"), "rewind_weights": .bool(true), "reinit": .bool(false), "prune_fraction": .double(0),
            "prune_method": .string("global"), "prune_exclude": .list([]), "perturb": .double(0),
            "interpolate_with": .string(""), "interpolate_alpha": .double(0.5),
            "l0_density": .double(0), "l0_dual_lr": .double(0.05), "l0_temperature": .double(2.0 / 3), "l0_initial_keep": .double(0.9),
        ]
    }

    /// Checks and converts a raw value for `key` (as parsed from YAML) to its typed form.
    /// - Throws: a message (without location) saying what was expected.
    public static func coerce(_ value: ConfigValue, for key: String) throws -> ConfigValue {
        if key.hasPrefix("model.") || key.hasPrefix("data.") {
            switch value {
            case .list(let l): return .string(l.map(\.description).joined(separator: ","))
            default: return .string(value.description)
            }
        }
        guard let k = Self.key(key) else {
            throw ConfigError("unknown key '\(key)'; valid keys: \(keys.map(\.name).joined(separator: ", ")), model.<option>, data.<option>", key: key)
        }
        func bad() -> ConfigError { ConfigError("\(key) = \(value) is invalid: expected \(k.kind.expected)", key: key) }
        switch k.kind {
        case let .string(choices):
            guard case let .string(s) = value else { throw bad() }
            if let choices, !choices.contains(s) { throw bad() }
            return value
        case let .int(range):
            guard let i = value.intValue, range.contains(i) else { throw bad() }
            return .int(i)
        case let .double(range, open):
            guard let d = value.doubleValue, d.isFinite, range.contains(d), !(open && d == range.lowerBound) else { throw bad() }
            return .double(d)
        case .bool:
            guard case .bool = value else { throw bad() }
            return value
        case .ints:
            let items: [ConfigValue] = { if case let .list(l) = value { return l }; return [value] }()
            guard items.allSatisfy({ $0.intValue != nil }) else { throw bad() }
            return .list(items.map { .int($0.intValue!) })
        case .strings:
            let items: [ConfigValue] = { if case let .list(l) = value { return l }; return [value] }()
            guard items.allSatisfy({ if case .string = $0 { return true }; return false }) else { throw bad() }
            return .list(items)
        }
    }

    /// A complete config: defaults filled in (catalog option defaults included), keys that do
    /// not apply removed, every value validated against the catalogs.
    public static func complete(_ given: FlatConfig) throws -> FlatConfig {
        var c = given
        for (k, v) in defaults(for: given) where c[k] == nil { c[k] = v }
        for k in c.keys where !k.hasPrefix("model.") && !k.hasPrefix("data.") && !applies(k, in: c) { c[k] = nil }
        // Catalog options: reject unknown names, fill defaults.
        let modelName = c["model"]!.description
        guard let entry = ModelCatalog.entries.first(where: { $0.name == modelName }) else {
            throw ConfigError("model = \(modelName) is invalid: expected one of \(ModelCatalog.names.joined(separator: ", "))", key: "model")
        }
        for k in c.keys where k.hasPrefix("model.") {
            let option = String(k.dropFirst(6))
            guard entry.options.contains(where: { $0.name == option }) else {
                throw ConfigError("unknown key '\(k)': model \(modelName) has the options \(entry.options.map { "model." + $0.name }.joined(separator: ", "))", key: k)
            }
        }
        for o in entry.options where c["model." + o.name] == nil { c["model." + o.name] = .string(o.defaultValue) }
        let dataName = c["data"]!.description
        guard let dataEntry = DatasetCatalog.entry(for: dataName) else {
            throw ConfigError("data = \(dataName) is invalid: expected one of \(DatasetCatalog.entries.map(\.name).joined(separator: ", "))", key: "data")
        }
        let dataOptions = DatasetCatalog.commonOptions + dataEntry.options
        for k in c.keys where k.hasPrefix("data.") {
            let option = String(k.dropFirst(5))
            guard dataOptions.contains(where: { $0.name == option }) else {
                throw ConfigError("unknown key '\(k)': data \(dataName) has the options \(dataOptions.map { "data." + $0.name }.joined(separator: ", "))", key: k)
            }
        }
        for o in dataOptions where c["data." + o.name] == nil { c["data." + o.name] = .string(o.defaultValue) }
        // Build the typed configs once, to surface every range error now.
        _ = try runConfig(c)
        return c
    }

    /// The ``RunConfig`` of a complete flat config.
    public static func runConfig(_ c: FlatConfig) throws -> RunConfig {
        func d(_ k: String) -> Double { c[k]?.doubleValue ?? defaults(for: c)[k]!.doubleValue! }
        func i(_ k: String) -> Int { c[k]?.intValue ?? defaults(for: c)[k]!.intValue! }
        func s(_ k: String) -> String { c[k]?.description ?? defaults(for: c)[k]!.description }
        func ints(_ k: String) -> [Int] { if case let .list(l)? = c[k] { return l.compactMap(\.intValue) }; return [] }
        func strings(_ k: String) -> [String] { if case let .list(l)? = c[k] { return l.map(\.description) }; return [] }
        let lr = Float(d("lr")), wd = Float(d("weight_decay"))
        let optimizer: OptimizerConfig
        switch s("optimizer") {
        case "sgd": optimizer = .sgd(SGD(learningRate: lr, momentum: Float(d("momentum")), nesterov: c["nesterov"] == .bool(true), weightDecay: wd))
        case "adamw": optimizer = .adamW(AdamW(learningRate: lr, beta1: Float(d("beta1")), beta2: Float(d("beta2")), weightDecay: wd))
        case "rmsprop": optimizer = .rmsprop(RMSprop(learningRate: lr, momentum: Float(d("momentum")), weightDecay: wd))
        default: optimizer = .adam(Adam(learningRate: lr, beta1: Float(d("beta1")), beta2: Float(d("beta2")), weightDecay: wd))
        }
        let unit: TrainingConfig.ScheduleUnit = s("schedule_unit") == "step" ? .step : .epoch
        let epochs = i("epochs"), maxSteps = i("max_steps")
        let total = unit == .epoch ? epochs : (maxSteps > 0 ? maxSteps : epochs * 1000)
        let schedule: LearningRateSchedule
        switch s("schedule") {
        case "step": schedule = .step(stepSize: i("step_size"), gamma: Float(d("gamma")))
        case "multistep": schedule = .multiStep(milestones: ints("milestones"), gamma: Float(d("gamma")))
        case "exponential": schedule = .exponential(gamma: Float(d("gamma")))
        case "cosine": schedule = .cosine(totalSteps: total, warmupSteps: i("warmup"), minimum: Float(d("min_lr")))
        case "one-cycle": schedule = .oneCycle(totalSteps: total, maxLearningRate: lr)
        default: schedule = .constant
        }
        let milestones = ints("batch_size_milestones")
        let training = TrainingConfig(
            epochs: epochs, maxSteps: maxSteps > 0 ? maxSteps : nil, batchSize: i("batch_size"), optimizer: optimizer,
            schedule: schedule, scheduleUnit: unit,
            batchSizeSchedule: milestones.isEmpty ? .constant : .multiStep(milestones: milestones, factor: i("batch_size_factor")),
            gradientClipNorm: d("clip_norm") > 0 ? Float(d("clip_norm")) : nil, labelSmoothing: Float(d("label_smoothing")),
            earlyStoppingPatience: i("early_stopping") > 0 ? i("early_stopping") : nil,
            trainMetrics: TrainingConfig.TrainMetrics(rawValue: s("train_metrics")) ?? .sample,
            stopAtTrainLoss: d("stop_at_train_loss") > 0 ? Float(d("stop_at_train_loss")) : nil,
            stepLossInterval: i("step_loss_interval") > 0 ? i("step_loss_interval") : nil,
            recordPredictions: TrainingConfig.RecordedSplit(rawValue: s("record_predictions")),
            checkpointSteps: ints("checkpoint_steps").isEmpty ? nil : ints("checkpoint_steps"),
            l0: d("l0_density") > 0 ? L0Gates(targetDensity: Float(d("l0_density")), dualLearningRate: Float(d("l0_dual_lr")),
                                              temperature: Float(d("l0_temperature")), initialKeep: Float(d("l0_initial_keep"))) : nil,
            seed: UInt64(i("seed")))
        do { try training.validate() } catch let e as TrainingConfigError {
            // The command line's spelling of a setting is the spec key with dashes.
            throw ConfigError(e.description, key: e.key.map { $0.replacingOccurrences(of: "-", with: "_") })
        } catch let e as OptimizerConfigError {
            throw ConfigError(e.description, key: ["learning rate": "lr", "weight decay": "weight_decay"][e.setting] ?? e.setting)
        } catch let e as ScheduleError {
            throw ConfigError(e.description, key: e.setting.replacingOccurrences(of: "-", with: "_"))
        } catch { throw ConfigError("\(error)") }
        var modelOptions: [String: String] = [:], dataOptions: [String: String] = [:]
        for (k, v) in c {
            if k.hasPrefix("model.") { modelOptions[String(k.dropFirst(6))] = v.description }
            if k.hasPrefix("data.") { dataOptions[String(k.dropFirst(5))] = v.description }
        }
        return RunConfig(model: ModelSpec(name: s("model"), options: modelOptions), data: DataSpec(name: s("data"), options: dataOptions),
                         training: training, frozen: strings("freeze"), trainOnly: strings("train_only").isEmpty ? nil : strings("train_only"),
                         branch: try branch(c))
    }

    /// The ``Branch`` of a config whose `parent` is set, checked; nil without a parent.
    static func branch(_ c: FlatConfig) throws -> Branch? {
        let parent = c["parent"]?.description ?? ""
        guard !parent.isEmpty else { return nil }
        guard SweepRunner.isRunID(parent) else {
            throw ConfigError("parent = \(parent.prefix(40)) is invalid: expected a run id (16 lowercase hex digits, see `zoo ls`)", key: "parent")
        }
        func point(_ key: String, allowsEnd: Bool) throws -> TrainingPoint? {
            let text = c[key]?.description ?? (key == "branch_at" ? "end" : "none")
            if text == "none" && key == "rewind" { return nil }
            guard let p = TrainingPoint(text), allowsEnd || p != .end else {
                throw ConfigError("\(key) = \(text.prefix(40)) is invalid: expected \(allowsEnd ? "end, " : "none, ")epoch:N or step:N", key: key)
            }
            return p
        }
        let fraction = c["prune_fraction"]?.doubleValue ?? 0
        let method = PruningMethod(rawValue: c["prune_method"]?.description ?? "global") ?? .global
        let exclude: [String] = { if case let .list(l)? = c["prune_exclude"] { return l.map(\.description) }; return [] }()
        let sigma = c["perturb"]?.doubleValue ?? 0
        let other = c["interpolate_with"]?.description ?? ""
        guard other.isEmpty || SweepRunner.isRunID(other) else {
            throw ConfigError("interpolate_with = \(other.prefix(40)) is invalid: expected a run id (16 lowercase hex digits, see `zoo ls`)", key: "interpolate_with")
        }
        return Branch(parent: parent, at: try point("branch_at", allowsEnd: true)!, rewind: try point("rewind", allowsEnd: false),
                      rewindWeights: c["rewind_weights"] != .bool(false), reinitialize: c["reinit"] == .bool(true),
                      pruning: fraction > 0 ? Pruning(fraction: fraction, method: method, exclude: exclude) : nil,
                      perturbation: sigma > 0 ? Float(sigma) : nil,
                      interpolation: other.isEmpty ? nil : .init(other: other, alpha: Float(c["interpolate_alpha"]?.doubleValue ?? 0.5)))
    }

    /// The values of a complete config that differ from their defaults (catalog option defaults
    /// included): what a run's identity hashes, as OpenLTH does, so that adding a key whose
    /// default keeps the old behaviour renames no run.
    /// - Parameter added: defaults of keys not (yet) in the schema, for tests of the rule.
    public static func identity(of complete: FlatConfig, addingDefaults added: FlatConfig = [:]) -> FlatConfig {
        var defaults = defaults(for: complete).merging(added) { old, _ in old }
        if let entry = ModelCatalog.entries.first(where: { $0.name == complete["model"]?.description }) {
            for o in entry.options { defaults["model." + o.name] = .string(o.defaultValue) }
        }
        if let name = complete["data"]?.description, let entry = DatasetCatalog.entry(for: name) {
            for o in DatasetCatalog.commonOptions + entry.options { defaults["data." + o.name] = .string(o.defaultValue) }
        }
        return complete.filter { key, value in defaults[key].map { !same($0, value) } ?? true }
    }

    /// Equal as config values: 1 and 1.0 are the same number; lists item by item.
    static func same(_ a: ConfigValue, _ b: ConfigValue) -> Bool {
        if let x = a.doubleValue, let y = b.doubleValue { return x == y }
        return a.description == b.description
    }

    /// A run's id: the hash of the canonical JSON of ``identity(of:)``.
    public static func runID(of complete: FlatConfig) -> String {
        Identity.hash(identity(of: complete).canonicalJSON())
    }
}

/// A config key or value that is not valid.
public struct ConfigError: Error, CustomStringConvertible {
    public var description: String
    /// The key at fault, when known.
    public var key: String?
    public init(_ description: String, key: String? = nil) {
        self.description = description
        self.key = key
    }
}
