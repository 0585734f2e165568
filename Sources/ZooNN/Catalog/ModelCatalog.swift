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
    /// - Throws: ``ModelOptionError`` for an unknown model, an unknown option, a malformed or
    ///   out-of-range value, or an input shape the model cannot take; the message lists the choices.
    public static func make(_ name: String, options: [String: String] = [:], input: ModelInput, key: RandomKey) throws -> any Module {
        guard let entry = entries.first(where: { $0.name == name }) else {
            throw ModelOptionError(description: "unknown model '\(name)'; valid models: \(names.joined(separator: ", "))")
        }
        guard input.classCount >= 1 else { throw ModelOptionError(description: "\(name): class count must be at least 1, got \(input.classCount)") }
        var reader = OptionReader(model: name, options: options, known: entry.options)
        let model = try entry.build(&reader, input, key)
        try reader.finish()
        return model
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
