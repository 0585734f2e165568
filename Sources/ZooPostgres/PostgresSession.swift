import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import ZooStore

/// One connection to the server, shared by the threads of a process and used one transaction at
/// a time, that reconnects when it is lost.
///
/// The store's protocol is synchronous (trainers call it between steps from their own threads),
/// so each query blocks on its future. A transaction that fails because the server went away
/// (connection refused or closed, the server shutting down or restarting) or because it lost a
/// serialization conflict is run again on a new connection, with backoff, for up to
/// `retryWindow` seconds, and a line says so; any other error rolls it back and is thrown.
/// Every statement a store sends is safe to repeat after it committed but its answer was lost.
final class PostgresSession: @unchecked Sendable {
    let location: PostgresLocation
    /// How long to keep trying while the server is unreachable.
    let retryWindow: TimeInterval
    /// Where retry notices go (standard error by default).
    let log: @Sendable (String) -> Void

    private let lock = NSLock()
    private var connection: PostgresConnection?
    private var nextID = 0
    private var createdDatabase = false
    private let logger: Logger = {
        var logger = Logger(label: "zoo.postgres")
        logger.logLevel = .critical
        return logger
    }()

    /// The event-loop threads that serve every store of the process, one per core: a worker's
    /// few connections wait on the network, but a process with many (the queue benchmark's
    /// claimers) would otherwise queue every reply behind one thread.
    private static let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)

    init(location: PostgresLocation, retryWindow: TimeInterval, log: @escaping @Sendable (String) -> Void) {
        self.location = location
        self.retryWindow = retryWindow
        self.log = log
    }

    deinit { try? connection?.close().wait() }

    /// Runs `body` in a transaction (BEGIN … COMMIT), again from the start after a lost
    /// connection or a serialization failure. `what` names the work in errors.
    @discardableResult
    func transaction<T>(_ what: String, _ body: (Transaction) throws -> T) throws -> T {
        try withRetries(what) { connection in
            let tx = Transaction(connection: connection, logger: logger)
            try tx.execute("BEGIN")
            do {
                let value = try body(tx)
                try tx.execute("COMMIT")
                return value
            } catch {
                if !connection.isClosed { _ = try? connection.query("ROLLBACK", logger: logger).wait() }
                throw error
            }
        }
    }

    /// Runs one statement outside a transaction (a read), with the same retries.
    func query(_ what: String, _ query: PostgresQuery) throws -> [PostgresRandomAccessRow] {
        try withRetries(what) { connection in try Transaction(connection: connection, logger: logger).rows(query) }
    }

    private func withRetries<T>(_ what: String, _ body: (PostgresConnection) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        let started = Date()
        var delay = 0.25, announced = false
        while true {
            do {
                let value = try body(try connected())
                if announced { log("\(location): reachable again; going on") }
                return value
            } catch {
                switch Self.kind(of: error) {
                case .conflict:
                    continue
                case .missingDatabase where !createdDatabase:
                    try createDatabase()
                    createdDatabase = true
                case .unreachable:
                    try? connection?.close().wait()
                    connection = nil
                    let waited = Date().timeIntervalSince(started)
                    guard waited + delay <= retryWindow else {
                        throw StoreError(description: "\(location): cannot \(what): the server is unreachable (\(Self.message(of: error)))"
                                                 + (waited > 0.5 ? " after \(Int(waited.rounded())) s of retries" : "")
                                                 + "; help: check that PostgreSQL runs and accepts connections from this host")
                    }
                    log("\(location): unreachable (\(Self.message(of: error))) while trying to \(what); retrying in \(String(format: "%.3g", delay)) s")
                    announced = true
                    Thread.sleep(forTimeInterval: delay)
                    delay = min(delay * 2, 8)
                case .other, .missingDatabase:
                    if let error = error as? StoreError { throw error }
                    throw StoreError(description: "\(location): cannot \(what): \(Self.message(of: error))")
                }
            }
        }
    }

    private func connected() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: try tls())
        if location.host.hasPrefix("/") {
            configuration = PostgresConnection.Configuration(
                unixSocketPath: location.host + "/.s.PGSQL.\(location.port)", username: location.user,
                password: location.password, database: location.database)
        }
        configuration.options.connectTimeout = .seconds(10)
        nextID += 1
        let opened = try PostgresConnection.connect(on: Self.group.next(), configuration: configuration, id: nextID, logger: logger).wait()
        connection = opened
        return opened
    }

    private func tls() throws -> PostgresConnection.Configuration.TLS {
        guard location.sslMode != .disable else { return .disable }
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch location.sslMode {
        case .disable, .prefer, .require: configuration.certificateVerification = .none
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .verifyFull: configuration.certificateVerification = .fullVerification
        }
        if let root = location.sslRootCertificate { configuration.trustRoots = .file(root) }
        let context: NIOSSLContext
        do { context = try NIOSSLContext(configuration: configuration) } catch {
            throw StoreError(description: "\(location): cannot set up TLS (sslmode \(location.sslMode.rawValue)): \(error)")
        }
        return location.sslMode == .prefer ? .prefer(context) : .require(context)
    }

    // MARK: - Errors

    /// Creates the store's database (it did not exist), connecting to the server's `postgres`
    /// database as the same user: the user needs the CREATEDB privilege, else the error says so.
    private func createDatabase() throws {
        var admin = location
        admin.database = "postgres"
        let session = PostgresSession(location: admin, retryWindow: 0, log: log)
        let quoted = "\"" + location.database.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        do {
            _ = try session.query("create the database", PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoted)"))
        } catch {
            // Another worker created it first: fine.
            if "\(error)".contains("SQLSTATE 42P04") { return }
            throw StoreError(description: "\(location): the database does not exist and cannot be created: \(error); help: create it (createdb \(location.database)) or grant CREATEDB")
        }
        log("\(location): created the database")
    }

    enum Kind { case unreachable, conflict, missingDatabase, other }

    /// Whether an error means the server went away (retry on a new connection), a transaction
    /// lost a conflict (retry at once), or anything else.
    static func kind(of error: any Error) -> Kind {
        guard let error = error as? PSQLError else {
            return error is IOError || error is NIOConnectionError || error is ChannelError ? .unreachable : .other
        }
        if let state = error.serverInfo?[.sqlState] {
            if state == "40001" || state == "40P01" { return .conflict }
            if state == "3D000" { return .missingDatabase }
            // Connection exceptions, the server shutting down or starting up, too many connections.
            if state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300" { return .unreachable }
            return .other
        }
        // A certificate that fails verification is no outage: retrying would not help.
        if error.underlying is NIOSSLError { return .other }
        switch error.code {
        case .sslUnsupported, .failedToAddSSLHandler: return .other
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown: return .unreachable
        default: return error.underlying.map(kind(of:)) ?? .other
        }
    }

    /// What went wrong, from the server's message when it sent one (PSQLError's own description
    /// hides everything).
    static func message(of error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo {
            var text = info[.message] ?? "server error"
            if let state = info[.sqlState] { text += " (SQLSTATE \(state))" }
            if let detail = info[.detail] { text += ": \(detail)" }
            return text
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }
}

/// The statements of one transaction, on the session's connection.
struct Transaction {
    let connection: PostgresConnection
    let logger: Logger

    /// Runs a statement; returns its rows.
    @discardableResult
    func rows(_ query: PostgresQuery) throws -> [PostgresRandomAccessRow] {
        try connection.query(query, logger: logger).wait().rows.map { $0.makeRandomAccess() }
    }

    /// Runs a statement; returns how many rows it changed.
    @discardableResult
    func execute(_ query: PostgresQuery) throws -> Int {
        try connection.query(query, logger: logger).wait().metadata.rows ?? 0
    }

    /// The database's clock, seconds since 1970: leases and timestamps use it, so workers whose
    /// clocks disagree still agree on when a lease ran out.
    func now() throws -> Double {
        guard let row = try rows("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8 AS now").first else {
            throw StoreError(description: "the server returned no time")
        }
        return try row["now"].decode(Double.self)
    }
}
