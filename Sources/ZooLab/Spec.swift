import Crypto
import Foundation
import Yams
import ZooData

/// Content hashes: run ids and sweep ids are SHA-256 of canonical text.
public enum Identity {
    /// The first `length` hex digits of SHA-256(text).
    public static func hash(_ text: String, length: Int = 16) -> String {
        String(sha256(Data(text.utf8)).prefix(length))
    }

    /// The hex SHA-256 of bytes.
    public static func sha256<D: DataProtocol>(_ data: D) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}

/// Bounds on what a spec may make Zoo do, checked before the work (DESIGN.md, "Hostile input is
/// normal input"): a spec past them is a ``SpecError`` naming the limit.
public enum SpecLimits {
    /// The largest spec file: 1 MiB. Specs are written by hand and are a few kilobytes; a grid of
    /// 4 axes × 1,000 values is 39 KB.
    public static let maximumBytes = 1 << 20

    /// The most YAML nodes (scalars, lists, mappings) in a spec: 100,000, counted before any is
    /// converted. The text limit bounds them too; this bounds the work on them.
    public static let maximumNodes = 100_000

    /// The most runs a plan may expand to, unless its caller allows more
    /// (``SweepPlan/make(_:data:maxRuns:)``, `--max-runs`): 100,000, counted from the axes' lengths
    /// before any is expanded. A million-run plan took minutes and a gigabyte just to plan.
    public static let maximumRuns = 100_000
}

/// A value in a spec file and the line it stands on.
struct Located<T> {
    var value: T
    var line: Int
}

/// How one random axis is sampled.
public enum Sampler: Sendable, Equatable {
    case uniform(Double, Double)
    case logUniform(Double, Double)
    case intUniform(Int, Int)
    case choice([ConfigValue])
}

/// A sweep spec as written: a base config and axes to vary (grid, zipped, random).
///
/// ```yaml
/// name: seed-zoo
/// base:                  # any config key (see `zoo sweep keys`)
///   model: zoo-cnn
///   data.subset: 10000
///   epochs: 5
/// grid:                  # every combination
///   seed: [0, 1, 2, 3]
///   lr: [0.001, 0.003]
/// zip:                   # lists advanced together (each group multiplies the grid)
///   - {lr: [0.1, 0.02], batch_size: [640, 128], label: [fast, slow]}
/// random:                # `count` samples, drawn with `seed`
///   count: 8
///   seed: 0
///   axes:
///     lr: {log-uniform: [1e-4, 1e-2]}
///     model.dropout: {uniform: [0, 0.5]}
///     model.activation: {choice: [relu, tanh]}
/// ```
public struct SweepSpec: Sendable {
    public var file: String
    public var text: String
    public var name: String
    public var base: [String: ConfigValue]
    public var grid: [(key: String, values: [ConfigValue])]
    public var zips: [[(key: String, values: [ConfigValue])]]
    public var randomCount: Int
    public var randomSeed: UInt64
    public var randomAxes: [(key: String, sampler: Sampler)]
    /// The grid's `label:` (a template), if any (see ``LabelRule``).
    public var gridLabel: LabelRule?
    /// Each zip group's `label:`, parallel to ``zips``.
    public var zipLabels: [LabelRule?] = []
    /// The random section's `label:`, if any.
    public var randomLabel: LabelRule?
    /// The `branches:` section: runs that start from other runs' checkpoints (``BranchStage``).
    public var branches: [BranchStage] = []
    /// The line of each key's definition, for errors found after parsing.
    var lines: [String: Int]

    /// Reads and validates a spec file of at most ``SpecLimits/maximumBytes``.
    public static func load(_ url: URL) throws -> SweepSpec {
        let bytes: [UInt8]
        do { bytes = try DataLimits.readFile(url, limit: SpecLimits.maximumBytes, limitName: "SpecLimits.maximumBytes") } catch let e as DataFileError {
            throw SpecError(file: url.path, line: nil, key: nil, message: e.problem)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SpecError(file: url.path, line: nil, key: nil, message: "is not UTF-8 text")
        }
        return try parse(text, file: url.path)
    }

