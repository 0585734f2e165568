import ZooTensor

// The catalog's models. Each builder reads its options, checks that the input fits, and builds a
// module whose parameter names are those of its PyTorch twin.

private func commonOptions(activation: String = "relu", dropout: Bool = true) -> [ModelOption] {
    var o = [
        ModelOption(name: "activation", defaultValue: activation, summary: "nonlinearity: \(Activation.allCases.map(\.rawValue).joined(separator: ", "))"),
        ModelOption(name: "init", defaultValue: "pytorch-default", summary: "weight init: \(Initializer.choices.joined(separator: ", "))"),
    ]
    if dropout { o.append(ModelOption(name: "dropout", defaultValue: "0", summary: "dropout probability after each hidden activation, in [0, 1)")) }
    return o
}

private func requireImage(_ input: ModelInput, model: String, channels: Int? = nil, size: Int? = nil) throws {
    guard input.shape.count == 3 else {
        throw ModelOptionError(description: "\(model): needs image inputs [C, H, W], but the data has shape \(input.shape)")
    }
    if let c = channels, input.shape[0] != c {
        throw ModelOptionError(description: "\(model): needs \(c) input channel(s), but the data has shape \(input.shape)")
    }
    if let s = size, input.shape[1] != s || input.shape[2] != s {
        throw ModelOptionError(description: "\(model): needs \(s)×\(s) images, but the data has shape \(input.shape)")
    }
}

/// `[activation]` plus a dropout layer when `p > 0`.
private func activationAndDropout(_ a: Activation, _ p: Float) -> [any Module] {
    p > 0 ? [ActivationLayer(a), Dropout(probability: p)] : [ActivationLayer(a)]
}

// MARK: - mlp

let mlpEntry = ModelEntry(
    name: "mlp", summary: "multilayer perceptron on the flattened input",
    options: [ModelOption(name: "hidden", defaultValue: "256,256", summary: "hidden layer widths, comma-separated (empty: logistic regression)")]
        + commonOptions(),
    cost: { options, input in
        var c = ModelCost(sizeOption: "hidden"), width = saturatingProduct(input.shape)
        for h in try options.ints("hidden", range: 1...1_000_000) + [input.classCount] {
            c.linear(width, h)
            width = h
        }
        return c
    }
) { options, input, key in
    let hidden = try options.ints("hidden", range: 1...1_000_000)
    let activation = try options.activation()
    let initializer = try options.initializer(activation: activation)
    let p = try options.float("dropout", range: 0...0.999)
    var layers: [any Module] = [Flatten()]
    var width = input.shape.elementCount
    for h in hidden {
        layers.append(Linear(inputSize: width, outputSize: h, initializer: initializer, key: key.derived(layers.count)))
        layers += activationAndDropout(activation, p)
        width = h
    }
    layers.append(Linear(inputSize: width, outputSize: input.classCount, initializer: initializer, key: key.derived(layers.count)))
    return Sequential(layers)
}

// MARK: - zoo-cnn

/// The CNN of the Model Zoos dataset (Schürholt et al. 2022) for 28×28 grayscale images:
/// conv 1→8 5×5, max-pool 2, act, conv 8→6 5×5, max-pool 2, act, conv 6→4 2×2, act, flatten,
/// linear 36→20, act, linear 20→10: 2,464 parameters. Names `module_list.i.*` as in their code.
let zooCNNEntry = ModelEntry(
    name: "zoo-cnn", summary: "the small CNN of the Model Zoos dataset (Schürholt et al. 2022), 2,464 parameters on 1×28×28",
    options: commonOptions(activation: "tanh"),
    cost: { _, input in
        try requireImage(input, model: "zoo-cnn")
        var c = ModelCost(), s = Array(input.shape.dropFirst())
        c.conv(input.shape[0], 8, kernel: 5, spatial: &s)
        c.pointwise(8, spatial: &s, pool: true)
        c.conv(8, 6, kernel: 5, spatial: &s)
        c.pointwise(6, spatial: &s, pool: true)
        c.conv(6, 4, kernel: 2, spatial: &s)
        c.linear(saturatingProduct([4] + s), 20)
        c.linear(20, input.classCount)
        return c
    }
) { options, input, key in
    try requireImage(input, model: "zoo-cnn")
    let a = try options.activation()
    let initializer = try options.initializer(activation: a)
    let p = try options.float("dropout", range: 0...0.999)
    let c = input.shape[0]
    let side = (input.shape[1] - 4) / 2, side2 = (side - 4) / 2 - 1
    guard input.shape[1] == input.shape[2], side2 >= 1 else {
        throw ModelOptionError(description: "zoo-cnn: needs square images of at least 20×20, but the data has shape \(input.shape)")
    }
    var layers: [any Module] = []
    func add(_ m: any Module) { layers.append(m) }
    add(Conv2d(c, 8, kernelSize: 5, initializer: initializer, key: key.derived(layers.count)))
    add(Pool.max2d(2))
    layers += activationAndDropout(a, p)
    add(Conv2d(8, 6, kernelSize: 5, initializer: initializer, key: key.derived(layers.count)))
    add(Pool.max2d(2))
    layers += activationAndDropout(a, p)
    add(Conv2d(6, 4, kernelSize: 2, initializer: initializer, key: key.derived(layers.count)))
    layers += activationAndDropout(a, p)
    add(Flatten())
    add(Linear(inputSize: 4 * side2 * side2, outputSize: 20, initializer: initializer, key: key.derived(layers.count)))
    layers += activationAndDropout(a, p)
    add(Linear(inputSize: 20, outputSize: input.classCount, initializer: initializer, key: key.derived(layers.count)))
    return Sequential(named: [("module_list", Sequential(layers))])
}

