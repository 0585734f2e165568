import CZooBLAS
import CZooKernels
import Foundation
import Dispatch
import Synchronization

/// Matrix products (Zoo's AVX-512 or AVX2 kernels, or OpenBLAS's `cblas_sgemm` on the portable path;
/// ``kernelPath``), the kernel path itself, and the engine's threads.
///
/// Zoo owns its parallelism: OpenBLAS always runs single-threaded, and kernels split their work
/// (GEMM rows or columns, convolution members and sample chunks) over ``threadCount`` threads.
/// So a sweep with two workers sets one thread each, and nothing is ever oversubscribed.
public enum BLAS {
    private static let threads = Atomic<Int>(2)
    /// Once per process: OpenBLAS single-threaded, and malloc keeps large blocks for reuse instead
    /// of returning them to the kernel (every op allocates its output; fresh pages fault and zero).
    private static let configureOpenBLAS: Void = {
        openblas_set_num_threads(1)
        _ = mallopt(M_MMAP_THRESHOLD, 1 << 30)
        _ = mallopt(M_TRIM_THRESHOLD, 1 << 30)
    }()

    /// Sets how many threads one computation uses (1 when several workers run in parallel), and
    /// prepares the calling thread (``prepareCurrentThread()``).
    public static func setThreadCount(_ n: Int) {
        precondition(n >= 1, "BLAS.setThreadCount: needs at least 1 thread, got \(n)")
        _ = configureOpenBLAS
        threads.store(n, ordering: .relaxed)
        prepareCurrentThread()
    }

