// Direct convolution kernels with AVX-512 for stride 1, no padding, no dilation (callers pad
// explicitly), computed "wide" (see zoo_kernels.h): every tap is one contiguous 16-float load.
#include "zoo_kernels.h"
#include "conv_input.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

#pragma clang attribute push (__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))), apply_to = function)

static inline __mmask16 lanes16(ptrdiff_t count) {
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? 0 : (__mmask16)((1u << count) - 1);
}

// The lanes of wide positions [q0, q0 + 16) that are real outputs (column < ow, position < L),
// and the compact index of the first of them.
static inline __mmask16 kept_lanes(ptrdiff_t q0, ptrdiff_t w, ptrdiff_t ow, ptrdiff_t length, ptrdiff_t *first) {
    ptrdiff_t column = q0 % w;
    *first = (q0 / w) * ow + (column < ow ? column : ow);
    if (w >= 16 && w < (1 << 30)) {
        // At most one wrap to the next row: each lane's column in a few vector operations.
        __m512i lane = _mm512_add_epi32(_mm512_set1_epi32((int)column), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
        __m512i width = _mm512_set1_epi32((int)w);
        lane = _mm512_mask_sub_epi32(lane, _mm512_cmpge_epi32_mask(lane, width), lane, width);
        return _mm512_cmplt_epi32_mask(lane, _mm512_set1_epi32((int)ow)) & lanes16(length - q0);
    }
    unsigned mask = 0;
    for (int l = 0; l < 16; l++) {
        if (column < ow && q0 + l < length) mask |= 1u << l;
        if (++column == w) column = 0;
    }
    return (__mmask16)mask;
}

// One tile of the forward pass: CT output channels × NV vectors of 16 wide positions starting at
// vector v0 (CT and NV constants where it is inlined: CT·NV ≤ 24 accumulators in registers),
// summed over all taps, then the kept positions of the `count` ≤ CT real channels stored
// compressed into the (8-channel block's) output planes. A block of 6 channels runs 6 × 4
// rather than 8 × 3: no accumulators for channels that are not there.
static inline __attribute__((always_inline)) void forward_tile(
    const int CT, const int NV, const bool MASKED, const float *xq, const float *pk, const ptrdiff_t *offset, ptrdiff_t taps, const __m512 start[8],
    ptrdiff_t v0, ptrdiff_t w, ptrdiff_t ow, ptrdiff_t length, ptrdiff_t plane, ptrdiff_t count, float *y) {
    __mmask16 m[12], kept[12];
    ptrdiff_t first[12];
    __m512 acc[8][12];
#pragma clang loop unroll(full)
    for (int j = 0; j < NV; j++) {
        m[j] = lanes16(length - 16 * (v0 + j));
        kept[j] = kept_lanes(16 * (v0 + j), w, ow, length, &first[j]);
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < CT; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) acc[i][j] = start[i];
    for (ptrdiff_t t = 0; t < taps; t++) {
        const float *xt = xq + offset[t], *k = pk + 8 * t;
        __m512 xv[12];
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) xv[j] = MASKED ? _mm512_maskz_loadu_ps(m[j], xt + 16 * j) : _mm512_loadu_ps(xt + 16 * j);
#pragma clang loop unroll(full)
        for (int i = 0; i < CT; i++) {
            __m512 weight = _mm512_set1_ps(k[i]);
#pragma clang loop unroll(full)
            for (int j = 0; j < NV; j++) acc[i][j] = _mm512_fmadd_ps(weight, xv[j], acc[i][j]);
        }
    }
    for (int j = 0; j < NV; j++) {
        __mmask16 out = lanes16(__builtin_popcount(kept[j]));
        for (ptrdiff_t i = 0; i < count; i++)
            _mm512_mask_storeu_ps(y + i * plane + first[j], out, _mm512_maskz_compress_ps(kept[j], acc[i][j]));
    }
}

