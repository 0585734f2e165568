import Foundation

/// A key for counter-based random numbers: element `i` of a draw depends only on
/// (seed, stream, i), never on the order in which threads run or on earlier draws.
///
/// The generator is Philox-4×32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as
/// 1, 2, 3"): the 64-bit seed is the key, and the 128-bit counter is (element block, stream).
/// Derive independent keys for parts of a program with ``derived(_:)-(String)``: a layer's
/// parameters, a data shuffle per epoch, dropout per step.
public struct RandomKey: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The user's seed.
    public var seed: UInt64
    /// The stream: independent sequences under one seed.
    public var stream: UInt64

    public init(seed: UInt64, stream: UInt64 = 0) {
        self.seed = seed
        self.stream = stream
    }

    public var description: String { "RandomKey(seed: \(seed), stream: \(stream))" }

    /// A key for a named part of the program: the same name always gives the same stream.
    public func derived(_ label: String) -> RandomKey {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a over the UTF-8 bytes
        for byte in label.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return RandomKey(seed: seed, stream: Self.mix(stream ^ Self.mix(h)))
    }

    /// A key for the `index`-th item of something (an epoch, a step, a member).
    public func derived(_ index: Int) -> RandomKey {
        RandomKey(seed: seed, stream: Self.mix(stream &+ 0x9e37_79b9_7f4a_7c15 &* UInt64(bitPattern: Int64(index) &+ 1)))
    }

    /// SplitMix64's finalizer: a bijective mix of 64 bits.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The four 32-bit words of counter block `block`.
    @inline(__always)
    func block(_ block: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: block), c1 = UInt32(truncatingIfNeeded: block >> 32)
        var c2 = UInt32(truncatingIfNeeded: stream), c3 = UInt32(truncatingIfNeeded: stream >> 32)
        var k0 = UInt32(truncatingIfNeeded: seed), k1 = UInt32(truncatingIfNeeded: seed >> 32)
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
            k0 &+= 0x9E37_79B9
            k1 &+= 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    /// 32 random bits for element `i`.
    @inline(__always)
    func bits(_ i: Int) -> UInt32 {
        let b = block(UInt64(i >> 2))
        switch i & 3 {
        case 0: return b.0
        case 1: return b.1
        case 2: return b.2
        default: return b.3
        }
    }

    /// `count` uniform numbers in [0, 1), each with 24 random bits.
    public func uniform(count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, n in
            var i = 0
            while i < count {
                let b = block(UInt64(i >> 2))
                let words = [b.0, b.1, b.2, b.3]
                for j in 0..<Swift.min(4, count - i) { out[i + j] = Float(words[j] >> 8) * 0x1p-24 }
                i += 4
            }
            n = count
        }
    }

    /// `count` standard normal numbers (Box–Muller on pairs of uniforms).
    public func normal(count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, n in
            var i = 0
            while i < count {
                let b = block(UInt64(i >> 1))
                for (j, (x, y)) in [(b.0, b.1), (b.2, b.3)].enumerated() where i + j < count {
                    // u1 in (0, 1] keeps the logarithm finite; the angle uses u2 in [0, 1).
                    let u1 = Double((x >> 8) + 1) * 0x1p-24, u2 = Double(y >> 8) * 0x1p-24
                    out[i + j] = Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
                }
                i += 2
            }
            n = count
        }
    }

    /// A uniformly random permutation of `0..<n` (Fisher–Yates with one draw per position).
    public func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        guard n > 1 else { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let b = block(UInt64(i))
            let r = (UInt64(b.0) << 32 | UInt64(b.1)) % UInt64(i + 1)
            p.swapAt(i, Int(r))
        }
        return p
    }
}
