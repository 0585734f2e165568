// Direct convolution kernels with AVX2 and FMA, as conv_avx512.c (stride 1, no padding, no
// dilation; see zoo_kernels.h) with 8-float vectors and 16 registers.
#include "zoo_kernels.h"
#include "conv_input.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

enum {
    VT = 3,  // vectors of 8 positions per forward tile: 4 channels × 3 vectors = 12 accumulators
    VT3 = 4, // in a tile of 3 channels (blocks of 6 or 3 channels): 3 × 4 = 12 accumulators
};

#pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)

// The first `count` lanes (clamped to [0, 8]), as a mask for maskload / maskstore.
static inline __m256i lanes8(ptrdiff_t count) {
    count = count < 0 ? 0 : count > 8 ? 8 : count;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The forward pass's vectors of 8 positions, in one of two layouts. Wide (as conv_avx512.c):
// vector v at input position 8v, its positions in columns ≥ ow dropped. By rows, where that
// takes no more vectors (as when ow is a multiple of 8: then nothing is dropped): output row oy
// as ⌈ow/8⌉ vectors at columns 0, 8, …, the last one's lanes past ow dropped. A vector's first
// position is (row, column) of the input (column < w), at input offset row·w + column.
static inline void next_vector(bool byRows, ptrdiff_t w, ptrdiff_t ow, ptrdiff_t *row, ptrdiff_t *column) {
    if (byRows) {
        if ((*column += 8) >= ow) *column = 0, ++*row;
    } else {
        for (*column += 8; *column >= w; *column -= w) ++*row;
    }
}

// Stores the vector at (row, column) of `count` channels' accumulators (channel i in
// acc[i·stride]), keeping only the real outputs (column < ow, row < oh). A vector inside one
// output row is one store. Otherwise the kept lanes are permuted to the front (their outputs are
// consecutive) and stored as a whole vector: the lanes past the kept ones land on outputs of the
// plane's next vectors, which are stored later and overwrite them; only at the plane's end is
// the store masked.
static inline __attribute__((always_inline)) void store_kept(
    const __m256 *acc, ptrdiff_t stride, ptrdiff_t count, bool byRows, ptrdiff_t row, ptrdiff_t column,
    ptrdiff_t w, ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t plane, float *y) {
    ptrdiff_t first = row * ow + (column < ow ? column : ow);
    if (column + 8 <= ow) {
        for (ptrdiff_t i = 0; i < count; i++) _mm256_storeu_ps(y + i * plane + first, acc[i * stride]);
        return;
    }
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i permutation = iota;
    int kept;
    if (byRows) {
        kept = (int)(ow - column); // the row's last columns, in the first lanes
    } else if (w >= 8) {
        // At most two runs: to this row's end (a lanes), then from the next row's start (b lanes).
        int a = column < ow ? (int)(ow - column) : 0, next = (int)(w - column);
        int b = next < 8 && row + 1 < oh ? (8 - next < ow ? 8 - next : (int)ow) : 0;
        kept = a + b;
        permutation = _mm256_add_epi32(iota, _mm256_and_si256(_mm256_cmpgt_epi32(iota, _mm256_set1_epi32(a - 1)),
                                                              _mm256_set1_epi32(next - a)));
    } else {
        int source[8];
        kept = 0;
        for (int l = 0; l < 8; l++) {
            if (column < ow && row < oh) source[kept++] = l;
            if (++column == w) column = 0, row++;
        }
        for (int l = kept; l < 8; l++) source[l] = l;
        permutation = _mm256_loadu_si256((const __m256i *)source);
    }
    if (kept == 0) return;
    if (first + 8 <= plane) {
        for (ptrdiff_t i = 0; i < count; i++)
            _mm256_storeu_ps(y + i * plane + first, _mm256_permutevar8x32_ps(acc[i * stride], permutation));
    } else {
        __m256i out = lanes8(kept);
        for (ptrdiff_t i = 0; i < count; i++)
            _mm256_maskstore_ps(y + i * plane + first, out, _mm256_permutevar8x32_ps(acc[i * stride], permutation));
    }
}

// One tile of the forward pass: CT ≤ 4 output channels (k: their weights, 8 floats a tap apart)
// × NV vectors from the one at (row, column), summed over all taps; with TAIL, the last vector is
// the plane's last, partial one, loaded masked by `tail` (nothing past the input is read). CT, NV
// and TAIL are constants where it is inlined: CT·NV accumulators in registers. A tap loads the
// NV input vectors, then each channel's weight in turn; with CT = 3 (NV ≤ 4) it loads the 3
// weights, then each input vector in turn (12 accumulators, 3 weights and one input: 16
// registers).
static inline __attribute__((always_inline)) void forward_tile(
    const int CT, const int NV, const bool TAIL, const float *x, const float *k, const ptrdiff_t *offset,
    ptrdiff_t taps, const __m256 start[4], __m256i tail, bool byRows, ptrdiff_t row, ptrdiff_t column,
    ptrdiff_t w, ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t plane, ptrdiff_t count, float *y) {
    ptrdiff_t rows[VT3], columns[VT3];
    const float *xj[VT3];
    __m256 acc[4][VT3];
#pragma clang loop unroll(full)
    for (int j = 0; j < NV; j++) {
        rows[j] = row, columns[j] = column;
        xj[j] = x + row * w + column;
        if (j < NV - 1) next_vector(byRows, w, ow, &row, &column);
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < CT; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) acc[i][j] = start[i];
    for (ptrdiff_t t = 0; t < taps && CT == 3; t++) {
        const float *kt = k + 8 * t;
        __m256 weight[3];
#pragma clang loop unroll(full)
        for (int i = 0; i < 3; i++) weight[i] = _mm256_broadcast_ss(kt + i);
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) {
            __m256 xv = TAIL && j == NV - 1 ? _mm256_maskload_ps(xj[j] + offset[t], tail) : _mm256_loadu_ps(xj[j] + offset[t]);
#pragma clang loop unroll(full)
            for (int i = 0; i < 3; i++) acc[i][j] = _mm256_fmadd_ps(weight[i], xv, acc[i][j]);
        }
    }
    for (ptrdiff_t t = 0; t < taps && CT != 3; t++) {
        const float *kt = k + 8 * t;
        __m256 xv[VT];
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++)
            xv[j] = TAIL && j == NV - 1 ? _mm256_maskload_ps(xj[j] + offset[t], tail) : _mm256_loadu_ps(xj[j] + offset[t]);
#pragma clang loop unroll(full)
        for (int i = 0; i < CT; i++) {
            __m256 weight = _mm256_broadcast_ss(kt + i);
            // Each broadcast used up before the next is loaded: 12 accumulators, 3 inputs and
            // one weight fill the 16 registers, and without this clang loads two weights at once
            // and spills an accumulator (measured 20-40% slower).
            __asm__ volatile("" : "+x"(weight));
#pragma clang loop unroll(full)
            for (int j = 0; j < NV; j++) acc[i][j] = _mm256_fmadd_ps(weight, xv[j], acc[i][j]);
        }
    }
    for (int j = 0; j < NV; j++) store_kept(&acc[0][j], VT3, count, byRows, rows[j], columns[j], w, oh, ow, plane, y);
}

