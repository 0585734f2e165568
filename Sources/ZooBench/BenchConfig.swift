import ArgumentParser

/// A catalog model as a benchmark builds it: name, options and the shape of one input.
struct ModelSpec {
    var name: String
    var options: [String: String] = [:]
    var inputShape: [Int]

    static let zooCNN = ModelSpec(name: "zoo-cnn", inputShape: [1, 28, 28])
    static let lenet5 = ModelSpec(name: "lenet5", inputShape: [1, 28, 28])
    static let mlp = ModelSpec(name: "mlp", options: ["hidden": "256,256"], inputShape: [1, 28, 28])
    static let resnet20 = ModelSpec(name: "resnet20", inputShape: [3, 32, 32])
    static let cnn1d = ModelSpec(name: "cnn1d", inputShape: [1, 40])
}

/// What a benchmark configuration measures.
enum Workload {
    /// Training steps on one fixed batch: forward (training mode), cross-entropy, gradients of
    /// every parameter, SGD update. Throughput is samples per second.
    case training(ModelSpec, batch: Int)
    /// Evaluation-mode forward passes without a tape. Throughput is samples per second.
    case inference(ModelSpec, batch: Int)
    /// Square single-precision matrix products of side `size`. Reports GFLOP/s.
    case gemm(size: Int)
    /// A population of `members` models trained at once; Zoo has no population mode yet.
    case population(ModelSpec, members: Int, batch: Int)
}

/// The benchmark configurations shared with `bench/torch_bench.py`; the names are the contract.
enum BenchConfig: String, CaseIterable, ExpressibleByArgument {
    case zooCNNB32 = "zoo-cnn-b32"
    case zooCNNB128 = "zoo-cnn-b128"
    case lenet5B128 = "lenet5-b128"
    case mlpB128 = "mlp-b128"
    case resnet20B128 = "resnet20-b128"
    case cnn1dB128 = "cnn1d-b128"
    case zooCNNInferB1024 = "zoo-cnn-infer-b1024"
    case gemmPeak = "gemm-peak"
    case populationZooCNN64 = "population-zoo-cnn-64"

    var workload: Workload {
        switch self {
        case .zooCNNB32: .training(.zooCNN, batch: 32)
        case .zooCNNB128: .training(.zooCNN, batch: 128)
        case .lenet5B128: .training(.lenet5, batch: 128)
        case .mlpB128: .training(.mlp, batch: 128)
        case .resnet20B128: .training(.resnet20, batch: 128)
        case .cnn1dB128: .training(.cnn1d, batch: 128)
        case .zooCNNInferB1024: .inference(.zooCNN, batch: 1024)
        case .gemmPeak: .gemm(size: 2048)
        case .populationZooCNN64: .population(.zooCNN, members: 64, batch: 32)
        }
    }
}
