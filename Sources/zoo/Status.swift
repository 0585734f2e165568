import ArgumentParser
import Foundation
import ZooPostgres

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Where a store's queue stands: runs by status, each worker's runs and epochs, throughput, time left, expired leases.",
        discussion: """
            Read from the store's rows alone, so it tells how a sweep that other processes are \
            training is going: the runs pending, running, done, diverged and failed; each worker \
            (HOST:PID:THREAD) with the runs it holds, their epochs done and to do, and whether its \
            lease has expired (a worker that died or hangs: another worker takes its runs over); \
            member-epochs per second since the oldest running attempt started, and the time left \
            at that rate. `zoo serve` shows the same live in a browser.

            Example: zoo status --store runs/zoo.sqlite
            """)
    @OptionGroup var storeOption: StoreOption

    func run() throws {
        let store = try storeOption.open(reading: true)
        if let server = store as? PostgresStore { print("\(storeOption.name): \(try server.connectionInfo())\n") }
        let q = try ServeCommand.queueTables(store)
        print(q.counts.render())
        if !q.workers.rows.isEmpty { print("\n" + q.workers.render()) }
        print("\n" + q.text)
    }
}
