import Foundation

/// An array read from a NumPy `.npy` file, converted to Float, in C (row-major) order.
public struct NPYArray: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]
    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// NumPy's `.npy` format (versions 1.0, 2.0, 3.0) and `.npz` archives of them.
///
/// `.npy`: the magic `\x93NUMPY`, a version, a header length (2 bytes in 1.0, 4 in 2.0/3.0,
/// little-endian), a Python-literal dict `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`,
/// then the data. Supported dtypes: float 4/8, signed and unsigned ints of 1/2/4/8 bytes, bool,
/// in either byte order. Fortran-ordered arrays are reordered to C order.
public enum NPY {
    public static func read(contentsOf url: URL) throws -> NPYArray {
        try parse(try contents(of: url), source: url.path)
    }

    /// The arrays of an `.npz` file by name (without `.npy`); members may be stored or deflated.
    /// All entries together may inflate to at most ``DataLimits/maximumFileBytes``, each to no
    /// more than the size the archive declares for it.
    public static func readArchive(contentsOf url: URL) throws -> [String: NPYArray] {
        var out: [String: NPYArray] = [:]
        for (name, bytes) in try Zip.entries(try contents(of: url), source: url.path, including: { $0.hasSuffix(".npy") }) {
            out[String(name.dropLast(4))] = try parse(bytes, source: "\(url.path)/\(name)")
        }
        return out
    }

    private static func contents(of url: URL) throws -> [UInt8] { try DataLimits.readFile(url) }