    /// Parses spec text; every error names the file, the line and the key.
    ///
    /// YAML anchors (`&name`) and aliases (`*name`) are refused before the YAML is parsed: an
    /// alias repeats a whole subtree, so nested aliases let a 589-byte file stand for billions of
    /// values ("billion laughs"), and specs have no need for them. The check is textual and
    /// conservative: a `&` followed by a letter, digit, `_` or `-` and not preceded by a letter or
    /// digit is refused wherever it stands, even in a comment or a quoted string.
    public static func parse(_ text: String, file: String) throws -> SweepSpec {
        func fail(_ line: Int?, _ key: String?, _ message: String) -> SpecError { SpecError(file: file, line: line, key: key, message: message) }
        guard text.utf8.count <= SpecLimits.maximumBytes else {
            throw fail(nil, nil, "holds \(text.utf8.count) bytes, more than the limit of \(SpecLimits.maximumBytes) (SpecLimits.maximumBytes)")
        }
        if let line = anchorLine(text) {
            throw fail(line, nil, "YAML anchors and aliases (&name, *name) are not allowed in a spec: they can expand a small file into billions of values; help: write the values out (quote a text that starts with &)")
        }
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw fail(1, nil, "the file is empty") }
            root = node
        } catch let e as SpecError { throw e } catch let e as YamlError {
            throw fail(Self.line(of: e), nil, "not valid YAML: \(e)")
        } catch { throw fail(nil, nil, "not valid YAML: \(error)") }
        var nodes = 0
        guard count(root, upTo: SpecLimits.maximumNodes, &nodes) else {
            throw fail(nil, nil, "holds more than \(SpecLimits.maximumNodes) YAML values (SpecLimits.maximumNodes); help: a sweep this large is better split into several specs")
        }
        guard let top = root.mapping else { throw fail(line(root), nil, "the spec must be a mapping with keys name, base, grid, zip, random, branches") }
        var spec = SweepSpec(file: file, text: text, name: URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent,
                             base: [:], grid: [], zips: [], randomCount: 0, randomSeed: 0, randomAxes: [], lines: [:])
        var axisKeys = Set<String>()
        func claimAxis(_ key: String, _ l: Int) throws {
            guard axisKeys.insert(key).inserted else { throw fail(l, key, "is varied twice") }
            spec.lines[key] = l
        }
        func typed(_ node: Node, key: String) throws -> ConfigValue {
            do { return try ConfigSchema.coerce(try value(node, key: key), for: key) } catch let e as ConfigError {
                throw fail(line(node), key, e.description)
            }
        }
        func values(_ node: Node, key: String) throws -> [ConfigValue] {
            guard let seq = node.sequence else { throw fail(line(node), key, "an axis must be a list of values, e.g. [0.1, 0.01]") }
            guard !seq.isEmpty else { throw fail(line(node), key, "the axis is empty") }
            return try seq.map { try typed($0, key: key) }
        }
        for (k, v) in top {
            guard let section = k.string else { throw fail(line(k), nil, "keys must be strings") }
            switch section {
            case "name":
                guard let s = v.string, !s.isEmpty else { throw fail(line(v), "name", "must be a non-empty string") }
                spec.name = s
            case "description":
                break
            case "base":
                guard let m = v.mapping else { throw fail(line(v), "base", "must be a mapping of config keys") }
                for (bk, bv) in m {
                    guard let key = bk.string else { throw fail(line(bk), nil, "keys must be strings") }
                    if key == "label" {
                        throw fail(line(bk), "base.label", "a label names the runs of a grid, a zip group or the random section, and is no config key; help: move it there (see `zoo summary --help`)")
                    }
                    spec.base[key] = try typed(bv, key: key)
                    spec.lines[key] = line(bk)
                }
            case "grid":
                guard let m = v.mapping else { throw fail(line(v), "grid", "must be a mapping of key: [values]") }
                for (gk, gv) in m {
                    guard let key = gk.string else { throw fail(line(gk), nil, "keys must be strings") }
                    if key == "label" {
                        spec.gridLabel = try LabelRule.parse(gv, section: "grid", allowsNames: false, fail: fail)
                        spec.lines["grid.label"] = line(gk)
                        continue
                    }
                    try claimAxis(key, line(gk))
                    spec.grid.append((key, try values(gv, key: key)))
                }
            case "zip":
                let groups: [Node] = v.sequence.map(Array.init) ?? (v.mapping != nil ? [v] : [])
                guard !groups.isEmpty else { throw fail(line(v), "zip", "must be a list of mappings of key: [values] of equal length") }
                for g in groups {
                    guard let m = g.mapping else { throw fail(line(g), "zip", "each group must be a mapping of key: [values]") }
                    var group: [(key: String, values: [ConfigValue])] = []
                    var label: (rule: LabelRule, line: Int)?
                    for (zk, zv) in m {
                        guard let key = zk.string else { throw fail(line(zk), nil, "keys must be strings") }
                        if key == "label" {
                            label = (try LabelRule.parse(zv, section: "zip", allowsNames: true, fail: fail), line(zk))
                            continue
                        }
                        try claimAxis(key, line(zk))
                        let vs = try values(zv, key: key)
                        if let first = group.first, first.values.count != vs.count {
                            throw fail(line(zk), key, "zipped axes must have equal lengths: \(first.key) has \(first.values.count), \(key) has \(vs.count)")
                        }
                        group.append((key, vs))
                    }
                    guard let first = group.first else { throw fail(line(g), "zip", "a zip group needs at least one key: [values] besides its label") }
                    if let label, case let .names(names) = label.rule, names.count != first.values.count {
                        throw fail(label.line, "zip.label", "a zip group's labels name its positions: \(first.key) has \(first.values.count) values, label has \(names.count) names")
                    }
                    spec.lines["zip.\(spec.zips.count).label"] = label?.line
                    spec.zips.append(group)
                    spec.zipLabels.append(label?.rule)
                }
            case "random":
                guard let m = v.mapping else { throw fail(line(v), "random", "must be a mapping with count, seed and axes") }
                for (rk, rv) in m {
                    switch rk.string {
                    case "count":
                        guard let n = rv.string.flatMap({ Int($0) }), n >= 1, n <= 1_000_000 else { throw fail(line(rv), "random.count", "must be an integer in 1...1000000") }
                        spec.randomCount = n
                    case "seed":
                        guard let n = rv.string.flatMap({ UInt64($0) }) else { throw fail(line(rv), "random.seed", "must be a non-negative integer") }
                        spec.randomSeed = n
                    case "label":
                        spec.randomLabel = try LabelRule.parse(rv, section: "random", allowsNames: true, fail: fail)
                        spec.lines["random.label"] = line(rk)
                    case "axes":
                        guard let axes = rv.mapping else { throw fail(line(rv), "random.axes", "must be a mapping of key: {uniform|log-uniform|int-uniform|choice: …}") }
                        for (ak, av) in axes {
                            guard let key = ak.string else { throw fail(line(ak), nil, "keys must be strings") }
                            try claimAxis(key, line(ak))
                            spec.randomAxes.append((key, try sampler(av, key: key)))
                        }
                    default:
                        throw fail(line(rk), "random.\(rk.string ?? "?")", "unknown key; valid: count, seed, axes, label")
                    }
                }
                if spec.randomCount > 0 && spec.randomAxes.isEmpty { throw fail(line(v), "random.axes", "random sampling needs axes") }
                if spec.randomCount == 0 && !spec.randomAxes.isEmpty { throw fail(line(v), "random.count", "random axes need a count") }
                if spec.randomLabel != nil && spec.randomCount == 0 { throw fail(spec.lines["random.label"], "random.label", "labels random samples, but there is no random count") }
                if case let .names(names)? = spec.randomLabel, names.count != spec.randomCount {
                    throw fail(spec.lines["random.label"], "random.label", "the random section's labels name its samples: count is \(spec.randomCount), label has \(names.count) names")
                }
            case "branches":
                guard let stages = v.sequence, !stages.isEmpty else { throw fail(line(v), "branches", "must be a list of branch stages (name, from, set, …)") }
                for (i, node) in stages.enumerated() {
                    let stage = try BranchStage.parse(node, index: i, earlier: spec.branches.map(\.name), typed: { try typed($0, key: $1) }, fail: fail)
                    spec.lines["branches.\(i)"] = line(node)
                    spec.branches.append(stage)
                }
            default:
                throw fail(line(k), section, "unknown section; valid: name, description, base, grid, zip, random, branches")
            }
        }
        for key in axisKeys where spec.base[key] != nil {
            throw fail(spec.lines[key], key, "is both in base and varied; keep one")
        }
        return spec

        func sampler(_ node: Node, key: String) throws -> Sampler {
            guard let m = node.mapping, m.count == 1, let (kind, args) = m.first.map({ ($0.key.string ?? "", $0.value) }) else {
                throw fail(line(node), key, "a random axis is one of {uniform: [a, b]}, {log-uniform: [a, b]}, {int-uniform: [a, b]}, {choice: [values]}")
            }
            if kind == "choice" { return .choice(try values(args, key: key)) }
            guard let pair = args.sequence, pair.count == 2, let a = pair[0].string.flatMap(Double.init), let b = pair[1].string.flatMap(Double.init),
                  a.isFinite, b.isFinite, a <= b else {
                throw fail(line(args), key, "\(kind) takes [low, high], finite numbers with low ≤ high")
            }
            switch kind {
            case "uniform": break
            case "log-uniform":
                guard a > 0 else { throw fail(line(args), key, "log-uniform needs low > 0") }
            case "int-uniform":
                // Integers a Double holds exactly, so that b − a + 1 and the draw cannot overflow.
                guard a == a.rounded(), b == b.rounded(), Swift.abs(a) <= 0x1p53, Swift.abs(b) <= 0x1p53 else {
                    throw fail(line(args), key, "int-uniform takes integers in -2^53...2^53")
                }
            default:
                throw fail(line(node), key, "unknown sampler '\(kind)'; valid: uniform, log-uniform, int-uniform, choice")
            }
            // Check that the range's ends are valid values of the key.
            let ends: [ConfigValue] = kind == "int-uniform" ? [.int(Int(a)), .int(Int(b))] : [.double(a), .double(b)]
            for end in ends {
                do { _ = try ConfigSchema.coerce(end, for: key) } catch let e as ConfigError { throw fail(line(args), key, e.description) }
            }
            switch kind {
            case "uniform": return .uniform(a, b)
            case "log-uniform": return .logUniform(a, b)
            default: return .intUniform(Int(a), Int(b))
            }
        }
    }

    /// A plain YAML scalar or list as a config value (numbers and booleans recognized, the rest text).
    static func value(_ node: Node, key: String) throws -> ConfigValue {
        if let seq = node.sequence { return .list(try seq.map { try value($0, key: key) }) }
        guard let scalar = node.scalar else { throw ConfigError("\(key): expected a value or a list, got a mapping") }
        let s = scalar.string
        if scalar.style == .plain {
            if s == "true" || s == "false" { return .bool(s == "true") }
            if let i = Int(s) { return .int(i) }
            if let d = Double(s), s.rangeOfCharacter(from: .decimalDigits) != nil { return .double(d) }
        }
        return .string(s)
    }

    static func line(_ node: Node) -> Int { node.mark?.line ?? 0 }

    /// Adds the nodes of `node` to `total`; false as soon as it passes `limit`. (Its depth is
    /// bounded by libyaml's nesting limit of 1,000.)
    static func count(_ node: Node, upTo limit: Int, _ total: inout Int) -> Bool {
        total += 1
        guard total <= limit else { return false }
        switch node {
        case let .mapping(m): return m.allSatisfy { count($0.key, upTo: limit, &total) && count($0.value, upTo: limit, &total) }
        case let .sequence(s): return s.allSatisfy { count($0, upTo: limit, &total) }
        default: return true
        }
    }

    /// The line of the first possible YAML anchor in `text`: a `&` followed by a character of an
    /// anchor name (libyaml: ASCII letter, digit, `_`, `-`) and not preceded by a letter or digit
    /// (where a `&` is part of a plain scalar, as in `R&D`).
    static func anchorLine(_ text: String) -> Int? {
        func isName(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7a) || c == 0x5f || c == 0x2d }
        func isAlphanumeric(_ c: UInt8) -> Bool { c != 0x5f && c != 0x2d && isName(c) }
        let bytes = Array(text.utf8)
        var line = 1
        for (i, c) in bytes.enumerated() {
            if c == 0x0a { line += 1 }
            guard c == 0x26, i + 1 < bytes.count, isName(bytes[i + 1]) else { continue }
            if i == 0 || !isAlphanumeric(bytes[i - 1]) { return line }
        }
        return nil
    }

    static func line(of error: YamlError) -> Int? {
        switch error {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): return mark.line
        default: return nil
        }
    }

    /// The line where `key` is set or varied, if known.
    public func line(of key: String) -> Int? { lines[key] }
}

/// An error in a spec: the file, the line, the key and what is wrong.
public struct SpecError: Error, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var key: String?
    public var message: String

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): " + (key.map { "key '\($0)': " } ?? "") + message
    }
}
