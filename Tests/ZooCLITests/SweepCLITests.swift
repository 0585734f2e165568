import Foundation
import Testing
import ZooTestSupport
import ZooLab
import ZooStore
import ZooTensor

/// `zoo sweep run` end to end, as separate processes on real SQLite stores.
@Suite("zoo sweep", .serialized)
struct SweepCLITests {
    static func spec(seeds: [Int], epochs: Int = 6, train: Int = 3000) -> String {
        """
        name: kill-test
        base:
          model: mlp
          model.hidden: "32"
          data: teacher-student
          data.train: \(train)
          data.test: 500
          data.input-size: 16
          optimizer: sgd
          momentum: 0.9
          batch_size: 50
          epochs: \(epochs)
          checkpoint_every: 1
        grid:
          seed: [\(seeds.map(String.init).joined(separator: ", "))]
          lr: [0.05, 0.1]
        """
    }

    static func folder() -> URL { CLITests.temporaryFolder() }

    static func write(_ text: String, in folder: URL, name: String = "spec.yaml") throws -> String {
        let url = folder.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    static func launch(_ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Everything deterministic about a store: run ids and statuses, every metric but wall time,
    /// and the checkpoints (each file checked against its recorded SHA-256 and read back).
    static func fingerprint(_ path: String) throws -> (runs: [String: RunStatus], metrics: [String], checkpoints: [String]) {
        try fingerprint(SQLiteStore(path: URL(fileURLWithPath: path)))
    }

    /// The same of any store.
    static func fingerprint(_ store: any RunStore) throws -> (runs: [String: RunStatus], metrics: [String], checkpoints: [String]) {
        let runs = Dictionary(uniqueKeysWithValues: try store.runs().map { ($0.id, $0.status) })
        let metrics = try store.metrics().map { m in
            "\(m.runID) \(m.epoch) \(m.step) " + ["train_loss", "train_accuracy", "test_loss", "test_accuracy", "scheduled_lr"].map { "\(m.values[$0]!.bitPattern)" }.joined(separator: " ")
        }
        var checkpoints: [String] = []
        for c in try store.checkpoints() {
            let bytes = try store.checkpointData(c)
            #expect(Identity.sha256(bytes) == c.sha256, "checkpoint \(c.path) does not match its checksum")
            let tensors = try Safetensors.decode([UInt8](bytes), source: c.path).tensors
            #expect(!tensors.isEmpty)
            checkpoints.append("\(c.runID) \(c.epoch) \(c.sha256)")
        }
        return (runs, metrics, checkpoints)
    }

    /// Run a sweep, SIGKILL it at a random moment while it trains, run it again to completion:
    /// the store equals that of an uninterrupted run.
    @Test func killNineThenResumeEqualsUninterrupted() throws {
        let dir = Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try Self.write(Self.spec(seeds: [0, 1, 2]), in: dir)
        let reference = dir.appendingPathComponent("reference.sqlite").path
        let r = try CLITests.zoo(["sweep", "run", spec, "--store", reference, "--workers", "2"])
        try #require(r.status == 0, "\(r.stdout)\(r.stderr)")

        let killed = dir.appendingPathComponent("killed.sqlite").path
        let process = try Self.launch(["sweep", "run", spec, "--store", killed, "--workers", "2"])
        // Wait until training has started (some epoch recorded), then kill at a random moment.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let s = try? SQLiteStore(path: URL(fileURLWithPath: killed)), let n = try? s.metrics().count, n >= 1 { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        Thread.sleep(forTimeInterval: Double.random(in: 0...0.8))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        let partial = try SQLiteStore(path: URL(fileURLWithPath: killed)).runs()
        #expect(partial.contains { $0.status != .done }, "the sweep finished before the kill; the test proves nothing")

        let again = try CLITests.zoo(["sweep", "run", spec, "--store", killed, "--workers", "2"])
        try #require(again.status == 0, "\(again.stdout)\(again.stderr)")
        let a = try Self.fingerprint(reference), b = try Self.fingerprint(killed)
        #expect(a.runs == b.runs)
        #expect(a.runs.values.allSatisfy { $0 == .done })
        #expect(b.metrics.count == 6 * 6, "metric rows: \(b.metrics.count)")
        #expect(a.metrics == b.metrics)
        #expect(Set(a.checkpoints.map { $0.split(separator: " ").prefix(2).joined(separator: " ") })
                == Set(b.checkpoints.map { $0.split(separator: " ").prefix(2).joined(separator: " ") }))
        // Final checkpoints hold identical weights.
        #expect(Set(a.checkpoints.filter { $0.contains(" 6 ") }) == Set(b.checkpoints.filter { $0.contains(" 6 ") }))
    }

    /// SIGTERM (a scheduler's preemption) mid-sweep: the process checkpoints, releases its
    /// claims and exits 143 (128 + SIGTERM); nothing is left claimed, every checkpoint is valid, and the same
    /// command then finishes with the store an uninterrupted run gives.
    @Test func sigtermCheckpointsReleasesAndExitsCleanly() throws {
        let dir = Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try Self.write(Self.spec(seeds: [0, 1], epochs: 8), in: dir)
        let reference = dir.appendingPathComponent("reference.sqlite").path
        try #require(try CLITests.zoo(["sweep", "run", spec, "--store", reference]).status == 0)
        let stopped = dir.appendingPathComponent("stopped.sqlite").path
        let process = try Self.launch(["sweep", "run", spec, "--store", stopped])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let s = try? SQLiteStore(path: URL(fileURLWithPath: stopped)), let n = try? s.metrics().count, n >= 2 { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 143)
        let store = try SQLiteStore(path: URL(fileURLWithPath: stopped))
        let runs = try store.runs()
        #expect(runs.allSatisfy { $0.status == .pending || $0.status == .done }, "\(runs.map(\.status))")
        #expect(runs.contains { $0.status == .pending }, "the sweep finished before SIGTERM; the test proves nothing")
        // Every recorded epoch of a stopped run has its checkpoint (the spec checkpoints every epoch).
        let checkpoints = try store.checkpoints()
        for r in runs where r.status == .pending {
            let last = checkpoints.filter { $0.runID == r.id }.map(\.epoch).max() ?? 0
            #expect(try store.metrics(runs: [r.id]).map(\.epoch).max() ?? 0 == last)
        }
        try #require(try CLITests.zoo(["sweep", "run", spec, "--store", stopped]).status == 0)
        let a = try Self.fingerprint(reference), b = try Self.fingerprint(stopped)
        #expect(a.runs == b.runs && a.metrics == b.metrics)
    }

    @Test func rerunTrainsNothingAndWideningTrainsOnlyTheNew() throws {
        let dir = Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("z.sqlite").path
        let narrow = try Self.write(Self.spec(seeds: [0], epochs: 2, train: 500), in: dir)
        let first = try CLITests.zoo(["sweep", "run", narrow, "--store", store])
        #expect(first.status == 0)
        try Self.checkTiming(first.stdout)
        let again = try CLITests.zoo(["sweep", "run", narrow, "--store", store])
        #expect(again.status == 0)
        #expect(again.stdout.contains("nothing to train"), "\(again.stdout)")
        let wide = try Self.write(Self.spec(seeds: [0, 1], epochs: 2, train: 500), in: dir, name: "wide.yaml")
        let plan = try CLITests.zoo(["sweep", "plan", wide, "--store", store])
        #expect(plan.stdout.contains("4 runs") && plan.stdout.contains("2 already done"), "\(plan.stdout)")
        let widened = try CLITests.zoo(["sweep", "run", wide, "--store", store])
        #expect(widened.stdout.contains("4 runs, 2 already done, 2 new, 2 to train"), "\(widened.stdout)")
        let runs = try SQLiteStore(path: URL(fileURLWithPath: store)).runs()
        #expect(runs.count == 4 && runs.allSatisfy { $0.status == .done && $0.attempts == 1 })
    }

    /// The run's closing line splits the workers' time into parts that add up to all of it,
    /// with time measured in the steps, the evaluation and the store.
    static func checkTiming(_ output: String) throws {
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("time of 2 worker(s): ") }, "\(output)")
        var parts: [String: (percent: Double, seconds: Double)] = [:]
        for part in line.dropFirst("time of 2 worker(s): ".count).components(separatedBy: ", ") {
            // "training steps 44% (0.5 s)"
            let words = part.split(separator: " ")
            try #require(words.count >= 4 && words.last == "s)", "\(part)")
            let name = words.dropLast(3).joined(separator: " ")
            parts[name] = (Double(words[words.count - 3].dropLast()) ?? -1, Double(words[words.count - 2].dropFirst()) ?? -1)
        }
        #expect(Set(parts.keys) == ["training steps", "evaluation", "metrics and checkpoints", "preparing runs", "other"], "\(line)")
        for part in ["training steps", "evaluation", "metrics and checkpoints"] {
            #expect((parts[part]?.seconds ?? 0) > 0, "\(part) in \(line)")
        }
        let total = parts.values.map(\.percent).reduce(0, +)
        #expect(abs(total - 100) <= 3, "\(line)")
    }

    /// When `zoo sweep run` exits, its write-ahead log is in the database file: the `.sqlite`
    /// file copied alone (as users copy stores) holds every run and metric.
    @Test func aFinishedStoreIsOneFile() throws {
        let dir = Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("z.sqlite").path
        let spec = try Self.write(Self.spec(seeds: [0, 1], epochs: 2, train: 500), in: dir)
        try #require(try CLITests.zoo(["sweep", "run", spec, "--store", store, "--quiet"]).status == 0)
        let copy = dir.appendingPathComponent("copy.sqlite")
        try FileManager.default.copyItem(atPath: store, toPath: copy.path)
        let copied = try SQLiteStore(path: copy, readOnly: true)
        #expect(try copied.runs().count == 4 && copied.runs().allSatisfy { $0.status == .done })
        #expect(try copied.metrics().count == 8)
    }

    /// Two processes on one store at once: every run is trained exactly once.
    @Test func twoProcessesNeverTrainARunTwice() throws {
        let dir = Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("z.sqlite").path
        let spec = try Self.write(Self.spec(seeds: [0, 1, 2, 3], epochs: 2, train: 1000), in: dir)
        let a = try Self.launch(["sweep", "run", spec, "--store", store, "--workers", "1"])
        let b = try Self.launch(["sweep", "run", spec, "--store", store, "--workers", "1"])
        a.waitUntilExit()
        b.waitUntilExit()
        #expect(a.terminationStatus == 0 && b.terminationStatus == 0)
        let s = try SQLiteStore(path: URL(fileURLWithPath: store))
        let runs = try s.runs()
        #expect(runs.count == 8)
        #expect(runs.allSatisfy { $0.status == .done && $0.attempts == 1 }, "\(runs.map { ($0.id.prefix(6), $0.status, $0.attempts) })")
        #expect(try s.metrics().count == 16)
        #expect(Set(runs.compactMap(\.host)).count == 1)
    }

    /// The CSV export opens in pandas with one row per run × epoch; the Python example reads the
    /// store and its checkpoints with sqlite3, safetensors and numpy.
    @Test func exportAndPythonExample() throws {
        let dir = Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("z.sqlite").path
        let spec = try Self.write(Self.spec(seeds: [0], epochs: 3, train: 500), in: dir)
        #expect(try CLITests.zoo(["sweep", "run", spec, "--store", store]).status == 0)
        let csv = dir.appendingPathComponent("zoo.csv").path
        #expect(try CLITests.zoo(["export", "--store", store, "--format", "csv", "--output", csv]).status == 0)
        let check = """
            import pandas, sys
            df = pandas.read_csv(sys.argv[1])
            assert len(df) == 6, len(df)
            assert df.groupby(["run_id", "epoch"]).size().max() == 1
            assert set(df["lr"]) == {0.05, 0.1}, set(df["lr"])
            assert df["test_accuracy"].between(0, 1).all()
            print("ok", len(df), len(df.columns))
            """
        let pandas = try python(["-c", check, csv])
        #expect(pandas.status == 0 && pandas.output.hasPrefix("ok 6"), "pandas is required (scripts/install-deps.sh): \(pandas.output)")
        let jsonl = try CLITests.zoo(["export", "--store", store, "--format", "jsonl"])
        #expect(jsonl.stdout.split(separator: "\n").count == 6)
        let example = try python([CLITests.root.appendingPathComponent("docs/load_zoo.py").path, store])
        #expect(example.status == 0, "\(example.output)")
        #expect(example.output.split(separator: "\n").count == 2)
        #expect(example.output.contains("checkpoint_epoch=3") && example.output.contains("tensors=4"), "\(example.output)")
        let ls = try CLITests.zoo(["ls", "--store", store, "--where", "lr=0.1"])
        #expect(ls.stdout.contains("1 run(s)"), "\(ls.stdout)")
        let id = String(ls.stdout.split(separator: "\n")[2].prefix(8))
        let show = try CLITests.zoo(["show", id, "--store", store])
        #expect(show.stdout.contains("status done") && show.stdout.contains("lr = 0.1") && show.stdout.contains("epoch 3:"), "\(show.stdout)")
    }

    @Test func badSpecTrainsNothing() throws {
        let dir = Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("z.sqlite").path
        let spec = try Self.write(Self.spec(seeds: [0]) + "\n  model.activation: [relu, relu6]\n", in: dir)
        let r = try CLITests.zoo(["sweep", "run", spec, "--store", store])
        #expect(r.status != 0)
        #expect(r.stderr.contains("spec.yaml:17: key 'model.activation'") && r.stderr.contains("relu6"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: store))
    }

    func python(_ arguments: [String]) throws -> (status: Int32, output: String) { try Python.run(arguments) }
}

