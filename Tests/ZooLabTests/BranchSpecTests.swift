import Foundation
import Testing
import ZooLab
import ZooTrain

/// A spec's `branches:` section: stages from the trunk or an earlier stage, chains of levels,
/// grids and sibling controls, each branch naming its parent; bad stages name the key and line.
@Suite("Branch stages in specs")
struct BranchSpecTests {
    static let spec = SpecTests.base + """

        grid:
          seed: [0, 1]
        branches:
          - name: level
            levels: 3
            set: {prune_fraction: 0.2, rewind: step:0}
            siblings:
              reinit: {reinit: true}
          - name: copy
            from: level
            set: {branch_at: epoch:1}
            grid: {seed: [5, 6]}
        """

    @Test func stagesExpandIntoFamilies() throws {
        let plan = try SpecTests().plan(Self.spec)
        let trunk = plan.runs.filter { $0.parent == nil }
        #expect(trunk.count == 2 && trunk.allSatisfy { $0.label == "trunk" })
        #expect(SweepPlan.expandedCount(plan.spec) == 2 + 2 * 6 + 2 * 3 * 2)
        #expect(plan.runs.count == 2 + 12 + 12)
        let byID = Dictionary(uniqueKeysWithValues: plan.runs.map { ($0.id, $0) })
        // Each chain: level-k's parent is level-(k-1) (level-1's a trunk run); reinit-k beside level-k.
        for run in plan.runs where run.parent != nil {
            let parent = try #require(byID[run.parent!], "the parent of \(run.label ?? "") is not planned")
            #expect(plan.runs.firstIndex { $0.id == parent.id }! < plan.runs.firstIndex { $0.id == run.id }!)
            let config = try ConfigSchema.runConfig(run.config)
            switch run.label {
            case "level-1", "reinit-1": #expect(parent.label == "trunk")
            case "level-2", "reinit-2": #expect(parent.label == "level-1")
            case "level-3", "reinit-3": #expect(parent.label == "level-2")
            case "copy":
                #expect(parent.label?.hasPrefix("level-") == true)
                // A copy does not inherit its parent's pruning or rewinding.
                #expect(config.branch == Branch(parent: parent.id, at: .epoch(1)))
            default: Issue.record("unexpected label \(run.label ?? "nil")")
            }
            if run.label?.hasPrefix("reinit") == true { #expect(config.branch?.reinitialize == true) }
            if run.label?.hasPrefix("level") == true {
                #expect(config.branch == Branch(parent: parent.id, rewind: .step(0), pruning: Pruning(fraction: 0.2)))
            }
        }
        // The same spec plans the same ids.
        #expect(try SpecTests().plan(Self.spec).runs.map(\.id) == plan.runs.map(\.id))
    }

    @Test(arguments: [
        ("  - name: a\n    from: nowhere\n", "branches.0.from", "must be trunk or the name of an earlier stage"),
        ("  - name: a\n    set: {model.hidden: \"8\"}\n", "branches.0.model.hidden", "keeps the parent's model"),
        ("  - name: a\n    set: {parent: 0123456789abcdef}\n", "branches.0.parent", "filled in from `from`"),
        ("  - name: a\n  - name: a\n", "branches.1.name", "used twice"),
        ("  - name: a\n    levels: 0\n", "branches.0.levels", "1...100"),
        ("  - name: a\n    set: {rewind: end}\n", "rewind", "none, epoch:N or step:N"),
        ("  - name: a\n    set: {branch_at: \"epoch:-1\"}\n", "branch_at", "end, epoch:N or step:N"),
        ("  - name: a\n    sets: {}\n", "branches.0.sets", "unknown key"),
        ("  - from: trunk\n", "branches.0.name", "needs a name"),
        ("  - name: a\n    set: {branch_at: step:40}\n", "branches.0.branch_at", "add checkpoint_steps: [40]"),
    ])
    func badStagesNameTheKey(stage: String, key: String, message: String) {
        let text = error(SpecTests.base + "\nbranches:\n" + stage)
        #expect(text.contains("key '") && text.contains(key) && text.contains(message), "\(text)")
    }

    @Test func aParentMustBeARunID() {
        let text = error(SpecTests.base + "\n  parent: not-a-run\n")
        #expect(text.contains("parent = not-a-run is invalid: expected a run id"), "\(text)")
    }

    func error(_ text: String) -> String { SpecTests().error(text) }
}
