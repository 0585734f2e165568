/// The shape arithmetic of a 2-D convolution, for one network or a stacked population of
/// `members` networks: input `[M·N, C, H, W]` (member-major: member m's N samples are rows
/// `m·N ..< (m+1)·N`), weight `[O, C/g, kh, kw]` (or `[M, O, C/g, kh, kw]` for M > 1), output
/// `[M·N, O, OH, OW]` with `OH = ⌊(H + 2·ph − dh·(kh − 1) − 1) / sh⌋ + 1`.
package struct ConvGeometry: Sendable, Equatable {
    /// Samples per member.
    package var batch, inChannels, height, width: Int
    package var outChannels, kernelHeight, kernelWidth: Int
    package var strideH, strideW, padH, padW, dilationH, dilationW, groups: Int
    /// Networks stacked along the batch axis, each with its own weights.
    package var members = 1

    package var outHeight: Int { (height + 2 * padH - dilationH * (kernelHeight - 1) - 1) / strideH + 1 }
    package var outWidth: Int { (width + 2 * padW - dilationW * (kernelWidth - 1) - 1) / strideW + 1 }
    package var inputShape: [Int] { [members * batch, inChannels, height, width] }
    package var weightShape: [Int] {
        let one = [outChannels, inChannels / groups, kernelHeight, kernelWidth]
        return members == 1 ? one : [members] + one
    }
    package var outputShape: [Int] { [members * batch, outChannels, outHeight, outWidth] }

    /// Rows of one group's column matrix: (C/g)·kh·kw.
    var patchSize: Int { inChannels / groups * kernelHeight * kernelWidth }
    /// Output positions per sample: OH·OW.
    var positions: Int { outHeight * outWidth }
}

/// im2col + OpenBLAS GEMM convolution kernels over raw buffers.
///
/// The work is cut into items (member, group, chunk of samples); each item unfolds its chunk into
/// one column matrix `[(C/g)·kh·kw, chunk·OH·OW]` and does one GEMM with the member's weights, so
/// small images still make GEMMs of useful size, and the items run on ``BLAS/threadCount``
/// threads, each with its own scratch space.
enum ConvolutionKernels {
    /// Column matrices stay near this many floats (512 KiB), so a chunk stays in cache (measured best of 2^14…2^19).
    static let columnBudget = 1 << 17

    /// The work items of a geometry: chunks of samples per (member, group).
    struct Plan {
        let g: ConvGeometry
        let chunk: Int
        let chunksPerGroup: Int
        var items: Int { g.members * g.groups * chunksPerGroup }
        var og: Int { g.outChannels / g.groups }
        var cg: Int { g.inChannels / g.groups }

        init(_ g: ConvGeometry) {
            self.g = g
            chunk = max(1, min(g.batch, ConvolutionKernels.columnBudget / max(1, g.patchSize * g.positions)))
            chunksPerGroup = (g.batch + chunk - 1) / chunk
        }

        /// (member, group, first sample, sample count) of item `i`.
        func item(_ i: Int) -> (member: Int, group: Int, first: Int, count: Int) {
            let c = i % chunksPerGroup, mg = i / chunksPerGroup
            let first = c * chunk
            return (mg / g.groups, mg % g.groups, first, min(chunk, g.batch - first))
        }
    }

