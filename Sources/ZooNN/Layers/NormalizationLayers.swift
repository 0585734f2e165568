import ZooTensor

/// Batch normalization over axis 1 (Ioffe & Szegedy 2015), PyTorch's `nn.BatchNorm1d/2d`.
///
/// Parameters: `weight` (γ, init 1) and `bias` (β, init 0), `[channels]`.
/// Buffers: `running_mean` (init 0), `running_var` (init 1), `num_batches_tracked`.
/// Shape: `[N, channels]` or `[N, channels, …]`, unchanged. Training mode normalizes with batch
/// statistics and updates the running ones with `momentum` (0.1), or with 1/k at the k-th batch
/// since `num_batches_tracked` was 0 (the cumulative average of PyTorch's `momentum=None`) when the
/// context asks for it; evaluation uses the running ones.
public struct BatchNorm: Module {
    public var weight: Tensor?
    public var bias: Tensor?
    public var runningMean: Tensor
    public var runningVariance: Tensor
    public var batchesTracked: Tensor
    public var momentum: Float
    public var epsilon: Float

    public init(channels: Int, affine: Bool = true, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        weight = affine ? .ones([channels]) : nil
        bias = affine ? .zeros([channels]) : nil
        runningMean = .zeros([channels])
        runningVariance = .ones([channels])
        batchesTracked = Tensor(0)
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public var channels: Int { runningMean.count }

    public var parameters: NamedTensors {
        get {
            guard let w = weight, let b = bias else { return NamedTensors() }
            return NamedTensors([("weight", w), ("bias", b)])
        }
        set {
            guard weight != nil else { return }
            weight = newValue.required("weight", shape: [channels], in: "BatchNorm")
            bias = newValue.required("bias", shape: [channels], in: "BatchNorm")
        }
    }

    public var buffers: NamedTensors {
        get { NamedTensors([("running_mean", runningMean), ("running_var", runningVariance), ("num_batches_tracked", batchesTracked)]) }
        set {
            runningMean = newValue.required("running_mean", shape: [channels], in: "BatchNorm")
            runningVariance = newValue.required("running_var", shape: [channels], in: "BatchNorm")
            batchesTracked = newValue.required("num_batches_tracked", shape: [], in: "BatchNorm")
        }
    }

    public mutating func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor {
        callAsFunction(input, context: context, thenReLU: false)
    }

    /// The forward pass, plus `residual` when given, followed by a ReLU when `thenReLU`, in the
    /// same pass (``Sequential`` fuses a batch norm with the ReLU layer after it, ``BasicBlock``
    /// its last batch norm with the shortcut's sum and ReLU).
    public mutating func callAsFunction(_ input: Tensor, context: ForwardContext, residual: Tensor? = nil, thenReLU: Bool) -> Tensor {
        let factor = context.cumulativeStatistics ? 1 / (batchesTracked.scalar + 1) : momentum
        let r = batchNorm(input, weight: weight, bias: bias, runningMean: runningMean, runningVariance: runningVariance,
                          training: context.isTraining, momentum: factor, epsilon: epsilon, residual: residual, thenReLU: thenReLU)
        if context.isTraining {
            runningMean = r.runningMean
            runningVariance = r.runningVariance
            batchesTracked = Tensor(batchesTracked.scalar + 1)
        }
        return r.output
    }
}

/// Layer normalization over the trailing axes (Ba et al. 2016), PyTorch's `nn.LayerNorm`.
///
/// Parameters: `weight` (init 1) and `bias` (init 0) of `normalizedShape`.
public struct LayerNorm: Module {
    public var weight: Tensor
    public var bias: Tensor
    public var epsilon: Float

    public init(normalizedShape: [Int], epsilon: Float = 1e-5) {
        weight = .ones(normalizedShape)
        bias = .zeros(normalizedShape)
        self.epsilon = epsilon
    }

    public var parameters: NamedTensors {
        get { NamedTensors([("weight", weight), ("bias", bias)]) }
        set {
            weight = newValue.required("weight", shape: weight.shape, in: "LayerNorm")
            bias = newValue.required("bias", shape: bias.shape, in: "LayerNorm")
        }
    }

    public func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor {
        layerNorm(input, normalizedAxes: weight.rank, weight: weight, bias: bias, epsilon: epsilon)
    }
}

/// Group normalization (Wu & He 2018), PyTorch's `nn.GroupNorm`: statistics per sample over
/// each group of `channels / groups` channels and all spatial positions.
///
/// Parameters: `weight` (init 1) and `bias` (init 0), `[channels]`.
public struct GroupNorm: Module {
    public var groups: Int
    public var weight: Tensor
    public var bias: Tensor
    public var epsilon: Float

    public init(groups: Int, channels: Int, epsilon: Float = 1e-5) {
        precondition(groups >= 1 && channels % groups == 0, "GroupNorm: groups \(groups) must divide channels \(channels)")
        self.groups = groups
        weight = .ones([channels])
        bias = .zeros([channels])
        self.epsilon = epsilon
    }

    public var parameters: NamedTensors {
        get { NamedTensors([("weight", weight), ("bias", bias)]) }
        set {
            weight = newValue.required("weight", shape: weight.shape, in: "GroupNorm")
            bias = newValue.required("bias", shape: bias.shape, in: "GroupNorm")
        }
    }

    public func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor {
        groupNorm(input, groups: groups, weight: weight, bias: bias, epsilon: epsilon)
    }
}
