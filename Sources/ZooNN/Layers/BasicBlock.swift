import ZooTensor

/// The basic residual block of ResNet (He et al. 2016): act(bn2(conv2(act(bn1(conv1(x))))) + s(x)).
///
/// Parameters: `conv1`, `bn1`, `conv2`, `bn2` (3×3 convolutions without bias) and, with a
/// projection shortcut, `shortcut.0` (1×1 convolution) and `shortcut.1` (batch norm). Without a
/// projection, a change of shape is handled by the paper's option A: subsample by the stride and
/// pad the new channels with zeros.
public struct BasicBlock: Module {
    public var body: Sequential
    public var shortcut: Sequential?
    public var activation: Activation
    public let inChannels: Int, outChannels: Int, stride: Int

    public init(inChannels: Int, outChannels: Int, stride: Int, activation: Activation = .relu, projection: Bool = false,
                initializer: Initializer = .pytorchDefault, key: RandomKey) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.stride = stride
        self.activation = activation
        body = Sequential(named: [
            ("conv1", Conv2d(inChannels, outChannels, kernelSize: 3, stride: stride, padding: 1, bias: false, initializer: initializer, key: key.derived("conv1"))),
            ("bn1", BatchNorm(channels: outChannels)),
            ("act1", ActivationLayer(activation)),
            ("conv2", Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1, bias: false, initializer: initializer, key: key.derived("conv2"))),
            ("bn2", BatchNorm(channels: outChannels)),
        ])
        if projection && (stride != 1 || inChannels != outChannels) {
            shortcut = Sequential([
                Conv2d(inChannels, outChannels, kernelSize: 1, stride: stride, bias: false, initializer: initializer, key: key.derived("shortcut")),
                BatchNorm(channels: outChannels),
            ])
        }
    }

    public var parameters: NamedTensors {
        get {
            var p = body.parameters
            if let s = shortcut { p.append(contentsOf: s.parameters, prefix: "shortcut") }
            return p
        }
        set {
            body.parameters = newValue.filter { !$0.hasPrefix("shortcut.") }
            shortcut?.parameters = newValue.children(of: "shortcut")
        }
    }

    public var buffers: NamedTensors {
        get {
            var b = body.buffers
            if let s = shortcut { b.append(contentsOf: s.buffers, prefix: "shortcut") }
            return b
        }
        set {
            body.buffers = newValue.filter { !$0.hasPrefix("shortcut.") }
            shortcut?.buffers = newValue.children(of: "shortcut")
        }
    }

    public mutating func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor {
        let s = shortcut != nil ? shortcut!(input, context: context.child("shortcut")) : optionAShortcut(input)
        // The sum and its ReLU in bn2's pass (and one pass back).
        return body(input, context: context, residual: s, then: activation)
    }

    /// x[:, :, ::stride, ::stride] with the channels zero-padded equally on both sides to `outChannels`.
    private func optionAShortcut(_ x: Tensor) -> Tensor {
        var s = x.subsampled(stride: (stride, stride))
        let extra = outChannels - inChannels
        if extra > 0 { s = s.padded(axis: 1, before: extra / 2, after: extra - extra / 2) }
        return s
    }
}
