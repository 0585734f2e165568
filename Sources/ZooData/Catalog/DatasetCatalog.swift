import Foundation
import ZooTensor

/// The data one member trains and is evaluated on, after modifiers and splits.
public struct TrainingData: Sendable {
    public var train: LabeledData
    public var validation: LabeledData?
    public var test: LabeledData?
    /// Augmentation of training batches, if any.
    public var augmentation: Augmentation?

    public init(train: LabeledData, validation: LabeledData? = nil, test: LabeledData? = nil, augmentation: Augmentation? = nil) {
        self.train = train
        self.validation = validation
        self.test = test
        self.augmentation = augmentation
    }

    /// The shape of one input, without the batch axis.
    public var inputShape: [Int] { Array(train.inputs.shape.dropFirst()) }
}

/// A data set by name plus options, as written in a config: `fashion-mnist`, `mnist1d`,
/// `idx:DIR`, `cifar10:DIR`, `cifar100:DIR`, `teacher-student`, `hidden-manifold`.
public struct DataSpec: Codable, Sendable, Equatable, Hashable {
    public var name: String
    public var options: [String: String]
    public init(name: String, options: [String: String] = [:]) {
        self.name = name
        self.options = options
    }
}

/// One option of a data set.
public struct DataOption: Sendable {
    public var name: String
    public var defaultValue: String
    public var summary: String
}

/// A data set of the catalog.
public struct DatasetEntry: Sendable {
    public var name: String
    public var summary: String
    public var options: [DataOption]
}

/// An error in a data set's name or options, or in its files.
public struct DataSpecError: Error, CustomStringConvertible {
    public var description: String
    /// The option at fault (`subset`, `classes`, …); nil when the data set's name or files are.
    public var option: String?
    public init(description: String, option: String? = nil) {
        self.description = description
        self.option = option
    }
}

/// The data sets Zoo knows, and the modifiers every one of them takes.
public enum DatasetCatalog {
    /// Modifiers, splits and preprocessing that apply to every data set, in the order applied.
    public static let commonOptions: [DataOption] = [
        DataOption(name: "classes", defaultValue: "", summary: "keep only these classes (comma-separated), relabelled 0, 1, …"),
        DataOption(name: "subset", defaultValue: "", summary: "train on this many samples, drawn with the data seed"),
        DataOption(name: "test-subset", defaultValue: "", summary: "evaluate on this many test samples, drawn with the data seed (all when empty)"),
        DataOption(name: "validation", defaultValue: "0", summary: "hold out this many training samples for validation"),
        DataOption(name: "label-noise", defaultValue: "0", summary: "fraction of training labels replaced by a different class"),
        DataOption(name: "random-labels", defaultValue: "false", summary: "replace every training label by a random class"),
        DataOption(name: "normalize", defaultValue: "false", summary: "standardize each channel with the training set's mean and deviation"),
        DataOption(name: "crop", defaultValue: "0", summary: "random-crop augmentation: zero padding on each side (images)"),
        DataOption(name: "flip", defaultValue: "false", summary: "random horizontal flips (images)"),
        DataOption(name: "seed", defaultValue: "0", summary: "seed of subsets, splits, label noise and synthetic data"),
    ]

