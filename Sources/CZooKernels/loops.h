// The element-wise and reduction loops, written once and compiled once per kernel path:
// loops_baseline.c, loops_avx2.c and loops_avx512.c include this file with LOOP(name) naming the
// functions and (on x86-64) a target attribute in force. The compiler vectorizes each for its
// instruction set and contracts a·b + c into a fused multiply-add where the target has one, so
// the same source gives 4-wide SSE, 8-wide AVX2 + FMA, AVX-512 or NEON code.
// Not a public header: no include guard, meant to be included more than once.
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// The 8-lane type changes the ABI of a function without AVX; these are all inlined.
#pragma clang diagnostic ignored "-Wpsabi"

// 8 floats loaded from any address (the reductions run on 8-lane vectors on every path, so
// their sums are added in the same order everywhere).
typedef float LOOP(v8) __attribute__((ext_vector_type(8)));

static inline LOOP(v8) LOOP(load8)(const float *p) {
    LOOP(v8) v;
    memcpy(&v, p, sizeof v);
    return v;
}

// 1 where the 8 floats at p are above 0, else 0 (a comparison gives −1 or 0 per lane).
typedef int LOOP(mi8) __attribute__((ext_vector_type(8)));
static inline LOOP(v8) LOOP(mask8)(const float *p) {
    LOOP(mi8) above = LOOP(load8)(p) > 0;
    return __builtin_convertvector(-above, LOOP(v8));
}

static inline int LOOP(bits)(float x) { int i; memcpy(&i, &x, 4); return i; }
static inline float LOOP(from_bits)(int i) { float x; memcpy(&x, &i, 4); return x; }

// For y in [−87.3, 88.3], y = k·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 in two parts, Cody–Waite):
// returns e^r − 1 by its degree-7 Taylor polynomial without the constant term (so its relative
// accuracy holds as r goes to 0), and sets *scale to 2^k through the exponent bits (adding
// 1.5·2²³ rounds to an integer held in the low mantissa bits).
static inline float LOOP(expm1_reduced)(float y, float *scale) {
    float shifted = y * 1.44269504f + 12582912.0f;
    float k = shifted - 12582912.0f;
    float r = (y - k * 0.693145751953125f) - k * 1.428606765330187e-6f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    *scale = LOOP(from_bits)((LOOP(bits)(shifted) - 0x4B400000 + 127) << 23);
    return r + r * r * p;
}

// e^x, relative error below 3e-7: 2^k·((e^r − 1) + 1). Inputs clamped to [−87.3, 88.3].
static inline float LOOP(exp1)(float x) {
    float c = x != x ? 0 : x < -87.3f ? -87.3f : x > 88.3f ? 88.3f : x, scale;
    float y = (LOOP(expm1_reduced)(c, &scale) + 1) * scale;
    return x != x ? x : x > 88.7f ? __builtin_inff() : y;
}

// tanh |x| = m / (m + 2) with m = e^{2|x|} − 1 = 2^k·(e^r − 1) + (2^k − 1), the sign put back;
// 2.5 ulp at most. m keeps its relative accuracy as x goes to 0, so one expression serves every
// x (no select between a small-x polynomial and e^x). 2|x| is clamped to 40, where m/(m + 2)
// rounds to 1.
static inline float LOOP(tanh1)(float x) {
    float a = __builtin_fabsf(x), scale;
    float em1 = LOOP(expm1_reduced)(2 * a < 40 ? 2 * a : 40, &scale);
    float m = scale * em1 + (scale - 1);
    float t = m / (m + 2);
    float result = LOOP(from_bits)(LOOP(bits)(t) | (LOOP(bits)(x) & (int)0x80000000u));
    return x != x ? x : result;
}

static inline float LOOP(sigmoid1)(float x) {
    float e = LOOP(exp1)(-__builtin_fabsf(x));
    float s = 1 / (1 + e);
    return x != x ? x : (x >= 0 ? s : e * s);
}

void LOOP(tanh)(const float *x, float *y, ptrdiff_t n) {
#pragma clang loop vectorize(enable) interleave(enable)
    for (ptrdiff_t i = 0; i < n; i++) y[i] = LOOP(tanh1)(x[i]);
}

void LOOP(sigmoid)(const float *x, float *y, ptrdiff_t n) {
#pragma clang loop vectorize(enable) interleave(enable)
    for (ptrdiff_t i = 0; i < n; i++) y[i] = LOOP(sigmoid1)(x[i]);
}

