import ArgumentParser
import Foundation
import Synchronization
import ZooData
import ZooMeasures
import ZooNN
import ZooOptim
import ZooTensor
import ZooTrain

/// The options of the measure benchmark (`zoo-bench --measures`).
struct MeasureBenchOptions: ParsableArguments {
    @Option(help: "Measures: zoo-cnn checkpoints measured, seeds 0..<N.")
    var checkpoints = 64

    @Option(help: "Measures: rows of the sample, the first N Fashion-MNIST training images.")
    var sampleSize = MeasureSettings.defaultSampleSize

    @Option(help: "Measures: Adam steps (lr 1e-3, batch 32) from each seed's catalog initialization to its checkpoint; 0 measures the initialization.")
    var trainSteps = 200

    @Option(help: "Measures: folder of the checkpoints, written when missing or made with other settings (default: zoo-bench-measures in the temporary folder).")
    var checkpointDir: String?

    @Option(help: "Measures: comma-separated families (default: every family of single-member measures).")
    var families: String?

    @Option(help: "Measures: comma-separated measure names (default: every measure of the families).")
    var measureNames: String?

    @Option(help: "Measures: timed runs of each measure over all checkpoints (the median is reported).")
    var measureRepeats = 3

    @Option(help: "Measures: a measure whose first timed run takes longer than this many seconds is not repeated.")
    var singleRunAbove = 60.0

    @Option(help: "Measures: checkpoints per measure call, as `zoo measure` batches them.")
    var subjectsPerCall = 16

    @Flag(help: "Measures: only write the checkpoints (and print where), measure nothing.")
    var prepareOnly = false

    func validate() throws {
        guard checkpoints >= 1, sampleSize >= 1, trainSteps >= 0 else {
            throw ValidationError("--checkpoints and --sample-size must be at least 1 and --train-steps at least 0")
        }
        guard measureRepeats >= 1, subjectsPerCall >= 1 else { throw ValidationError("--measure-repeats and --subjects-per-call must be at least 1") }
    }
}

/// The measure benchmark: every single-member measure of ``MeasureCatalog`` timed over briefly
/// trained zoo-cnn checkpoints and a fixed Fashion-MNIST sample, as `zoo measure` computes them
/// (one measure over `subjectsPerCall` stacked checkpoints per call), against
/// `bench/torch_measures.py`, which reads the same checkpoint files (bench/README.md).
///
/// Per measure: the median over `measureRepeats` runs of the seconds to compute it for every
/// checkpoint, per checkpoint, and each checkpoint's value (for the comparison with PyTorch);
/// per family the sum over its measures. With `--json` one line per measure and per family.
struct MeasureBench {
    var options: MeasureBenchOptions
    var threads: Int
    var json: Bool

    static let config = "measures-zoo-cnn"
    /// Keys other than the own value whose values the lines carry (for the comparison with PyTorch).
    static let reportedParts = ["standard_error"]

    func run() throws {
        let measures = try selectedMeasures()
        let folder = URL(fileURLWithPath: options.checkpointDir
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("zoo-bench-measures").path)
        let train = try FashionMNIST.load().train
        let recipe = MeasureCheckpoints.Recipe(checkpoints: options.checkpoints, trainSteps: options.trainSteps)
        let checkpoints = try MeasureCheckpoints.prepare(recipe, in: folder, train: train, log: log)
        var setup = ResultLine()
        setup.append("kind", "setup")
        setup.append("checkpoint_dir", folder.path)
        setup.append("checkpoints", options.checkpoints)
        setup.append("train_steps", options.trainSteps)
        setup.append("sample_size", min(options.sampleSize, train.count))
        setup.append("subjects_per_call", options.subjectsPerCall)
        setup.append("threads", threads)
        if options.prepareOnly || json { emit(setup) }
        if options.prepareOnly { return }

        let sample = train.selecting(Array(0 ..< min(options.sampleSize, train.count)))
        let subjects = try checkpoints.enumerated().map { k, checkpoint in
            let config = recipe.config(seed: k)
            let initial = try config.makeModel(for: TrainingData(train: sample))
            var model = initial
            try model.load(checkpoint.state)
            return Subject(runID: "seed-\(k)", epoch: 1, config: config, model: model, initial: initial, sample: sample,
                           stepLosses: checkpoint.stepLosses)
        }
        let calls = stride(from: 0, to: subjects.count, by: options.subjectsPerCall).map {
            Array(subjects[$0 ..< min(subjects.count, $0 + options.subjectsPerCall)])
        }
        // Warm-up (untimed): first touches of the kernels and allocations.
        if let warm = MeasureCatalog.measure("cross_entropy") { _ = try? warm.values(of: calls[0], settings: MeasureSettings(sampleSize: sample.count)) }

        var timings: [Timing] = []
        for measure in measures {
            let timing = time(measure, calls: calls, sampleSize: sample.count)
            timings.append(timing)
            emit(timing.line(checkpoints: subjects.count, sampleSize: sample.count, options: options, threads: threads, values: json))
        }
        for family in MeasureFamily.allCases {
            let members = timings.filter { $0.family == family }
            guard !members.isEmpty else { continue }
            let done = members.filter { $0.error == nil }
            var line = ResultLine()
            line.append("kind", "family")
            line.append("family", family.rawValue)
            line.append("seconds_per_checkpoint", done.reduce(0) { $0 + $1.median } / Double(subjects.count))
            line.append("seconds", done.reduce(0) { $0 + $1.median })
            line.append("measures", done.count)
            line.append("failed", members.count - done.count)
            line.append("checkpoints", subjects.count)
            line.append("sample_size", sample.count)
            emit(line)
        }
    }

