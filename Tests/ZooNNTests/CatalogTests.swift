import Testing
import ZooNN
import ZooTensor

@Suite("Model catalog")
struct CatalogTests {
    let mnist = ModelInput(shape: [1, 28, 28], classCount: 10)
    let key = RandomKey(seed: 1)

    @Test func publishedParameterCounts() throws {
        #expect(try ModelCatalog.make("zoo-cnn", input: mnist, key: key).parameterCount == 2_464)
        #expect(try ModelCatalog.make("lenet5", input: mnist, key: key).parameterCount == 61_706)
        // He et al. 2016, Table 6: ResNet-20 has 0.27 M parameters (269,722 with option A).
        let resnet = try ModelCatalog.make("resnet20", input: ModelInput(shape: [3, 32, 32], classCount: 10), key: key)
        #expect(resnet.parameterCount == 269_722)
        #expect(try ModelCatalog.make("cnn1d", input: ModelInput(shape: [1, 40], classCount: 10), key: key).parameterCount == 5_210)
        // 784·256 + 256 + 256·256 + 256 + 256·10 + 10
        #expect(try ModelCatalog.make("mlp", input: mnist, key: key).parameterCount == 269_322)
        #expect(try ModelCatalog.make("mlp", options: ["hidden": ""], input: mnist, key: key).parameterCount == 7_850)
    }

    @Test func everyModelRunsForwardAndBackward() throws {
        for name in ModelCatalog.names {
            let input = name == "cnn1d" ? ModelInput(shape: [1, 40], classCount: 10) : mnist
            var model = try ModelCatalog.make(name, options: name == "nin" ? ["width": "8"] : [:], input: input, key: key)
            let x = Tensor.randomNormal([2] + input.shape, key: key.derived("x"))
            let params = model.parameters.requiringGradient()
            model.parameters = params
            let y = model(x, context: .training(key: key))
            #expect(y.shape == [2, 10], "\(name) output \(y.shape)")
            let g = gradients(of: crossEntropy(logits: y, labels: [3, 7]), wrt: params)
            #expect(g.names == params.names)
            #expect(g.tensors.allSatisfy { $0.scalars.allSatisfy(\.isFinite) }, "\(name) has non-finite gradients")
            #expect(g.tensors.contains { $0.scalars.contains { $0 != 0 } }, "\(name) has all-zero gradients")
        }
    }

    @Test func sameKeySameModel() throws {
        let a = try ModelCatalog.make("lenet5", input: mnist, key: key), b = try ModelCatalog.make("lenet5", input: mnist, key: key)
        #expect(a.state == b.state)
        let c = try ModelCatalog.make("lenet5", input: mnist, key: RandomKey(seed: 2))
        #expect(a.state != c.state)
    }

    @Test func parameterNamesFollowPyTorch() throws {
        let names = try ModelCatalog.make("zoo-cnn", input: mnist, key: key).parameters.names
        #expect(names == ["module_list.0.weight", "module_list.0.bias", "module_list.3.weight", "module_list.3.bias",
                          "module_list.6.weight", "module_list.6.bias", "module_list.9.weight", "module_list.9.bias",
                          "module_list.11.weight", "module_list.11.bias"])
        let resnet = try ModelCatalog.make("resnet20", input: ModelInput(shape: [3, 32, 32], classCount: 10), key: key)
        #expect(resnet.state.names.contains("layer2.0.bn1.running_var"))
        #expect(resnet.state.names.last == "linear.bias" || resnet.parameters.names.last == "linear.bias")
    }

    @Test func badOptionsListTheChoices() {
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        let unknownModel = message { _ = try ModelCatalog.make("vgg", input: mnist, key: key) }
        #expect(unknownModel.contains("vgg") && unknownModel.contains("zoo-cnn") && unknownModel.contains("resnet20"))
        let badActivation = message { _ = try ModelCatalog.make("mlp", options: ["activation": "relu6"], input: mnist, key: key) }
        #expect(badActivation.contains("relu6") && badActivation.contains("swish"))
        let badInit = message { _ = try ModelCatalog.make("mlp", options: ["init": "lecun"], input: mnist, key: key) }
        #expect(badInit.contains("lecun") && badInit.contains("kaiming-normal"))
        let unknownOption = message { _ = try ModelCatalog.make("mlp", options: ["widht": "3"], input: mnist, key: key) }
        #expect(unknownOption.contains("widht") && unknownOption.contains("hidden"))
        let outOfRange = message { _ = try ModelCatalog.make("mlp", options: ["dropout": "1.5"], input: mnist, key: key) }
        #expect(outOfRange.contains("dropout") && outOfRange.contains("1.5"))
        let wrongInput = message { _ = try ModelCatalog.make("zoo-cnn", input: ModelInput(shape: [40], classCount: 10), key: key) }
        #expect(wrongInput.contains("[40]"))
    }
}
