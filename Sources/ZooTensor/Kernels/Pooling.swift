/// Which input positions of one `H × W` plane each output position of a pooling reads, and the
/// divisor of an average over them. Stored flat (compressed rows) and shared by every plane.
package struct PoolingPlan: Sendable {
    let inputHeight, inputWidth, outputHeight, outputWidth: Int
    /// Window `o` is `offsets[starts[o] ..< starts[o + 1]]` (offsets within the plane, `y·W + x`).
    let starts: [Int]
    let offsets: [Int32]
    let divisors: [Float]
    /// Non-overlapping 2×2 windows with stride 2 and no padding (the common max pool), which the
    /// kernels handle without the offset tables.
    var isPairs = false

    var inputPlane: Int { inputHeight * inputWidth }
    var outputPlane: Int { outputHeight * outputWidth }

    /// A sliding window: kernel `kh × kw`, stride, zero padding; an average divides by `kh·kw`
    /// (zeros of the padding count, PyTorch's default `count_include_pad=True`).
    static func sliding(height h: Int, width w: Int, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)) -> PoolingPlan {
        let oh = (h + 2 * padding.0 - kernel.0) / stride.0 + 1, ow = (w + 2 * padding.1 - kernel.1) / stride.1 + 1
        var plan = make(h, w, oh, ow, divisor: { _, _ in Float(kernel.0 * kernel.1) }) { oy, ox in
            (oy * stride.0 - padding.0, oy * stride.0 - padding.0 + kernel.0, ox * stride.1 - padding.1, ox * stride.1 - padding.1 + kernel.1)
        }
        plan.isPairs = kernel == (2, 2) && stride == (2, 2) && padding == (0, 0)
        return plan
    }

    /// Adaptive pooling to `oh × ow`: window i spans `⌊i·H/oh⌋ ..< ⌈(i+1)·H/oh⌉` (PyTorch's rule).
    static func adaptive(height h: Int, width w: Int, output: (Int, Int)) -> PoolingPlan {
        let (oh, ow) = output
        func span(_ i: Int, _ n: Int, _ o: Int) -> (Int, Int) { (i * n / o, ((i + 1) * n + o - 1) / o) }
        return make(h, w, oh, ow, divisor: { count, _ in Float(count) }) { oy, ox in
            let (y0, y1) = span(oy, h, oh), (x0, x1) = span(ox, w, ow)
            return (y0, y1, x0, x1)
        }
    }

    private static func make(_ h: Int, _ w: Int, _ oh: Int, _ ow: Int, divisor: (Int, Int) -> Float,
                             window: (Int, Int) -> (Int, Int, Int, Int)) -> PoolingPlan {
        var starts = [0], offsets: [Int32] = [], divisors: [Float] = []
        starts.reserveCapacity(oh * ow + 1)
        for oy in 0..<oh {
            for ox in 0..<ow {
                let (y0, y1, x0, x1) = window(oy, ox)
                var count = 0
                for y in max(y0, 0)..<min(y1, h) {
                    for x in max(x0, 0)..<min(x1, w) {
                        offsets.append(Int32(y * w + x))
                        count += 1
                    }
                }
                starts.append(offsets.count)
                divisors.append(divisor(count, (y1 - y0) * (x1 - x0)))
            }
        }
        return PoolingPlan(inputHeight: h, inputWidth: w, outputHeight: oh, outputWidth: ow, starts: starts, offsets: offsets, divisors: divisors)
    }
}

enum PoolingKernels {
    /// For every plane and window, the flat input index of the maximum (the first on ties), and
    /// the maximum.
    static func argmax(_ x: [Float], planes: Int, _ plan: PoolingPlan) -> (indices: [Int32], values: [Float]) {
        if plan.isPairs { return pairArgmax(x, planes: planes, plan) }
        var out = [Int32](repeating: 0, count: planes * plan.outputPlane)
        x.withUnsafeBufferPointer { px in
            plan.offsets.withUnsafeBufferPointer { off in
                for p in 0..<planes {
                    let base = p * plan.inputPlane
                    for o in 0..<plan.outputPlane {
                        let s = plan.starts[o], e = plan.starts[o + 1]
                        var best = Int(off[s]), bestValue = px[base + best]
                        for i in (s + 1)..<max(e, s + 1) where px[base + Int(off[i])] > bestValue {
                            best = Int(off[i])
                            bestValue = px[base + best]
                        }
                        out[p * plan.outputPlane + o] = Int32(base + best)
                    }
                }
            }
        }
        let values = x.withUnsafeBufferPointer { px in out.map { px[Int($0)] } }
        return (out, values)
    }

    /// ``argmax(_:planes:_:)`` for 2×2 windows with stride 2: four comparisons in window order
    /// (top-left, top-right, bottom-left, bottom-right) in vectors (`loops.h`), blocks of planes
    /// over Zoo's threads.
    private static func pairArgmax(_ x: [Float], planes: Int, _ plan: PoolingPlan) -> (indices: [Int32], values: [Float]) {
        guard planes > 0 else { return ([], []) }
        var maxima: [Float] = []
        let indices = [Int32](unsafeUninitializedCapacity: planes * plan.outputPlane) { pi, initialized in
            maxima = pairMaxima(x, planes: planes, plan, indices: pi.baseAddress!)
            initialized = pi.count
        }
        return (indices, maxima)
    }

