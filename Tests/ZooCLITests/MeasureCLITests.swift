import Foundation
import Testing
import ZooStore

/// `zoo measure` end to end, as separate processes on real SQLite stores: resumable after
/// SIGKILL with the values of an uninterrupted run, and shared by processes without doing any
/// measure twice.
@Suite("zoo measure", .serialized)
struct MeasureCLITests {
    static let measures = ["cross_entropy", "accuracy", "margin", "inverse_margin", "output_entropy"]

    /// A trained store of 4 runs × 3 checkpoints (built once), copied for each test.
    static let trained: URL = {
        let dir = CLITests.temporaryFolder()
        let spec = try! SweepCLITests.write(SweepCLITests.spec(seeds: [0, 1], epochs: 3, train: 1500), in: dir)
        let store = dir.appendingPathComponent("zoo.sqlite")
        let r = try! CLITests.zoo(["sweep", "run", spec, "--store", store.path, "--quiet"])
        precondition(r.status == 0, "the sweep failed: \(r.stdout) \(r.stderr)")
        return store
    }()

    /// A copy of the trained store (database and checkpoint folder).
    static func copy(_ name: String) throws -> String {
        let dir = CLITests.temporaryFolder()
        let target = dir.appendingPathComponent("\(name).sqlite")
        // The write-ahead log holds whatever the sweep's process had not checkpointed when it
        // exited (timing-dependent): a copy of the database file alone can miss every run.
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: trained.path + suffix) {
            try FileManager.default.copyItem(at: URL(fileURLWithPath: trained.path + suffix), to: URL(fileURLWithPath: target.path + suffix))
        }
        try FileManager.default.copyItem(at: URL(fileURLWithPath: trained.path + ".checkpoints"), to: URL(fileURLWithPath: target.path + ".checkpoints"))
        return target.path
    }

    static func arguments(_ store: String, batch: Int = 1) -> [String] {
        ["measure", "--store", store, "--epoch", "all", "--samples", "1000", "--batch", String(batch)] + measures.flatMap { ["--measure", $0] }
    }

    /// Every stored value but its timing, sorted.
    static func values(_ store: String) throws -> [String] {
        try SQLiteStore(path: URL(fileURLWithPath: store)).measures().map {
            "\($0.task.runID) \($0.task.otherRun) \($0.task.epoch) \($0.task.measure) \($0.key) \($0.task.settings) \($0.value.bitPattern) \($0.error ?? "")"
        }.sorted()
    }

    @Test func killNineThenResumeEqualsUninterrupted() throws {
        let whole = try Self.copy("whole")
        let r = try CLITests.zoo(Self.arguments(whole))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let expected = try Self.values(whole)
        #expect(expected.count == 4 * 3 * Self.measures.count)
        #expect(r.stdout.contains("computed \(expected.count) measure(s)"))
        // Again: everything is stored, nothing is computed.
        let again = try CLITests.zoo(Self.arguments(whole))
        #expect(again.stdout.contains("computed 0 measure(s)"), "\(again.stdout)")

        let killed = try Self.copy("killed")
        let process = try SweepCLITests.launch(Self.arguments(killed))
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let s = try? SQLiteStore(path: URL(fileURLWithPath: killed)), let n = try? s.measures().count, n >= 3 { break }
            usleep(20_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let partial = try Self.values(killed).count
        let resumed = try CLITests.zoo(Self.arguments(killed))
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(try Self.values(killed) == expected)
        #expect(resumed.stdout.contains("computed \((expected.count - partial) / 1) measure(s)") || partial == expected.count,
                "killed after \(partial) values: \(resumed.stdout)")
    }

    /// Two processes on one store: each (run, checkpoint, measure) is computed by exactly one.
    @Test func twoProcessesShareTheWork() throws {
        let shared = try Self.copy("shared")
        let outputs = [Pipe(), Pipe()]
        let processes = try outputs.map { pipe -> Process in
            let p = Process()
            p.executableURL = CLITests.binary
            p.arguments = Self.arguments(shared, batch: 2)
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        let texts = outputs.map { String(decoding: $0.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        for p in processes { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        // "computed MEASURE for N checkpoints (… s each): RUN@EPOCH MEASURE RUN@EPOCH MEASURE …"
        func computed(_ text: String) -> [String] {
            text.split(separator: "\n").filter { $0.hasPrefix("computed ") && $0.contains(": ") }.flatMap { line -> [String] in
                let labels = line[line.range(of: ": ")!.upperBound...].split(separator: " ")
                return stride(from: 0, to: labels.count - 1, by: 2).map { "\(labels[$0]) \(labels[$0 + 1])" }
            }
        }
        let first = computed(texts[0]), second = computed(texts[1])
        #expect(Set(first).isDisjoint(with: second), "computed twice: \(Set(first).intersection(second))")
        #expect(first.count + second.count == 4 * 3 * Self.measures.count)
        #expect(try Self.values(shared).count == 4 * 3 * Self.measures.count)
    }

    @Test func listRankAndErrors() throws {
        let list = try CLITests.zoo(["measure", "list", "--settings"])
        #expect(list.status == 0)
        for m in Self.measures { #expect(list.stdout.contains(m)) }
        #expect(list.stdout.contains("percentile=10"))
        let store = try Self.copy("rank")
        #expect(try CLITests.zoo(Self.arguments(store, batch: 4)).status == 0)
        let rank = try CLITests.zoo(["measure", "rank", "--store", store, "--target", "test-error", "--format", "csv"])
        #expect(rank.status == 0, "\(rank.stderr)")
        #expect(rank.stdout.contains("measure,tau,runs") && rank.stdout.contains("margin,"))
        let unknown = try CLITests.zoo(["measure", "--store", store, "--measure", "nope"])
        #expect(unknown.status == 2 && unknown.stderr.contains("unknown measure 'nope'"))
        let badSetting = try CLITests.zoo(["measure", "--store", store, "--measure", "margin", "--set", "margin.nope=1"])
        #expect(badSetting.status == 2 && badSetting.stderr.contains("no setting 'nope'"), "\(badSetting.stderr)")
        for bad in ["-1", "1e30"] {
            let r = try CLITests.zoo(["measure", "--store", store, "--measure", "margin", "--set", "margin.percentile=\(bad)"])
            #expect(r.status == 2 && r.stderr.contains("setting 'percentile'"), "\(r.stderr)")
        }
        let setting = try CLITests.zoo(["measure", "--store", store, "--measure", "margin", "--set", "margin.percentile=50", "--samples", "1000"])
        #expect(setting.status == 0 && setting.stdout.contains("computed 4 measure(s)"), "\(setting.stdout)")
    }
}
