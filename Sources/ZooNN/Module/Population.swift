import ZooTensor

/// K networks of one architecture evaluated in one pass, with their parameters stacked along a
/// new leading member axis (`features.0.weight` of shape `[K, out, in, kh, kw]`).
///
/// Activations are member-major: the input `[K·N, …]` holds member k's N samples in rows
/// `k·N ..< (k+1)·N`, and so does every activation after it. Each member computes exactly what it
/// would compute alone (same ops, same dropout masks from its own key), only in larger kernels:
/// convolutions become ``stackedConv2d(_:weight:bias:stride:padding:dilation:groups:)``, linear
/// layers batched matrix products.
///
/// Supported layers: ``Sequential``, ``Conv2d``, ``Conv1d``, ``Linear``, ``ActivationLayer``,
/// ``Pool``, ``Flatten``, ``Dropout`` (a per-member probability). Models with other layers
/// (batch norm, residual blocks) are trained member by member.
public struct Population: Sendable {
    /// The number of members.
    public let count: Int
    /// Stacked parameters: every tensor of the members' state dict with a leading axis of `count`.
    public var parameters: NamedTensors
    private let layers: [Layer]
    private let template: any Module

    /// A leaf of the members' module tree, with its path and each member's instance.
    private struct Layer: Sendable {
        var path: [String]
        var name: String { path.joined(separator: ".") }
        var members: [any Module]
    }

    /// Stacks `members`, which must share one architecture.
    /// - Throws: ``PopulationError`` naming the layer or tensor that cannot be stacked.
    public init(_ members: [any Module]) throws {
        guard let first = members.first else { throw PopulationError(description: "a population needs at least one member") }
        let names = first.parameters.names, shapes = first.parameters.map(\.1.shape)
        for (k, m) in members.enumerated() {
            if !m.buffers.isEmpty { throw PopulationError(description: "member \(k) has buffers (\(m.buffers.names.prefix(3).joined(separator: ", "))…); layers with running statistics are not stackable") }
            guard m.parameters.names == names, m.parameters.map(\.1.shape) == shapes else {
                throw PopulationError(description: "member \(k)'s parameters \(m.parameters.names) differ from member 0's \(names) (names or shapes)")
            }
        }
        var leaves: [[(path: [String], module: any Module)]] = []
        for m in members { leaves.append(try Self.leaves(of: m, path: [])) }
        let types = leaves[0].map { String(describing: type(of: $0.module)) }
        for (k, l) in leaves.enumerated() where l.map({ String(describing: type(of: $0.module)) }) != types || l.map(\.path) != leaves[0].map(\.path) {
            throw PopulationError(description: "member \(k)'s layers \(l.map { String(describing: type(of: $0.module)) }) differ from member 0's \(types)")
        }
        count = members.count
        template = first
        layers = leaves[0].indices.map { i in Layer(path: leaves[0][i].path, members: leaves.map { $0[i].module }) }
        parameters = Self.stack(members.map(\.parameters))
    }

    private static func leaves(of module: any Module, path: [String]) throws -> [(path: [String], module: any Module)] {
        if let s = module as? Sequential {
            return try s.children.flatMap { try leaves(of: $0.module, path: path + [$0.name]) }
        }
        switch module {
        case is Conv2d, is Conv1d, is Linear, is ActivationLayer, is Pool, is Flatten, is Dropout:
            return [(path, module)]
        default:
            throw PopulationError(description: "layer '\(path.joined(separator: "."))' (\(type(of: module))) is not stackable")
        }
    }

    /// Member `k`'s parameters (no leading axis).
    public func member(_ k: Int) -> NamedTensors {
        precondition(k >= 0 && k < count, "Population.member: \(k) is outside 0..<\(count)")
        return Self.unstack(parameters, count: count, member: k)
    }

    /// Member `k` as a module of its own, carrying its parameters.
    public func memberModule(_ k: Int) -> any Module {
        var m = template
        m.parameters = member(k)
        return m
    }

