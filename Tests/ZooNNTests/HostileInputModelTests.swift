import Foundation
import Testing
import ZooNN
import ZooTensor
#if canImport(Glibc)
import Glibc
#endif

/// Model sizes from options (issue 11): computed before building and refused past
/// ``ModelLimits``, naming the option; never an abort on a terabyte allocation.
@Suite("Hostile input: model sizes")
struct HostileInputModelTests {
    let mnist = ModelInput(shape: [1, 28, 28], classCount: 10)

    /// `model.hidden: 1000000,1000000`, inside the documented range, aborted on a 4 TB allocation.
    @Test func modelSizeIsBoundedBeforeBuilding() {
        for (name, options, input, option) in [
            ("mlp", ["hidden": "1000000,1000000"], mnist, "hidden"),
            ("resnet20", ["width": "64"], ModelInput(shape: [3, 32, 32], classCount: 10), "width"),
            ("nin", ["width": "4096", "depth": "8"], ModelInput(shape: [3, 32, 32], classCount: 10), "width"),
        ] {
            do {
                _ = try ModelCatalog.make(name, options: options, input: input, key: RandomKey(seed: 1))
                Issue.record("\(name) \(options): no error")
            } catch let e as ModelOptionError {
                #expect(e.option == option && e.description.contains("ModelLimits.maximumParameters") && e.description.contains("help: lower '\(option)'"), "\(e)")
            } catch { Issue.record("\(name): unexpected \(error)") }
        }
    }

    /// The cost is computed as the builders build: its parameter count is the built model's.
    @Test func modelCostMatchesTheBuiltModel() throws {
        let cifar = ModelInput(shape: [3, 32, 32], classCount: 100)
        let cases: [(String, [String: String], ModelInput)] = [
            ("mlp", [:], mnist), ("mlp", ["hidden": ""], mnist), ("mlp", ["hidden": "7,5,3"], cifar),
            ("zoo-cnn", [:], mnist), ("zoo-cnn", [:], ModelInput(shape: [3, 36, 36], classCount: 4)),
            ("lenet5", [:], mnist), ("lenet5", [:], cifar),
            ("cnn1d", [:], ModelInput(shape: [1, 40], classCount: 10)), ("cnn1d", ["channels": "7"], ModelInput(shape: [2, 57], classCount: 3)),
            ("resnet20", [:], cifar), ("resnet20", ["width": "2", "shortcut": "b"], cifar),
            ("nin", ["width": "8"], mnist), ("nin", ["width": "6", "depth": "3", "batch-norm": "false"], cifar),
        ]
        for (name, options, input) in cases {
            let cost = try ModelCatalog.cost(name, options: options, input: input)
            let model = try ModelCatalog.make(name, options: options, input: input, key: RandomKey(seed: 1))
            #expect(cost.parameters == model.parameterCount, "\(name) \(options) \(input.shape)")
            #expect(cost.activationsPerSample > 0)
        }
    }

    /// Under an address-space limit of 3 GiB (a child process), a 416-million-parameter MLP, below
    /// the parameter limit, is refused for memory instead of aborting.
    @Test func modelMemoryIsBoundedByAvailableMemory() async {
        await #expect(processExitsWith: .success) {
            var limit = rlimit(rlim_cur: 3 << 30, rlim_max: 3 << 30)
            #if os(Linux)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
            #else
            _ = setrlimit(RLIMIT_AS, &limit)
            #endif
            do {
                _ = try ModelCatalog.make("mlp", options: ["hidden": "20000,20000"], input: ModelInput(shape: [1, 28, 28], classCount: 10), key: RandomKey(seed: 1))
            } catch let e as ModelOptionError where e.option == "hidden" && e.description.contains("memory available") {
                exit(0)
            } catch {}
            exit(1)
        }
    }
}