// y[i] = a[i] + b[i].
void LOOP(add)(const float *a, const float *b, float *y, ptrdiff_t n) {
#pragma clang loop vectorize(enable) interleave(enable)
    for (ptrdiff_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

// y[i] = max(a[i] + b[i], 0) as Swift's max(s, 0) takes it: 0 when 0 ≥ s, else s (so −0 gives
// +0 and NaN stays NaN).
void LOOP(relu_of_sum)(const float *a, const float *b, float *y, ptrdiff_t n) {
#pragma clang loop vectorize(enable) interleave(enable)
    for (ptrdiff_t i = 0; i < n; i++) {
        float s = a[i] + b[i];
        y[i] = 0 >= s ? 0 : s;
    }
}

// y[i] = g[i] · (x[i] > 0 ? 1 : 0): a product, not a select, so −0, NaN and ∞ in g give what
// multiplying by the mask gives.
void LOOP(relu_gradient)(const float *x, const float *g, float *y, ptrdiff_t n) {
#pragma clang loop vectorize(enable) interleave(enable)
    for (ptrdiff_t i = 0; i < n; i++) y[i] = g[i] * (x[i] > 0 ? 1.0f : 0.0f);
}

// Batch norm's output: y[i] = (x[i] − mean)·scale + shift, plus residual[i] where it is given,
// then max(·, 0) as relu_of_sum takes it where `relu`. Each operation rounds (no fused
// multiply-add), so every path gives the bits of the expression written out.
void LOOP(normalize)(const float *x, const float *residual, float *y, ptrdiff_t n, float mean, float scale, float shift,
                     bool relu) {
#pragma clang fp contract(off)
    // Written out per case, so that no loop tests per element.
#define NORMALIZE(VALUE, RELU)                                                     \
    _Pragma("clang loop vectorize(enable) interleave(enable)")                      \
    for (ptrdiff_t i = 0; i < n; i++) {                                             \
        float v = VALUE;                                                            \
        y[i] = RELU ? (0 >= v ? 0 : v) : v;                                         \
    }
    if (residual && relu) { NORMALIZE((x[i] - mean) * scale + shift + residual[i], 1) }
    else if (residual) { NORMALIZE((x[i] - mean) * scale + shift + residual[i], 0) }
    else if (relu) { NORMALIZE((x[i] - mean) * scale + shift, 1) }
    else { NORMALIZE((x[i] - mean) * scale + shift, 0) }
#undef NORMALIZE
}

// Batch norm's input gradient: dx[i] = k·((gm[i] − meanG) − (x[i] − mean)·inv·meanGX), gm[i] =
// g[i]·(mask[i] > 0 ? 1 : 0) where `mask` is given, else g[i]. Each operation rounds, as in
// normalize.
void LOOP(normalize_gradient)(const float *g, const float *mask, const float *x, float *dx, ptrdiff_t n, float k, float meanG,
                              float mean, float inv, float meanGX) {
#pragma clang fp contract(off)
    if (mask) {
#pragma clang loop vectorize(enable) interleave(enable)
        for (ptrdiff_t i = 0; i < n; i++) dx[i] = k * (g[i] * (mask[i] > 0 ? 1.0f : 0.0f) - meanG - (x[i] - mean) * inv * meanGX);
    } else {
#pragma clang loop vectorize(enable) interleave(enable)
        for (ptrdiff_t i = 0; i < n; i++) dx[i] = k * (g[i] - meanG - (x[i] - mean) * inv * meanGX);
    }
}

// Σ over i < n of TERM(i) (a v8 of the 8 elements at i; SCALAR(i) for the tail): four running
// vector sums (one is a chain of dependent adds), added pairwise, then the tail in order.
#define LOOP_REDUCE(TERM, SCALAR)                                                   \
    LOOP(v8) a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                        \
    ptrdiff_t i = 0;                                                                \
    for (; i + 32 <= n; i += 32) {                                                  \
        a0 += TERM(i); a1 += TERM(i + 8); a2 += TERM(i + 16); a3 += TERM(i + 24);   \
    }                                                                               \
    for (; i + 8 <= n; i += 8) a0 += TERM(i);                                       \
    LOOP(v8) t = (a0 + a1) + (a2 + a3);                                             \
    float s = ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));    \
    for (; i < n; i++) s += SCALAR(i);                                              \
    return s;

