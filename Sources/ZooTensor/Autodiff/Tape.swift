import Synchronization

/// Which inputs of an op need a gradient in the current backward pass.
///
/// A pullback computes only the input gradients asked for: the gradient of a convolution with
/// respect to a data batch that does not require one is never formed.
public struct GradientNeeds: Sendable {
    package let flags: [Bool]
    /// Whether input `i` needs a gradient.
    public subscript(i: Int) -> Bool { flags[i] }
}

/// Maps the gradient of an op's output to the gradients of its inputs (nil where not needed).
///
/// Pullbacks are written with differentiable tensor ops, so that with `createGraph: true` the
/// gradients they return are themselves on the tape and can be differentiated again.
public typealias Pullback = @Sendable (_ outputGradient: Tensor, _ needs: GradientNeeds) -> [Tensor?]

/// A node of the dynamic autodiff tape: the op that produced a tensor, or a leaf.
///
/// Nodes are immutable once made (the gradient box of a leaf is guarded by a mutex), and ids
/// grow with creation, so reverse id order is a topological order of any graph.
package final class TapeNode: Sendable {
    package let id: UInt64
    package let inputs: [Tensor]
    package let pullback: Pullback?
    /// Accumulated gradient of a leaf (see ``Tensor/backward(seed:)``).
    package let accumulated = Mutex<Tensor?>(nil)
    package let name: String

    package init(name: String, inputs: [Tensor], pullback: Pullback?) {
        self.id = nextNodeID.add(1, ordering: .relaxed).newValue
        self.name = name
        self.inputs = inputs
        self.pullback = pullback
    }

    package var isLeaf: Bool { pullback == nil }
}

private let nextNodeID = Atomic<UInt64>(0)

/// Whether ops record themselves on the tape (per task or thread).
public enum GradientMode {
    @TaskLocal package static var isEnabled = true

    /// Runs `body` with recording off: results carry no tape node (PyTorch's `no_grad`).
    public static func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
        try $isEnabled.withValue(false, operation: body)
    }

    /// Runs `body` with recording on, even inside a ``withoutGradients(_:)`` scope.
    public static func withGradients<R>(_ body: () throws -> R) rethrows -> R {
        try $isEnabled.withValue(true, operation: body)
    }
}

/// Runs `body` with recording off: results carry no tape node (PyTorch's `no_grad`).
public func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
    try GradientMode.withoutGradients(body)
}

extension Tensor {
    /// Whether this tensor takes part in differentiation.
    public var requiresGradient: Bool { node != nil }

    /// A copy that is a new leaf of the tape: gradients can be taken with respect to it.
    public func requiringGradient() -> Tensor {
        Tensor(shape: shape, scalars: scalars, node: TapeNode(name: "leaf", inputs: [], pullback: nil))
    }

    /// A copy that is cut from the tape (no gradient flows through it).
    public func detached() -> Tensor {
        node == nil ? self : Tensor(shape: shape, scalars: scalars, node: nil)
    }

    /// Records the result of an op on the tape when recording is on and an input is tracked.
    ///
    /// This is how every differentiable op is written: compute `shape`/`scalars` with a kernel,
    /// then hand the inputs and a pullback to `recorded`.
    package static func recorded(
        _ op: String, shape: [Int], scalars: [Float], inputs: [Tensor], pullback: @escaping Pullback
    ) -> Tensor {
        if records(inputs) {
            return Tensor(shape: shape, scalars: scalars, node: TapeNode(name: op, inputs: inputs, pullback: pullback))
        }
        return Tensor(shape: shape, scalars: scalars, node: nil)
    }

    /// Whether an op on `inputs` goes on the tape: recording is on and an input is tracked. An
    /// op may skip what only its pullback needs when it does not.
    package static func records(_ inputs: [Tensor]) -> Bool {
        GradientMode.isEnabled && inputs.contains { $0.node != nil }
    }

    /// The gradient accumulated into this leaf by ``backward(seed:)`` calls, if any.
    public var gradient: Tensor? {
        node?.accumulated.withLock { $0 }
    }

    /// Clears the gradient accumulated into this leaf.
    public func zeroGradient() {
        node?.accumulated.withLock { $0 = nil }
    }

    /// Accumulates d(self)/d(leaf) into every tracked leaf this tensor depends on (PyTorch's
    /// `backward()`): calling it for several losses sums their gradients.
    /// - Parameter seed: the output gradient; defaults to 1 for a scalar.
    public func backward(seed: Tensor? = nil) {
        guard let root = node else { preconditionFailure("backward(): the tensor is not on the tape (no input requires a gradient)") }
        let order = Tape.topologicalOrder(from: root)
        let leaves = order.filter(\.isLeaf)
        let grads = Tape.run(root: root, seed: seed ?? Tape.defaultSeed(self, op: "backward()"),
                             order: order, targets: Set(leaves.map(\.id)), createGraph: false)
        for leaf in leaves {
            guard let g = grads[leaf.id] else { continue }
            leaf.accumulated.withLock { acc in acc = acc.map { ($0 + g).detached() } ?? g }
        }
    }
}

