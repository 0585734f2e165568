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