// MARK: - lenet5

/// LeNet-5 (LeCun et al. 1998) for 28×28 inputs with padding 2 on the first convolution:
/// conv 1→6 5×5, act, pool, conv 6→16 5×5, act, pool, linear 400→120, act, linear 120→84, act,
/// linear 84→10: 61,706 parameters.
let lenet5Entry = ModelEntry(
    name: "lenet5", summary: "LeNet-5 (LeCun et al. 1998), 61,706 parameters on 1×28×28 (padding 2 on the first conv)",
    options: commonOptions() + [ModelOption(name: "pool", defaultValue: "max", summary: "subsampling: max or avg")],
    cost: { _, input in
        try requireImage(input, model: "lenet5")
        var c = ModelCost(), s = Array(input.shape.dropFirst())
        c.conv(input.shape[0], 6, kernel: 5, padding: 2, spatial: &s)
        c.pointwise(6, spatial: &s, pool: true)
        c.conv(6, 16, kernel: 5, spatial: &s)
        c.pointwise(16, spatial: &s, pool: true)
        for (a, b) in [(saturatingProduct([16] + s), 120), (120, 84), (84, input.classCount)] { c.linear(a, b) }
        return c
    }
) { options, input, key in
    try requireImage(input, model: "lenet5")
    let a = try options.activation()
    let initializer = try options.initializer(activation: a)
    let p = try options.float("dropout", range: 0...0.999)
    let poolName = options.string("pool")
    guard poolName == "max" || poolName == "avg" else {
        throw ModelOptionError(description: "lenet5: option 'pool' = '\(poolName)' is invalid: expected max or avg", option: "pool")
    }
    let pool = poolName == "max" ? Pool.max2d(2) : Pool.avg2d(2)
    let side = ((input.shape[1] + 4 - 4) / 2 - 4) / 2
    guard input.shape[1] == input.shape[2], side >= 1 else {
        throw ModelOptionError(description: "lenet5: needs square images of at least 12×12, but the data has shape \(input.shape)")
    }
    let fk = key.derived("features"), ck = key.derived("classifier")
    let features = Sequential([
        Conv2d(input.shape[0], 6, kernelSize: 5, padding: 2, initializer: initializer, key: fk.derived(0)),
        ActivationLayer(a), pool,
        Conv2d(6, 16, kernelSize: 5, initializer: initializer, key: fk.derived(3)),
        ActivationLayer(a), pool,
    ])
    var classifier: [any Module] = [Linear(inputSize: 16 * side * side, outputSize: 120, initializer: initializer, key: ck.derived(0))]
    classifier += activationAndDropout(a, p)
    classifier.append(Linear(inputSize: 120, outputSize: 84, initializer: initializer, key: ck.derived(classifier.count)))
    classifier += activationAndDropout(a, p)
    classifier.append(Linear(inputSize: 84, outputSize: input.classCount, initializer: initializer, key: ck.derived(classifier.count)))
    return Sequential(named: [("features", features), ("flatten", Flatten()), ("classifier", Sequential(classifier))])
}

// MARK: - cnn1d

