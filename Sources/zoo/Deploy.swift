import ArgumentParser
import Foundation
import ZooLab
import ZooPostgres

/// `zoo deploy`: job scripts that start identical workers on a cluster.
struct Deploy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a cluster job that starts N identical `zoo worker` processes on a store's queue (Slurm or Kubernetes).",
        discussion: """
            Nothing is submitted: pipe the output to `sbatch`, or to `kubectl apply -f -`. The \
            workers are stateless and exit when the queue is empty; `zoo submit SPEC --store URL` \
            fills the queue first, `zoo status --store URL` watches it (docs/cluster.md). The store's \
            URL never appears in the job: Slurm workers read it from $ZOO_STORE, exported where \
            sbatch runs, Kubernetes ones from a Secret; passwords belong in the URL only there, or \
            in ~/.pgpass.
            """,
        subcommands: [Slurm.self, Kubernetes.self])

    /// What both kinds of job need.
    struct Common: ParsableArguments {
        @Argument(help: "The spec whose runs the workers train (names the job; submit it with `zoo submit`).") var spec: String
        @OptionGroup var storeOption: StoreOption
        @Option(help: "Worker processes to start.") var workers: Int
        @Option(help: "Threads of each worker (CPUs it asks for).") var threads: Int = 2
        @Option(help: "Memory of each worker.") var memory: String = "4G"
        @Option(name: .customLong("idle-exit"), help: "Seconds a worker waits with nothing to claim before it exits.") var idleExit: Int = 300
        @Option(name: .customLong("max-runs"), help: "Refuse specs that expand to more runs than this.") var maxRuns: Int = SpecLimits.maximumRuns

        func validate() throws {
            guard (1...10_000).contains(workers) else { throw ValidationError("--workers must be in 1...10000, got \(workers)") }
            guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256, got \(threads)") }
            guard idleExit >= 0 else { throw ValidationError("--idle-exit must be 0 or more seconds, got \(idleExit)") }
            guard memory.range(of: #"^[0-9]+[KMGT]?$"#, options: .regularExpression) != nil else {
                throw ValidationError("--memory must be a number with an optional K, M, G or T, got '\(memory)'")
            }
        }

        /// The spec's name (a job name: lowercase letters, digits and dashes) and its run count.
        func plan() throws -> (name: String, runs: Int) {
            let plan = try loadPlan(spec, data: DataCache(), maxRuns: maxRuns)
            let name = String(plan.spec.name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }.prefix(40))
            return (name.isEmpty ? "zoo" : name, plan.runs.count)
        }

        /// The store's location when it is a PostgreSQL URL, with a message when it is not.
        func location() throws -> PostgresLocation {
            guard storeOption.isPostgres else {
                throw ValidationError("\(storeOption.name) is an SQLite file: cluster workers need a PostgreSQL store (--store postgres://USER@HOST/DATABASE?checkpoints=/shared/folder)")
            }
            let location = try PostgresLocation(parsing: storeOption.location)
            guard location.checkpoints != nil else {
                throw ValidationError("\(location): name the checkpoint folder every worker sees, or keep checkpoints in the database: \(location)?checkpoints=/shared/folder or ?checkpoints=database")
            }
            return location
        }

        /// The worker's command: each thread claims at most an even share of the spec's runs
        /// (`--population`), so that workers starting together split the queue instead of the
        /// first taking up to 32 runs per thread.
        func workerArguments(runs: Int) -> String {
            let share = max(1, min(32, (runs + workers * threads - 1) / (workers * threads)))
            return "zoo worker --threads \(threads) --population \(share) --idle-exit \(idleExit)"
        }
    }

    struct Slurm: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print an sbatch job array of N workers.",
            discussion: """
                Each array task is one worker. Slurm sends SIGTERM a minute before the time \
                limit (--signal): the worker checkpoints and hands its runs back; a new job \
                array continues them. Export ZOO_STORE where you run sbatch (it passes the \
                environment on), or keep the password in ~/.pgpass on the shared home.

                Example: zoo deploy slurm spec.yaml --store postgres://zoo@db/zoo?checkpoints=/nfs/zoo --workers 64 | sbatch
                """)
        @OptionGroup var common: Common
        @Option(help: "Wall-time limit of each task (Slurm's --time).") var time: String = "24:00:00"
        @Option(help: "Slurm partition (none: the cluster's default).") var partition: String?

        func validate() throws {
            guard time.range(of: #"^([0-9]+-)?[0-9]{1,2}(:[0-9]{2}){0,2}$"#, options: .regularExpression) != nil else {
                throw ValidationError("--time must be Slurm's [D-]HH[:MM[:SS]], got '\(time)'")
            }
            if let partition, partition.range(of: #"^[A-Za-z0-9_.,-]+$"#, options: .regularExpression) == nil {
                throw ValidationError("--partition must be a partition name, got '\(partition)'")
            }
        }

        func run() throws {
            let location = try common.location()
            let (name, runs) = try common.plan()
            print(Self.script(name: name, runs: runs, location: location, common: common, time: time, partition: partition))
        }

        static func script(name: String, runs: Int, location: PostgresLocation, common: Common, time: String, partition: String?) -> String {
            """
            #!/bin/bash
            # \(common.workers) Zoo workers for '\(name)' (\(runs) runs), store \(location)
            # 1. export ZOO_STORE='\(location)?checkpoints=\(location.checkpoints ?? "")'
            #    (the password in ~/.pgpass, or in the URL: sbatch passes the environment on)
            # 2. zoo submit \(common.spec) --store "$ZOO_STORE"
            # 3. sbatch THIS-FILE; watch with: zoo status --store "$ZOO_STORE"
            #SBATCH --job-name=zoo-\(name)
            #SBATCH --array=0-\(common.workers - 1)
            #SBATCH --ntasks=1
            #SBATCH --cpus-per-task=\(common.threads)
            #SBATCH --mem=\(common.memory)
            #SBATCH --time=\(time)
            #SBATCH --signal=B:TERM@60
            #SBATCH --output=zoo-\(name)-%A_%a.log\(partition.map { "\n#SBATCH --partition=\($0)" } ?? "")
            set -euo pipefail
            : "${ZOO_STORE:?export ZOO_STORE=postgres://USER@HOST/DATABASE?checkpoints=/shared/folder before sbatch}"
            # The worker replaces the shell, so Slurm's SIGTERM reaches it: it checkpoints and hands its runs back.
            exec \(common.workerArguments(runs: runs)) --store "$ZOO_STORE"
            """
        }
    }

    struct Kubernetes: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "k8s",
            abstract: "Print a Kubernetes Indexed Job of N workers.",
            discussion: """
                The store's URL comes from a Secret (key `url`), never from the manifest: create \
                it once with `kubectl create secret generic SECRET --from-literal=url='postgres://…'`. \
                The checkpoint folder of the URL is mounted from a shared volume claim \
                (ReadWriteMany, e.g. NFS). Kubernetes sends SIGTERM on deletion or eviction and \
                waits the grace period: the worker checkpoints and hands its runs back.

                Example: zoo deploy k8s spec.yaml --store postgres://zoo@db/zoo?checkpoints=/zoo --workers 16 --image registry/zoo:0.5 | kubectl apply -f -
                """)
        @OptionGroup var common: Common
        @Option(help: "The container image holding `zoo`.") var image: String
        @Option(help: "The Secret holding the store's URL under the key `url`.") var secret: String = "zoo-store"
        @Option(name: .customLong("volume-claim"), help: "The PersistentVolumeClaim holding the checkpoint folder (none with checkpoints=database).") var volumeClaim: String = "zoo-checkpoints"

        func validate() throws {
            for (option, value) in [("--secret", secret), ("--volume-claim", volumeClaim)]
            where value.range(of: #"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"#, options: .regularExpression) == nil {
                throw ValidationError("\(option) must be a Kubernetes name (lowercase letters, digits, '-', '.'), got '\(value)'")
            }
            guard !image.isEmpty, !image.contains(where: { $0.isWhitespace || $0 == "\"" }) else {
                throw ValidationError("--image must be an image reference, got '\(image)'")
            }
        }

        func run() throws {
            let location = try common.location()
            let (name, runs) = try common.plan()
            print(Self.manifest(name: name, runs: runs, location: location, common: common, image: image, secret: secret, volumeClaim: volumeClaim))
        }

        static func manifest(name: String, runs: Int, location: PostgresLocation, common: Common, image: String, secret: String,
                             volumeClaim: String) -> String {
            let arguments = common.workerArguments(runs: runs).split(separator: " ").map { "\"\($0)\"" }.joined(separator: ", ")
            let memory = common.memory.hasSuffix("K") || common.memory.hasSuffix("M") || common.memory.hasSuffix("G") || common.memory.hasSuffix("T")
                ? common.memory + "i" : common.memory
            return """
            # \(common.workers) Zoo workers for '\(name)' (\(runs) runs), store \(location)
            # 1. The store's URL, with its password, lives in a Secret, never here:
            #    kubectl create secret generic \(secret) --from-literal=url='postgres://\(location.user):PASSWORD@\(location.host):\(location.port)/\(location.database)?checkpoints=\(location.checkpoints ?? "")'
            # 2. zoo submit \(common.spec) --store "$ZOO_STORE" (the same URL)
            # 3. kubectl apply -f THIS-FILE; watch with: zoo status --store "$ZOO_STORE"
            apiVersion: batch/v1
            kind: Job
            metadata:
              name: zoo-\(name)
              labels:
                app.kubernetes.io/name: zoo-worker
            spec:
              completionMode: Indexed
              completions: \(common.workers)
              parallelism: \(common.workers)
              backoffLimitPerIndex: 3
              maxFailedIndexes: \(common.workers)
              template:
                metadata:
                  labels:
                    app.kubernetes.io/name: zoo-worker
                spec:
                  restartPolicy: Never
                  terminationGracePeriodSeconds: 120
                  containers:
                    - name: worker
                      image: "\(image)"
                      command: [\(arguments)]
                      env:
                        - name: ZOO_STORE
                          valueFrom:
                            secretKeyRef:
                              name: \(secret)
                              key: url
                      resources:
                        requests:
                          cpu: "\(common.threads)"
                          memory: "\(memory)"
                        limits:
                          cpu: "\(common.threads)"
                          memory: "\(memory)"
            """ + (location.checkpoints == PostgresStore.inDatabase ? "" : """

                      volumeMounts:
                        - name: checkpoints
                          mountPath: "\(location.checkpoints ?? "/zoo/checkpoints")"
                  volumes:
                    - name: checkpoints
                      persistentVolumeClaim:
                        claimName: \(volumeClaim)
            """)
        }
    }
}