    public static let entries: [DatasetEntry] = [
        DatasetEntry(name: "fashion-mnist", summary: "Fashion-MNIST (Xiao et al. 2017): 60,000/10,000 grayscale 1×28×28, 10 classes; Debian package dataset-fashion-mnist", options: []),
        DatasetEntry(name: "mnist1d", summary: "MNIST-1D (Greydanus 2020), generated: 4,000/1,000 sequences 1×40, 10 classes", options: [
            DataOption(name: "shuffle-sequence", defaultValue: "false", summary: "apply one fixed random permutation to the 40 positions"),
            DataOption(name: "generator-seed", defaultValue: "42", summary: "seed of the generated data set"),
        ]),
        DatasetEntry(name: "idx:DIR", summary: "any folder in the MNIST IDX layout (train-images-idx3-ubyte[.gz], …): MNIST, KMNIST, EMNIST", options: []),
        DatasetEntry(name: "cifar10:DIR", summary: "CIFAR-10 binary version in DIR (data_batch_1..5.bin, test_batch.bin): 3×32×32, 10 classes", options: []),
        DatasetEntry(name: "cifar100:DIR", summary: "CIFAR-100 binary version in DIR (train.bin, test.bin), fine labels: 3×32×32, 100 classes", options: []),
        DatasetEntry(name: "teacher-student", summary: "Gaussian inputs labelled by a random one-hidden-layer tanh teacher", options: [
            DataOption(name: "input-size", defaultValue: "32", summary: "input dimension d"),
            DataOption(name: "teacher-hidden", defaultValue: "64", summary: "teacher hidden width"),
            DataOption(name: "class-count", defaultValue: "10", summary: "number of classes"),
            DataOption(name: "train", defaultValue: "10000", summary: "training samples"),
            DataOption(name: "test", defaultValue: "2000", summary: "test samples"),
        ]),
        DatasetEntry(name: "hidden-manifold", summary: "hidden manifold model (Goldt et al. 2019): x = tanh(F c / √D), labels from the latent c", options: [
            DataOption(name: "latent-size", defaultValue: "10", summary: "latent dimension D"),
            DataOption(name: "input-size", defaultValue: "500", summary: "input dimension N"),
            DataOption(name: "class-count", defaultValue: "2", summary: "number of classes"),
            DataOption(name: "train", defaultValue: "10000", summary: "training samples"),
            DataOption(name: "test", defaultValue: "2000", summary: "test samples"),
        ]),
    ]

    /// The catalog entry for a spec name (`idx:/data` → `idx:DIR`).
    public static func entry(for name: String) -> DatasetEntry? {
        let base = name.split(separator: ":", maxSplits: 1).first.map(String.init) ?? name
        return entries.first { $0.name == name || $0.name.hasPrefix(base + ":") }
    }

    /// Loads the data of `spec`, applies its modifiers and splits.
    /// - Parameter dataDirectory: where to look for Fashion-MNIST (else `$ZOO_DATA`, else Debian's folder).
    /// - Throws: ``DataSpecError`` naming the option or file, or the reader's error.
    public static func load(_ spec: DataSpec, dataDirectory: URL? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> TrainingData {
        guard let entry = entry(for: spec.name) else {
            throw DataSpecError(description: "unknown data set '\(spec.name)'; valid: \(entries.map(\.name).joined(separator: ", "))")
        }
        var reader = DataOptionReader(dataset: spec.name, options: spec.options, known: commonOptions + entry.options)
        try reader.checkUnknown()
        let seed = UInt64(try reader.int("seed", range: 0...Int(Int32.max)))
        let key = RandomKey(seed: seed, stream: 0x6461_7461)  // "data"
        var splits: DataSplits
        let path = spec.name.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init)
        switch entry.name {
        case "fashion-mnist":
            splits = try FashionMNIST.load(directory: dataDirectory, environment: environment)
        case "mnist1d":
            var configuration = MNIST1D.Configuration.standard
            configuration.seed = UInt64(try reader.int("generator-seed", range: 0...Int(Int32.max)))
            splits = MNIST1D.generate(configuration: configuration, shuffleSequence: try reader.bool("shuffle-sequence"))
        case "idx:DIR":
            guard let p = path, !p.isEmpty else { throw DataSpecError(description: "idx: needs a folder, e.g. idx:/data/mnist") }
            splits = try IDX.loadFolder(URL(fileURLWithPath: p))
        case "cifar10:DIR", "cifar100:DIR":
            guard let p = path, !p.isEmpty else { throw DataSpecError(description: "\(entry.name): needs a folder, e.g. cifar10:/data/cifar-10-batches-bin") }
            splits = try loadCIFAR(folder: URL(fileURLWithPath: p), hundred: entry.name.hasPrefix("cifar100"))
        case "teacher-student":
            let d = try reader.int("input-size", range: 1...100_000), h = try reader.int("teacher-hidden", range: 1...100_000)
            let k = try reader.int("class-count", range: 2...10_000)
            let (train, test) = (try reader.int("train", range: 1...10_000_000), try reader.int("test", range: 0...10_000_000))
            try checkSyntheticSize(reader.dataset, samples: train + test, floatsPerSample: d + h + k, options: "'input-size' + 'teacher-hidden' + 'class-count'")
            splits = Synthetic.teacherStudent(inputSize: d, teacherHidden: h, classes: k, trainCount: train, testCount: test, key: key.derived("teacher-student"))
        case "hidden-manifold":
            let latent = try reader.int("latent-size", range: 1...100_000), d = try reader.int("input-size", range: 1...100_000)
            let k = try reader.int("class-count", range: 2...10_000)
            let (train, test) = (try reader.int("train", range: 1...10_000_000), try reader.int("test", range: 0...10_000_000))
            try checkSyntheticSize(reader.dataset, samples: train + test, floatsPerSample: latent + d + k, options: "'latent-size' + 'input-size' + 'class-count'")
            splits = Synthetic.hiddenManifold(latentSize: latent, inputSize: d, classes: k, trainCount: train, testCount: test, key: key.derived("hidden-manifold"))
        default:
            preconditionFailure("DatasetCatalog: entry \(entry.name) has no loader")
        }
        try checkSplits(splits, dataset: spec.name)
        return try applyModifiers(&reader, to: splits, key: key)
    }

