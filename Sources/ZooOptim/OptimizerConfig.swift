/// An optimizer chosen in a config. JSON: the optimizer's fields plus `"kind"`, e.g.
/// `{"kind":"sgd","learningRate":0.1,"momentum":0.9,…}`.
public enum OptimizerConfig: Codable, Sendable, Equatable {
    case sgd(SGD)
    case adam(Adam)
    case adamW(AdamW)
    case rmsprop(RMSprop)

    /// The optimizer itself.
    public var optimizer: any Optimizer {
        switch self {
        case let .sgd(o): return o
        case let .adam(o): return o
        case let .adamW(o): return o
        case let .rmsprop(o): return o
        }
    }

    /// The names of the kinds, as written in configs.
    public static let kinds = ["sgd", "adam", "adamw", "rmsprop"]

    public var kind: String {
        switch self {
        case .sgd: return "sgd"
        case .adam: return "adam"
        case .adamW: return "adamw"
        case .rmsprop: return "rmsprop"
        }
    }

    private enum Key: String, CodingKey { case kind }

    public init(from decoder: any Decoder) throws {
        let kind = try decoder.container(keyedBy: Key.self).decode(String.self, forKey: .kind)
        switch kind {
        case "sgd": self = .sgd(try SGD(from: decoder))
        case "adam": self = .adam(try Adam(from: decoder))
        case "adamw": self = .adamW(try AdamW(from: decoder))
        case "rmsprop": self = .rmsprop(try RMSprop(from: decoder))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: try decoder.container(keyedBy: Key.self),
                                                   debugDescription: "unknown optimizer '\(kind)'; valid: \(Self.kinds.joined(separator: ", "))")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(kind, forKey: .kind)
        switch self {
        case let .sgd(o): try o.encode(to: encoder)
        case let .adam(o): try o.encode(to: encoder)
        case let .adamW(o): try o.encode(to: encoder)
        case let .rmsprop(o): try o.encode(to: encoder)
        }
    }

    /// Checks every hyperparameter's range; the error names the key and value.
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ value: Any, _ expected: String) throws {
            if !ok { throw OptimizerConfigError(description: "\(kind): \(key) = \(value) is invalid: expected \(expected)", setting: key) }
        }
        let lr = optimizer.learningRate
        try check(lr.isFinite && lr > 0, "learning rate", lr, "a positive number")
        switch self {
        case let .sgd(o):
            try check(o.momentum >= 0 && o.momentum < 1, "momentum", o.momentum, "a number in [0, 1)")
            try check(o.dampening >= 0 && o.dampening <= 1, "dampening", o.dampening, "a number in [0, 1]")
            try check(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "nesterov", o.nesterov, "momentum > 0 and no dampening")
            try check(o.weightDecay >= 0 && o.weightDecay.isFinite, "weight decay", o.weightDecay, "a number ≥ 0")
        case let .adam(o):
            try checkAdam(o.beta1, o.beta2, o.epsilon, o.weightDecay, check)
        case let .adamW(o):
            try checkAdam(o.beta1, o.beta2, o.epsilon, o.weightDecay, check)
        case let .rmsprop(o):
            try check(o.alpha >= 0 && o.alpha < 1, "alpha", o.alpha, "a number in [0, 1)")
            try check(o.epsilon > 0, "epsilon", o.epsilon, "a positive number")
            try check(o.momentum >= 0 && o.momentum < 1, "momentum", o.momentum, "a number in [0, 1)")
            try check(o.weightDecay >= 0 && o.weightDecay.isFinite, "weight decay", o.weightDecay, "a number ≥ 0")
        }
    }

    private func checkAdam(_ b1: Float, _ b2: Float, _ eps: Float, _ wd: Float, _ check: (Bool, String, Any, String) throws -> Void) throws {
        try check(b1 >= 0 && b1 < 1, "beta1", b1, "a number in [0, 1)")
        try check(b2 >= 0 && b2 < 1, "beta2", b2, "a number in [0, 1)")
        try check(eps > 0, "epsilon", eps, "a positive number")
        try check(wd >= 0 && wd.isFinite, "weight decay", wd, "a number ≥ 0")
    }
}

/// An optimizer setting out of range.
public struct OptimizerConfigError: Error, CustomStringConvertible {
    public var description: String
    /// The setting at fault: "learning rate", "momentum", "weight decay", "beta1", …
    public var setting: String
}
