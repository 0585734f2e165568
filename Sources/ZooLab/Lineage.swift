import Foundation
import ZooData
import ZooNN
import ZooStore
import ZooTrain

/// The states of runs at points of their training, read from a store's checkpoints and, where
/// no checkpoint holds one, rebuilt: a run's start is its initialization, or for a branch the
/// state it starts from (``Branch/startState(parent:weights:config:model:data:counters:partner:)``); a
/// point before a branch's start lies in its parent's history. This is how a branch finds its
/// parent's weights, and weight rewinding finds the lineage's weights at step k.
struct Lineage {
    let store: any RunStore
    let data: DataCache
    /// Deeper lineages are refused (ids are hashes, so a cycle means a hostile store).
    static let maximumDepth = 10_000

    /// The state a branch config starts from.
    /// - Throws: ``LineageError`` naming the run and point that cannot be found.
    func startState(of config: RunConfig, model: any Module, data prepared: TrainingData, depth: Int = 0) throws -> TrainingState {
        guard let branch = config.branch else { return config.trainer.initialState(for: model) }
        guard depth < Self.maximumDepth else { throw LineageError("the lineage of run \(branch.parent) is deeper than \(Self.maximumDepth) runs") }
        let parent = try state(of: branch.parent, at: branch.at, depth: depth + 1)
        let weightsPoint = branch.weightsPoint
        let weights = weightsPoint == branch.at ? parent : try state(of: branch.parent, at: weightsPoint, depth: depth + 1)
        let counters = branch.rewind.flatMap { config.training.counters(at: $0, trainCount: prepared.train.count) }
            ?? config.training.counters(at: branch.at, trainCount: prepared.train.count) ?? (parent.epoch, parent.step)
        let partner = try branch.interpolation.map { try state(of: $0.other, at: branch.at, depth: depth + 1) }
        return try branch.startState(parent: parent, weights: weights, config: config, model: model, data: prepared, counters: counters,
                                     partner: partner)
    }

    /// The state of run `id` at `point`.
    func state(of id: String, at point: TrainingPoint, depth: Int = 0) throws -> TrainingState {
        guard depth < Self.maximumDepth else { throw LineageError("the lineage of run \(id) is deeper than \(Self.maximumDepth) runs") }
        guard SweepRunner.isRunID(id) else { throw LineageError("'\(id.prefix(40))' is not a run id") }
        guard let run = try store.runs(ids: [id]).first else { throw LineageError("run \(id), which a branch starts from, is not in the store") }
        let config = try ConfigSchema.runConfig(try FlatConfig.fromCanonicalJSON(run.config))
        let prepared = try data.load(config.data)
        let model = try config.makeModel(for: prepared)
        func checked(_ record: CheckpointRecord) throws -> TrainingState {
            let state = try StoredCheckpoint.load(record, from: store)
            try config.trainer.validate(model: model, data: prepared, resume: state)
            return state
        }
        let checkpoints = try store.checkpoints(runs: [id])
        if point == .end {
            guard run.status == .done else {
                throw LineageError("run \(id) is \(run.status.rawValue): a branch from its end waits until it is done")
            }
            guard let last = checkpoints.max(by: { $0.epoch < $1.epoch }) else { throw LineageError("run \(id) is done but has no checkpoint") }
            return try checked(last)
        }
        let n = prepared.train.count
        let wanted = config.training.counters(at: point, trainCount: n)!
        if case let .epoch(e) = point, let c = checkpoints.first(where: { $0.epoch == e }) { return try checked(c) }
        if case let .step(k) = point {
            if let c = try store.stepCheckpoints(runs: [id]).first(where: { $0.step == k }) { return try checked(c) }
            // An epoch's checkpoint taken right after step k.
            if let e = try store.metrics(runs: [id]).first(where: { $0.step == k })?.epoch, let c = checkpoints.first(where: { $0.epoch == e }) {
                return try checked(c)
            }
        }
        // The run's own start, rebuilt; a point before a branch's start is in its parent's history.
        var start = (epoch: 0, step: 0)
        if let branch = config.branch {
            // A branch from its parent's end (without rewinding) starts where the parent ended: any
            // earlier point is the parent's.
            guard let s = branch.rewind.flatMap({ config.training.counters(at: $0, trainCount: n) })
                ?? config.training.counters(at: branch.at, trainCount: n) else {
                return try state(of: branch.parent, at: point, depth: depth + 1)
            }
            if s.step > wanted.step { return try state(of: branch.parent, at: point, depth: depth + 1) }
            start = s
        }
        if start.step == wanted.step { return try startState(of: config, model: model, data: prepared, depth: depth + 1) }
        let help: String
        switch point {
        case .step: help = "add checkpoint_steps: [\(wanted.step)] to its config (or branch at an epoch: epoch:N)"
        default: help = "checkpoint every epoch (checkpoint_every: 1)"
        }
        throw LineageError("run \(id) has no checkpoint at \(point) (its training starts at step \(start.step)); help: \(help)")
    }
}

/// A branch's parent or rewind point cannot be found.
struct LineageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