/// The 1-D CNN of MNIST-1D (Greydanus 2020, `ConvBase`): three convolutions with 25 channels
/// (kernel 5 stride 2, then kernel 3 stride 2, twice; padding 1), ReLU, and a linear layer on the
/// flattened 25 × 5 features: 5,210 parameters for length-40 inputs.
let cnn1dEntry = ModelEntry(
    name: "cnn1d", summary: "the 1-D CNN of MNIST-1D (Greydanus 2020), 5,210 parameters on 1×40",
    options: [ModelOption(name: "channels", defaultValue: "25", summary: "channels of each convolution")] + commonOptions(dropout: false),
    cost: { options, input in
        guard input.shape.count == 2 else { return ModelCost() }
        let ch = try options.int("channels", range: 1...4096)
        var c = ModelCost(sizeOption: "channels"), s = [input.shape[1]]
        c.conv(input.shape[0], ch, kernel: 5, stride: 2, padding: 1, spatial: &s)
        c.conv(ch, ch, kernel: 3, stride: 2, padding: 1, spatial: &s)
        c.conv(ch, ch, kernel: 3, stride: 2, padding: 1, spatial: &s)
        c.linear(saturatingProduct(ch, s[0]), input.classCount)
        return c
    }
) { options, input, key in
    guard input.shape.count == 2 else {
        throw ModelOptionError(description: "cnn1d: needs sequence inputs [C, L], but the data has shape \(input.shape)")
    }
    let ch = try options.int("channels", range: 1...4096)
    let a = try options.activation()
    let initializer = try options.initializer(activation: a)
    func out(_ l: Int, _ k: Int) -> Int { (l + 2 - k) / 2 + 1 }
    let length = out(out(out(input.shape[1], 5), 3), 3)
    guard length >= 1 else { throw ModelOptionError(description: "cnn1d: sequences of length \(input.shape[1]) are too short") }
    return Sequential(named: [
        ("conv1", Conv1d(input.shape[0], ch, kernelSize: 5, stride: 2, padding: 1, initializer: initializer, key: key.derived("conv1"))),
        ("act1", ActivationLayer(a)),
        ("conv2", Conv1d(ch, ch, kernelSize: 3, stride: 2, padding: 1, initializer: initializer, key: key.derived("conv2"))),
        ("act2", ActivationLayer(a)),
        ("conv3", Conv1d(ch, ch, kernelSize: 3, stride: 2, padding: 1, initializer: initializer, key: key.derived("conv3"))),
        ("act3", ActivationLayer(a)),
        ("flatten", Flatten()),
        ("linear", Linear(inputSize: ch * length, outputSize: input.classCount, initializer: initializer, key: key.derived("linear"))),
    ])
}

// MARK: - resnet20

/// ResNet-20 for CIFAR (He et al. 2016, §4.2): a 3×3 convolution to 16·k channels, three stages of
/// three basic blocks (16·k, 32·k, 64·k channels; stride 2 at the start of stages 2 and 3), global
/// average pooling and a linear layer. Shortcut `a` (the paper's option A: subsample and pad
/// channels with zeros, no parameters) gives 0.27 M parameters at k = 1; `b` uses 1×1 convolutions.
let resnet20Entry = ModelEntry(
    name: "resnet20", summary: "ResNet-20 for CIFAR (He et al. 2016), batch norm, 0.27 M parameters at width 1",
    options: [
        ModelOption(name: "width", defaultValue: "1", summary: "width multiplier k: stages have 16k, 32k, 64k channels"),
        ModelOption(name: "shortcut", defaultValue: "a", summary: "a: zero-padded identity (paper's option A); b: 1×1 conv + batch norm"),
    ] + commonOptions(dropout: false),
    cost: { options, input in
        try requireImage(input, model: "resnet20")
        let k = try options.int("width", range: 1...64)
        let projection = options.string("shortcut") == "b"
        var c = ModelCost(sizeOption: "width"), s = Array(input.shape.dropFirst())
        c.conv(input.shape[0], 16 * k, kernel: 3, padding: 1, bias: false, spatial: &s)
        c.batchNorm(16 * k, spatial: s)
        var channels = 16 * k
        for (stage, width) in [16 * k, 32 * k, 64 * k].enumerated() {
            for b in 0..<3 {
                let stride = stage > 0 && b == 0 ? 2 : 1
                var shortcut = s
                c.conv(channels, width, kernel: 3, stride: stride, padding: 1, bias: false, spatial: &s)
                c.batchNorm(width, spatial: s)
                c.conv(width, width, kernel: 3, padding: 1, bias: false, spatial: &s)
                c.batchNorm(width, spatial: s)
                if projection && (stride != 1 || channels != width) {
                    c.conv(channels, width, kernel: 1, stride: stride, bias: false, spatial: &shortcut)
                    c.batchNorm(width, spatial: shortcut)
                }
                channels = width
            }
        }
        c.linear(channels, input.classCount)
        return c
    }
) { options, input, key in
    try requireImage(input, model: "resnet20")
    let k = try options.int("width", range: 1...64)
    let a = try options.activation()
    let initializer = try options.initializer(activation: a)
    let shortcut = options.string("shortcut")
    guard shortcut == "a" || shortcut == "b" else {
        throw ModelOptionError(description: "resnet20: option 'shortcut' = '\(shortcut)' is invalid: expected a or b", option: "shortcut")
    }
    var children: [(String, any Module)] = [
        ("conv1", Conv2d(input.shape[0], 16 * k, kernelSize: 3, padding: 1, bias: false, initializer: initializer, key: key.derived("conv1"))),
        ("bn1", BatchNorm(channels: 16 * k)),
        ("act", ActivationLayer(a)),
    ]
    var channels = 16 * k
    for (stage, width) in [16 * k, 32 * k, 64 * k].enumerated() {
        var blocks: [any Module] = []
        for b in 0..<3 {
            let stride = stage > 0 && b == 0 ? 2 : 1
            blocks.append(BasicBlock(inChannels: channels, outChannels: width, stride: stride, activation: a,
                                     projection: shortcut == "b", initializer: initializer, key: key.derived("layer\(stage + 1).\(b)")))
            channels = width
        }
        children.append(("layer\(stage + 1)", Sequential(blocks)))
    }
    children.append(("pool", Pool(.globalAvg)))
    children.append(("linear", Linear(inputSize: channels, outputSize: input.classCount, initializer: initializer, key: key.derived("linear"))))
    return Sequential(named: children)
}

