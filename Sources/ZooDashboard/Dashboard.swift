import Foundation
import Hummingbird
import NIOCore

/// A page of the dashboard: its path and how it is rendered, afresh on every request (so a
/// page follows a sweep that another process is running).
public struct DashboardPage: Sendable {
    /// The route, e.g. `/` or `/queue`.
    public var path: String
    /// The whole HTML document; every string from the store must be escaped by the renderer.
    public var render: @Sendable () throws -> String

    public init(path: String, render: @escaping @Sendable () throws -> String) {
        self.path = path
        self.render = render
    }
}

/// The local, read-only dashboard: serves its pages over HTTP/1.1 and nothing else (any other
/// path, or a method other than GET and HEAD, is a 404). Every response forbids scripts,
/// framing and content sniffing (`Content-Security-Policy: default-src 'none'` with inline
/// styles and data images only), so even a string that escaped its escaping could not run.
public struct Dashboard: Sendable {
    public var host: String
    /// The port; 0 picks a free one (``run(ready:)`` tells which).
    public var port: Int
    public var pages: [DashboardPage]

    public init(host: String = "127.0.0.1", port: Int = 8421, pages: [DashboardPage]) {
        self.host = host
        self.port = port
        self.pages = pages
    }

    /// The headers of every page.
    static let headers: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; frame-ancestors 'none'",
        HTTPFields.Element.Name("X-Content-Type-Options")!: "nosniff",
        .cacheControl: "no-store",
    ]

    /// Serves until the process gets SIGINT or SIGTERM. `ready` gets the bound port once the
    /// server listens.
    public func run(ready: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let router = Router()
        for page in pages {
            router.get(RouterPath(page.path)) { _, _ -> Response in
                do {
                    let html = try page.render()
                    return Response(status: .ok, headers: Self.headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
                } catch {
                    // The error names a store or file: shown as text, escaped by being plain text.
                    return Response(status: .internalServerError, headers: [.contentType: "text/plain; charset=utf-8"],
                                    body: ResponseBody(byteBuffer: ByteBuffer(string: "\(error)\n")))
                }
            }
        }
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "zoo"),
                              onServerRunning: { channel in ready(channel.localAddress?.port ?? 0) })
        try await app.runService()
    }
}
