import CZooKernels
import Testing
import ZooTensor

/// Zoo's GEMM kernels (`CZooKernels`: AVX-512 and AVX2, each where the processor has it) against
/// a double-precision triple loop, on shapes that hit every edge of their blocking (partial register
/// tiles, several depth / row / column blocks, operands packed or read in place), transposes,
/// leading dimensions wider than the matrix, alpha and beta.
@Suite("GEMM kernels")
struct GemmKernelTests {
    /// A kernel with `zoo_sgemm_avx512`'s signature and contract.
    enum Kernel: String, CaseIterable, CustomStringConvertible, Sendable {
        case avx512, avx2

        var description: String { rawValue }
        var available: Bool { self == .avx512 ? zoo_cpu_has_avx512() : zoo_cpu_has_avx2_fma() }

        func callAsFunction(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                            _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                            _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
            switch self {
            case .avx512: zoo_sgemm_avx512(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            case .avx2: zoo_sgemm_avx2(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            }
        }
    }

    /// The kernels this processor runs.
    static let kernels = Kernel.allCases.filter(\.available)

    struct Product: CustomStringConvertible {
        var m, n, k: Int
        var transA = false, transB = false
        var alpha: Float = 1, beta: Float = 0
        var description: String { "\(m)×\(n)×\(k) transA \(transA) transB \(transB) α \(alpha) β \(beta)" }
    }

    /// Deterministic values in [-1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(state >> 40) / Float(1 << 23) - 1
        }
    }

