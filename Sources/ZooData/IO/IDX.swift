import Foundation
import ZooTensor

/// An array read from an IDX file (the MNIST layout): dimensions and unsigned bytes.
public struct IDXArray: Sendable, Equatable {
    public var dimensions: [Int]
    public var bytes: [UInt8]
    public init(dimensions: [Int], bytes: [UInt8]) {
        self.dimensions = dimensions
        self.bytes = bytes
    }
}

/// The IDX format of MNIST, Fashion-MNIST, KMNIST and EMNIST: two zero bytes, a type byte
/// (0x08 = unsigned byte), the number of dimensions, each dimension as a big-endian UInt32,
/// then the data. Files may be gzip-compressed (recognized by their magic bytes, not their name).
public enum IDX {
    /// The longest IDX header: 4 bytes, then 4 for each of at most 255 dimensions.
    static let maximumHeaderBytes = 4 + 4 * 255

    /// Reads an unsigned-byte IDX file, plain or gzip. A gzip file is inflated only up to the size
    /// its header declares (at most ``DataLimits/maximumFileBytes`` and the memory available): a
    /// stream holding more is refused as soon as the output passes that size.
    public static func read(contentsOf url: URL) throws -> IDXArray {
        let raw = try DataLimits.readFile(url)
        guard Gzip.isGzip(raw) else { return try parse(raw, source: url.path) }
        let head = try header(try Gzip.decompressPrefix(raw, count: maximumHeaderBytes, source: url.path), source: url.path)
        let size = head.dataStart + head.dataBytes, available = DataLimits.availableMemory
        guard size <= available else {
            throw DataFileError(file: url.path, problem: "dimensions \(head.dimensions) need \(size) bytes, more than the \(available) bytes of memory available")
        }
        let bytes = try Gzip.decompress(raw, source: url.path, limit: size,
                                        limitReason: "the \(size) bytes its IDX header declares (dimensions \(head.dimensions))")
        return try parse(bytes, source: url.path)
    }

    /// Parses the bytes of an IDX file.
    public static func parse(_ bytes: [UInt8], source: String) throws -> IDXArray {
        let head = try header(bytes, source: source)
        guard bytes.count - head.dataStart == head.dataBytes else {
            throw DataFileError(file: source, problem: "dimensions \(head.dimensions) need \(head.dataBytes) bytes of data but the file holds \(bytes.count - head.dataStart)")
        }
        return IDXArray(dimensions: head.dimensions, bytes: Array(bytes[head.dataStart...]))
    }

    /// The dimensions an IDX header declares, where the data starts and how many bytes it needs
    /// (their product, at most ``DataLimits/maximumFileBytes``); `bytes` may stop after the header.
    static func header(_ bytes: [UInt8], source: String) throws -> (dimensions: [Int], dataStart: Int, dataBytes: Int) {
        func fail(_ problem: String) -> DataFileError { DataFileError(file: source, problem: problem) }
        guard bytes.count >= 4 else { throw fail("too short for an IDX header (\(bytes.count) bytes)") }
        guard bytes[0] == 0, bytes[1] == 0 else { throw fail(String(format: "bad magic number %02x %02x (expected 00 00: not an IDX file)", bytes[0], bytes[1])) }
        guard bytes[2] == 0x08 else {
            throw fail(String(format: "element type 0x%02x is not supported (only 0x08, unsigned bytes, as in MNIST)", bytes[2]))
        }
        let rank = Int(bytes[3])
        guard rank >= 1 else { throw fail("has no dimensions") }
        let start = 4 + 4 * rank
        guard bytes.count >= start else { throw fail("truncated header: \(rank) dimensions need \(start) bytes") }
        let dimensions = (0..<rank).map { d in
            let o = 4 + 4 * d
            return Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
        }
        guard let total = checkedProduct(dimensions), total <= DataLimits.maximumFileBytes - start else {
            throw fail("dimensions \(dimensions) need more than the limit of \(DataLimits.maximumFileBytes) bytes (DataLimits.maximumFileBytes)")
        }
        return (dimensions, start, total)
    }

