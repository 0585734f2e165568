import Foundation
import ZooTensor

/// Bounds on what a data file or a data option may make Zoo allocate, each checked before the
/// allocation (DESIGN.md, "Hostile input is normal input"). A refusal is a ``DataFileError`` or a
/// ``DataSpecError`` naming the file or option, the size asked for and the limit.
public enum DataLimits {
    /// The most bytes one data file may hold, read as is or after decompression: 4 GiB.
    ///
    /// EMNIST ByClass, the largest IDX set, holds 0.55 GB of pixels and CIFAR-10 0.18 GB. A
    /// compressed stream is further bounded by the size its header declares: an IDX `.gz` file
    /// inflates to at most the bytes its dimensions need, an `.npz` entry to its declared size.
    public static let maximumFileBytes = 1 << 32

    /// The memory this process may allocate (``SystemMemory/available``).
    public static var availableMemory: Int { SystemMemory.available }

    /// Throws unless `count` floats (4 bytes each) fit in ``availableMemory``.
    static func checkFloats(_ count: Int, for what: String, file: String) throws {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: 4)
        let available = availableMemory
        guard !overflow, bytes <= available else {
            throw DataFileError(file: file, problem: "\(what) need \(overflow ? "more than \(Int.max)" : "\(bytes)") bytes as floats, more than the \(available) bytes of memory available")
        }
    }

    /// The bytes of a regular file of at most `limit` bytes; the size is checked (stat) before
    /// anything is read, so a huge file, a device or a pipe is refused rather than read.
    package static func readFile(_ url: URL, limit: Int = maximumFileBytes, limitName: String = "DataLimits.maximumFileBytes") throws -> [UInt8] {
        var status = stat()
        guard stat(url.path, &status) == 0 else {
            throw DataFileError(file: url.path, problem: "cannot read the file (\(String(cString: strerror(errno))))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else { throw DataFileError(file: url.path, problem: "is not a regular file") }
        guard status.st_size <= limit else {
            throw DataFileError(file: url.path, problem: "holds \(status.st_size) bytes, more than the limit of \(limit) (\(limitName))")
        }
        do { return [UInt8](try Data(contentsOf: url)) } catch {
            throw DataFileError(file: url.path, problem: "cannot read the file (\(error.localizedDescription))")
        }
    }
}

/// The product of `dimensions`, or nil if it overflows `Int` (a zero dimension gives 0 whatever the others).
func checkedProduct(_ dimensions: [Int]) -> Int? {
    if dimensions.contains(0) { return 0 }
    var product = 1
    for d in dimensions {
        let (p, overflow) = product.multipliedReportingOverflow(by: d)
        if overflow || d < 0 { return nil }
        product = p
    }
    return product
}
