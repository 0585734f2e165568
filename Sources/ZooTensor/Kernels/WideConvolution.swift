import CZooKernels

/// Direct convolution with the AVX-512 or AVX2 kernels of `CZooKernels` (``BLAS/kernelPath``),
/// for stride 1 and dilation 1: forward pass, weight gradient and input gradient, any output
/// width, any padding smaller than the kernel (the input is padded explicitly first).
///
/// The kernels run "wide" (see `zoo_kernels.h`): output row oy is computed over the input's whole
/// width, so each kernel tap is one contiguous load of 16 (or 8) positions; the columns past the
/// output width are dropped. The input gradient of a stride-1 convolution is itself one: the output
/// gradient, padded by kernel − 1 − padding, convolved with the weights flipped in space and with
/// input and output channels swapped.
enum WideConvolution {
    /// The C kernels of one path, and the output channels of the weight gradient's register tile.
    struct Kernels {
        typealias Forward = @convention(c) (
            UnsafePointer<Float>?, Int, Int, Int, UnsafePointer<Float>?, Int, Int, Int, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?
        ) -> Void
        typealias WeightGradient = @convention(c) (
            UnsafePointer<Float>?, Int, Int, Int, Int, UnsafePointer<Float>?, Int, Int, Int, Int, Int, Int, Int,
            UnsafeMutablePointer<Float>?, Int
        ) -> Void
        let forward: Forward
        /// The forward pass followed by 2×2 max pooling in one pass, where the path has one
        /// (AVX2; the AVX-512 forward and a separate pool are faster than it), for the outputs
        /// ``forwardMaxPoolFits`` takes.
        let forwardMaxPool: Forward?
        let forwardMaxPoolFits: @Sendable (_ oh: Int, _ ow: Int) -> Bool
        let weightGradient: WeightGradient
        /// Whether the weight gradient reads the output gradients by rows for an output width.
        let byRows: @Sendable (Int) -> Bool
        /// Output channels per weight-gradient tile for kernels up to 3 wide, and for wider ones.
        let narrowTile, wideTile: Int
        /// L1 ways one chunk of the weight gradient's output gradients may take (see ``weightGradient(_:_:_:)``).
        let chunkWays: Int

        static let avx512 = Kernels(forward: zoo_conv_forward_avx512, forwardMaxPool: nil, forwardMaxPoolFits: { _, _ in false },
                                    weightGradient: zoo_conv_weight_gradient_blocked_avx512,
                                    byRows: { zoo_gradient_by_rows_avx512($0) }, narrowTile: 8, wideTile: 4, chunkWays: 8)
        static let avx2 = Kernels(forward: zoo_conv_forward_avx2, forwardMaxPool: zoo_conv_forward_max_pool_avx2,
                                  forwardMaxPoolFits: { zoo_conv_max_pool_fits_avx2($0, $1) },
                                  weightGradient: zoo_conv_weight_gradient_blocked_avx2,
                                  byRows: { zoo_gradient_by_rows_avx2($0) }, narrowTile: 4, wideTile: 2, chunkWays: 4)
    }

    /// The kernels of this process's path (where ``applies(_:)``).
    static var kernels: Kernels { BLAS.kernelPath == .avx512 ? .avx512 : .avx2 }

    /// Whether these kernels apply to `g`: the processor has AVX2 and FMA at least
    /// (``BLAS/kernelPath``), stride and dilation are 1 and the padding is smaller than the kernel.
    static func applies(_ g: ConvGeometry) -> Bool {
        BLAS.kernelPath >= .avx2 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
            && g.padH < g.kernelHeight && g.padW < g.kernelWidth && g.outHeight > 0 && g.outWidth > 0 && g.batch > 0
    }

    /// y = conv(x, w), plus `bias` (`[M·O]`, member-major) when given: the accumulators start
    /// from it. One item per (member, group, sample) over Zoo's threads.
    static func forward(_ x: [Float], _ w: [Float], _ g: ConvGeometry, bias: [Float]? = nil) -> [Float] {
        guard g.padH == 0 && g.padW == 0 else { return forward(padded(x, g), w, g.unpadded, bias: bias) }
        return run(kernels.forward, x, w, g, bias: bias, outPlane: g.outHeight * g.outWidth)
    }

