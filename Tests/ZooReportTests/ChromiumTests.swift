import CZlib
import Foundation
import Testing
import ZooReport

/// The report as a reader sees it: opened by Debian's `chromium` (scripts/install-deps.sh
/// installs it), headless, with a screenshot and the rendered DOM.
@Suite("Report in Chromium", .serialized)
struct ChromiumTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    /// Runs Chromium headless on `page` with `arguments`, its own profile folder, and a time limit.
    static func chromium(_ arguments: [String], page: URL, profile: URL) throws -> Run {
        let executable = try #require(chromium, "chromium is required: run scripts/install-deps.sh")
        let process = Process()
        // coreutils' timeout ends a Chromium that hangs.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["120", executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                             "--user-data-dir=\(profile.path)", "--enable-logging=stderr", "--v=0"] + arguments + [page.absoluteString]
        let out = Pipe()
        // Standard error to a file, so that neither stream fills while the other is read.
        let log = profile.appendingPathExtension("log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let err = try FileHandle(forWritingTo: log)
        defer { try? err.close() }
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errorData = (try? Data(contentsOf: log)) ?? Data()
        return Run(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: errorData, as: UTF8.self))
    }

    /// Console messages and script errors Chromium logged for the page.
    static func consoleErrors(_ log: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { $0.contains("CONSOLE") || $0.contains("Uncaught") || $0.contains("Content Security Policy") }
    }

    /// The console check sees what it must: a page whose script fails logs it.
    @Test func consoleErrorsAreSeen() throws {
        let folder = Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let page = folder.appendingPathComponent("bad.html")
        try Data("<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction()</script></body></html>".utf8).write(to: page)
        let run = try Self.chromium(["--dump-dom"], page: page, profile: folder.appendingPathComponent("profile"))
        #expect(Self.consoleErrors(run.stderr).contains { $0.contains("Uncaught ReferenceError") }, "\(run.stderr.suffix(2000))")
    }

    @Test(arguments: [false, true]) func reportOpensWithoutErrorsAndIsNotBlank(hostile: Bool) throws {
        let folder = Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try Fixtures.store(in: folder, hostile: hostile)
        let html = try HTMLReport.make(store: store, options: ReportOptions(storePath: "z.sqlite")).html()
        #expect(!html.lowercased().contains("<script"), "a page with no script cannot log a script error")
        let page = folder.appendingPathComponent("index.html")
        try Data(html.utf8).write(to: page)

        let dom = try Self.chromium(["--dump-dom"], page: page, profile: folder.appendingPathComponent("profile-dom"))
        #expect(dom.status == 0, "\(dom.stderr.suffix(2000))")
        #expect(Self.consoleErrors(dom.stderr).isEmpty, "\(Self.consoleErrors(dom.stderr))")
        // The DOM holds every chart, its axes and its marks, and no element from the store.
        let svgCount = html.components(separatedBy: "<svg ").count - 1
        #expect(svgCount > 10 && dom.stdout.components(separatedBy: "<svg ").count - 1 == svgCount)
        #expect(dom.stdout.components(separatedBy: "class=\"axis ").count - 1 >= svgCount)
        #expect(dom.stdout.contains("class=\"mark point\"") && dom.stdout.contains("class=\"mark line\""))
        #expect(!dom.stdout.lowercased().contains("<script") && !dom.stdout.lowercased().contains("<img"))

        let png = folder.appendingPathComponent("report.png")
        let shot = try Self.chromium(["--screenshot=\(png.path)", "--window-size=1280,2400", "--hide-scrollbars"], page: page,
                                     profile: folder.appendingPathComponent("profile-shot"))
        #expect(shot.status == 0, "\(shot.stderr.suffix(2000))")
        #expect(Self.consoleErrors(shot.stderr).isEmpty, "\(Self.consoleErrors(shot.stderr))")
        let image = try PNGImage(data: Data(contentsOf: png))
        #expect(image.width == 1280 && image.height == 2400)
        let colours = image.colourCounts()
        let background = colours.max { $0.value < $1.value }!
        #expect(colours.count > 50, "a rendered report has text, lines and a palette: \(colours.count) colours")
        #expect(Double(image.width * image.height - background.value) > 0.05 * Double(image.width * image.height), "mostly blank")
        // Okabe–Ito blue reached the screen (the first series' colour).
        #expect(colours.keys.contains(0x0072B2))
    }
}

/// Just enough of PNG (8-bit RGB or RGBA, not interlaced — what Chromium writes) to count colours.
struct PNGImage {
    var width = 0, height = 0
    /// 0xRRGGBB per pixel, row by row.
    var pixels: [UInt32] = []

    struct Unsupported: Error { var reason: String }

    init(data: Data) throws {
        let bytes = [UInt8](data)
        guard bytes.count > 8, bytes[0..<8] == [137, 80, 78, 71, 13, 10, 26, 10] else { throw Unsupported(reason: "not a PNG") }
        func u32(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
        var i = 8, compressed: [UInt8] = [], channels = 0
        while i + 8 <= bytes.count {
            let length = u32(i), type = String(decoding: bytes[i + 4..<i + 8], as: UTF8.self)
            guard i + 12 + length <= bytes.count else { throw Unsupported(reason: "truncated chunk \(type)") }
            let body = Array(bytes[i + 8..<i + 8 + length])
            if type == "IHDR" {
                width = u32(i + 8); height = u32(i + 12)
                guard body[8] == 8, body[12] == 0, [2, 6].contains(body[9]) else { throw Unsupported(reason: "depth \(body[8]) colour type \(body[9])") }
                channels = body[9] == 6 ? 4 : 3
            } else if type == "IDAT" {
                compressed += body
            }
            i += 12 + length
        }
        guard width > 0, height > 0, width * height < 50_000_000 else { throw Unsupported(reason: "size \(width)×\(height)") }
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: height * (stride + 1))
        var size = uLongf(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { r in compressed.withUnsafeBufferPointer { c in uncompress(r.baseAddress, &size, c.baseAddress, uLong(c.count)) } }
        guard status == Z_OK, Int(size) == raw.count else { throw Unsupported(reason: "zlib status \(status), \(size) bytes") }
        // Undo the per-row filters (PNG specification, section 9).
        var previous = [UInt8](repeating: 0, count: stride), row = [UInt8](repeating: 0, count: stride)
        pixels.reserveCapacity(width * height)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)], start = y * (stride + 1) + 1
            for x in 0..<stride {
                let a = x >= channels ? Int(row[x - channels]) : 0, b = Int(previous[x]), c = x >= channels ? Int(previous[x - channels]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = Swift.abs(p - a), pb = Swift.abs(p - b), pc = Swift.abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: throw Unsupported(reason: "filter \(filter)")
                }
                row[x] = UInt8(truncatingIfNeeded: Int(raw[start + x]) + predictor)
            }
            for x in 0..<width { pixels.append(UInt32(row[x * channels]) << 16 | UInt32(row[x * channels + 1]) << 8 | UInt32(row[x * channels + 2])) }
            swap(&previous, &row)
        }
    }

    func colourCounts() -> [UInt32: Int] {
        var counts: [UInt32: Int] = [:]
        for p in pixels { counts[p, default: 0] += 1 }
        return counts
    }
}
