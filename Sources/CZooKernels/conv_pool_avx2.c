// A stride-1 convolution followed by 2×2 max pooling of stride 2, in one pass with AVX2 and FMA
// (zoo_conv_forward_max_pool_avx2 in zoo_kernels.h): a tile's rows of outputs stay in registers
// and only the pooled ones are stored. For inference; the bits of zoo_conv_forward_avx2 followed
// by the loops' max_pool_pairs.
#include "zoo_kernels.h"
#include "conv_input.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

#pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)

typedef float pool_v8 __attribute__((ext_vector_type(8)));

// The windows of 16 outputs of a row pair (top: p, q; bottom: r, s) as 8 maxima, by the pooling
// rule (max_pool_pairs): the larger of left and right in each row (right > left ? right : left,
// which is maxps(right, left), NaN and ±0 included), then the larger of bottom and top.
static inline __m256 windows8(__m256 p, __m256 q, __m256 r, __m256 s) {
    pool_v8 a = (pool_v8)p, b = (pool_v8)q, c = (pool_v8)r, d = (pool_v8)s;
    __m256 topLeft = (__m256)__builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
    __m256 topRight = (__m256)__builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15);
    __m256 bottomLeft = (__m256)__builtin_shufflevector(c, d, 0, 2, 4, 6, 8, 10, 12, 14);
    __m256 bottomRight = (__m256)__builtin_shufflevector(c, d, 1, 3, 5, 7, 9, 11, 13, 15);
    return _mm256_max_ps(_mm256_max_ps(bottomRight, bottomLeft), _mm256_max_ps(topRight, topLeft));
}

// The windows of 8 outputs of a row pair (top p, bottom r) as 4 maxima, by the same rule.
static inline __m128 windows4(__m256 p, __m256 r) {
    pool_v8 a = (pool_v8)p, c = (pool_v8)r;
    __m128 topLeft = (__m128)__builtin_shufflevector(a, a, 0, 2, 4, 6), topRight = (__m128)__builtin_shufflevector(a, a, 1, 3, 5, 7);
    __m128 bottomLeft = (__m128)__builtin_shufflevector(c, c, 0, 2, 4, 6), bottomRight = (__m128)__builtin_shufflevector(c, c, 1, 3, 5, 7);
    return _mm_max_ps(_mm_max_ps(bottomRight, bottomLeft), _mm_max_ps(topRight, topLeft));
}

// One tile: CT output channels (k: their weights, 8 floats a tap apart) × PAIRS row pairs of
// output rows (from `row`, whose input starts at x + row·w) × PR vectors of 8 per row (the whole
// row: ow = 8·PR), summed over all taps, then pooled into pooled row row / 2 of each of the
// first `count` channels. CT·PAIRS·2·PR = 12 accumulators at most, the CT weights and one input
// vector: 16 registers. A tap loads the CT weights, then each input vector in turn.
static inline __attribute__((always_inline)) void pool_tile(
    const int CT, const int PAIRS, const int PR, const float *x, const float *k, const ptrdiff_t *offset, ptrdiff_t taps,
    const __m256 start[3], ptrdiff_t row, ptrdiff_t w, ptrdiff_t count, ptrdiff_t pooledPlane, float *y) {
    enum { VECTORS = 12 };
    __m256 acc[3][VECTORS];
    const float *at[VECTORS];
    const int NV = PAIRS * 2 * PR;
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) at[v] = x + (row + v / PR) * w + 8 * (v % PR);
#pragma clang loop unroll(full)
    for (int i = 0; i < CT; i++)
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) acc[i][v] = start[i];
    // Channels past `count` read the last one's weights again (in bounds; never stored).
    const float *kc[3];
