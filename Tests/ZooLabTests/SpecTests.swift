import Foundation
import Testing
import ZooLab

@Suite("Sweep specs and run identity")
struct SpecTests {
    static let base = """
        name: t
        base:
          model: mlp
          model.hidden: "16"
          data: teacher-student
          data.train: 300
          data.test: 100
          data.input-size: 8
          epochs: 2
        """

    func plan(_ text: String) throws -> SweepPlan {
        try SweepPlan.make(try SweepSpec.parse(text, file: "spec.yaml"))
    }

    func error(_ text: String) -> String {
        do { _ = try plan(text); return "" } catch { return "\(error)" }
    }

    @Test func gridZipAndRandomExpand() throws {
        let p = try plan(Self.base + """

            grid:
              seed: [0, 1, 2]
              optimizer: [sgd, adam]
            zip:
              - {batch_size: [16, 32], label_smoothing: [0, 0.1]}
            """)
        #expect(p.runs.count == 12)
        #expect(p.variedKeys.contains("batch_size") && p.variedKeys.contains("seed") && p.variedKeys.contains("optimizer"))
        let r = try plan(Self.base + """

            random:
              count: 5
              seed: 3
              axes:
                lr: {log-uniform: [0.0001, 0.1]}
                model.activation: {choice: [relu, tanh, gelu]}
                batch_size: {int-uniform: [8, 64]}
            """)
        #expect(r.runs.count == 5)
        #expect(r.runs.allSatisfy { ($0.config["lr"]?.doubleValue ?? 0) >= 1e-4 && ($0.config["lr"]?.doubleValue ?? 1) <= 0.1 })
        #expect(r.runs.allSatisfy { (8...64).contains($0.config["batch_size"]?.intValue ?? 0) })
        let again = try plan(Self.base + """

            random:
              count: 5
              seed: 3
              axes:
                lr: {log-uniform: [0.0001, 0.1]}
                model.activation: {choice: [relu, tanh, gelu]}
                batch_size: {int-uniform: [8, 64]}
            """)
        #expect(again.runs.map(\.id) == r.runs.map(\.id))
    }

    /// Identity: defaults spelled out or omitted, key order, number spelling, and keys that do not
    /// apply (momentum with Adam) do not change a run's id.
    @Test func identityIsCanonical() throws {
        let implicit = try plan(Self.base)
        let explicit = try plan("""
            base:
              data.input-size: 8
              epochs: 2
              data.test: 100
              model: mlp
              data.train: 300.0
              data: teacher-student
              model.hidden: "16"
              lr: 1e-3
              optimizer: adam
              momentum: 0.9
              model.activation: relu
              data.label-noise: 0
              seed: 0
            """)
        #expect(implicit.runs.count == 1 && explicit.runs.count == 1)
        #expect(implicit.runs[0].id == explicit.runs[0].id)
        #expect(implicit.runs[0].id.count == 16)
        #expect(implicit.runs[0].canonical.contains("\"schema\":2"))
        let other = try plan(Self.base.replacingOccurrences(of: "epochs: 2", with: "epochs: 3"))
        #expect(other.runs[0].id != implicit.runs[0].id)
        // Same architecture, data and batch size share a group; the seed does not matter to it.
        let seeds = try plan(Self.base + "\ngrid:\n  seed: [0, 1]\n  model.init: [kaiming-normal, orthogonal]\n")
        #expect(Set(seeds.runs.map(\.groupKey)).count == 1)
        let widths = try plan(Self.base.replacingOccurrences(of: "  model.hidden: \"16\"\n", with: "") + "\ngrid:\n  model.hidden: [\"8\", \"16\"]\n")
        #expect(Set(widths.runs.map(\.groupKey)).count == 2)
    }

    /// Golden ids: these configs keep these names. A change here renames stored runs: it needs
    /// a bump of ConfigSchema.version and a migration (see ConfigSchema.version).
    @Test func goldenRunIDs() throws {
        let ids = try [Self.base, Self.base + "\n  optimizer: sgd\n  momentum: 0.9\n  lr: 0.05",
                       "base:\n  model: zoo-cnn\n  data.subset: 1000\n  epochs: 3\n  seed: 7",
                       "base:\n  model: mlp\n  data: teacher-student\n  model.hidden: 32,16\n  train_metrics: running"].map { try plan($0).runs[0].id }
        #expect(ids == ["bc8ed8a501d880dd", "ed8f4c5eed522b49", "b3a4fa8114da6379", "577ade76657a13cb"])
    }

