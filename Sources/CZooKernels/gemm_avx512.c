// Single-precision GEMM with AVX-512: operands packed into cache-sized blocks, a register tile of
// 16 accumulators updated by fused multiply-adds with broadcast operands, one rank-1 update per
// step of k. The tile is 8 rows × 32 columns (two vectors per row): per step of k, 2 loads of B
// and 8 broadcasts of A feed 16 FMAs, where 16×16 needed 16 broadcasts and 1 load, and on a
// Sapphire Rapids core that was load-bound (8×32: 1.15-1.4x the 16×16 tile on the catalog's
// products and 2048³, docs/benchmarks.md). Products at most 16 columns wide keep 16×16, which
// wastes fewer lanes there. The tile shape does not change any result: each element of C is
// still summed over k in order.
#include "zoo_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>

enum {
    TILE = 16, // accumulators in the register tile: MR × NV, with (MR, NV) = (8, 2) or (16, 1)
    KC = 256,  // depth of a packed block: a packed panel of B (16-32 KiB) stays in L1
    MC = 128,  // rows of a packed block of A (128 KiB, in L2), a multiple of MR
    NC = 1024, // columns of a packed block of B (1 MiB), a multiple of NR
};

// Per-thread packing buffers, allocated on first use and freed when the thread ends.
static pthread_key_t buffer_key;
static pthread_once_t buffer_once = PTHREAD_ONCE_INIT;
static void make_buffer_key(void) { pthread_key_create(&buffer_key, free); }

static float *packing_buffer(void) {
    pthread_once(&buffer_once, make_buffer_key);
    float *buffer = pthread_getspecific(buffer_key);
    if (!buffer) {
        buffer = aligned_alloc(64, sizeof(float) * ((size_t)MC * KC + (size_t)KC * NC));
        if (!buffer) abort();
        pthread_setspecific(buffer_key, buffer);
    }
    return buffer;
}

static inline ptrdiff_t min_pd(ptrdiff_t x, ptrdiff_t y) { return x < y ? x : y; }

#pragma clang attribute push (__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))), apply_to = function)

// Lanes [0, count) of a 16-lane vector, count clamped to 0…16.
static inline __mmask16 lanes(ptrdiff_t count) {
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? 0 : (__mmask16)((1u << count) - 1);
}

// Rows [0, rows) × depth [0, kc) of op(A), from `a` at op(A)'s (0, 0), as MR-row panels:
// panel r holds element (r·MR + i, p) at [p·MR + i], zero past the last row.
static inline __attribute__((always_inline)) void pack_a(int MR, bool trans, const float *a, ptrdiff_t lda, ptrdiff_t rows,
                                                         ptrdiff_t kc, float *dst) {
    for (ptrdiff_t ir = 0; ir < rows; ir += MR, dst += kc * MR) {
        ptrdiff_t mr = min_pd(MR, rows - ir);
        if (trans) {
            // op(A)(i, p) = a[p·lda + i]: each depth step reads mr contiguous floats.
            for (ptrdiff_t p = 0; p < kc; p++)
                for (ptrdiff_t i = 0; i < MR; i++) dst[p * MR + i] = i < mr ? a[p * lda + ir + i] : 0;
        } else {
            // Depth-major: every step reads one float of each of the mr rows (mr sequential streams).
            const float *rows[16];
            for (ptrdiff_t i = 0; i < MR; i++) rows[i] = a + (ir + (i < mr ? i : 0)) * lda;
            for (ptrdiff_t p = 0; p < kc; p++)
                for (ptrdiff_t i = 0; i < MR; i++) dst[p * MR + i] = i < mr ? rows[i][p] : 0;
        }
    }
}

// Depth [0, kc) × columns [0, cols) of op(B), from `b` at op(B)'s (0, 0), as NR-column panels
// (NR = 16·NV): panel j holds element (p, j·NR + l) at [p·NR + l], zero past the last column.
static inline __attribute__((always_inline)) void pack_b(int NV, bool trans, const float *b, ptrdiff_t ldb, ptrdiff_t kc,
                                                         ptrdiff_t cols, float *dst) {
    const ptrdiff_t NR = 16 * NV;
    for (ptrdiff_t jr = 0; jr < cols; jr += NR, dst += kc * NR) {
        ptrdiff_t nr = min_pd(NR, cols - jr);
        if (trans) {
            // op(B)(p, j) = b[j·ldb + p]: a transpose, one column at a time (each read sequential,
            // the writes within the panel, which stays in L1).
            for (ptrdiff_t l = 0; l < NR; l++) {
                const float *column = b + (jr + l) * ldb;
                if (l < nr) for (ptrdiff_t p = 0; p < kc; p++) dst[p * NR + l] = column[p];
                else for (ptrdiff_t p = 0; p < kc; p++) dst[p * NR + l] = 0;
            }
        } else {
            for (ptrdiff_t p = 0; p < kc; p++)
                for (int v = 0; v < NV; v++) _mm512_store_ps(dst + p * NR + 16 * v, _mm512_maskz_loadu_ps(lanes(nr - 16 * v), b + p * ldb + jr + 16 * v));
        }
    }
}

