import Foundation

/// Reading and writing the safetensors format (Hugging Face): an 8-byte little-endian header
/// length N, N bytes of JSON `{"name": {"dtype", "shape", "data_offsets": [begin, end]}, …,
/// "__metadata__": {string: string}}` padded with spaces to a multiple of 8, then the raw
/// little-endian data. Python opens these files with `safetensors.numpy.load_file`.
///
/// Zoo writes `F32` in NamedTensors order and reads `F32`; asked to (`convertingToFloat32`), it
/// also reads `F64`, `F16`, `BF16`, `I64`, `I32`, `I16`, `I8`, `U8` and `BOOL`, converting to
/// Float. Every field of a file is validated before anything is allocated: a malformed file throws
/// a ``SafetensorsError``, never reads out of bounds, and no tensor is larger than the file's data
/// (its data offsets must span exactly its shape's bytes, inside the file).
public enum Safetensors {
    /// The largest header accepted: 100,000,000 bytes (the reference implementation's limit).
    public static let maximumHeaderSize = 100_000_000

    /// The largest file ``read(from:convertingToFloat32:)`` reads: 16 GiB, the checkpoint of a
    /// 1.4-billion-parameter model with Adam's two moments; the model catalog stops at 500 million
    /// parameters (`ModelLimits.maximumParameters`).
    public static let maximumFileSize = 1 << 34

