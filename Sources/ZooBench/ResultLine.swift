/// One benchmark result as a single JSON object, keys in insertion order:
/// `{"config":…, "samples_per_s":…, "seconds":…, "samples":…, …}`.
///
/// Written by hand rather than with `JSONEncoder` so that the key order is stable and readable;
/// non-finite numbers become `null`.
struct ResultLine {
    private(set) var fields: [(key: String, json: String)] = []

    /// A throughput result: `samples` processed in `seconds`.
    init(samples: Int, seconds: Double) {
        append("samples_per_s", Double(samples) / seconds)
        append("seconds", seconds)
        append("samples", samples)
    }

    /// A result without measurements (e.g. an unsupported configuration).
    init() {}

    mutating func append(_ key: String, _ value: Double) { fields.append((key, value.isFinite ? "\(value)" : "null")) }
    mutating func append(_ key: String, _ value: Int) { fields.append((key, "\(value)")) }
    mutating func append(_ key: String, _ value: Bool) { fields.append((key, "\(value)")) }
    mutating func append(_ key: String, _ value: String) { fields.append((key, Self.quoted(value))) }
    /// A JSON array; non-finite numbers become `null`.
    mutating func append(_ key: String, _ values: [Double]) {
        fields.append((key, "[" + values.map { $0.isFinite ? "\($0)" : "null" }.joined(separator: ", ") + "]"))
    }

    /// The line with `config` first.
    func json(config: String) -> String {
        let all = [("config", Self.quoted(config))] + fields.map { ($0.key, $0.json) }
        return "{" + all.map { "\(Self.quoted($0.0)):\($0.1)" }.joined(separator: ", ") + "}"
    }

    /// A human-readable line: `config  key value  key value …`.
    func text(config: String) -> String {
        ([config] + fields.map { "\($0.key) \($0.json)" }).joined(separator: "  ")
    }

    private static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }
}
