import Foundation
import ZooTensor

/// The binary version of CIFAR-10 and CIFAR-100 (Krizhevsky 2009): fixed-size records of label
/// byte(s) then 3,072 pixel bytes (1,024 red, then green, then blue, row-major 32×32).
public enum CIFAR {
    public enum Variant: Sendable {
        /// One label byte (0–9) per record.
        case cifar10
        /// A coarse (0–19) and a fine (0–99) label byte; the fine label is used.
        case cifar100

        var labelBytes: Int { self == .cifar10 ? 1 : 2 }
        var classCount: Int { self == .cifar10 ? 10 : 100 }
    }

    /// Reads one binary batch file into `[N, 3, 32, 32]` images in [0, 1].
    public static func read(contentsOf url: URL, variant: Variant) throws -> LabeledData {
        try parse(try DataLimits.readFile(url), variant: variant, source: url.path)
    }

    /// Parses the bytes of a batch file.
    public static func parse(_ bytes: [UInt8], variant: Variant, source: String) throws -> LabeledData {
        let record = variant.labelBytes + 3072
        guard !bytes.isEmpty, bytes.count % record == 0 else {
            throw DataFileError(file: source, problem: "\(bytes.count) bytes is not a whole number of \(record)-byte records (\(variant == .cifar10 ? "CIFAR-10" : "CIFAR-100") binary format)")
        }
        let n = bytes.count / record
        try DataLimits.checkFloats(n * 3072, for: "\(n) images of 3×32×32", file: source)
        var labels = [Int](repeating: 0, count: n)
        var pixels = [Float](repeating: 0, count: n * 3072)
        for i in 0..<n {
            let label = Int(bytes[i * record + variant.labelBytes - 1])
            guard label < variant.classCount else {
                throw DataFileError(file: source, problem: "record \(i) has label \(label), outside 0..<\(variant.classCount)")
            }
            labels[i] = label
            let base = i * record + variant.labelBytes
            for j in 0..<3072 { pixels[i * 3072 + j] = Float(bytes[base + j]) / 255 }
        }
        return try LabeledData(inputs: Tensor(shape: [n, 3, 32, 32], scalars: pixels), labels: labels, classCount: variant.classCount, source: source)
    }
}