    /// The maximum of each window without its position (no gradient to route), for the 2×2
    /// windows of stride 2 in vectors and every other plan through ``argmax(_:planes:_:)``.
    static func maxima(_ x: [Float], planes: Int, _ plan: PoolingPlan) -> [Float] {
        plan.isPairs ? pairMaxima(x, planes: planes, plan, indices: nil) : argmax(x, planes: planes, plan).values
    }

    /// The maxima of 2×2 windows of stride 2, and their flat positions into `indices` when given.
    private static func pairMaxima(_ x: [Float], planes: Int, _ plan: PoolingPlan, indices: UnsafeMutablePointer<Int32>?) -> [Float] {
        let (h, w, oh, ow) = (plan.inputHeight, plan.inputWidth, plan.outputHeight, plan.outputWidth)
        let inPlane = plan.inputPlane, outPlane = plan.outputPlane, kernel = BLAS.loops.max_pool_pairs!
        guard planes > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: planes * outPlane) { pm, initialized in
            x.withUnsafeBufferPointer { px in
                let (src, top) = (px.baseAddress!, pm.baseAddress!)
                forPlaneBlocks(planes, work: planes * inPlane) { p0, count in
                    kernel(src + p0 * inPlane, count, h, w, oh, ow, Int32(truncatingIfNeeded: p0 * inPlane), top + p0 * outPlane,
                           indices.map { $0 + p0 * outPlane })
                }
            }
            initialized = pm.count
        }
    }

    /// The gradient of a pair max pool (``argmax(_:planes:_:)`` with `plan.isPairs`): each
    /// window's output gradient at its maximum, zeros elsewhere; the same as adding `g` into
    /// zeros at `indices` (windows do not overlap), written in one pass (`loops.h`).
    static func pairScatter(_ g: [Float], _ indices: [Int32], planes: Int, _ plan: PoolingPlan) -> [Float] {
        let (h, w, oh, ow) = (plan.inputHeight, plan.inputWidth, plan.outputHeight, plan.outputWidth)
        let inPlane = plan.inputPlane, outPlane = plan.outputPlane, kernel = BLAS.loops.max_unpool_pairs!
        guard planes > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: planes * inPlane) { pd, initialized in
            g.withUnsafeBufferPointer { pg in
                indices.withUnsafeBufferPointer { pi in
                    forPlaneBlocks(planes, work: planes * inPlane) { p0, count in
                        kernel(pg.baseAddress! + p0 * outPlane, pi.baseAddress! + p0 * outPlane, count, h, w, oh, ow,
                               Int32(truncatingIfNeeded: p0 * inPlane), pd.baseAddress! + p0 * inPlane)
                    }
                }
            }
            initialized = pd.count
        }
    }

    /// `body(first plane, planes)` for up to 64 blocks of consecutive planes, over Zoo's threads.
    private static func forPlaneBlocks(_ planes: Int, work: Int, _ body: (Int, Int) -> Void) {
        let blocks = min(planes, 64), perBlock = (planes + blocks - 1) / blocks
        BLAS.parallelFor(blocks, work: work) { b, _ in
            let p0 = min(planes, b * perBlock), count = min(planes, (b + 1) * perBlock) - p0
            if count > 0 { body(p0, count) }
        }
    }

    /// The average over each window.
    static func average(_ x: [Float], planes: Int, _ plan: PoolingPlan) -> [Float] {
        var out = [Float](repeating: 0, count: planes * plan.outputPlane)
        x.withUnsafeBufferPointer { px in
            plan.offsets.withUnsafeBufferPointer { off in
                for p in 0..<planes {
                    let base = p * plan.inputPlane
                    for o in 0..<plan.outputPlane {
                        var s: Float = 0
                        for i in plan.starts[o]..<plan.starts[o + 1] { s += px[base + Int(off[i])] }
                        out[p * plan.outputPlane + o] = s / plan.divisors[o]
                    }
                }
            }
        }
        return out
    }

    /// The adjoint of ``average(_:planes:_:)``: each window spreads its value / divisor back.
    static func averageTranspose(_ g: [Float], planes: Int, _ plan: PoolingPlan) -> [Float] {
        var out = [Float](repeating: 0, count: planes * plan.inputPlane)
        g.withUnsafeBufferPointer { pg in
            plan.offsets.withUnsafeBufferPointer { off in
                for p in 0..<planes {
                    let base = p * plan.inputPlane
                    for o in 0..<plan.outputPlane {
                        let v = pg[p * plan.outputPlane + o] / plan.divisors[o]
                        for i in plan.starts[o]..<plan.starts[o + 1] { out[base + Int(off[i])] += v }
                    }
                }
            }
        }
        return out
    }
}