// MARK: - nin

/// A network-in-network CNN as in Jiang et al. 2019 ("Fantastic Generalization Measures"):
/// `depth` NiN blocks of `width` channels, each a 3×3 stride-2 convolution and two 1×1
/// convolutions, every one followed by batch norm and the activation (and dropout when set);
/// then a 1×1 convolution to the classes and global average pooling.
let ninEntry = ModelEntry(
    name: "nin", summary: "network-in-network CNN (Jiang et al. 2019), depth × width grid",
    options: [
        ModelOption(name: "depth", defaultValue: "2", summary: "number of NiN blocks"),
        ModelOption(name: "width", defaultValue: "96", summary: "channels of every block"),
        ModelOption(name: "batch-norm", defaultValue: "true", summary: "batch norm after each convolution"),
    ] + commonOptions(),
    cost: { options, input in
        try requireImage(input, model: "nin")
        let depth = try options.int("depth", range: 1...8), width = try options.int("width", range: 1...4096)
        let bn = try options.bool("batch-norm")
        var c = ModelCost(sizeOption: "width"), s = Array(input.shape.dropFirst()), channels = input.shape[0]
        for _ in 0..<depth {
            for (kernel, stride) in [(3, 2), (1, 1), (1, 1)] {
                c.conv(channels, width, kernel: kernel, stride: stride, padding: kernel / 2, spatial: &s)
                if bn { c.batchNorm(width, spatial: s) }
                c.pointwise(width, spatial: &s)
                channels = width
            }
        }
        c.conv(width, input.classCount, kernel: 1, spatial: &s)
        return c
    }
) { options, input, key in
    try requireImage(input, model: "nin")
    let depth = try options.int("depth", range: 1...8)
    let width = try options.int("width", range: 1...4096)
    let bn = try options.bool("batch-norm")
    let a = try options.activation()
    let initializer = try options.initializer(activation: a)
    let p = try options.float("dropout", range: 0...0.999)
    var blocks: [any Module] = []
    var c = input.shape[0]
    for d in 0..<depth {
        let bk = key.derived("features.\(d)")
        var parts: [(String, any Module)] = []
        for (i, (kernel, stride)) in [(3, 2), (1, 1), (1, 1)].enumerated() {
            parts.append(("conv\(i + 1)", Conv2d(i == 0 ? c : width, width, kernelSize: kernel, stride: stride, padding: kernel / 2,
                                                initializer: initializer, key: bk.derived("conv\(i + 1)"))))
            if bn { parts.append(("bn\(i + 1)", BatchNorm(channels: width))) }
            parts.append(("act\(i + 1)", ActivationLayer(a)))
        }
        if p > 0 { parts.append(("dropout", Dropout(probability: p))) }
        blocks.append(Sequential(named: parts))
        c = width
    }
    return Sequential(named: [
        ("features", Sequential(blocks)),
        ("classifier", Conv2d(width, input.classCount, kernelSize: 1, initializer: initializer, key: key.derived("classifier"))),
        ("pool", Pool(.globalAvg)),
    ])
}

extension OptionReader {
    func string(_ name: String) -> String {
        options[name] ?? known.first { $0.name == name }!.defaultValue
    }
}
