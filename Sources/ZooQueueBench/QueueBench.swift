import ArgumentParser
import Foundation
import ZooPostgres
import ZooStore

/// The run queue under load: C concurrent claimers, each with a connection of its own, doing
/// claim → heartbeat → finish on N one-step runs, against a PostgreSQL or SQLite store.
/// Reports claims per second, claim latency percentiles and double claims (there must be none).
@main
struct QueueBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo-queue-bench",
        abstract: "Claim throughput and latency of a store's run queue under C concurrent claimers (docs/benchmarks.md).",
        discussion: """
            The runs go into a sweep of their own (a new id each time), and only that sweep's runs
            are claimed, so the store may hold other runs. Each claimer is a thread with its own
            store connection, as a worker process would have.

            Example: zoo-queue-bench --store postgres://zoo@127.0.0.1/queue?checkpoints=/tmp/q --runs 100000 --claimers 64
            """)
    @Option(help: "The store: an SQLite file or a postgres:// URL.") var store: String
    @Option(help: "One-step runs to queue.") var runs: Int = 100_000
    @Option(help: "Concurrent claimers (threads, one connection each).") var claimers: Int = 64
    @Option(help: "Runs per claim.") var batch: Int = 1
    @Option(help: "Lease of each claim, seconds.") var lease: Double = 60
    @Flag(help: "Print the result as one JSON line.") var json = false

    func validate() throws {
        guard (1...10_000_000).contains(runs) else { throw ValidationError("--runs must be in 1...10000000") }
        guard (1...1024).contains(claimers) else { throw ValidationError("--claimers must be in 1...1024") }
        guard (1...10_000).contains(batch) else { throw ValidationError("--batch must be in 1...10000") }
    }

    func open() throws -> any RunStore {
        PostgresLocation.isURL(store) ? try PostgresStore(url: store, retryWindow: 30) : try SQLiteStore(path: URL(fileURLWithPath: store))
    }

    func run() throws {
        let first = try open()
        let sweep = "queue-bench-" + UUID().uuidString.prefix(8).lowercased()
        let ids = (0..<runs).map { String(format: "\(sweep)-%08d", $0) }
        let queued = Date()
        try first.addSweep(id: sweep, name: "queue benchmark", spec: "", runs: ids.map { ($0, "{}", "G\(Int.random(in: 0..<4))") })
        let enqueueSeconds = Date().timeIntervalSince(queued)
        let stores = try (0..<claimers).map { _ in try open() }
        let results = Results()
        let started = Date()
        // A thread per claimer (`concurrentPerform` would run only as many at once as there are cores).
        let finished = DispatchGroup()
        for c in 0..<claimers {
            finished.enter()
            Thread { [self] in
                claimUntilEmpty(stores[c], owner: ClaimOwner(host: "bench", pid: Int32(c), worker: 0), sweep: sweep, into: results)
                finished.leave()
            }.start()
        }
        finished.wait()
        let seconds = Date().timeIntervalSince(started)
        let all = results.claimed, counted = Dictionary(all.map { ($0, 1) }, uniquingKeysWith: +)
        let doubles = counted.values.filter { $0 > 1 }.count
        let unclaimed = runs - counted.count
        let latencies = results.latencies.sorted()
        func percentile(_ p: Double) -> Double { latencies.isEmpty ? .nan : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 1000 }
        let claims = latencies.count
        let done = try first.runs(status: [.done], sweep: sweep, ids: nil)
        let result: [String: Any] = [
            "store": PostgresLocation.isURL(store) ? "postgresql" : "sqlite", "runs": runs, "claimers": claimers, "batch": batch,
            "seconds": seconds, "claims": claims, "claims_per_second": Double(claims) / seconds,
            "runs_per_second": Double(all.count) / seconds, "p50_ms": percentile(0.5), "p99_ms": percentile(0.99),
            "max_ms": (latencies.last ?? .nan) * 1000, "double_claims": doubles, "unclaimed": unclaimed, "errors": results.errors,
            "done_in_store": done.count, "attempts_over_one": done.filter { $0.attempts != 1 }.count, "enqueue_seconds": enqueueSeconds,
        ]
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "%@: %d runs, %d claimers, %d per claim: %.1f s (queueing %.1f s)", result["store"] as! String, runs, claimers, batch, seconds, enqueueSeconds))
            print(String(format: "claims/s %.0f, runs/s %.0f; claim latency p50 %.2f ms, p99 %.2f ms, max %.1f ms",
                         Double(claims) / seconds, Double(all.count) / seconds, percentile(0.5), percentile(0.99), (latencies.last ?? .nan) * 1000))
            print("double claims \(doubles), never claimed \(unclaimed), errors \(results.errors); done in the store \(done.count), with more than one attempt \(done.filter { $0.attempts != 1 }.count)")
        }
        if doubles > 0 || unclaimed > 0 || done.count != runs { throw ExitCode(1) }
    }

    /// One claimer: claim → heartbeat → finish until a claim comes back empty.
    func claimUntilEmpty(_ store: any RunStore, owner: ClaimOwner, sweep: String, into results: Results) {
        var latencies: [Double] = [], claimed: [String] = [], errors = 0
        while true {
            let t = Date()
            guard let got = try? store.claim(owner: owner, limit: batch, lease: lease, sweep: sweep, provenance: nil, isAlive: { _ in true }) else {
                errors += 1
                if errors > 100 { break }
                continue
            }
            latencies.append(Date().timeIntervalSince(t))
            if got.isEmpty { break }
            claimed += got.map(\.id)
            do {
                try store.renewLease(owner: owner, runs: got.map(\.id), lease: lease)
                for r in got { try store.finish(run: r.id, owner: owner, status: .done, error: nil, outcome: nil) }
            } catch { errors += 1 }
        }
        results.add(latencies: latencies, claimed: claimed, errors: errors)
    }
}

final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var latencies: [Double] = []
    private(set) var claimed: [String] = []
    private(set) var errors = 0
    func add(latencies l: [Double], claimed c: [String], errors e: Int) {
        lock.withLock {
            latencies += l
            claimed += c
            errors += e
        }
    }
}
