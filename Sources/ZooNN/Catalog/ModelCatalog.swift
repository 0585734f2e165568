import Foundation
import ZooTensor

/// One option of a catalog model: its name, default and meaning (shown by `zoo models`).
public struct ModelOption: Sendable {
    public var name: String
    public var defaultValue: String
    public var summary: String
}

/// A catalog model: its name, what it is, and its options.
public struct ModelEntry: Sendable {
    public var name: String
    public var summary: String
    public var options: [ModelOption]
    /// The model's size from its options and input, computed as `build` would build it.
    let cost: @Sendable (OptionReader, ModelInput) throws -> ModelCost
    let build: @Sendable (inout OptionReader, ModelInput, RandomKey) throws -> any Module
}

/// What a model is built for: the shape of one input (without the batch axis) and the class count.
public struct ModelInput: Sendable, Equatable {
    /// `[C, H, W]` for images, `[C, L]` for sequences, `[features]` for vectors.
    public var shape: [Int]
    public var classCount: Int
    public init(shape: [Int], classCount: Int) {
        self.shape = shape
        self.classCount = classCount
    }
}

/// An error in a model's name or options, naming the option and the valid choices.
public struct ModelOptionError: Error, CustomStringConvertible {
    public var description: String
    /// The option at fault (`hidden`, `activation`, …); nil when the model or the data's shape is.
    public var option: String?
    public init(description: String, option: String? = nil) {
        self.description = description
        self.option = option
    }
}

/// Networks built from a name and options: `mlp`, `zoo-cnn`, `lenet5`, `cnn1d`, `resnet20`, `nin`.
///
/// Every model names its parameters as its PyTorch twin (`features.0.weight`), and initial weights
/// are a pure function of the key: the same key gives bit-identical models.
public enum ModelCatalog {
    /// Every model, in the order `zoo models` lists them.
    public static let entries: [ModelEntry] = [mlpEntry, zooCNNEntry, lenet5Entry, cnn1dEntry, resnet20Entry, ninEntry]

    /// The names of all models.
    public static var names: [String] { entries.map(\.name) }

    /// Builds model `name` for `input` with `options` (string values as given on a command line).
    ///
    /// Its ``ModelCost`` is computed first: a model of more than ``ModelLimits/maximumParameters``
    /// parameters, or whose training at batch size 1 needs more than ``ModelLimits/availableMemory``,
    /// is refused before any weight is allocated.
    /// - Throws: ``ModelOptionError`` for an unknown model, an unknown option, a malformed or
    ///   out-of-range value, an input shape the model cannot take, or a model past the limits;
    ///   the message lists the choices or names the option that sets the size.
    public static func make(_ name: String, options: [String: String] = [:], input: ModelInput, key: RandomKey) throws -> any Module {
        let (entry, reader) = try prepare(name, options: options, input: input)
        try check(try entry.cost(reader, input), model: name, options: options, input: input)
        var building = reader
        let model = try entry.build(&building, input, key)
        try building.finish()
        return model
    }

    /// The parameter count and a rough activation count of model `name`, without building it.
    /// - Throws: ``ModelOptionError`` for an unknown model or a malformed option value.
    public static func cost(_ name: String, options: [String: String] = [:], input: ModelInput) throws -> ModelCost {
        let (entry, reader) = try prepare(name, options: options, input: input)
        return try entry.cost(reader, input)
    }

    private static func prepare(_ name: String, options: [String: String], input: ModelInput) throws -> (ModelEntry, OptionReader) {
        guard let entry = entries.first(where: { $0.name == name }) else {
            throw ModelOptionError(description: "unknown model '\(name)'; valid models: \(names.joined(separator: ", "))")
        }
        guard input.classCount >= 1 else { throw ModelOptionError(description: "\(name): class count must be at least 1, got \(input.classCount)") }
        guard input.shape.allSatisfy({ $0 >= 1 }) else { throw ModelOptionError(description: "\(name): the data's sample shape \(input.shape) has an empty axis") }
        return (entry, OptionReader(model: name, options: options, known: entry.options))
    }

