import Foundation

/// What one evaluated checkpoint predicted for each test example, as `record_predictions: test`
/// records it: the predicted class (the largest logit, the first of equals: the class the test
/// accuracy counts), the true class, and the softmax probabilities of the true class and of the
/// predicted class, each quantized to 16 bits (p ≈ q / 65535, error at most 7.7e-6).
///
/// Stored as one blob per (run, epoch), 6 bytes an example (10,000 Fashion-MNIST test images:
/// 60 kB), little-endian:
///
///     header  version u8 (= 1) · reserved u8 (= 0) · classes u16 (1...256) · count u32
///     each    predicted u8 · label u8 · true-class probability u16 · predicted-class probability u16
///
/// Decoding is strict (``init(decoding:run:epoch:)``): a blob whose length is not exactly what its
/// header declares, a class out of range, or probabilities that a softmax cannot give (the
/// predicted class less likely than the true one, or the two unequal when they are the same
/// class) is an error naming the run and epoch; nothing is allocated before the length is checked.
public struct PredictionLog: Sendable, Equatable {
    /// The format version this Zoo writes and reads.
    public static let formatVersion: UInt8 = 1
    /// Classes are stored in one byte.
    public static let maximumClasses = 256
    public static let headerBytes = 8, bytesPerExample = 6

    /// Classes of the data set (the labels and predictions are in `0..<classes`).
    public let classes: Int
    public let predicted: [UInt8]
    public let labels: [UInt8]
    /// Softmax probability of the true class, quantized: ``probability(_:)`` reads it.
    public let trueClassProbability: [UInt16]
    /// Softmax probability of the predicted class, quantized.
    public let predictedClassProbability: [UInt16]

    /// Examples.
    public var count: Int { predicted.count }

    /// Whether example `i` was classified correctly.
    public func isCorrect(_ i: Int) -> Bool { predicted[i] == labels[i] }

