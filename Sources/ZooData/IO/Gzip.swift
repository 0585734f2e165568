import CZlib

/// Decompression through Debian's zlib.
public enum Gzip {
    /// Whether `bytes` start with the gzip magic number 1f 8b.
    public static func isGzip(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b }

    /// The contents of a gzip stream (concatenated members included).
    public static func decompress(_ bytes: [UInt8], source: String) throws -> [UInt8] {
        try inflate(bytes, windowBits: 16 + 15, source: source, format: "gzip")
    }

    /// The contents of a raw deflate stream (as in zip entries), expecting `expectedSize` bytes.
    public static func inflateRaw(_ bytes: [UInt8], expectedSize: Int, source: String) throws -> [UInt8] {
        let out = try inflate(bytes, windowBits: -15, source: source, format: "deflate", sizeHint: expectedSize)
        guard out.count == expectedSize else {
            throw DataFileError(file: source, problem: "deflate stream holds \(out.count) bytes, expected \(expectedSize)")
        }
        return out
    }

    private static func inflate(_ bytes: [UInt8], windowBits: Int32, source: String, format: String, sizeHint: Int? = nil) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DataFileError(file: source, problem: "cannot start zlib")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8]()
        out.reserveCapacity(sizeHint ?? bytes.count * 4)
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var input = bytes
        return try input.withUnsafeMutableBufferPointer { pin in
            stream.next_in = pin.baseAddress
            stream.avail_in = UInt32(pin.count)
            while true {
                let status: Int32 = buffer.withUnsafeMutableBufferPointer { pout in
                    stream.next_out = pout.baseAddress
                    stream.avail_out = UInt32(chunk)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk - Int(stream.avail_out)
                out.append(contentsOf: buffer[0..<produced])
                switch status {
                case Z_STREAM_END:
                    // A gzip file may hold several members one after another.
                    if windowBits > 15 && stream.avail_in > 0 {
                        guard inflateReset(&stream) == Z_OK else { throw DataFileError(file: source, problem: "corrupt \(format) data") }
                        continue
                    }
                    return out
                case Z_OK:
                    if stream.avail_in == 0 && produced == 0 {
                        throw DataFileError(file: source, problem: "truncated \(format) data (ends after \(out.count) decompressed bytes)")
                    }
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw DataFileError(file: source, problem: "truncated \(format) data (ends after \(out.count) decompressed bytes)")
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw DataFileError(file: source, problem: "corrupt \(format) data: \(message)")
                }
            }
        }
    }
}