float LOOP(sum)(const float *x, ptrdiff_t n) {
#define TERM(i) LOOP(load8)(x + (i))
#define SCALAR(i) x[i]
    LOOP_REDUCE(TERM, SCALAR)
#undef TERM
#undef SCALAR
}

// sums[(r / perSum)·sumStride] += sum(x + r·stride, length) for r < rows, in order: a bias
// gradient's channel sums over short rows in one call rather than one call per row.
void LOOP(row_sums)(const float *x, ptrdiff_t rows, ptrdiff_t length, ptrdiff_t stride, ptrdiff_t perSum, float *sums,
                    ptrdiff_t sumStride) {
    for (ptrdiff_t r = 0; r < rows; r++) sums[(r / perSum) * sumStride] += LOOP(sum)(x + r * stride, length);
}

float LOOP(dot)(const float *a, const float *b, ptrdiff_t n) {
#define TERM(i) LOOP(load8)(a + (i)) * LOOP(load8)(b + (i))
#define SCALAR(i) a[i] * b[i]
    LOOP_REDUCE(TERM, SCALAR)
#undef TERM
#undef SCALAR
}

float LOOP(centered_dot)(const float *a, const float *b, float shift, ptrdiff_t n) {
#define TERM(i) LOOP(load8)(a + (i)) * (LOOP(load8)(b + (i)) - shift)
#define SCALAR(i) a[i] * (b[i] - shift)
    LOOP_REDUCE(TERM, SCALAR)
#undef TERM
#undef SCALAR
}

float LOOP(centered_squares)(const float *a, float shift, ptrdiff_t n) {
#define TERM(i) (LOOP(load8)(a + (i)) - shift) * (LOOP(load8)(a + (i)) - shift)
#define SCALAR(i) (a[i] - shift) * (a[i] - shift)
    LOOP_REDUCE(TERM, SCALAR)
#undef TERM
#undef SCALAR
}

// sums[0] = Σ gm[i] and sums[1] = Σ gm[i]·(x[i] − shift) in one pass, gm[i] = g[i]·(mask[i] > 0 ? 1
// : 0) where `mask` is given, else g[i]: each sum added in the order (and with the contractions)
// of `sum` and `centered_dot` over a materialized gm, so the bits are theirs.
void LOOP(masked_sums)(const float *g, const float *mask, const float *x, float shift, ptrdiff_t n, float *sums) {
    LOOP(v8) a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    ptrdiff_t i = 0;
    // The loops written twice, with and without the mask, so neither tests it per element.
#define SUMS(GM8)                                                                                \
    for (; i + 32 <= n; i += 32) {                                                               \
        LOOP(v8) g0 = GM8(i), g1 = GM8(i + 8), g2 = GM8(i + 16), g3 = GM8(i + 24);               \
        a0 += g0; a1 += g1; a2 += g2; a3 += g3;                                                  \
        b0 += g0 * (LOOP(load8)(x + i) - shift); b1 += g1 * (LOOP(load8)(x + i + 8) - shift);    \
        b2 += g2 * (LOOP(load8)(x + i + 16) - shift); b3 += g3 * (LOOP(load8)(x + i + 24) - shift); \
    }                                                                                            \
    for (; i + 8 <= n; i += 8) {                                                                 \
        LOOP(v8) g0 = GM8(i);                                                                    \
        a0 += g0;                                                                                \
        b0 += g0 * (LOOP(load8)(x + i) - shift);                                                 \
    }
#define MASKED(i) (LOOP(load8)(g + (i)) * LOOP(mask8)(mask + (i)))
#define PLAIN(i) LOOP(load8)(g + (i))
    if (mask) {
        SUMS(MASKED)
    } else {
        SUMS(PLAIN)
    }
#undef PLAIN
#undef MASKED
#undef SUMS
    LOOP(v8) ta = (a0 + a1) + (a2 + a3), tb = (b0 + b1) + (b2 + b3);
    float sa = ((ta[0] + ta[1]) + (ta[2] + ta[3])) + ((ta[4] + ta[5]) + (ta[6] + ta[7]));
    float sb = ((tb[0] + tb[1]) + (tb[2] + tb[3])) + ((tb[4] + tb[5]) + (tb[6] + tb[7]));
    for (; i < n; i++) {
        float gi = mask ? g[i] * (mask[i] > 0 ? 1.0f : 0.0f) : g[i];
        sa += gi;
        sb += gi * (x[i] - shift);
    }
    sums[0] = sa;
    sums[1] = sb;
}

#undef LOOP_REDUCE

