import Foundation

/// The Python checks of `scripts/python/` (numpy, scipy, scikit-learn, safetensors: installed by
/// scripts/install-deps.sh), run as the tests compare Zoo with the reference libraries.
public enum Python {
    /// The repository's root folder.
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `python3 ARGUMENTS` and returns its exit status and its standard output and error together.
    public static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs `scripts/python/SCRIPT ARGUMENTS`.
    public static func check(_ script: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try run([repository.appendingPathComponent("scripts/python/\(script)").path] + arguments)
    }
}
