import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL server for one test, in a temporary folder on a loopback port
/// (scripts/postgres-test-server.sh): for tests that stop and restart the server without
/// disturbing the shared one (`ZOO_TEST_POSTGRES`) the other tests use.
public final class PostgresTestServer: Sendable {
    /// The server's folder.
    public let folder: String
    /// `postgres://zoo@127.0.0.1:PORT`, without a database or password.
    public let url: String
    /// The password of the user `zoo`.
    public let password: String

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/postgres-test-server.sh").path

    /// Creates and starts the server.
    public init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-pg-\(UUID().uuidString.prefix(8))").path
        let exports = try Self.script(["start", folder])
        func value(_ key: String) throws -> String {
            guard let part = exports.split(whereSeparator: \.isWhitespace).first(where: { $0.hasPrefix(key + "=") }) else {
                throw PostgresTestServerError(description: "postgres-test-server.sh printed no \(key): \(exports)")
            }
            return String(part.dropFirst(key.count + 1))
        }
        url = try value("ZOO_TEST_POSTGRES")
        password = try value("PGPASSWORD")
    }

    /// `stop` (immediately, as a crash would) or `restart` (on the same port).
    public func run(_ command: String) throws { try Self.script([command, folder]) }

    /// Stops the server and removes its folder.
    public func remove() {
        try? run("stop")
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Runs the script with `posix_spawn` and `waitpid`: Foundation's `Process.waitUntilExit`
    /// was seen never to return once the script had left a server running in the background.
    @discardableResult
    static func script(_ arguments: [String]) throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-pg-script-\(UUID()).out").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ["/bin/bash", script] + arguments
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for a in cArguments { free(a) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, &cArguments, environ)
        guard spawned == 0 else { throw PostgresTestServerError(description: "cannot run \(script): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw PostgresTestServerError(description: "scripts/postgres-test-server.sh \(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return text
    }
}

public struct PostgresTestServerError: Error, CustomStringConvertible {
    public var description: String
}
