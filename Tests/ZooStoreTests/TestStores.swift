import Foundation
import Testing
import ZooPostgres
import ZooStore

/// The stores every contract test of ``RunStore`` runs on: SQLite always, PostgreSQL when
/// `ZOO_TEST_POSTGRES` names a server (`scripts/test.sh` starts a private one and sets it, with
/// the password in `PGPASSWORD`). Each test gets a new, empty store: a file in a temporary folder,
/// or a database of its own that the store creates.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    /// PostgreSQL keeping checkpoints inside the database (`checkpoints=database`).
    case postgresCheckpointsInDatabase = "postgres-checkpoints-in-database"

    var testDescription: String { rawValue }

    /// The test server's URL (no database, no password), nil when none is running.
    static let postgresServer = ProcessInfo.processInfo.environment["ZOO_TEST_POSTGRES"]

    /// The back ends to test here: both when the test server runs.
    static let all: [Backend] = postgresServer == nil ? [.sqlite] : [.sqlite, .postgres]

    /// Every way a store keeps checkpoints: ``all`` and, with the test server, in the database.
    static let checkpointKeepers: [Backend] = postgresServer == nil ? all : all + [.postgresCheckpointsInDatabase]

    /// A new, empty store.
    func store() throws -> any RunStore {
        let name = "zoo-store-" + UUID().uuidString.prefix(8).lowercased()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        switch self {
        case .sqlite:
            return try SQLiteStore(path: folder.appendingPathComponent("zoo.sqlite"))
        case .postgres:
            let server = try #require(Self.postgresServer)
            let database = name.replacingOccurrences(of: "-", with: "_")
            return try PostgresStore(location: PostgresLocation(parsing: "\(server)/\(database)?checkpoints=\(folder.path)"), retryWindow: 5)
        case .postgresCheckpointsInDatabase:
            let server = try #require(Self.postgresServer)
            let database = name.replacingOccurrences(of: "-", with: "_")
            return try PostgresStore(location: PostgresLocation(parsing: "\(server)/\(database)?checkpoints=database"), retryWindow: 5)
        }
    }

    /// The same store opened anew, as another process would.
    func reopen(_ store: any RunStore) throws -> any RunStore {
        switch store {
        case let s as SQLiteStore: try SQLiteStore(path: s.path)
        case let s as PostgresStore: try PostgresStore(location: s.location, retryWindow: 5)
        default: throw StoreError(description: "unknown store \(type(of: store))")
        }
    }
}