    /// Loads the four files of an MNIST-layout folder: `train-images-idx3-ubyte`,
    /// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each plain or
    /// `.gz`. Images become `[N, 1, H, W]` scaled to [0, 1]; the class count is the largest label + 1.
    ///
    /// Both splits must hold images of one size, and their labels must use at least half of the
    /// classes 0...largest: MNIST uses all ten, EMNIST Letters 26 of 27 (no class 0), but one
    /// corrupt label byte 254 would otherwise make a 255-class model out of a 10-class data set.
    public static func loadFolder(_ directory: URL) throws -> DataSplits {
        func find(_ stem: String) throws -> URL {
            for name in [stem, stem + ".gz"] {
                let url = directory.appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: url.path) { return url }
            }
            throw DataFileError(file: directory.path, problem: "no \(stem) or \(stem).gz in this folder (an MNIST-layout folder holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)")
        }
        let train = try split(images: find("train-images-idx3-ubyte"), labels: find("train-labels-idx1-ubyte"))
        let test = try split(images: find("t10k-images-idx3-ubyte"), labels: find("t10k-labels-idx1-ubyte"))
        let trainSize = Array(train.images.shape.dropFirst(2)), testSize = Array(test.images.shape.dropFirst(2))
        guard trainSize == testSize else {
            throw DataFileError(file: test.imageFile.path, problem: "test images are \(testSize.map(String.init).joined(separator: "×")) but the training images (\(train.imageFile.lastPathComponent)) are \(trainSize.map(String.init).joined(separator: "×")); help: both splits must hold images of one size")
        }
        guard !train.labels.isEmpty else {
            throw DataFileError(file: train.imageFile.path, problem: "holds no images; help: a training set needs at least one sample")
        }
        let largest = max(train.labels.max() ?? 0, test.labels.max() ?? 0)
        let used = Set(train.labels).union(test.labels).count
        guard 2 * used >= largest + 1 else {
            let (file, labels) = train.labels.contains(largest) ? (train.labelFile, train.labels) : (test.labelFile, test.labels)
            throw DataFileError(file: file.path, problem: "label \(largest) (sample \(labels.firstIndex(of: largest) ?? 0)) makes \(largest + 1) classes, but only \(used) of them occur in the two label files: corrupt label bytes? help: labels must number the classes 0, 1, 2, … with few gaps")
        }
        return DataSplits(train: try LabeledData(inputs: train.images, labels: train.labels, classCount: largest + 1, source: train.labelFile.path),
                          test: try LabeledData(inputs: test.images, labels: test.labels, classCount: largest + 1, source: test.labelFile.path))
    }

    private static func split(images: URL, labels: URL) throws -> (images: Tensor, labels: [Int], imageFile: URL, labelFile: URL) {
        let x = try read(contentsOf: images), y = try read(contentsOf: labels)
        guard x.dimensions.count == 3 else {
            throw DataFileError(file: images.path, problem: "images must have 3 dimensions [N, H, W], got \(x.dimensions)")
        }
        guard x.dimensions[1] >= 1, x.dimensions[2] >= 1 else {
            throw DataFileError(file: images.path, problem: "images of \(x.dimensions[1])×\(x.dimensions[2]) pixels hold nothing")
        }
        guard y.dimensions.count == 1 else {
            throw DataFileError(file: labels.path, problem: "labels must have 1 dimension [N], got \(y.dimensions)")
        }
        guard x.dimensions[0] == y.dimensions[0] else {
            throw DataFileError(file: labels.path, problem: "\(y.dimensions[0]) labels for \(x.dimensions[0]) images in \(images.lastPathComponent)")
        }
        try DataLimits.checkFloats(x.bytes.count, for: "images \(x.dimensions)", file: images.path)
        let pixels = [Float](unsafeUninitializedCapacity: x.bytes.count) { out, n in
            x.bytes.withUnsafeBufferPointer { p in for i in 0..<p.count { out[i] = Float(p[i]) / 255 } }
            n = x.bytes.count
        }
        return (Tensor(shape: [x.dimensions[0], 1, x.dimensions[1], x.dimensions[2]], scalars: pixels), y.bytes.map(Int.init), images, labels)
    }
}