    /// The bytes of a file holding `tensors` as F32 with string `metadata`.
    public static func encode(_ tensors: NamedTensors, metadata: [String: String] = [:]) -> [UInt8] {
        var header = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
            parts.append("\"__metadata__\":{\(m)}")
        }
        var offset = 0
        for (name, t) in tensors {
            let end = offset + t.count * 4
            parts.append("\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + headerBytes.count + offset)
        var n = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for t in tensors.tensors {
            t.scalars.withUnsafeBufferPointer { p in
                for v in p {
                    var bits = v.bitPattern.littleEndian
                    withUnsafeBytes(of: &bits) { out.append(contentsOf: $0) }
                }
            }
        }
        return out
    }

    /// The tensors (in data-offset order) and metadata of a file's bytes.
    /// - Parameters:
    ///   - source: the file name used in error messages.
    ///   - convertingToFloat32: accept every dtype, converted to Float (integers above 2²⁴ and
    ///     F64 lose precision); by default only F32 is accepted, as in Zoo's checkpoints, so that
    ///     an integer or boolean tensor is never silently taken for weights.
    public static func decode(_ bytes: [UInt8], source: String = "<memory>", convertingToFloat32: Bool = false) throws -> (tensors: NamedTensors, metadata: [String: String]) {
        func fail(_ key: String?, _ problem: String) -> SafetensorsError { SafetensorsError(source: source, key: key, problem: problem) }
        guard bytes.count >= 8 else { throw fail(nil, "file of \(bytes.count) bytes is too short for the 8-byte header length") }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(maximumHeaderSize) else { throw fail(nil, "header length \(headerLength) exceeds the limit of \(maximumHeaderSize) bytes") }
        guard 8 + Int(headerLength) <= bytes.count else {
            throw fail(nil, "header length \(headerLength) runs past the end of the file (\(bytes.count) bytes)")
        }
        let headerBytes = bytes[8..<(8 + Int(headerLength))]
        guard let headerText = String(bytes: headerBytes, encoding: .utf8) else { throw fail(nil, "header is not valid UTF-8") }
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: Data(headerText.utf8)) } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? error.localizedDescription
            throw fail(nil, "header is not valid JSON (\(detail))")
        }
        guard let header = json as? [String: Any] else { throw fail(nil, "header is not a JSON object") }
        let dataStart = 8 + Int(headerLength)
        let dataLength = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail(name, "must be an object of strings") }
                for (k, v) in m {
                    guard let s = v as? String else { throw fail("__metadata__.\(k)", "metadata values must be strings") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw fail(name, "entry is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw fail(name, "missing 'dtype'") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw fail(name, "unsupported dtype '\(dtypeName)'; supported: \(DType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard dtype == .f32 || convertingToFloat32 else {
                throw fail(name, "dtype \(dtypeName), but Zoo reads F32 tensors only; help: store it as float32 (numpy: `a.astype(np.float32)`), or pass convertingToFloat32: true to convert")
            }
            guard let shapeValues = info["shape"] as? [Any], let shape = integers(shapeValues), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail(name, "'shape' must be a list of non-negative integers")
            }
            var count = 1
            for d in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, product <= Int(Int32.max) * 64 else { throw fail(name, "shape \(shape) is too large") }
                count = product
            }
            guard let offsetValues = info["data_offsets"] as? [Any], let offsets = integers(offsetValues), offsets.count == 2 else {
                throw fail(name, "'data_offsets' must be two integers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataLength else {
                throw fail(name, "data_offsets [\(begin), \(end)] are outside the \(dataLength) bytes of data")
            }
            guard end - begin == count * dtype.size else {
                throw fail(name, "data_offsets [\(begin), \(end)] hold \(end - begin) bytes but shape \(shape) of \(dtypeName) needs \(count * dtype.size)")
            }
            entries.append((name, dtype, shape, begin, end))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expected = 0
        for e in entries {
            guard e.begin == expected else {
                throw fail(e.name, e.begin < expected ? "data overlaps the previous tensor (offset \(e.begin) < \(expected))"
                                                      : "leaves a gap in the data before offset \(e.begin)")
            }
            expected = e.end
        }
        guard expected == dataLength else { throw fail(nil, "tensors cover \(expected) bytes of data but the file holds \(dataLength)") }
        var tensors = NamedTensors()
        for e in entries {
            let scalars = bytes.withUnsafeBufferPointer { p in
                e.dtype.decode(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p)[(dataStart + e.begin)..<(dataStart + e.end)]))
            }
            tensors.append(e.name, Tensor(shape: e.shape, scalars: scalars))
        }
        return (tensors, metadata)
    }

    /// Writes atomically: a temporary file in the same folder, flushed to disk, then renamed over `url`.
    public static func write(_ tensors: NamedTensors, metadata: [String: String] = [:], to url: URL) throws {
        let bytes = encode(tensors, metadata: metadata)
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw SafetensorsError(source: url.path, key: nil, problem: "cannot create a temporary file in \(folder.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: Data(bytes))
            try handle.synchronize()
            try handle.close()
            if rename(temporary.path, url.path) != 0 {
                throw SafetensorsError(source: url.path, key: nil, problem: "cannot rename the temporary file into place (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// Reads a file written by any safetensors implementation: a regular file of at most
    /// ``maximumFileSize`` bytes (checked before reading), decoded as by ``decode(_:source:convertingToFloat32:)``.
    public static func read(from url: URL, convertingToFloat32: Bool = false) throws -> (tensors: NamedTensors, metadata: [String: String]) {
        func fail(_ problem: String) -> SafetensorsError { SafetensorsError(source: url.path, key: nil, problem: problem) }
        var status = stat()
        guard stat(url.path, &status) == 0 else { throw fail("cannot read the file (\(String(cString: strerror(errno))))") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw fail("is not a regular file") }
        guard status.st_size <= maximumFileSize else {
            throw fail("holds \(status.st_size) bytes, more than the limit of \(maximumFileSize) (Safetensors.maximumFileSize)")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw fail("cannot read the file (\(error.localizedDescription))") }
        return try decode([UInt8](data), source: url.path, convertingToFloat32: convertingToFloat32)
    }

    private static func integers(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in values {
            guard let n = v as? NSNumber else { return nil }
            let d = n.doubleValue
            guard d == d.rounded(), Swift.abs(d) <= 9e15 else { return nil }
            out.append(Int(d))
        }
        return out
    }

    private static func jsonString(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }

    enum DType: String, CaseIterable {
        case f32 = "F32", f64 = "F64", f16 = "F16", bf16 = "BF16", i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

        var size: Int {
            switch self {
            case .f64, .i64: return 8
            case .f32, .i32: return 4
            case .f16, .bf16, .i16: return 2
            case .i8, .u8, .bool: return 1
            }
        }

        func decode(_ raw: UnsafeRawBufferPointer) -> [Float] {
            let n = raw.count / size
            return (0..<n).map { i in
                let o = i * size
                func u(_ k: Int) -> UInt64 { UInt64(raw[o + k]) }
                func bits(_ bytes: Int) -> UInt64 { (0..<bytes).reduce(0) { $0 | u($1) << (8 * UInt64($1)) } }
                switch self {
                case .f32: return Float(bitPattern: UInt32(bits(4)))
                case .f64: return Float(Double(bitPattern: bits(8)))
                case .f16: return Float(Float16(bitPattern: UInt16(bits(2))))
                case .bf16: return Float(bitPattern: UInt32(bits(2)) << 16)
                case .i64: return Float(Int64(bitPattern: bits(8)))
                case .i32: return Float(Int32(bitPattern: UInt32(bits(4))))
                case .i16: return Float(Int16(bitPattern: UInt16(bits(2))))
                case .i8: return Float(Int8(bitPattern: UInt8(bits(1))))
                case .u8: return Float(UInt8(bits(1)))
                case .bool: return raw[o] == 0 ? 0 : 1
                }
            }
        }
    }
}

/// A safetensors file that cannot be read: names the file, the tensor and what is wrong.
public struct SafetensorsError: Error, CustomStringConvertible {
    public var source: String
    public var key: String?
    public var problem: String

    public var description: String {
        "\(source): " + (key.map { "tensor '\($0)': " } ?? "") + problem
    }
}
