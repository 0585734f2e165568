// Direct convolution kernels with AVX-512 for stride 1, no padding, no dilation (callers pad
// explicitly), computed "wide" (see zoo_kernels.h): every tap is one contiguous 16-float load.
#include "zoo_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

enum {
    VT = 3, // vectors of 16 positions per forward tile: 8 channels × 3 vectors = 24 accumulators
    KT = 5, // kernel columns per weight-gradient tile: 4 channels × 5 columns = 20 accumulators
};

#pragma clang attribute push (__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))), apply_to = function)

static inline __mmask16 lanes16(ptrdiff_t count) {
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? 0 : (__mmask16)((1u << count) - 1);
}

// The lanes of wide positions [q0, q0 + 16) that are real outputs (column < ow, position < L),
// and the compact index of the first of them.
static inline __mmask16 kept_lanes(ptrdiff_t q0, ptrdiff_t w, ptrdiff_t ow, ptrdiff_t length, ptrdiff_t *first) {
    ptrdiff_t column = q0 % w;
    *first = (q0 / w) * ow + (column < ow ? column : ow);
    unsigned mask = 0;
    for (int l = 0; l < 16; l++) {
        if (column < ow && q0 + l < length) mask |= 1u << l;
        if (++column == w) column = 0;
    }
    return (__mmask16)mask;
}

void zoo_conv_forward_avx512(const float *x, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                             const float *packed, ptrdiff_t outChannels, ptrdiff_t kh, ptrdiff_t kw,
                             const float *bias, float *y) {
    ptrdiff_t oh = h - kh + 1, ow = w - kw + 1, plane = oh * ow;
    if (oh <= 0 || ow <= 0 || outChannels <= 0) return;
    ptrdiff_t length = zoo_wide_length(w, oh, ow), vectors = (length + 15) / 16;
    ptrdiff_t taps = channels * kh * kw, blocks = (outChannels + 7) / 8;
    // Input offset of every tap, in the packed weights' order.
    ptrdiff_t onStack[1024], *offset = taps <= 1024 ? onStack : malloc(sizeof(ptrdiff_t) * (size_t)taps);
    if (!offset) abort();
    for (ptrdiff_t c = 0, t = 0; c < channels; c++)
        for (ptrdiff_t ki = 0; ki < kh; ki++)
            for (ptrdiff_t kj = 0; kj < kw; kj++) offset[t++] = (c * h + ki) * w + kj;

    for (ptrdiff_t b = 0; b < blocks; b++) {
        ptrdiff_t count = outChannels - 8 * b < 8 ? outChannels - 8 * b : 8;
        const float *pk = packed + b * taps * 8;
        __m512 start[8];
        for (int i = 0; i < 8; i++) start[i] = bias && i < count ? _mm512_set1_ps(bias[8 * b + i]) : _mm512_setzero_ps();
        for (ptrdiff_t v0 = 0; v0 < vectors; v0 += VT) {
            __mmask16 m[VT];
            __m512 acc[8][VT];
#pragma clang loop unroll(full)
            for (int j = 0; j < VT; j++) m[j] = lanes16(length - 16 * (v0 + j));
#pragma clang loop unroll(full)
            for (int i = 0; i < 8; i++)
#pragma clang loop unroll(full)
                for (int j = 0; j < VT; j++) acc[i][j] = start[i];
            const float *xq = x + 16 * v0;
            for (ptrdiff_t t = 0; t < taps; t++) {
                const float *xt = xq + offset[t], *k = pk + 8 * t;
                __m512 xv[VT];
#pragma clang loop unroll(full)
                for (int j = 0; j < VT; j++) xv[j] = _mm512_maskz_loadu_ps(m[j], xt + 16 * j);
#pragma clang loop unroll(full)
                for (int i = 0; i < 8; i++) {
                    __m512 weight = _mm512_set1_ps(k[i]);
#pragma clang loop unroll(full)
                    for (int j = 0; j < VT; j++) acc[i][j] = _mm512_fmadd_ps(weight, xv[j], acc[i][j]);
                }
            }
            for (int j = 0; j < VT && v0 + j < vectors; j++) {
                ptrdiff_t first;
                __mmask16 kept = kept_lanes(16 * (v0 + j), w, ow, length, &first);
                __mmask16 out = lanes16(__builtin_popcount(kept));
                for (ptrdiff_t i = 0; i < count; i++)
                    _mm512_mask_storeu_ps(y + (8 * b + i) * plane + first, out, _mm512_maskz_compress_ps(kept, acc[i][j]));
            }
        }
    }
    if (offset != onStack) free(offset);
}

void zoo_conv_weight_gradient_avx512(const float *x, ptrdiff_t xSampleStride, ptrdiff_t h, ptrdiff_t w,
                                     const float *dyWide, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                                     ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t ki,
                                     float *dw, ptrdiff_t dwStride) {
    ptrdiff_t oh = h - kh + 1, ow = w - kw + 1;
    if (oh <= 0 || ow <= 0 || count <= 0) return;
    ptrdiff_t length = zoo_wide_length(w, oh, ow), vectors = (length + 15) / 16;
    for (ptrdiff_t kj0 = 0; kj0 < kw; kj0 += KT) {
        ptrdiff_t columns = kw - kj0 < KT ? kw - kj0 : KT;
        __m512 acc[4][KT];
#pragma clang loop unroll(full)
        for (int i = 0; i < 4; i++)
#pragma clang loop unroll(full)
            for (int j = 0; j < KT; j++) acc[i][j] = _mm512_setzero_ps();
        for (ptrdiff_t n = 0; n < samples; n++) {
            const float *xn = x + n * xSampleStride + ki * w + kj0, *dn = dyWide + n * dySampleStride;
            for (ptrdiff_t v = 0; v < vectors; v++) {
                __mmask16 m = lanes16(length - 16 * v);
                __m512 d[4];
#pragma clang loop unroll(full)
                for (int i = 0; i < 4; i++) d[i] = i < count ? _mm512_loadu_ps(dn + i * planeStride + 16 * v) : _mm512_setzero_ps();
#pragma clang loop unroll(full)
                for (int j = 0; j < KT; j++) {
                    if (j >= columns) break;
                    __m512 xv = _mm512_maskz_loadu_ps(m, xn + 16 * v + j);
#pragma clang loop unroll(full)
                    for (int i = 0; i < 4; i++) acc[i][j] = _mm512_fmadd_ps(d[i], xv, acc[i][j]);
                }
            }
        }
        for (ptrdiff_t i = 0; i < count; i++)
            for (ptrdiff_t j = 0; j < columns; j++) dw[i * dwStride + kj0 + j] = _mm512_reduce_add_ps(acc[i][j]);
    }
}

#pragma clang attribute pop

#else
#include <stdlib.h>

void zoo_conv_forward_avx512(const float *x, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                             const float *packed, ptrdiff_t outChannels, ptrdiff_t kh, ptrdiff_t kw,
                             const float *bias, float *y) { abort(); }
void zoo_conv_weight_gradient_avx512(const float *x, ptrdiff_t xSampleStride, ptrdiff_t h, ptrdiff_t w,
                                     const float *dyWide, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                                     ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t ki,
                                     float *dw, ptrdiff_t dwStride) { abort(); }

#endif
