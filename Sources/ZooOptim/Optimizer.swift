import ZooTensor

/// An optimizer as a value (optax's shape): `initialState` and a pure `update`.
///
/// The state is a `NamedTensors` — `momentum.<name>`, `exp_avg.<name>`, … plus a scalar `step` —
/// so it is checkpointed next to the weights and can be stacked per population member.
/// Updates never touch the tape.
public protocol Optimizer: Sendable, Codable, Equatable {
    /// The base learning rate (a schedule scales it per step).
    var learningRate: Float { get }
    /// State for `parameters`, all zeros.
    func initialState(for parameters: NamedTensors) -> NamedTensors
    /// New parameters and state after one step. Only names present in `gradients` change
    /// (frozen parameters have no gradient). `learningRate` is this step's rate.
    func update(parameters: NamedTensors, gradients: NamedTensors, state: NamedTensors, learningRate: Float)
        -> (parameters: NamedTensors, state: NamedTensors)
}

/// Per-tensor state slots of an optimizer, named `<slot>.<parameter>`.
struct Slots {
    static func zeros(_ slots: [String], for parameters: NamedTensors) -> NamedTensors {
        var state = NamedTensors()
        for slot in slots {
            for (name, p) in parameters { state.append("\(slot).\(name)", Tensor.zeros(p.shape)) }
        }
        state.append("step", Tensor(0))
        return state
    }
}

/// Runs `body(p, g, slots…, count)` over raw buffers for each parameter that has a gradient,
/// writing the new parameter and slots in place: one fused loop per tensor, no temporaries.
///
/// The new parameter and slots are fresh arrays (the old tensors are values others may hold).
/// Each chunk of 32 Ki elements is copied into them and updated at once, over Zoo's threads, so
/// the update reads what the copy just brought into the cache.
func fusedUpdate(parameters: NamedTensors, gradients: NamedTensors, state: NamedTensors, slots: [String],
                 _ body: (_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ s: [UnsafeMutablePointer<Float>], _ n: Int) -> Void)
    -> (parameters: NamedTensors, state: NamedTensors)
{
    var newParameters = parameters, newState = state
    for (name, g) in gradients {
        guard let p = parameters[name] else { preconditionFailure("optimizer: gradient '\(name)' has no parameter") }
        precondition(p.shape == g.shape, "optimizer: gradient '\(name)' has shape \(g.shape) but the parameter has \(p.shape)")
        let old = [p.scalars] + slots.map { slot -> [Float] in
            guard let s = state["\(slot).\(name)"] else { preconditionFailure("optimizer: state lacks '\(slot).\(name)'; make it with initialState(for:)") }
            precondition(s.count == p.count, "optimizer: state '\(slot).\(name)' has shape \(s.shape) but the parameter has \(p.shape)")
            return s.scalars
        }
        let n = p.count
        var new = old.map { _ in [Float](unsafeUninitializedCapacity: n) { _, count in count = n } }
        if n > 0 {
            withReadPointers(old[...]) { sources in
                withWritePointers(&new) { targets in
                    g.scalars.withUnsafeBufferPointer { pg in
                        let chunk = 1 << 15, chunks = (n + chunk - 1) / chunk
                        let g0 = pg.baseAddress!
                        BLAS.parallelFor(chunks) { c, _ in
                            let start = c * chunk, count = min(chunk, n - start)
                            for (source, target) in zip(sources, targets) {
                                (target + start).update(from: source + start, count: count)
                            }
                            body(targets[0] + start, g0 + start, targets.dropFirst().map { $0 + start }, count)
                        }
                    }
                }
            }
        }
        newParameters[name] = Tensor(shape: p.shape, scalars: new[0])
        for (slot, values) in zip(slots, new.dropFirst()) { newState["\(slot).\(name)"] = Tensor(shape: p.shape, scalars: values) }
    }
    let step = (state["step"]?.scalar ?? 0) + 1
    newState["step"] = Tensor(step)
    return (newParameters, newState)
}

/// Calls `body` with the base addresses of non-empty `arrays`, in order.
private func withReadPointers<R>(_ arrays: ArraySlice<[Float]>, _ found: [UnsafePointer<Float>] = [],
                                 _ body: ([UnsafePointer<Float>]) -> R) -> R {
    guard let first = arrays.first else { return body(found) }
    return first.withUnsafeBufferPointer { withReadPointers(arrays.dropFirst(), found + [$0.baseAddress!], body) }
}

/// Calls `body` with the base addresses of non-empty, uniquely held `arrays`, in order.
private func withWritePointers<R>(_ arrays: inout [[Float]], _ body: ([UnsafeMutablePointer<Float>]) -> R) -> R {
    guard var last = arrays.popLast() else { return body([]) }
    defer { arrays.append(last) }
    return withWritePointers(&arrays) { found in last.withUnsafeMutableBufferPointer { body(found + [$0.baseAddress!]) } }
}

/// Scales gradients so that their global L2 norm is at most `maxNorm` (Pascanu et al. 2013);
/// returns the norm before clipping.
public func clipByGlobalNorm(_ gradients: NamedTensors, maxNorm: Float) -> (gradients: NamedTensors, norm: Float) {
    precondition(maxNorm > 0, "clipByGlobalNorm: maxNorm must be positive, got \(maxNorm)")
    var sum = 0.0
    for g in gradients.tensors { for v in g.scalars { sum += Double(v) * Double(v) } }
    let norm = Float(sum.squareRoot())
    guard norm > maxNorm else { return (gradients, norm) }
    let scale = maxNorm / (norm + 1e-6)
    return (withoutGradients { gradients.mapTensors { $0.detached() * scale } }, norm)
}
