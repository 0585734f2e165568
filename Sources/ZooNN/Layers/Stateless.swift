import ZooTensor

/// An activation function as a layer (no parameters).
public struct ActivationLayer: Module {
    public var activation: Activation
    public init(_ activation: Activation) { self.activation = activation }
    public var parameters: NamedTensors {
        get { NamedTensors() }
        set {}
    }
    public func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor { activation(input) }
}

/// PReLU (He et al. 2015): max(0, x) + a·min(0, x) with a learned slope `weight`, `[1]` shared
/// or `[channels]` per channel (axis 1); init 0.25 as PyTorch.
public struct PReLU: Module {
    public var weight: Tensor
    public init(parameterCount: Int = 1, initialSlope: Float = 0.25) { weight = .full([parameterCount], initialSlope) }
    public var parameters: NamedTensors {
        get { NamedTensors([("weight", weight)]) }
        set { weight = newValue.required("weight", shape: weight.shape, in: "PReLU") }
    }
    public func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor { prelu(input, slope: weight) }
}

/// Inverted dropout (Srivastava et al. 2014): in training, zeroes each element with
/// `probability` and scales the rest by 1 / (1 − probability); identity in evaluation.
public struct Dropout: Module {
    public var probability: Float
    public init(probability: Float) {
        precondition(probability >= 0 && probability < 1, "Dropout: probability \(probability) is outside [0, 1)")
        self.probability = probability
    }
    public var parameters: NamedTensors {
        get { NamedTensors() }
        set {}
    }
    public func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor {
        context.isTraining && probability > 0 ? dropout(input, probability: probability, key: context.key) : input
    }
}

/// Flattens every axis after the first: `[N, …]` → `[N, Π…]`.
public struct Flatten: Module {
    public init() {}
    public var parameters: NamedTensors {
        get { NamedTensors() }
        set {}
    }
    public func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor { input.flattened(startAxis: 1) }
}

/// Pooling as a layer: max, average, adaptive, or global average.
public struct Pool: Module {
    public enum Kind: Sendable {
        case max2d(kernelSize: (Int, Int), stride: (Int, Int)?, padding: (Int, Int))
        case avg2d(kernelSize: (Int, Int), stride: (Int, Int)?, padding: (Int, Int))
        case max1d(kernelSize: Int, stride: Int?, padding: Int)
        case avg1d(kernelSize: Int, stride: Int?, padding: Int)
        case adaptiveAvg2d(outputSize: (Int, Int))
        case adaptiveMax2d(outputSize: (Int, Int))
        /// Mean over all spatial axes: `[N, C, …]` → `[N, C]`.
        case globalAvg
    }

    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }

    /// Max pooling with a square window (stride = window unless given).
    public static func max2d(_ size: Int, stride: Int? = nil, padding: Int = 0) -> Pool {
        Pool(.max2d(kernelSize: (size, size), stride: stride.map { ($0, $0) }, padding: (padding, padding)))
    }

    /// Average pooling with a square window (stride = window unless given).
    public static func avg2d(_ size: Int, stride: Int? = nil, padding: Int = 0) -> Pool {
        Pool(.avg2d(kernelSize: (size, size), stride: stride.map { ($0, $0) }, padding: (padding, padding)))
    }

    public var parameters: NamedTensors {
        get { NamedTensors() }
        set {}
    }

    public func callAsFunction(_ input: Tensor, context: ForwardContext) -> Tensor {
        switch kind {
        case let .max2d(k, s, p): return maxPool2d(input, kernelSize: k, stride: s, padding: p)
        case let .avg2d(k, s, p): return avgPool2d(input, kernelSize: k, stride: s, padding: p)
        case let .max1d(k, s, p): return maxPool1d(input, kernelSize: k, stride: s, padding: p)
        case let .avg1d(k, s, p): return avgPool1d(input, kernelSize: k, stride: s, padding: p)
        case let .adaptiveAvg2d(o): return adaptiveAvgPool2d(input, outputSize: o)
        case let .adaptiveMax2d(o): return adaptiveMaxPool2d(input, outputSize: o)
        case .globalAvg: return globalAvgPool(input)
        }
    }
}
