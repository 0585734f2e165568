import ArgumentParser
import Foundation
import ZooData
import ZooNN
import ZooTensor
import ZooTrain

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the loss and accuracy of a checkpoint on a data set.",
        discussion: """
            The model is rebuilt from the config stored in the checkpoint. The data set defaults to the
            run's own (with its options); --data evaluates on another one of the same input shape.
            """)

    @Argument(help: "A checkpoint written by `zoo train` (.safetensors).")
    var checkpoint: String

    @Option(help: "Data set (default: the run's).") var data: String?
    @Option(name: .customLong("data-option"), help: ArgumentHelp("A data option, key=value (repeatable).", valueName: "key=value"))
    var dataOptions: [String] = []
    @Option(name: .customLong("data-dir"), help: "Folder holding Fashion-MNIST.") var dataDirectory: String?
    @Option(help: "Which split to evaluate.") var split: Split = .test
    @Option(help: "Compute threads (convolutions, matrix products and updates are split over them).") var threads: Int = 2

    enum Split: String, ExpressibleByArgument, CaseIterable { case train, validation, test }

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256, got \(threads)") }
    }

    func run() throws {
        BLAS.setThreadCount(threads)
        let saved: (state: TrainingState, config: String)
        do { saved = try Checkpoint.read(from: URL(fileURLWithPath: checkpoint)) } catch { throw RuntimeError("\(error)") }
        var config = try RunConfig.decode(saved.config, source: checkpoint)
        let options = try parsePairs(dataOptions, option: "--data-option")
        if let d = data {
            config.data = DataSpec(name: d, options: options)
        } else {
            // Options given without --data change the run's own data set (e.g. subset=1000).
            config.data.options.merge(options) { _, new in new }
        }
        let prepared = try DatasetCatalog.load(config.data, dataDirectory: dataDirectory.map { URL(fileURLWithPath: $0) })
        var model = try config.makeModel(for: prepared)
        do { try model.load(saved.state.model) } catch { throw RuntimeError("\(checkpoint): \(error) (data \(config.data.name) has inputs \(prepared.inputShape))") }
        let chosen: LabeledData?
        switch split {
        case .train: chosen = prepared.train
        case .validation: chosen = prepared.validation
        case .test: chosen = prepared.test
        }
        guard let set = chosen else { throw ValidationError("the data has no \(split.rawValue) split (set --data-option validation=N)") }
        let m = try Trainer.evaluate(model, on: set)
        print(String(format: "%@ %@: loss %.4f, accuracy %.2f%% (%d samples, epoch %d)", config.data.name, split.rawValue, m.loss, m.accuracy * 100, set.count, saved.state.epoch))
    }
}