    public static func parse(_ bytes: [UInt8], source: String) throws -> NPYArray {
        func fail(_ p: String) -> DataFileError { DataFileError(file: source, problem: p) }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else { throw fail("not a .npy file (bad magic)") }
        let major = bytes[6]
        let headerLength: Int, start: Int
        switch major {
        case 1: headerLength = Int(bytes[8]) | Int(bytes[9]) << 8; start = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        default: throw fail("unsupported .npy version \(major).\(bytes[7])")
        }
        guard bytes.count >= start + headerLength else { throw fail("header of \(headerLength) bytes runs past the end of the file") }
        guard let header = String(bytes: bytes[start..<(start + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw fail("header is not text")
        }
        guard let descr = field("descr", in: header).flatMap(quoted) else { throw fail("header lacks 'descr': \(header.prefix(200))") }
        guard let fortranText = field("fortran_order", in: header) else { throw fail("header lacks 'fortran_order'") }
        let fortran = fortranText.hasPrefix("True")
        guard let shapeText = field("shape", in: header), let shape = tuple(shapeText) else { throw fail("header has no valid 'shape': \(header.prefix(200))") }
        guard let type = ElementType(descr) else {
            throw fail("dtype '\(descr.prefix(40))' is not supported (float32/64, int8–64, uint8–64, bool)")
        }
        // The declared shape must match the data present before anything is allocated.
        let dataStart = start + headerLength, available = bytes.count - dataStart
        guard let count = checkedProduct(shape), case let (needed, false) = count.multipliedReportingOverflow(by: type.size) else {
            throw fail("shape \(shape) of '\(descr)' needs more bytes than an Int can count (the file holds \(available))")
        }
        guard available == needed else {
            throw fail("shape \(shape) of '\(descr)' needs \(needed) bytes of data but the file holds \(available)")
        }
        var values = bytes.withUnsafeBufferPointer { p in (0..<count).map { type.value(p, dataStart + $0 * type.size) } }
        if fortran && shape.count > 1 { values = reorderFortran(values, shape: shape) }
        return NPYArray(shape: shape, values: values)
    }

    /// The raw text of `key`'s value in a Python dict literal.
    private static func field(_ key: String, in header: String) -> String? {
        guard let r = header.range(of: "'\(key)'") else { return nil }
        var rest = header[r.upperBound...].drop { $0 == " " || $0 == ":" }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        rest = rest.prefix { $0 != "," && $0 != "}" }
        return String(rest).trimmingCharacters(in: .whitespaces)
    }

    private static func quoted(_ s: String) -> String? {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard t.count >= 2, let q = t.first, q == "'" || q == "\"", t.last == q else { return nil }
        return String(t.dropFirst().dropLast())
    }

    private static func tuple(_ s: String) -> [Int]? {
        let inner = s.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        if inner.isEmpty { return [] }
        let parts = inner.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let values = parts.map { Int($0.hasSuffix("L") ? String($0.dropLast()) : $0) }
        guard values.allSatisfy({ $0 != nil && $0! >= 0 }) else { return nil }
        return values.map { $0! }
    }

    private static func reorderFortran(_ values: [Float], shape: [Int]) -> [Float] {
        // Fortran order: the first index varies fastest.
        var out = [Float](repeating: 0, count: values.count)
        var cStrides = [Int](repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) { cStrides[i] = cStrides[i + 1] * shape[i + 1] }
        var index = [Int](repeating: 0, count: shape.count)
        for f in 0..<values.count {
            out[zip(index, cStrides).reduce(0) { $0 + $1.0 * $1.1 }] = values[f]
            for d in 0..<shape.count {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
            }
        }
        return out
    }

    struct ElementType {
        enum Kind { case float, signed, unsigned, bool }
        let kind: Kind
        let size: Int
        let bigEndian: Bool

        init?(_ descr: String) {
            guard descr.count >= 3 else { return nil }
            let order = descr.first!, code = descr[descr.index(after: descr.startIndex)]
            guard let size = Int(descr.dropFirst(2)) else { return nil }
            bigEndian = order == ">"
            guard order == "<" || order == ">" || order == "|" || order == "=" else { return nil }
            switch (code, size) {
            case ("f", 4), ("f", 8): kind = .float
            case ("i", 1), ("i", 2), ("i", 4), ("i", 8): kind = .signed
            case ("u", 1), ("u", 2), ("u", 4), ("u", 8): kind = .unsigned
            case ("b", 1): kind = .bool
            default: return nil
            }
            self.size = size
        }

        func value(_ p: UnsafeBufferPointer<UInt8>, _ o: Int) -> Float {
            var bits: UInt64 = 0
            for k in 0..<size {
                let byte = UInt64(p[o + (bigEndian ? size - 1 - k : k)])
                bits |= byte << (8 * UInt64(k))
            }
            switch kind {
            case .bool: return bits == 0 ? 0 : 1
            case .unsigned: return Float(bits)
            case .signed:
                let shift = UInt64(64 - 8 * size)
                return Float(Int64(bitPattern: bits << shift) >> Int64(shift))
            case .float:
                return size == 4 ? Float(bitPattern: UInt32(bits)) : Float(Double(bitPattern: bits))
            }
        }
    }
}

/// The entries of a zip archive (stored or deflated), read through its central directory.
enum Zip {
    /// The entries whose names satisfy `including`. Their sizes together may not pass
    /// ``DataLimits/maximumFileBytes`` (entries of a hostile archive can all point at one
    /// highly compressed stream), and each inflates to no more than its declared size.
    static func entries(_ bytes: [UInt8], source: String, including: (String) -> Bool = { _ in true }) throws -> [(String, [UInt8])] {
        func fail(_ p: String) -> DataFileError { DataFileError(file: source, problem: p) }
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        guard bytes.count >= 22 else { throw fail("too short for a zip archive") }
        // The end-of-central-directory record is in the last 22 + 65,535 bytes.
        var eocd = -1
        for o in stride(from: bytes.count - 22, through: max(0, bytes.count - 22 - 65_535), by: -1) where u32(o) == 0x0605_4b50 {
            eocd = o
            break
        }
        guard eocd >= 0 else { throw fail("not a zip archive (no end of central directory)") }
        let count = u16(eocd + 10), directory = u32(eocd + 16)
        var out: [(String, [UInt8])] = []
        var budget = DataLimits.maximumFileBytes
        var o = directory
        for _ in 0..<count {
            guard o + 46 <= bytes.count, u32(o) == 0x0201_4b50 else { throw fail("corrupt central directory at offset \(o)") }
            let method = u16(o + 10), compressed = u32(o + 20), size = u32(o + 24)
            let nameLength = u16(o + 28), extra = u16(o + 30), comment = u16(o + 32), local = u32(o + 42)
            guard o + 46 + nameLength <= bytes.count else { throw fail("corrupt central directory entry") }
            let name = String(decoding: bytes[(o + 46)..<(o + 46 + nameLength)], as: UTF8.self)
            guard compressed != 0xFFFF_FFFF, size != 0xFFFF_FFFF, local != 0xFFFF_FFFF else { throw fail("\(name): zip64 entries are not supported") }
            guard local + 30 <= bytes.count, u32(local) == 0x0403_4b50 else { throw fail("\(name): bad local header") }
            let dataStart = local + 30 + u16(local + 26) + u16(local + 28)
            guard dataStart + compressed <= bytes.count else { throw fail("\(name): data runs past the end of the archive") }
            o += 46 + nameLength + extra + comment
            guard including(name) else { continue }
            guard size <= budget else {
                throw fail("\(name): entries declare more than \(DataLimits.maximumFileBytes) bytes in all (DataLimits.maximumFileBytes)")
            }
            budget -= size
            let raw = Array(bytes[dataStart..<(dataStart + compressed)])
            switch method {
            case 0:
                guard size == compressed else { throw fail("\(name): stored entry of \(compressed) bytes declares \(size)") }
                out.append((name, raw))
            case 8: out.append((name, try Gzip.inflateRaw(raw, expectedSize: size, source: "\(source)/\(name)")))
            default: throw fail("\(name): compression method \(method) is not supported (stored or deflated only)")
            }
        }
        return out
    }
}
