import ZooTensor

/// A layer that K members of one architecture run in one pass, with their parameters stacked
/// along a new leading member axis (``Population``).
///
/// Stackability is a property each layer declares, not a switch over types: a layer conforms,
/// says in ``stackingSignature`` everything besides its parameter values that decides what it
/// computes, and computes the members' outputs in ``stackedForward(_:parameters:members:contexts:)``.
/// Members stack only where every layer's type and signature are equal, so a population can
/// never run member 0's layer for a member whose layer differs.
public protocol Stackable: Module {
    /// Every hyperparameter that changes the computation (activation, stride, padding, pooling
    /// kind, …), as text. Parameter names and shapes are compared separately; values that may
    /// differ per member (a dropout probability) are left out.
    var stackingSignature: String { get }

    /// The members' outputs for member-major input.
    /// - Parameters:
    ///   - input: `[K·N, …]`, member k's samples in rows `k·N ..< (k+1)·N`.
    ///   - parameters: this layer's parameters, each `[K, …]`, under the layer's own names.
    ///   - members: each member's instance of this layer (equal signatures).
    ///   - contexts: each member's context at this layer (mode and random key).
    /// - Returns: `[K·N, …]`, member-major; member k's rows equal what it computes alone.
    func stackedForward(_ input: Tensor, parameters: StackedParameters, members: [Self], contexts: [ForwardContext]) -> Tensor
}

/// A layer's view of a population's stacked parameters: `parameters["weight"]` is the tensor
/// `PATH.weight` with its leading member axis.
public struct StackedParameters {
    let all: NamedTensors
    let prefix: String

    public init(_ all: NamedTensors, prefix: String) {
        self.all = all
        self.prefix = prefix
    }

    public subscript(_ name: String) -> Tensor? { all[prefix.isEmpty ? name : prefix + "." + name] }
}

/// Stateless layers whose computation does not depend on the member: each member's rows go
/// through the layer as they would alone, so the whole stack does in one call.
protocol StackableByRows: Stackable {}

extension StackableByRows {
    public func stackedForward(_ input: Tensor, parameters: StackedParameters, members: [Self], contexts: [ForwardContext]) -> Tensor {
        var layer = self
        return layer(input, context: contexts[0])
    }
}

extension ActivationLayer: StackableByRows {
    public var stackingSignature: String { "activation \(activation.rawValue)" }
}

extension Flatten: StackableByRows {
    public var stackingSignature: String { "flatten" }
}

extension Pool: StackableByRows {
    public var stackingSignature: String {
        switch kind {
        case let .max2d(k, s, p): return "max2d \(k) \(String(describing: s)) \(p)"
        case let .avg2d(k, s, p): return "avg2d \(k) \(String(describing: s)) \(p)"
        case let .max1d(k, s, p): return "max1d \(k) \(String(describing: s)) \(p)"
        case let .avg1d(k, s, p): return "avg1d \(k) \(String(describing: s)) \(p)"
        case let .adaptiveAvg2d(o): return "adaptiveAvg2d \(o)"
        case let .adaptiveMax2d(o): return "adaptiveMax2d \(o)"
        case .globalAvg: return "globalAvg"
        }
    }
}

extension Dropout: Stackable {
    /// The probability may differ per member: each member's mask uses its own.
    public var stackingSignature: String { "dropout" }

    public func stackedForward(_ input: Tensor, parameters: StackedParameters, members: [Dropout], contexts: [ForwardContext]) -> Tensor {
        guard members.indices.contains(where: { contexts[$0].isTraining && members[$0].probability > 0 }) else { return input }
        let n = input.shape[0] / members.count, sample = [n] + Array(input.shape.dropFirst())
        let masks = members.indices.map { m -> Tensor in
            let p = members[m].probability
            guard contexts[m].isTraining && p > 0 else { return Tensor.ones(sample) }
            return Tensor.bernoulli(sample, probability: 1 - p, key: contexts[m].key) * (1 / (1 - p))
        }
        return input * Tensor.concatenated(masks)
    }
}

extension Conv2d: Stackable {
    public var stackingSignature: String { "conv2d stride \(stride) padding \(padding) dilation \(dilation) groups \(groups) bias \(bias != nil)" }

    public func stackedForward(_ input: Tensor, parameters: StackedParameters, members: [Conv2d], contexts: [ForwardContext]) -> Tensor {
        stackedConv2d(input, weight: parameters["weight"]!, bias: parameters["bias"], stride: stride, padding: padding,
                      dilation: dilation, groups: groups)
    }
}

extension Conv1d: Stackable {
    public var stackingSignature: String { "conv1d stride \(stride) padding \(padding) dilation \(dilation) groups \(groups) bias \(bias != nil)" }

    /// As a 2-D convolution of height 1.
    public func stackedForward(_ input: Tensor, parameters: StackedParameters, members: [Conv1d], contexts: [ForwardContext]) -> Tensor {
        let w = parameters["weight"]!, s = w.shape, x = input
        let y = stackedConv2d(x.reshaped([x.shape[0], x.shape[1], 1, x.shape[2]]), weight: w.reshaped([s[0], s[1], s[2], 1, s[3]]),
                              bias: parameters["bias"], stride: (1, stride), padding: (0, padding), dilation: (1, dilation), groups: groups)
        return y.reshaped([y.shape[0], y.shape[1], y.shape[3]])
    }
}

extension Linear: Stackable {
    public var stackingSignature: String { "linear bias \(bias != nil)" }

    /// One `x · Wᵀ` product per member (``stackedMatmul(_:_:transposingA:transposingB:)``): the
    /// GEMM each member gets alone, with no transposed copy of the weights.
    public func stackedForward(_ input: Tensor, parameters: StackedParameters, members: [Linear], contexts: [ForwardContext]) -> Tensor {
        precondition(input.rank == 2 && input.shape[1] == inputSize, "Linear (stacked): needs [K·N, \(inputSize)], got \(input.shape)")
        let k = members.count, n = input.shape[0] / k
        let y = stackedMatmul(input.reshaped([k, n, inputSize]), parameters["weight"]!, transposingB: true).reshaped([k * n, outputSize])
        return parameters["bias"].map { addingChannelBias(y, $0) } ?? y
    }
}