    /// ``forward(_:_:_:bias:)`` followed by 2×2 max pooling of stride 2, as the path's one-pass
    /// kernel computes it: `[M·N, O, OH / 2, OW / 2]`, the bits of the two; nil where there is no
    /// such kernel for `g` (unpadded, one group, outputs the kernel takes).
    static func forwardMaxPooled(_ x: [Float], _ w: [Float], _ g: ConvGeometry, bias: [Float]?) -> [Float]? {
        guard applies(g), let kernel = kernels.forwardMaxPool, kernels.forwardMaxPoolFits(g.outHeight, g.outWidth),
              g.padH == 0, g.padW == 0, g.groups == 1 else { return nil }
        return run(kernel, x, w, g, bias: bias, outPlane: (g.outHeight / 2) * (g.outWidth / 2))
    }

    /// Runs a forward `kernel` (unpadded `g`) for every (member, group, sample) over Zoo's threads,
    /// each writing its group's channels of `outPlane` outputs. The output is not zeroed first:
    /// the kernels write every element.
    private static func run(_ kernel: Kernels.Forward, _ x: [Float], _ w: [Float], _ g: ConvGeometry, bias: [Float]?,
                            outPlane: Int) -> [Float] {
        let og = g.outChannels / g.groups, cg = g.inChannels / g.groups, blocks = (og + 7) / 8, taps = g.patchSize
        let inPlane = g.height * g.width
        let packed = DirectConvolution.packedWeights(w, g)
        defer { packed.deallocate() }
        return [Float](unsafeUninitializedCapacity: g.members * g.batch * g.outChannels * outPlane) { py, initialized in
            x.withUnsafeBufferPointer { px in
                (bias ?? []).withUnsafeBufferPointer { pb in
                    let (xs, ys) = (px.baseAddress!, py.baseAddress!)
                    BLAS.parallelFor(g.members * g.groups * g.batch, work: g.members * g.batch * g.outChannels * g.positions * taps) { i, _ in
                        let n = i % g.batch, mg = i / g.batch, member = mg / g.groups, group = mg % g.groups
                        let sample = member * g.batch + n
                        kernel(
                            xs + (sample * g.inChannels + group * cg) * inPlane, cg, g.height, g.width,
                            packed + mg * blocks * taps * 8, og, g.kernelHeight, g.kernelWidth,
                            bias == nil ? nil : pb.baseAddress! + member * g.outChannels + group * og,
                            ys + (sample * g.outChannels + group * og) * outPlane)
                    }
                }
            }
            initialized = py.count
        }
    }

