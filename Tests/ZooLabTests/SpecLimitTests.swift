import Foundation
import Testing
import ZooLab

/// Hostile specs (issue 11): a small file may not make Zoo expand billions of values or runs.
/// scripts/test.sh runs these under a memory limit (`ulimit -v`).
@Suite("Hostile input: spec limits")
struct HostileInputSpecTests {
    /// The small valid spec of the identity tests.
    static let base = SpecTests.base

    static func error(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    /// The issue's "billion laughs": nested aliases made a 589-byte spec reach 4.1 GB.
    @Test func yamlAliasesAreRefusedBeforeExpanding() {
        var text = "name: laughs\nl0: &l0 [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\n"
        for i in 1...9 { text += "l\(i): &l\(i) [" + [String](repeating: "*l\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        text += "grid:\n  seed: *l9\n"
        #expect(text.utf8.count < 700)
        let m = Self.error { try SweepSpec.parse(text, file: "laughs.yaml") }
        #expect(m.hasPrefix("laughs.yaml:2: ") && m.contains("anchors and aliases") && m.contains("help:"), "\(m)")
        // An ampersand inside words is text, not an anchor.
        #expect(Self.error { try SweepSpec.parse(Self.base + "\ndescription: R&D, Q&A\n", file: "ok.yaml") } == "no error")
    }

    @Test func yamlNodeCountIsBounded() {
        let values = [String](repeating: "0", count: 100_001).joined(separator: ",")
        let m = Self.error { try SweepSpec.parse(Self.base + "\ngrid:\n  seed: [\(values)]\n", file: "many.yaml") }
        #expect(m.hasPrefix("many.yaml: ") && m.contains("more than 100000 YAML values"), "\(m)")
    }

    @Test func specFileSizeIsBounded() throws {
        let m = Self.error { try SweepSpec.parse(Self.base + "\n#" + String(repeating: "x", count: 1 << 20), file: "big.yaml") }
        #expect(m.contains("SpecLimits.maximumBytes"), "\(m)")
        let device = Self.error { try SweepSpec.load(URL(fileURLWithPath: "/dev/zero")) }
        #expect(device == "/dev/zero: is not a regular file", "\(device)")
    }

    /// libyaml stops at 1,000 levels of nesting; deeper specs are an error, not a stack overflow.
    @Test func deepNestingIsAnError() {
        for depth in [900, 5_000] {
            let text = Self.base + "\ngrid:\n  seed: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
            let m = Self.error { try SweepSpec.parse(text, file: "deep.yaml") }
            #expect(m.hasPrefix("deep.yaml"), "\(m.prefix(300))")
        }
    }

    /// The issue's 39 KB grid of 4 axes × 1,000 values allocated 5.9 GB and aborted: the count
    /// is now computed from the axes' lengths and refused before anything is expanded.
    @Test func runsPerPlanAreBoundedBeforeExpanding() throws {
        let axis = "[" + (1...1000).map(String.init).joined(separator: ", ") + "]"
        let text = Self.base + "\ngrid:\n  seed: \(axis)\n  batch_size: \(axis)\n  warmup: \(axis)\n  data.seed: \(axis)\n"
        let spec = try SweepSpec.parse(text, file: "grid.yaml")
        #expect(SweepPlan.expandedCount(spec) == 1_000_000_000_000)
        let m = Self.error { try SweepPlan.make(spec) }
        #expect(m.hasPrefix("grid.yaml: expands to 1000000000000 runs (1000 × 1000 × 1000 × 1000), more than the limit of 100000") && m.contains("--max-runs"), "\(m)")
        // The caller may allow more (or fewer) runs.
        let small = try SweepSpec.parse(Self.base + "\ngrid:\n  seed: [0, 1, 2]\nrandom:\n  count: 2\n  axes:\n    lr: {uniform: [0.01, 0.1]}\n", file: "s.yaml")
        #expect(Self.error { try SweepPlan.make(small, maxRuns: 5) }.contains("expands to 6 runs (3 × 2 (random))"))
        #expect(try SweepPlan.make(small, maxRuns: 6).runs.count == 6)
        // Products past Int.max saturate instead of trapping.
        let axes = (0..<8).map { "  k\($0): \(axis)\n" }.joined()
        let huge = try SweepSpec.parse("grid:\n" + axes.replacingOccurrences(of: "k", with: "model.k"), file: "h.yaml")
        #expect(SweepPlan.expandedCount(huge) == Int.max)
    }

    /// Sampler bounds that a Double holds but an Int does not were a trap.
    @Test func randomSamplerBoundsAreChecked() {
        for axis in ["batch_size: {int-uniform: [0, 1e300]}", "lr: {uniform: [0, inf]}", "lr: {log-uniform: [1e-300, nan]}"] {
            let m = Self.error { try SweepSpec.parse(Self.base + "\nrandom:\n  count: 2\n  axes:\n    \(axis)\n", file: "r.yaml") }
            #expect(m.hasPrefix("r.yaml:") && m.contains("takes"), "\(axis): \(m)")
        }
    }
}
