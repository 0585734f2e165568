import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How a long command (`sweep run`, `measure`) shows its progress.
enum ProgressMode: String, ExpressibleByArgument, CaseIterable {
    /// `live` on a terminal, `plain` otherwise.
    case auto
    /// Status lines redrawn in place at the bottom of the terminal, notable events above them.
    case live
    /// One log line per event: for pipes, files and CI.
    case plain
    /// Nothing but the final summary.
    case quiet

    /// `auto` made concrete for the stream the progress goes to; `--quiet` wins.
    func resolved(quiet: Bool, stream: Int32 = STDOUT_FILENO) -> ProgressMode {
        if quiet { return .quiet }
        guard self == .auto else { return self }
        return isatty(stream) != 0 ? .live : .plain
    }

    static let help = ArgumentHelp("How progress is shown: live (redrawn in place; the default on a terminal), plain (a line per event; the default otherwise), or quiet.",
                                   valueName: "auto|live|plain|quiet")
}

/// A block of status lines kept at the bottom of a terminal and redrawn in place (at most ten
/// times a second), with log lines printed above it. Lines are cut to the terminal's width so
/// that none wraps (a wrapped line would break the redraw). Safe to call from any thread.
final class LiveDisplay: @unchecked Sendable {
    private let lock = NSLock()
    private var drawn = 0
    private var status: [String] = []
    private var lastDraw = Date.distantPast

    /// Prints `line` above the status block.
    func log(_ line: String) {
        lock.withLock {
            write(erase() + fitted(line) + "\n" + render())
        }
    }

    /// Replaces the status block; redrawn now when `force`, else at most every 0.1 s.
    func update(_ lines: [String], force: Bool = false) {
        lock.withLock {
            status = lines
            let now = Date()
            guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
            lastDraw = now
            write(erase() + render())
        }
    }

    /// Removes the status block, leaving the terminal clean for the summary.
    func finish() {
        lock.withLock {
            write(erase())
            status = []
        }
    }

    /// Moves to the first status line and clears to the end of the screen.
    private func erase() -> String {
        defer { drawn = 0 }
        return drawn > 0 ? "\u{1B}[\(drawn)A\r\u{1B}[J" : ""
    }

    private func render() -> String {
        drawn = status.count
        return status.map { fitted($0) + "\n" }.joined()
    }

    private func fitted(_ line: String) -> String {
        let width = Self.columns()
        return line.count < width ? line : String(line.prefix(max(1, width - 2))) + "…"
    }

    private func write(_ text: String) {
        fflush(nil)  // what print() buffered goes first
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// The terminal's width in columns (100 when it cannot be read).
    static func columns() -> Int {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 10 else { return 100 }
        return Int(size.ws_col)
    }

    /// `width` cells of a bar `fraction` full.
    static func bar(_ fraction: Double, width: Int = 20) -> String {
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded(.down))
        return String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
    }

    /// A count with a k/M suffix (8.4k).
    static func compact(_ x: Double) -> String {
        switch abs(x) {
        case 1e6...: String(format: "%.1fM", x / 1e6)
        case 1e4...: String(format: "%.0fk", x / 1e3)
        case 1e3...: String(format: "%.1fk", x / 1e3)
        default: String(format: "%.0f", x)
        }
    }
}