    /// A model is built for the training inputs and evaluated on the test inputs: both must have
    /// one sample shape, and there must be something to train on.
    private static func checkSplits(_ splits: DataSplits, dataset: String) throws {
        guard splits.train.count > 0 else {
            throw DataSpecError(description: "\(dataset): the training set holds no samples; help: check the data files")
        }
        let train = Array(splits.train.inputs.shape.dropFirst()), test = Array(splits.test.inputs.shape.dropFirst())
        guard train == test else {
            throw DataSpecError(description: "\(dataset): test samples have shape \(test) but training samples \(train); help: both splits must hold samples of one shape")
        }
    }

    /// Synthetic data sets keep about `floatsPerSample` floats per sample while generating (the
    /// inputs, the teacher's hidden or latent values, the class scores), twice over for
    /// temporaries: refused past ``DataLimits/availableMemory``.
    private static func checkSyntheticSize(_ dataset: String, samples: Int, floatsPerSample: Int, options: String) throws {
        let bytes = 8 * samples * floatsPerSample  // ≤ 8 · 2·10⁷ · 2.1·10⁵: no overflow
        let available = DataLimits.availableMemory
        guard bytes <= available else {
            throw DataSpecError(description: "\(dataset): \(samples) samples ('train' + 'test') of \(floatsPerSample) floats (\(options)) need about \(bytes) bytes to generate, more than the \(available) bytes of memory available; help: use fewer samples or smaller sizes", option: "train")
        }
    }

    private static func applyModifiers(_ reader: inout DataOptionReader, to splits: DataSplits, key: RandomKey) throws -> TrainingData {
        var train = splits.train, test = splits.test
        if let classes = try reader.optionalInts("classes") {
            let bad = classes.filter { $0 < 0 || $0 >= train.classCount }
            guard bad.isEmpty, Set(classes).count == classes.count, !classes.isEmpty else {
                throw DataSpecError(description: "\(reader.dataset): option 'classes' = '\(classes.map(String.init).joined(separator: ","))' is invalid: expected distinct classes in 0...\(train.classCount - 1)", option: "classes")
            }
            train = train.keepingClasses(classes)
            test = test.keepingClasses(classes)
            guard train.count > 0 else {
                throw DataSpecError(description: "\(reader.dataset): option 'classes' = '\(classes.map(String.init).joined(separator: ","))' leaves no training samples", option: "classes")
            }
        }
        var validation: LabeledData?
        let v = try reader.int("validation", range: 0...Int.max)
        if v > 0 {
            guard v < train.count else {
                throw DataSpecError(description: "\(reader.dataset): option 'validation' = \(v) leaves no training data (\(train.count) samples)", option: "validation")
            }
            let s = train.splittingValidation(v, key: key.derived("validation"))
            train = s.train
            validation = s.validation
        }
        if let n = try reader.optionalInt("subset") {
            guard n >= 1 && n <= train.count else {
                throw DataSpecError(description: "\(reader.dataset): option 'subset' = \(n) is invalid: expected 1...\(train.count)", option: "subset")
            }
            train = train.subset(n, key: key.derived("subset"))
        }
        if let n = try reader.optionalInt("test-subset") {
            guard n >= 1 && n <= test.count else {
                throw DataSpecError(description: "\(reader.dataset): option 'test-subset' = \(n) is invalid: expected 1...\(test.count)", option: "test-subset")
            }
            test = test.subset(n, key: key.derived("test-subset"))
        }
        let noise = try reader.float("label-noise", range: 0...1)
        if noise > 0 { train = train.corruptingLabels(fraction: noise, key: key.derived("label-noise")) }
        if try reader.bool("random-labels") { train = train.randomizingLabels(key: key.derived("random-labels")) }
        if try reader.bool("normalize") {
            let (m, s) = train.channelStatistics()
            train = train.normalized(mean: m, standardDeviation: s)
            validation = validation?.normalized(mean: m, standardDeviation: s)
            test = test.normalized(mean: m, standardDeviation: s)
        }
        let augmentation = Augmentation(cropPadding: try reader.int("crop", range: 0...64), horizontalFlip: try reader.bool("flip"))
        if !augmentation.isIdentity && train.inputs.rank != 4 {
            throw DataSpecError(description: "\(reader.dataset): options 'crop' and 'flip' need image data [N, C, H, W], but inputs are \(train.inputs.shape)", option: "crop")
        }
        return TrainingData(train: train, validation: validation, test: test, augmentation: augmentation.isIdentity ? nil : augmentation)
    }

