import Foundation
import Yams
import ZooTrain

/// A stage of a spec's `branches:` section: runs that start from other runs' checkpoints
/// (OpenLTH's branches and pruning levels), planned with the sweep and trained after their parents.
///
/// ```yaml
/// branches:
///   - name: level              # labels its runs level-1, level-2, … (or `label:`, a template)
///     from: trunk              # trunk: the runs of base/grid/zip/random; or an earlier stage's name
///     levels: 12               # a chain: level 1 branches from each `from` run, level k+1 from level k
///     set:                     # config keys of every branch of the stage
///       prune_fraction: 0.2
///       rewind: step:0
///     grid:                    # optional: one branch per combination (e.g. data-order seeds)
///       seed: [1, 2]
///     siblings:                # optional: beside each level, controls with the same parent
///       reinit: {reinit: true}     # (a later stage's `from: level` takes the chain, not its siblings)
/// ```
///
/// A branch's config is its parent's, less the parent's own branch settings (`branch_at`,
/// `rewind`, `rewind_weights`, `reinit`, `prune_*`, `perturb`), with the stage's `set`, the grid
/// combination and `parent:` (the parent's id) on top. The model cannot change (the branch starts
/// from the parent's weights).
public struct BranchStage: Sendable {
    public var name: String
    /// `trunk` or the name of an earlier stage.
    public var from: String
    /// Chain length: each level's branch is the next level's parent.
    public var levels: Int
    public var set: [String: ConfigValue]
    public var grid: [(key: String, values: [ConfigValue])]
    /// Extra branches beside each level (same parent), each with more keys: (name, keys).
    public var siblings: [(name: String, set: [String: ConfigValue])]
    /// The label template (`{index}` is the level), default `NAME` or `NAME-{index}`.
    public var label: LabelRule

    /// The keys of a branch's own action, which a child does not inherit.
    static let actionKeys: Set<String> = ["branch_at", "rewind", "rewind_weights", "reinit", "prune_fraction", "prune_method",
                                          "prune_exclude", "perturb", "interpolate_with", "interpolate_alpha"]

    /// The most levels of a chain.
    public static let maximumLevels = 100

    /// Branches per parent: levels × grid combinations × (1 + siblings); `withSiblings` false
    /// counts only the chain's runs (those a later stage branches from).
    func perParent(withSiblings: Bool = true) -> Int {
        let combos = grid.reduce(1) { r, a in r.multipliedReportingOverflow(by: a.values.count).overflow ? .max : r * a.values.count }
        let (n, overflow) = combos.multipliedReportingOverflow(by: levels * (withSiblings ? 1 + siblings.count : 1))
        return overflow ? .max : n
    }

    /// Parses one stage of `branches:`.
    static func parse(_ node: Node, index: Int, earlier: [String], typed: (Node, String) throws -> ConfigValue,
                      fail: (Int?, String?, String) -> SpecError) throws -> BranchStage {
        let at = "branches.\(index)"
        guard let m = node.mapping else { throw fail(SweepSpec.line(node), at, "a branch stage is a mapping with name, from, set (and levels, grid, siblings, label)") }
        var stage = BranchStage(name: "", from: "trunk", levels: 1, set: [:], grid: [], siblings: [], label: .template(""))
        var label: LabelRule?
        func keys(_ node: Node, _ where_: String) throws -> [String: ConfigValue] {
            guard let km = node.mapping else { throw fail(SweepSpec.line(node), where_, "must be a mapping of config keys") }
            var out: [String: ConfigValue] = [:]
            for (k, v) in km {
                guard let key = k.string else { throw fail(SweepSpec.line(k), where_, "keys must be strings") }
                try checkKey(key, line: SweepSpec.line(k))
                out[key] = try typed(v, key)
            }
            return out
        }
        func checkKey(_ key: String, line: Int) throws {
            if key == "parent" { throw fail(line, "\(at).\(key)", "a stage's parent is filled in from `from`; help: set `from: trunk` or an earlier stage") }
            if key == "model" || key.hasPrefix("model.") {
                throw fail(line, "\(at).\(key)", "a branch starts from its parent's weights, so it keeps the parent's model")
            }
        }
        for (k, v) in m {
            guard let key = k.string else { throw fail(SweepSpec.line(k), at, "keys must be strings") }
            let line = SweepSpec.line(v)
            switch key {
            case "name":
                guard let s = v.string, !s.isEmpty, s != "trunk", s.count <= 40, s.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                    throw fail(line, "\(at).name", "must be a name of letters, digits, - and _ (at most 40, not 'trunk')")
                }
                guard !earlier.contains(s) else { throw fail(line, "\(at).name", "the stage name '\(s)' is used twice") }
                stage.name = s
            case "from":
                guard let s = v.string, s == "trunk" || earlier.contains(s) else {
                    throw fail(line, "\(at).from", "must be trunk or the name of an earlier stage (\((["trunk"] + earlier).joined(separator: ", ")))")
                }
                stage.from = s
            case "levels":
                guard let n = v.string.flatMap({ Int($0) }), (1...maximumLevels).contains(n) else {
                    throw fail(line, "\(at).levels", "must be an integer in 1...\(maximumLevels)")
                }
                stage.levels = n
            case "set":
                stage.set = try keys(v, "\(at).set")
            case "grid":
                guard let gm = v.mapping else { throw fail(line, "\(at).grid", "must be a mapping of key: [values]") }
                for (gk, gv) in gm {
                    guard let key = gk.string else { throw fail(SweepSpec.line(gk), at, "keys must be strings") }
                    try checkKey(key, line: SweepSpec.line(gk))
                    guard let seq = gv.sequence, !seq.isEmpty else { throw fail(SweepSpec.line(gv), "\(at).grid.\(key)", "an axis must be a non-empty list of values") }
                    guard !stage.grid.contains(where: { $0.key == key }) else { throw fail(SweepSpec.line(gk), "\(at).grid.\(key)", "is varied twice") }
                    stage.grid.append((key, try seq.map { try typed($0, key) }))
                }
            case "siblings":
                guard let sm = v.mapping else { throw fail(line, "\(at).siblings", "must be a mapping of name: {config keys}") }
                for (sk, sv) in sm {
                    guard let name = sk.string, !name.isEmpty else { throw fail(SweepSpec.line(sk), "\(at).siblings", "names must be strings") }
                    try LabelRule.check(name, line: SweepSpec.line(sk), key: "\(at).siblings", fail: fail)
                    stage.siblings.append((name, try keys(sv, "\(at).siblings.\(name)")))
                }
            case "label":
                label = try LabelRule.parse(v, section: at, allowsNames: false, fail: fail)
            default:
                throw fail(SweepSpec.line(k), "\(at).\(key)", "unknown key; valid: name, from, levels, set, grid, siblings, label")
            }
        }
        guard !stage.name.isEmpty else { throw fail(SweepSpec.line(node), "\(at).name", "a branch stage needs a name") }
        for key in stage.grid.map(\.key) where stage.set[key] != nil {
            throw fail(SweepSpec.line(node), "\(at).\(key)", "is both in set and in grid; keep one")
        }
        stage.label = label ?? .template(stage.levels > 1 ? "\(stage.name)-{index}" : stage.name)
        return stage
    }
}

