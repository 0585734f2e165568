import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import ZooStore
import ZooTestSupport

/// `zoo serve` as a user meets it: started on a free loopback port while a sweep trains in
/// another process, fetched over HTTP and opened in headless Chromium; strings from a hostile
/// spec (labels, the sweep's name) arrive escaped; nothing but its pages is served.
@Suite("zoo serve", .serialized)
struct DashboardCLITests {
    struct Page { var status: Int; var headers: [String: String]; var body: String }

    /// One request, synchronously.
    static func fetch(_ url: URL, method: String = "GET") throws -> Page {
        var request = URLRequest(url: url, timeoutInterval: 60)
        request.httpMethod = method
        let done = DispatchSemaphore(value: 0)
        let result = LockedResult()
        URLSession.shared.dataTask(with: request) { data, response, error in
            result.set(data: data, response: response as? HTTPURLResponse, error: error)
            done.signal()
        }.resume()
        done.wait()
        if let error = result.error { throw error }
        let response = try #require(result.response)
        let headers = Dictionary(response.allHeaderFields.map { ("\($0.key)".lowercased(), "\($0.value)") }) { a, _ in a }
        return Page(status: response.statusCode, headers: headers, body: String(decoding: result.data ?? Data(), as: UTF8.self))
    }

    final class LockedResult: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var data: Data?
        private(set) var response: HTTPURLResponse?
        private(set) var error: Error?
        func set(data: Data?, response: HTTPURLResponse?, error: Error?) {
            lock.withLock { self.data = data; self.response = response; self.error = error }
        }
    }

    /// Starts `zoo serve` on a free port and returns it with its URL, once it listens.
    static func serve(_ store: String) throws -> (process: Process, url: URL) {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = ["serve", "--store", store, "--port", "0", "--refresh", "2"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !text.contains("(Ctrl-C stops)") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let address = try #require(text.range(of: #"http://127\.0\.0\.1:[0-9]+/"#, options: .regularExpression), "serve printed: \(text)")
        return (p, URL(string: String(text[address]))!)
    }

    static let hostileSpec = """
        name: "<img src=x onerror=alert(1)> '\\"../"
        base:
          model: mlp
          model.hidden: "32"
          data: teacher-student
          data.train: 20000
          data.test: 500
          data.input-size: 16
          optimizer: sgd
          momentum: 0.9
          batch_size: 50
          epochs: 8
        zip:
          - label: ["<script>alert(1)</script>", "a \\"quoted\\" ../../etc/passwd"]
            lr: [0.05, 0.1]
        grid:
          seed: [0, 1]
        """

    @Test func liveWhileASweepRunsInertForHostileStrings() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try SweepCLITests.write(Self.hostileSpec, in: dir)
        let store = dir.appendingPathComponent("z.sqlite").path
        let sweep = try SweepCLITests.launch(["sweep", "run", spec, "--store", store, "--workers", "2", "--population", "1"])
        defer { if sweep.isRunning { kill(sweep.processIdentifier, SIGKILL) } }
        // Wait for the first epoch, so that the dashboard opens on a sweep in flight.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let s = try? SQLiteStore(path: URL(fileURLWithPath: store), readOnly: true), let n = try? s.metrics().count, n >= 1 { break }
            usleep(50_000)
        }
        let (server, url) = try Self.serve(store)
        defer { server.interrupt(); server.waitUntilExit() }

        let live = try Self.fetch(url)
        #expect(live.status == 200)
        #expect(live.headers["content-security-policy"]?.contains("default-src 'none'") == true)
        #expect(live.headers["content-type"] == "text/html; charset=utf-8")
        #expect(sweep.isRunning, "the sweep should still be training: make it longer")
        #expect(live.body.contains("http-equiv=\"refresh\" content=\"2\""), "a page in flight reloads")
        #expect(live.body.contains("held"), "a worker row: \(live.body.prefix(3000))")
        #expect(live.body.contains("<h2>Queue</h2>") && live.body.contains("<h2>Learning curves</h2>") && live.body.contains("<svg "))
        // The spec's strings are text, never markup.
        #expect(live.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the label is shown, escaped")
        #expect(!live.body.lowercased().contains("<script") && !live.body.lowercased().contains("<img"))
        // The same queue on a terminal, from another process.
        let status = try CLITests.zoo(["status", "--store", store])
        #expect(status.status == 0 && status.stdout.contains("member-epochs left") && status.stdout.contains("worker (host:pid:thread)"), "\(status.stdout)")
        let queue = try Self.fetch(url.appendingPathComponent("queue"))
        #expect(queue.status == 200 && queue.body.contains("member-epochs left"))
        for path in ["nope", "queue/x", "index.html", "%2e%2e/%2e%2e/etc/passwd"] {
            let page = try Self.fetch(URL(string: path, relativeTo: url)!)
            #expect(page.status == 404, "\(path): \(page.status)")
        }
        #expect(try Self.fetch(url, method: "POST").status != 200)

        // Chromium, while the sweep runs: the page renders its charts with no console error.
        let profile = dir.appendingPathComponent("profile")
        let dom = try Chromium.run(["--dump-dom"], page: url, profile: profile)
        #expect(dom.status == 0 && Chromium.consoleErrors(dom.stderr).isEmpty, "\(Chromium.consoleErrors(dom.stderr))")
        #expect(dom.stdout.contains("class=\"axis ") && dom.stdout.contains("class=\"mark "), "axes and data marks in the DOM")
        #expect(!dom.stdout.lowercased().contains("<script") && !dom.stdout.lowercased().contains("<img"))
        let png = dir.appendingPathComponent("dashboard.png")
        let shot = try Chromium.run(["--screenshot=\(png.path)", "--window-size=1280,1600", "--hide-scrollbars"], page: url,
                                    profile: dir.appendingPathComponent("profile-shot"))
        #expect(shot.status == 0)
        let image = try PNGImage(data: Data(contentsOf: png))
        #expect(image.colourCounts().count > 50, "not blank")

        // Once the sweep is done, the page stops reloading and shows every run done.
        sweep.waitUntilExit()
        #expect(sweep.terminationStatus == 0)
        let after = try Self.fetch(url)
        #expect(!after.body.contains("http-equiv=\"refresh\""))
        #expect(after.body.contains("<h2>Summary per group</h2>"))
        let idle = try CLITests.zoo(["status", "--store", store])
        #expect(idle.stdout.contains("No worker holds a run now.") && !idle.stdout.contains("worker (host"), "\(idle.stdout)")
    }

    @Test func refusesWhatItCannotServe() throws {
        let missing = try CLITests.zoo(["serve", "--store", "/nonexistent/z.sqlite", "--port", "0"])
        #expect(missing.status == 1 && missing.stderr.contains("no store here"), "\(missing.stderr)")
        let port = try CLITests.zoo(["serve", "--port", "70000"])
        #expect(port.status == 2 && port.stderr.contains("--port"))
    }
}
