import Foundation
import ZooStore

/// Where a PostgreSQL store lives, parsed from
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE&checkpoints=FOLDER|database]`.
///
/// The password comes from the URL, else `PGPASSWORD`, else the password file (`PGPASSFILE` or
/// `~/.pgpass`, libpq's format). It is never part of ``description``, which every message,
/// log line and status page uses instead of the URL.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    /// How the connection is encrypted, libpq's `sslmode` values.
    public enum SSLMode: String, Sendable, CaseIterable {
        /// Never TLS.
        case disable
        /// TLS when the server offers it, without checking its certificate (the default).
        case prefer
        /// TLS or no connection, without checking the certificate.
        case require
        /// TLS, the certificate signed by a trusted authority (`sslrootcert`).
        case verifyCA = "verify-ca"
        /// TLS, the certificate signed by a trusted authority and naming the host.
        case verifyFull = "verify-full"
    }

    public var user: String
    /// The password, from wherever it came; never printed.
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode
    /// A PEM file of trusted certificate authorities (`sslrootcert`), for verify-ca / verify-full.
    public var sslRootCertificate: String?
    /// The folder holding checkpoint files (shared by every worker: NFS on a cluster), or
    /// `database` to keep them in the database, when the URL says (`checkpoints=`); the store
    /// remembers the first it was given.
    public var checkpoints: String?

    /// Whether `string` names a PostgreSQL store rather than an SQLite file.
    public static func isURL(_ string: String) -> Bool {
        string.hasPrefix("postgres://") || string.hasPrefix("postgresql://")
    }

    /// Parses `url`, taking defaults and the password from `environment` and the password file.
    /// - Throws: ``StoreError`` naming the URL (without its password) and what is wrong.
    public init(parsing url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard Self.isURL(url), let parts = URLComponents(string: url) else {
            throw StoreError(description: "\(Self.redact(url)): not a PostgreSQL URL; help: postgres://USER@HOST[:PORT]/DATABASE[?sslmode=prefer&checkpoints=/shared/folder]")
        }
        var query: [String: String] = [:]
        for item in parts.queryItems ?? [] {
            guard let value = item.value else { throw StoreError(description: "\(Self.redact(url)): query parameter '\(item.name)' has no value") }
            query[item.name] = value
        }
        let known: Set = ["sslmode", "sslrootcert", "checkpoints", "host", "port", "user", "password", "dbname"]
        if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
            throw StoreError(description: "\(Self.redact(url)): unknown parameter '\(unknown)'; help: the parameters are \(known.sorted().joined(separator: ", "))")
        }
        user = query["user"] ?? parts.user?.removingPercentEncoding ?? environment["PGUSER"] ?? environment["USER"] ?? NSUserName()
        host = query["host"] ?? parts.host.flatMap { $0.isEmpty ? nil : $0 } ?? environment["PGHOST"] ?? "localhost"
        let portText = query["port"] ?? parts.port.map(String.init) ?? environment["PGPORT"] ?? "5432"
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw StoreError(description: "\(Self.redact(url)): port '\(portText)' is not a port number")
        }
        self.port = port
        let path = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        database = query["dbname"] ?? (path.isEmpty ? nil : path.removingPercentEncoding) ?? environment["PGDATABASE"] ?? user
        let modeText = query["sslmode"] ?? environment["PGSSLMODE"] ?? "prefer"
        guard let mode = SSLMode(rawValue: modeText == "allow" ? "prefer" : modeText) else {
            throw StoreError(description: "\(Self.redact(url)): sslmode '\(modeText)' is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        sslMode = mode
        sslRootCertificate = query["sslrootcert"] ?? environment["PGSSLROOTCERT"]
        checkpoints = query["checkpoints"]
        password = query["password"] ?? parts.password?.removingPercentEncoding ?? environment["PGPASSWORD"]
        if password == nil {
            let file = environment["PGPASSFILE"] ?? (environment["HOME"].map { $0 + "/.pgpass" })
            if let file { password = Self.passwordFromFile(file, host: host, port: port, database: database, user: user) }
        }
    }

    /// `postgres://USER@HOST:PORT/DATABASE`: the address without its password or parameters.
    public var description: String { "postgres://\(user)@\(host.hasPrefix("/") ? "[\(host)]" : host):\(port)/\(database)" }

    /// `url` with any password replaced by `***` (for messages about a URL that did not parse).
    public static func redact(_ url: String) -> String {
        var out = url
        if let scheme = out.range(of: "://"), let at = out[scheme.upperBound...].firstIndex(of: "@"),
           let colon = out[scheme.upperBound..<at].firstIndex(of: ":") {
            out.replaceSubrange(out.index(after: colon)..<at, with: "***")
        }
        if let range = out.range(of: "password=") {
            let end = out[range.upperBound...].firstIndex(of: "&") ?? out.endIndex
            out.replaceSubrange(range.upperBound..<end, with: "***")
        }
        return out
    }

    /// The password for this connection in a libpq password file (`host:port:database:user:password`
    /// lines, `*` matching anything, `\:` and `\\` escaped), nil when none matches. Like libpq, a
    /// file others may read is ignored.
    static func passwordFromFile(_ file: String, host: String, port: Int, database: String, user: String) -> String? {
        var status = stat()
        guard stat(file, &status) == 0, status.st_mode & 0o077 == 0, status.st_size < 1 << 20,
              let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        let wanted = [host, String(port), database, user]
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            var fields: [String] = [""], escaped = false
            for c in line {
                if escaped { fields[fields.count - 1].append(c); escaped = false } else if c == "\\" { escaped = true } else if c == ":" && fields.count < 5 {
                    fields.append("")
                } else { fields[fields.count - 1].append(c) }
            }
            guard fields.count == 5 else { continue }
            let hostMatches = fields[0] == "*" || fields[0] == host || (fields[0] == "localhost" && host.hasPrefix("/"))
            if hostMatches && zip(fields[1...3], wanted[1...3]).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }
}