    /// The measures of the chosen families and names, in catalog order.
    private func selectedMeasures() throws -> [any Measure] {
        let benched = MeasureFamily.allCases.filter { $0 != .pairwise }
        let families = try options.families.map { list in
            try list.split(separator: ",").map { name in
                guard let f = MeasureFamily(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("unknown family '\(name)'; families: \(benched.map(\.rawValue).joined(separator: ", "))")
                }
                return f
            }
        } ?? benched
        var chosen = MeasureCatalog.measures.filter { families.contains($0.family) }
        if let names = options.measureNames {
            let wanted = names.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if let unknown = wanted.first(where: { MeasureCatalog.measure($0) == nil }) {
                throw ValidationError("unknown measure '\(unknown)'; measures: \(MeasureCatalog.measures.map(\.name).joined(separator: ", "))")
            }
            chosen = chosen.filter { wanted.contains($0.name) }
        }
        return chosen
    }

    /// One measure's runs over every call; a measure that throws is reported with its error.
    private func time(_ measure: any Measure, calls: [[Subject]], sampleSize: Int) -> Timing {
        var timing = Timing(measure: measure.name, family: measure.family)
        do {
            let settings = try MeasureSettings(sampleSize: sampleSize).resolved(defaults: measure.defaults, overrides: [:], measure: measure.name)
            timing.settings = settings.json
            for run in 0 ..< options.measureRepeats {
                var values: [[String: Double]] = []
                let elapsed = try seconds { for call in calls { values += try measure.values(of: call, settings: settings) } }
                timing.runs.append(elapsed)
                timing.values = values
                log("  \(measure.name) run \(run + 1): \(String(format: "%.3f", elapsed)) s")
                if run == 0 && elapsed > options.singleRunAbove { break }
            }
        } catch {
            timing.error = "\(error)"
            log("  \(measure.name) failed: \(error)")
        }
        return timing
    }

    private func emit(_ line: ResultLine) {
        print(json ? line.json(config: Self.config) : line.text(config: Self.config))
    }

    private func log(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// One measure's timed runs and last values.
    struct Timing {
        var measure: String
        var family: MeasureFamily
        var settings = ""
        var runs: [Double] = []
        var values: [[String: Double]] = []
        var error: String?

        var median: Double {
            let s = runs.sorted()
            return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }

        /// The result line; with `values`, the settings and every checkpoint's values too.
        func line(checkpoints: Int, sampleSize: Int, options: MeasureBenchOptions, threads: Int, values withValues: Bool) -> ResultLine {
            var line = ResultLine()
            line.append("kind", "measure")
            line.append("family", family.rawValue)
            line.append("measure", measure)
            if let error {
                line.append("error", error)
                return line
            }
            line.append("seconds_per_checkpoint", median / Double(checkpoints))
            line.append("seconds", median)
            line.append("min_seconds", runs.min() ?? .nan)
            line.append("runs", runs.count)
            guard withValues else { return line }
            line.append("checkpoints", checkpoints)
            line.append("sample_size", sampleSize)
            line.append("subjects_per_call", options.subjectsPerCall)
            line.append("threads", threads)
            line.append("settings", settings)
            line.append("values", values.map { $0[""] ?? .nan })
            for part in MeasureBench.reportedParts where values.contains(where: { $0[part] != nil }) {
                line.append(part, values.map { $0[part] ?? .nan })
            }
            return line
        }
    }
}

/// The checkpoints of the measure benchmark, as files both sides read: `seed-K.safetensors` (the
/// trained network, Zoo's parameter names `module_list.I.weight`), `seed-K-init.safetensors` (its
/// catalog initialization, which Zoo rebuilds from the seed and PyTorch reads), and
/// `manifest.json` (the recipe and each run's logged training losses).
enum MeasureCheckpoints {
    /// How the checkpoints are made: zoo-cnn on Fashion-MNIST, seed K for checkpoint K, Adam
    /// (lr 1e-3) on batches of 32 of a per-seed shuffle of the training set, the training loss
    /// logged every `stepLossInterval` steps (for the dynamics measures).
    struct Recipe: Codable, Equatable {
        var model = "zoo-cnn"
        var data = "fashion-mnist"
        var checkpoints: Int
        var trainSteps: Int
        var batchSize = 32
        var learningRate: Float = 1e-3
        var stepLossInterval = 10

