// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Zoo",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "zoo-bench", targets: ["ZooBench"]),
        .library(name: "ZooTensor", targets: ["ZooTensor"]),
        .library(name: "ZooNN", targets: ["ZooNN"]),
        .library(name: "ZooOptim", targets: ["ZooOptim"]),
    ],
    targets: [
        // MARK: - Public API

        /// Tensors, kernels, counter-based random numbers, the autodiff tape, NamedTensors, safetensors.
        .target(name: "ZooTensor", dependencies: ["CZooBLAS"]),
        /// Layers, activations, initializers, losses, the model catalog.
        .target(name: "ZooNN", dependencies: ["ZooTensor"]),
        /// Optimizers as values and learning-rate / batch-size schedules.
        .target(name: "ZooOptim", dependencies: ["ZooTensor"]),

        // MARK: - Implementation details

        /// Module map over Debian's OpenBLAS `cblas.h` (package libopenblas-dev).
        .systemLibrary(name: "CZooBLAS", providers: [.apt(["libopenblas-dev"])]),
        /// Release-build timings of the catalog models (`swift run -c release zoo-bench`).
        .executableTarget(name: "ZooBench", dependencies: ["ZooTensor", "ZooNN", "ZooOptim"]),

        // MARK: - Tests

        /// Finite-difference gradient checks, naive reference kernels, approximate equality.
        .target(name: "ZooTestSupport", dependencies: ["ZooTensor"]),
        .testTarget(name: "ZooTensorTests", dependencies: ["ZooTensor", "ZooTestSupport"]),
        .testTarget(name: "ZooNNTests", dependencies: ["ZooNN", "ZooTestSupport"]),
        .testTarget(name: "ZooOptimTests", dependencies: ["ZooOptim", "ZooTestSupport"]),
    ]
)