void zoo_conv_forward_avx2(const float *x, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                           const float *packed, ptrdiff_t outChannels, ptrdiff_t kh, ptrdiff_t kw,
                           const float *bias, float *y) {
    ptrdiff_t oh = h - kh + 1, ow = w - kw + 1, plane = oh * ow;
    if (oh <= 0 || ow <= 0 || outChannels <= 0) return;
    ptrdiff_t length = zoo_wide_length(w, oh, ow), perRow = (ow + 7) / 8;
    // By rows when that takes no more vectors, and when the next-to-last row's whole vectors,
    // reading 8·perRow + kw − 1 columns from its start, stay within the last row (only the last
    // vector is loaded masked).
    bool byRows = oh * perRow <= (length + 7) / 8 && (oh == 1 || 8 * perRow + kw - 1 <= 2 * w);
    // Vectors, the whole ones among them (all but a partial last one) and the last one's lanes.
    ptrdiff_t vectors = byRows ? oh * perRow : (length + 7) / 8;
    ptrdiff_t lastLanes = byRows ? ow - 8 * (perRow - 1) : length - 8 * (vectors - 1);
    ptrdiff_t full = vectors - (lastLanes < 8);
    __m256i tail = lanes8(lastLanes);
    ptrdiff_t taps = channels * kh * kw, blocks = (outChannels + 7) / 8;
    prefetch_input(x, channels * h * w, 16384);
    ptrdiff_t onStack[1024], *offset = tap_offsets(channels, h, w, kh, kw, onStack);

    for (ptrdiff_t b = 0; b < blocks; b++) {
        ptrdiff_t inBlock = outChannels - 8 * b < 8 ? outChannels - 8 * b : 8;
        // Tiles of `width` whole vectors (fewer at the plane's end), then the partial vector
        // alone; each tile for both parts of the block in turn, its inputs still in cache for
        // the second. Blocks of 6 or 3 channels run in parts of 3 (tiles of 3 × 4), others in
        // parts of 4 (tiles of 4 × 3; a last part of 1 or 2 channels with a narrower tile).
        bool threes = inBlock == 6 || inBlock == 3;
        ptrdiff_t width = threes ? VT3 : VT, part = threes ? 3 : 4;
        ptrdiff_t row = 0, column = 0;
        for (ptrdiff_t v0 = 0, nv; v0 < vectors; v0 += nv) {
            nv = v0 == full ? 1 : full - v0 < width ? full - v0 : width;
            for (ptrdiff_t first = 0; first < inBlock; first += part) {
                ptrdiff_t count = inBlock - first < part ? inBlock - first : part;
                const float *k = packed + b * taps * 8 + first;
                float *yb = y + (8 * b + first) * plane;
                __m256 start[4];
                for (int i = 0; i < 4; i++)
                    start[i] = bias && i < count ? _mm256_set1_ps(bias[8 * b + first + i]) : _mm256_setzero_ps();
#define TILE(CT, NV, TAIL) forward_tile(CT, NV, TAIL, x, k, offset, taps, start, tail, byRows, row, column, w, oh, ow, plane, count, yb)
#define TILES(CT)                           \
                if (v0 == full) TILE(CT, 1, true);  \
                else if (nv == VT) TILE(CT, VT, false); \
                else if (nv == 2) TILE(CT, 2, false);   \
                else TILE(CT, 1, false)
                if (threes) {
                    if (v0 == full) TILE(3, 1, true);
                    else if (nv == 4) TILE(3, 4, false);
                    else if (nv == 3) TILE(3, 3, false);
                    else if (nv == 2) TILE(3, 2, false);
                    else TILE(3, 1, false);
                } else if (count > 2) TILES(4);
                else TILES(2);
#undef TILES
#undef TILE
            }
            for (ptrdiff_t j = 0; j < nv; j++) next_vector(byRows, w, ow, &row, &column);
        }
    }
    free_tap_offsets(offset, onStack);
}

