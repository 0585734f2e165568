/// The shape arithmetic of a 2-D convolution: input `[N, C, H, W]`, weight `[O, C/g, kh, kw]`,
/// output `[N, O, OH, OW]` with `OH = ⌊(H + 2·ph − dh·(kh − 1) − 1) / sh⌋ + 1`.
package struct ConvGeometry: Sendable, Equatable {
    package var batch, inChannels, height, width: Int
    package var outChannels, kernelHeight, kernelWidth: Int
    package var strideH, strideW, padH, padW, dilationH, dilationW, groups: Int

    package var outHeight: Int { (height + 2 * padH - dilationH * (kernelHeight - 1) - 1) / strideH + 1 }
    package var outWidth: Int { (width + 2 * padW - dilationW * (kernelWidth - 1) - 1) / strideW + 1 }
    package var inputShape: [Int] { [batch, inChannels, height, width] }
    package var weightShape: [Int] { [outChannels, inChannels / groups, kernelHeight, kernelWidth] }
    package var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }

    /// Rows of one group's column matrix: (C/g)·kh·kw.
    var patchSize: Int { inChannels / groups * kernelHeight * kernelWidth }
    /// Output positions per sample: OH·OW.
    var positions: Int { outHeight * outWidth }
    /// Whether the column matrix is the input itself (1×1, stride 1, no padding).
    var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0
    }
}

