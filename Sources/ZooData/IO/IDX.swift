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
    /// Reads an unsigned-byte IDX file, plain or gzip.
    public static func read(contentsOf url: URL) throws -> IDXArray {
        let raw: [UInt8]
        do { raw = [UInt8](try Data(contentsOf: url)) } catch {
            throw DataFileError(file: url.path, problem: "cannot read the file (\(error.localizedDescription))")
        }
        let bytes = Gzip.isGzip(raw) ? try Gzip.decompress(raw, source: url.path) : raw
        return try parse(bytes, source: url.path)
    }

    /// Parses the bytes of an IDX file.
    public static func parse(_ bytes: [UInt8], source: String) throws -> IDXArray {
        func fail(_ problem: String) -> DataFileError { DataFileError(file: source, problem: problem) }
        guard bytes.count >= 4 else { throw fail("too short for an IDX header (\(bytes.count) bytes)") }
        guard bytes[0] == 0, bytes[1] == 0 else { throw fail(String(format: "bad magic number %02x %02x (expected 00 00: not an IDX file)", bytes[0], bytes[1])) }
        guard bytes[2] == 0x08 else {
            throw fail(String(format: "element type 0x%02x is not supported (only 0x08, unsigned bytes, as in MNIST)", bytes[2]))
        }
        let rank = Int(bytes[3])
        guard rank >= 1 else { throw fail("has no dimensions") }
        guard bytes.count >= 4 + 4 * rank else { throw fail("truncated header: \(rank) dimensions need \(4 + 4 * rank) bytes") }
        var dimensions: [Int] = []
        var total = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let v = Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
            dimensions.append(v)
            total *= v
            guard total <= 1 << 34 else { throw fail("dimensions \(dimensions) are implausibly large") }
        }
        let start = 4 + 4 * rank
        guard bytes.count - start == total else {
            throw fail("dimensions \(dimensions) need \(total) bytes of data but the file holds \(bytes.count - start)")
        }
        return IDXArray(dimensions: dimensions, bytes: Array(bytes[start...]))
    }

    /// Loads the four files of an MNIST-layout folder: `train-images-idx3-ubyte`,
    /// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each plain or
    /// `.gz`. Images become `[N, 1, H, W]` scaled to [0, 1]; the class count is the largest label + 1.
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
        let classes = max(train.1.max() ?? 0, test.1.max() ?? 0) + 1
        return DataSplits(train: LabeledData(inputs: train.0, labels: train.1, classCount: classes),
                          test: LabeledData(inputs: test.0, labels: test.1, classCount: classes))
    }

    private static func split(images: URL, labels: URL) throws -> (Tensor, [Int]) {
        let x = try read(contentsOf: images), y = try read(contentsOf: labels)
        guard x.dimensions.count == 3 else {
            throw DataFileError(file: images.path, problem: "images must have 3 dimensions [N, H, W], got \(x.dimensions)")
        }
        guard y.dimensions.count == 1 else {
            throw DataFileError(file: labels.path, problem: "labels must have 1 dimension [N], got \(y.dimensions)")
        }
        guard x.dimensions[0] == y.dimensions[0] else {
            throw DataFileError(file: labels.path, problem: "\(y.dimensions[0]) labels for \(x.dimensions[0]) images in \(images.lastPathComponent)")
        }
        let pixels = [Float](unsafeUninitializedCapacity: x.bytes.count) { out, n in
            x.bytes.withUnsafeBufferPointer { p in for i in 0..<p.count { out[i] = Float(p[i]) / 255 } }
            n = x.bytes.count
        }
        return (Tensor(shape: [x.dimensions[0], 1, x.dimensions[1], x.dimensions[2]], scalars: pixels), y.bytes.map(Int.init))
    }
}