// Max pooling over 2×2 windows with stride 2. The scalar rule, which the vector code below
// follows lane by lane: the larger of top-left and top-right (the left on ties or NaN), the
// larger of bottom-left and bottom-right, then the larger of those two (the top on ties or NaN).
typedef int LOOP(vi8) __attribute__((ext_vector_type(8)));
typedef float LOOP(v4) __attribute__((ext_vector_type(4)));
typedef int LOOP(vi4) __attribute__((ext_vector_type(4)));

static inline void LOOP(pair1)(const float *up, const float *down, int32_t at, float *top, int32_t *index) {
    float a = up[0], b = up[1], c = down[0], d = down[1];
    float top1 = b > a ? b : a, top2 = d > c ? d : c;
    int right1 = b > a, right2 = d > c, last = top2 > top1;
    *top = last ? top2 : top1;
    if (index) *index = last ? at + (int32_t)(down - up) + right2 : at + right1;
}

// N windows of one row pair at once (N = 8 or 4): the even and odd lanes of 2N floats of each
// row are the windows' left and right columns; selects are bit masks (comparisons give −1 or 0).
#define LOOP_PAIRS(N, VF, VI, LOAD)                                                                  \
    for (; ox + N <= ow; ox += N) {                                                                  \
        VF u0 = LOAD(up + 2 * ox), u1 = LOAD(up + 2 * ox + N);                                       \
        VF d0 = LOAD(down + 2 * ox), d1 = LOAD(down + 2 * ox + N);                                   \
        VF a = EVENS##N(u0, u1), b = ODDS##N(u0, u1), c = EVENS##N(d0, d1), d = ODDS##N(d0, d1);     \
        VI right1 = b > a, right2 = d > c;                                                           \
        VF top1 = (VF)(((VI)b & right1) | ((VI)a & ~right1));                                        \
        VF top2 = (VF)(((VI)d & right2) | ((VI)c & ~right2));                                        \
        VI last = top2 > top1;                                                                       \
        VF best = (VF)(((VI)top2 & last) | ((VI)top1 & ~last));                                      \
        memcpy(top + ox, &best, sizeof best);                                                        \
        if (index) {                                                                                 \
            VI left = at + 2 * ((int)ox + LANES##N);                                                      \
            VI i1 = left - right1, i2 = left + (int)w - right2;                                      \
            VI chosen = (i2 & last) | (i1 & ~last);                                                  \
            memcpy(index + ox, &chosen, sizeof chosen);                                              \
        }                                                                                            \
    }

#define EVENS8(p, q) __builtin_shufflevector(p, q, 0, 2, 4, 6, 8, 10, 12, 14)
#define ODDS8(p, q) __builtin_shufflevector(p, q, 1, 3, 5, 7, 9, 11, 13, 15)
#define EVENS4(p, q) __builtin_shufflevector(p, q, 0, 2, 4, 6)
#define ODDS4(p, q) __builtin_shufflevector(p, q, 1, 3, 5, 7)
#define LANES8 ((LOOP(vi8)){0, 1, 2, 3, 4, 5, 6, 7})
#define LANES4 ((LOOP(vi4)){0, 1, 2, 3})

static inline LOOP(v4) LOOP(load4)(const float *p) {
    LOOP(v4) v;
    memcpy(&v, p, sizeof v);
    return v;
}

void LOOP(max_pool_pairs)(const float *x, ptrdiff_t planes, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oh, ptrdiff_t ow,
                          int32_t first, float *top, int32_t *index) {
    for (ptrdiff_t p = 0; p < planes; p++) {
        for (ptrdiff_t oy = 0; oy < oh; oy++) {
            const float *up = x + (p * h + 2 * oy) * w, *down = up + w;
            int32_t at = first + (int32_t)((p * h + 2 * oy) * w);
            ptrdiff_t ox = 0;
            LOOP_PAIRS(8, LOOP(v8), LOOP(vi8), LOOP(load8))
            LOOP_PAIRS(4, LOOP(v4), LOOP(vi4), LOOP(load4))
            for (; ox < ow; ox++) LOOP(pair1)(up + 2 * ox, down + 2 * ox, at + (int32_t)(2 * ox), top + ox, index ? index + ox : NULL);
            top += ow;
            if (index) index += ow;
        }
    }
}

// The gradient of max_pool_pairs: dx[index[o]] = 0 + g[o] (so −0 becomes +0, as adding into
// zeros does), zero everywhere else, including rows and columns past the windows.
#define LOOP_UNPOOL(N, VF, VI, LOAD)                                                               \
    for (; ox + N <= ow; ox += N) {                                                                \
        VF gv = LOAD(g + ox) + 0.0f;                                                               \
        VI chosen;                                                                                 \
        memcpy(&chosen, index + ox, sizeof chosen);                                                \
        VI left = at + 2 * ((int)ox + LANES##N);                                                   \
        VF a = (VF)((VI)gv & (chosen == left)), b = (VF)((VI)gv & (chosen == left + 1));           \
        VF c = (VF)((VI)gv & (chosen == left + (int)w)), d = (VF)((VI)gv & (chosen == left + (int)w + 1)); \
        VF u0 = INTERLEAVE_LO##N(a, b), u1 = INTERLEAVE_HI##N(a, b);                               \
        VF d0 = INTERLEAVE_LO##N(c, d), d1 = INTERLEAVE_HI##N(c, d);                               \
        memcpy(up + 2 * ox, &u0, sizeof u0);                                                       \
        memcpy(up + 2 * ox + N, &u1, sizeof u1);                                                   \
        memcpy(down + 2 * ox, &d0, sizeof d0);                                                     \
        memcpy(down + 2 * ox + N, &d1, sizeof d1);                                                 \
    }

#define INTERLEAVE_LO8(p, q) __builtin_shufflevector(p, q, 0, 8, 1, 9, 2, 10, 3, 11)
#define INTERLEAVE_HI8(p, q) __builtin_shufflevector(p, q, 4, 12, 5, 13, 6, 14, 7, 15)
#define INTERLEAVE_LO4(p, q) __builtin_shufflevector(p, q, 0, 4, 1, 5)
#define INTERLEAVE_HI4(p, q) __builtin_shufflevector(p, q, 2, 6, 3, 7)

void LOOP(max_unpool_pairs)(const float *g, const int32_t *index, ptrdiff_t planes, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oh,
                            ptrdiff_t ow, int32_t first, float *dx) {
    for (ptrdiff_t p = 0; p < planes; p++) {
        float *plane = dx + p * h * w;
        for (ptrdiff_t oy = 0; oy < oh; oy++) {
            float *up = plane + 2 * oy * w, *down = up + w;
            int32_t at = first + (int32_t)((p * h + 2 * oy) * w);
            ptrdiff_t ox = 0;
            LOOP_UNPOOL(8, LOOP(v8), LOOP(vi8), LOOP(load8))
            LOOP_UNPOOL(4, LOOP(v4), LOOP(vi4), LOOP(load4))
            for (; ox < ow; ox++) {
                int32_t i = index[ox], left = at + (int32_t)(2 * ox);
                float v = g[ox] + 0.0f;
                up[2 * ox] = i == left ? v : 0;
                up[2 * ox + 1] = i == left + 1 ? v : 0;
                down[2 * ox] = i == left + (int32_t)w ? v : 0;
                down[2 * ox + 1] = i == left + (int32_t)w + 1 ? v : 0;
            }
            for (ptrdiff_t x = 2 * ow; x < w; x++) up[x] = down[x] = 0;
            g += ow;
            index += ow;
        }
        for (ptrdiff_t i = 2 * oh * w; i < h * w; i++) plane[i] = 0;
    }
}

// The rows of a 1-D im2col, sample by sample. With stride 2, 8 (or 4) outputs come from 16 (8)
// consecutive inputs, their even lanes; the last input read, one past the last kept, is read
// only while a later output of the run needs it (i + 8 < n), so nothing past the run is read.
void LOOP(unfold_lines)(const float *x, ptrdiff_t sampleStride, ptrdiff_t samples, ptrdiff_t stride, ptrdiff_t lo, ptrdiff_t hi,
                        ptrdiff_t ow, float *y) {
    ptrdiff_t n = hi - lo;
    // The zeros column by column across the samples: a few per sample, which as a loop over one
    // sample's columns the compiler turns into a call to memset (a third of the time).
    for (ptrdiff_t j = 0; j < lo; j++)
        for (ptrdiff_t s = 0; s < samples; s++) y[s * ow + j] = 0;
    for (ptrdiff_t j = hi; j < ow; j++)
        for (ptrdiff_t s = 0; s < samples; s++) y[s * ow + j] = 0;
    for (ptrdiff_t s = 0; s < samples; s++, x += sampleStride, y += ow) {
        float *run = y + lo;
        ptrdiff_t i = 0;
        if (stride == 2 && n > 4) {
            for (; i + 8 < n; i += 8) {
                LOOP(v8) kept = EVENS8(LOOP(load8)(x + 2 * i), LOOP(load8)(x + 2 * i + 8));
                memcpy(run + i, &kept, sizeof kept);
            }
            // The run's last 8 (or 4) outputs, again where they overlap the ones above: the odd
            // lanes of the 16 (8) inputs that end with the last one, which starts past x[0].
            if (n > 8) {
                LOOP(v8) kept = ODDS8(LOOP(load8)(x + 2 * n - 17), LOOP(load8)(x + 2 * n - 9));
                memcpy(run + n - 8, &kept, sizeof kept);
            } else {
                LOOP(v4) kept = EVENS4(LOOP(load4)(x), LOOP(load4)(x + 4));
                memcpy(run, &kept, sizeof kept);
                kept = ODDS4(LOOP(load4)(x + 2 * n - 9), LOOP(load4)(x + 2 * n - 5));
                memcpy(run + n - 4, &kept, sizeof kept);
            }
            continue;
        }
        for (; i < n; i++) run[i] = x[i * stride];
    }
}

// The adjoint of unfold_lines, each x element taking its term as the scalar `x += y` gives it.
// With stride 2 the vectors cover the run's 16 (8) inputs and add into the even lanes only; the
// odd ones are stored back unchanged (bit masks, not + 0, which would turn −0 into +0).
// N terms (N = 8 or 4) of a stride-2 run added into the even lanes of its 2N inputs.
#define LOOP_FOLD_EVENS(N, VF, VI, LOAD)                                                             \
    for (; i + N < n; i += N) {                                                                      \
        const VI even = (VI)(LANES##N % 2 == 0);                                                     \
        VF terms = LOAD(run + i), a = LOAD(x + 2 * i), b = LOAD(x + 2 * i + N);                      \
        VF sa = a + INTERLEAVE_LO##N(terms, terms), sb = b + INTERLEAVE_HI##N(terms, terms);         \
        a = (VF)(((VI)sa & even) | ((VI)a & ~even));                                                 \
        b = (VF)(((VI)sb & even) | ((VI)b & ~even));                                                 \
        memcpy(x + 2 * i, &a, sizeof a);                                                             \
        memcpy(x + 2 * i + N, &b, sizeof b);                                                         \
    }

void LOOP(fold_lines)(const float *y, ptrdiff_t samples, ptrdiff_t stride, ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t ow, float *x,
                      ptrdiff_t sampleStride) {
    ptrdiff_t n = hi - lo;
    for (ptrdiff_t s = 0; s < samples; s++, x += sampleStride, y += ow) {
        const float *run = y + lo;
        ptrdiff_t i = 0;
        if (stride == 2) {
            LOOP_FOLD_EVENS(8, LOOP(v8), LOOP(vi8), LOOP(load8))
            LOOP_FOLD_EVENS(4, LOOP(v4), LOOP(vi4), LOOP(load4))
        }
        for (; i < n; i++) x[i * stride] += run[i];
    }
}

#undef LOOP_UNPOOL
#undef LOOP_FOLD_EVENS
#undef INTERLEAVE_LO8
#undef INTERLEAVE_HI8
#undef INTERLEAVE_LO4
#undef INTERLEAVE_HI4
#undef LOOP_PAIRS
#undef EVENS8
#undef ODDS8
#undef EVENS4
#undef ODDS4
#undef LANES8
#undef LANES4

// The table of this path's loops (zoo_loops_for in loops_baseline.c hands them out).
const zoo_loops LOOP(table) = {
    .tanh = LOOP(tanh), .sigmoid = LOOP(sigmoid), .sum = LOOP(sum), .dot = LOOP(dot),
    .centered_dot = LOOP(centered_dot), .centered_squares = LOOP(centered_squares), .max_pool_pairs = LOOP(max_pool_pairs),
    .max_unpool_pairs = LOOP(max_unpool_pairs), .add = LOOP(add), .relu_of_sum = LOOP(relu_of_sum),
    .relu_gradient = LOOP(relu_gradient), .masked_sums = LOOP(masked_sums), .normalize = LOOP(normalize),
    .normalize_gradient = LOOP(normalize_gradient), .unfold_lines = LOOP(unfold_lines), .fold_lines = LOOP(fold_lines),
    .row_sums = LOOP(row_sums),
};
