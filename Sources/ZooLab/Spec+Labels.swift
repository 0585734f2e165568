import Foundation
import Yams

/// How a section of a spec names the runs it makes: the `label:` key of a `grid`, a `zip` group or
/// the `random` section. Labels name arms for `zoo summary` and `zoo ls`; they are no part of a
/// run's config or identity, so renaming or adding a label trains nothing.
///
/// ```yaml
/// zip:
///   - label:    [decay, increase]          # one name per position of the group
///     schedule: [multistep, constant]
/// random:
///   count: 3
///   label: "sample {index}"                # or a list of `count` names
/// grid:
///   lr: [0.1, 0.01]
///   label: "lr {lr}"                       # a template: grid axes are crossed, so no list
/// ```
///
/// A run named by several sections gets their names joined by `/` (grid, zip groups, random, in
/// the spec's expansion order). A config that several positions expand to keeps the first name.
public enum LabelRule: Sendable, Equatable {
    /// One name per position of a zip group, or per sample of the random section.
    case names([String])
    /// A name built from each run: `{key}` stands for the value of a config key (defaults filled
    /// in), `{index}` for the run's position in the section (from 0).
    case template(String)

    /// The most characters in a label (each name, and a run's joined label).
    public static let maximumLength = 100

    /// The rule written at `node` in `section`, checked: a non-empty list of distinct names, or a
    /// template whose braces pair up; no name empty, longer than ``maximumLength`` or holding a
    /// control character. `allowsNames` is false in a grid.
    static func parse(_ node: Node, section: String, allowsNames: Bool, fail: (Int?, String?, String) -> SpecError) throws -> LabelRule {
        let key = "\(section).label", line = SweepSpec.line(node)
        if let list = node.sequence {
            guard allowsNames else {
                throw fail(line, key, "a grid's label is a template such as \"lr {lr}\" (its axes are crossed, so a list of names cannot line up with them); help: name zipped arms with a list in their zip group")
            }
            guard !list.isEmpty else { throw fail(line, key, "the list of labels is empty") }
            var names: [String] = [], seen = Set<String>()
            for item in list {
                guard let name = item.scalar?.string else { throw fail(SweepSpec.line(item), key, "a label must be a text, not a list or a mapping") }
                try check(name, line: SweepSpec.line(item), key: key, fail: fail)
                guard seen.insert(name).inserted else { throw fail(SweepSpec.line(item), key, "the label '\(name)' is given twice; each arm needs its own name") }
                names.append(name)
            }
            return .names(names)
        }
        guard let text = node.scalar?.string else {
            throw fail(line, key, "a label is a list of names (one per position) or a template text such as \"lr {lr}\"")
        }
        try check(text, line: line, key: key, fail: fail)
        _ = try placeholders(text) { fail(line, key, $0) }
        return .template(text)
    }

    /// Refuses an empty or over-long name or one with a control character (a newline or an escape
    /// would break the tables and exports that show it).
    static func check(_ name: String, line: Int, key: String, fail: (Int?, String?, String) -> SpecError) throws {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw fail(line, key, "a label must not be empty") }
        guard name.count <= maximumLength else { throw fail(line, key, "the label '\(name.prefix(40))…' is longer than \(maximumLength) characters") }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw fail(line, key, "the label \(name.debugDescription) holds a control character (a newline, tab or escape)")
        }
    }

    /// The `{name}` placeholders of a template, in order.
    static func placeholders(_ template: String, fail: (String) -> SpecError) throws -> [String] {
        var out: [String] = [], rest = Substring(template)
        while let open = rest.firstIndex(where: { $0 == "{" || $0 == "}" }) {
            guard rest[open] == "{", let close = rest[open...].firstIndex(of: "}") else {
                throw fail("the label template \"\(template)\" has an unpaired brace; help: write {key} for a config key's value, {index} for the position")
            }
            let name = rest[rest.index(after: open)..<close]
            guard !name.isEmpty, !name.contains("{") else {
                throw fail("the label template \"\(template)\" has an empty or nested {…}; help: write {key} for a config key's value, {index} for the position")
            }
            out.append(String(name))
            rest = rest[rest.index(after: close)...]
        }
        return out
    }

    /// The name this rule gives the run at `index` of its section, whose complete config is `config`.
    func name(index: Int, config: FlatConfig, spec: SweepSpec, key: String) throws -> String {
        switch self {
        case let .names(names): return names[index]
        case let .template(template):
            let fail = { (message: String) in SpecError(file: spec.file, line: spec.line(of: key), key: key, message: message) }
            var out = template
            for name in try Self.placeholders(template, fail: fail) {
                let value: String
                if name == "index" { value = String(index) } else if let v = config[name] { value = v.description } else {
                    throw fail("the label template names {\(name)}, which is no config key of these runs; help: use {index} or a config key, e.g. \(spec.lines.keys.filter { !$0.hasSuffix("label") }.sorted().prefix(12).joined(separator: ", "))")
                }
                out = out.replacingOccurrences(of: "{\(name)}", with: value)
            }
            return out
        }
    }
}

extension SweepSpec {
    /// The label of each expanded config, from `parts` (rule, position, spec key of the rule),
    /// joined by `/`; nil without parts.
    static func label(_ parts: [(rule: LabelRule, index: Int, key: String)], config: FlatConfig, spec: SweepSpec) throws -> String? {
        guard !parts.isEmpty else { return nil }
        let label = try parts.map { try $0.rule.name(index: $0.index, config: config, spec: spec, key: $0.key) }.joined(separator: "/")
        try LabelRule.check(label, line: spec.line(of: parts[0].key) ?? 0, key: parts[0].key) {
            SpecError(file: spec.file, line: $0, key: $1, message: $2)
        }
        return label
    }
}
