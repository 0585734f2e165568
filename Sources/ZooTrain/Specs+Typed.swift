import ZooData
import ZooNN

/// Typed constructors for the catalog models, beside the string options a spec or command line
/// gives (``ModelSpec/options``): `ModelSpec.mlp(hidden: [64, 32], activation: .tanh)`. Each
/// option left nil keeps the catalog's default (`zoo models` lists them) and stays out of the
/// options, so the spec names the same run as one written without it.
extension ModelSpec {
    /// Multilayer perceptron with the given hidden widths (empty: logistic regression).
    public static func mlp(hidden: [Int]? = nil, activation: Activation? = nil, dropout: Float? = nil, initializer: String? = nil) -> ModelSpec {
        ModelSpec(name: "mlp", options: options(["hidden": hidden.map { $0.map(String.init).joined(separator: ",") }],
                                                activation: activation, dropout: dropout, initializer: initializer))
    }

    /// The Model Zoos CNN (Schürholt et al. 2022).
    public static func zooCNN(activation: Activation? = nil, dropout: Float? = nil, initializer: String? = nil) -> ModelSpec {
        ModelSpec(name: "zoo-cnn", options: options([:], activation: activation, dropout: dropout, initializer: initializer))
    }

    /// LeNet-5 with `pool` "max" or "avg".
    public static func lenet5(pool: String? = nil, activation: Activation? = nil, dropout: Float? = nil, initializer: String? = nil) -> ModelSpec {
        ModelSpec(name: "lenet5", options: options(["pool": pool], activation: activation, dropout: dropout, initializer: initializer))
    }

    /// The MNIST-1D convolutional network with `channels` per convolution.
    public static func cnn1d(channels: Int? = nil, activation: Activation? = nil, initializer: String? = nil) -> ModelSpec {
        ModelSpec(name: "cnn1d", options: options(["channels": channels.map(String.init)], activation: activation, dropout: nil, initializer: initializer))
    }

    /// ResNet-20 (He et al. 2016) with width multiplier `width` and shortcut "a" or "b".
    public static func resnet20(width: Int? = nil, shortcut: String? = nil, activation: Activation? = nil, initializer: String? = nil) -> ModelSpec {
        ModelSpec(name: "resnet20", options: options(["width": width.map(String.init), "shortcut": shortcut],
                                                     activation: activation, dropout: nil, initializer: initializer))
    }

    private static func options(_ given: [String: String?], activation: Activation?, dropout: Float?, initializer: String?) -> [String: String] {
        var all = given
        all["activation"] = activation?.rawValue
        all["dropout"] = dropout.map { "\($0)" }
        all["init"] = initializer
        return all.compactMapValues { $0 }
    }
}

/// Typed constructors for the catalog data sets (``DataSpec/options`` holds the strings).
extension DataSpec {
    /// Fashion-MNIST, optionally a seeded subset of `subset` training images, a validation split,
    /// or a fraction of training labels replaced by another class.
    public static func fashionMNIST(subset: Int? = nil, validation: Int? = nil, labelNoise: Float? = nil, seed: Int? = nil) -> DataSpec {
        DataSpec(name: "fashion-mnist", options: common(subset: subset, validation: validation, labelNoise: labelNoise, seed: seed))
    }

    /// MNIST-1D (Greydanus 2020), generated.
    public static func mnist1D(subset: Int? = nil, validation: Int? = nil, labelNoise: Float? = nil, seed: Int? = nil) -> DataSpec {
        DataSpec(name: "mnist1d", options: common(subset: subset, validation: validation, labelNoise: labelNoise, seed: seed))
    }

    /// Gaussian inputs labelled by a random one-hidden-layer teacher.
    public static func teacherStudent(inputSize: Int? = nil, classes: Int? = nil, train: Int? = nil, test: Int? = nil, seed: Int? = nil) -> DataSpec {
        var o = common(subset: nil, validation: nil, labelNoise: nil, seed: seed)
        o["input-size"] = inputSize.map(String.init)
        o["class-count"] = classes.map(String.init)
        o["train"] = train.map(String.init)
        o["test"] = test.map(String.init)
        return DataSpec(name: "teacher-student", options: o)
    }

    private static func common(subset: Int?, validation: Int?, labelNoise: Float?, seed: Int?) -> [String: String] {
        ["subset": subset.map(String.init), "validation": validation.map(String.init), "label-noise": labelNoise.map { "\($0)" },
         "seed": seed.map(String.init)].compactMapValues { $0 }
    }
}