    /// OpenBLAS reads its settings from the environment when it is loaded, before any code of Zoo
    /// runs. A command-line tool calls this first thing: unless `OPENBLAS_NUM_THREADS` is set, it
    /// sets it to 1 and re-executes the process (same arguments), once — otherwise OpenBLAS starts
    /// its own worker threads, which stay idle (Zoo owns its threads) but still slowed a batch-32
    /// zoo-cnn step 1.5×. If re-executing fails, it returns and the process goes on as it is.
    /// (Where Zoo's own kernels run, they replace OpenBLAS's: see ``kernelPath``.)
    public static func restartWithEngineSettings() {
        guard getenv("OPENBLAS_NUM_THREADS") == nil else { return }
        setenv("OPENBLAS_NUM_THREADS", "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }

    /// Makes the calling thread flush subnormal floats to zero (FTZ and DAZ): tiny gradients
    /// otherwise take the CPU's slow path for subnormals, several times slower. Zoo's own
    /// worker threads do this themselves; call it on a thread of yours that trains.
    public static func prepareCurrentThread() { zoo_flush_denormals() }

    /// The number of threads one computation uses: the task's override, else the process's setting.
    public static var threadCount: Int { threadOverride ?? threads.load(ordering: .relaxed) }

    @TaskLocal private static var threadOverride: Int?

    /// Runs `body` with `n` threads per computation in this task only (tests compare thread counts).
    public static func withThreadCount<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        precondition(n >= 1, "BLAS.withThreadCount: needs at least 1 thread, got \(n)")
        prepareCurrentThread()
        return try $threadOverride.withValue(n, operation: body)
    }

    /// Runs `body(i)` for every `i` in `0..<count` on up to ``threadCount`` threads of the
    /// engine's pool (which thread runs which item varies); `body` also receives the index of the
    /// thread (`0..<min(threadCount, count)`), for per-thread scratch space.
    ///
    /// `work` estimates the whole job in scalar operations: below ``minimumParallelWork``, waking
    /// another thread costs more than it saves, and the items run on the calling thread.
    public static func parallelFor(_ count: Int, work: Int = .max, _ body: (_ item: Int, _ thread: Int) -> Void) {
        let t = work < minimumParallelWork ? 1 : min(threadCount, count)
        if t <= 1 {
            zoo_flush_denormals()
            for i in 0..<count { body(i, 0) }
            return
        }
        if ThreadPool.shared.run(count, threads: t, body) { return }
        // The pool is busy (another caller's job, or this is a job inside a job): run here.
        zoo_flush_denormals()
        for i in 0..<count { body(i, 0) }
    }

    /// How many threads ``parallelFor(_:work:_:)`` uses for `count` items.
    static func threadsFor(_ count: Int) -> Int { max(1, min(threadCount, count)) }

    /// Jobs smaller than this many scalar operations run on one thread (a thread wake-up costs
    /// several microseconds).
    public static let minimumParallelWork = 1 << 16

    /// C = alpha · op(A) · op(B) + beta · C, all row-major; op(A) is m×k, op(B) k×n. Large
    /// products are split by rows (or columns) of C over ``threadCount`` threads.
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0 && n > 0 else { return }
        let parts = threadCount
        if parts > 1 && m * n * k >= 1 << 20 && max(m, n) >= 2 * parts {
            let splitRows = m >= n
            let extent = splitRows ? m : n
            let size = (extent + parts - 1) / parts
            parallelFor(parts) { p, _ in
                let lo = p * size, hi = min(extent, lo + size)
                guard lo < hi else { return }
                if splitRows {
                    serialGemm(transposeA: transposeA, transposeB: transposeB, m: hi - lo, n: n, k: k, alpha: alpha,
                               transposeA ? a + lo : a + lo * lda, lda: lda, b, ldb: ldb, beta: beta, c + lo * ldc, ldc: ldc)
                } else {
                    serialGemm(transposeA: transposeA, transposeB: transposeB, m: m, n: hi - lo, k: k, alpha: alpha,
                               a, lda: lda, transposeB ? b + lo * ldb : b + lo, ldb: ldb, beta: beta, c + lo, ldc: ldc)
                }
            }
        } else {
            serialGemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                       a, lda: lda, b, ldb: ldb, beta: beta, c, ldc: ldc)
        }
    }

    /// The kernels this process runs (``KernelPath``): the widest the processor has, unless
    /// `ZOO_KERNELS` names a narrower one (`baseline`, `avx2`; `avx512` or `auto` ask for the
    /// widest). A path the processor lacks falls back to the widest it has, and any other value
    /// is reported once on standard error.
    public static let kernelPath: KernelPath = {
        let setting = getenv("ZOO_KERNELS").map { String(cString: $0) } ?? ""
        let widest: KernelPath = zoo_cpu_has_avx512() ? .avx512 : zoo_cpu_has_avx2_fma() ? .avx2 : .baseline
        guard setting != "" && setting != "auto" else { return widest }
        guard let asked = KernelPath(rawValue: setting) else {
            FileHandle.standardError.write(Data("zoo: ZOO_KERNELS=\(setting) is not understood (baseline, avx2, avx512 or auto); using auto\n".utf8))
            return widest
        }
        if asked > widest {
            FileHandle.standardError.write(Data("zoo: ZOO_KERNELS=\(setting): this processor lacks it; using \(widest.rawValue)\n".utf8))
            return widest
        }
        return asked
    }()

    /// The element-wise and reduction loops compiled for ``kernelPath`` (`CZooKernels/loops.h`).
    package static let loops: zoo_loops = zoo_loops_for(kernelPath.cPath).pointee

    /// Whether Zoo's own AVX-512 kernels run (``kernelPath``). Debian's OpenBLAS 0.3.21 does not
    /// recognize AMD Zen 4/5 and runs its AVX2 kernels there (and an environment may pin
    /// `OPENBLAS_CORETYPE`): Zoo's GEMM measured 387–419 GFLOP/s on 2048³ where OpenBLAS's AVX2
    /// kernels gave 240.
    package static var useAVX512: Bool { kernelPath == .avx512 }

    /// ``gemm`` on the calling thread only, with the product kernel of ``kernelPath``: Zoo's own
    /// (`zoo_sgemm_avx512`, `zoo_sgemm_avx2`) or OpenBLAS on `baseline`. Zoo's kernels sum every
    /// element of C in an order that depends on k only, so splitting a product over threads (or
    /// stacking a population's members) changes no bit.
    ///
    /// The AVX2 kernel runs every shape: on the 84 products the catalog's models make (mlp, zoo-cnn,
    /// lenet5, cnn1d, resnet20 and their populations), single-threaded, it measured 0.96–1.1×
    /// OpenBLAS 0.3.21's Haswell kernels on the square-ish ones (both near the AVX2 peak) and
    /// 1.1–2.4× on the thin ones (few rows or columns, small k). Only large square products trail
    /// (2048³: 0.89–0.95×); falling back to OpenBLAS there would need a rule on m or n, and a
    /// product split over threads would then mix two kernels whose sums differ in the last bits.
    @inline(__always)
    static func serialGemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0 && n > 0 else { return }
        _ = configureOpenBLAS
        if k == 0 {
            if beta == 0 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] = 0 } } }
            return
        }
        switch kernelPath {
        case .avx512:
            zoo_sgemm_avx512(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        case .avx2:
            zoo_sgemm_avx2(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        case .baseline:
            cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }
}

/// Which kernels run the engine's hot loops, chosen once per process (``BLAS/kernelPath``).
/// Each is compiled into every x86-64 build and picked at run time; other architectures have
/// only the portable one.
public enum KernelPath: String, Sendable, Comparable, CaseIterable {
    /// OpenBLAS for products, portable C and Swift loops for the rest (any processor).
    case baseline
    /// Zoo's C kernels compiled for AVX2 and FMA (x86-64 since 2013-2015).
    case avx2
    /// Zoo's C kernels compiled for AVX-512 F, BW, DQ and VL.
    case avx512

    /// The same path for the C kernels.
    package var cPath: zoo_path {
        switch self {
        case .baseline: zoo_path_baseline
        case .avx2: zoo_path_avx2
        case .avx512: zoo_path_avx512
        }
    }

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: KernelPath, b: KernelPath) -> Bool { a.rank < b.rank }
}