// A tile of the forward pass by rows, where nothing is dropped: vector v is outputs [16v, 16v + 16)
// of each plane, loaded as one vector where ow is a multiple of 16 (row v / (ow/16), columns from
// 16·(v mod ow/16)), else (HALVES: ow a multiple of 8) as two halves of 8 outputs, each within one
// row (a plane's last vector may hold only its low half). One store per vector and channel, no
// compression. Otherwise as forward_tile.
static inline __attribute__((always_inline)) void forward_rows_tile(
    const int CT, const int NV, const bool HALVES, const float *x, const float *pk, const ptrdiff_t *offset, ptrdiff_t taps,
    const __m512 start[8], ptrdiff_t v0, ptrdiff_t w, ptrdiff_t ow, ptrdiff_t plane, ptrdiff_t count, float *y) {
    const float *lo[12], *hi[12];
    __mmask16 kept[12];
    __m512 acc[8][12];
#pragma clang loop unroll(full)
    for (int j = 0; j < NV; j++) {
        ptrdiff_t q = 16 * (v0 + j);
        lo[j] = hi[j] = x + (q / ow) * w + q % ow;
        kept[j] = (__mmask16)0xFFFF;
        if (HALVES) {
            bool two = q + 8 < plane;
            if (two) hi[j] = x + ((q + 8) / ow) * w + (q + 8) % ow;
            else kept[j] = (__mmask16)0x00FF;
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < CT; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) acc[i][j] = start[i];
    for (ptrdiff_t t = 0; t < taps; t++) {
        const float *k = pk + 8 * t;
        ptrdiff_t at = offset[t];
        __m512 xv[12];
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++)
            xv[j] = HALVES ? _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(lo[j] + at)), _mm256_loadu_ps(hi[j] + at), 1)
                          : _mm512_loadu_ps(lo[j] + at);
#pragma clang loop unroll(full)
        for (int i = 0; i < CT; i++) {
            __m512 weight = _mm512_set1_ps(k[i]);
#pragma clang loop unroll(full)
            for (int j = 0; j < NV; j++) acc[i][j] = _mm512_fmadd_ps(weight, xv[j], acc[i][j]);
        }
    }
#pragma clang loop unroll(full)
    for (int j = 0; j < NV; j++)
        for (ptrdiff_t i = 0; i < count; i++) _mm512_mask_storeu_ps(y + i * plane + 16 * (v0 + j), kept[j], acc[i][j]);
}

void zoo_conv_forward_avx512(const float *x, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                             const float *packed, ptrdiff_t outChannels, ptrdiff_t kh, ptrdiff_t kw,
                             const float *bias, float *y) {
    ptrdiff_t oh = h - kh + 1, ow = w - kw + 1, plane = oh * ow;
    if (oh <= 0 || ow <= 0 || outChannels <= 0) return;
    // By rows where no lane would be dropped (see forward_rows_tile), else wide.
    enum { WIDE, ROWS, HALVES } layout = ow % 16 == 0 ? ROWS : ow % 8 == 0 ? HALVES : WIDE;
    ptrdiff_t length = zoo_wide_length(w, oh, ow);
    ptrdiff_t vectors = layout == WIDE ? (length + 15) / 16 : (plane + 15) / 16;
    ptrdiff_t taps = channels * kh * kw, blocks = (outChannels + 7) / 8;
    prefetch_input(x, channels * h * w, 32768);
    ptrdiff_t onStack[1024], *offset = tap_offsets(channels, h, w, kh, kw, onStack);

    for (ptrdiff_t b = 0; b < blocks; b++) {
        ptrdiff_t count = outChannels - 8 * b < 8 ? outChannels - 8 * b : 8;
        const float *pk = packed + b * taps * 8;
        __m512 start[8];
        for (int i = 0; i < 8; i++) start[i] = bias && i < count ? _mm512_set1_ps(bias[8 * b + i]) : _mm512_setzero_ps();
        // Tiles of 24 accumulators: CT channels (at least count) × 24 / CT vectors; the last
        // tile narrower rather than computing vectors past the end.
        float *yb = y + 8 * b * plane;
#define TILES(CT)                                                                                      \
        for (ptrdiff_t v0 = 0, t = 0, tiles = (vectors + 24 / CT - 1) / (24 / CT); v0 < vectors; t++) { \
            ptrdiff_t left = (vectors - v0) / (tiles - t) + ((vectors - v0) % (tiles - t) != 0);      \
            const float *xq = x + 16 * v0;                                                             \
            switch (left) {                                                                            \
            TILE_CASES_##CT                                                                            \
            }                                                                                          \
            v0 += left;                                                                                \
        }
#define CASE(CT, NV)                                                                                  \
        case NV:                                                                                      \
            if (layout == WIDE && 16 * (v0 + NV) > length) forward_tile(CT, NV, true, xq, pk, offset, taps, start, v0, w, ow, length, plane, count, yb); \
            else if (layout == WIDE) forward_tile(CT, NV, false, xq, pk, offset, taps, start, v0, w, ow, length, plane, count, yb); \
            else if (layout == ROWS) forward_rows_tile(CT, NV, false, x, pk, offset, taps, start, v0, w, ow, plane, count, yb); \
            else forward_rows_tile(CT, NV, true, x, pk, offset, taps, start, v0, w, ow, plane, count, yb); \
            break;
#define TILE_CASES_8 CASE(8, 1) CASE(8, 2) default: CASE(8, 3)
#define TILE_CASES_6 CASE(6, 1) CASE(6, 2) CASE(6, 3) default: CASE(6, 4)
#define TILE_CASES_4 CASE(4, 1) CASE(4, 2) CASE(4, 3) CASE(4, 4) CASE(4, 5) default: CASE(4, 6)
        if (count > 6) TILES(8)
        else if (count > 4) TILES(6)
        else TILES(4)
#undef TILES
#undef CASE
#undef TILE_CASES_8
#undef TILE_CASES_6
#undef TILE_CASES_4
    }
    free_tap_offsets(offset, onStack);
}

