import Foundation
import Testing
import ZooTestSupport

/// `zoo deploy`: the job scripts, checked against golden files (Fixtures/deploy/). Regenerate a
/// golden file after a deliberate change with `ZOO_UPDATE_GOLDEN=1 swift test --filter DeployCLITests`.
@Suite("zoo deploy")
struct DeployCLITests {
    static let fixtures = CLITests.root.appendingPathComponent("Tests/ZooCLITests/Fixtures/deploy")
    static let spec = CLITests.root.appendingPathComponent("examples/readme-zoo.yaml").path
    /// A URL with a password, which must appear nowhere in the output.
    static let store = "postgres://zoo:hunter2@db.example.org/zoo?checkpoints=/shared/zoo"

    static func golden(_ name: String, _ arguments: [String]) throws {
        let r = try CLITests.zoo(arguments)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains("hunter2") && !r.stderr.contains("hunter2"))
        let file = fixtures.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["ZOO_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: fixtures, withIntermediateDirectories: true)
            try r.stdout.write(to: file, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(r.stdout == expected, "zoo \(arguments.joined(separator: " ")) differs from \(file.path)")
    }

    @Test func slurmJobArray() throws {
        try Self.golden("slurm.sh", ["deploy", "slurm", "examples/readme-zoo.yaml", "--store", Self.store, "--workers", "8",
                                     "--threads", "2", "--time", "12:00:00", "--partition", "cpu"])
    }

    @Test func kubernetesIndexedJob() throws {
        try Self.golden("k8s.yaml", ["deploy", "k8s", "examples/readme-zoo.yaml", "--store", Self.store, "--workers", "16",
                                     "--image", "registry.example.org/zoo:0.5", "--memory", "6G"])
    }

    /// The Slurm script is valid bash; the manifest is YAML with the Secret reference and no URL.
    @Test func outputsParse() throws {
        let script = try CLITests.zoo(["deploy", "slurm", Self.spec, "--store", Self.store, "--workers", "2"])
        let file = CLITests.temporaryFolder().appendingPathComponent("job.sh")
        try script.stdout.write(to: file, atomically: true, encoding: .utf8)
        let bash = Process()
        bash.executableURL = URL(fileURLWithPath: "/bin/bash")
        bash.arguments = ["-n", file.path]
        try bash.run()
        bash.waitUntilExit()
        #expect(bash.terminationStatus == 0)
        let manifest = try CLITests.zoo(["deploy", "k8s", Self.spec, "--store", Self.store, "--workers", "3", "--image", "zoo:1"])
        let yamlFile = file.deletingLastPathComponent().appendingPathComponent("job.yaml")
        try manifest.stdout.write(to: yamlFile, atomically: true, encoding: .utf8)
        let parsed = try Python.run(["-c", "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", yamlFile.path])
        #expect(parsed.status == 0, "\(parsed.output)")
        #expect(parsed.output.contains("\"completionMode\": \"Indexed\"") && parsed.output.contains("\"secretKeyRef\""))
        #expect(!manifest.stdout.contains("hunter2"))
        #expect(parsed.output.contains("\"persistentVolumeClaim\"") && parsed.output.contains("\"mountPath\": \"/shared/zoo\""))
        // Checkpoints in the database: no volume at all, and the manifest still parses.
        let inDatabase = Self.store.replacingOccurrences(of: "checkpoints=/shared/zoo", with: "checkpoints=database")
        let volumeless = try CLITests.zoo(["deploy", "k8s", Self.spec, "--store", inDatabase, "--workers", "3", "--image", "zoo:1"])
        try volumeless.stdout.write(to: yamlFile, atomically: true, encoding: .utf8)
        let reparsed = try Python.run(["-c", "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", yamlFile.path])
        #expect(reparsed.status == 0 && reparsed.output.contains("\"secretKeyRef\""), "\(reparsed.output)")
        #expect(!volumeless.stdout.contains("volume") && volumeless.stdout.contains("checkpoints=database"), "\(volumeless.stdout)")
    }

    @Test func badDeploymentsSayWhy() throws {
        for (arguments, says) in [
            (["deploy", "slurm", Self.spec, "--store", "runs/zoo.sqlite", "--workers", "2"], "is an SQLite file"),
            (["deploy", "slurm", Self.spec, "--store", "postgres://zoo:hunter2@db/zoo", "--workers", "2"], "checkpoints="),
            (["deploy", "slurm", Self.spec, "--store", Self.store, "--workers", "0"], "--workers must be"),
            (["deploy", "slurm", Self.spec, "--store", Self.store, "--workers", "2", "--time", "soon"], "--time must be"),
            (["deploy", "k8s", Self.spec, "--store", Self.store, "--workers", "2", "--image", "zoo", "--secret", "Bad_Name"], "--secret must be"),
        ] {
            let r = try CLITests.zoo(arguments)
            #expect(r.status != 0)
            #expect(r.stderr.contains(says), "\(arguments): \(r.stderr)")
            #expect(!r.stderr.contains("hunter2"))
        }
    }
}