// saved[i·KT + j] += Σ_n Σ_q dy[n, i, q] · x[n, at(q) + j] over samples n and the positions q of
// the output-gradient planes (zoo_gradient_length), for channels i < count ≤ CT and columns
// j < KT: a register tile of CT output channels × KT kernel columns (CT·KT ≤ 12 accumulators,
// plus KT input vectors and one output-gradient vector; both constants where it is inlined, so
// the tile stays in registers). Each input vector loaded serves CT channels, each
// output-gradient vector KT taps. Wide, x[at(q)] = x[q]; by rows (zoo_gradient_by_rows_avx2: rows
// of 8k outputs), q is output (q / ow, q mod ow), at input (q / ow)·w + q mod ow.
static inline __attribute__((always_inline)) void gradient_sweep(
    const int CT, const int KT, const float *x, ptrdiff_t xSampleStride, const float *dy, ptrdiff_t dySampleStride,
    ptrdiff_t planeStride, ptrdiff_t count, ptrdiff_t samples, ptrdiff_t w, ptrdiff_t oh, ptrdiff_t ow, __m256 *saved) {
    __m256 acc[4][5];
#pragma clang loop unroll(full)
    for (int i = 0; i < CT; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < KT; j++) acc[i][j] = saved[i * KT + j];
    // Channels past `count` read the last one again (in bounds; their sums are never stored).
    ptrdiff_t channelOffset[4];
#pragma clang loop unroll(full)
    for (int i = 0; i < CT; i++) channelOffset[i] = (i < count ? i : count - 1) * planeStride;
    bool byRows = zoo_gradient_by_rows_avx2(ow);
    ptrdiff_t length = zoo_wide_length(w, oh, ow), full = length / 8;
    __m256i last = lanes8(length - 8 * full);
    for (ptrdiff_t n = 0; n < samples; n++, x += xSampleStride, dy += dySampleStride) {
        // The vector of positions at dy + dq, the input vectors at x + xq + j.
#define STEP(xq, dq, LOAD)                                                                        \
        do {                                                                                      \
            __m256 xv[5];                                                                         \
            _Pragma("clang loop unroll(full)")                                                    \
            for (int j = 0; j < KT; j++) xv[j] = LOAD(x + (xq) + j);                              \
            _Pragma("clang loop unroll(full)")                                                    \
            for (int i = 0; i < CT; i++) {                                                        \
                __m256 d = LOAD(dy + channelOffset[i] + (dq));                                    \
                _Pragma("clang loop unroll(full)")                                                \
                for (int j = 0; j < KT; j++) acc[i][j] = _mm256_fmadd_ps(d, xv[j], acc[i][j]);    \
            }                                                                                     \
        } while (0)
#define WHOLE(p) _mm256_loadu_ps(p)
#define MASKED(p) _mm256_maskload_ps(p, last)
        if (byRows) {
            for (ptrdiff_t r = 0; r < oh; r++)
                for (ptrdiff_t c = 0; c < ow; c += 8) STEP(r * w + c, r * ow + c, WHOLE);
        } else {
            // Whole vectors, then the masked end (nothing past the last position is read).
            for (ptrdiff_t v = 0; v < full; v++) STEP(8 * v, 8 * v, WHOLE);
            if (length % 8) STEP(8 * full, 8 * full, MASKED);
        }
#undef MASKED
#undef WHOLE
#undef STEP
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < CT; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < KT; j++) saved[i * KT + j] = acc[i][j];
}

