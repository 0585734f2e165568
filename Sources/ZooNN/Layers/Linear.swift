import ZooTensor

/// y = x·Wᵀ + b, PyTorch's `nn.Linear`.
///
/// Parameters: `weight` `[outputSize, inputSize]`, `bias` `[outputSize]` (optional).
/// Shape: input `[…, inputSize]` → output `[…, outputSize]`.
/// Default init: U(−1/√inputSize, 1/√inputSize) for both, as PyTorch.
public struct Linear: Module {
    public var weight: Tensor
    public var bias: Tensor?

    /// A layer with explicit weights.
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear: weight must be [out, in], got \(weight.shape)")
        precondition(bias == nil || bias!.shape == [weight.shape[0]], "Linear: bias \(bias!.shape) does not match weight \(weight.shape)")
        self.weight = weight
        self.bias = bias
    }

    /// A layer of the given sizes with seeded initial weights.
    public init(inputSize: Int, outputSize: Int, bias: Bool = true, initializer: Initializer = .pytorchDefault, key: RandomKey) {
        self.init(weight: initializer.make([outputSize, inputSize], key: key.derived("weight")),
                  bias: bias ? Initializer.pytorchBias(outputSize, fanIn: inputSize, key: key.derived("bias")) : nil)
    }

    public var inputSize: Int { weight.shape[1] }
    public var outputSize: Int { weight.shape[0] }

    public var parameters: NamedTensors {
        get { NamedTensors([("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])) }
        set {
            weight = newValue.required("weight", shape: weight.shape, in: "Linear")
            if let b = bias { bias = newValue.required("bias", shape: b.shape, in: "Linear") }
        }
    }

    public func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor {
        precondition(input.rank >= 1 && input.shape[input.rank - 1] == inputSize,
                     "Linear: input \(input.shape) does not end in inputSize \(inputSize) (weight \(weight.shape))")
        // Rows of a matrix: x · Wᵀ without a transposed copy, the bias in one pass.
        if input.rank == 2 {
            let y = matmulTransposingB(input, weight)
            return bias.map { addingChannelBias(y, $0) } ?? y
        }
        let y = matmul(input, weight.transposed())
        return bias.map { y + $0 } ?? y
    }
}
