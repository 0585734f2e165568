import Foundation
import Testing

/// Every spec in `examples/` plans with the built `zoo` (no training): it parses, every config
/// is valid, every model builds for its data, and it expands to the member count its comment
/// promises. A broken or silently resized example fails here.
@Suite("examples/ specs")
struct ExampleSpecTests {
    static let folder = CLITests.root.appendingPathComponent("examples")

    /// Each example's file name and the number of distinct runs it plans.
    static let expected: [(file: String, runs: Int)] = [
        ("batch-size-vs-decay.yaml", 6),   // 3 zipped schedules × 2 seeds
        ("batchnorm-only.yaml", 8),        // 4 zipped arms (what trains) × 2 seeds
        ("instability.yaml", 22),          // 2 trunks + 2 × 5 branching steps × 2 data orders
        ("instability-mlp.yaml", 9),       // 3 trunks + 3 × 2 copies from initialization
        ("lottery-ticket.yaml", 75),       // 3 trunks + 3 × 12 levels × (ticket + reinit control)
        ("fantastic.yaml", 81),            // lr × batch size × weight decay × dropout, 3 values each
        ("fantastic-nin.yaml", 12),        // 3 zipped optimizers × 4 random samples
        ("hyperparameter-zoo.yaml", 24),   // 2 seeds × 12 random samples
        ("model-zoo.yaml", 260),           // 2 seeds × 132 random samples, 4 drawn twice and merged
        ("phase-diagram.yaml", 24),        // 4 widths × 3 batch sizes × 2 seeds
        ("random-labels.yaml", 7),         // 6 label-noise levels + random labels
        ("readme-zoo.yaml", 32),           // 8 seeds × 4 learning rates
        ("rewinding.yaml", 30),            // 3 trunks + 3 × 3 methods × 3 sparsities
        ("seed-zoo.yaml", 8),              // 8 seeds
    ]

    /// Random zoos large enough that sampling with replacement draws a config twice: the
    /// planner merges the repeats, and the comment of the spec says how many members remain.
    static let mergesRepeatedDraws: Set<String> = ["model-zoo.yaml"]

    @Test func everyExampleIsListed() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files == Self.expected.map(\.file).sorted(), "add new examples to ExampleSpecTests.expected with their run count")
    }

    @Test(arguments: expected)
    func plans(file: String, runs: Int) throws {
        let spec = Self.folder.appendingPathComponent(file)
        let text = try String(contentsOf: spec, encoding: .utf8)
        #expect(text.hasPrefix("# "), "\(file) should open with a comment block: the paper, the question, what to look at, how to scale up")
        let name = spec.deletingPathExtension().lastPathComponent
        #expect(text.contains("\n#   zoo summary --store runs/\(name).sqlite"),
                "\(file) should show, in its header, the `zoo summary` command that answers its question and the table it printed")
        // A store path that does not exist, so that no earlier results count as done.
        let store = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-examples-\(UUID()).sqlite")
        let r = try CLITests.zoo(["sweep", "plan", spec.path, "--store", store.path])
        #expect(r.status == 0, "zoo sweep plan \(file) failed: \(r.stderr)")
        #expect(r.stdout.contains("\n\(name): \(runs) runs in "), "\(file): expected '\(name): \(runs) runs'; got:\n\(r.stdout.suffix(400))")
        #expect(!r.stdout.contains("duplicate") || Self.mergesRepeatedDraws.contains(file), "\(file) plans duplicate configs:\n\(r.stdout.suffix(400))")
        #expect(!FileManager.default.fileExists(atPath: store.path), "planning must not create a store")
    }
}
