import ZooTensor

/// An in-memory labelled data set: inputs `[N, …]` and one integer label per sample.
public struct LabeledData: Sendable {
    /// `[N, C, H, W]` images scaled to [0, 1], `[N, C, L]` sequences, or `[N, F]` vectors.
    public var inputs: Tensor
    public var labels: [Int]
    /// Labels lie in `0..<classCount`.
    public var classCount: Int

    public var count: Int { labels.count }

    public init(inputs: Tensor, labels: [Int], classCount: Int) {
        precondition(inputs.rank >= 1 && inputs.shape[0] == labels.count,
                     "LabeledData: inputs \(inputs.shape) hold \(inputs.rank >= 1 ? inputs.shape[0] : 0) samples but \(labels.count) labels were given")
        precondition(labels.allSatisfy { $0 >= 0 && $0 < classCount }, "LabeledData: labels must lie in 0..<\(classCount)")
        self.inputs = inputs
        self.labels = labels
        self.classCount = classCount
    }

    /// Checks what ``init(inputs:labels:classCount:)`` requires, throwing a ``DataFileError`` that
    /// names `source` instead of stopping: for data read from a file.
    public init(inputs: Tensor, labels: [Int], classCount: Int, source: String) throws {
        guard inputs.rank >= 1, inputs.shape[0] == labels.count else {
            throw DataFileError(file: source, problem: "\(labels.count) labels for inputs of shape \(inputs.shape)")
        }
        if let i = labels.firstIndex(where: { $0 < 0 || $0 >= classCount }) {
            throw DataFileError(file: source, problem: "sample \(i) has label \(labels[i]), outside 0..<\(classCount)")
        }
        self.init(inputs: inputs, labels: labels, classCount: classCount)
    }

    /// How many samples carry each label.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for l in labels { counts[l] += 1 }
        return counts
    }
}

/// A data set's training and test parts.
public struct DataSplits: Sendable {
    public var train: LabeledData
    public var test: LabeledData
    public init(train: LabeledData, test: LabeledData) {
        self.train = train
        self.test = test
    }
}

/// A data file that cannot be read: names the file and what is wrong.
public struct DataFileError: Error, CustomStringConvertible {
    public var file: String
    public var problem: String
    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }
    public var description: String { "\(file): \(problem)" }
}
