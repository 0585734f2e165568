import Foundation
import ZooStore
import Synchronization
import ZooData
import ZooNN
import ZooTensor
import ZooTrain

/// One run of a plan: its complete config, identity and group.
public struct PlannedRun: Sendable {
    /// SHA-256 of the canonical JSON of the config's non-default values (first 16 hex digits;
    /// ``ConfigSchema/runID(of:)``).
    public var id: String
    /// The complete config, every default filled in.
    public var config: FlatConfig
    /// The complete config's canonical JSON, as the store keeps it.
    public var canonical: String
    /// Runs with one group key may train as one population: the hash of ``RunConfig/populationKey(model:)``.
    public var groupKey: String
    /// The run's name in this sweep (the spec's `label:`, see ``LabelRule``); no part of its identity.
    public var label: String? = nil

    /// The run this one branches from (its config's `parent`), nil for a run that starts from its init.
    public var parent: String? {
        guard let p = config["parent"]?.description, !p.isEmpty else { return nil }
        return p
    }
}

/// What a spec expands to.
public struct SweepPlan: Sendable {
    public var spec: SweepSpec
    /// The sweep's id: a hash of the spec text.
    public var sweepID: String
    /// Distinct runs in expansion order.
    public var runs: [PlannedRun]
    /// Expanded configs that were identical to an earlier one (after defaults and dropping keys
    /// that do not apply), so not repeated.
    public var duplicates: Int
    /// Keys whose value differs between runs.
    public var variedKeys: [String]

    /// Expands `spec`: base ⊕ grid product × each zip group × random samples, completes and
    /// validates every config (building each distinct model for its data), and names each run.
    /// - Parameter maxRuns: the most runs accepted, checked with ``expandedCount(_:)`` before
    ///   anything is expanded (``SpecLimits/maximumRuns`` unless the caller allows more).
    /// - Throws: ``SpecError`` naming the file, line and key; nothing is trained then.
    public static func make(_ spec: SweepSpec, data: DataCache = DataCache(), maxRuns: Int = SpecLimits.maximumRuns) throws -> SweepPlan {
        var (runs, duplicates) = try expand(spec, maxRuns: maxRuns)
        let groups = try validateBuilds(runs, spec: spec, data: data)
        for i in runs.indices { runs[i].groupKey = groups[i] }
        let keys = Set(runs.flatMap(\.config.keys))
        let varied = keys.filter { k in Set(runs.map { $0.config[k]?.description ?? "" }).count > 1 }.sorted()
        return SweepPlan(spec: spec, sweepID: Identity.hash(spec.text), runs: runs, duplicates: duplicates, variedKeys: varied)
    }

    /// How many configs `spec` expands to before identical ones are dropped: the product of the
    /// grid axes' lengths, the zip groups' lengths and the random count (`Int.max` past it).
    public static func expandedCount(_ spec: SweepSpec) -> Int {
        let factors = spec.grid.map(\.values.count) + spec.zips.map { $0[0].values.count } + [max(1, spec.randomCount)]
        let trunk = factors.reduce(1) { r, f in
            let (p, overflow) = r.multipliedReportingOverflow(by: f)
            return overflow ? .max : p
        }
        // Each stage makes `perParent` branches of every run of the stage it branches from.
        var counts = ["trunk": trunk], total = trunk
        for stage in spec.branches {
            let parents = counts[stage.from] ?? 0
            let (all, overflow) = parents.multipliedReportingOverflow(by: stage.perParent())
            let (chain, chainOverflow) = parents.multipliedReportingOverflow(by: stage.perParent(withSiblings: false))
            counts[stage.name] = chainOverflow ? .max : chain
            let (sum, more) = total.addingReportingOverflow(overflow ? .max : all)
            total = more ? .max : sum
        }
        return total
    }

