import ArgumentParser
import Foundation
import ZooData
import ZooNN
import ZooOptim
import ZooTensor
import ZooTrain

enum OptimizerKind: String, ExpressibleByArgument, CaseIterable {
    case sgd, adam, adamw, rmsprop
}

enum ScheduleKind: String, ExpressibleByArgument, CaseIterable {
    case constant, step, multistep, exponential, cosine, onecycle = "one-cycle"
}

/// The model and data of a run.
struct ModelAndData: ParsableArguments {
    @Option(help: "Catalog model (see `zoo models`).")
    var model: String = "zoo-cnn"

    @Option(name: .customLong("model-option"), help: ArgumentHelp("A model option, key=value (repeatable).", valueName: "key=value"))
    var modelOptions: [String] = []

    @Option(help: "Data set: fashion-mnist, mnist1d, idx:DIR, cifar10:DIR, cifar100:DIR, teacher-student, hidden-manifold (see `zoo datasets`).")
    var data: String = "fashion-mnist"

    @Option(name: .customLong("data-option"), help: ArgumentHelp("A data option, key=value (repeatable), e.g. subset=1000.", valueName: "key=value"))
    var dataOptions: [String] = []

    @Option(name: .customLong("data-dir"), help: "Folder holding Fashion-MNIST (default: $ZOO_DATA, then /usr/share/datasets/fashion-mnist).")
    var dataDirectory: String?

    func specs() throws -> (ModelSpec, DataSpec) {
        (ModelSpec(name: model, options: try parsePairs(modelOptions, option: "--model-option")),
         DataSpec(name: data, options: try parsePairs(dataOptions, option: "--data-option")))
    }

    func loadData(_ spec: DataSpec) throws -> TrainingData {
        try DatasetCatalog.load(spec, dataDirectory: dataDirectory.map { URL(fileURLWithPath: $0) })
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train one model and write its events, config and checkpoints.",
        discussion: """
            Writes OUT/config.json, OUT/events.jsonl (one JSON object per line), OUT/epoch-N.safetensors
            every --save-every epochs and OUT/final.safetensors. A checkpoint holds the model's state dict
            under its PyTorch names, the optimizer state under optimizer.*, and the run config in its
            metadata; --resume continues from one with identical results.

            Example:
              zoo train --model zoo-cnn --data fashion-mnist --epochs 5 --optimizer adam --lr 1e-3 \\
                        --batch-size 32 --seed 0 --out runs/zoo-cnn
            """)

    @OptionGroup var source: ModelAndData

