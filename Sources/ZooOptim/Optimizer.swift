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
func fusedUpdate(parameters: NamedTensors, gradients: NamedTensors, state: NamedTensors, slots: [String],
                 _ body: (_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ s: [UnsafeMutablePointer<Float>], _ n: Int) -> Void)
    -> (parameters: NamedTensors, state: NamedTensors)
{
    var newParameters = parameters, newState = state
    for (name, g) in gradients {
        guard let p = parameters[name] else { preconditionFailure("optimizer: gradient '\(name)' has no parameter") }
        precondition(p.shape == g.shape, "optimizer: gradient '\(name)' has shape \(g.shape) but the parameter has \(p.shape)")
        var pv = p.scalars
        let buffers = slots.map { slot -> UnsafeMutableBufferPointer<Float> in
            guard let s = state["\(slot).\(name)"] else { preconditionFailure("optimizer: state lacks '\(slot).\(name)'; make it with initialState(for:)") }
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(s.count, 1))
            _ = buffer.initialize(from: s.scalars)
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }
        let n = pv.count
        g.scalars.withUnsafeBufferPointer { pg in
            pv.withUnsafeMutableBufferPointer { pp in
                guard n > 0 else { return }
                // Elementwise, so large tensors split into chunks over Zoo's threads.
                let chunk = 1 << 15, chunks = (n + chunk - 1) / chunk
                let (p0, g0, s0) = (pp.baseAddress!, pg.baseAddress!, buffers.map { $0.baseAddress! })
                BLAS.parallelFor(chunks) { c, _ in
                    let start = c * chunk
                    body(p0 + start, g0 + start, s0.map { $0 + start }, min(chunk, n - start))
                }
            }
        }
        newParameters[name] = Tensor(shape: p.shape, scalars: pv)
        for (slot, buffer) in zip(slots, buffers) { newState["\(slot).\(name)"] = Tensor(shape: p.shape, scalars: Array(buffer.prefix(n))) }
    }
    let step = (state["step"]?.scalar ?? 0) + 1
    newState["step"] = Tensor(step)
    return (newParameters, newState)
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
