// Zoo's kernels in C. Swift cannot compile one function for a wider instruction set than the
// rest of the program, so these live in C: each _avx512 function is compiled for AVX-512 and
// called only after zoo_cpu_has_avx512() said the processor has it, each _avx2 one for AVX2 and
// FMA (zoo_cpu_has_avx2_fma()); the loops (zoo_loops_for) exist for every path. On other
// architectures than x86-64 only the portable loops exist (the others are stubs that abort).
#ifndef ZOO_KERNELS_H
#define ZOO_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/// Whether the processor (and the operating system) run AVX-512 F, BW, DQ and VL instructions.
bool zoo_cpu_has_avx512(void);

/// Whether the processor runs AVX2 and FMA instructions.
bool zoo_cpu_has_avx2_fma(void);

/// A kernel path: which instruction set Zoo's kernels are compiled for (ZooTensor's KernelPath).
typedef enum { zoo_path_baseline = 0, zoo_path_avx2 = 1, zoo_path_avx512 = 2 } zoo_path;

/// The element-wise and reduction loops of one kernel path (loops.h): y[i] = f(x[i]) for
/// i < n, and sums over i < n, in 8-lane vectors with four running sums, then the tail.
typedef struct {
    void (*tanh)(const float *x, float *y, ptrdiff_t n);
    void (*sigmoid)(const float *x, float *y, ptrdiff_t n);
    /// Σ x[i].
    float (*sum)(const float *x, ptrdiff_t n);
    /// sums[(r / perSum)·sumStride] += sum(x + r·stride, length) for r < rows, in order (each
    /// row's sum the bits of `sum`).
    void (*row_sums)(const float *x, ptrdiff_t rows, ptrdiff_t length, ptrdiff_t stride, ptrdiff_t perSum, float *sums,
                     ptrdiff_t sumStride);
    /// Σ a[i]·b[i].
    float (*dot)(const float *a, const float *b, ptrdiff_t n);
    /// Σ a[i]·(b[i] − shift).
    float (*centered_dot)(const float *a, const float *b, float shift, ptrdiff_t n);
    /// Σ (a[i] − shift)².
    float (*centered_squares)(const float *a, float shift, ptrdiff_t n);
    /// Max pooling over 2×2 windows with stride 2 of `planes` planes of h × w (oh ≤ h / 2 rows
    /// and ow ≤ w / 2 columns of windows): top[o] the maximum of window o, in order top-left,
    /// top-right, bottom-left, bottom-right (the first on ties; a NaN where the comparisons keep
    /// it), and unless index is NULL, index[o] its flat position, counting x[0] as `first`.
    void (*max_pool_pairs)(const float *x, ptrdiff_t planes, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oh, ptrdiff_t ow,
                           int32_t first, float *top, int32_t *index);
    /// The gradient of max_pool_pairs into dx (planes of h × w, every element written): g[o] + 0
    /// at index[o] (positions counted from `first`), zero everywhere else.
    void (*max_unpool_pairs)(const float *g, const int32_t *index, ptrdiff_t planes, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oh,
                             ptrdiff_t ow, int32_t first, float *dx);
    /// y[i] = a[i] + b[i].
    void (*add)(const float *a, const float *b, float *y, ptrdiff_t n);
    /// y[i] = max(a[i] + b[i], 0), as Swift's max(s, 0): 0 when 0 ≥ s, else s (NaN stays NaN).
    void (*relu_of_sum)(const float *a, const float *b, float *y, ptrdiff_t n);
    /// y[i] = g[i] · (x[i] > 0 ? 1 : 0), the product (not a select: −0 and NaN as the product gives).
    void (*relu_gradient)(const float *x, const float *g, float *y, ptrdiff_t n);
    /// sums[0] = Σ gm[i], sums[1] = Σ gm[i]·(x[i] − shift), gm[i] = g[i]·(mask[i] > 0 ? 1 : 0)
    /// (or g[i] when mask is NULL), in one pass: the bits of sum and centered_dot over gm.
    void (*masked_sums)(const float *g, const float *mask, const float *x, float shift, ptrdiff_t n, float *sums);
    /// Batch norm's output: y[i] = (x[i] − mean)·scale + shift, plus residual[i] unless residual
    /// is NULL, then max(·, 0) as relu_of_sum where `relu`; every operation rounded (no fused
    /// multiply-add), so every path gives the same bits.
    void (*normalize)(const float *x, const float *residual, float *y, ptrdiff_t n, float mean, float scale, float shift, bool relu);
    /// Batch norm's input gradient: dx[i] = k·((gm[i] − meanG) − (x[i] − mean)·inv·meanGX), gm
    /// as in masked_sums; every operation rounded.
    void (*normalize_gradient)(const float *g, const float *mask, const float *x, float *dx, ptrdiff_t n, float k, float meanG,
                               float mean, float inv, float meanGX);
    /// One row of a 1-D im2col for `samples` samples (x one sampleStride apart, y one ow apart):
    /// y[j] = 0 for j < lo and j ≥ hi, y[j] = x[(j − lo)·stride] for lo ≤ j < hi. Reads no x
    /// element past the last one copied.
    void (*unfold_lines)(const float *x, ptrdiff_t sampleStride, ptrdiff_t samples, ptrdiff_t stride, ptrdiff_t lo, ptrdiff_t hi,
                         ptrdiff_t ow, float *y);
    /// The adjoint of unfold_lines: x[(j − lo)·stride] += y[j] for lo ≤ j < hi, sample by sample
    /// (the bits of that scalar loop). Writes no x element outside the run's span.
    void (*fold_lines)(const float *y, ptrdiff_t samples, ptrdiff_t stride, ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t ow, float *x,
                       ptrdiff_t sampleStride);
} zoo_loops;

