import ZooTensor

/// K networks of one architecture evaluated in one pass, with their parameters stacked along a
/// new leading member axis (`features.0.weight` of shape `[K, out, in, kh, kw]`).
///
/// Activations are member-major: the input `[K·N, …]` holds member k's N samples in rows
/// `k·N ..< (k+1)·N`, and so does every activation after it. Each member computes exactly what it
/// would compute in a population of any other size (same ops, same dropout masks from its own
/// key), only in larger kernels.
///
/// Members stack when every leaf of their ``Sequential`` trees is ``Stackable`` with equal type,
/// signature and parameter shapes; ``signature(of:)`` is that rule as one value. A model that does
/// not stack (batch norm keeps running statistics; residual blocks) still forms a population of
/// one, which runs the model itself and carries its buffers: so a single model and a zoo go
/// through the same training code.
public struct Population: Sendable {
    /// The number of members.
    public let count: Int
    /// Stacked parameters: every parameter of the members with a leading axis of `count`.
    public var parameters: NamedTensors
    /// The buffers (running statistics) of a population of one that does not stack; empty otherwise.
    public var buffers: NamedTensors {
        get { if case let .single(m) = body { return m.buffers }; return NamedTensors() }
        set { if case var .single(m) = body { m.buffers = newValue; body = .single(m) } }
    }
    private var body: Body
    private let template: any Module

    private enum Body: Sendable {
        /// Stackable leaves, in order.
        case stacked([Layer])
        /// One member that does not stack, run as itself.
        case single(any Module)
    }

    /// A leaf of the members' module tree, with its path and each member's instance.
    private struct Layer: Sendable {
        var path: [String]
        var name: String
        var members: [any Stackable]
    }

    /// Stacks `members`, which must share one stackable architecture, or wraps a lone member of
    /// any architecture.
    /// - Throws: ``PopulationError`` naming the layer or tensor that cannot be stacked.
    public init(_ members: [any Module]) throws {
        guard let first = members.first else { throw PopulationError(description: "a population needs at least one member") }
        count = members.count
        template = first
        if members.count == 1 {
            // One member needs no comparison: it stacks with itself when its layers stack.
            if first.buffers.isEmpty, let leaves = try? Self.leaves(of: first) {
                body = .stacked(leaves.map { Layer(path: $0.path, name: $0.path.joined(separator: "."), members: [$0.layer]) })
            } else {
                body = .single(first)
            }
            parameters = Self.stack([first.parameters])
            return
        }
        let reference = try Self.signature(of: first)
        for (k, m) in members.enumerated().dropFirst() {
            let s = try Self.signature(of: m)
            guard s == reference else {
                let at = zip(s.split(separator: "\n"), reference.split(separator: "\n")).first { $0 != $1 }
                throw PopulationError(description: "member \(k) does not stack with member 0: "
                    + (at.map { "'\($0.0)' differs from '\($0.1)'" } ?? "their layers differ in number"))
            }
        }
        let leaves = try members.map { try Self.leaves(of: $0) }
        body = .stacked(leaves[0].indices.map { i in
            Layer(path: leaves[0][i].path, name: leaves[0][i].path.joined(separator: "."), members: leaves.map { $0[i].layer })
        })
        parameters = Self.stack(members.map(\.parameters))
    }

    /// What members must share to stack: each leaf's path, type, signature and parameter shapes,
    /// one per line. Two models stack exactly when their signatures are equal.
    /// - Throws: ``PopulationError`` when the model has a layer that does not stack or buffers.
    public static func signature(of model: any Module) throws -> String {
        if !model.buffers.isEmpty {
            throw PopulationError(description: "the model has buffers (\(model.buffers.names.prefix(3).joined(separator: ", "))…); layers with running statistics are not stackable")
        }
        return try leaves(of: model).map { leaf in
            let name = leaf.path.joined(separator: ".")
            let shapes = leaf.layer.parameters.map { "\($0.0)\($0.1.shape)" }.joined(separator: " ")
            return "\(name): \(type(of: leaf.layer)) \(leaf.layer.stackingSignature) \(shapes)"
        }.joined(separator: "\n")
    }