/// im2col + OpenBLAS GEMM convolution kernels, per sample and group, over raw buffers.
enum ConvolutionKernels {
    /// Unfolds channels `[c0, c0 + C/g)` of one sample into `col: [(C/g)·kh·kw, OH·OW]`.
    static func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, channelOffset c0: Int, into col: UnsafeMutablePointer<Float>) {
        let (h, w, oh, ow) = (g.height, g.width, g.outHeight, g.outWidth)
        let cg = g.inChannels / g.groups
        var row = 0
        for c in 0..<cg {
            let plane = x + (c0 + c) * h * w
            for ki in 0..<g.kernelHeight {
                for kj in 0..<g.kernelWidth {
                    let dst = col + row * oh * ow
                    let xOffset = kj * g.dilationW - g.padW
                    for oy in 0..<oh {
                        let y = oy * g.strideH - g.padH + ki * g.dilationH
                        let out = dst + oy * ow
                        if y < 0 || y >= h {
                            for ox in 0..<ow { out[ox] = 0 }
                            continue
                        }
                        let src = plane + y * w
                        if g.strideW == 1 {
                            for ox in 0..<ow {
                                let xx = ox + xOffset
                                out[ox] = xx >= 0 && xx < w ? src[xx] : 0
                            }
                        } else {
                            for ox in 0..<ow {
                                let xx = ox * g.strideW + xOffset
                                out[ox] = xx >= 0 && xx < w ? src[xx] : 0
                            }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// Folds `col` back, adding into channels `[c0, c0 + C/g)` of one sample (the adjoint of im2col).
    static func col2im(_ col: UnsafePointer<Float>, _ g: ConvGeometry, channelOffset c0: Int, into x: UnsafeMutablePointer<Float>) {
        let (h, w, oh, ow) = (g.height, g.width, g.outHeight, g.outWidth)
        let cg = g.inChannels / g.groups
        var row = 0
        for c in 0..<cg {
            let plane = x + (c0 + c) * h * w
            for ki in 0..<g.kernelHeight {
                for kj in 0..<g.kernelWidth {
                    let src = col + row * oh * ow
                    let xOffset = kj * g.dilationW - g.padW
                    for oy in 0..<oh {
                        let y = oy * g.strideH - g.padH + ki * g.dilationH
                        if y < 0 || y >= h { continue }
                        let dst = plane + y * w
                        let input = src + oy * ow
                        for ox in 0..<ow {
                            let xx = ox * g.strideW + xOffset
                            if xx >= 0 && xx < w { dst[xx] += input[ox] }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// y = conv(x, w) without bias.
    static func forward(_ x: [Float], _ w: [Float], _ g: ConvGeometry) -> [Float] {
        let og = g.outChannels / g.groups, k = g.patchSize, p = g.positions
        var y = [Float](repeating: 0, count: g.outputShape.elementCount)
        guard p > 0 else { return y }
        var col = [Float](repeating: 0, count: g.isPointwise ? 0 : k * p)
        x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                y.withUnsafeMutableBufferPointer { py in
                    col.withUnsafeMutableBufferPointer { pc in
                        for n in 0..<g.batch {
                            let sample = px.baseAddress! + n * g.inChannels * g.height * g.width
                            for group in 0..<g.groups {
                                let c0 = group * (g.inChannels / g.groups)
                                let columns: UnsafePointer<Float>
                                if g.isPointwise {
                                    columns = sample + c0 * p
                                } else {
                                    im2col(sample, g, channelOffset: c0, into: pc.baseAddress!)
                                    columns = UnsafePointer(pc.baseAddress!)
                                }
                                BLAS.gemm(transposeA: false, transposeB: false, m: og, n: p, k: k,
                                          pw.baseAddress! + group * og * k, lda: k, columns, ldb: p,
                                          py.baseAddress! + (n * g.outChannels + group * og) * p, ldc: p)
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// dx = convᵀ(dy, w): the gradient of ⟨conv(x, w), dy⟩ with respect to x.
    static func inputGradient(_ dy: [Float], _ w: [Float], _ g: ConvGeometry) -> [Float] {
        let og = g.outChannels / g.groups, k = g.patchSize, p = g.positions
        var dx = [Float](repeating: 0, count: g.inputShape.elementCount)
        guard p > 0 else { return dx }
        var col = [Float](repeating: 0, count: k * p)
        dy.withUnsafeBufferPointer { pdy in
            w.withUnsafeBufferPointer { pw in
                dx.withUnsafeMutableBufferPointer { pdx in
                    col.withUnsafeMutableBufferPointer { pc in
                        for n in 0..<g.batch {
                            let sample = pdx.baseAddress! + n * g.inChannels * g.height * g.width
                            for group in 0..<g.groups {
                                let c0 = group * (g.inChannels / g.groups)
                                // col [k, p] = W_gᵀ [k, og] · dY [og, p]
                                let target = g.isPointwise ? sample + c0 * p : pc.baseAddress!
                                BLAS.gemm(transposeA: true, transposeB: false, m: k, n: p, k: og,
                                          pw.baseAddress! + group * og * k, lda: k,
                                          pdy.baseAddress! + (n * g.outChannels + group * og) * p, ldb: p,
                                          beta: 0, target, ldc: p)
                                if !g.isPointwise { col2im(pc.baseAddress!, g, channelOffset: c0, into: sample) }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    /// dw = Σₙ dy · colᵀ: the gradient of ⟨conv(x, w), dy⟩ with respect to w.
    static func weightGradient(_ x: [Float], _ dy: [Float], _ g: ConvGeometry) -> [Float] {
        let og = g.outChannels / g.groups, k = g.patchSize, p = g.positions
        var dw = [Float](repeating: 0, count: g.weightShape.elementCount)
        guard p > 0 else { return dw }
        var col = [Float](repeating: 0, count: g.isPointwise ? 0 : k * p)
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pdy in
                dw.withUnsafeMutableBufferPointer { pdw in
                    col.withUnsafeMutableBufferPointer { pc in
                        for n in 0..<g.batch {
                            let sample = px.baseAddress! + n * g.inChannels * g.height * g.width
                            for group in 0..<g.groups {
                                let c0 = group * (g.inChannels / g.groups)
                                let columns: UnsafePointer<Float>
                                if g.isPointwise {
                                    columns = sample + c0 * p
                                } else {
                                    im2col(sample, g, channelOffset: c0, into: pc.baseAddress!)
                                    columns = UnsafePointer(pc.baseAddress!)
                                }
                                // dW_g [og, k] += dY [og, p] · colᵀ [p, k]
                                BLAS.gemm(transposeA: false, transposeB: true, m: og, n: k, k: p,
                                          pdy.baseAddress! + (n * g.outChannels + group * og) * p, lda: p,
                                          columns, ldb: p, beta: 1, pdw.baseAddress! + group * og * k, ldc: k)
                            }
                        }
                    }
                }
            }
        }
        return dw
    }
}
