/// Elementwise kernels over contiguous buffers, with NumPy broadcasting.
///
/// Every function here is a plain computation on `Float` arrays: no tape, no shapes checks
/// beyond broadcasting. The differentiable ops in `Autodiff/` call them.
enum Elementwise {
    /// `f` applied to the pairs of two arrays of one length.
    @inline(__always)
    static func zip(_ a: [Float], _ b: [Float], _ f: (Float, Float) -> Float) -> [Float] {
        precondition(a.count == b.count, "Elementwise.zip: \(a.count) and \(b.count) elements")
        return [Float](unsafeUninitializedCapacity: a.count) { out, n in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    for i in 0..<pa.count { out[i] = f(pa[i], pb[i]) }
                }
            }
            n = a.count
        }
    }

    /// A loop of `CZooKernels/loops.h` over two arrays of one length into a third: (a, b, y, n).
    typealias BinaryLoop = @convention(c) (UnsafePointer<Float>?, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void

    /// `loop` (y = f(a, b), in C for the kernel path) over two arrays of one length, in chunks on
    /// the engine's threads when they are large (a chunk per call: the element loop stays in C,
    /// vectorized, rather than a Swift closure called per element across the pool).
    static func zip(_ a: [Float], _ b: [Float], loop: BinaryLoop?) -> [Float] {
        precondition(a.count == b.count, "Elementwise.zip: \(a.count) and \(b.count) elements")
        let f = loop!
        return [Float](unsafeUninitializedCapacity: a.count) { out, n in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    chunked(pa.count) { start, count in f(pa.baseAddress! + start, pb.baseAddress! + start, out.baseAddress! + start, count) }
                }
            }
            n = a.count
        }
    }

    /// Calls `body(start, count)` for consecutive chunks covering `0 ..< total`, on the engine's
    /// threads when `total` is large enough to pay for waking them.
    @inline(__always)
    static func chunked(_ total: Int, _ body: (_ start: Int, _ count: Int) -> Void) {
        let chunk = 1 << 15, chunks = (total + chunk - 1) / chunk
        BLAS.parallelFor(chunks, work: total) { c, _ in body(c * chunk, min(chunk, total - c * chunk)) }
    }

    /// The broadcast of two shapes (NumPy rules: align at the right; an extent of 1 stretches).
    static func broadcastShape(_ a: [Int], _ b: [Int], op: String) -> [Int] {
        let rank = max(a.count, b.count)
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            precondition(da == db || da == 1 || db == 1,
                         "\(op): shapes \(a) and \(b) cannot be broadcast together (axis \(i - rank) has \(da) vs \(db))")
            out[i] = da == 1 ? db : da
        }
        return out
    }

    /// Strides of a tensor of `shape` read as if broadcast to `target` (0 on stretched axes).
    static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let s = shape.strides
        let offset = target.count - shape.count
        return (0..<target.count).map { i in
            i < offset || shape[i - offset] == 1 ? 0 : s[i - offset]
        }
    }

    /// `f` applied to every element.
    @inline(__always)
    static func map(_ a: [Float], _ f: (Float) -> Float) -> [Float] {
        [Float](unsafeUninitializedCapacity: a.count) { out, n in
            a.withUnsafeBufferPointer { pa in
                for i in 0..<pa.count { out[i] = f(pa[i]) }
            }
            n = a.count
        }
    }

    /// `f` applied to broadcast pairs; returns the broadcast shape and the result.
    @inline(__always)
    static func zip(_ a: Tensor, _ b: Tensor, op: String, _ f: (Float, Float) -> Float) -> (shape: [Int], scalars: [Float]) {
        if a.shape == b.shape { return (a.shape, zip(a.scalars, b.scalars, f)) }
        let shape = broadcastShape(a.shape, b.shape, op: op)
        let total = shape.elementCount
        if b.count == 1 && a.count == total {
            let s = b.scalars[0]
            return (shape, map(a.scalars) { f($0, s) })
        }
        if a.count == 1 && b.count == total {
            let s = a.scalars[0]
            return (shape, map(b.scalars) { f(s, $0) })
        }
        let sa = broadcastStrides(a.shape, to: shape)
        let sb = broadcastStrides(b.shape, to: shape)
        let r = [Float](unsafeUninitializedCapacity: total) { out, n in
            a.scalars.withUnsafeBufferPointer { pa in
                b.scalars.withUnsafeBufferPointer { pb in
                    forEachRow(shape: shape, strides: [sa, sb]) { outBase, offsets, inner in
                        let ia = offsets[0], ib = offsets[1]
                        let ja = sa[shape.count - 1], jb = sb[shape.count - 1]
                        for k in 0..<inner { out[outBase + k] = f(pa[ia + k * ja], pb[ib + k * jb]) }
                    }
                }
            }
            n = total
        }
        return (shape, r)
    }

    /// Calls `body(outputOffset, inputOffsets, innerCount)` for every row (all axes but the last)
    /// of a contiguous output of `shape`, with each input's offset from its `strides`.
    @inline(__always)
    static func forEachRow(shape: [Int], strides: [[Int]], _ body: (Int, [Int], Int) -> Void) {
        let rank = shape.count
        let total = shape.elementCount
        guard total > 0 else { return }
        if rank == 0 { body(0, strides.map { _ in 0 }, 1); return }
        let inner = shape[rank - 1]
        var index = [Int](repeating: 0, count: rank)
        var offsets = [Int](repeating: 0, count: strides.count)
        var out = 0
        while out < total {
            body(out, offsets, inner)
            out += inner
            // Advance the multi-index over the outer axes, updating input offsets incrementally.
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                for j in 0..<strides.count { offsets[j] += strides[j][axis] }
                if index[axis] < shape[axis] { break }
                for j in 0..<strides.count { offsets[j] -= strides[j][axis] * shape[axis] }
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// Sums a tensor of `shape` down to `target`, where `shape` is `target` broadcast.
    static func sumToShape(_ a: [Float], shape: [Int], target: [Int]) -> [Float] {
        reduce(a, shape: shape, target: target, initial: 0, +)
    }

    /// Combines the elements of a tensor of `shape` that broadcast onto the same element of `target`.
    @inline(__always)
    static func reduce(_ a: [Float], shape: [Int], target: [Int], initial: Float, _ combine: (Float, Float) -> Float) -> [Float] {
        var out = [Float](repeating: initial, count: target.elementCount)
        let st = broadcastStrides(target, to: shape)
        out.withUnsafeMutableBufferPointer { po in
            a.withUnsafeBufferPointer { pa in
                let jt = shape.isEmpty ? 0 : st[shape.count - 1]
                forEachRow(shape: shape, strides: [st]) { base, offsets, inner in
                    let o = offsets[0]
                    if jt == 0 {
                        var acc = po[o]
                        for k in 0..<inner { acc = combine(acc, pa[base + k]) }
                        po[o] = acc
                    } else {
                        for k in 0..<inner { po[o + k * jt] = combine(po[o + k * jt], pa[base + k]) }
                    }
                }
            }
        }
        return out
    }

    /// `a` (of `shape`) broadcast to `target`.
    static func expand(_ a: [Float], shape: [Int], target: [Int]) -> [Float] {
        let total = target.elementCount
        let sa = broadcastStrides(shape, to: target)
        return [Float](unsafeUninitializedCapacity: total) { out, n in
            a.withUnsafeBufferPointer { pa in
                let ja = target.isEmpty ? 0 : sa[target.count - 1]
                forEachRow(shape: target, strides: [sa]) { base, offsets, inner in
                    let o = offsets[0]
                    for k in 0..<inner { out[base + k] = pa[o + k * ja] }
                }
            }
            n = total
        }
    }
}
