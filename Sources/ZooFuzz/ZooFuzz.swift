import ArgumentParser
import Foundation
import ZooData
import ZooLab
import ZooTensor

/// Seeded random-mutation fuzzing of Zoo's file parsers (issue 11): valid files from a corpus are
/// mutated and parsed in-process until the time is up. A thrown error naming the file is the
/// expected outcome of a bad input; a trap, a crash, a hang, an allocation past the memory limit
/// or an error that does not name its file is a failure. Each input is written to a file before
/// it is parsed, so a crash leaves it behind and the crash handler prints its path.
@main
struct ZooFuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo-fuzz",
        abstract: "Fuzz one of Zoo's file parsers with seeded random mutations of valid files.",
        discussion: """
            Parsers: safetensors (Safetensors.read), idx (IDX.read and IDX.loadFolder, plain and gzip), \
            npy (NPY.read and NPY.readArchive for .npz), spec (SweepSpec.load and the plan's expansion), \
            store (a store's rows overwritten with hostile values, then every reader of the store: no corpus).
            Exit status: 0 when every input was parsed or refused with an error naming its file; 1 for an \
            error that does not; a crash exits with its signal after printing the input's path, a hang \
            with status 3. scripts/test.sh runs each parser for 30 s under `ulimit -v`.
            """)

    enum Parser: String, ExpressibleByArgument, CaseIterable {
        case safetensors, idx, npy, spec, store
    }

    @Argument(help: "The parser: \(Parser.allCases.map(\.rawValue).joined(separator: ", ")).") var parser: Parser
    @Option(help: "How long to fuzz, in seconds.") var seconds: Double = 30
    @Option(help: "Stop after this many inputs (default: only the time limit).") var iterations: Int?
    @Option(help: "Seed of the mutations: the same seed and corpus give the same inputs.") var seed: UInt64 = 1
    @Option(help: "Folder of valid inputs to mutate (default: Tests/FuzzCorpus/PARSER).") var corpus: String?
    @Option(help: "Folder where the input being parsed is written (and left behind by a crash).") var work = ".build/fuzz"
    @Option(help: "Seconds one parse may take before it counts as a hang.") var hangSeconds: Double = 10
    @Flag(help: "List 40 kinds of refusal with an example each, not 8.") var verbose = false

    func run() throws {
        if parser == .store { return try fuzzStore() }
        let corpusFolder = URL(fileURLWithPath: corpus ?? "Tests/FuzzCorpus/\(parser.rawValue)")
        let names = try FileManager.default.contentsOfDirectory(atPath: corpusFolder.path).filter { !$0.hasPrefix(".") }.sorted()
        let seeds = try names.map { [UInt8](try Data(contentsOf: corpusFolder.appendingPathComponent($0))) }
        guard !seeds.isEmpty else { throw ValidationError("no seed files in \(corpusFolder.path)") }
        let folder = URL(fileURLWithPath: work).appendingPathComponent(parser.rawValue)
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let target = Target(parser: parser, folder: folder, seedNames: names, seeds: seeds)
        try target.prepare()

        var random = SplitMix64(seed: seed)
        let mutator = Mutator(seeds: seeds, dictionary: target.dictionary, text: parser == .spec)
        let start = Date()
        var count = 0, parsed = 0, unclear = 0
        var refusals: [String: (count: Int, example: String)] = [:]
        Watchdog.start(limit: hangSeconds)
        while Date().timeIntervalSince(start) < seconds && count < (iterations ?? .max) {
            let pick = Int(random.next() % UInt64(seeds.count))
            let input = mutator.mutate(seeds[pick], &random)
            let url = try target.write(input, seed: pick)
            CrashReport.arm(url.path)
            Watchdog.begin(url.path)
            let outcome = target.parse(url, iteration: count)
            Watchdog.end()
            count += 1
            switch outcome {
            case .parsed: parsed += 1
            case let .refused(kind, message): refusals[kind, default: (0, message)].count += 1
            case let .unclear(message):
                unclear += 1
                let kept = folder.appendingPathComponent("unclear-\(unclear)-" + url.lastPathComponent)
                try? FileManager.default.copyItem(at: url, to: kept)
                print("zoo-fuzz \(parser.rawValue): an error that does not name its file, input kept at \(kept.path):\n  \(message)")
            }
            try target.restore(seed: pick)
        }
        CrashReport.disarm()
        let elapsed = Date().timeIntervalSince(start)
        print("zoo-fuzz \(parser.rawValue): \(count) inputs in \(String(format: "%.1f", elapsed)) s (seed \(seed), \(seeds.count) corpus files): "
              + "\(parsed) parsed, \(count - parsed - unclear) refused with a clear error, \(unclear) unclear, no crash")
        for (_, r) in refusals.sorted(by: { $0.value.count > $1.value.count }).prefix(verbose ? 40 : 8) {
            print("  \(r.count)\t\(r.example.replacingOccurrences(of: folder.path + "/", with: "").prefix(160))")
        }
        if unclear > 0 { throw ExitCode(1) }
        try? FileManager.default.removeItem(at: folder)
    }
}