    /// Examples classified correctly: `correctCount / count` is the epoch's test accuracy.
    public var correctCount: Int { zip(predicted, labels).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) } }

    /// A stored probability as a number in [0, 1].
    public static func probability(_ quantized: UInt16) -> Double { Double(quantized) / 65535 }

    /// A probability in [0, 1] quantized to 16 bits (rounded to nearest; NaN is stored as 0).
    public static func quantize(_ p: Double) -> UInt16 {
        guard p.isFinite else { return p == .infinity ? 65535 : 0 }
        return UInt16((min(max(p, 0), 1) * 65535).rounded())
    }

    /// A log of quantized values, checked as ``init(decoding:run:epoch:)`` checks a blob.
    /// - Throws: ``StoreError`` saying which array or example does not fit.
    public init(classes: Int, predicted: [UInt8], labels: [UInt8], trueClassProbability: [UInt16], predictedClassProbability: [UInt16]) throws {
        guard (1...Self.maximumClasses).contains(classes) else {
            throw StoreError(description: "predictions: \(classes) classes, expected 1...\(Self.maximumClasses) (a class is stored in one byte)")
        }
        let n = predicted.count
        guard labels.count == n, trueClassProbability.count == n, predictedClassProbability.count == n else {
            throw StoreError(description: "predictions: \(n) predicted classes but \(labels.count) labels, \(trueClassProbability.count) and \(predictedClassProbability.count) probabilities")
        }
        guard n <= Int(UInt32.max) else { throw StoreError(description: "predictions: \(n) examples, at most \(UInt32.max) fit the header") }
        for i in 0..<n {
            if let problem = Self.problem(classes: classes, predicted[i], labels[i], trueClassProbability[i], predictedClassProbability[i]) {
                throw StoreError(description: "predictions: example \(i): \(problem)")
            }
        }
        self.classes = classes
        self.predicted = predicted
        self.labels = labels
        self.trueClassProbability = trueClassProbability
        self.predictedClassProbability = predictedClassProbability
    }

    /// A log from a trainer's numbers: classes as integers, probabilities in [0, 1].
    /// - Throws: ``StoreError`` when a class is out of `0..<classes`, there are more than 256
    ///   classes, or the arrays differ in length.
    public init(classes: Int, predicted: [Int], labels: [Int], trueClassProbability: [Float], predictedClassProbability: [Float]) throws {
        guard (1...Self.maximumClasses).contains(classes) else {
            throw StoreError(description: "predictions: \(classes) classes, expected 1...\(Self.maximumClasses) (a class is stored in one byte)")
        }
        guard labels.count == predicted.count else {
            throw StoreError(description: "predictions: \(predicted.count) predicted classes but \(labels.count) labels")
        }
        if let i = predicted.indices.first(where: { !(0..<classes).contains(predicted[$0]) || !(0..<classes).contains(labels[$0]) }) {
            throw StoreError(description: "predictions: example \(i): class \(predicted[i]) or label \(labels[i]) is not in 0..<\(classes)")
        }
        try self.init(classes: classes, predicted: predicted.map { UInt8($0) }, labels: labels.map { UInt8($0) },
                      trueClassProbability: trueClassProbability.map { Self.quantize(Double($0)) },
                      predictedClassProbability: predictedClassProbability.map { Self.quantize(Double($0)) })
    }

    /// Why one example's values cannot come from a softmax over `classes` classes, or nil.
    private static func problem(classes: Int, _ predicted: UInt8, _ label: UInt8, _ pTrue: UInt16, _ pPredicted: UInt16) -> String? {
        if Int(predicted) >= classes { return "predicted class \(predicted) is not in 0..<\(classes)" }
        if Int(label) >= classes { return "label \(label) is not in 0..<\(classes)" }
        if predicted == label && pTrue != pPredicted {
            return "the predicted class is the true class, but its probabilities differ (\(pTrue) vs \(pPredicted) of 65535)"
        }
        if pPredicted < pTrue { return "the predicted class is less likely (\(pPredicted) of 65535) than the true class (\(pTrue))" }
        return nil
    }

    /// The blob: header and one 6-byte record per example.
    public func encoded() -> Data {
        var out = [UInt8]()
        out.reserveCapacity(Self.headerBytes + Self.bytesPerExample * count)
        out += [Self.formatVersion, 0, UInt8(classes & 0xff), UInt8(classes >> 8)]
        out += (0..<4).map { UInt8(truncatingIfNeeded: UInt32(count) >> (8 * $0)) }
        for i in 0..<count {
            out += [predicted[i], labels[i], UInt8(trueClassProbability[i] & 0xff), UInt8(trueClassProbability[i] >> 8),
                    UInt8(predictedClassProbability[i] & 0xff), UInt8(predictedClassProbability[i] >> 8)]
        }
        return Data(out)
    }

    /// Decodes a blob written by ``encoded()``.
    /// - Parameters: run, epoch: where the blob was stored, for the error message.
    /// - Throws: ``StoreError`` naming the run and epoch: a short or over-long blob, another
    ///   version, a reserved byte set, a class count outside 1...256, an example whose class or
    ///   label is out of range or whose probabilities no softmax gives.
    public init(decoding data: Data, run: String, epoch: Int) throws {
        func fail(_ why: String) -> StoreError {
            StoreError(description: "the predictions of run \(run) at epoch \(epoch) are damaged: \(why); help: train the run again (or delete its predictions)")
        }
        guard data.count >= Self.headerBytes else { throw fail("\(data.count) bytes, shorter than the \(Self.headerBytes)-byte header") }
        let header = [UInt8](data.prefix(Self.headerBytes))
        guard header[0] == Self.formatVersion else { throw fail("format version \(header[0]); this Zoo reads version \(Self.formatVersion)") }
        guard header[1] == 0 else { throw fail("reserved header byte is \(header[1]), expected 0") }
        let classes = Int(header[2]) | Int(header[3]) << 8
        let count = (0..<4).reduce(0) { $0 | Int(header[4 + $1]) << (8 * $1) }
        guard (1...Self.maximumClasses).contains(classes) else { throw fail("\(classes) classes, expected 1...\(Self.maximumClasses)") }
        // The length is checked against the header before anything the header claims is allocated.
        let expected = Self.headerBytes + Self.bytesPerExample * count
        guard data.count == expected else {
            throw fail("\(data.count) bytes, but the header declares \(count) examples (\(expected) bytes)")
        }
        let bytes = [UInt8](data)
        var predicted = [UInt8](repeating: 0, count: count), labels = predicted
        var pTrue = [UInt16](repeating: 0, count: count), pPredicted = pTrue
        for i in 0..<count {
            let at = Self.headerBytes + Self.bytesPerExample * i
            predicted[i] = bytes[at]
            labels[i] = bytes[at + 1]
            pTrue[i] = UInt16(bytes[at + 2]) | UInt16(bytes[at + 3]) << 8
            pPredicted[i] = UInt16(bytes[at + 4]) | UInt16(bytes[at + 5]) << 8
            if let problem = Self.problem(classes: classes, predicted[i], labels[i], pTrue[i], pPredicted[i]) {
                throw fail("example \(i): \(problem)")
            }
        }
        self.classes = classes
        self.predicted = predicted
        self.labels = labels
        self.trueClassProbability = pTrue
        self.predictedClassProbability = pPredicted
    }
}

/// The predictions of one run at one epoch (``RunStore/predictions(runs:epoch:)``).
public struct PredictionRecord: Sendable, Equatable {
    public var runID: String
    public var epoch: Int
    public var log: PredictionLog

    public init(runID: String, epoch: Int, log: PredictionLog) {
        self.runID = runID
        self.epoch = epoch
        self.log = log
    }
}