    /// Refuses a model past ``ModelLimits``, naming the option that sets its size.
    private static func check(_ cost: ModelCost, model: String, options: [String: String], input: ModelInput) throws {
        let cause = cost.sizeOption.flatMap { o in options[o].map { "option '\(o)' = '\($0)'" } }
            ?? "input shape \(input.shape) with \(input.classCount) classes"
        let help = cost.sizeOption.map { "; help: lower '\($0)'" } ?? ""
        guard cost.parameters <= ModelLimits.maximumParameters else {
            throw ModelOptionError(description: "\(model): \(cause) gives \(grouped(cost.parameters)) parameters, more than the limit of \(grouped(ModelLimits.maximumParameters)) (ModelLimits.maximumParameters)\(help)",
                                   option: cost.sizeOption)
        }
        let bytes = cost.trainingBytes(), available = ModelLimits.availableMemory
        guard bytes <= available else {
            throw ModelOptionError(description: "\(model): \(cause) needs about \(grouped(bytes)) bytes to train (\(grouped(cost.parameters)) parameters, \(grouped(cost.activationsPerSample)) activations a sample), more than the \(grouped(available)) bytes of memory available\(help)",
                                   option: cost.sizeOption)
        }
    }

    /// `n` with thousands separators: 1,000,796,010.
    static func grouped(_ n: Int) -> String {
        n.magnitude < 1000 ? "\(n)" : grouped(n / 1000) + "," + String(String(1000 + n.magnitude % 1000).dropFirst())
    }
}

/// Reads typed model options, remembering which were used so that unknown ones are reported.
struct OptionReader {
    let model: String
    let options: [String: String]
    let known: [ModelOption]

    init(model: String, options: [String: String], known: [ModelOption]) {
        self.model = model
        self.options = options
        self.known = known
    }

    private func raw(_ name: String) -> String {
        guard let option = known.first(where: { $0.name == name }) else { preconditionFailure("\(model): option '\(name)' is not declared") }
        return options[name] ?? option.defaultValue
    }

    private func fail(_ name: String, _ value: String, _ expected: String) -> ModelOptionError {
        ModelOptionError(description: "\(model): option '\(name)' = '\(value)' is invalid: expected \(expected)", option: name)
    }

    func int(_ name: String, range: ClosedRange<Int>) throws -> Int {
        let v = raw(name)
        guard let i = Int(v), range.contains(i) else { throw fail(name, v, "an integer in \(range.lowerBound)...\(range.upperBound)") }
        return i
    }

    func float(_ name: String, range: ClosedRange<Float>) throws -> Float {
        let v = raw(name)
        guard let f = Float(v), range.contains(f) else { throw fail(name, v, "a number in [\(range.lowerBound), \(range.upperBound)]") }
        return f
    }

    func bool(_ name: String) throws -> Bool {
        let v = raw(name)
        switch v.lowercased() {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: throw fail(name, v, "true or false")
        }
    }

    func ints(_ name: String, range: ClosedRange<Int>) throws -> [Int] {
        let v = raw(name)
        if v.isEmpty { return [] }
        let parts = v.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.allSatisfy({ $0 != nil && range.contains($0!) }) else {
            throw fail(name, v, "comma-separated integers in \(range.lowerBound)...\(range.upperBound), e.g. 256,256")
        }
        return parts.map { $0! }
    }

    func activation(_ name: String = "activation") throws -> Activation {
        let v = raw(name)
        do { return try Activation(parsing: v) } catch { throw ModelOptionError(description: "\(model): option '\(name)': \(error)", option: name) }
    }

    func initializer(_ name: String = "init", activation: Activation) throws -> Initializer {
        let v = raw(name)
        do { return try Initializer(parsing: v, activation: activation) } catch { throw ModelOptionError(description: "\(model): option '\(name)': \(error)", option: name) }
    }

    func finish() throws {
        let unknown = options.keys.filter { k in !known.contains { $0.name == k } }.sorted()
        if let first = unknown.first {
            throw ModelOptionError(description: "\(model): unknown option '\(first)'; valid options: \(known.map(\.name).joined(separator: ", "))", option: first)
        }
    }
}