    /// Unfolds channels `[c0, c0 + C/g)` of one sample into `col`, whose rows are `rowStride` apart.
    static func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, channelOffset c0: Int, rowStride: Int, into col: UnsafeMutablePointer<Float>) {
        // Geometry in locals and wrapping arithmetic: the rows are short (ow floats), so the
        // bookkeeping per row is most of the cost.
        let (h, w, oh, ow) = (g.height, g.width, g.outHeight, g.outWidth)
        let (kh, kw, sh, sw, ph, pw, dh, dw) = (g.kernelHeight, g.kernelWidth, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW)
        let cg = g.inChannels / g.groups
        if sh == 1 && sw == 1 && ph == 0 && pw == 0 && dh == 1 && dw == 1 {
            // Every window lies inside the image: each row of col is oh runs of ow contiguous inputs.
            var dst = col
            for c in 0..<cg {
                let plane = x + (c0 &+ c) &* h &* w
                for ki in 0..<kh {
                    for kj in 0..<kw {
                        var src = plane + (ki &* w &+ kj)
                        var out = dst
                        for _ in 0..<oh {
                            for ox in 0..<ow { out[ox] = src[ox] }
                            out += ow
                            src += w
                        }
                        dst += rowStride
                    }
                }
            }
            return
        }
        columnBounds(g) { bounds in
            var row = 0
            for c in 0..<cg {
                let plane = x + (c0 &+ c) &* h &* w
                for ki in 0..<kh {
                    for kj in 0..<kw {
                        let dst = col + row &* rowStride
                        let xOffset = kj &* dw &- pw
                        let lo = bounds[2 &* kj], hi = bounds[2 &* kj &+ 1]
                        for oy in 0..<oh {
                            let y = oy &* sh &- ph &+ ki &* dh
                            let out = dst + oy &* ow
                            if y < 0 || y >= h {
                                for ox in 0..<ow { out[ox] = 0 }
                                continue
                            }
                            let src = plane + (y &* w &+ xOffset)
                            for ox in 0..<lo { out[ox] = 0 }
                            if sw == 1 {
                                for ox in lo..<hi { out[ox] = src[ox] }
                            } else {
                                for ox in lo..<hi { out[ox] = src[ox &* sw] }
                            }
                            for ox in hi..<ow { out[ox] = 0 }
                        }
                        row &+= 1
                    }
                }
            }
        }
    }

    /// For each kernel column kj, the output columns `[lo, hi)` whose input column lies inside
    /// the image, as `bounds[2·kj]`, `bounds[2·kj + 1]` (computed once per call: the divisions
    /// per row were a large part of im2col for 1-D convolutions).
    @inline(__always)
    static func columnBounds(_ g: ConvGeometry, _ body: (UnsafeMutablePointer<Int>) -> Void) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * g.kernelWidth) { buffer in
            let b = buffer.baseAddress!
            let (w, ow, sw) = (g.width, g.outWidth, g.strideW)
            for kj in 0..<g.kernelWidth {
                let xOffset = kj * g.dilationW - g.padW
                let lo = xOffset >= 0 ? 0 : min(ow, (-xOffset + sw - 1) / sw)
                b[2 * kj] = lo
                b[2 * kj + 1] = max(lo, min(ow, (w - 1 - xOffset) >= 0 ? (w - 1 - xOffset) / sw + 1 : 0))
            }
            body(b)
        }
    }

    /// Folds `col` (rows `rowStride` apart) back, adding into channels `[c0, c0 + C/g)` of one
    /// sample: the adjoint of ``im2col(_:_:channelOffset:rowStride:into:)``.
    static func col2im(_ col: UnsafePointer<Float>, _ g: ConvGeometry, channelOffset c0: Int, rowStride: Int, into x: UnsafeMutablePointer<Float>) {
        let (h, w, oh, ow) = (g.height, g.width, g.outHeight, g.outWidth)
        let (kh, kw, sh, sw, ph, pw, dh, dw) = (g.kernelHeight, g.kernelWidth, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW)
        let cg = g.inChannels / g.groups
        if sh == 1 && sw == 1 && ph == 0 && pw == 0 && dh == 1 && dw == 1 {
            var src = col
            for c in 0..<cg {
                let plane = x + (c0 &+ c) &* h &* w
                for ki in 0..<kh {
                    for kj in 0..<kw {
                        var dst = plane + (ki &* w &+ kj)
                        var input = src
                        for _ in 0..<oh {
                            for ox in 0..<ow { dst[ox] += input[ox] }
                            input += ow
                            dst += w
                        }
                        src += rowStride
                    }
                }
            }
            return
        }
        columnBounds(g) { bounds in
            var row = 0
            for c in 0..<cg {
                let plane = x + (c0 &+ c) &* h &* w
                for ki in 0..<kh {
                    for kj in 0..<kw {
                        let src = col + row &* rowStride
                        let xOffset = kj &* dw &- pw
                        let lo = bounds[2 &* kj], hi = bounds[2 &* kj &+ 1]
                        for oy in 0..<oh {
                            let y = oy &* sh &- ph &+ ki &* dh
                            if y < 0 || y >= h { continue }
                            let dst = plane + (y &* w &+ xOffset)
                            let input = src + oy &* ow
                            for ox in lo..<hi { dst[ox &* sw] += input[ox] }
                        }
                        row &+= 1
                    }
                }
            }
        }
    }

    /// Whether `g` is 1-D (one input row, kernels of one row, no vertical padding): its rows of
    /// col are single runs of the input, a few floats long, unfolded line by line for all the
    /// chunk's samples at once (``unfoldLines``).
    private static func isLines(_ g: ConvGeometry) -> Bool {
        g.height == 1 && g.kernelHeight == 1 && g.padH == 0 && !(g.strideW == 1 && g.padW == 0 && g.dilationW == 1)
    }

    /// Unfolds samples `first ..< first + count` of `member` into `col [k, count·P]`.
    private static func unfold(_ x: UnsafePointer<Float>, _ plan: Plan, member: Int, group: Int, first: Int, count: Int,
                               into col: UnsafeMutablePointer<Float>) {
        let g = plan.g, p = g.positions, sampleSize = g.inChannels * g.height * g.width
        let start = x + (member * g.batch + first) * sampleSize
        if isLines(g) { return unfoldLines(start, g, channelOffset: group * plan.cg, samples: count, into: col) }
        for s in 0..<count {
            im2col(start + s * sampleSize, g, channelOffset: group * plan.cg, rowStride: count * p, into: col + s * p)
        }
    }

    /// ``im2col(_:_:channelOffset:rowStride:into:)`` of `samples` consecutive 1-D samples
    /// (``isLines(_:)``) into `col [k, samples·OW]`: each row of col is, per sample, one strided
    /// run of the input with zeros at the ends (the loops' `unfold_lines`, a row at a time).
    private static func unfoldLines(_ x: UnsafePointer<Float>, _ g: ConvGeometry, channelOffset c0: Int, samples: Int,
                                    into col: UnsafeMutablePointer<Float>) {
        let unfold = BLAS.loops.unfold_lines!
        forEachLine(g, channelOffset: c0, samples: samples) { input, row, lo, hi in
            unfold(x + input, g.inChannels * g.width, samples, g.strideW, lo, hi, g.outWidth, col + row)
        }
    }

    /// The adjoint of ``unfoldLines(_:_:channelOffset:samples:into:)``: adds `col [k, samples·OW]`
    /// back into `samples` consecutive 1-D samples. Each input element takes its terms in the
    /// order ``col2im(_:_:channelOffset:rowStride:into:)`` adds them (by kernel column), so the
    /// sums are its bits.
    private static func foldLines(_ col: UnsafePointer<Float>, _ g: ConvGeometry, channelOffset c0: Int, samples: Int,
                                  into x: UnsafeMutablePointer<Float>) {
        let fold = BLAS.loops.fold_lines!
        forEachLine(g, channelOffset: c0, samples: samples) { input, row, lo, hi in
            fold(col + row, samples, g.strideW, lo, hi, g.outWidth, x + input, g.inChannels * g.width)
        }
    }

    /// Calls `body(input, row, lo, hi)` for each row of a 1-D col (channel, kernel column): the
    /// input offset of the first sample's run (its element for output column `lo`), the offset
    /// of the row in col, and the run's output columns `[lo, hi)` inside the image. The bounds
    /// are found once per row, not once per sample.
    @inline(__always)
    private static func forEachLine(_ g: ConvGeometry, channelOffset c0: Int, samples: Int, _ body: (Int, Int, Int, Int) -> Void) {
        let (w, ow, kw, sw, pw, dw) = (g.width, g.outWidth, g.kernelWidth, g.strideW, g.padW, g.dilationW)
        columnBounds(g) { bounds in
            var row = 0
            for c in 0 ..< g.inChannels / g.groups {
                for kj in 0..<kw {
                    let lo = bounds[2 &* kj], hi = bounds[2 &* kj &+ 1]
                    body((c0 &+ c) &* w &+ lo &* sw &+ kj &* dw &- pw, row, lo, hi)
                    row &+= samples &* ow
                }
            }
        }
    }

    /// Copies between `y`'s layout (`[M·N, O, P]`) and a chunk's `[og, count·P]` block.
    private static func transfer(_ y: UnsafeMutablePointer<Float>, _ block: UnsafeMutablePointer<Float>, _ plan: Plan,
                                 member: Int, group: Int, first: Int, count: Int, toBlock: Bool, bias: UnsafePointer<Float>? = nil) {
        let g = plan.g, p = g.positions, og = plan.og
        for s in 0..<count {
            for o in 0..<og {
                let channel = group * og + o
                let inY = y + ((member * g.batch + first + s) * g.outChannels + channel) * p
                let inBlock = block + o * count * p + s * p
                if toBlock {
                    for j in 0..<p { inBlock[j] = inY[j] }
                } else if let bias {
                    let b = bias[member * g.outChannels + channel]
                    for j in 0..<p { inY[j] = inBlock[j] + b }
                } else {
                    for j in 0..<p { inY[j] = inBlock[j] }
                }
            }
        }
    }

    /// y = conv(x, w), plus `bias` (`[M·O]`) when given: the direct kernels start their
    /// accumulators from it, the im2col path adds it as it moves each block of the product into y.
    static func forward(_ x: [Float], _ w: [Float], _ g: ConvGeometry, bias: [Float]? = nil) -> [Float] {
        if WideConvolution.applies(g) { return WideConvolution.forward(x, w, g, bias: bias) }
        if g.batch > 0 && DirectConvolution.applies(g) { return DirectConvolution.forward(x, w, g, bias: bias) }
        var y = [Float](repeating: 0, count: g.outputShape.elementCount)
        guard g.positions > 0 && g.batch > 0 else { return y }
        let plan = Plan(g), k = g.patchSize, og = plan.og
        let scratch = plan.chunk * g.positions
        x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                (bias ?? []).withUnsafeBufferPointer { pb in
                    y.withUnsafeMutableBufferPointer { py in
                        let workspace = UnsafeMutablePointer<Float>.allocate(capacity: BLAS.threadsFor(plan.items) * scratch * (k + og))
                        defer { workspace.deallocate() }
                        let biases = bias == nil ? nil : pb.baseAddress
                        BLAS.parallelFor(plan.items, work: plan.items * plan.chunk * k * og * g.positions) { i, thread in
                            let (m, group, first, count) = plan.item(i)
                            let col = workspace + thread * scratch * (k + og), out = col + scratch * k
                            unfold(px.baseAddress!, plan, member: m, group: group, first: first, count: count, into: col)
                            BLAS.serialGemm(transposeA: false, transposeB: false, m: og, n: count * g.positions, k: k,
                                            pw.baseAddress! + (m * g.groups + group) * og * k, lda: k, col, ldb: count * g.positions,
                                            out, ldc: count * g.positions)
                            transfer(py.baseAddress!, out, plan, member: m, group: group, first: first, count: count, toBlock: false,
                                     bias: biases)
                        }
                    }
                }
            }
        }
        return y
    }

    /// dx = convᵀ(dy, w): the gradient of ⟨conv(x, w), dy⟩ with respect to x.
    static func inputGradient(_ dy: [Float], _ w: [Float], _ g: ConvGeometry) -> [Float] {
        if WideConvolution.applies(g) { return WideConvolution.inputGradient(dy, w, g) }
        var dx = [Float](repeating: 0, count: g.inputShape.elementCount)
        guard g.positions > 0 && g.batch > 0 else { return dx }
        let plan = Plan(g), k = g.patchSize, og = plan.og, p = g.positions
        let scratch = plan.chunk * p, sampleSize = g.inChannels * g.height * g.width
        dy.withUnsafeBufferPointer { pdy in
            w.withUnsafeBufferPointer { pw in
                dx.withUnsafeMutableBufferPointer { pdx in
                    let workspace = UnsafeMutablePointer<Float>.allocate(capacity: BLAS.threadsFor(plan.items) * scratch * (k + og))
                    defer { workspace.deallocate() }
                    BLAS.parallelFor(plan.items, work: plan.items * plan.chunk * k * og * g.positions) { i, thread in
                        let (m, group, first, count) = plan.item(i)
                        let col = workspace + thread * scratch * (k + og), block = col + scratch * k
                        transfer(UnsafeMutablePointer(mutating: pdy.baseAddress!), block, plan, member: m, group: group, first: first, count: count, toBlock: true)
                        // col [k, count·P] = W_gᵀ [k, og] · dY [og, count·P]
                        BLAS.serialGemm(transposeA: true, transposeB: false, m: k, n: count * p, k: og,
                                        pw.baseAddress! + (m * g.groups + group) * og * k, lda: k, block, ldb: count * p,
                                        col, ldc: count * p)
                        let start = pdx.baseAddress! + (m * g.batch + first) * sampleSize
                        if isLines(g) {
                            foldLines(col, g, channelOffset: group * plan.cg, samples: count, into: start)
                        } else {
                            for s in 0..<count {
                                col2im(col + s * p, g, channelOffset: group * plan.cg, rowStride: count * p, into: start + s * sampleSize)
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    /// dw = Σₙ dy · colᵀ: the gradient of ⟨conv(x, w), dy⟩ with respect to w. Each item's product
    /// goes to its own slot, and the slots are added in chunk order: the result does not depend on
    /// the thread count nor on how many members are stacked.
    static func weightGradient(_ x: [Float], _ dy: [Float], _ g: ConvGeometry) -> [Float] {
        if WideConvolution.applies(g) { return WideConvolution.weightGradient(x, dy, g) }
        if g.batch > 0 && DirectConvolution.applies(g) { return DirectConvolution.weightGradient(x, dy, g) }
        var dw = [Float](repeating: 0, count: g.weightShape.elementCount)
        guard g.positions > 0 && g.batch > 0 else { return dw }
        let plan = Plan(g), k = g.patchSize, og = plan.og, p = g.positions
        let scratch = plan.chunk * p, threads = BLAS.threadsFor(plan.items), slot = og * k
        var slots = [Float](repeating: 0, count: plan.items * slot)
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pdy in
                slots.withUnsafeMutableBufferPointer { ps in
                    let workspace = UnsafeMutablePointer<Float>.allocate(capacity: threads * scratch * (k + og))
                    defer { workspace.deallocate() }
                    BLAS.parallelFor(plan.items, work: plan.items * plan.chunk * k * og * g.positions) { i, thread in
                        let (m, group, first, count) = plan.item(i)
                        let col = workspace + thread * scratch * (k + og), block = col + scratch * k
                        unfold(px.baseAddress!, plan, member: m, group: group, first: first, count: count, into: col)
                        transfer(UnsafeMutablePointer(mutating: pdy.baseAddress!), block, plan, member: m, group: group, first: first, count: count, toBlock: true)
                        // slot [og, k] = dY [og, count·P] · colᵀ [count·P, k]
                        BLAS.serialGemm(transposeA: false, transposeB: true, m: og, n: k, k: count * p,
                                        block, lda: count * p, col, ldb: count * p, ps.baseAddress! + i * slot, ldc: k)
                    }
                }
            }
        }
        // Items of one (member, group) are consecutive, chunk by chunk.
        for mg in 0..<g.members * g.groups {
            for c in 0..<plan.chunksPerGroup {
                let base = (mg * plan.chunksPerGroup + c) * slot
                for j in 0..<slot { dw[mg * slot + j] += slots[base + j] }
            }
        }
        return dw
    }
}