/// The loops compiled for `path`; call only with a path the processor has (the baseline
/// everywhere; other architectures than x86-64 have only the baseline).
const zoo_loops *zoo_loops_for(zoo_path path);

/// C = alpha · op(A) · op(B) + beta · C, row-major, on the calling thread, with AVX-512.
/// op(A) is m×k, op(B) is k×n. With beta == 0, C is not read (it may hold anything).
/// Each element of C is summed over k in the same order whatever m, n and the pointers are,
/// so splitting a product by rows or columns does not change any bit of the result.
void zoo_sgemm_avx512(bool transA, bool transB, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                      const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                      float beta, float *c, ptrdiff_t ldc);

/// zoo_sgemm_avx512's contract (C = alpha · op(A) · op(B) + beta · C, row-major, on the calling
/// thread; C not read when beta == 0; each element summed over k in an order that depends on k
/// only, so splitting a product by rows or columns changes no bit) with AVX2 and FMA, for
/// processors without AVX-512: call it only after zoo_cpu_has_avx2_fma() said yes. Its sums are
/// grouped differently from zoo_sgemm_avx512's: the two agree to rounding, not bit for bit.
void zoo_sgemm_avx2(bool transA, bool transB, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                    const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                    float beta, float *c, ptrdiff_t ldc);

/// Output positions of a "wide" convolution plane (see zoo_conv_forward_avx512): (oh − 1)·w + ow.
static inline ptrdiff_t zoo_wide_length(ptrdiff_t w, ptrdiff_t oh, ptrdiff_t ow) { return (oh - 1) * w + ow; }

/// One sample of a 2-D convolution with stride 1, no padding and no dilation, with AVX-512:
/// y[o] = bias[o] + Σ_{c, ki, kj} w[o, c, ki, kj] · x[c, oy + ki, ox + kj].
///
/// It runs "wide": output position oy·w + ox (w the input's width) reads the input at that
/// position plus ki·w + kj, so 16 consecutive positions are one contiguous load per tap; the
/// positions of columns ox ≥ ow are computed and dropped. Where the output rows are whole vectors
/// (ow a multiple of 16) or whole halves (a multiple of 8), it runs by rows instead, nothing
/// dropped. The input is prefetched on entry. x is [channels, h, w]; y is
/// [outChannels, h − kh + 1, w − kw + 1]; `packed` holds the weights in blocks of 8 output
/// channels, block b as [(c·kh + ki)·kw + kj][8] (zero past outChannels); bias may be NULL.
void zoo_conv_forward_avx512(const float *x, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                             const float *packed, ptrdiff_t outChannels, ptrdiff_t kh, ptrdiff_t kw,
                             const float *bias, float *y);

/// Whether the AVX-512 weight-gradient kernels read the output gradients by rows (as the tensor
/// holds them: dy[o, oy, ox] at oy·ow + ox) rather than wide (at oy·w + ox): when the rows are
/// whole vectors (ow a multiple of 16) or whole halves of vectors (ow a multiple of 8, each
/// vector's input loaded as two halves of 8 positions, each within one row): no lane is wasted.
static inline bool zoo_gradient_by_rows_avx512(ptrdiff_t ow) { return ow % 8 == 0; }

/// Whether the AVX2 weight-gradient kernels read the output gradients by rows: ow a multiple of 8.
static inline bool zoo_gradient_by_rows_avx2(ptrdiff_t ow) { return ow % 8 == 0; }

/// Positions of an output-gradient plane the weight-gradient kernels read: oh·ow by rows, else
/// the wide length.
static inline ptrdiff_t zoo_gradient_length(bool byRows, ptrdiff_t w, ptrdiff_t oh, ptrdiff_t ow) {
    return byRows ? oh * ow : zoo_wide_length(w, oh, ow);
}

