import CZlib

/// SplitMix64 (Steele et al. 2014): a small seeded generator, so that a run can be repeated.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<n (n > 0).
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Mutations of valid files: bit flips, interesting values, byte insertions and deletions,
/// truncations, duplicated ranges, splices with another seed and dictionary tokens, one to
/// eight at a time. A gzip seed is also mutated inside: inflated, mutated and compressed again,
/// so that the decompressed bytes (an IDX header, say) are fuzzed and not only the stream.
/// For a text format, most new bytes are printable ASCII, so that most inputs stay UTF-8.
struct Mutator {
    let seeds: [[UInt8]]
    let dictionary: [[UInt8]]
    let text: Bool

    /// A random byte; for text, printable ASCII, a newline or a space nine times in ten.
    func byte(_ r: inout SplitMix64) -> UInt8 {
        let b = UInt8(truncatingIfNeeded: r.next())
        guard text, r.below(10) != 0 else { return b }
        return r.below(8) == 0 ? [0x0a, 0x20][r.below(2)] : 0x21 + b % 94
    }

    /// A bit to flip; for text, one of the low seven nine times in ten.
    func bit(_ r: inout SplitMix64) -> UInt8 { 1 << UInt8(r.below(text && r.below(10) != 0 ? 7 : 8)) }

    /// Values that sit on the edges of sizes and signs, little- and big-endian.
    static let interesting: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
                                        0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF]

    func mutate(_ seed: [UInt8], _ r: inout SplitMix64) -> [UInt8] {
        if seed.starts(with: [0x1f, 0x8b]), r.below(2) == 0, let inner = gunzip(seed) {
            return gzip(mutateBytes(inner, &r))
        }
        return mutateBytes(seed, &r)
    }

    func mutateBytes(_ seed: [UInt8], _ r: inout SplitMix64) -> [UInt8] {
        var b = seed
        let rounds = r.below(4) == 0 ? 1 + r.below(8) : 1 + r.below(3)
        for _ in 0..<rounds {
            let at = b.isEmpty ? 0 : r.below(b.count)
            switch r.below(10) {
            case 0 where !b.isEmpty:  // flip a bit
                b[at] ^= bit(&r)
            case 1 where !b.isEmpty:  // set a byte to an interesting or random value
                b[at] = r.below(2) == 0 && !text ? UInt8(truncatingIfNeeded: Self.interesting[r.below(Self.interesting.count)]) : byte(&r)
            case 2 where b.count >= 8 && !text:  // overwrite 2, 4 or 8 bytes with an interesting integer
                let width = [2, 4, 8][r.below(3)], o = r.below(b.count - width + 1)
                let v = Self.interesting[r.below(Self.interesting.count)], bigEndian = r.below(2) == 0
                for k in 0..<width { b[o + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(bigEndian ? width - 1 - k : k))) }
            case 3:  // insert random bytes
                b.insert(contentsOf: (0..<(1 + r.below(16))).map { _ in byte(&r) }, at: at)
            case 4 where !b.isEmpty:  // delete a range
                b.removeSubrange(at..<min(b.count, at + 1 + r.below(64)))
            case 5:  // truncate
                b = Array(b.prefix(b.isEmpty ? 0 : r.below(b.count)))
            case 6 where !b.isEmpty:  // duplicate a range somewhere else
                let chunk = Array(b[at..<min(b.count, at + 1 + r.below(256))])
                b.insert(contentsOf: chunk, at: r.below(b.count + 1))
            case 7:  // splice: this file's start, another seed's end
                let other = seeds[r.below(seeds.count)]
                b = Array(b.prefix(at)) + Array(other.suffix(other.isEmpty ? 0 : r.below(other.count)))
            case 8 where !dictionary.isEmpty:  // insert or overwrite with a token
                let token = dictionary[r.below(dictionary.count)]
                if r.below(2) == 0 || b.count < token.count { b.insert(contentsOf: token, at: at) } else {
                    let o = min(at, b.count - token.count)
                    b.replaceSubrange(o..<(o + token.count), with: token)
                }
            default:  // replace a decimal number by another (text formats) or flip a bit
                if let range = number(in: b, near: at) {
                    let v = [0, 1, 2, 7, 255, 256, 65536, Int(Int32.max), Int(UInt32.max), Int.max, -1][r.below(11)]
                    b.replaceSubrange(range, with: Array(String(v).utf8))
                } else if !b.isEmpty {
                    b[at] ^= bit(&r)
                }
            }
        }
        return b
    }

    /// The digits of the first decimal number at or after `start`.
    func number(in b: [UInt8], near start: Int) -> Range<Int>? {
        guard let first = b[start...].firstIndex(where: { $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let end = b[first...].firstIndex { $0 < 0x30 || $0 > 0x39 } ?? b.count
        return first..<end
    }

    /// The contents of a small gzip stream (nil if it is not one or holds more than 16 MB).
    func gunzip(_ bytes: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, 31, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var input = bytes, out = [UInt8](repeating: 0, count: 1 << 24)
        let status = input.withUnsafeMutableBufferPointer { pin in
            out.withUnsafeMutableBufferPointer { pout in
                stream.next_in = pin.baseAddress
                stream.avail_in = UInt32(pin.count)
                stream.next_out = pout.baseAddress
                stream.avail_out = UInt32(pout.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        return status == Z_STREAM_END ? Array(out.prefix(Int(stream.total_out))) : nil
    }

    /// `bytes` as a gzip stream.
    func gzip(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return bytes }
        defer { deflateEnd(&stream) }
        var input = bytes, out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
        input.withUnsafeMutableBufferPointer { pin in
            out.withUnsafeMutableBufferPointer { pout in
                stream.next_in = pin.baseAddress
                stream.avail_in = UInt32(pin.count)
                stream.next_out = pout.baseAddress
                stream.avail_out = UInt32(pout.count)
                _ = deflate(&stream, Z_FINISH)
            }
        }
        return Array(out.prefix(Int(stream.total_out)))
    }
}
