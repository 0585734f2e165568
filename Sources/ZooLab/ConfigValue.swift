import Foundation

/// A value of a flat config key: what a YAML scalar or list becomes after validation.
public enum ConfigValue: Hashable, Sendable, Codable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case list([ConfigValue])

    /// The canonical text of the value, as it enters the run's identity and tables.
    public var description: String {
        switch self {
        case let .string(s): return s
        case let .int(i): return String(i)
        case let .double(d): return Self.format(d)
        case let .bool(b): return b ? "true" : "false"
        case let .list(l): return l.map(\.description).joined(separator: ",")
        }
    }

    /// Shortest round-tripping decimal; integral values without a fraction part ("1e-3" → 0.001, 2.0 → 2).
    static func format(_ d: Double) -> String {
        if d == d.rounded(), Swift.abs(d) < 1e15 { return String(Int(d)) }
        return "\(d)"
    }

    public var doubleValue: Double? {
        switch self {
        case let .double(d): return d
        case let .int(i): return Double(i)
        default: return nil
        }
    }

    public var intValue: Int? {
        switch self {
        case let .int(i): return i
        case let .double(d) where d == d.rounded() && Swift.abs(d) < 1e15: return Int(d)
        default: return nil
        }
    }

    /// The JSON text used in canonical configs (numbers in their shortest round-tripping form).
    var json: String {
        switch self {
        case let .string(s):
            let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
            return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
        case let .int(i): return String(i)
        case let .double(d): return d.isFinite ? Self.format(d) : "\"\(d)\""
        case let .bool(b): return b ? "true" : "false"
        case let .list(l): return "[" + l.map(\.json).joined(separator: ",") + "]"
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .list(try c.decode([ConfigValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case let .string(s): try c.encode(s)
        case let .int(i): try c.encode(i)
        case let .double(d): try c.encode(d)
        case let .bool(b): try c.encode(b)
        case let .list(l): try c.encode(l)
        }
    }
}

/// A run's config as flat dotted keys (`lr`, `model.activation`, `data.subset`), defaults filled in.
public typealias FlatConfig = [String: ConfigValue]

extension Dictionary where Key == String, Value == ConfigValue {
    /// Sorted-keys JSON with the schema version: equal configs give equal bytes.
    public func canonicalJSON() -> String {
        var entries = map { (ConfigValue.string($0.key).json, $0.value.json) }
        entries.append(("\"schema\"", String(ConfigSchema.version)))
        entries.sort { $0.0 < $1.0 }
        return "{" + entries.map { "\($0.0):\($0.1)" }.joined(separator: ",") + "}"
    }

    /// Decodes a canonical JSON config.
    public static func fromCanonicalJSON(_ json: String) throws -> FlatConfig {
        var config = try JSONDecoder().decode(FlatConfig.self, from: Data(json.utf8))
        config["schema"] = nil
        return config
    }
}