        init(checkpoints: Int, trainSteps: Int) {
            self.checkpoints = checkpoints
            self.trainSteps = trainSteps
        }

        /// Whether checkpoint K is the same network under both recipes (the count aside).
        func sameTraining(as other: Recipe) -> Bool {
            var a = self
            a.checkpoints = other.checkpoints
            return a == other
        }

        /// Checkpoint `seed`'s run config: its catalog initialization is keyed by the seed.
        func config(seed: Int) -> RunConfig {
            RunConfig(model: ZooTrain.ModelSpec(name: model), data: DataSpec(name: data),
                      training: TrainingConfig(epochs: 1, maxSteps: max(1, trainSteps), batchSize: batchSize,
                                               optimizer: .adam(Adam(learningRate: learningRate)),
                                               stepLossInterval: stepLossInterval, seed: UInt64(seed)))
        }
    }

    struct Manifest: Codable {
        var recipe: Recipe
        /// Per checkpoint, its logged (step, mean loss) pairs.
        var stepLosses: [[[Double]]]
    }

    struct Checkpoint {
        var state: NamedTensors
        var stepLosses: [StepLoss]
    }

    /// The checkpoints of `recipe` in `folder`: read when its manifest has this recipe's training
    /// and at least as many checkpoints, else trained (one worker per compute thread) and written first.
    static func prepare(_ recipe: Recipe, in folder: URL, train: LabeledData, log: (String) -> Void) throws -> [Checkpoint] {
        let manifestURL = folder.appendingPathComponent("manifest.json")
        if let bytes = try? Data(contentsOf: manifestURL), var manifest = try? JSONDecoder().decode(Manifest.self, from: bytes),
           manifest.recipe.sameTraining(as: recipe), manifest.stepLosses.count >= recipe.checkpoints
        {
            // The first checkpoints of a larger set are the same files.
            manifest.stepLosses = Array(manifest.stepLosses.prefix(recipe.checkpoints))
            if let read = try? read(manifest, from: folder) { return read }
        }
        log("writing \(recipe.checkpoints) \(recipe.model) checkpoints (\(recipe.trainSteps) Adam steps each) to \(folder.path)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: manifestURL)
        let workers = max(1, min(BLAS.threadCount, recipe.checkpoints))
        let done = Mutex<[Int: Result<[StepLoss], Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for k in stride(from: w, to: recipe.checkpoints, by: workers) {
                let result = BLAS.withThreadCount(1) { Result { try trainAndWrite(recipe, seed: k, train: train, folder: folder) } }
                done.withLock { $0[k] = result }
            }
        }
        let losses = try done.withLock { results in try (0 ..< recipe.checkpoints).map { try results[$0]!.get() } }
        let manifest = Manifest(recipe: recipe, stepLosses: losses.map { $0.map { [Double($0.step), Double($0.loss)] } })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(manifest).write(to: manifestURL, options: .atomic)
        return try read(manifest, from: folder)
    }

    static func read(_ manifest: Manifest, from folder: URL) throws -> [Checkpoint] {
        try manifest.stepLosses.enumerated().map { k, log in
            Checkpoint(state: try Safetensors.read(from: folder.appendingPathComponent("seed-\(k).safetensors")).tensors,
                       stepLosses: log.map { StepLoss(step: Int($0[0]), loss: Float($0[1])) })
        }
    }

    /// Trains checkpoint `seed` from its catalog initialization and writes both; returns the logged losses.
    private static func trainAndWrite(_ recipe: Recipe, seed: Int, train: LabeledData, folder: URL) throws -> [StepLoss] {
        let config = recipe.config(seed: seed)
        let initial = try config.makeModel(for: TrainingData(train: train))
        var model = initial
        let trainer = Trainer(config: config.training)
        var state = trainer.initialState(for: model)
        let order = RandomKey(seed: UInt64(seed), stream: 0x6265_6e63).permutation(train.count)  // "benc"
        var losses: [StepLoss] = [], window: [Double] = []
        for step in 0 ..< recipe.trainSteps {
            let rows = (0 ..< recipe.batchSize).map { order[(step * recipe.batchSize + $0) % order.count] }
            let batch = train.selecting(rows)
            window.append(try trainer.step(&model, state: &state, batch: Batch(inputs: batch.inputs, labels: batch.labels)).loss)
            if window.count == recipe.stepLossInterval || step + 1 == recipe.trainSteps {
                losses.append(StepLoss(step: step + 1, loss: Float(window.reduce(0, +) / Double(window.count))))
                window = []
            }
        }
        try Safetensors.write(initial.state, to: folder.appendingPathComponent("seed-\(seed)-init.safetensors"))
        try Safetensors.write(model.state, to: folder.appendingPathComponent("seed-\(seed).safetensors"))
        return losses
    }
}
