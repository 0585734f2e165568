import CZlib
import Foundation

/// Debian's `chromium`, headless, as the report and dashboard tests open pages with it
/// (scripts/install-deps.sh installs it).
public enum Chromium {
    /// Thrown when no Chromium is installed.
    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "chromium is required: run scripts/install-deps.sh" }
    }

    public static let executable = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    public struct Run: Sendable { public var status: Int32; public var stdout: String; public var stderr: String }

    /// Runs Chromium headless on `page` with `arguments`, its own profile folder, and a time limit.
    public static func run(_ arguments: [String], page: URL, profile: URL) throws -> Run {
        guard let executable else { throw Missing() }
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
    public static func consoleErrors(_ log: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { $0.contains("CONSOLE") || $0.contains("Uncaught") || $0.contains("Content Security Policy") }
    }
}

/// Just enough of PNG (8-bit RGB or RGBA, not interlaced — what Chromium writes) to count colours.
public struct PNGImage: Sendable {
    public private(set) var width = 0, height = 0
    /// 0xRRGGBB per pixel, row by row.
    public private(set) var pixels: [UInt32] = []

    public struct Unsupported: Error { var reason: String }

    public init(data: Data) throws {
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

    public func colourCounts() -> [UInt32: Int] {
        var counts: [UInt32: Int] = [:]
        for p in pixels { counts[p, default: 0] += 1 }
        return counts
    }
}
