import Foundation
import Testing
import ZooStore

/// Renaming runs (the identity rule changed): rows, sweeps and checkpoint folders follow.
@Suite("Run renames (SQLite and PostgreSQL)")
struct RenameTests {
    /// Writes a checkpoint file whose bytes name the run and epoch, and records it.
    static func checkpoint(_ s: any RunStore, _ run: String, _ epoch: Int) throws {
        let url = s.checkpointURL(run: run, epoch: epoch)!
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("\(run)@\(epoch)".utf8).write(to: url)
        try s.recordCheckpoint(run: run, epoch: epoch, sha256: "\(run)\(epoch)", bytes: 4)
    }

    /// The file content at the recorded path of each checkpoint.
    static func files(_ s: any RunStore) throws -> [String] {
        try s.checkpoints().map { String(decoding: try Data(contentsOf: s.checkpointFolder!.appendingPathComponent($0.path)), as: UTF8.self) }
    }

    static func folders(_ s: any RunStore) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: s.checkpointFolder!.path).sorted()
    }

    static func rename(_ old: String, _ new: String) -> RunRename {
        RunRename(old: old, new: new, config: "{\"new\":\"\(new)\"}", groupKey: "G\(new)")
    }

    /// Three runs in two sweeps, each with metrics and checkpoint files.
    static func populated(_ backend: Backend) throws -> any RunStore {
        let s = try backend.store()
        let runs = (0..<3).map { (id: "r\($0)", config: "{\"seed\":\($0)}", groupKey: "A") }
        try s.addSweep(id: "one", name: "n", spec: "", runs: Array(runs[0..<2]))
        try s.addSweep(id: "two", name: "n", spec: "", runs: Array(runs[1...]))
        for r in runs {
            for epoch in 1...2 {
                try s.record(MetricRecord(runID: r.id, epoch: epoch, step: epoch * 10, values: ["test_accuracy": 0.5]))
                try checkpoint(s, r.id, epoch)
            }
        }
        return s
    }

    @Test(arguments: Backend.all) func everythingFollowsTheNewIds(_ backend: Backend) throws {
        let s = try Self.populated(backend)
        let before = try s.counts()
        try s.renameRuns([Self.rename("r0", "n0"), Self.rename("r1", "n1"), Self.rename("r2", "n2")])
        #expect(try s.counts() == before)
        let runs = try s.runs()
        #expect(runs.map(\.id) == ["n0", "n1", "n2"])
        #expect(runs.map(\.config) == ["{\"new\":\"n0\"}", "{\"new\":\"n1\"}", "{\"new\":\"n2\"}"])
        #expect(runs.map(\.groupKey) == ["Gn0", "Gn1", "Gn2"] && runs.allSatisfy { $0.epochsDone == 2 })
        #expect(try s.runs(sweep: "one").map(\.id) == ["n0", "n1"])
        #expect(try s.runs(sweep: "two").map(\.id) == ["n1", "n2"])
        #expect(try s.metrics().map(\.runID) == ["n0", "n0", "n1", "n1", "n2", "n2"])
        #expect(try s.checkpoints().map(\.path) == (0..<3).flatMap { i in (1...2).map { "n\(i)/epoch-\($0).safetensors" } })
        #expect(try Self.files(s) == (0..<3).flatMap { i in (1...2).map { "r\(i)@\($0)" } })
        #expect(try Self.folders(s) == ["n0", "n1", "n2"])
        #expect(s.checkpointURL(run: "n1", epoch: 2)! == s.checkpointFolder!.appendingPathComponent("n1/epoch-2.safetensors"))
        #expect(throws: StoreError.self) { try s.run(matching: "r0") }
        #expect(try s.metadata("pending_folder_moves") == nil)
        // Reopening finds the same.
        #expect(try backend.reopen(s).runs().map(\.id) == ["n0", "n1", "n2"])
    }

    @Test(arguments: Backend.all) func collapsingRunsKeepTheOneFurtherAlong(_ backend: Backend) throws {
        let s = try Self.populated(backend)
        // r0 is done after 2 epochs; the run already at r1 is pending after 2: r0 replaces it.
        // r2 is running; what is at r1 by then is r0, done: r2 is dropped.
        let owner = ClaimOwner(worker: 0)
        _ = try s.claim(owner: owner, limit: 3, lease: 60)
        try s.finish(run: "r0", owner: owner, status: .done)
        try s.release(owner: owner, runs: ["r1"])
        try s.renameRuns([Self.rename("r0", "r1"), Self.rename("r2", "r1")])
        let runs = try s.runs()
        #expect(runs.map(\.id) == ["r1"])
        #expect(runs[0].status == .done && runs[0].config == "{\"new\":\"r1\"}" && runs[0].groupKey == "Gr1")
        #expect(try s.runs(sweep: "one").map(\.id) == ["r1"] && s.runs(sweep: "two").map(\.id) == ["r1"])
        // One attempt: r0's, which finished it (r1's and r2's went with them).
        let counts = try s.counts()
        #expect(counts == ["runs": 1, "metrics": 2, "checkpoints": 2, "step_checkpoints": 0, "sweeps": 2, "sweep_runs": 2, "measures": 0,
                           "measure_claims": 0, "predictions": 0, "attempts": 1], "\(counts)")
        #expect(try s.attempts(runs: nil).map(\.outcome) == ["done"])
        // The files are r0's, in r1's folder; the dropped runs' files are gone.
        #expect(try Self.files(s) == ["r0@1", "r0@2"])
        #expect(try Self.folders(s) == ["r1"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.checkpointFolder!.appendingPathComponent("r1").path).count == 2)
    }

    @Test(arguments: Backend.all) func aTieKeepsTheExistingRun(_ backend: Backend) throws {
        let s = try Self.populated(backend)
        try s.renameRuns([Self.rename("r2", "r0")])
        #expect(try s.runs().map(\.id) == ["r0", "r1"])
        #expect(try s.runs(sweep: "two").map(\.id) == ["r0", "r1"])
        #expect(try Self.files(s) == ["r0@1", "r0@2", "r1@1", "r1@2"])
        #expect(try Self.folders(s) == ["r0", "r1"])
        // A rename onto a run that only gets a new config, in the same call.
        try s.renameRuns([Self.rename("r1", "r0"), Self.rename("r0", "r0")])
        #expect(try s.runs().map(\.id) == ["r0"] && s.runs()[0].config == "{\"new\":\"r0\"}")
        #expect(try Self.files(s) == ["r0@1", "r0@2"] && Self.folders(s) == ["r0"])
    }

    @Test(arguments: Backend.all) func unfinishedFolderMovesAreFinishedOnOpening(_ backend: Backend) throws {
        let s = try Self.populated(backend)
        // A file where the new folder goes: the rows are renamed, the move fails.
        let obstacle = s.checkpointFolder!.appendingPathComponent("n1")
        try Data("x".utf8).write(to: obstacle)
        #expect(throws: StoreError.self) {
            try s.renameRuns([Self.rename("r0", "n0"), Self.rename("r1", "n1"), Self.rename("r2", "n2")])
        }
        #expect(try s.runs().map(\.id) == ["n0", "n1", "n2"])
        let pending = try #require(try s.metadata("pending_folder_moves"))
        #expect(pending.contains("\"r1\"") && pending.contains("\"r2\"") && !pending.contains("\"r0\""), "\(pending)")
        // Still in the way: opening says which move failed.
        do {
            _ = try backend.reopen(s)
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains(obstacle.path), "\(error)")
        }
        try FileManager.default.removeItem(at: obstacle)
        let reopened = try backend.reopen(s)
        #expect(try reopened.metadata("pending_folder_moves") == nil)
        #expect(try Self.folders(reopened) == ["n0", "n1", "n2"])
        #expect(try Self.files(reopened) == (0..<3).flatMap { i in (1...2).map { "r\(i)@\($0)" } })
    }

    @Test(arguments: Backend.all) func aMoveIntoAnExistingFolderMergesFileByFile(_ backend: Backend) throws {
        let s = try Self.populated(backend)
        // A stray folder (say, a move interrupted halfway) under the new id.
        let stray = s.checkpointFolder!.appendingPathComponent("n0")
        try FileManager.default.createDirectory(at: stray, withIntermediateDirectories: true)
        try Data("old".utf8).write(to: stray.appendingPathComponent("epoch-1.safetensors"))
        try s.renameRuns([Self.rename("r0", "n0")])
        #expect(try Self.files(s).prefix(2) == ["r0@1", "r0@2"])
        #expect(try Self.folders(s) == ["n0", "r1", "r2"])
    }

    @Test(arguments: Backend.all) func badRenamesAndHostileMetadataAreRefused(_ backend: Backend) throws {
        let s = try Self.populated(backend)
        for (renames, says) in [([Self.rename("r9", "n9")], "no such run"),
                                ([Self.rename("r0", "../x")], "not a valid run id"),
                                ([Self.rename("r0", "r1"), Self.rename("r1", "n1")], "renamed in the same call"),
                                ([Self.rename("r0", "a"), Self.rename("r0", "b")], "more than once")] {
            do {
                try s.renameRuns(renames)
                Issue.record("no error for \(renames)")
            } catch {
                #expect("\(error)".contains(says), "\(error)")
            }
        }
        #expect(try s.runs().map(\.id) == ["r0", "r1", "r2"])
        #expect(try Self.folders(s) == ["r0", "r1", "r2"])
        try s.setMetadata("pending_folder_moves", "[{\"from\": \"..\", \"to\": \"x\"}]")
        #expect(try s.metadata("pending_folder_moves") != nil)
        do {
            _ = try backend.reopen(s)
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("pending_folder_moves"), "\(error)")
        }
        try s.setMetadata("pending_folder_moves", "not json")
        #expect(throws: StoreError.self) { try s.renameRuns([]) }
    }
}