extension ZooFuzz {
    /// The store-rows fuzzer: mutated copies of a valid store, each read by every reader.
    func fuzzStore() throws {
        let folder = URL(fileURLWithPath: work).appendingPathComponent("store")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let fuzz = StoreRowsFuzz(folder: folder)
        let pristine = try fuzz.makePristine()
        let target = folder.appendingPathComponent("input.sqlite")
        var random = SplitMix64(seed: seed)
        let start = Date()
        var count = 0, refused = 0
        var kinds: [String: Int] = [:]
        Watchdog.start(limit: hangSeconds)
        while Date().timeIntervalSince(start) < seconds && count < (iterations ?? .max) {
            try fuzz.mutate(pristine, into: target, &random)
            CrashReport.arm(target.path)
            Watchdog.begin(target.path)
            if let error = fuzz.readEverything(target, &random) {
                refused += 1
                kinds[String("\(error)".replacingOccurrences(of: folder.path, with: "").prefix(60)), default: 0] += 1
            }
            Watchdog.end()
            count += 1
        }
        CrashReport.disarm()
        print("zoo-fuzz store: \(count) mutated stores in \(String(format: "%.1f", Date().timeIntervalSince(start))) s (seed \(seed)): "
              + "\(count - refused) read through, \(refused) refused with an error, no crash")
        for (kind, n) in kinds.sorted(by: { $0.value > $1.value }).prefix(verbose ? 40 : 8) { print("  \(n)\t\(kind)") }
        try? FileManager.default.removeItem(at: folder)
    }
}

/// What parsing one input gave.
enum Outcome {
    case parsed
    /// A thrown error naming the file; `kind` groups the messages for the summary.
    case refused(kind: String, message: String)
    /// A thrown error that does not name the file.
    case unclear(String)
}

/// One parser: where its input is written and how it is read.
struct Target {
    let parser: ZooFuzz.Parser
    let folder: URL
    let seedNames: [String]
    let seeds: [[UInt8]]