    /// C after the kernel, C before it, and the reference with its error bound, for `p` (leading
    /// dimensions padded by 3).
    static func run(_ kernel: Kernel, _ p: Product, split: (rows: Int, columns: Int)? = nil) -> (c: [Float], start: [Float], reference: [Double], bound: [Double]) {
        let (rowsA, colsA) = p.transA ? (p.k, p.m) : (p.m, p.k)
        let (rowsB, colsB) = p.transB ? (p.n, p.k) : (p.k, p.n)
        let (lda, ldb, ldc) = (colsA + 3, colsB + 3, p.n + 3)
        let a = values(rowsA * lda, seed: 1), b = values(rowsB * ldb, seed: 2)
        let start = values(p.m * ldc, seed: 3)
        // With β = 0 the kernel must not read C: NaN there must not leak into the result.
        var c = p.beta == 0 ? [Float](repeating: .nan, count: p.m * ldc) : start
        var reference = [Double](repeating: 0, count: p.m * ldc), bound = reference
        for i in 0..<p.m {
            for j in 0..<p.n {
                var s = 0.0, magnitude = 0.0
                for q in 0..<p.k {
                    let x = Double(p.transA ? a[q * lda + i] : a[i * lda + q]), y = Double(p.transB ? b[j * ldb + q] : b[q * ldb + j])
                    s += x * y
                    magnitude += abs(x * y)
                }
                let old = p.beta == 0 ? 0 : Double(start[i * ldc + j])
                reference[i * ldc + j] = Double(p.alpha) * s + Double(p.beta) * old
                bound[i * ldc + j] = 1e-6 * Double(p.k + 2) * (abs(Double(p.alpha)) * magnitude + abs(Double(p.beta) * old)) + 1e-30
            }
        }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    let (A, B, C) = (pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
                    func product(rows: Range<Int>, columns: Range<Int>) {
                        guard !rows.isEmpty && !columns.isEmpty else { return }
                        let aStart = p.transA ? A + rows.lowerBound : A + rows.lowerBound * lda
                        let bStart = p.transB ? B + columns.lowerBound * ldb : B + columns.lowerBound
                        kernel(p.transA, p.transB, rows.count, columns.count, p.k, p.alpha, aStart, lda, bStart, ldb,
                               p.beta, C + rows.lowerBound * ldc + columns.lowerBound, ldc)
                    }
                    if let split {
                        for rows in [0..<split.rows, split.rows..<p.m] {
                            for columns in [0..<split.columns, split.columns..<p.n] { product(rows: rows, columns: columns) }
                        }
                    } else {
                        product(rows: 0..<p.m, columns: 0..<p.n)
                    }
                }
            }
        }
        return (c, start, reference, bound)
    }

    static let products: [Product] = {
        // The AVX2 kernel's edges too: 6-row tiles, and 1- to 3-row ones spanning 64 or 32 columns
        // (25 × 60: a last tile of 8 vectors), one row panel (B read in place), A read in place
        // (n ≤ 32) or packed, depth blocks of 256 or less split evenly (k = 600, 260), 512-column
        // blocks of B, 96-row blocks of A.
        let shapes = [(1, 1, 1), (5, 3, 2), (16, 16, 16), (17, 33, 7), (37, 53, 300), (130, 20, 513), (3, 1100, 40), (200, 70, 20),
                      (6, 40, 17), (7, 257, 33), (33, 17, 257), (257, 45, 1), (13, 100, 600), (100, 12, 260), (20, 600, 33), (25, 60, 40)]
        var all: [Product] = []
        for (index, (m, n, k)) in shapes.enumerated() {
            for transA in [false, true] {
                for transB in [false, true] {
                    let (alpha, beta): (Float, Float) = [(1, 0), (0.5, 1), (-2, -0.25)][(index + (transA ? 1 : 0) + (transB ? 2 : 0)) % 3]
                    all.append(Product(m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: beta))
                }
            }
        }
        return all
    }()

    @Test("matches a double-precision product", arguments: kernels, products)
    func matchesReference(_ kernel: Kernel, _ p: Product) {
        let (c, start, reference, bound) = Self.run(kernel, p)
        let ldc = p.n + 3
        var worst = 0.0
        for i in 0..<p.m {
            for j in 0..<p.n {
                // A NaN (C read with β = 0, or never written) counts as infinitely wrong: max would drop it.
                let error = abs(Double(c[i * ldc + j]) - reference[i * ldc + j]) / bound[i * ldc + j]
                worst = error.isNaN ? .infinity : max(worst, error)
            }
            // The padding between rows is never written.
            if p.beta != 0 { for j in p.n..<ldc { #expect(c[i * ldc + j] == start[i * ldc + j]) } }
        }
        #expect(worst <= 1, "\(kernel) \(p): error \(worst)× the bound")
    }

    /// Products computed in four blocks (rows and columns split) equal the whole bit for bit: the
    /// engine splits products over threads, and a population's members must not change each other.
    /// (Split at row 7 and column 21: the parts of the last products take every path of the AVX2
    /// kernel, a single row panel with B in place, A in place or packed, several column and depth
    /// blocks, 1-row tiles of several widths.)
    @Test("splitting rows or columns changes no bit", arguments: kernels, [
        Product(m: 37, n: 53, k: 300), Product(m: 130, n: 40, k: 513, transA: true),
        Product(m: 20, n: 70, k: 33, transB: true, alpha: 0.5, beta: 1),
        Product(m: 10, n: 600, k: 70, transA: true), Product(m: 9, n: 50, k: 600, transB: true, alpha: -2, beta: -0.25),
        Product(m: 13, n: 100, k: 40, transB: true),
    ])
    func splitsAreExact(_ kernel: Kernel, _ p: Product) {
        let whole = Self.run(kernel, p).c, parts = Self.run(kernel, p, split: (rows: 7, columns: 21)).c
        let ldc = p.n + 3
        let differing = (0..<p.m).flatMap { i in (0..<p.n).map { i * ldc + $0 } }.filter { whole[$0].bitPattern != parts[$0].bitPattern }
        #expect(differing.isEmpty, "\(kernel) \(p): \(differing.count) elements differ")
    }

    @Test(arguments: kernels)
    func emptyDepthScalesC(_ kernel: Kernel) {
        var c: [Float] = [1, 2, .nan, 4]
        let none: [Float] = [0]
        kernel(false, false, 2, 2, 0, 1, none, 1, none, 1, 0, &c, 2)
        #expect(c == [0, 0, 0, 0])
        c = [1, 2, 3, 4]
        kernel(false, false, 2, 2, 0, 1, none, 1, none, 1, 0.5, &c, 2)
        #expect(c == [0.5, 1, 1.5, 2])
    }
}
