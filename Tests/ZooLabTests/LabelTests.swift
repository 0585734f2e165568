import Foundation
import Testing
import ZooLab
import ZooStore

/// The spec's `label:` key: arms named in zip, grid and random sections, never part of identity.
@Suite("Spec labels")
struct LabelTests {
    func plan(_ text: String) throws -> SweepPlan {
        try SweepPlan.make(try SweepSpec.parse(SpecTests.base + "\n" + text, file: "spec.yaml"))
    }

    func error(_ text: String) -> String {
        do { _ = try plan(text); return "" } catch { return "\(error)" }
    }

    static let zip = """
        grid:
          seed: [0, 1]
        zip:
          - optimizer: [sgd, adam, sgd]
            lr: [0.1, 0.001, 0.01]
        """

    @Test func zipLabelsNameArmsWithoutChangingIdentity() throws {
        let plain = try plan(Self.zip)
        let labeled = try plan(Self.zip.replacingOccurrences(of: "  - optimizer:", with: "  - label: [fast, adam, slow]\n    optimizer:"))
        #expect(labeled.runs.map(\.id) == plain.runs.map(\.id), "a label must not change any run id")
        #expect(labeled.runs.map(\.canonical) == plain.runs.map(\.canonical))
        #expect(labeled.runs.map(\.label) == ["fast", "adam", "slow", "fast", "adam", "slow"])
        #expect(plain.runs.allSatisfy { $0.label == nil })
        #expect(!labeled.variedKeys.contains("label"))
        let renamed = try plan(Self.zip.replacingOccurrences(of: "  - optimizer:", with: "  - label: [a, b, c]\n    optimizer:"))
        #expect(renamed.runs.map(\.id) == plain.runs.map(\.id) && renamed.sweepID != labeled.sweepID)
    }

    @Test func gridTemplatesRandomLabelsAndTheirJoin() throws {
        let p = try plan("""
            grid:
              seed: [0, 1]
              label: "s{seed} {optimizer}"
            random:
              count: 2
              seed: 3
              label: "sample {index}"
              axes:
                lr: {log-uniform: [0.001, 0.1]}
            """)
        #expect(p.runs.map(\.label) == ["s0 adam/sample 0", "s0 adam/sample 1", "s1 adam/sample 0", "s1 adam/sample 1"])
        let names = try plan("""
            random:
              count: 2
              label: [low, high]
              axes:
                lr: {choice: [0.001, 0.1]}
            """)
        #expect(names.runs.map(\.label).compactMap { $0 } == ["low", "high"] || names.runs.count < 2)
    }

    @Test(arguments: [
        ("grid:\n  seed: [0, 1]\n  label: [a, b]", "key 'grid.label': a grid's label is a template"),
        ("zip:\n  - label: [a, b]\n    lr: [0.1, 0.2, 0.3]", "key 'zip.label': a zip group's labels name its positions: lr has 3 values, label has 2 names"),
        ("zip:\n  - label: [a, a]\n    lr: [0.1, 0.2]", "spec.yaml:11: key 'zip.label': the label 'a' is given twice"),
        ("zip:\n  - label: [\"a\\tb\", c]\n    lr: [0.1, 0.2]", "holds a control character"),
        ("zip:\n  - label: [\"\", c]\n    lr: [0.1, 0.2]", "a label must not be empty"),
        ("zip:\n  - label: [[a], c]\n    lr: [0.1, 0.2]", "a label must be a text"),
        ("zip:\n  - label: [a, b]", "a zip group needs at least one key"),
        ("grid:\n  seed: [0, 1]\n  label: \"s{seed\"", "unpaired brace"),
        ("grid:\n  seed: [0, 1]\n  label: \"s{}\"", "empty or nested"),
        ("grid:\n  seed: [0, 1]\n  label: \"s{colour}\"", "spec.yaml:12: key 'grid.label': the label template names {colour}, which is no config key"),
        ("random:\n  count: 3\n  label: [a, b]\n  axes:\n    lr: {choice: [0.1, 0.2]}", "count is 3, label has 2 names"),
        ("grid:\n  seed: [0]\n  label: \"\(String(repeating: "x", count: 101))\"", "longer than 100 characters"),
    ])
    func badLabelsNameTheFileLineAndKey(_ text: String, _ expected: String) {
        let message = error(text)
        #expect(message.contains(expected), "got: \(message)")
        #expect(message.hasPrefix("spec.yaml:"))
    }

    @Test func labelIsNoConfigKey() {
        let text = SpecTests.base.replacingOccurrences(of: "  epochs: 2", with: "  epochs: 2\n  label: x")
        var message = ""
        do { _ = try SweepSpec.parse(text, file: "spec.yaml") } catch { message = "\(error)" }
        #expect(message.hasPrefix("spec.yaml:10: key 'base.label': a label names the runs of a grid, a zip group or the random section"), "got: \(message)")
    }

    /// A store keeps a run's label per sweep: a second sweep of the same runs under other labels
    /// adds no run, and the latest sweep's label is the run's label.
    @Test func storeKeepsLabelsPerSweep() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-labels-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteStore(path: folder.appendingPathComponent("z.sqlite"))
        let first = try plan(Self.zip.replacingOccurrences(of: "  - optimizer:", with: "  - label: [fast, adam, slow]\n    optimizer:"))
        let second = try plan(Self.zip.replacingOccurrences(of: "  - optimizer:", with: "  - label: [a, b, c]\n    optimizer:"))
        for p in [first, second] {
            let added = try store.addSweep(id: p.sweepID, name: "t", spec: p.spec.text, runs: p.runs.map { ($0.id, $0.canonical, $0.groupKey) })
            #expect(added.count == (p.sweepID == first.sweepID ? 6 : 0))
            try store.labelRuns(sweep: p.sweepID, labels: Dictionary(uniqueKeysWithValues: p.runs.map { ($0.id, $0.label) }))
        }
        let id = first.runs[0].id
        #expect(try store.runLabels(sweep: first.sweepID)[id] == "fast")
        #expect(try store.runLabels(sweep: second.sweepID)[id] == "a")
        #expect(try store.runLabels(sweep: nil)[id] == "a")
        #expect(try store.runLabels(sweep: nil).count == 6)
    }
}
