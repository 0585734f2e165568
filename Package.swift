// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Zoo",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "zoo", targets: ["zoo"]),
        /// Everything public in one import: `import Zoo` (docs/library.md).
        .library(name: "Zoo", targets: ["Zoo"]),
        .executable(name: "zoo-bench", targets: ["ZooBench"]),
        .executable(name: "zoo-fuzz", targets: ["ZooFuzz"]),
        .executable(name: "zoo-queue-bench", targets: ["ZooQueueBench"]),
        .library(name: "ZooTensor", targets: ["ZooTensor"]),
        .library(name: "ZooNN", targets: ["ZooNN"]),
        .library(name: "ZooOptim", targets: ["ZooOptim"]),
        .library(name: "ZooData", targets: ["ZooData"]),
        .library(name: "ZooTrain", targets: ["ZooTrain"]),
        .library(name: "ZooMeasures", targets: ["ZooMeasures"]),
        .library(name: "ZooStore", targets: ["ZooStore"]),
        .library(name: "ZooPostgres", targets: ["ZooPostgres"]),
        .library(name: "ZooLab", targets: ["ZooLab"]),
        .library(name: "ZooAnalysis", targets: ["ZooAnalysis"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        // The PostgreSQL store; swift-nio, swift-nio-ssl and swift-log come with it (and with
        // Hummingbird) and are named only for their products.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.25.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.3"),
    ],
    targets: [
        // MARK: - Public API

        /// Tensors, kernels, counter-based random numbers, the autodiff tape, NamedTensors, safetensors.
        .target(name: "ZooTensor", dependencies: ["CZooBLAS", "CZooKernels"]),
        /// Layers, activations, initializers, losses, the model catalog.
        .target(name: "ZooNN", dependencies: ["ZooTensor"]),
        /// Optimizers as values and learning-rate / batch-size schedules.
        .target(name: "ZooOptim", dependencies: ["ZooTensor"]),
        /// File formats, data sets, modifiers, augmentation, seeded batching.
        .target(name: "ZooData", dependencies: ["ZooTensor", "CZlib"]),
        /// The training loop, events, checkpoints.
        .target(name: "ZooTrain", dependencies: ["ZooTensor", "ZooNN", "ZooOptim", "ZooData"]),
        /// Measures of trained networks (norms, margins, flatness, dynamics, representations,
        /// connectivity), pure functions from (network, data) to numbers, perturbed and
        /// interpolated copies evaluated as one population.
        .target(name: "ZooMeasures", dependencies: ["ZooTensor", "ZooNN", "ZooOptim", "ZooData", "ZooTrain"]),
        /// The store: runs, metrics, checkpoints and sweeps in SQLite (GRDB, WAL); no tensors, no specs.
        .target(name: "ZooStore", dependencies: [.product(name: "GRDB", package: "GRDB.swift")]),
        /// The store in PostgreSQL (postgres-nio), the queue and record for workers on many machines.
        .target(name: "ZooPostgres", dependencies: [
            "ZooStore", .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        /// Sweep specs, canonical configs and run identity, planning, workers.
        .target(name: "ZooLab", dependencies: [
            "ZooTensor", "ZooNN", "ZooOptim", "ZooData", "ZooTrain", "ZooMeasures", "ZooStore",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        /// Statistics over store rows: τ, Ψ and CMI of measures with the generalization gap, bootstrap
        /// intervals, accuracy predicted from weight statistics (ridge on the engine's GEMM, boosted trees).
        .target(name: "ZooAnalysis", dependencies: ["ZooTensor", "ZooStore"]),
        /// Tables and summaries from store rows.
        .target(name: "ZooReport", dependencies: ["ZooStore", "ZooAnalysis"]),
        /// The local, read-only dashboard (`zoo serve`): the report's pages and the queue, served by Hummingbird.
        .target(name: "ZooDashboard", dependencies: ["ZooStore", "ZooAnalysis", "ZooReport", .product(name: "Hummingbird", package: "hummingbird")]),
        /// The umbrella module re-exporting the public modules.
        .target(name: "Zoo", dependencies: ["ZooTensor", "ZooNN", "ZooOptim", "ZooData", "ZooTrain", "ZooMeasures", "ZooStore", "ZooPostgres", "ZooLab", "ZooAnalysis", "ZooReport"]),
        /// The command-line tool: wiring only.
        .executableTarget(name: "zoo", dependencies: [
            "ZooTensor", "ZooNN", "ZooOptim", "ZooData", "ZooTrain", "ZooMeasures", "ZooStore", "ZooPostgres", "ZooLab", "ZooAnalysis", "ZooReport",
            "ZooDashboard", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: - Implementation details

        /// The hot loops in C, each function compiled for AVX-512 or AVX2 + FMA and chosen at run
        /// time (Swift cannot compile one function for a wider instruction set than the rest of
        /// the program), with portable versions for every other processor. No unsafe flags: a
        /// package may depend on Zoo by version; scripts/test.sh builds it with `-Xcc -O2` so the
        /// debug test suite runs optimized kernels.
        .target(name: "CZooKernels"),
        /// Module map over Debian's OpenBLAS `cblas.h` (package libopenblas-dev).
        .systemLibrary(name: "CZooBLAS", providers: [.apt(["libopenblas-dev"])]),
        /// Module map over Debian's `zlib.h` (package zlib1g-dev), for .gz and .npz files.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        /// Release-build timings of the catalog models and the benchmark configurations shared with
        /// bench/torch_bench.py (`swift run -c release zoo-bench --help`).
        .executableTarget(name: "ZooBench", dependencies: [
            "ZooTensor", "ZooNN", "ZooOptim", "ZooData", "ZooTrain", "ZooMeasures",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        /// The run queue under load: concurrent claimers on a PostgreSQL or SQLite store (docs/benchmarks.md).
        .executableTarget(name: "ZooQueueBench", dependencies: [
            "ZooStore", "ZooPostgres", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        /// Seeded random-mutation fuzzing of the file parsers (safetensors, IDX, NPY/NPZ, specs) and of store rows, on the
        /// corpus in Tests/FuzzCorpus; scripts/test.sh runs each for 30 s (`swift run zoo-fuzz --help`).
        .executableTarget(name: "ZooFuzz", dependencies: [
            "ZooTensor", "ZooData", "ZooLab", "ZooStore", "ZooAnalysis", "ZooReport", "CZlib", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: - Tests

        /// Finite-difference gradient checks, naive reference kernels, approximate equality.
        .target(name: "ZooTestSupport", dependencies: ["ZooTensor", "CZlib"]),
        .testTarget(name: "ZooTensorTests", dependencies: ["ZooTensor", "CZooKernels", "ZooTestSupport"]),
        .testTarget(name: "ZooNNTests", dependencies: ["ZooNN", "ZooTestSupport"]),
        .testTarget(name: "ZooOptimTests", dependencies: ["ZooOptim", "ZooTestSupport"]),
        .testTarget(name: "ZooDataTests", dependencies: ["ZooData", "ZooTestSupport"]),
        .testTarget(name: "ZooTrainTests", dependencies: ["ZooTrain", "ZooTestSupport"]),
        .testTarget(name: "ZooMeasuresTests", dependencies: ["ZooMeasures", "ZooTestSupport"]),
        .testTarget(name: "ZooAnalysisTests", dependencies: ["ZooAnalysis", "ZooTestSupport"]),
        /// Every store test runs on SQLite, and on PostgreSQL when ZOO_TEST_POSTGRES names a server (scripts/test.sh starts one).
        .testTarget(name: "ZooStoreTests", dependencies: ["ZooStore", "ZooPostgres", "ZooTestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "ZooLabTests", dependencies: ["ZooLab", "ZooReport", "ZooTestSupport"]),
        /// Charts, escaping and the HTML report; the report opened in headless Chromium (CZlib decodes its screenshot).
        .testTarget(name: "ZooReportTests", dependencies: ["ZooReport", "ZooStore", "ZooAnalysis", "ZooTestSupport"]),
        /// Fixtures/: a store written by Zoo 0.4, for the identity migration test.
        .testTarget(name: "ZooCLITests", dependencies: ["ZooTrain", "ZooStore", "ZooPostgres", "ZooLab", "ZooReport", "ZooTestSupport",
                                                      .product(name: "GRDB", package: "GRDB.swift")], exclude: ["Fixtures"]),
    ]
)
