import CZooKernels

/// Batch norm's two element passes, in C for the kernel path (`CZooKernels/loops.h`): the output
/// (a residual and a ReLU fused in) and the input gradient. Every operation rounds (no fused
/// multiply-add), so each path gives the bits of the expressions written out.
package enum NormalizationLoops {
    /// y[i] = (x[i] − mean) · scale + shift, plus residual[i] when given, then max(·, 0) as
    /// `Swift.max(v, 0)` takes it when `relu`, for i < n.
    @inline(__always)
    package static func normalize(_ x: UnsafePointer<Float>, residual: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, _ n: Int,
                                  mean: Float, scale: Float, shift: Float, relu: Bool) {
        BLAS.loops.normalize(x, residual, y, n, mean, scale, shift, relu)
    }

    /// dx[i] = k · ((gm[i] − meanG) − (x[i] − mean) · inv · meanGX) for i < n, gm[i] = g[i] ·
    /// (mask[i] > 0 ? 1 : 0), or g[i] without a mask.
    @inline(__always)
    package static func inputGradient(_ g: UnsafePointer<Float>, mask: UnsafePointer<Float>?, _ x: UnsafePointer<Float>,
                                      into dx: UnsafeMutablePointer<Float>, _ n: Int,
                                      k: Float, meanG: Float, mean: Float, inv: Float, meanGX: Float) {
        BLAS.loops.normalize_gradient(g, mask, x, dx, n, k, meanG, mean, inv, meanGX)
    }
}