extension SweepPlan {
    /// The branches of `spec`'s stages, from the trunk's runs (and each earlier stage's), with
    /// their parents' ids filled in; each branch's parent precedes it.
    static func expandBranches(_ spec: SweepSpec, trunk: [PlannedRun]) throws -> [PlannedRun] {
        var byStage: [String: [PlannedRun]] = ["trunk": trunk]
        var out: [PlannedRun] = []
        var planned = Dictionary(trunk.map { ($0.id, $0) }) { first, _ in first }
        /// Whether some run of `id`'s lineage in the plan checkpoints after step `k`.
        func checkpointsStep(_ k: Int, lineage id: String?) -> Bool {
            var next = id, depth = 0
            while let current = next.flatMap({ planned[$0] }), depth < Lineage.maximumDepth {
                if case let .list(steps)? = current.config["checkpoint_steps"], steps.contains(where: { $0.intValue == k }) { return true }
                (next, depth) = (current.parent, depth + 1)
            }
            return false
        }
        for (s, stage) in spec.branches.enumerated() {
            let key = "branches.\(s)"
            func complete(_ raw: FlatConfig) throws -> FlatConfig {
                do { return try ConfigSchema.complete(raw) } catch let e as ConfigError {
                    throw SpecError(file: spec.file, line: spec.line(of: key), key: e.key.map { "\(key).\($0)" } ?? key, message: e.description)
                }
            }
            func child(of parent: PlannedRun, _ keys: [String: ConfigValue], level: Int) throws -> PlannedRun {
                var raw = parent.config.filter { !BranchStage.actionKeys.contains($0.key) }
                for (k, v) in keys { raw[k] = v }
                raw["parent"] = .string(parent.id)
                let config = try complete(raw)
                // A mid-training step must be checkpointed by the lineage (step 0 is the init).
                for point in ["branch_at", "rewind"] {
                    guard case let .step(k)? = config[point].flatMap({ TrainingPoint($0.description) }), k > 0 else { continue }
                    if !checkpointsStep(k, lineage: parent.id) {
                        throw SpecError(file: spec.file, line: spec.line(of: key), key: "\(key).\(point)",
                                        message: "step:\(k) is a point that no run of the lineage checkpoints; help: add checkpoint_steps: [\(k)] to base (or name an epoch: epoch:N)")
                    }
                }
                return PlannedRun(id: ConfigSchema.runID(of: config), config: config, canonical: config.canonicalJSON(), groupKey: "",
                                  label: try stage.label.name(index: level, config: config, spec: spec, key: key))
            }
            var made: [PlannedRun] = [], chain: [PlannedRun] = []
            for parent in byStage[stage.from] ?? [] {
                var combos: [[String: ConfigValue]] = [[:]]
                for (k, values) in stage.grid { combos = combos.flatMap { c in values.map { v in c.merging([k: v]) { _, new in new } } } }
                for combo in combos {
                    var previous = parent
                    for level in 1...stage.levels {
                        let keys = stage.set.merging(combo) { _, new in new }
                        let branch = try child(of: previous, keys, level: level)
                        planned[branch.id] = branch
                        made.append(branch)
                        chain.append(branch)
                        for (name, more) in stage.siblings {
                            var sibling = try child(of: previous, keys.merging(more) { _, new in new }, level: level)
                            sibling.label = stage.levels > 1 ? "\(name)-\(level)" : name
                            made.append(sibling)
                        }
                        previous = branch
                    }
                }
            }
            // A later stage branches from the chain's runs, not from the sibling controls.
            byStage[stage.name] = chain
            out += made
        }
        return out
    }
}
