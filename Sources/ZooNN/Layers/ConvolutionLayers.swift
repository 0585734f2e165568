import ZooTensor

/// 2-D convolution, PyTorch's `nn.Conv2d` (cross-correlation).
///
/// Parameters: `weight` `[outChannels, inChannels / groups, kh, kw]`, `bias` `[outChannels]`.
/// Shape: `[N, inChannels, H, W]` → `[N, outChannels, H', W']` with
/// `H' = ⌊(H + 2·padding − dilation·(kh − 1) − 1) / stride⌋ + 1`.
/// Default init: U(−1/√fanIn, 1/√fanIn), fanIn = inChannels / groups · kh · kw.
public struct Conv2d: Module {
    public var weight: Tensor
    public var bias: Tensor?
    public var stride: (Int, Int)
    public var padding: (Int, Int)
    public var dilation: (Int, Int)
    public var groups: Int

    public init(weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1), groups: Int = 1) {
        precondition(weight.rank == 4, "Conv2d: weight must be [out, in/groups, kh, kw], got \(weight.shape)")
        precondition(groups >= 1 && weight.shape[0] % groups == 0, "Conv2d: groups \(groups) must divide outChannels \(weight.shape[0])")
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public init(inChannels: Int, outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                initializer: Initializer = .pytorchDefault, key: RandomKey) {
        precondition(groups >= 1 && inChannels % groups == 0, "Conv2d: groups \(groups) must divide inChannels \(inChannels)")
        let shape = [outChannels, inChannels / groups, kernelSize.0, kernelSize.1]
        self.init(weight: initializer.make(shape, key: key.derived("weight")),
                  bias: bias ? Initializer.pytorchBias(outChannels, fanIn: Initializer.fans(of: shape).fanIn, key: key.derived("bias")) : nil,
                  stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// A square kernel with one stride and padding on both axes.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                groups: Int = 1, bias: Bool = true, initializer: Initializer = .pytorchDefault, key: RandomKey) {
        self.init(inChannels: inChannels, outChannels: outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: (padding, padding), groups: groups, bias: bias, initializer: initializer, key: key)
    }

    public var parameters: NamedTensors {
        get { NamedTensors([("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])) }
        set {
            weight = newValue.required("weight", shape: weight.shape, in: "Conv2d")
            if let b = bias { bias = newValue.required("bias", shape: b.shape, in: "Conv2d") }
        }
    }

    public func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor {
        conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// Whether this convolution and `next` after it run as one op,
    /// ``stackedConv2dMaxPool2(_:weight:bias:)``: stride 1 without padding, dilation or groups,
    /// then a 2×2 max pool of stride 2 (``Sequential`` and ``Population`` do).
    public func poolsInOnePass(then next: any Module) -> Bool {
        guard let pool = next as? Pool, case let .max2d(kernel, poolStride, poolPadding) = pool.kind else { return false }
        return stride == (1, 1) && padding == (0, 0) && dilation == (1, 1) && groups == 1
            && kernel == (2, 2) && (poolStride.map { $0 == (2, 2) } ?? true) && poolPadding == (0, 0)
    }

    /// This convolution, then the 2×2 max pool after it (``poolsInOnePass(then:)``).
    public func maxPooled(_ input: Tensor) -> Tensor {
        stackedConv2dMaxPool2(input, weight: weight.reshaped([1] + weight.shape), bias: bias?.reshaped([1, weight.shape[0]]))
    }
}

/// 1-D convolution, PyTorch's `nn.Conv1d`.
///
/// Parameters: `weight` `[outChannels, inChannels / groups, k]`, `bias` `[outChannels]`.
/// Shape: `[N, inChannels, L]` → `[N, outChannels, L']`, `L' = ⌊(L + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1`.
public struct Conv1d: Module {
    public var weight: Tensor
    public var bias: Tensor?
    public var stride: Int
    public var padding: Int
    public var dilation: Int
    public var groups: Int

    public init(weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) {
        precondition(weight.rank == 3, "Conv1d: weight must be [out, in/groups, k], got \(weight.shape)")
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, initializer: Initializer = .pytorchDefault, key: RandomKey) {
        precondition(groups >= 1 && inChannels % groups == 0, "Conv1d: groups \(groups) must divide inChannels \(inChannels)")
        let shape = [outChannels, inChannels / groups, kernelSize]
        self.init(weight: initializer.make(shape, key: key.derived("weight")),
                  bias: bias ? Initializer.pytorchBias(outChannels, fanIn: Initializer.fans(of: shape).fanIn, key: key.derived("bias")) : nil,
                  stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    public var parameters: NamedTensors {
        get { NamedTensors([("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])) }
        set {
            weight = newValue.required("weight", shape: weight.shape, in: "Conv1d")
            if let b = bias { bias = newValue.required("bias", shape: b.shape, in: "Conv1d") }
        }
    }

    public func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor {
        conv1d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}
