import CZooBLAS
import Foundation
import Synchronization

/// The engine's helper threads for ``BLAS/parallelFor(_:work:_:)``: one per extra core, each
/// spinning briefly after a job before it parks, so the many short parallel steps of a small
/// network do not each pay a thread wake-up (GCD's were ~15% of a batch-32 zoo-cnn step).
///
/// One job at a time: a caller that finds the pool busy (another thread's job, or a job inside
/// a job) runs its items itself. Items are taken from a shared counter, so which thread runs an
/// item varies; every kernel writes per-item or per-thread-index memory only, so results do not
/// depend on it. When the caller has run out of items it closes the job: it waits for the
/// helpers inside it, but not for a parked helper still waking up (that one finds the job closed
/// and leaves it alone) — a wake-up can take longer than a whole small job.
final class ThreadPool: @unchecked Sendable {
    static let shared = ThreadPool(helpers: max(1, ProcessInfo.processInfo.activeProcessorCount - 1))

    /// How long a helper spins for the next job before it parks.
    private static let spin: UInt64 = 200_000  // nanoseconds

    typealias Body = (Int, Int) -> Void
    private struct Job {
        var body: Body
        var count: Int
        var helpers: Int
    }

    private let helpers: Int
    private let busy = Atomic<Bool>(false)
    private let generation = Atomic<Int>(0)
    private let next = Atomic<Int>(0)
    /// Helpers inside the current job, plus ``closed`` once the caller has closed it.
    private let state = Atomic<Int>(ThreadPool.closed)
    private static let closed = 1 << 32
    private let parked = Mutex<Int>(0)
    private let wake = NSCondition()
    /// Written by the caller before `generation` is bumped (release), read by helpers after they
    /// see the new generation (acquire).
    private nonisolated(unsafe) var job: Job?

    private init(helpers: Int) {
        self.helpers = helpers
        for h in 1...helpers {
            let thread = Thread { [unowned self] in self.serve(index: h) }
            thread.stackSize = 16 << 20
            thread.name = "zoo-compute-\(h)"
            thread.start()
        }
    }

    /// Runs `body(item, thread)` for every item with up to `threads` threads (the caller is
    /// thread 0). Returns false, having done nothing, when the pool is busy.
    func run(_ count: Int, threads: Int, _ body: Body) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        let wanted = min(helpers, threads - 1)
        withoutActuallyEscaping(body) { body in
            job = Job(body: body, count: count, helpers: wanted)
            next.store(0, ordering: .relaxed)
            state.store(0, ordering: .releasing)
            generation.add(1, ordering: .releasing)
            if parked.withLock({ $0 }) > 0 {
                wake.lock()
                wake.broadcast()
                wake.unlock()
            }
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                if i >= count { break }
                body(i, 0)
            }
            // Close the job, then wait for the helpers inside it to finish their items.
            state.bitwiseOr(Self.closed, ordering: .acquiringAndReleasing)
            while state.load(ordering: .acquiring) != Self.closed { sched_yield() }
            job = nil
        }
        return true
    }

    private func serve(index: Int) {
        zoo_flush_denormals()
        var seen = 0
        while true {
            // Spin for the next job, then park until one comes.
            let start = DispatchTime.now().uptimeNanoseconds
            var current = generation.load(ordering: .acquiring)
            while current == seen && DispatchTime.now().uptimeNanoseconds - start < Self.spin {
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                wake.lock()
                parked.withLock { $0 += 1 }
                while generation.load(ordering: .acquiring) == seen { wake.wait() }
                parked.withLock { $0 -= 1 }
                wake.unlock()
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            // Enter the job unless the caller has closed it already.
            var inside = state.load(ordering: .acquiring)
            while inside & Self.closed == 0 {
                let (exchanged, original) = state.compareExchange(expected: inside, desired: inside + 1, ordering: .acquiring)
                if exchanged { break }
                inside = original
            }
            guard inside & Self.closed == 0 else { continue }
            if let job, index <= job.helpers {
                while true {
                    let i = next.add(1, ordering: .relaxed).oldValue
                    if i >= job.count { break }
                    job.body(i, index)
                }
            }
            state.subtract(1, ordering: .releasing)
        }
    }
}