    private static func loadCIFAR(folder: URL, hundred: Bool) throws -> DataSplits {
        let names = hundred ? (["train.bin"], "test.bin") : ((1...5).map { "data_batch_\($0).bin" }, "test_batch.bin")
        let variant: CIFAR.Variant = hundred ? .cifar100 : .cifar10
        let parts = try names.0.map { try CIFAR.read(contentsOf: folder.appendingPathComponent($0), variant: variant) }
        let train = LabeledData(inputs: Tensor.concatenated(parts.map(\.inputs), axis: 0), labels: parts.flatMap(\.labels), classCount: parts[0].classCount)
        return DataSplits(train: train, test: try CIFAR.read(contentsOf: folder.appendingPathComponent(names.1), variant: variant))
    }
}

/// Reads typed data options and reports unknown ones.
struct DataOptionReader {
    let dataset: String
    let options: [String: String]
    let known: [DataOption]

    func checkUnknown() throws {
        if let bad = options.keys.sorted().first(where: { k in !known.contains { $0.name == k } }) {
            throw DataSpecError(description: "\(dataset): unknown option '\(bad)'; valid options: \(known.map(\.name).joined(separator: ", "))", option: bad)
        }
    }

    private func raw(_ name: String) -> String {
        options[name] ?? known.first { $0.name == name }?.defaultValue ?? ""
    }

    private func fail(_ name: String, _ value: String, _ expected: String) -> DataSpecError {
        DataSpecError(description: "\(dataset): option '\(name)' = '\(value)' is invalid: expected \(expected)", option: name)
    }

    func int(_ name: String, range: ClosedRange<Int>) throws -> Int {
        let v = raw(name)
        guard let i = Int(v), range.contains(i) else { throw fail(name, v, "an integer in \(range.lowerBound)...\(range.upperBound)") }
        return i
    }

    func optionalInt(_ name: String) throws -> Int? {
        raw(name).isEmpty ? nil : try int(name, range: Int.min...Int.max)
    }

    func optionalInts(_ name: String) throws -> [Int]? {
        let v = raw(name)
        if v.isEmpty { return nil }
        let parts = v.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.allSatisfy({ $0 != nil }) else { throw fail(name, v, "comma-separated integers") }
        return parts.map { $0! }
    }

    func float(_ name: String, range: ClosedRange<Float>) throws -> Float {
        let v = raw(name)
        guard let f = Float(v), range.contains(f) else { throw fail(name, v, "a number in [\(range.lowerBound), \(range.upperBound)]") }
        return f
    }

    func bool(_ name: String) throws -> Bool {
        let v = raw(name)
        switch v.lowercased() {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: throw fail(name, v, "true or false")
        }
    }
}