    private static func leaves(of module: any Module, path: [String] = []) throws -> [(path: [String], layer: any Stackable)] {
        if let s = module as? Sequential {
            return try s.children.flatMap { try leaves(of: $0.module, path: path + [$0.name]) }
        }
        guard let layer = module as? any Stackable else {
            throw PopulationError(description: "layer '\(path.joined(separator: "."))' (\(type(of: module))) is not stackable")
        }
        return [(path, layer)]
    }

    /// Member `k`'s parameters (no leading axis).
    public func member(_ k: Int) -> NamedTensors {
        precondition(k >= 0 && k < count, "Population.member: \(k) is outside 0..<\(count)")
        return Self.unstack(parameters, count: count, member: k)
    }

    /// Member `k` as a module of its own, carrying its parameters (and buffers, for a population of one).
    public func memberModule(_ k: Int) -> any Module {
        var m: any Module = template
        if case let .single(module) = body { m = module }
        m.parameters = member(k)
        return m
    }

    /// Each name's tensors stacked along a new leading axis.
    public static func stack(_ states: [NamedTensors]) -> NamedTensors {
        guard let first = states.first else { return NamedTensors() }
        if states.count == 1 { return NamedTensors(first.map { ($0, $1.reshaped([1] + $1.shape)) }) }
        return NamedTensors(first.names.map { name in (name, Tensor.stacked(states.map { $0[name]! })) })
    }

    /// Member `k`'s slice of stacked tensors.
    public static func unstack(_ stacked: NamedTensors, count: Int, member k: Int) -> NamedTensors {
        NamedTensors(stacked.map { name, t in
            let rest = Array(t.shape.dropFirst()), size = rest.elementCount
            precondition(t.shape.first == count, "Population.unstack: '\(name)' has shape \(t.shape), expected a leading axis of \(count)")
            if count == 1 { return (name, t.reshaped(rest)) }
            return (name, Tensor(shape: rest, scalars: Array(t.scalars[k * size ..< (k + 1) * size])))
        })
    }

    /// The members' outputs for their inputs. It is mutating because a population of one that
    /// does not stack updates its batch-norm statistics in training mode.
    /// - Parameters:
    ///   - input: `[K·N, …]`, member-major.
    ///   - contexts: one per member (mode and dropout key), as the member would get alone.
    /// - Returns: `[K·N, …]`, member-major.
    public mutating func callAsFunction(_ input: Tensor, contexts: [ForwardContext]) -> Tensor {
        precondition(contexts.count == count, "Population: \(contexts.count) contexts for \(count) members")
        precondition(input.rank >= 1 && input.shape[0] % count == 0,
                     "Population: input \(input.shape) does not split into \(count) members")
        switch body {
        case var .single(module):
            module.parameters = Self.unstack(parameters, count: 1, member: 0)
            let y = module(input, context: contexts[0])
            body = .single(module)
            return y
        case let .stacked(layers):
            var x = input, i = 0
            while i < layers.count {
                let layer = layers[i]
                if i + 1 < layers.count, Self.poolsInOnePass(layer, then: layers[i + 1]) {
                    let p = StackedParameters(parameters, prefix: layer.name)
                    x = stackedConv2dMaxPool2(x, weight: p["weight"]!, bias: p["bias"])
                    i += 2
                    continue
                }
                let here = contexts.map { c in layer.path.reduce(c) { $0.child($1) } }
                x = Self.apply(layer.members[0], x, parameters: StackedParameters(parameters, prefix: layer.name), members: layer.members, contexts: here)
                i += 1
            }
            return x
        }
    }

    /// Whether `layer` and `next` run as one op (``Conv2d/poolsInOnePass(then:)``).
    private static func poolsInOnePass(_ layer: Layer, then next: Layer) -> Bool {
        (layer.members[0] as? Conv2d)?.poolsInOnePass(then: next.members[0]) ?? false
    }

    /// Opens the existential: every member's layer has the first one's type (checked at init).
    private static func apply<L: Stackable>(_ first: L, _ x: Tensor, parameters: StackedParameters, members: [any Stackable],
                                            contexts: [ForwardContext]) -> Tensor {
        first.stackedForward(x, parameters: parameters, members: members.map { $0 as! L }, contexts: contexts)
    }

    /// The outputs in evaluation mode, leaving `self` unchanged.
    public func inferring(_ input: Tensor) -> Tensor {
        var copy = self
        return copy(input, contexts: Array(repeating: .inference, count: count))
    }
}

/// Members that cannot be trained as one population.
public struct PopulationError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
