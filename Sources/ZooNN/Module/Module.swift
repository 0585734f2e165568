import ZooTensor

/// The mode and randomness of one forward pass.
///
/// Training mode turns on dropout and batch statistics; the key makes every random choice
/// (dropout masks) a pure function of (seed, step, layer name), so a run is reproducible.
public struct ForwardContext: Sendable {
    /// Whether the pass is for training (dropout active, batch norm uses and updates batch statistics).
    public var isTraining: Bool
    /// The source of randomness for this pass; containers derive a key per child name.
    public var key: RandomKey
    /// Training-mode batch norm keeps the cumulative average of the batch statistics since its
    /// `num_batches_tracked` was 0 (PyTorch's `momentum=None`) instead of the exponential one:
    /// for ``Module/recomputeBatchStatistics(over:key:)``.
    package var cumulativeStatistics = false

    public init(isTraining: Bool, key: RandomKey) {
        self.isTraining = isTraining
        self.key = key
    }

    /// Evaluation mode: no dropout, running statistics.
    public static let inference = ForwardContext(isTraining: false, key: RandomKey(seed: 0))

    /// Training mode with randomness from `key`.
    public static func training(key: RandomKey) -> ForwardContext { ForwardContext(isTraining: true, key: key) }

    /// The context a container hands to its child called `name`.
    public func child(_ name: String) -> ForwardContext {
        var context = self
        context.key = key.derived(name)
        return context
    }
}

/// A network or a part of one: explicit named parameters and buffers, and a forward pass.
///
/// Names are dotted paths relative to the module (`0.weight`, `layer1.0.bn1.running_mean`), in a
/// stable order; they match the `state_dict` of the PyTorch twin of the model. Layers state
/// their tensors explicitly — no reflection — and one generic test checks every layer for the
/// laws: names unique and stable, setting what was got changes nothing.
public protocol Module: Sendable {
    /// Trainable tensors. Setting requires the same names and shapes (see ``load(_:)``).
    var parameters: NamedTensors { get set }
    /// Non-trainable state such as running statistics; empty for most layers.
    var buffers: NamedTensors { get set }
    /// The forward pass. It is mutating because training-mode batch norm updates its buffers.
    mutating func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor
}

extension Module {
    public var buffers: NamedTensors {
        get { NamedTensors() }
        set {}
    }

    /// Parameters then buffers: what a checkpoint holds.
    public var state: NamedTensors {
        var s = parameters
        s.append(contentsOf: buffers, prefix: "")
        return s
    }

    /// The number of trainable scalars.
    public var parameterCount: Int { parameters.elementCount }

    /// The output in evaluation mode, leaving `self` unchanged.
    public func inferring(_ input: Tensor) -> Tensor {
        var copy = self
        return copy(input, context: .inference)
    }

    /// Replaces parameters and buffers from a state dict (e.g. a checkpoint).
    /// - Throws: ``StateMismatch`` naming the first missing, unexpected or misshapen tensor;
    ///   nothing is changed then.
    public mutating func load(_ state: NamedTensors) throws {
        let expected = self.state
        for (name, tensor) in expected {
            guard let given = state[name] else { throw StateMismatch(key: name, problem: "is missing") }
            guard given.shape == tensor.shape else {
                throw StateMismatch(key: name, problem: "has shape \(given.shape) but the model expects \(tensor.shape)")
            }
        }
        if let extra = state.names.first(where: { expected[$0] == nil }) {
            throw StateMismatch(key: extra, problem: "is not a tensor of this model")
        }
        parameters = NamedTensors(parameters.names.map { ($0, state[$0]!) })
        buffers = NamedTensors(buffers.names.map { ($0, state[$0]!) })
    }

    /// The names of the parameters that match any of the glob `patterns` (`*` matches any run of
    /// characters, including dots): `["*.bn*.*", "fc.*"]`. Use it to freeze or to select.
    public func parameterNames(matching patterns: [String]) -> [String] {
        parameters.names.filter { name in patterns.contains { globMatches($0, name) } }
    }
}

/// A state dict does not fit a model.
public struct StateMismatch: Error, CustomStringConvertible {
    public var key: String
    public var problem: String
    public var description: String { "tensor '\(key)' \(problem)" }
}

/// Whether `name` matches the glob `pattern` (`*` is any run of characters, `?` one character).
public func globMatches(_ pattern: String, _ name: String) -> Bool {
    let p = Array(pattern), s = Array(name)
    var pi = 0, si = 0, star = -1, mark = 0
    while si < s.count {
        if pi < p.count && (p[pi] == "?" || p[pi] == s[si]) {
            pi += 1; si += 1
        } else if pi < p.count && p[pi] == "*" {
            star = pi; mark = si; pi += 1
        } else if star >= 0 {
            pi = star + 1; mark += 1; si = mark
        } else {
            return false
        }
    }
    while pi < p.count && p[pi] == "*" { pi += 1 }
    return pi == p.count
}

extension NamedTensors {
    /// The tensor called `name`, which must have `shape`: for a layer's parameter setter.
    /// - Precondition: present with that shape (``Module/load(_:)`` checks user input first).
    package func required(_ name: String, shape: [Int], in layer: String) -> Tensor {
        guard let t = self[name] else { preconditionFailure("\(layer): no tensor named '\(name)' among \(names)") }
        precondition(t.shape == shape, "\(layer): '\(name)' has shape \(t.shape), expected \(shape)")
        return t
    }
}
