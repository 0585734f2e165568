// swift-tools-version: 6.1
// A program that uses Zoo as a library (docs/library.md). scripts/test.sh builds and runs it,
// so the example cannot rot.
import PackageDescription

let package = Package(
    name: "TrainAZoo",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Zoo", path: "../..")],
    targets: [
        .executableTarget(name: "TrainAZoo", dependencies: [.product(name: "Zoo", package: "Zoo")]),
    ]
)