// Moves (at, column) from one half of 8 outputs to the next (ow a multiple of 8): `at` is the
// input offset of the half's first output, `column` its column.
static inline void next_half(ptrdiff_t *at, ptrdiff_t *column, ptrdiff_t w, ptrdiff_t ow) {
    *at += 8;
    if ((*column += 8) == ow) *column = 0, *at += w - ow;
}

// saved[i·KT + j] += Σ_n Σ_q dy[n, i, q] · x[n, at(q) + j] over samples n and the positions q of
// the output-gradient planes (zoo_gradient_length), for channels i < count ≤ CT and columns
// j < KT: a register tile of CT output channels × KT kernel columns (CT·KT ≤ 24 accumulators;
// both constants where it is inlined, so the tile stays in registers). Each dy vector loaded
// serves KT taps, each input vector CT channels. Wide, position q is output (q / w, q mod w) and
// x[at(q)] = x[q]; by rows (zoo_gradient_by_rows_avx512), q is output (q / ow, q mod ow), at
// input (q / ow)·w + q mod ow: rows of 16k outputs in whole vectors, rows of 8k in halves of 8
// (a plane of an odd number of halves ends with one in a vector's low half, its high half zero in
// both operands).
static inline __attribute__((always_inline)) void gradient_sweep(
    const int CT, const int KT, const float *x, ptrdiff_t xSampleStride, const float *dy, ptrdiff_t dySampleStride,
    ptrdiff_t planeStride, ptrdiff_t count, ptrdiff_t samples, ptrdiff_t w, ptrdiff_t oh, ptrdiff_t ow, __m512 *saved) {
    __m512 acc[8][5];
#pragma clang loop unroll(full)
    for (int i = 0; i < CT; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < KT; j++) acc[i][j] = saved[i * KT + j];
    // Channels past `count` read the last one again (in bounds; their sums are never stored).
    ptrdiff_t channelOffset[8];
#pragma clang loop unroll(full)
    for (int i = 0; i < CT; i++) channelOffset[i] = (i < count ? i : count - 1) * planeStride;
    bool byRows = zoo_gradient_by_rows_avx512(ow);
    ptrdiff_t length = zoo_wide_length(w, oh, ow), full = length / 16;
    __mmask16 last = lanes16(length - 16 * full);
    for (ptrdiff_t n = 0; n < samples; n++, x += xSampleStride, dy += dySampleStride) {
        // The vector of positions at dy + dq (lanes `mask`), the input vectors at x + xq + j.
#define STEP(xq, xq2, dq, mask, LOADX)                                                            \
        do {                                                                                      \
            __m512 xv[5];                                                                         \
            _Pragma("clang loop unroll(full)")                                                    \
            for (int j = 0; j < KT; j++) xv[j] = LOADX(x + (xq) + j, x + (xq2) + j, mask);        \
            _Pragma("clang loop unroll(full)")                                                    \
            for (int i = 0; i < CT; i++) {                                                        \
                __m512 d = _mm512_maskz_loadu_ps(mask, dy + channelOffset[i] + (dq));             \
                _Pragma("clang loop unroll(full)")                                                \
                for (int j = 0; j < KT; j++) acc[i][j] = _mm512_fmadd_ps(d, xv[j], acc[i][j]);    \
            }                                                                                     \
        } while (0)
#define ONE(p, p2, mask) _mm512_maskz_loadu_ps(mask, p)
#define TWO(p, p2, mask) _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(p)), _mm256_loadu_ps(p2), 1)
#define HALF(p, p2, mask) _mm512_zextps256_ps512(_mm256_loadu_ps(p))
        if (!byRows) {
            // Whole vectors, then the masked end (nothing past the last position is read).
            for (ptrdiff_t v = 0; v < full; v++) STEP(16 * v, 0, 16 * v, 0xFFFF, ONE);
            if (last) STEP(16 * full, 0, 16 * full, last, ONE);
        } else if (ow % 16 != 0) {
            // Halves of 8 outputs, each within a row: `at` is the input offset of the next
            // half's first output, `column` its column. A plane of an odd number of halves ends
            // with a low half.
            ptrdiff_t halves = oh * ow / 8, at = 0, column = 0;
            for (ptrdiff_t half = 0; half + 1 < halves; half += 2) {
                ptrdiff_t lo = at;
                next_half(&at, &column, w, ow);
                STEP(lo, at, 8 * half, 0xFFFF, TWO);
                next_half(&at, &column, w, ow);
            }
            if (halves % 2) STEP(at, at, 8 * (halves - 1), 0x00FF, HALF);
        } else {
            // Vector v at output row v / perRow, column 16·(v mod perRow): its input at xq.
            ptrdiff_t perRow = ow / 16, vectors = oh * perRow, xq = 0, c = 0;
            for (ptrdiff_t v = 0; v < vectors; v++) {
                STEP(xq, 0, 16 * v, 0xFFFF, ONE);
                xq += 16;
                if (++c == perRow) c = 0, xq += w - ow;
            }
        }
#undef HALF
#undef TWO
#undef ONE
#undef STEP
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < CT; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < KT; j++) saved[i * KT + j] = acc[i][j];
}

