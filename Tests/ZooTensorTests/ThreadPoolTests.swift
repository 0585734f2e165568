import Foundation
import Synchronization
import Testing
import ZooTensor

/// The engine's thread pool: every item runs exactly once, with concurrent callers, with jobs
/// inside jobs, and with thread indices inside the promised range.
@Suite("Thread pool")
struct ThreadPoolTests {
    @Test func everyItemRunsOnceUnderConcurrentAndNestedCallers() async {
        await withTaskGroup(of: Bool.self) { group in
            for caller in 0..<4 {
                group.addTask {
                    var ok = true
                    for round in 0..<200 {
                        let count = 1 + (round * 7 + caller) % 37
                        let hits = Mutex([Int](repeating: 0, count: count))
                        let badThread = Atomic<Bool>(false)
                        BLAS.withThreadCount(2) {
                            BLAS.parallelFor(count) { i, thread in
                                if thread < 0 || thread >= 2 { badThread.store(true, ordering: .relaxed) }
                                hits.withLock { $0[i] += 1 }
                                if i == 0 {
                                    // A job inside a job runs too (on the calling thread).
                                    let inner = Atomic<Int>(0)
                                    BLAS.parallelFor(5) { _, _ in inner.add(1, ordering: .relaxed) }
                                    if inner.load(ordering: .relaxed) != 5 { badThread.store(true, ordering: .relaxed) }
                                }
                            }
                        }
                        ok = ok && hits.withLock { $0.allSatisfy { $0 == 1 } } && !badThread.load(ordering: .relaxed)
                    }
                    return ok
                }
            }
            for await ok in group { #expect(ok) }
        }
    }

    /// Jobs that start after the helper parked (and may finish before it is awake): every item
    /// still runs once, and the helper waking late for a closed job leaves the next one intact.
    @Test func jobsAfterTheHelpersParked() {
        var ok = true
        for round in 0..<60 {
            usleep(round % 3 == 0 ? 400 : 10)  // the helpers park after 200 µs without a job
            let count = 1 + round % 5
            let hits = Mutex([Int](repeating: 0, count: count))
            BLAS.withThreadCount(2) {
                BLAS.parallelFor(count) { i, _ in hits.withLock { $0[i] += 1 } }
            }
            ok = ok && hits.withLock { $0.allSatisfy { $0 == 1 } }
        }
        #expect(ok)
    }
}