/// The weight gradient of that convolution for output channels [0, count), one input channel
/// plane `x` and kernel rows ki in [firstRow, firstRow + rows), summed over `samples` samples
/// (the engine runs the blocked kernel below; this one is its bit-for-bit reference in the tests):
/// dw[o][ki][kj] = Σ_{n, oy, ox} dy[n, o, oy, ox] · x[n, oy + ki, ox + kj],
/// added to what dw holds when `accumulate`, else stored.
/// `x` is sample 0's input plane ([h, w]), the next sample's `xSampleStride` floats on.
/// `dy` is sample 0's channel-0 plane of the output gradients, channels `planeStride` apart (at
/// least zoo_gradient_length), samples `dySampleStride`, nothing read past a plane's last
/// position. By rows (zoo_gradient_by_rows_avx512(ow)) dy[o, oy, ox] is at oy·ow + ox; otherwise
/// in the wide layout, at oy·w + ox, with zeros at the dropped columns (ox ≥ ow). Sums run over n,
/// then positions, in a fixed order: the result does not depend on how the work is split (nor on
/// `rows`). `dw` holds count blocks of kh·kw values (row-major), block o at dw + o·dwStride.
void zoo_conv_weight_gradient_avx512(const float *x, ptrdiff_t xSampleStride, ptrdiff_t h, ptrdiff_t w,
                                     const float *dy, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                                     ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw,
                                     ptrdiff_t firstRow, ptrdiff_t rows, bool accumulate, float *dw, ptrdiff_t dwStride);

/// zoo_conv_weight_gradient_avx512 for `channels` input channel planes (channel c at x + c·h·w)
/// and every kernel row at once, the samples in chunks of `chunk`: each chunk's output gradients
/// (count channels, read from L1) serve every input channel and kernel row before the next chunk,
/// the accumulators kept in memory in between. Each accumulator sums over samples, then
/// positions, in the same order as zoo_conv_weight_gradient_avx512 with all samples and one row
/// per call: the results are the same bits. dw[o·dwStride + (c·kh + ki)·kw + kj] is stored.
void zoo_conv_weight_gradient_blocked_avx512(const float *x, ptrdiff_t xSampleStride, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                                             const float *dy, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                                             ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t chunk,
                                             float *dw, ptrdiff_t dwStride);

/// As zoo_conv_forward_avx512, with AVX2 and FMA (called only after zoo_cpu_has_avx2_fma()).
void zoo_conv_forward_avx2(const float *x, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                           const float *packed, ptrdiff_t outChannels, ptrdiff_t kh, ptrdiff_t kw,
                           const float *bias, float *y);

/// Whether zoo_conv_forward_max_pool_avx2 takes outputs of oh × ow: whole rows of 1-3 vectors
/// of 8, and at least one row pair.
static inline bool zoo_conv_max_pool_fits_avx2(ptrdiff_t oh, ptrdiff_t ow) { return oh >= 2 && ow % 8 == 0 && ow >= 8 && ow <= 24; }

/// zoo_conv_forward_avx2 followed by 2×2 max pooling of stride 2 (the loops' max_pool_pairs
/// without index), in one pass: y holds outChannels pooled planes of (oh / 2) × (ow / 2), the
/// bits of the two calls; the convolution's own outputs are never stored. Only where
/// zoo_conv_max_pool_fits_avx2(oh, ow); AVX2 and FMA.
void zoo_conv_forward_max_pool_avx2(const float *x, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                                    const float *packed, ptrdiff_t outChannels, ptrdiff_t kh, ptrdiff_t kw,
                                    const float *bias, float *y);

/// As zoo_conv_weight_gradient_avx512, with AVX2 and FMA (the same layouts, but by rows where
/// zoo_gradient_by_rows_avx2(ow), and a fixed summation order; its sums differ from the AVX-512
/// kernel's in the last bits).
void zoo_conv_weight_gradient_avx2(const float *x, ptrdiff_t xSampleStride, ptrdiff_t h, ptrdiff_t w,
                                   const float *dy, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                                   ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw,
                                   ptrdiff_t firstRow, ptrdiff_t rows, bool accumulate, float *dw, ptrdiff_t dwStride);

/// As zoo_conv_weight_gradient_blocked_avx512, with AVX2 and FMA (the sums of
/// zoo_conv_weight_gradient_avx2 with all samples and one row per call, bit for bit).
void zoo_conv_weight_gradient_blocked_avx2(const float *x, ptrdiff_t xSampleStride, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                                           const float *dy, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                                           ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t chunk,
                                           float *dw, ptrdiff_t dwStride);

#endif