    /// Each name's tensors stacked along a new leading axis.
    public static func stack(_ states: [NamedTensors]) -> NamedTensors {
        guard let first = states.first else { return NamedTensors() }
        return NamedTensors(first.names.map { name in (name, Tensor.stacked(states.map { $0[name]! })) })
    }

    /// Member `k`'s slice of stacked tensors.
    public static func unstack(_ stacked: NamedTensors, count: Int, member k: Int) -> NamedTensors {
        NamedTensors(stacked.map { name, t in
            let rest = Array(t.shape.dropFirst()), size = rest.elementCount
            precondition(t.shape.first == count, "Population.unstack: '\(name)' has shape \(t.shape), expected a leading axis of \(count)")
            return (name, Tensor(shape: rest, scalars: Array(t.scalars[k * size ..< (k + 1) * size])))
        })
    }

    /// The members' outputs for their inputs.
    /// - Parameters:
    ///   - input: `[K·N, …]`, member-major.
    ///   - contexts: one per member (mode and dropout key), as the member would get alone.
    /// - Returns: `[K·N, …]`, member-major.
    public func callAsFunction(_ input: Tensor, contexts: [ForwardContext]) -> Tensor {
        precondition(contexts.count == count, "Population: \(contexts.count) contexts for \(count) members")
        precondition(input.rank >= 1 && input.shape[0] % count == 0,
                     "Population: input \(input.shape) does not split into \(count) members")
        var x = input
        for layer in layers {
            x = apply(layer, x, contexts: contexts)
        }
        return x
    }

    private func apply(_ layer: Layer, _ x: Tensor, contexts: [ForwardContext]) -> Tensor {
        let k = count, n = x.shape[0] / count
        func stacked(_ tensor: String) -> Tensor? { parameters[layer.name.isEmpty ? tensor : layer.name + "." + tensor] }
        switch layer.members[0] {
        case let c as Conv2d:
            return stackedConv2d(x, weight: stacked("weight")!, bias: stacked("bias"), stride: c.stride, padding: c.padding,
                                 dilation: c.dilation, groups: c.groups)
        case let c as Conv1d:
            precondition(x.rank == 3, "Population: Conv1d '\(layer.name)' needs [K·N, C, L], got \(x.shape)")
            let w = stacked("weight")!, s = w.shape
            let y = stackedConv2d(x.reshaped([x.shape[0], x.shape[1], 1, x.shape[2]]), weight: w.reshaped([s[0], s[1], s[2], 1, s[3]]),
                                  bias: stacked("bias"), stride: (1, c.stride), padding: (0, c.padding), dilation: (1, c.dilation), groups: c.groups)
            return y.reshaped([y.shape[0], y.shape[1], y.shape[3]])
        case let l as Linear:
            precondition(x.rank == 2 && x.shape[1] == l.inputSize,
                         "Population: Linear '\(layer.name)' needs [K·N, \(l.inputSize)], got \(x.shape)")
            let y = matmul(x.reshaped([k, n, l.inputSize]), stacked("weight")!.permuted([0, 2, 1])).reshaped([k * n, l.outputSize])
            return stacked("bias").map { addingChannelBias(y, $0) } ?? y
        case is Dropout:
            let training = contexts.indices.filter { contexts[$0].isTraining && (layer.members[$0] as! Dropout).probability > 0 }
            guard !training.isEmpty else { return x }
            let sample = Array(x.shape.dropFirst())
            let masks = (0..<k).map { m -> Tensor in
                let p = (layer.members[m] as! Dropout).probability
                guard contexts[m].isTraining && p > 0 else { return Tensor.ones([n] + sample) }
                return Tensor.bernoulli([n] + sample, probability: 1 - p, key: Self.key(contexts[m], layer.path)) * (1 / (1 - p))
            }
            return x * Tensor.concatenated(masks)
        default:
            var m = layer.members[0]
            return m(x, context: contexts[0])
        }
    }

    /// The key a layer at `path` receives inside a member's ``Sequential`` tree.
    private static func key(_ context: ForwardContext, _ path: [String]) -> RandomKey {
        path.reduce(context) { $0.child($1) }.key
    }
}

/// Members that cannot be trained as one population.
public struct PopulationError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