    @Option(parsing: .unconditional, help: "Passes over the training set.") var epochs: Int = 10
    @Option(name: .customLong("max-steps"), parsing: .unconditional, help: "Stop after this many optimizer steps.") var maxSteps: Int?
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Samples per step.") var batchSize: Int = 32
    @Option(help: "Optimizer.") var optimizer: OptimizerKind = .adam
    @Option(parsing: .unconditional, help: "Learning rate (default: 1e-3 for adam/adamw, 1e-2 for sgd/rmsprop).") var lr: Float?
    @Option(parsing: .unconditional, help: "Momentum (sgd, rmsprop).") var momentum: Float = 0
    @Flag(help: "Nesterov momentum (sgd).") var nesterov = false
    @Option(name: .customLong("weight-decay"), parsing: .unconditional, help: "Weight decay (L2 for sgd/adam/rmsprop; decoupled for adamw, default 1e-2 there).") var weightDecay: Float?
    @Option(help: "Learning-rate schedule.") var schedule: ScheduleKind = .constant
    @Option(name: .customLong("schedule-unit"), help: "Whether schedule steps are epochs or optimizer steps.") var scheduleUnit: TrainingConfig.ScheduleUnit = .epoch
    @Option(name: .customLong("step-size"), parsing: .unconditional, help: "step: decay every this many schedule steps.") var stepSize: Int = 30
    @Option(parsing: .unconditional, help: "step, multistep, exponential: decay factor.") var gamma: Float = 0.1
    @Option(help: "multistep: comma-separated schedule steps at which to decay.") var milestones: String = ""
    @Option(parsing: .unconditional, help: "cosine: linear warmup steps.") var warmup: Int = 0
    @Option(name: .customLong("min-lr"), parsing: .unconditional, help: "cosine: final learning rate.") var minLR: Float = 0
    @Option(name: .customLong("batch-size-milestones"), help: "Epochs at which the batch size is multiplied by --batch-size-factor.") var batchMilestones: String = ""
    @Option(name: .customLong("batch-size-factor"), parsing: .unconditional, help: "Factor of the batch size increase.") var batchFactor: Int = 5
    @Option(name: .customLong("clip-norm"), parsing: .unconditional, help: "Clip gradients to this global norm.") var clipNorm: Float?
    @Option(name: .customLong("label-smoothing"), parsing: .unconditional, help: "Label smoothing of the cross-entropy.") var labelSmoothing: Float = 0
    @Option(name: .customLong("early-stopping"), parsing: .unconditional, help: "Stop after this many epochs without a better validation loss (needs --data-option validation=N).") var earlyStopping: Int?
    @Option(name: .customLong("train-metrics"), help: "sample: evaluation mode on a fixed sample of the training set as large as the test set; full: evaluation mode on all of it; running: only the training-mode average over the epoch's batches.") var trainMetrics: TrainingConfig.TrainMetrics = .sample
    @Option(name: .customLong("stop-at-train-loss"), parsing: .unconditional, help: "Stop once the full-pass train cross-entropy is at most this at an epoch's end (needs --train-metrics full); --epochs is the cap.") var stopAtTrainLoss: Float?
    @Option(help: ArgumentHelp("Freeze parameters matching this glob (repeatable), e.g. '*.conv*'.", valueName: "pattern")) var freeze: [String] = []
    @Option(parsing: .unconditional, help: "Seed of initialization, shuffling, dropout and augmentation.") var seed: UInt64 = 0
    @Option(help: "Output folder; it must be empty or new unless --overwrite or --resume.") var out: String = "runs/latest"
    @Flag(help: "Empty the output folder first when it holds files.") var overwrite = false
    @Option(name: .customLong("save-every"), parsing: .unconditional, help: "Write OUT/epoch-N.safetensors every N epochs (0: only final).") var saveEvery: Int = 0
    @Option(help: "Continue from this checkpoint (its config must match).") var resume: String?
    @Option(parsing: .unconditional, help: "Compute threads (convolutions, matrix products and updates are split over them).") var threads: Int = 2
    @Option(help: ProgressMode.help) var progress: ProgressMode = .auto

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256, got \(threads)") }
        guard saveEvery >= 0 else { throw ValidationError("--save-every must be at least 0, got \(saveEvery)") }
        guard !(overwrite && resume != nil) else { throw ValidationError("--overwrite and --resume exclude each other: --overwrite empties the folder a resumed run continues in") }
    }

    func trainingConfig() throws -> TrainingConfig {
        let rate = lr ?? ((optimizer == .adam || optimizer == .adamw) ? 1e-3 : 1e-2)
        let decay = weightDecay ?? (optimizer == .adamw ? 1e-2 : 0)
        let opt: OptimizerConfig
        switch optimizer {
        case .sgd: opt = .sgd(SGD(learningRate: rate, momentum: momentum, nesterov: nesterov, weightDecay: decay))
        case .adam: opt = .adam(Adam(learningRate: rate, weightDecay: decay))
        case .adamw: opt = .adamW(AdamW(learningRate: rate, weightDecay: decay))
        case .rmsprop: opt = .rmsprop(RMSprop(learningRate: rate, momentum: momentum, weightDecay: decay))
        }
        let total = scheduleUnit == .epoch ? epochs : (maxSteps ?? epochs * 1000)
        let sched: LearningRateSchedule
        switch schedule {
        case .constant: sched = .constant
        case .step: sched = .step(stepSize: stepSize, gamma: gamma)
        case .multistep: sched = .multiStep(milestones: try ints(milestones, option: "--milestones"), gamma: gamma)
        case .exponential: sched = .exponential(gamma: gamma)
        case .cosine: sched = .cosine(totalSteps: total, warmupSteps: warmup, minimum: minLR)
        case .onecycle: sched = .oneCycle(totalSteps: total, maxLearningRate: rate)
        }
        let batchSchedule: BatchSizeSchedule = batchMilestones.isEmpty
            ? .constant : .multiStep(milestones: try ints(batchMilestones, option: "--batch-size-milestones"), factor: batchFactor)
        let config = TrainingConfig(epochs: epochs, maxSteps: maxSteps, batchSize: batchSize, optimizer: opt, schedule: sched,
                                    scheduleUnit: scheduleUnit, batchSizeSchedule: batchSchedule, gradientClipNorm: clipNorm,
                                    labelSmoothing: labelSmoothing, earlyStoppingPatience: earlyStopping, trainMetrics: trainMetrics,
                                    stopAtTrainLoss: stopAtTrainLoss, seed: seed)
        do { try config.validate() } catch { throw ValidationError("\(error)") }
        return config
    }

    /// Creates `folder`, or checks that it may be written: empty, or emptied with --overwrite, or
    /// the folder of the run being resumed.
    private func prepareOutputFolder(_ folder: URL) throws {
        let fm = FileManager.default
        var isFolder: ObjCBool = false
        if fm.fileExists(atPath: folder.path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw ValidationError("--out \(folder.path) is a file, not a folder") }
            let contents = (try? fm.contentsOfDirectory(atPath: folder.path)) ?? []
            if !contents.isEmpty && resume == nil {
                guard overwrite else {
                    throw ValidationError("--out \(folder.path) already holds \(contents.count) file(s) (\(contents.sorted().prefix(3).joined(separator: ", "))…); help: choose a new folder, add --overwrite to empty it, or --resume a checkpoint")
                }
                for name in contents { try fm.removeItem(at: folder.appendingPathComponent(name)) }
            }
        }
        do { try fm.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw RuntimeError("cannot create the output folder \(folder.path): \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
    }

    private func ints(_ s: String, option: String) throws -> [Int] {
        let parts = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { throw ValidationError("\(option) takes comma-separated integers, got '\(s)'") }
        return parts.map { $0! }
    }

    func run() throws {
        BLAS.setThreadCount(threads)
        let (modelSpec, dataSpec) = try source.specs()
        let config = RunConfig(model: modelSpec, data: dataSpec, training: try trainingConfig(), frozen: freeze)
        let data = try source.loadData(dataSpec)
        var model = try config.makeModel(for: data)
        let trainer = Trainer(config: config.training, frozen: freeze)
        var state: TrainingState?
        if let path = resume {
            let checkpoint: (state: TrainingState, config: String)
            do { checkpoint = try Checkpoint.read(from: URL(fileURLWithPath: path)) } catch { throw RuntimeError("\(error)") }
            let saved = try RunConfig.decode(checkpoint.config, source: path)
            guard saved.model == config.model, saved.data == config.data, saved.frozen == config.frozen,
                  saved.training.seed == config.training.seed, saved.training.optimizer == config.training.optimizer else {
                throw RuntimeError("\(path) was trained with another config; resume needs the same model, data, optimizer, seed and freeze patterns.\nIts config: \(saved.json())")
            }
            do { try trainer.validate(model: model, data: data, resume: checkpoint.state) } catch { throw RuntimeError("\(path): \(error)") }
            try model.load(checkpoint.state.model)
            state = checkpoint.state
        } else {
            do { try trainer.validate(model: model, data: data, resume: nil) } catch { throw ValidationError("\(error)") }
        }
        let folder = URL(fileURLWithPath: out)
        try prepareOutputFolder(folder)
        try (config.json(pretty: true) + "\n").write(to: folder.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        let log = try EventLog(url: folder.appendingPathComponent("events.jsonl"))
        try log.write("start", ["model": modelSpec.name, "data": dataSpec.name, "parameters": model.parameterCount,
                                "train_samples": data.train.count, "resumed_epoch": state?.epoch ?? 0])
        let display = ProgressDisplay(style: progress, totalEpochs: config.training.epochs)
        let json = config.json()
        let started = Date()
        var failure: Error?
        let stop = StopRequest(what: "saving the last completed epoch") {}
        let result = try trainer.run(model: model, data: data, from: state, observe: { event in
            display.show(event)
            guard failure == nil else { return }
            do {
                switch event {
                case let .epoch(metrics, state):
                    try log.write("epoch", EventLog.fields(of: metrics))
                    if saveEvery > 0 && metrics.epoch % saveEvery == 0 {
                        try Checkpoint.write(state, config: json, to: folder.appendingPathComponent("epoch-\(metrics.epoch).safetensors"))
                    }
                case let .diverged(epoch, step, loss):
                    try log.write("diverged", ["epoch": epoch, "step": step, "loss": loss])
                case .step, .snapshot:
                    break
                }
            } catch { failure = error }
        }, stop: { stop.isRequested })
        if let failure { throw failure }
        if result.status == .interrupted {
            let saved = folder.appendingPathComponent("epoch-\(result.state.epoch).safetensors")
            if result.state.epoch > (state?.epoch ?? 0) { try Checkpoint.write(result.state, config: json, to: saved) }
            try log.write("end", ["status": result.status.rawValue, "epochs": result.state.epoch, "steps": result.state.step,
                                  "seconds": Date().timeIntervalSince(started)])
            print(result.state.epoch > (state?.epoch ?? 0)
                  ? "interrupted: epoch \(result.state.epoch) saved to \(saved.path); continue with --resume \(saved.path)"
                  : "interrupted before an epoch completed: nothing new to save")
            throw ExitCode(stop.exitCode)
        }
        try Checkpoint.write(result.state, config: json, to: folder.appendingPathComponent("final.safetensors"))
        let seconds = Date().timeIntervalSince(started)
        var end: [String: Any] = ["status": result.status.rawValue, "epochs": result.state.epoch, "steps": result.state.step, "seconds": seconds]
        if let test = data.test {
            let m = try Trainer.evaluate(result.model, on: test)
            end["test_loss"] = m.loss
            end["test_accuracy"] = m.accuracy
            print(String(format: "%@: test accuracy %.2f%% (loss %.4f) after %d epochs, %.1f s", result.status.rawValue, m.accuracy * 100, m.loss, result.state.epoch, seconds))
        }
        try log.write("end", end)
        if result.status == .diverged { throw ExitCode(3) }
    }
}
