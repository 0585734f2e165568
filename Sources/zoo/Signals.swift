import Dispatch
@preconcurrency import Foundation
import Synchronization

/// SIGINT and SIGTERM ask a long command to stop cleanly: the first calls `stop` (on a dispatch
/// queue) and says so on standard error; a second one, of either kind, ends the process at once
/// (the store stays consistent: SQLite's journal and atomic checkpoint renames see to that).
/// The command then exits with 128 + the first signal's number (130, 143).
final class StopRequest {
    /// The first signal's number, 0 before any.
    private final class First: Sendable { let number = Atomic<Int32>(0) }
    private let received = First()
    private let sources: [any DispatchSourceSignal]

    /// - Parameters:
    ///   - what: what stopping does, for the message ("checkpointing …").
    ///   - stop: called once, on the first signal.
    init(what: String, _ stop: @escaping @Sendable () -> Void) {
        let received = self.received
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                guard received.number.compareExchange(expected: 0, desired: number, ordering: .relaxed).exchanged else {
                    signal(number, SIG_DFL)
                    raise(number)
                    return
                }
                let name = number == SIGINT ? "SIGINT" : "SIGTERM"
                FileHandle.standardError.write("\n\(name): stopping, \(what) (a second signal ends the process at once)\n".data(using: .utf8)!)
                stop()
            }
            source.resume()
            return source
        }
    }

    deinit { for s in sources { s.cancel() } }

    /// Whether a stop was asked for.
    var isRequested: Bool { received.number.load(ordering: .relaxed) != 0 }

    /// 128 + the signal's number; 1 when none came.
    var exitCode: Int32 { isRequested ? 128 + received.number.load(ordering: .relaxed) : 1 }
}
