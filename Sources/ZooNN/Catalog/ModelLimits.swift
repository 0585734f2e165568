import Foundation
import ZooTensor

/// Bounds on the models the catalog builds, checked from the options and the input shape before
/// any weight is allocated (DESIGN.md, "Hostile input is normal input"): a model past them is a
/// ``ModelOptionError`` naming the option, never an abort on a terabyte allocation.
public enum ModelLimits {
    /// The most parameters a catalog model may have: 500 million, 2 GB of Float32 weights and
    /// 8 GB with their gradients and Adam's two moments. The catalog's defaults have 2,464 to
    /// 270 thousand; a model past this bound would not train on a CPU in useful time.
    public static let maximumParameters = 500_000_000

    /// The memory this process may allocate (``SystemMemory/available``).
    public static var availableMemory: Int { SystemMemory.available }
}

/// What a catalog model costs, computed from its options and input shape before it is built
/// (``ModelCatalog/cost(_:options:input:)``).
public struct ModelCost: Sendable, Equatable {
    /// Trainable scalars: exactly the built model's `parameterCount`.
    public var parameters = 0
    /// Floats of the layers' outputs for one sample: a rough count of what the forward pass keeps
    /// for the backward pass.
    public var activationsPerSample = 0
    /// The option that sets the model's size, named in errors; nil when only the data's shape does.
    public var sizeOption: String?

    /// Estimated bytes to train `members` members on batches of `batchSize`: for each member,
    /// 16 bytes a parameter (weight, gradient and two optimizer moments) plus 8 bytes an
    /// activation of each sample (value and gradient). Saturates at `Int.max`.
    public func trainingBytes(batchSize: Int = 1, members: Int = 1) -> Int {
        saturatingProduct(members, saturatingSum(saturatingProduct(16, parameters), saturatingProduct(8, activationsPerSample, batchSize)))
    }

    // The layers, as the builders in Models.swift create them. `spatial` holds the sizes after
    // the channel axis and is updated as PyTorch computes them.

    mutating func linear(_ inputs: Int, _ outputs: Int) {
        add(parameters: saturatingSum(saturatingProduct(inputs, outputs), outputs), activations: outputs)
    }

    mutating func conv(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true,
                       spatial: inout [Int]) {
        let weights = saturatingProduct(outChannels, inChannels, spatial.reduce(1) { r, _ in saturatingProduct(r, kernel) })
        spatial = spatial.map { max(0, ($0 + 2 * padding - kernel) / stride + 1) }
        add(parameters: bias ? saturatingSum(weights, outChannels) : weights, activations: saturatingProduct(outChannels, saturatingProduct(spatial)))
    }

    mutating func batchNorm(_ channels: Int, spatial: [Int]) {
        add(parameters: saturatingProduct(2, channels), activations: saturatingProduct(channels, saturatingProduct(spatial)))
    }

    /// An activation or a pooling layer (halving each size when `pool` is true).
    mutating func pointwise(_ channels: Int, spatial: inout [Int], pool: Bool = false) {
        if pool { spatial = spatial.map { $0 / 2 } }
        add(parameters: 0, activations: saturatingProduct(channels, saturatingProduct(spatial)))
    }

    private mutating func add(parameters p: Int, activations a: Int) {
        parameters = saturatingSum(parameters, p)
        activationsPerSample = saturatingSum(activationsPerSample, a)
    }
}

/// The product of non-negative sizes, `Int.max` when it overflows (a negative size counts as 0).
func saturatingProduct(_ factors: Int...) -> Int { saturatingProduct(factors) }

func saturatingProduct(_ factors: [Int]) -> Int {
    var product = 1
    for f in factors {
        let (p, overflow) = product.multipliedReportingOverflow(by: max(0, f))
        product = overflow ? .max : p
    }
    return product
}

func saturatingSum(_ a: Int, _ b: Int) -> Int {
    let (s, overflow) = a.addingReportingOverflow(b)
    return overflow ? .max : s
}