#define WG_ROWS_NAME zoo_conv_weight_gradient_avx512
#define WG_BLOCKED_NAME zoo_conv_weight_gradient_blocked_avx512
#define WG_VECTOR __m512
#define WG_TILE 24
#define WG_ALIGN 64
#define WG_ZERO _mm512_setzero_ps()
#define WG_REDUCE _mm512_reduce_add_ps
#define WG_BY_ROWS zoo_gradient_by_rows_avx512
#define WG_CHANNELS_NARROW 8
#define WG_CHANNELS_WIDE 4
#include "weight_gradient.h"

#pragma clang attribute pop

#else
#include <stdlib.h>

void zoo_conv_forward_avx512(const float *x, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                             const float *packed, ptrdiff_t outChannels, ptrdiff_t kh, ptrdiff_t kw,
                             const float *bias, float *y) { abort(); }
void zoo_conv_weight_gradient_avx512(const float *x, ptrdiff_t xSampleStride, ptrdiff_t h, ptrdiff_t w,
                                     const float *dy, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                                     ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw,
                                     ptrdiff_t firstRow, ptrdiff_t rows, bool accumulate, float *dw, ptrdiff_t dwStride) { abort(); }
void zoo_conv_weight_gradient_blocked_avx512(const float *x, ptrdiff_t xSampleStride, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                                             const float *dy, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                                             ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t chunk,
                                             float *dw, ptrdiff_t dwStride) { abort(); }

#endif