#pragma clang loop unroll(full)
    for (int i = 0; i < CT; i++) kc[i] = k + (i < count ? i : count - 1);
    for (ptrdiff_t t = 0; t < taps; t++) {
        __m256 weight[3];
#pragma clang loop unroll(full)
        for (int i = 0; i < CT; i++) weight[i] = _mm256_broadcast_ss(kc[i] + 8 * t);
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) {
            __m256 input = _mm256_loadu_ps(at[v] + offset[t]);
#pragma clang loop unroll(full)
            for (int i = 0; i < CT; i++) acc[i][v] = _mm256_fmadd_ps(weight[i], input, acc[i][v]);
        }
    }
    ptrdiff_t pw = 4 * PR;
    for (int i = 0; i < CT && i < count; i++) {
#pragma clang loop unroll(full)
        for (int p = 0; p < PAIRS; p++) {
            float *out = y + i * pooledPlane + (row / 2 + p) * pw;
            const __m256 *top = &acc[i][2 * p * PR], *bottom = top + PR;
#pragma clang loop unroll(full)
            for (int v = 0; v + 1 < PR; v += 2) _mm256_storeu_ps(out + 4 * v, windows8(top[v], top[v + 1], bottom[v], bottom[v + 1]));
            if (PR % 2) _mm_storeu_ps(out + 4 * (PR - 1), windows4(top[PR - 1], bottom[PR - 1]));
        }
    }
}

void zoo_conv_forward_max_pool_avx2(const float *x, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                                    const float *packed, ptrdiff_t outChannels, ptrdiff_t kh, ptrdiff_t kw,
                                    const float *bias, float *y) {
    ptrdiff_t oh = h - kh + 1, ow = w - kw + 1;
    if (outChannels <= 0 || !zoo_conv_max_pool_fits_avx2(oh, ow)) return;
    ptrdiff_t perRow = ow / 8, pairs = oh / 2, pooledPlane = pairs * (ow / 2);
    ptrdiff_t taps = channels * kh * kw, blocks = (outChannels + 7) / 8;
    prefetch_input(x, channels * h * w, 16384);
    ptrdiff_t onStack[1024], *offset = tap_offsets(channels, h, w, kh, kw, onStack);
    // Parts of 2 channels for rows of 3 vectors, 3 channels otherwise; rows of 1 vector take two
    // row pairs a tile (one for an odd last pair).
    ptrdiff_t part = perRow == 3 ? 2 : 3;
    for (ptrdiff_t b = 0; b < blocks; b++) {
        ptrdiff_t inBlock = outChannels - 8 * b < 8 ? outChannels - 8 * b : 8;
        for (ptrdiff_t first = 0; first < inBlock; first += part) {
            ptrdiff_t count = inBlock - first < part ? inBlock - first : part;
            const float *k = packed + b * taps * 8 + first;
            float *yb = y + (8 * b + first) * pooledPlane;
            __m256 start[3];
            for (int i = 0; i < 3; i++) start[i] = bias && i < count ? _mm256_set1_ps(bias[8 * b + first + i]) : _mm256_setzero_ps();
#define TILE(CT, PAIRS, PR) pool_tile(CT, PAIRS, PR, x, k, offset, taps, start, 2 * pair, w, count, pooledPlane, yb)
            if (perRow == 3) {
                for (ptrdiff_t pair = 0; pair < pairs; pair++) TILE(2, 1, 3);
            } else if (perRow == 2) {
                for (ptrdiff_t pair = 0; pair < pairs; pair++) TILE(3, 1, 2);
            } else {
                ptrdiff_t pair = 0;
                for (; pair + 2 <= pairs; pair += 2) TILE(3, 2, 1);
                if (pair < pairs) TILE(3, 1, 1);
            }
#undef TILE
        }
    }
    free_tap_offsets(offset, onStack);
}

#pragma clang attribute pop

#else
#include <stdlib.h>

void zoo_conv_forward_max_pool_avx2(const float *x, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                                    const float *packed, ptrdiff_t outChannels, ptrdiff_t kh, ptrdiff_t kw,
                                    const float *bias, float *y) { abort(); }

#endif
