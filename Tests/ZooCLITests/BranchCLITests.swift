import Foundation
import Testing
import ZooLab
import ZooStore
import ZooTensor
import ZooTestSupport
import ZooTrain

/// Branches end to end: a spec's `branches:` (pruning levels with rewinding and a
/// re-initialization control, copies from a mid-epoch step), trained by `zoo sweep run` in
/// separate processes on a real SQLite store.
@Suite("zoo branches", .serialized)
struct BranchCLITests {
    static let spec = """
        name: branch-test
        base:
          model: mlp
          model.hidden: "32,16"
          data: teacher-student
          data.train: 2000
          data.test: 400
          data.input-size: 16
          optimizer: sgd
          momentum: 0.9
          lr: 0.05
          batch_size: 50
          epochs: 4
          checkpoint_steps: [3]
        grid:
          seed: [0, 1]
        branches:
          - name: level
            levels: 2
            set: {prune_fraction: 0.3, rewind: step:3}
            siblings:
              reinit: {reinit: true}
          - name: copies
            from: trunk
            set: {branch_at: step:3}
            grid: {seed: [7, 8]}
        """

    /// Kill -9 while the trunk trains, run again: every branch starts only after its parent is
    /// done, and the store equals that of an uninterrupted run bit for bit (metrics and final
    /// weights). The masks in the checkpoints hold the planned sparsity; `zoo ls --tree` shows the family.
    @Test func branchesFollowTheirParentsAndSurviveKillNine() throws {
        let dir = SweepCLITests.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try SweepCLITests.write(Self.spec, in: dir)
        let reference = dir.appendingPathComponent("reference.sqlite").path
        let r = try CLITests.zoo(["sweep", "run", spec, "--store", reference, "--workers", "2"])
        try #require(r.status == 0, "\(r.stdout)\(r.stderr)")

        let killed = dir.appendingPathComponent("killed.sqlite").path
        let process = try SweepCLITests.launch(["sweep", "run", spec, "--store", killed, "--workers", "2"])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let s = try? SQLiteStore(path: URL(fileURLWithPath: killed)), let n = try? s.metrics().count, n >= 1 { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let partial = try SQLiteStore(path: URL(fileURLWithPath: killed)).runs()
        #expect(partial.contains { $0.parent == nil && $0.status != .done }, "the trunk finished before the kill; the test proves nothing")
        #expect(partial.allSatisfy { $0.parent == nil || $0.attempts == 0 }, "a branch started before its parent was done")
        let again = try CLITests.zoo(["sweep", "run", spec, "--store", killed, "--workers", "2"])
        try #require(again.status == 0, "\(again.stdout)\(again.stderr)")

        let a = try SweepCLITests.fingerprint(reference), b = try SweepCLITests.fingerprint(killed)
        // 2 trunks; per trunk 2 levels + 2 reinit controls + 2 copies.
        #expect(a.runs.count == 14 && a.runs.values.allSatisfy { $0 == .done })
        #expect(a.runs == b.runs)
        #expect(a.metrics == b.metrics)
        let finals = { (f: [String]) in Set(f.filter { $0.split(separator: " ")[1] == "4" }) }
        #expect(finals(a.checkpoints) == finals(b.checkpoints))

        let store = try SQLiteStore(path: URL(fileURLWithPath: killed))
        let runs = try store.runs()
        let byID = Dictionary(uniqueKeysWithValues: runs.map { ($0.id, $0) })
        let labels = try store.runLabels(sweep: nil)
        for run in runs {
            guard let parent = run.parent.flatMap({ byID[$0] }) else { continue }
            #expect(run.startedAt! >= parent.finishedAt!, "\(labels[run.id] ?? run.id) started before its parent finished")
        }
        // Level k keeps 0.7^k of the prunable weights, in its masks and as zeros; its retraining
        // starts at step 3 (so metrics from epoch 1, with 3 fewer steps than the trunk's).
        let final = Dictionary(grouping: try store.checkpoints(), by: \.runID).mapValues { $0.max { $0.epoch < $1.epoch }! }
        for run in runs {
            let label = labels[run.id] ?? ""
            let state = try Checkpoint.read(from: store.checkpointFolder!.appendingPathComponent(final[run.id]!.path)).state
            let density = Density(state.masks).overall
            switch label {
            case "level-1", "reinit-1": #expect(abs(density - 0.7) < 0.002, "\(label): \(density)")
            case "level-2", "reinit-2": #expect(abs(density - 0.49) < 0.003, "\(label): \(density)")
            default: #expect(state.masks.isEmpty, "\(label) has masks")
            }
            for (name, mask) in state.masks {
                #expect(zip(state.model[name]!.scalars, mask.scalars).allSatisfy { $1 != 0 || $0 == 0 }, "\(label) \(name): a pruned weight is not 0")
            }
            #expect(state.epoch == 4 && state.step == 160, "\(label): ends at epoch \(state.epoch), step \(state.step)")
        }
        let trunkSteps = try store.stepCheckpoints()
        // Only the trunks take step 3 (every branch starts there).
        #expect(Set(trunkSteps.map(\.runID)) == Set(runs.filter { $0.parent == nil }.map(\.id)))
        #expect(trunkSteps.allSatisfy { $0.step == 3 && $0.epoch == 0 })

        let tree = try CLITests.zoo(["ls", "--tree", "--store", killed])
        try #require(tree.status == 0, "\(tree.stderr)")
        #expect(tree.stdout.contains("└─ "))
        #expect(tree.stdout.contains("level-2") && tree.stdout.contains("weights 49.0%") && tree.stdout.contains("rewind step:3"))
        #expect(tree.stdout.contains("reinit-1") && tree.stdout.contains("at step:3"))
        let lines = tree.stdout.split(separator: "\n")
        #expect(lines.filter { !$0.hasPrefix(" ") && !$0.hasPrefix("├") && !$0.hasPrefix("└") && !$0.hasPrefix("│") && $0.contains("trunk") }.count == 2)
    }
}