    /// The distinct runs of `spec`, each config completed and named, without building anything;
    /// refused when ``expandedCount(_:)`` passes `maxRuns`.
    package static func expand(_ spec: SweepSpec, maxRuns: Int) throws -> (runs: [PlannedRun], duplicates: Int) {
        let count = expandedCount(spec)
        guard count <= maxRuns else {
            let factors = spec.grid.map { "\($0.values.count)" } + spec.zips.map { "\($0[0].values.count) (zip)" }
                + (spec.randomCount > 0 ? ["\(spec.randomCount) (random)"] : [])
            throw SpecError(file: spec.file, line: nil, key: nil,
                            message: "expands to \(count == .max ? "more than \(Int.max)" : "\(count)") runs (\(factors.joined(separator: " × "))), more than the limit of \(maxRuns); help: narrow the axes, or allow more runs (--max-runs)")
        }
        // Each config with the label rules that name it: (rule, position in its section, spec key).
        typealias Part = (rule: LabelRule, index: Int, key: String)
        var configs: [(config: FlatConfig, parts: [Part])] = [(spec.base, [])]
        for (key, values) in spec.grid {
            configs = configs.flatMap { c in values.map { v in var c = c; c.config[key] = v; return c } }
        }
        if let rule = spec.gridLabel {
            configs = configs.enumerated().map { i, c in (c.config, c.parts + [(rule, i, "grid.label")]) }
        }
        for (g, group) in spec.zips.enumerated() {
            let n = group[0].values.count, rule = g < spec.zipLabels.count ? spec.zipLabels[g] : nil
            configs = configs.flatMap { c in
                (0..<n).map { i in
                    var c = c
                    for (k, vs) in group { c.config[k] = vs[i] }
                    if let rule { c.parts.append((rule, i, "zip.\(g).label")) }
                    return c
                }
            }
        }
        if spec.randomCount > 0 {
            let key = RandomKey(seed: spec.randomSeed, stream: 0x7261_6e64)  // "rand"
            let samples: [FlatConfig] = (0..<spec.randomCount).map { s in
                var c: FlatConfig = [:]
                for (a, (name, sampler)) in spec.randomAxes.enumerated() {
                    let u = Double(key.derived(s).derived(a).uniform(count: 1)[0])
                    c[name] = sample(sampler, u)
                }
                return c
            }
            configs = configs.flatMap { c in
                samples.enumerated().map { i, s in
                    (c.config.merging(s) { _, new in new }, c.parts + (spec.randomLabel.map { [($0, i, "random.label")] } ?? []))
                }
            }
        }
        var runs: [PlannedRun] = [], seen = Set<String>(), duplicates = 0
        for (raw, parts) in configs {
            let complete: FlatConfig
            do { complete = try ConfigSchema.complete(raw) } catch let e as ConfigError {
                let key = e.key
                throw SpecError(file: spec.file, line: key.flatMap { spec.line(of: $0) }, key: key, message: e.description)
            }
            let id = ConfigSchema.runID(of: complete)
            guard seen.insert(id).inserted else { duplicates += 1; continue }
            runs.append(PlannedRun(id: id, config: complete, canonical: complete.canonicalJSON(), groupKey: "",
                                   label: try SweepSpec.label(parts, config: complete, spec: spec)))
        }
        // With branches, the trunk's runs are named too (unless the spec names them).
        if !spec.branches.isEmpty { for i in runs.indices where runs[i].label == nil { runs[i].label = "trunk" } }
        for branch in try expandBranches(spec, trunk: runs) {
            guard seen.insert(branch.id).inserted else { duplicates += 1; continue }
            runs.append(branch)
        }
        return (runs, duplicates)
    }

    /// A run's group key: the hash of ``RunConfig/populationKey(model:)`` (runs that may train as
    /// one population share it).
    static func groupKey(_ config: RunConfig, _ model: any Module) -> String {
        Identity.hash(config.populationKey(model: model), length: 12)
    }

    static func sample(_ sampler: Sampler, _ u: Double) -> ConfigValue {
        switch sampler {
        case let .uniform(a, b): return .double(a + (b - a) * u)
        case let .logUniform(a, b): return .double(Foundation.exp(Foundation.log(a) + (Foundation.log(b) - Foundation.log(a)) * u))
        case let .intUniform(a, b): return .int(min(a + Int(u * Double(b - a + 1)), b))
        case let .choice(values): return values[min(Int(u * Double(values.count)), values.count - 1)]
        }
    }

    /// Loads each distinct data set and builds each distinct model once, so that a bad option
    /// value or a model that cannot take the data fails before anything trains.
    /// - Returns: each run's group key.
    static func validateBuilds(_ runs: [PlannedRun], spec: SweepSpec, data: DataCache) throws -> [String] {
        var built: [String: any Module] = [:]
        return try runs.map { run in
            let config = try ConfigSchema.runConfig(run.config)
            let modelKey = "\(config.model.name) \(config.model.options.sorted { $0.key < $1.key }) \(config.data)"
            if let model = built[modelKey] { return groupKey(config, model) }
            let prepared: TrainingData
            do { prepared = try data.load(config.data) } catch {
                let key = (error as? DataSpecError)?.option.map { "data." + $0 } ?? "data"
                throw SpecError(file: spec.file, line: spec.line(of: key) ?? spec.line(of: "data"), key: key, message: "\(error)")
            }
            do { built[modelKey] = try config.makeModel(for: prepared) } catch {
                let key = (error as? ModelOptionError)?.option.map { "model." + $0 } ?? "model"
                throw SpecError(file: spec.file, line: spec.line(of: key) ?? spec.line(of: "model"), key: key, message: "\(error)")
            }
            return groupKey(config, built[modelKey]!)
        }
    }
}

/// Data sets loaded once per process and shared by planning and every worker.
public final class DataCache: Sendable {
    private let loaded = Mutex<[DataSpec: TrainingData]>([:])
    public let dataDirectory: URL?

    public init(dataDirectory: URL? = nil) { self.dataDirectory = dataDirectory }

    public func load(_ spec: DataSpec) throws -> TrainingData {
        if let d = loaded.withLock({ $0[spec] }) { return d }
        let d = try DatasetCatalog.load(spec, dataDirectory: dataDirectory)
        loaded.withLock { $0[spec] = d }
        return d
    }
}

extension SweepPlan {
    /// Records the sweep and its runs in `store` — runs already there stay as they are and join
    /// it, branches name their parents — and names the runs with the spec's labels (within this
    /// sweep only: a run done under another label stays done).
    /// - Returns: the ids of the runs that were new.
    @discardableResult
    public func enqueue(into store: any RunStore) throws -> [String] {
        let added = try store.addSweep(id: sweepID, name: spec.name, spec: spec.text, runs: runs.map { ($0.id, $0.canonical, $0.groupKey) },
                                       parents: runs.reduce(into: [:]) { $0[$1.id] = $1.parent })
        try store.labelRuns(sweep: sweepID, labels: Dictionary(runs.map { ($0.id, $0.label) }) { first, _ in first })
        return added
    }
}