// The register tile, MR rows × NV vectors: acc[i·NV + v] = Σₚ a[p][i] · b[p][16v ..< 16v + 16],
// each column summed in order of p; row p of the B panel is at bp + p·ldb, its lanes past `nr`
// read as zero.
static inline __attribute__((always_inline)) void tile(int MR, int NV, ptrdiff_t kc, const float *ap, const float *bp,
                                                       ptrdiff_t ldb, ptrdiff_t nr, __m512 out[TILE]) {
    // Local accumulators (the compiler keeps them in registers), copied out once at the end.
    __m512 acc[TILE];
    __mmask16 mask[2] = {lanes(nr), lanes(nr - 16)};
#pragma clang loop unroll(full)
    for (int t = 0; t < TILE; t++) acc[t] = _mm512_setzero_ps();
    for (ptrdiff_t p = 0; p < kc; p++, ap += MR, bp += ldb) {
        __m512 bv[2];
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) bv[v] = _mm512_maskz_loadu_ps(mask[v], bp + 16 * v);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(ap[i]);
#pragma clang loop unroll(full)
            for (int v = 0; v < NV; v++) acc[i * NV + v] = _mm512_fmadd_ps(av, bv[v], acc[i * NV + v]);
        }
    }
#pragma clang loop unroll(full)
    for (int t = 0; t < TILE; t++) out[t] = acc[t];
}

// C[0..<mr, 0..<nr] = (first ? beta · C : C) + alpha · tile; with first and beta == 0, C is not read.
static inline __attribute__((always_inline)) void store(int NV, float *c, ptrdiff_t ldc, ptrdiff_t mr, ptrdiff_t nr,
                                                        float alpha, float beta, bool first, const __m512 acc[TILE]) {
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __mmask16 masks[2] = {lanes(nr), lanes(nr - 16)};
    for (ptrdiff_t i = 0; i < mr; i++) {
        for (int v = 0; v < NV; v++) {
            __mmask16 mask = masks[v];
            float *dest = c + i * ldc + 16 * v;
            __m512 x = _mm512_mul_ps(va, acc[i * NV + v]);
            if (!first) x = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dest), x);
            else if (beta != 0) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, dest), x);
            _mm512_mask_storeu_ps(dest, mask, x);
        }
    }
}

// The blocked product with an MR × (16·NV) tile (MR · NV = TILE); inlined once per shape.
static inline __attribute__((always_inline)) void gemm(int MR, int NV, bool transA, bool transB, ptrdiff_t m, ptrdiff_t n,
                                                       ptrdiff_t k, float alpha, const float *a, ptrdiff_t lda, const float *b,
                                                       ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc) {
    const ptrdiff_t NR = 16 * NV;
    float *packedA = packing_buffer(), *packedB = packedA + (size_t)MC * KC;
    __m512 acc[TILE];
    // A single row panel uses each element of B once: reading B in place beats copying it first.
    bool packB = transB || m > MR;
    for (ptrdiff_t jc = 0; jc < n; jc += NC) {
        ptrdiff_t nc = min_pd(NC, n - jc);
        for (ptrdiff_t pc = 0; pc < k; pc += KC) {
            ptrdiff_t kc = min_pd(KC, k - pc);
            if (packB) pack_b(NV, transB, transB ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc, nc, packedB);
            for (ptrdiff_t ic = 0; ic < m; ic += MC) {
                ptrdiff_t mc = min_pd(MC, m - ic);
                pack_a(MR, transA, transA ? a + pc * lda + ic : a + ic * lda + pc, lda, mc, kc, packedA);
                // Row panels outer: C is written row panel by row panel, in long runs (columns
                // outer wrote 16 KiB-strided lines for small k, at half the speed).
                for (ptrdiff_t ir = 0; ir < mc; ir += MR) {
                    for (ptrdiff_t jr = 0; jr < nc; jr += NR) {
                        if (packB) tile(MR, NV, kc, packedA + ir * kc, packedB + jr * kc, NR, NR, acc);
                        else tile(MR, NV, kc, packedA + ir * kc, b + pc * ldb + jc + jr, ldb, nc - jr, acc);
                        store(NV, c + (ic + ir) * ldc + jc + jr, ldc, min_pd(MR, mc - ir), min_pd(NR, nc - jr),
                              alpha, beta, pc == 0, acc);
                    }
                }
            }
        }
    }
}

void zoo_sgemm_avx512(bool transA, bool transB, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                      const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                      float beta, float *c, ptrdiff_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (ptrdiff_t i = 0; i < m; i++)
            for (ptrdiff_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return;
    }
    if (n <= 16) gemm(16, 1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else gemm(8, 2, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#pragma clang attribute pop

#else
#include <stdlib.h>

void zoo_sgemm_avx512(bool transA, bool transB, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                      const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                      float beta, float *c, ptrdiff_t ldc) {
    abort(); // zoo_cpu_has_avx512() is false here: never called.
}

#endif
