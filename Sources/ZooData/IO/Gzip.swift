import CZlib

/// Decompression through Debian's zlib, bounded: output beyond a limit stops the inflation
/// (a 1 MB stream can hold a gigabyte of zeros), so no more than `limit + 1` bytes are ever kept.
public enum Gzip {
    /// Whether `bytes` start with the gzip magic number 1f 8b.
    public static func isGzip(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b }

    /// The contents of a gzip stream (concatenated members included).
    /// - Parameters:
    ///   - limit: the most bytes accepted; inflation stops with an error as soon as the output exceeds it.
    ///   - limitReason: what the limit is, for the error (e.g. "the 47,040,016 bytes its IDX header declares").
    public static func decompress(_ bytes: [UInt8], source: String, limit: Int = DataLimits.maximumFileBytes,
                                  limitReason: String = "the limit of DataLimits.maximumFileBytes") throws -> [UInt8] {
        try inflate(bytes, windowBits: 16 + 15, source: source, format: "gzip", limit: limit, limitReason: limitReason)
    }

    /// The first `count` bytes of a gzip stream's contents (fewer if it holds fewer): a header,
    /// read without inflating the rest.
    public static func decompressPrefix(_ bytes: [UInt8], count: Int, source: String) throws -> [UInt8] {
        try inflate(bytes, windowBits: 16 + 15, source: source, format: "gzip", limit: count, limitReason: nil)
    }

    /// The contents of a raw deflate stream (as in zip entries), expecting `expectedSize` bytes
    /// and inflating no more than that.
    public static func inflateRaw(_ bytes: [UInt8], expectedSize: Int, source: String) throws -> [UInt8] {
        let out = try inflate(bytes, windowBits: -15, source: source, format: "deflate", limit: expectedSize,
                              limitReason: "the \(expectedSize) bytes the archive declares")
        guard out.count == expectedSize else {
            throw DataFileError(file: source, problem: "deflate stream holds \(out.count) bytes, expected \(expectedSize)")
        }
        return out
    }

    /// Inflates until the stream ends or the output passes `limit`: then throws, or with no
    /// `limitReason` returns the first `limit` bytes (and a truncated stream's bytes so far).
    private static func inflate(_ bytes: [UInt8], windowBits: Int32, source: String, format: String,
                                limit: Int, limitReason: String?) throws -> [UInt8] {
        let limit = max(0, limit)
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DataFileError(file: source, problem: "cannot start zlib")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8]()
        out.reserveCapacity(min(limit, bytes.count * 4))
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var input = bytes
        func truncated() throws -> [UInt8] {
            guard limitReason == nil else { throw DataFileError(file: source, problem: "truncated \(format) data (ends after \(out.count) decompressed bytes)") }
            return out
        }
        return try input.withUnsafeMutableBufferPointer { pin in
            stream.next_in = pin.baseAddress
            stream.avail_in = UInt32(pin.count)
            while true {
                // Never ask for more than one byte past the limit.
                let room = limit - out.count >= chunk ? chunk : limit - out.count + 1
                let status: Int32 = buffer.withUnsafeMutableBufferPointer { pout in
                    stream.next_out = pout.baseAddress
                    stream.avail_out = UInt32(room)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = room - Int(stream.avail_out)
                out.append(contentsOf: buffer[0..<produced])
                if out.count > limit {
                    guard let reason = limitReason else { return Array(out.prefix(limit)) }
                    throw DataFileError(file: source, problem: "\(format) data decompresses to more than \(reason) (stopped after \(limit + 1) bytes)")
                }
                switch status {
                case Z_STREAM_END:
                    // A gzip file may hold several members one after another.
                    if windowBits > 15 && stream.avail_in > 0 {
                        guard inflateReset(&stream) == Z_OK else { throw DataFileError(file: source, problem: "corrupt \(format) data") }
                        continue
                    }
                    return out
                case Z_OK:
                    if stream.avail_in == 0 && produced == 0 { return try truncated() }
                case Z_BUF_ERROR where stream.avail_in == 0:
                    return try truncated()
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw DataFileError(file: source, problem: "corrupt \(format) data: \(message)")
                }
            }
        }
    }
}
