import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Prints the path of the input being parsed when the process dies of a signal (a Swift trap is
/// SIGILL or SIGTRAP, a failed allocation SIGABRT, a stack overflow SIGSEGV), then hands the
/// signal to the handler installed before (Swift's backtracer), or to the default action.
enum CrashReport {
    static let signals = [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE]
    /// The message written by the handler: prepared before each parse, since a signal handler
    /// may only call async-signal-safe functions such as write(2).
    nonisolated(unsafe) static var message: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) static var messageLength = 0
    nonisolated(unsafe) static var messagePath = ""
    /// The handlers found at installation, by signal number.
    nonisolated(unsafe) static var previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 64)
    nonisolated(unsafe) static var installed = false

    /// Reports `path` should the process die from now on.
    static func arm(_ path: String) {
        if !installed { install() }
        guard path != messagePath else { return }
        let text = "\nzoo-fuzz: crashed while parsing \(path) (the input is left there; rerun it with the parser to debug)\n"
        let old = message
        message = strdup(text)
        messageLength = text.utf8.count
        messagePath = path
        free(old)
    }

    static func disarm() {
        let old = message
        message = nil
        messagePath = ""
        free(old)
    }

    private static func install() {
        installed = true
        // An alternate stack, so that the handler runs after a stack overflow too.
        var stack = stack_t()
        stack.ss_size = 1 << 16
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: stack.ss_size, alignment: 16)
        sigaltstack(&stack, nil)
        let handler: @convention(c) (Int32) -> Void = { signal in
            if let m = CrashReport.message { _ = write(2, m, CrashReport.messageLength) }
            // Put back the previous handler; returning re-raises the fault (or abort raises again).
            _ = sigaction(signal, CrashReport.previous + Int(signal), nil)
        }
        for s in signals {
            var action = sigaction()
            #if os(Linux)
            action.__sigaction_handler.sa_handler = handler
            action.sa_flags = Int32(SA_ONSTACK)
            #else
            action.__sigaction_u.__sa_handler = handler
            action.sa_flags = SA_ONSTACK
            #endif
            sigaction(s, &action, previous + Int(s))
        }
    }
}

/// Ends the process (status 3) when one parse takes longer than a limit: an input that makes a
/// parser loop or work exponentially is a failure too.
enum Watchdog {
    /// When the parse in flight started (uptime in nanoseconds), 0 between parses.
    static let started = Atomic<UInt64>(0)
    static let path = Mutex("")

    static func start(limit seconds: Double) {
        Thread.detachNewThread {
            while true {
                Thread.sleep(forTimeInterval: 0.25)
                let s = started.load(ordering: .acquiring)
                if s != 0 && Double(DispatchTime.now().uptimeNanoseconds - s) > seconds * 1e9 {
                    FileHandle.standardError.write(Data("\nzoo-fuzz: hang: one parse took more than \(seconds) s; the input is left at \(path.withLock { $0 })\n".utf8))
                    _exit(3)
                }
            }
        }
    }

    static func begin(_ input: String) {
        path.withLock { $0 = input }
        started.store(DispatchTime.now().uptimeNanoseconds, ordering: .releasing)
    }

    static func end() { started.store(0, ordering: .releasing) }
}
