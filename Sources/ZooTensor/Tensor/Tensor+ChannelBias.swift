// Adding a bias per channel — the last step of every convolution and linear layer — in one pass,
// and its adjoint, the per-channel sum, without the general broadcasting machinery.

/// `x + bias` with the bias broadcast over every axis but the channel axis 1.
///
/// - Parameters:
///   - x: `[M·N, C, …]`.
///   - bias: `[C]`, or `[M, C]` for a stacked population of M members (member m's rows are
///     `m·N ..< (m+1)·N`).
public func addingChannelBias(_ x: Tensor, _ bias: Tensor) -> Tensor {
    let (m, c) = channelBiasLayout(x.shape, bias.shape, op: "addingChannelBias")
    let n = x.shape[0] / m, p = x.count / max(1, x.shape[0] * c)
    // One pass that reads x and writes y, which needs no zeroing or copy first.
    let y = [Float](unsafeUninitializedCapacity: x.count) { py, initialized in
        initialized = x.count
        x.scalars.withUnsafeBufferPointer { px in
            bias.scalars.withUnsafeBufferPointer { pb in
                guard let xs = px.baseAddress, let ys = py.baseAddress, let bs = pb.baseAddress else { return }
                for row in 0..<m * n {
                    let member = bs + (row / n) * c, src = xs + row * c * p, dst = ys + row * c * p
                    if p == 1 {
                        // A linear layer's bias: the row added as a vector.
                        for ch in 0..<c { dst[ch] = src[ch] + member[ch] }
                    } else {
                        for ch in 0..<c {
                            let v = member[ch], base = ch * p
                            for j in 0..<p { dst[base + j] = src[base + j] + v }
                        }
                    }
                }
            }
        }
    }
    return Tensor.recorded("addingChannelBias", shape: x.shape, scalars: y, inputs: [x, bias]) { g, needs in
        [needs[0] ? g : nil, needs[1] ? channelSums(g, like: bias) : nil]
    }
}

/// The sum of `x: [M·N, C, …]` over every axis but the channel axis, per member: shaped like
/// `bias` (`[C]` or `[M, C]`). The adjoint of ``addingChannelBias(_:_:)``.
func channelSums(_ x: Tensor, like bias: Tensor) -> Tensor {
    let (m, c) = channelBiasLayout(x.shape, bias.shape, op: "channelSums")
    let n = x.shape[0] / m, p = x.count / max(1, x.shape[0] * c)
    var s = [Float](repeating: 0, count: m * c)
    x.scalars.withUnsafeBufferPointer { px in
        s.withUnsafeMutableBufferPointer { ps in
            guard let xs = px.baseAddress, let sums = ps.baseAddress else { return }
            if p == 1 {
                // A linear layer's bias: the row added as a vector (each sum still runs over rows in order).
                for row in 0..<m * n {
                    let out = sums + (row / n) * c, input = xs + row * c
                    for ch in 0..<c { out[ch] += input[ch] }
                }
                return
            }
            // A channel per item over Zoo's threads; each sum runs over the rows in order.
            BLAS.parallelFor(c, work: x.count) { ch, _ in
                BLAS.loops.row_sums(xs + ch * p, m * n, p, c * p, n, sums + ch, c)
            }
        }
    }
    let shape = x.shape
    return Tensor.recorded("channelSums", shape: bias.shape, scalars: s, inputs: [x]) { g, _ in
        [addingChannelBias(Tensor.zeros(shape), g)]
    }
}

private func channelBiasLayout(_ x: [Int], _ b: [Int], op: String) -> (members: Int, channels: Int) {
    precondition(x.count >= 2, "\(op): input must be [N, C, …], got \(x)")
    let c = x[1]
    if b == [c] { return (1, c) }
    precondition(b.count == 2 && b[1] == c && b[0] >= 1 && x[0] % b[0] == 0,
                 "\(op): bias \(b) must be [\(c)] or [M, \(c)] with M dividing \(x[0]) (input \(x))")
    return (b[0], c)
}
