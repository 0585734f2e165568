// Differentiable matrix products: plain, batched over leading axes, and broadcast.

/// The matrix product of the last two axes, batched over the leading axes.
///
/// - `a: [m, k]`, `b: [k, n]` → `[m, n]`;
/// - `a: [..., m, k]`, `b: [k, n]` → `[..., m, n]` (one GEMM over the folded batch);
/// - `a: [..., m, k]`, `b: [..., k, n]` → `[..., m, n]`, batch axes broadcast.
///
/// Computed with OpenBLAS `sgemm`. - Complexity: 2·batch·m·n·k flops.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank >= 2 && b.rank >= 2, "matmul: needs rank ≥ 2 operands, got shapes \(a.shape) and \(b.shape)")
    let k = a.shape[a.rank - 1]
    precondition(b.shape[b.rank - 2] == k,
                 "matmul: inner extents differ: \(a.shape) × \(b.shape) (\(k) vs \(b.shape[b.rank - 2]))")
    let m = a.shape[a.rank - 2], n = b.shape[b.rank - 1]
    if b.rank == 2 {
        // Fold every leading axis of `a` into the rows of one product.
        let rows = a.shape.dropLast().elementCount
        let outShape = Array(a.shape.dropLast()) + [n]
        let out = Kernels.gemm(a.scalars, b.scalars, m: rows, n: n, k: k, transposeA: false, transposeB: false)
        return Tensor.recorded("matmul", shape: outShape, scalars: out, inputs: [a, b]) { g, needs in
            [needs[0] ? matmulTransposingB(g.reshaped([-1, n]), b).reshaped(a.shape) : nil,
             needs[1] ? matmulTransposingA(a.reshaped([-1, k]), g.reshaped([-1, n])) : nil]
        }
    }
    let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
    if batchA != batchB {
        let batch = Elementwise.broadcastShape(batchA, batchB, op: "matmul")
        return matmul(a.expanded(to: batch + [m, k]), b.expanded(to: batch + [k, n]))
    }
    let batch = batchA.elementCount
    var out = [Float](repeating: 0, count: batch * m * n)
    a.scalars.withUnsafeBufferPointer { pa in
        b.scalars.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { po in
                BLAS.parallelFor(batch, work: batch * m * n * k) { i, _ in
                    BLAS.serialGemm(transposeA: false, transposeB: false, m: m, n: n, k: k,
                                    pa.baseAddress! + i * m * k, lda: k, pb.baseAddress! + i * k * n, ldb: n,
                                    po.baseAddress! + i * m * n, ldc: n)
                }
            }
        }
    }
    return Tensor.recorded("batchedMatmul", shape: batchA + [m, n], scalars: out, inputs: [a, b]) { g, needs in
        [needs[0] ? matmul(g, b.transposed()) : nil, needs[1] ? matmul(a.transposed(), g) : nil]
    }
}

/// a · bᵀ for `a: [m, k]`, `b: [n, k]` → `[m, n]`, without materializing the transpose: a
/// linear layer's forward pass (`x · Wᵀ`) and the input gradient of ``matmul(_:_:)``.
public func matmulTransposingB(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank == 2 && b.rank == 2 && a.shape[1] == b.shape[1],
                 "matmulTransposingB: needs [m, k] and [n, k], got \(a.shape) and \(b.shape)")
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[0])
    let out = Kernels.gemm(a.scalars, b.scalars, m: m, n: n, k: k, transposeA: false, transposeB: true)
    return Tensor.recorded("matmulTransposingB", shape: [m, n], scalars: out, inputs: [a, b]) { g, needs in
        [needs[0] ? matmul(g, b) : nil, needs[1] ? matmulTransposingA(g, a) : nil]
    }
}

/// aᵀ · b for `a: [k, m]`, `b: [k, n]` → `[m, n]`, without materializing the transpose: the
/// weight gradient of a linear layer and of ``matmul(_:_:)``.
public func matmulTransposingA(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank == 2 && b.rank == 2 && a.shape[0] == b.shape[0],
                 "matmulTransposingA: needs [k, m] and [k, n], got \(a.shape) and \(b.shape)")
    let (k, m, n) = (a.shape[0], a.shape[1], b.shape[1])
    let out = Kernels.gemm(a.scalars, b.scalars, m: m, n: n, k: k, transposeA: true, transposeB: false)
    return Tensor.recorded("matmulTransposingA", shape: [m, n], scalars: out, inputs: [a, b]) { g, needs in
        [needs[0] ? matmulTransposingB(b, g) : nil, needs[1] ? matmul(a, g) : nil]
    }
}