/// Progress as a user sees it: redrawn in place on a terminal, a line per event in a pipe.
@Suite("zoo sweep progress")
struct SweepProgressCLITests {
    /// `zoo sweep run` under a pseudo-terminal (`script`): status lines with their workers, the
    /// time left and the best result are redrawn in place, then cleared before the summary.
    @Test func liveOnATerminalPlainInAPipe() throws {
        let dir = SweepCLITests.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try SweepCLITests.write(SweepCLITests.spec(seeds: [0, 1], epochs: 3, train: 3000), in: dir)
        let store = dir.appendingPathComponent("live.sqlite").path
        let (status, live) = try Self.underTerminal(["sweep", "run", spec, "--store", store, "--workers", "2", "--population", "1"])
        #expect(status == 0, "\(live)")
        #expect(live.contains("\u{1B}[J"), "no redraw: \(live.prefix(2000))")
        #expect(live.contains("worker 1") && live.contains("worker 2") && live.contains("ETA ") && live.contains("best test acc"))
        #expect(live.contains("samples/s"))
        // The summary comes after the last redraw, clean.
        let summary = try #require(live.range(of: "trained 12 member-epochs", options: .backwards))
        #expect(!live[summary.lowerBound...].contains("\u{1B}["))
        #expect(!live.contains("epoch 1/3 test acc"), "epoch lines belong to the plain log")

        let plain = try CLITests.zoo(["sweep", "run", spec, "--store", dir.appendingPathComponent("plain.sqlite").path])
        #expect(plain.status == 0)
        #expect(!plain.stdout.contains("\u{1B}["))
        #expect(plain.stdout.contains("epoch 3/3 test acc") && plain.stdout.contains("ETA "))
        let quiet = try CLITests.zoo(["sweep", "run", spec, "--store", dir.appendingPathComponent("quiet.sqlite").path, "--progress", "quiet"])
        #expect(quiet.status == 0 && !quiet.stdout.contains("epoch 1/3") && quiet.stdout.contains("trained 12 member-epochs"))

        // `zoo measure` on the same terminal: one status line with the count and the time left.
        let (measured, text) = try Self.underTerminal(["measure", "--store", store, "--measure", "margin", "--measure", "accuracy", "--samples", "500"])
        #expect(measured == 0, "\(text)")
        #expect(text.contains("\u{1B}[J") && text.contains("measures ") && text.contains("/8 · ") && text.contains("ETA "), "\(text.prefix(1500))")
        let done = try #require(text.range(of: "computed 8 measure(s)", options: .backwards))
        #expect(!text[done.lowerBound...].contains("\u{1B}["))
    }

    /// Runs `zoo ARGUMENTS` with a pseudo-terminal as its standard output (util-linux `script`).
    static func underTerminal(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let command = ([CLITests.binary.path] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        script.arguments = ["-qfec", command, "/dev/null"]
        let pipe = Pipe()
        script.standardOutput = pipe
        script.standardInput = FileHandle.nullDevice
        try script.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        script.waitUntilExit()
        return (script.terminationStatus, output)
    }
}
