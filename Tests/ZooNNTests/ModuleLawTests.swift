import Testing
import ZooNN
import ZooTensor
import ZooTestSupport

/// The laws every module obeys, checked generically over one instance of each layer and each
/// catalog model: names unique and stable, get-then-set changes nothing, set-then-get returns
/// what was set, and loading a state dict round-trips.
@Suite("Module laws")
struct ModuleLawTests {
    static let key = RandomKey(seed: 21)
    static let layers: [(String, any Module)] = [
        ("Linear", Linear(inputSize: 3, outputSize: 4, key: key)),
        ("Linear without bias", Linear(inputSize: 3, outputSize: 4, bias: false, key: key)),
        ("Conv2d", Conv2d(inChannels: 4, outChannels: 6, kernelSize: (3, 2), groups: 2, key: key)),
        ("Conv1d", Conv1d(2, 3, kernelSize: 3, key: key)),
        ("BatchNorm", BatchNorm(channels: 3)),
        ("LayerNorm", LayerNorm(normalizedShape: [5])),
        ("GroupNorm", GroupNorm(groups: 2, channels: 4)),
        ("PReLU", PReLU(parameterCount: 3)),
        ("BasicBlock", BasicBlock(inChannels: 2, outChannels: 4, stride: 2, projection: true, key: key)),
        ("Sequential", Sequential([Linear(inputSize: 2, outputSize: 3, key: key), ActivationLayer(.relu), Linear(inputSize: 3, outputSize: 1, key: key.derived(1))])),
    ] + ModelCatalog.names.map { name in
        let input = name == "cnn1d" ? ModelInput(shape: [1, 40], classCount: 10) : ModelInput(shape: [1, 28, 28], classCount: 10)
        return ("catalog \(name)", try! ModelCatalog.make(name, input: input, key: key))
    }

    @Test("laws", arguments: layers.map(\.0))
    func laws(name: String) throws {
        var module = Self.layers.first { $0.0 == name }!.1
        let names = module.state.names
        #expect(Set(names).count == names.count, "duplicate names in \(names)")
        #expect(module.state.names == names, "names are not stable")
        // Get then set changes nothing.
        let before = module.state
        module.parameters = module.parameters
        module.buffers = module.buffers
        #expect(module.state == before)
        // Set then get returns what was set.
        let shifted = module.parameters.mapTensors { $0 + 1 }
        module.parameters = shifted
        #expect(module.parameters == shifted)
        // A state dict loads back.
        var other = module
        other.parameters = before.filter { module.parameters[$0] != nil }
        try other.load(module.state)
        #expect(other.state == module.state)
    }

    @Test func loadRejectsMismatches() {
        var m: any Module = Linear(inputSize: 3, outputSize: 2, key: Self.key)
        var wrongShape = m.state
        wrongShape["weight"] = .zeros([3, 2])
        #expect(throws: StateMismatch.self) { try m.load(wrongShape) }
        var missing = m.state
        missing["bias"] = nil
        #expect(throws: StateMismatch.self) { try m.load(missing) }
        var extra = m.state
        extra["other"] = .zeros([1])
        #expect(throws: StateMismatch.self) { try m.load(extra) }
        do { try m.load(wrongShape) } catch { #expect("\(error)".contains("weight") && "\(error)".contains("[3, 2]")) }
    }

    @Test func globPatterns() {
        #expect(globMatches("*.bn*.*", "layer1.0.bn1.weight"))
        #expect(!globMatches("*.bn*.*", "layer1.0.conv1.weight"))
        #expect(globMatches("linear.*", "linear.bias"))
        #expect(globMatches("?.weight", "0.weight"))
        #expect(!globMatches("?.weight", "10.weight"))
        let resnet = try! ModelCatalog.make("resnet20", input: ModelInput(shape: [3, 32, 32], classCount: 10), key: Self.key)
        let bnOnly = resnet.parameterNames(matching: ["bn1.*", "*.bn?.*"])
        #expect(bnOnly.count == 2 * (1 + 9 * 2))
        #expect(bnOnly.allSatisfy { $0.contains("bn") })
    }
}
