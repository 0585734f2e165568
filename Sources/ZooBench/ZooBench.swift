import ArgumentParser
import ZooNN
import ZooTensor

@main
struct ZooBench: ParsableCommand {
    /// OpenBLAS's settings come from the environment (see ``BLAS/restartWithEngineSettings()``).
    static func main() {
        BLAS.restartWithEngineSettings()
        main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "zoo-bench",
        abstract: "Release-build timings of Zoo: a table of catalog models, or one benchmark configuration.",
        discussion: """
            Without --config, forward and forward+backward timings of every catalog model (table mode). \
            With --config, one configuration shared with bench/torch_bench.py; with --json it prints one \
            line {"config": …, "samples_per_s": …, "seconds": …, "samples": …} for bench/compare.py. \
            With --measures, the seconds per checkpoint of every measure family over zoo-cnn checkpoints \
            (bench/README.md), one JSON line per measure and per family with --json.
            """
    )

    @Option(help: "Run one benchmark configuration instead of the table.")
    var config: BenchConfig?

    @Option(help: "Timed steps of a configuration.")
    var steps = 20

    @Option(help: "Untimed warm-up steps of a configuration, before the timed ones.")
    var warmup = 3

    @Option(help: "Compute threads (Zoo's own; OpenBLAS runs single-threaded inside them).")
    var threads = 2

    @Flag(help: "Print a configuration's result as one JSON line.")
    var json = false

    @Option(help: "Table mode: batch size.")
    var batch = 128

    @Option(help: "Table mode: timed repetitions per model (median and minimum are shown).")
    var repeats = 7

    @Option(help: "Table mode: comma-separated catalog models (default: all).")
    var models: String?

    @Flag(help: "Time every measure family over zoo-cnn checkpoints instead (options below).")
    var measures = false

    @OptionGroup(title: "Measure benchmark (--measures)")
    var measureOptions: MeasureBenchOptions

    func validate() throws {
        guard steps >= 1, warmup >= 0 else { throw ValidationError("--steps must be at least 1 and --warmup at least 0") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard batch >= 1, repeats >= 1 else { throw ValidationError("--batch and --repeats must be at least 1") }
    }

    func run() throws {
        BLAS.setThreadCount(threads)
        if measures {
            try MeasureBench(options: measureOptions, threads: threads, json: json).run()
            return
        }
        guard let config else {
            let names = models.map { $0.split(separator: ",").map(String.init) } ?? ModelCatalog.names
            try ModelTable(batch: batch, repeats: repeats, threads: threads, models: names).run()
            return
        }
        var line = try measure(config)
        if line.fields.contains(where: { $0.key == "samples_per_s" }) {
            line.append("steps", steps)
            line.append("warmup", warmup)
            line.append("threads", threads)
        }
        print(json ? line.json(config: config.rawValue) : line.text(config: config.rawValue))
    }

    private func measure(_ config: BenchConfig) throws -> ResultLine {
        switch config.workload {
        case .training(let spec, let batch):
            return try measureTraining(spec, batch: batch, steps: steps, warmup: warmup)
        case .inference(let spec, let batch):
            return try measureInference(spec, batch: batch, steps: steps, warmup: warmup)
        case .gemm(let size):
            return measureGEMM(size: size, steps: steps, warmup: warmup)
        case let .population(spec, members, batch):
            if warmup > 0 { _ = try populationThroughput(spec, members: members, batch: batch, steps: warmup) }
            let r = try populationThroughput(spec, members: members, batch: batch, steps: steps)
            var line = ResultLine(samples: members * batch * steps, seconds: r.seconds)
            line.append("members", members)
            line.append("batch", batch)
            return line
        }
    }
}