    /// Only values that differ from their defaults enter the id: adding a key whose default keeps
    /// the old behaviour renames nothing; setting it to another value does.
    @Test func aNeutralNewKeyKeepsEveryID() throws {
        let complete = try plan(Self.base).runs[0].config
        let before = ConfigSchema.identity(of: complete)
        var withKey = complete
        withKey["warmup_epochs"] = .int(0)
        #expect(ConfigSchema.identity(of: withKey, addingDefaults: ["warmup_epochs": .int(0)]) == before)
        withKey["warmup_epochs"] = .int(2)
        #expect(ConfigSchema.identity(of: withKey, addingDefaults: ["warmup_epochs": .int(0)]) != before)
        #expect(before["model.activation"] == nil && before["epochs"] == .int(2), "defaults are dropped, set values kept: \(before)")
    }

    @Test func wideningAnAxisKeepsOldIDs() throws {
        let narrow = try plan(Self.base + "\ngrid:\n  seed: [0, 1]\n")
        let wide = try plan(Self.base + "\ngrid:\n  seed: [0, 1, 2, 3]\n")
        #expect(Set(narrow.runs.map(\.id)).isSubset(of: Set(wide.runs.map(\.id))))
        #expect(wide.runs.count == 4)
        let duplicated = try plan(Self.base + "\ngrid:\n  optimizer: [adam]\n  momentum: [0.5, 0.9]\n")
        #expect(duplicated.runs.count == 1 && duplicated.duplicates == 1)
    }

    /// Every bad spec names the file, the line and the key.
    @Test(arguments: [
        ("  colour: red", "spec.yaml:10: key 'colour'", "unknown key"),
        ("  epochs_: 3", "spec.yaml:10: key 'epochs_'", "unknown key"),
        ("  batch_size: many", "spec.yaml:10: key 'batch_size'", "integer"),
        ("  lr: -0.1", "spec.yaml:10: key 'lr'", "(0.0, 10.0]"),
        ("  model.widht: 3", "spec.yaml:10: key 'model.widht'", "model.hidden"),
        ("  data.subset: 100000", "spec.yaml:10: key 'data.subset'", "subset"),
        ("  model.activation: relu6", "spec.yaml:10: key 'model.activation'", "relu6"),
        ("  optimizer: lbfgs", "spec.yaml:10: key 'optimizer'", "sgd, adam"),
    ])
    func badBaseValues(line: String, location: String, fragment: String) {
        let message = error(Self.base + "\n" + line)
        #expect(message.hasPrefix(location), "\(message)")
        #expect(message.contains(fragment), "\(message)")
    }

    @Test func badStructure() {
        #expect(error(Self.base + "\ngrid:\n  seed: []").hasPrefix("spec.yaml:11: key 'seed': the axis is empty"))
        #expect(error(Self.base + "\ngrid:\n  seed: 3").contains("key 'seed': an axis must be a list"))
        #expect(error(Self.base + "\ngrid:\n  seed: [0, x]").contains("spec.yaml:11: key 'seed'"))
        #expect(error(Self.base + "\nzip:\n  - {seed: [0, 1], lr: [0.1]}").contains("equal lengths"))
        #expect(error(Self.base + "\ngrid:\n  epochs: [1, 2]").contains("key 'epochs': is both in base and varied"))
        #expect(error(Self.base + "\nrandomness: 3").contains("spec.yaml:10: key 'randomness': unknown section"))
        #expect(error("base: [1, 2]").contains("spec.yaml:1: key 'base'"))
        #expect(error("base:\n  model: vgg").contains("spec.yaml:2: key 'model'") && error("base:\n  model: vgg").contains("zoo-cnn"))
        #expect(error("base:\n  data: imagenet").contains("key 'data'") && error("base:\n  data: imagenet").contains("fashion-mnist"))
        #expect(error("base:\n  model: mlp\n  data: teacher-student\n  data.train: 10\n  model: [").contains("spec.yaml:"))
        #expect(error(Self.base + "\nrandom:\n  count: 2\n  axes:\n    lr: {normal: [0, 1]}").contains("unknown sampler"))
        #expect(error(Self.base + "\nrandom:\n  count: 2\n  axes:\n    lr: {log-uniform: [0, 1]}").contains("low > 0"))
        #expect(error("").contains("empty"))
    }

    @Test func configBecomesRunConfig() throws {
        let p = try plan(Self.base + "\n  optimizer: sgd\n  momentum: 0.9\n  schedule: step\n  step_size: 1\n  gamma: 0.5\n  freeze: ['1.*']")
        let c = try ConfigSchema.runConfig(p.runs[0].config)
        #expect(c.model.name == "mlp" && c.model.options["hidden"] == "16")
        #expect(c.data.options["train"] == "300")
        #expect(c.training.epochs == 2 && c.frozen == ["1.*"])
        #expect(c.training.schedule == .step(stepSize: 1, gamma: 0.5))
        if case let .sgd(o) = c.training.optimizer { #expect(o.momentum == 0.9 && o.learningRate == 0.01) } else { Issue.record("not sgd") }
    }
}
