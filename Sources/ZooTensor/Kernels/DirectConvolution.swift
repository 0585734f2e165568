/// Direct convolution kernels for stride 1 without padding or dilation — the small convolutions
/// of the model-zoo networks — with explicit 8-wide vectors: no column matrix, no GEMM. (With
/// Zoo's AVX2 or AVX-512 kernels, ``WideConvolution`` runs instead.)
///
/// A register tile is 8 output channels × 8 adjacent output columns of one output row: each input
/// vector loaded is multiplied into all 8 channels (their weights packed side by side), so the
/// work is fused multiply-adds on registers. Output rows need at least 8 columns.
enum DirectConvolution {
    typealias V = SIMD8<Float>

    /// Whether these kernels apply to `g` (otherwise im2col + GEMM does): output rows of a
    /// multiple of 8 columns (for a ragged end, overlapping vectors were tried: slower than GEMM).
    static func applies(_ g: ConvGeometry) -> Bool {
        g.strideH == 1 && g.strideW == 1 && g.padH == 0 && g.padW == 0 && g.dilationH == 1 && g.dilationW == 1
            && g.outWidth >= 8 && g.outWidth % 8 == 0
    }

    /// Weights of output channels `o0 ..< o0 + 8` of one (member, group), packed as
    /// `[(c·kh + ki)·kw + kj][8]`, zero for channels past the group's end.
    private static func pack(_ w: UnsafePointer<Float>, _ g: ConvGeometry, member: Int, group: Int, firstChannel o0: Int,
                             into packed: UnsafeMutablePointer<Float>) {
        let og = g.outChannels / g.groups, taps = g.patchSize
        let base = w + (member * g.groups + group) * og * taps
        for t in 0..<taps {
            for i in 0..<8 { packed[t &* 8 &+ i] = o0 + i < og ? base[(o0 + i) * taps + t] : 0 }
        }
    }

