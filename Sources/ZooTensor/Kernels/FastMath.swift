/// Vectorizable Float exponential and hyperbolic tangent (the activations' hot loops; glibc's
/// scalar `tanhf` was a third of a zoo-cnn training step). Both keep NaN and ±∞ behaviour, so
/// divergence still shows in the loss.
enum FastMath {
    /// e^x with a relative error below 3e-7: x = k·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split in two
    /// parts, Cody–Waite), e^r by its degree-7 Taylor polynomial, 2^k through the exponent bits.
    /// Inputs are clamped to [−87.3, 88.3]: tiny results are ~1e-38 rather than 0 or subnormal.
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        let c = x.isNaN ? 0 : Swift.min(Swift.max(x, -87.3), 88.3)
        // Adding 1.5·2²³ rounds to an integer held in the low mantissa bits (no trapping conversion).
        let shifted = c * 1.442_695_04 + 12_582_912
        let k = shifted - 12_582_912
        let r = (c - k * 0.693_145_751_953_125) - k * 1.428_606_765_330_187e-6
        var p: Float = 1.0 / 5040
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let scale = Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) << 23)
        let y = p * scale
        return x.isNaN ? x : (x > 88.7 ? .infinity : y)
    }

    /// tanh x with a relative error below 1e-6: an odd Taylor polynomial to x¹¹ for |x| < 1/4,
    /// else sign(x) · (1 − 2 / (e^{2|x|} + 1)).
    @inline(__always)
    static func tanh(_ x: Float) -> Float {
        let a = Swift.abs(x), x2 = x * x
        var p: Float = -1382.0 / 155_925
        p = p * x2 + 62.0 / 2835
        p = p * x2 - 17.0 / 315
        p = p * x2 + 2.0 / 15
        p = p * x2 - 1.0 / 3
        let small = x + x * x2 * p
        let e = exp(Swift.min(2 * a, 40))
        let large = 1 - 2 / (e + 1)
        let result = a < 0.25 ? small : (x < 0 ? -large : large)
        return x.isNaN ? x : result
    }

    /// 1 / (1 + e^−x), accurate on both tails.
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        let e = exp(-Swift.abs(x))
        let s = 1 / (1 + e)
        return x.isNaN ? x : (x >= 0 ? s : e * s)
    }

    // Whole-buffer loops, written out: a function passed as a closure stays an opaque call per
    // element, which the compiler does not vectorize.

    static func tanh(_ a: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: a.count) { out, n in
            a.withUnsafeBufferPointer { pa in
                guard let src = pa.baseAddress, let dst = out.baseAddress else { return }
                for i in 0..<pa.count { dst[i] = tanh(src[i]) }
            }
            n = a.count
        }
    }

    static func sigmoid(_ a: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: a.count) { out, n in
            a.withUnsafeBufferPointer { pa in
                guard let src = pa.baseAddress, let dst = out.baseAddress else { return }
                for i in 0..<pa.count { dst[i] = sigmoid(src[i]) }
            }
            n = a.count
        }
    }
}

/// Float reductions over vectors of 8 with four independent running sums (a plain `+=` loop is
/// one dependent add per element: the compiler may not reorder float additions, so it cannot
/// vectorize it; one vector sum is still a chain of dependent adds, four keep the adder busy).
package enum Reduce {
    /// Runs `step(&accumulator, i)` for the vectors at i = 0, 8, 16, … (four accumulators in
    /// turn), then adds `scalar(i)` for the elements past the last whole vector.
    @inline(__always)
    private static func reduce(_ n: Int, _ step: (inout SIMD8<Float>, Int) -> Void, _ scalar: (Int) -> Float) -> Float {
        var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
        var i = 0
        while i &+ 32 <= n {
            step(&a0, i); step(&a1, i &+ 8); step(&a2, i &+ 16); step(&a3, i &+ 24)
            i &+= 32
        }
        while i &+ 8 <= n {
            step(&a0, i)
            i &+= 8
        }
        var s = ((a0 + a1) + (a2 + a3)).sum()
        while i < n {
            s += scalar(i)
            i &+= 1
        }
        return s
    }

    @inline(__always)
    private static func load(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
    }

    /// Σ p[0 ..< n].
    @inline(__always)
    package static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        reduce(n, { $0 += load(p, $1) }, { p[$0] })
    }

    /// Σ a[i] · b[i] over `0 ..< n`.
    @inline(__always)
    package static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        reduce(n, { $0.addProduct(load(a, $1), load(b, $1)) }, { a[$0] * b[$0] })
    }

    /// Σ a[i] · (b[i] − shift) over `0 ..< n` (a centered dot product, without cancellation).
    @inline(__always)
    package static func centeredDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, shift: Float, _ n: Int) -> Float {
        let m = SIMD8<Float>(repeating: shift)
        return reduce(n, { $0.addProduct(load(a, $1), load(b, $1) - m) }, { a[$0] * (b[$0] - shift) })
    }

    /// Σ (a[i] − shift)² over `0 ..< n`.
    @inline(__always)
    package static func centeredSquares(_ a: UnsafePointer<Float>, shift: Float, _ n: Int) -> Float {
        let m = SIMD8<Float>(repeating: shift)
        return reduce(n, { let d = load(a, $1) - m; $0.addProduct(d, d) }, { let d = a[$0] - shift; return d * d })
    }
}