// The sum of a vector's lanes, in a fixed order.
static inline float reduce_add(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

#define WG_ROWS_NAME zoo_conv_weight_gradient_avx2
#define WG_BLOCKED_NAME zoo_conv_weight_gradient_blocked_avx2
#define WG_VECTOR __m256
#define WG_TILE 12
#define WG_ALIGN 32
#define WG_ZERO _mm256_setzero_ps()
#define WG_REDUCE reduce_add
#define WG_BY_ROWS zoo_gradient_by_rows_avx2
#define WG_CHANNELS_NARROW 4
#define WG_CHANNELS_WIDE 2
#include "weight_gradient.h"

#pragma clang attribute pop

#else
#include <stdlib.h>

void zoo_conv_forward_avx2(const float *x, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                           const float *packed, ptrdiff_t outChannels, ptrdiff_t kh, ptrdiff_t kw,
                           const float *bias, float *y) { abort(); }
void zoo_conv_weight_gradient_avx2(const float *x, ptrdiff_t xSampleStride, ptrdiff_t h, ptrdiff_t w,
                                   const float *dy, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                                   ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw,
                                   ptrdiff_t firstRow, ptrdiff_t rows, bool accumulate, float *dw, ptrdiff_t dwStride) { abort(); }
void zoo_conv_weight_gradient_blocked_avx2(const float *x, ptrdiff_t xSampleStride, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                                           const float *dy, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                                           ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t chunk,
                                           float *dw, ptrdiff_t dwStride) { abort(); }

#endif