    /// Every (member, group, block of 8 output channels)'s weights packed (``pack``), block
    /// `(mg·blocks + b)` at `(mg·blocks + b)·taps·8`; the caller deallocates.
    static func packedWeights(_ w: [Float], _ g: ConvGeometry) -> UnsafeMutablePointer<Float> {
        let blocks = (g.outChannels / g.groups + 7) / 8, taps = g.patchSize
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: g.members * g.groups * blocks * taps * 8)
        w.withUnsafeBufferPointer { pw in
            for mg in 0..<g.members * g.groups {
                for b in 0..<blocks {
                    pack(pw.baseAddress!, g, member: mg / g.groups, group: mg % g.groups, firstChannel: b * 8,
                         into: packed + (mg * blocks + b) * taps * 8)
                }
            }
        }
        return packed
    }

    /// y = conv(x, w) without bias; samples (per member and group) over Zoo's threads.
    /// With `bias` (`[M·O]`, member-major), the accumulators start from it: conv + bias in one pass.
    static func forward(_ x: [Float], _ w: [Float], _ g: ConvGeometry, bias: [Float]? = nil) -> [Float] {
        var y = [Float](repeating: 0, count: g.outputShape.elementCount)
        let og = g.outChannels / g.groups, blocks = (og + 7) / 8, taps = g.patchSize
        let items = g.members * g.groups * g.batch
        let packed = packedWeights(w, g)
        defer { packed.deallocate() }
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                let (xs, ys) = (px.baseAddress!, py.baseAddress!)
                BLAS.parallelFor(items, work: py.count * taps) { i, _ in
                    let n = i % g.batch, mg = i / g.batch, member = mg / g.groups, group = mg % g.groups
                    let sample = member * g.batch + n
                    let input = xs + (sample * g.inChannels + group * (g.inChannels / g.groups)) * g.height * g.width
                    for b in 0..<blocks {
                        let output = ys + (sample * g.outChannels + group * og + b * 8) * g.outHeight * g.outWidth
                        let channels = min(8, og - b * 8)
                        var start = (V(), V(), V(), V(), V(), V(), V(), V())
                        if let bias {
                            let o0 = member * g.outChannels + group * og + b * 8
                            func at(_ i: Int) -> V { i < channels ? V(repeating: bias[o0 + i]) : V() }
                            start = (at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7))
                        }
                        tile(input, packed + (mg * blocks + b) * taps * 8, g, channels: channels, start: start, into: output)
                    }
                }
            }
        }
        return y
    }

    /// One sample, one block of up to 8 output channels: every output row in 8-column vectors.
    @inline(__always)
    private static func tile(_ x: UnsafePointer<Float>, _ pk: UnsafePointer<Float>, _ g: ConvGeometry, channels: Int,
                             start: (V, V, V, V, V, V, V, V), into y: UnsafeMutablePointer<Float>) {
        let (h, w, oh, ow, kh, kw) = (g.height, g.width, g.outHeight, g.outWidth, g.kernelHeight, g.kernelWidth)
        let cg = g.inChannels / g.groups, plane = oh &* ow
        let raw = UnsafeRawPointer(x)
        for oy in 0..<oh {
            // Vectors at 0, 8, 16, … (``applies(_:)``: 8 divides OW).
            var ox = 0
            while ox < ow {
                var (a0, a1, a2, a3, a4, a5, a6, a7) = start
                var t = 0
                for c in 0..<cg {
                    for ki in 0..<kh {
                        let row = ((c &* h &+ oy &+ ki) &* w &+ ox) &* 4
                        for kj in 0..<kw {
                            let v = raw.loadUnaligned(fromByteOffset: row &+ kj &* 4, as: V.self)
                            let k = pk + t &* 8
                            a0 += v * V(repeating: k[0]); a1 += v * V(repeating: k[1])
                            a2 += v * V(repeating: k[2]); a3 += v * V(repeating: k[3])
                            a4 += v * V(repeating: k[4]); a5 += v * V(repeating: k[5])
                            a6 += v * V(repeating: k[6]); a7 += v * V(repeating: k[7])
                            t &+= 1
                        }
                    }
                }
                let out = UnsafeMutableRawPointer(y + (oy &* ow &+ ox))
                func store(_ v: V, _ o: Int) { if o < channels { out.storeBytes(of: v, toByteOffset: o &* plane &* 4, as: V.self) } }
                store(a0, 0); store(a1, 1); store(a2, 2); store(a3, 3); store(a4, 4); store(a5, 5); store(a6, 6); store(a7, 7)
                ox &+= 8
            }
        }
    }

    /// dw = Σ over samples and positions of dy · x (shifted): one item per (member, group, block
    /// of 8 output channels, kernel tap), accumulating in registers over all the member's samples,
    /// so the result does not depend on the thread count or on the other members.
    static func weightGradient(_ x: [Float], _ dy: [Float], _ g: ConvGeometry) -> [Float] {
        var dw = [Float](repeating: 0, count: g.weightShape.elementCount)
        let og = g.outChannels / g.groups, cg = g.inChannels / g.groups, blocks = (og + 7) / 8, taps = g.patchSize
        let (h, w, oh, ow, kh, kw) = (g.height, g.width, g.outHeight, g.outWidth, g.kernelHeight, g.kernelWidth)
        let plane = oh * ow
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pdy in
                dw.withUnsafeMutableBufferPointer { pdw in
                    let (xs, dys, dws) = (UnsafeRawPointer(px.baseAddress!), UnsafeRawPointer(pdy.baseAddress!), pdw.baseAddress!)
                    BLAS.parallelFor(g.members * g.groups * blocks * taps, work: dy.count * taps) { i, _ in
                        let t = i % taps, b = (i / taps) % blocks, mg = i / (taps * blocks)
                        let member = mg / g.groups, group = mg % g.groups
                        let c = t / (kh * kw), ki = (t / kw) % kh, kj = t % kw
                        let channels = min(8, og - b * 8)
                        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V()
                        for n in 0..<g.batch {
                            let sample = member &* g.batch &+ n
                            // Byte offsets of the input channel plane and of the block's first dy plane.
                            let xPlane = ((sample &* g.inChannels &+ group &* cg &+ c) &* h &* w) &* 4
                            let dyPlane = ((sample &* g.outChannels &+ group &* og &+ b &* 8) &* plane) &* 4
                            for oy in 0..<oh {
                                let xRow = xPlane &+ ((oy &+ ki) &* w &+ kj) &* 4, dyRow = dyPlane &+ (oy &* ow) &* 4
                                var ox = 0
                                while ox < ow {
                                    let v = xs.loadUnaligned(fromByteOffset: xRow &+ ox &* 4, as: V.self)
                                    let d = dyRow &+ ox &* 4, step = plane &* 4
                                    a0 += v * dys.loadUnaligned(fromByteOffset: d, as: V.self)
                                    if channels > 1 { a1 += v * dys.loadUnaligned(fromByteOffset: d &+ step, as: V.self) }
                                    if channels > 2 { a2 += v * dys.loadUnaligned(fromByteOffset: d &+ 2 &* step, as: V.self) }
                                    if channels > 3 { a3 += v * dys.loadUnaligned(fromByteOffset: d &+ 3 &* step, as: V.self) }
                                    if channels > 4 { a4 += v * dys.loadUnaligned(fromByteOffset: d &+ 4 &* step, as: V.self) }
                                    if channels > 5 { a5 += v * dys.loadUnaligned(fromByteOffset: d &+ 5 &* step, as: V.self) }
                                    if channels > 6 { a6 += v * dys.loadUnaligned(fromByteOffset: d &+ 6 &* step, as: V.self) }
                                    if channels > 7 { a7 += v * dys.loadUnaligned(fromByteOffset: d &+ 7 &* step, as: V.self) }
                                    ox &+= 8
                                }
                            }
                        }
                        // dw[member, group·og + b·8 + o, c, ki, kj]
                        let base = dws + ((member &* g.outChannels &+ group &* og &+ b &* 8) &* taps &+ t)
                        let sums = (a0.sum(), a1.sum(), a2.sum(), a3.sum(), a4.sum(), a5.sum(), a6.sum(), a7.sum())
                        if channels > 0 { base[0] = sums.0 }
                        if channels > 1 { base[taps] = sums.1 }
                        if channels > 2 { base[2 &* taps] = sums.2 }
                        if channels > 3 { base[3 &* taps] = sums.3 }
                        if channels > 4 { base[4 &* taps] = sums.4 }
                        if channels > 5 { base[5 &* taps] = sums.5 }
                        if channels > 6 { base[6 &* taps] = sums.6 }
                        if channels > 7 { base[7 &* taps] = sums.7 }
                    }
                }
            }
        }
        return dw
    }
}