/// Gradients of `y` with respect to each of `xs` (reverse mode).
///
/// - Parameters:
///   - y: a scalar, or any tensor when `seed` is given.
///   - xs: tensors on the tape (leaves made with ``Tensor/requiringGradient()`` or results of ops).
///   - seed: the gradient of some outer scalar with respect to `y`; defaults to 1.
///   - createGraph: when true, the returned gradients are themselves on the tape, so that they
///     can be differentiated again (Hessian-vector products, gradient penalties).
/// - Returns: one gradient per `x`, with `x`'s shape; zeros where `y` does not depend on `x`.
public func gradients(of y: Tensor, wrt xs: [Tensor], seed: Tensor? = nil, createGraph: Bool = false) -> [Tensor] {
    for (i, x) in xs.enumerated() {
        precondition(x.node != nil, "gradients(of:wrt:): input \(i) of shape \(x.shape) does not require a gradient; make it with requiringGradient()")
    }
    guard let root = y.node else { return xs.map { Tensor.zeros($0.shape) } }
    let order = Tape.topologicalOrder(from: root)
    let grads = Tape.run(root: root, seed: seed ?? Tape.defaultSeed(y, op: "gradients(of:wrt:)"),
                         order: order, targets: Set(xs.map { $0.node!.id }), createGraph: createGraph)
    return xs.map { x in grads[x.node!.id] ?? Tensor.zeros(x.shape) }
}

/// The gradient of scalar `y` with respect to `x`.
public func gradient(of y: Tensor, wrt x: Tensor, createGraph: Bool = false) -> Tensor {
    gradients(of: y, wrt: [x], createGraph: createGraph)[0]
}

/// `f(x)` and its gradient with respect to `x`, for scalar-valued `f`.
public func valueWithGradient(at x: Tensor, of f: (Tensor) -> Tensor) -> (value: Tensor, gradient: Tensor) {
    let tracked = x.requiresGradient ? x : x.requiringGradient()
    let y = f(tracked)
    return (y.detached(), gradient(of: y, wrt: tracked))
}

enum Tape {
    static func defaultSeed(_ y: Tensor, op: String) -> Tensor {
        precondition(y.count == 1, "\(op): the output has shape \(y.shape); pass a seed for a non-scalar output")
        return Tensor.ones(y.shape)
    }

    /// Every node reachable from `root`, newest first (a reverse topological order).
    static func topologicalOrder(from root: TapeNode) -> [TapeNode] {
        var seen = Set<UInt64>()
        var stack = [root]
        var nodes: [TapeNode] = []
        seen.insert(root.id)
        while let n = stack.popLast() {
            nodes.append(n)
            for input in n.inputs {
                if let m = input.node, seen.insert(m.id).inserted { stack.append(m) }
            }
        }
        nodes.sort { $0.id > $1.id }
        return nodes
    }

    /// Runs the pullbacks from `root` down, computing only what leads to a node in `targets`.
    static func run(root: TapeNode, seed: Tensor, order: [TapeNode], targets: Set<UInt64>, createGraph: Bool) -> [UInt64: Tensor] {
        // A node is useful when it is a target or one of its inputs is useful (oldest first).
        var useful = Set<UInt64>()
        for n in order.reversed() where targets.contains(n.id) || n.inputs.contains(where: { $0.node.map { useful.contains($0.id) } ?? false }) {
            useful.insert(n.id)
        }
        var grads: [UInt64: Tensor] = [root.id: createGraph ? seed : seed.detached()]
        let body = {
            for n in order {
                guard let pullback = n.pullback, let g = grads[n.id] else { continue }
                let needs = GradientNeeds(flags: n.inputs.map { $0.node.map { useful.contains($0.id) } ?? false })
                guard needs.flags.contains(true) else { continue }
                let inputGrads = pullback(g, needs)
                for (i, input) in n.inputs.enumerated() where needs[i] {
                    guard let gi = inputGrads[i], let m = input.node else { continue }
                    precondition(gi.shape == input.shape, "autodiff: the pullback of \(n.name) returned shape \(gi.shape) for an input of shape \(input.shape)")
                    if let prior = grads[m.id] { grads[m.id] = prior + gi } else { grads[m.id] = gi }
                }
                if !targets.contains(n.id) { grads[n.id] = nil }
            }
        }
        if createGraph { GradientMode.withGradients(body) } else { GradientMode.withoutGradients(body) }
        return grads
    }
}