    /// The four files of an MNIST-layout folder: the idx corpus holds one valid file for each
    /// (any of them possibly gzip), and a mutated file replaces its own in the folder.
    static let idxStems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]

    /// Fragments a mutation may insert: tokens of the format that random bytes rarely produce.
    var dictionary: [[UInt8]] {
        let words: [String]
        switch parser {
        case .safetensors:
            words = ["{", "}", "[", "]", ",", ":", "\"", "\"F32\"", "\"I32\"", "\"BOOL\"", "\"F64\"", "\"shape\":[", "\"data_offsets\":[",
                     "\"dtype\":", "\"__metadata__\":{", "4294967296", "-1", "1e20", "9007199254740993", "0.5", "null", "true", "[[[[[[[["]
        case .idx:
            words = []
        case .npy:
            words = ["'descr': '<f8'", "'descr': '|b1'", "'fortran_order': True", "'shape': (", "99999999999999", "4611686018427387904",
                     ",)", "(0,", "PK\u{3}\u{4}", "PK\u{1}\u{2}", "PK\u{5}\u{6}", "\u{93}NUMPY\u{2}\u{0}"]
        case .spec:
            words = ["&a ", "*a", "[", "]", "{", "}", "\n- ", ": ", "\n  ", "99999999999999999999", "1e308", "-1", "nan", "inf", "\"",
                     "int-uniform: [0, 1e300]", "\ngrid:\n  seed: [1, 2, 3]\n", "\nrandom:\n  count: 1000000\n", "!!binary ", "? ", "<<: ",
                     "---\n", "\t"]
        case .store:
            words = []  // fuzzStore mutates rows, not bytes
        }
        return words.map { Array($0.utf8) }
    }

    /// Writes the valid files an input is parsed beside (the other three IDX files).
    func prepare() throws {
        guard parser == .idx else { return }
        for stem in Self.idxStems {
            guard let i = seedNames.firstIndex(where: { $0.hasPrefix(stem) }) else {
                throw ValidationError("the idx corpus needs a file named \(stem)[.gz]")
            }
            try Data(seeds[i]).write(to: folder.appendingPathComponent(stem))
        }
    }

    /// Writes `input`, a mutation of seed `seed`, where it is parsed from.
    func write(_ input: [UInt8], seed: Int) throws -> URL {
        let name: String
        switch parser {
        case .idx: name = Self.idxStems.first { seedNames[seed].hasPrefix($0) } ?? "train-images-idx3-ubyte"
        case .npy: name = input.starts(with: [0x50, 0x4b]) ? "input.npz" : "input.npy"
        case .safetensors: name = "input.safetensors"
        case .spec: name = "input.yaml"
        case .store: name = "input.sqlite"
        }
        let url = folder.appendingPathComponent(name)
        try Data(input).write(to: url)
        return url
    }

    /// Puts back the valid file a mutated IDX input replaced.
    func restore(seed: Int) throws {
        guard parser == .idx else { return }
        _ = try write(seeds[seed], seed: seed)
    }

    func parse(_ url: URL, iteration: Int) -> Outcome {
        do {
            switch parser {
            case .safetensors:
                _ = try Safetensors.read(from: url, convertingToFloat32: iteration % 2 == 1)
            case .idx:
                _ = try IDX.read(contentsOf: url)
                _ = try IDX.loadFolder(folder)
            case .npy:
                if url.pathExtension == "npz" { _ = try NPY.readArchive(contentsOf: url) } else { _ = try NPY.read(contentsOf: url) }
            case .spec:
                _ = try SweepPlan.expand(try SweepSpec.load(url), maxRuns: 1_000)
            case .store:
                break  // fuzzStore reads stores itself
            }
            return .parsed
        } catch {
            let message = "\(error)"
            // Every error names the file it is about (for IDX, one of the folder's files).
            let named = message.hasPrefix(parser == .idx ? folder.path : url.path)
            return named ? .refused(kind: Self.kind(of: error), message: message) : .unclear("\(type(of: error)): \(message.prefix(500))")
        }
    }

    /// The error's type and the start of its problem, without numbers: a group for the summary.
    static func kind(of error: any Error) -> String {
        let problem: String
        switch error {
        case let e as DataFileError: problem = e.problem
        case let e as SafetensorsError: problem = e.problem
        case let e as SpecError: problem = e.message
        default: problem = "\(error)"
        }
        let words = problem.split(separator: " ").prefix(5).map { $0.contains(where: \.isNumber) ? "#" : String($0) }
        return "\(type(of: error)): " + words.joined(separator: " ").prefix(60)
    }
}
