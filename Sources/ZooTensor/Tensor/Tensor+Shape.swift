// Differentiable shape manipulation: reshape, permute, slice, pad, concatenate, stack.

extension Tensor {
    /// The same elements viewed with `newShape`; one extent may be −1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let i = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != i }.map(\.element).elementCount
            precondition(known > 0 && count % known == 0, "reshaped: cannot infer −1 in \(newShape) for \(count) elements (shape \(shape))")
            target[i] = count / known
        }
        precondition(target.allSatisfy { $0 >= 0 } && target.elementCount == count,
                     "reshaped: cannot view shape \(shape) (\(count) elements) as \(newShape)")
        if target == shape { return self }
        let source = shape
        return Tensor.recorded("reshape", shape: target, scalars: scalars, inputs: [self]) { g, _ in [g.reshaped(source)] }
    }

    /// Flattens axes `startAxis...` into one: `[N, C, H, W]` → `[N, C·H·W]` by default.
    public func flattened(startAxis: Int = 1) -> Tensor {
        let a = normalizedAxis(startAxis, rank: rank, op: "flattened")
        return reshaped(Array(shape[..<a]) + [shape[a...].elementCount])
    }

    /// Inserts an axis of extent 1 at `axis`.
    public func unsqueezed(axis: Int) -> Tensor {
        let a = normalizedAxis(axis, rank: rank + 1, op: "unsqueezed")
        var s = shape
        s.insert(1, at: a)
        return reshaped(s)
    }

    /// Removes an axis of extent 1.
    public func squeezed(axis: Int) -> Tensor {
        let a = normalizedAxis(axis, rank: rank, op: "squeezed")
        precondition(shape[a] == 1, "squeezed: axis \(axis) of shape \(shape) has extent \(shape[a]), not 1")
        var s = shape
        s.remove(at: a)
        return reshaped(s)
    }

    /// The axes reordered: result axis `i` is input axis `axes[i]`.
    public func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.count == rank && Set(axes.map { normalizedAxis($0, rank: rank, op: "permuted") }).count == rank,
                     "permuted: \(axes) is not a permutation of the \(rank) axes of shape \(shape)")
        let axes = axes.map { normalizedAxis($0, rank: rank, op: "permuted") }
        if axes == Array(0..<rank) { return self }
        let outShape = axes.map { shape[$0] }
        let inStrides = shape.strides
        let readStrides = axes.map { inStrides[$0] }
        let total = count
        let out = [Float](unsafeUninitializedCapacity: total) { po, n in
            scalars.withUnsafeBufferPointer { pa in
                let j = readStrides[rank - 1]
                Elementwise.forEachRow(shape: outShape, strides: [readStrides]) { base, offsets, inner in
                    let o = offsets[0]
                    for k in 0..<inner { po[base + k] = pa[o + k * j] }
                }
            }
            n = total
        }
        var inversion = [Int](repeating: 0, count: rank)
        for (i, a) in axes.enumerated() { inversion[a] = i }
        let inverse = inversion
        return Tensor.recorded("permute", shape: outShape, scalars: out, inputs: [self]) { g, _ in [g.permuted(inverse)] }
    }

    /// The last two axes swapped (a matrix transpose, batched over leading axes).
    public func transposed() -> Tensor {
        precondition(rank >= 2, "transposed: needs rank ≥ 2, got shape \(shape)")
        var axes = Array(0..<rank)
        axes.swapAt(rank - 1, rank - 2)
        return permuted(axes)
    }

    /// The elements with index in `range` along `axis`.
    public func sliced(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = normalizedAxis(axis, rank: rank, op: "sliced")
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[a],
                     "sliced: range \(range) is out of bounds for axis \(axis) of extent \(shape[a]) (shape \(shape))")
        if range.count == shape[a] { return self }
        let outer = shape[..<a].elementCount, n = shape[a], inner = shape[(a + 1)...].elementCount
        var outShape = shape
        outShape[a] = range.count
        let block = range.count * inner
        let out = [Float](unsafeUninitializedCapacity: outer * block) { po, c in
            scalars.withUnsafeBufferPointer { pa in
                for o in 0..<outer {
                    let src = (o * n + range.lowerBound) * inner
                    for k in 0..<block { po[o * block + k] = pa[src + k] }
                }
            }
            c = outer * block
        }
        let before = range.lowerBound, after = n - range.upperBound
        return Tensor.recorded("slice", shape: outShape, scalars: out, inputs: [self]) { g, _ in
            [g.padded(axis: a, before: before, after: after)]
        }
    }

    /// `x[:, :, ::sh, ::sw]` of `[N, C, H, W]`: rows 0, sh, 2·sh, … and columns 0, sw, … of every
    /// plane, `[N, C, ⌈H/sh⌉, ⌈W/sw⌉]`, in one pass over the planes on Zoo's threads (and its
    /// gradient in one: ``spread(stride:height:width:)``).
    public func subsampled(stride: (Int, Int)) -> Tensor {
        precondition(rank == 4, "subsampled: input must be [N, C, H, W], got \(shape)")
        precondition(stride.0 >= 1 && stride.1 >= 1, "subsampled: stride \(stride) must be ≥ 1")
        if stride == (1, 1) { return self }
        let (h, w) = (shape[2], shape[3])
        let out = Tensor.strided(scalars, planes: shape[0] * shape[1], large: (h, w), stride: stride, gathering: true)
        return Tensor.recorded("subsample", shape: [shape[0], shape[1], (h + stride.0 - 1) / stride.0, (w + stride.1 - 1) / stride.1],
                               scalars: out, inputs: [self]) { g, _ in [g.spread(stride: stride, height: h, width: w)] }
    }

    /// The adjoint of ``subsampled(stride:)``: `[N, C, h, w]` planes of zeros with this
    /// `[N, C, ⌈h/sh⌉, ⌈w/sw⌉]` tensor's elements at rows 0, sh, … and columns 0, sw, ….
    public func spread(stride: (Int, Int), height h: Int, width w: Int) -> Tensor {
        precondition(rank == 4 && shape[2] == (h + stride.0 - 1) / stride.0 && shape[3] == (w + stride.1 - 1) / stride.1,
                     "spread: \(shape) is not the subsample by \(stride) of \(h)×\(w) planes")
        if stride == (1, 1) { return self }
        let out = Tensor.strided(scalars, planes: shape[0] * shape[1], large: (h, w), stride: stride, gathering: false)
        return Tensor.recorded("spread", shape: [shape[0], shape[1], h, w], scalars: out, inputs: [self]) { g, _ in
            [g.subsampled(stride: stride)]
        }
    }

    /// Between planes of `large` extent and their subsample by `stride`: gathering reads the
    /// large planes in `values` and returns the small ones; otherwise it spreads the small ones
    /// into zeroed large ones.
    private static func strided(_ values: [Float], planes: Int, large: (Int, Int), stride: (Int, Int), gathering: Bool) -> [Float] {
        let (h, w, sh, sw) = (large.0, large.1, stride.0, stride.1), (oh, ow) = ((h + sh - 1) / sh, (w + sw - 1) / sw)
        let (big, small) = (h * w, oh * ow)
        guard planes > 0 && big > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: planes * (gathering ? small : big)) { out, initialized in
            values.withUnsafeBufferPointer { pv in
                let (source, target) = (pv.baseAddress!, out.baseAddress!)
                BLAS.parallelFor(planes, work: planes * big) { p, _ in
                    if gathering {
                        let (large, compact) = (source + p * big, target + p * small)
                        for i in 0..<oh { for j in 0..<ow { compact[i &* ow &+ j] = large[i &* sh &* w &+ j &* sw] } }
                    } else {
                        let (compact, large) = (source + p * small, target + p * big)
                        for i in 0..<big { large[i] = 0 }
                        for i in 0..<oh { for j in 0..<ow { large[i &* sh &* w &+ j &* sw] = compact[i &* ow &+ j] } }
                    }
                }
            }
            initialized = out.count
        }
    }

    /// Zeros (or `value`) added before and after along `axis` (the adjoint of slicing).
    public func padded(axis: Int, before: Int, after: Int, value: Float = 0) -> Tensor {
        let a = normalizedAxis(axis, rank: rank, op: "padded")
        precondition(before >= 0 && after >= 0, "padded: negative padding \(before), \(after)")
        if before == 0 && after == 0 { return self }
        let outer = shape[..<a].elementCount, n = shape[a], inner = shape[(a + 1)...].elementCount
        var outShape = shape
        outShape[a] = n + before + after
        var out = [Float](repeating: value, count: outShape.elementCount)
        let m = outShape[a]
        out.withUnsafeMutableBufferPointer { po in
            scalars.withUnsafeBufferPointer { pa in
                for o in 0..<outer {
                    let dst = (o * m + before) * inner, src = o * n * inner
                    for k in 0..<(n * inner) { po[dst + k] = pa[src + k] }
                }
            }
        }
        return Tensor.recorded("pad", shape: outShape, scalars: out, inputs: [self]) { g, _ in
            [g.sliced(axis: a, before..<(before + n))]
        }
    }

    /// The tensors joined along `axis`; all other extents must agree.
    public static func concatenated(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "concatenated: no tensors given")
        let first = tensors[0]
        let a = normalizedAxis(axis, rank: first.rank, op: "concatenated")
        for t in tensors {
            var s1 = t.shape, s0 = first.shape
            precondition(s1.count == s0.count, "concatenated: shapes \(tensors.map(\.shape)) differ in rank")
            s1[a] = 0; s0[a] = 0
            precondition(s1 == s0, "concatenated: shapes \(tensors.map(\.shape)) differ outside axis \(axis)")
        }
        if tensors.count == 1 { return first }
        let outer = first.shape[..<a].elementCount, inner = first.shape[(a + 1)...].elementCount
        let extents = tensors.map { $0.shape[a] }
        let total = extents.reduce(0, +)
        var outShape = first.shape
        outShape[a] = total
        // Every element is written once: no zeroing first (the population's stacked batches
        // and evaluation inputs are this op's large callers).
        let out = [Float](unsafeUninitializedCapacity: outShape.elementCount) { po, initialized in
            var offset = 0
            for (t, e) in zip(tensors, extents) {
                t.scalars.withUnsafeBufferPointer { pa in
                    for o in 0..<outer where e * inner > 0 {
                        let dst = po.baseAddress! + (o * total + offset) * inner, src = pa.baseAddress! + o * e * inner, n = e * inner
                        if n >= 256 { dst.initialize(from: src, count: n) } else { for k in 0..<n { dst[k] = src[k] } }
                    }
                }
                offset += e
            }
            initialized = po.count
        }
        return recorded("concatenate", shape: outShape, scalars: out, inputs: tensors) { g, needs in
            var start = 0
            return extents.enumerated().map { i, e in
                defer { start += e }
                return needs[i] ? g.sliced(axis: a, start..<(start + e)) : nil
            }
        }
    }

    /// The tensors, all of one shape, stacked along a new `axis`.
    public static func stacked(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stacked: no tensors given")
        precondition(tensors.allSatisfy { $0.shape == tensors[0].shape }, "stacked: shapes differ: \(tensors.map(\.shape))")
        return concatenated(tensors.map { $0.unsqueezed(axis: axis) }, axis: axis)
    }

    /// Index `index` along axis 0, with that axis removed.
    public subscript(index: Int) -> Tensor {
        precondition(rank >= 1, "subscript: a scalar has no axis 0")
        precondition(index >= 0 && index < shape[0], "subscript: index \(index) is out of range for axis 0 of shape \(shape)")
        return sliced(axis: 0, index..<(index + 1)).squeezed(axis: 0)
    }

    /// Elements `range` along axis 0.
    public subscript(range: Range<Int>) -> Tensor { sliced(axis: 0, range) }
}
