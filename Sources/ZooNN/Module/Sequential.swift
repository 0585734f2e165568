import ZooTensor

/// Named children applied in order, like PyTorch's `nn.Sequential`: a child called `0` owns the
/// parameters `0.weight`, `0.bias`, … Children without parameters (activations, pooling) still
/// take an index, so names line up with the PyTorch twin.
public struct Sequential: Module {
    /// The children and their names, in application order.
    public var children: [(name: String, module: any Module)]

    /// Children named by their index: `0`, `1`, …
    public init(_ modules: [any Module]) {
        children = modules.enumerated().map { (String($0.offset), $0.element) }
    }

    /// Children with explicit names (unique; no dots).
    public init(named children: [(String, any Module)]) {
        precondition(Set(children.map(\.0)).count == children.count, "Sequential: duplicate child names \(children.map(\.0))")
        precondition(children.allSatisfy { !$0.0.contains(".") && !$0.0.isEmpty }, "Sequential: child names must be non-empty and dot-free: \(children.map(\.0))")
        self.children = children.map { (name: $0.0, module: $0.1) }
    }

    public var parameters: NamedTensors {
        get { gatherChildren(\.parameters) }
        set { for i in children.indices { children[i].module.parameters = newValue.children(of: children[i].name) } }
    }

    public var buffers: NamedTensors {
        get { gatherChildren(\.buffers) }
        set { for i in children.indices { children[i].module.buffers = newValue.children(of: children[i].name) } }
    }

    private func gatherChildren(_ part: (any Module) -> NamedTensors) -> NamedTensors {
        var out = NamedTensors()
        for (name, module) in children { out.append(contentsOf: part(module), prefix: name) }
        return out
    }

    /// Applies the children in order. A ``BatchNorm`` followed by a ReLU ``ActivationLayer`` runs
    /// as one pass (``BatchNorm/callAsFunction(_:context:residual:thenReLU:)``), with the same result.
    public mutating func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor {
        apply(children.indices, input, context: context)
    }

    /// Applies the children, adds `residual` and applies `activation`: a residual block's end.
    /// When the last child is a ``BatchNorm``, the sum (and a ReLU) run in its pass, with the same
    /// result.
    public mutating func callAsFunction(_ input: Tensor, context: ForwardContext, residual: Tensor, then activation: Activation) -> Tensor {
        let relu = activation == .relu
        guard let last = children.indices.last, var norm = children[last].module as? BatchNorm else {
            let y = apply(children.indices, input, context: context)
            return relu ? reluOfSum(y, residual) : activation(y + residual)
        }
        let x = apply(children.startIndex..<last, input, context: context)
        let y = norm(x, context: context.child(children[last].name), residual: residual, thenReLU: relu)
        children[last].module = norm
        return relu ? y : activation(y)
    }

    /// The children in `range`, in order, fusing a batch norm with a ReLU after it and a
    /// convolution with a 2×2 max pool after it (``Conv2d/poolsInOnePass(then:)``).
    private mutating func apply(_ range: Range<Int>, _ input: Tensor, context: ForwardContext) -> Tensor {
        var x = input, i = range.lowerBound
        while i < range.upperBound {
            if i + 1 < range.upperBound, let conv = children[i].module as? Conv2d, conv.poolsInOnePass(then: children[i + 1].module) {
                x = conv.maxPooled(x)
                i += 2
                continue
            }
            if i + 1 < range.upperBound, var norm = children[i].module as? BatchNorm,
               (children[i + 1].module as? ActivationLayer)?.activation == .relu {
                x = norm(x, context: context.child(children[i].name), thenReLU: true)
                children[i].module = norm
                i += 2
                continue
            }
            x = children[i].module(x, context: context.child(children[i].name))
            i += 1
        }
        return x
    }
}
