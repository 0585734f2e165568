import CZooKernels

/// Vectorized Float hyperbolic tangent and logistic function over whole buffers
/// (the activations' hot loops; glibc's scalar `tanhf` was a third of a zoo-cnn training step),
/// in C, compiled for the kernel path (`CZooKernels/loops.h`). sigmoid goes through an e^x with a
/// relative error below 3e-7 (tiny results are ~1e-38 rather than 0); tanh is m/(m + 2) with
/// m = e^{2|x|} − 1 computed without cancellation, within 2.5 ulp. NaN and ±∞ behave as in libm,
/// so divergence still shows in the loss.
enum FastMath {
    static func tanh(_ a: [Float]) -> [Float] { map(a, BLAS.loops.tanh) }
    static func sigmoid(_ a: [Float]) -> [Float] { map(a, BLAS.loops.sigmoid) }

    private static func map(_ a: [Float], _ f: (@convention(c) (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void)?) -> [Float] {
        let f = f!
        return [Float](unsafeUninitializedCapacity: a.count) { out, n in
            a.withUnsafeBufferPointer { pa in
                Elementwise.chunked(pa.count) { start, count in f(pa.baseAddress! + start, out.baseAddress! + start, count) }
            }
            n = a.count
        }
    }
}

/// Float reductions in 8-lane vectors with four independent running sums (a plain `+=` loop is
/// one dependent add per element: the compiler may not reorder float additions, so it cannot
/// vectorize it; one vector sum is still a chain of dependent adds, four keep the adder busy),
/// in C for the kernel path (`CZooKernels/loops.h`).
package enum Reduce {
    /// Σ p[0 ..< n].
    @inline(__always)
    package static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float { BLAS.loops.sum(p, n) }

    /// (Σ gm[i], Σ gm[i] · (x[i] − shift)) over `0 ..< n` in one pass, gm[i] = g[i] · (mask[i] > 0 ?
    /// 1 : 0), or g[i] without a mask: batch norm's backward sums, masked by a ReLU after it.
    @inline(__always)
    package static func maskedSums(_ g: UnsafePointer<Float>, mask: UnsafePointer<Float>?, _ x: UnsafePointer<Float>, shift: Float,
                                   _ n: Int) -> (sum: Float, centeredDot: Float) {
        var sums: (Float, Float) = (0, 0)
        withUnsafeMutableBytes(of: &sums) { BLAS.loops.masked_sums(g, mask, x, shift, n, $0.baseAddress!.assumingMemoryBound(to: Float.self)) }
        return sums
    }

    /// Σ (a[i] − shift)² over `0 ..< n`.
    @inline(__always)
    package static func centeredSquares(_ a: UnsafePointer<Float>, shift: Float, _ n: Int) -> Float {
        BLAS.loops.centered_squares(a, shift, n)
    }
}
