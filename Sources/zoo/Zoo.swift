import ArgumentParser
@preconcurrency import Foundation
@preconcurrency import Glibc
import ZooTensor
import ZooTrain

@main
struct Zoo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo",
        abstract: "Breed, keep and study populations of neural networks on the CPU.",
        discussion: """
            Train a catalog model or a whole zoo (sweep), compute measures of its checkpoints \
            (measure), summarize it per group of runs (summary), score the measures and predict \
            accuracy from weights (analyze), compare individual predictions across seeds \
            (variability), draw a store as one HTML page (report) or serve it live (serve), show \
            its queue (status), and list what is available. On a cluster: a PostgreSQL store \
            (--store postgres://…), runs queued with submit, trained by stateless worker processes \
            that deploy starts under Slurm or Kubernetes, copied between stores with store copy \
            (docs/cluster.md).
            Checkpoints are safetensors files that Python opens with safetensors.numpy.load_file.

            Exit codes:
              0    success
              1    runtime error: a file, store or checkpoint that cannot be used (the message
                   names it), a failed write
              2    usage error: an option or argument that is not valid
              3    some runs diverged or failed, or some measures could not be computed
                   (the others are saved)
              130  interrupted by SIGINT, 143 by SIGTERM: the last completed epoch is saved

            Environment:
              ZOO_DATA              a folder with Fashion-MNIST's IDX files (searched after
                                    --data-dir, before Debian's dataset-fashion-mnist)
              ZOO_KERNELS           auto (the default): Zoo's kernels for the widest
                                    instruction set the processor has (avx512, avx2);
                                    avx2 or baseline (OpenBLAS and portable loops) narrow it
              OPENBLAS_NUM_THREADS  set to 1 by zoo itself when unset (zoo owns its threads)
              ZOO_STORE             the store when --store is not given (a path or a
                                    postgres:// URL; default runs/zoo.sqlite)
              PGPASSWORD, PGPASSFILE, PGUSER, PGHOST, PGPORT, PGDATABASE, PGSSLMODE
                                    what libpq reads, for a PostgreSQL store's URL
            """,
        subcommands: [Train.self, Eval.self, Sweep.self, MeasureCommand.self, SummaryCommand.self, Analyze.self, VariabilityCommand.self,
                      ReportCommand.self, ServeCommand.self, Submit.self, WorkerCommand.self, Deploy.self, StatusCommand.self, StoreCommand.self, List.self, Show.self, Export.self, Models.self, Datasets.self]
    )

    /// Progress lines reach a pipe or a log file as they are printed, not when the buffer fills.
    /// Usage errors exit 2 (ArgumentParser's default is 64), runtime errors 1.
    static func main() {
        BLAS.restartWithEngineSettings()
        setvbuf(stdout, nil, _IOLBF, 0)
        do {
            var command = try parseAsRoot(nil)
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write((fullMessage(for: error) + "\n").data(using: .utf8)!)
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// An error in what a file, store or checkpoint holds, or in running a command: exit code 1,
/// no usage text (file-content errors are not usage errors).
struct RuntimeError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `key=value` pairs from repeated options, with an error naming the option.
func parsePairs(_ pairs: [String], option: String) throws -> [String: String] {
    var out: [String: String] = [:]
    for p in pairs {
        guard let eq = p.firstIndex(of: "="), eq != p.startIndex else {
            throw ValidationError("\(option) takes key=value, got '\(p)'")
        }
        let key = String(p[..<eq]), value = String(p[p.index(after: eq)...])
        guard out[key] == nil else { throw ValidationError("\(option): '\(key)' is given twice") }
        out[key] = value
    }
    return out
}

extension TrainingConfig.ScheduleUnit: ExpressibleByArgument {}
extension TrainingConfig.TrainMetrics: ExpressibleByArgument {}