enum Kernels {
    /// Row-major `op(A)·op(B)` for contiguous arrays, op(A) m×k and op(B) k×n.
    static func gemm(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) -> [Float] {
        guard m > 0, n > 0 else { return [] }
        // β = 0: the product writes every element of C without reading it (k = 0 writes zeros).
        return [Float](unsafeUninitializedCapacity: m * n) { po, initialized in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                              pa.baseAddress ?? UnsafePointer(bitPattern: 1)!, lda: transposeA ? m : k,
                              pb.baseAddress ?? UnsafePointer(bitPattern: 1)!, ldb: transposeB ? k : n,
                              po.baseAddress!, ldc: n)
                }
            }
            initialized = m * n
        }
    }
}

/// Per member i of a stack: op(a[i]) · op(b[i]), where op transposes the last two axes when
/// asked, without materializing a transpose: a population's linear layers (`x · Wᵀ` per member).
///
/// - `a`: `[K, m, k]` (`[K, k, m]` when `transposingA`), `b`: `[K, k, n]` (`[K, n, k]` when
///   `transposingB`) → `[K, m, n]`.
///
/// Each member's product is one GEMM with the same arguments it gets alone (``matmulTransposingB(_:_:)``
/// for K = 1), so a member's result does not depend on the stack. Backward products are stacked
/// products too. - Complexity: 2·K·m·n·k flops.
public func stackedMatmul(_ a: Tensor, _ b: Tensor, transposingA ta: Bool = false, transposingB tb: Bool = false) -> Tensor {
    precondition(a.rank == 3 && b.rank == 3 && a.shape[0] == b.shape[0],
                 "stackedMatmul: needs [K, ·, ·] operands with one K, got \(a.shape) and \(b.shape)")
    let count = a.shape[0]
    let (m, k) = ta ? (a.shape[2], a.shape[1]) : (a.shape[1], a.shape[2])
    let (kb, n) = tb ? (b.shape[2], b.shape[1]) : (b.shape[1], b.shape[2])
    precondition(k == kb, "stackedMatmul: inner extents differ: \(a.shape)\(ta ? "ᵀ" : "") × \(b.shape)\(tb ? "ᵀ" : "") (\(k) vs \(kb))")
    var out = [Float](repeating: 0, count: count * m * n)
    if m > 0 && n > 0 {
        a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { po in
                    for i in 0..<count {
                        BLAS.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k,
                                  (pa.baseAddress ?? UnsafePointer(bitPattern: 1)!) + i * m * k, lda: ta ? m : k,
                                  (pb.baseAddress ?? UnsafePointer(bitPattern: 1)!) + i * k * n, ldb: tb ? k : n,
                                  po.baseAddress! + i * m * n, ldc: n)
                    }
                }
            }
        }
    }
    return Tensor.recorded("stackedMatmul", shape: [count, m, n], scalars: out, inputs: [a, b]) { g, needs in
        switch (ta, tb) {
        case (false, false):  // C = A·B: dA = G·Bᵀ, dB = Aᵀ·G
            return [needs[0] ? stackedMatmul(g, b, transposingB: true) : nil, needs[1] ? stackedMatmul(a, g, transposingA: true) : nil]
        case (false, true):  // C = A·Bᵀ: dA = G·B, dB = Gᵀ·A
            return [needs[0] ? stackedMatmul(g, b) : nil, needs[1] ? stackedMatmul(g, a, transposingA: true) : nil]
        case (true, false):  // C = Aᵀ·B: dA = B·Gᵀ, dB = A·G
            return [needs[0] ? stackedMatmul(b, g, transposingB: true) : nil, needs[1] ? stackedMatmul(a, g) : nil]
        case (true, true):  // C = Aᵀ·Bᵀ: dA = Bᵀ·Gᵀ, dB = Gᵀ·Aᵀ
            return [needs[0] ? stackedMatmul(b, g, transposingA: true, transposingB: true) : nil,
                    needs[1] ? stackedMatmul(g, a, transposingA: true, transposingB: true) : nil]
        }
    }
}
