import Foundation
import ZooStore

/// Brings a store's run ids to the current identity rule (``ConfigSchema/version``): each run's
/// stored config is completed with today's defaults and renamed to ``ConfigSchema/runID(of:)``,
/// with its metrics, checkpoints (files included) and sweep memberships; group keys are
/// recomputed. A run already trained is found under its new id and not trained again.
///
/// From version 1: the runs kept their `train_metrics: running` (then the default), so their ids
/// now carry it, and the running averages they stored as train loss and accuracy move to the
/// running columns. A version 1 spec that did not set `train_metrics` now plans runs measured in
/// evaluation mode (the new default): new runs, unless the spec says `train_metrics: running`.
public enum IdentityMigration {
    /// The `meta` key holding the identity version a store's ids follow (absent: version 1).
    public static let metadataKey = "identity_version"

    /// The store in messages: its checkpoint folder (beside an SQLite file), else "the store".
    private static func name(_ store: any RunStore) -> String { store.checkpointFolder?.path ?? "the store" }

    /// Renames the runs of `store` when its ids follow an older rule; does nothing otherwise.
    /// - Returns: the number of runs renamed.
    /// - Throws: ``StoreError`` when a stored config cannot be read, naming the run.
    @discardableResult
    public static func migrate(_ store: any RunStore, data: DataCache) throws -> Int {
        let current = String(ConfigSchema.version)
        let version = try store.metadata(metadataKey)
        guard version != current else { return 0 }
        if let v = version.flatMap(Int.init), v > ConfigSchema.version {
            throw StoreError(description: "\(Self.name(store)): its run ids follow identity version \(v), newer than this Zoo's \(ConfigSchema.version); use a newer Zoo")
        }
        var renames: [RunRename] = [], running: [String] = []
        for run in try store.runs(status: nil, sweep: nil, ids: nil) {
            let complete: FlatConfig
            do { complete = try ConfigSchema.complete(try FlatConfig.fromCanonicalJSON(run.config)) } catch {
                throw StoreError(description: "\(Self.name(store)): run \(run.id) has a config this Zoo cannot read: \(error)")
            }
            let id = ConfigSchema.runID(of: complete)
            // Version 1 stored the running average as train_loss/train_accuracy.
            if (version.flatMap(Int.init) ?? 1) < 2, complete["train_metrics"] == .string("running") { running.append(run.id) }
            let canonical = complete.canonicalJSON()
            let group = groupKey(complete, data: data)
            if id != run.id || canonical != run.config || group != run.groupKey {
                renames.append(RunRename(old: run.id, new: id, config: canonical, groupKey: group))
            }
        }
        try store.relabelRunningMetrics(runs: running)
        try store.renameRuns(renames)
        try store.setMetadata(metadataKey, current)
        return renames.filter { $0.old != $0.new }.count
    }

    /// The group key the planner would give (``SweepPlan``); when the data or model cannot be
    /// built here, one from the config alone (the trainer still stacks only what stacks).
    static func groupKey(_ complete: FlatConfig, data: DataCache) -> String {
        if let config = try? ConfigSchema.runConfig(complete), let prepared = try? data.load(config.data),
           let model = try? config.makeModel(for: prepared) {
            return SweepPlan.groupKey(config, model)
        }
        return Identity.hash("unbuilt " + complete.filter { $0.key != "seed" }.canonicalJSON(), length: 12)
    }
}
