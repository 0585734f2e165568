// The element-wise and reduction loops, written once and compiled once per kernel path:
// loops_baseline.c, loops_avx2.c and loops_avx512.c include this file with LOOP(name) naming the
// functions and (on x86-64) a target attribute in force. The compiler vectorizes each for its
// instruction set and contracts a·b + c into a fused multiply-add where the target has one, so
// the same source gives 4-wide SSE, 8-wide AVX2 + FMA, AVX-512 or NEON code.
// Not a public header: no include guard, meant to be included more than once.
#include <stddef.h>
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

static inline int LOOP(bits)(float x) { int i; memcpy(&i, &x, 4); return i; }
static inline float LOOP(from_bits)(int i) { float x; memcpy(&x, &i, 4); return x; }

// e^x, relative error below 3e-7: x = k·ln 2 + r, |r| ≤ ln 2 / 2 (ln 2 in two parts, Cody–Waite),
// e^r by its degree-7 Taylor polynomial, 2^k through the exponent bits (adding 1.5·2²³ rounds to
// an integer held in the low mantissa bits). Inputs clamped to [−87.3, 88.3].
static inline float LOOP(exp1)(float x) {
    float c = x != x ? 0 : x < -87.3f ? -87.3f : x > 88.3f ? 88.3f : x;
    float shifted = c * 1.44269504f + 12582912.0f;
    float k = shifted - 12582912.0f;
    float r = (c - k * 0.693145751953125f) - k * 1.428606765330187e-6f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1;
    p = p * r + 1;
    float y = p * LOOP(from_bits)((LOOP(bits)(shifted) - 0x4B400000 + 127) << 23);
    return x != x ? x : x > 88.7f ? __builtin_inff() : y;
}

static inline float LOOP(tanh1)(float x) {
    float a = __builtin_fabsf(x), x2 = x * x;
    float p = -1382.0f / 155925;
    p = p * x2 + 62.0f / 2835;
    p = p * x2 - 17.0f / 315;
    p = p * x2 + 2.0f / 15;
    p = p * x2 - 1.0f / 3;
    float small = x + x * x2 * p;
    float e = LOOP(exp1)(2 * a < 40 ? 2 * a : 40);
    float large = 1 - 2 / (e + 1);
    float result = a < 0.25f ? small : (x < 0 ? -large : large);
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

#undef LOOP_REDUCE

// The table of this path's loops (zoo_loops_for in loops_baseline.c hands them out).
const zoo_loops LOOP(table) = {
    .tanh = LOOP(tanh), .sigmoid = LOOP(sigmoid), .sum = LOOP(sum), .dot = LOOP(dot),
    .centered_dot = LOOP(centered_dot), .centered_squares = LOOP(centered_squares),
};