    /// dx = convᵀ(dy, w): ``forward(_:_:_:bias:)`` of dy padded by (kh − 1 − ph, kw − 1 − pw)
    /// with the flipped, channel-swapped weights.
    static func inputGradient(_ dy: [Float], _ w: [Float], _ g: ConvGeometry) -> [Float] {
        let (kh, kw) = (g.kernelHeight, g.kernelWidth)
        let og = g.outChannels / g.groups, cg = g.inChannels / g.groups
        var flipped = [Float](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { pw in
            flipped.withUnsafeMutableBufferPointer { pf in
                // w[m, group·og + o, c, ki, kj] → flipped[m, group·cg + c, o, kh − 1 − ki, kw − 1 − kj]
                for mg in 0..<g.members * g.groups {
                    let source = pw.baseAddress! + mg * og * cg * kh * kw, target = pf.baseAddress! + mg * og * cg * kh * kw
                    for o in 0..<og {
                        for c in 0..<cg {
                            for ki in 0..<kh {
                                for kj in 0..<kw {
                                    target[((c * og + o) * kh + kh - 1 - ki) * kw + kw - 1 - kj] = source[((o * cg + c) * kh + ki) * kw + kj]
                                }
                            }
                        }
                    }
                }
            }
        }
        var transposed = g
        (transposed.inChannels, transposed.outChannels) = (g.outChannels, g.inChannels)
        (transposed.height, transposed.width) = (g.outHeight, g.outWidth)
        (transposed.padH, transposed.padW) = (kh - 1 - g.padH, kw - 1 - g.padW)
        return forward(dy, flipped, transposed)
    }

    /// dw = convW(x, dy): one item per (member, group, the kernel's tile of output channels, part
    /// of the input channels), each running the blocked kernel (see `zoo_kernels.h`): chunks of
    /// samples whose output gradients stay in L1 while they serve every input channel and kernel
    /// row. The kernel reads dy as it is where its rows fill whole vectors (``Kernels/byRows``),
    /// else from a copy in the wide layout (rows of the input's width, zeros in the dropped
    /// columns). Each weight's sum runs over samples, then positions, in one fixed order: the
    /// result depends neither on the thread count nor on the split nor on the other members.
    static func weightGradient(_ x: [Float], _ dy: [Float], _ g: ConvGeometry) -> [Float] {
        guard g.padH == 0 && g.padW == 0 else { return weightGradient(padded(x, g), dy, g.unpadded) }
        let path = kernels, byRows = path.byRows(g.outWidth)
        let planeStride = byRows ? g.outHeight * g.outWidth : (zoo_wide_length(g.width, g.outHeight, g.outWidth) + 15) / 16 * 16
        let planes = byRows ? dy : wideCopy(dy, g, planeStride: planeStride)
        let og = g.outChannels / g.groups, cg = g.inChannels / g.groups, taps = g.patchSize, (h, w) = (g.height, g.width)
        // Output channels per item: the kernel's register tile (AVX-512: 8 for kernels up to 3
        // wide, else 4; AVX2: 4, else 2).
        let kernel = path.weightGradient, width = g.kernelWidth <= 3 ? path.narrowTile : path.wideTile
        let blocks = (og + width - 1) / width, tiles = g.members * g.groups * blocks
        // Input channels split only as far as needed for 4 items per thread (each part reads the
        // output gradients once more).
        let parts = min(cg, max(1, (4 * BLAS.threadCount + tiles - 1) / tiles)), perPart = (cg + parts - 1) / parts
        // Samples per chunk. By rows, as many as leave room in L1 for the inputs: a sample's tile
        // of output gradients (width planes) then sits a multiple of 4 KiB from the next one's
        // (for the shapes that use it), so each sample takes ⌈bytes / 4 KiB⌉ of L1's ways in the
        // sets it maps to, and a chunk at most `path.chunkWays` of them. Measured standalone on
        // resnet20's stages (32×32, 16×16, 8×8), the best chunks were 1, 3-4 and 8 (AVX-512) and
        // 1, 4 and 4-6 (AVX2); a sample more than fits cost 20-30 %. The wide copy has no such
        // strides: 6,144 floats (24 KiB, half an L1) of tile per chunk.
        let tileBytes = width * planeStride * MemoryLayout<Float>.size
        let chunk = byRows ? max(1, path.chunkWays / max(1, (tileBytes + 4095) / 4096)) : max(1, 6144 / (width * planeStride))
        return [Float](unsafeUninitializedCapacity: g.weightShape.elementCount) { pdw, initialized in
            x.withUnsafeBufferPointer { px in
                planes.withUnsafeBufferPointer { pw in
                    BLAS.parallelFor(tiles * parts, work: g.members * g.batch * g.outChannels * planeStride * taps) { i, _ in
                        let part = i % parts, b = (i / parts) % blocks, mg = i / (parts * blocks)
                        let member = mg / g.groups, group = mg % g.groups, o0 = group * og + b * width
                        let c0 = part * perPart, channels = min(perPart, cg - c0)
                        guard channels > 0 else { return }
                        let sample = member * g.batch
                        kernel(
                            px.baseAddress! + (sample * g.inChannels + group * cg + c0) * h * w, g.inChannels * h * w, channels, h, w,
                            pw.baseAddress! + (sample * g.outChannels + o0) * planeStride, planeStride, g.outChannels * planeStride,
                            min(width, og - b * width), g.batch, g.kernelHeight, g.kernelWidth, chunk,
                            pdw.baseAddress! + (member * g.outChannels + o0) * taps + c0 * g.kernelHeight * g.kernelWidth, taps)
                    }
                }
            }
            initialized = pdw.count
        }
    }

    /// dy (`[M·N, O, OH, OW]`) in the wide layout: each plane `planeStride` floats, output row oy
    /// at oy·W, zeros in the dropped columns and after the last row.
    private static func wideCopy(_ dy: [Float], _ g: ConvGeometry, planeStride: Int) -> [Float] {
        let (w, oh, ow) = (g.width, g.outHeight, g.outWidth), planes = g.members * g.batch * g.outChannels
        return [Float](unsafeUninitializedCapacity: planes * planeStride) { pw, initialized in
            dy.withUnsafeBufferPointer { pdy in
                let (source, target) = (pdy.baseAddress!, pw.baseAddress!)
                BLAS.parallelFor(g.members * g.batch, work: planes * planeStride) { sample, _ in
                    // Element loops, not memcpy and memset: the rows are a few floats long, and
                    // a library call per row cost more than the copy (6 % of a zoo-cnn step).
                    for p in sample * g.outChannels ..< (sample + 1) * g.outChannels {
                        let plane = target + p * planeStride
                        var from = source + p * oh * ow
                        for oy in 0..<oh {
                            let row = plane + oy &* w
                            for ox in 0..<ow { row[ox] = from[ox] }
                            from += ow
                            // The dropped columns, and after the last row everything to the plane's end.
                            let end = oy == oh - 1 ? planeStride : (oy + 1) &* w
                            for i in ow ..< end &- oy &* w { row[i] = 0 }
                        }
                    }
                }
            }
            initialized = pw.count
        }
    }

    /// The input of `g` with its padding written out as zeros: `[M·N, C, H + 2·ph, W + 2·pw]`.
    static func padded(_ x: [Float], _ g: ConvGeometry) -> [Float] {
        let (h, w, ph, pw) = (g.height, g.width, g.padH, g.padW)
        let (ph2, pw2) = (h + 2 * ph, w + 2 * pw), planes = g.members * g.batch * g.inChannels
        // Each plane writes its zero border and copies its interior: no zeroing first.
        let out = [Float](unsafeUninitializedCapacity: planes * ph2 * pw2) { po, initialized in
            x.withUnsafeBufferPointer { px in
                let (source, target) = (px.baseAddress!, po.baseAddress!)
                // One item per sample: an item per plane costs more in hand-offs than it copies.
                BLAS.parallelFor(g.members * g.batch, work: po.count) { sample, _ in
                    // Element loops for the short rows, as in weightGradient's wide copy.
                    for p in sample * g.inChannels ..< (sample + 1) * g.inChannels {
                        let plane = target + p * ph2 * pw2
                        for i in 0 ..< ph &* pw2 &+ pw { plane[i] = 0 }
                        var from = source + p * h * w
                        for y in 0..<h {
                            let row = plane + ((y &+ ph) &* pw2 &+ pw)
                            for x in 0..<w { row[x] = from[x] }
                            from += w
                            // Right border of this row and left border of the next (or the bottom rows).
                            for i in w ..< w &+ (y == h - 1 ? pw &+ ph &* pw2 : 2 &* pw) { row[i] = 0 }
                        }
                    }
                }
            }
            initialized = po.count
        }
        return out
    }
}

extension ConvGeometry {
    /// The same convolution on the explicitly padded input (``WideConvolution/padded(_:_:)``).
    var unpadded: ConvGeometry {
        var g = self
        (g.height, g.width, g.padH, g.padW) = (height + 2 * padH, width + 2 * padW, 0, 0)
        return g
    }
}
