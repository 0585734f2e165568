// Single-precision GEMM with AVX2 and FMA, for processors without AVX-512: a 6×16 register tile
// (12 accumulators of 8 floats; 2 more registers hold a row of B and 1 a broadcast element of A)
// updated by fused multiply-adds, one rank-1 update per step of k. B is packed into 16-column
// panels (read in place when there is a single row panel), A into 6-row panels when it serves more
// than two column panels (read in place otherwise). Tiles at the edges run the same code with
// fewer rows or vectors, so every element of C goes through the same operations.
//
// Measured on a Sapphire Rapids core (AVX2 code only) against OpenBLAS 0.3.21's Haswell kernels,
// single-threaded, on the products of Zoo's catalog models: 6×16 beat 4×24 and 8×8 (on 2048³ by
// ~1.5× and 1.2×), and rows outer slightly beat column panels outer. It is ahead on the catalog's
// thin products (few rows or columns, small k: 1.1–2.4×), level on the square-ish ones
// (0.96–1.1×, both near the AVX2 peak), and at 0.89–0.95× on 2048³, where OpenBLAS's
// hand-scheduled assembly wins.
#include "zoo_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>

enum {
    MR = 6,       // rows of the register tile
    NV = 2,       // vectors of 8 floats across the register tile
    NR = 8 * NV,  // columns of the register tile (and of a packed panel of B)
    WV = 8,       // vectors of the widest tile (1 row)
    KC = 256,     // the most depth of a block: a packed panel of A (6 KiB) stays in L1
    MC = 96,      // rows of a packed block of A (96 KiB)
    NC = 512,     // columns of a packed block of B (512 KiB, in L2; 1024 measured no faster)
    SLACK = 16,   // floats past a packed block that packing may overwrite
};

// Per-thread packing buffers, allocated on first use and freed when the thread ends.
static pthread_key_t buffer_key;
static pthread_once_t buffer_once = PTHREAD_ONCE_INIT;
static void make_buffer_key(void) { pthread_key_create(&buffer_key, free); }

static float *packing_buffer(void) {
    pthread_once(&buffer_once, make_buffer_key);
    float *buffer = pthread_getspecific(buffer_key);
    if (!buffer) {
        buffer = aligned_alloc(64, sizeof(float) * ((size_t)MC * KC + SLACK + (size_t)KC * NC + SLACK));
        if (!buffer) abort();
        pthread_setspecific(buffer_key, buffer);
    }
    return buffer;
}

static inline ptrdiff_t min_pd(ptrdiff_t x, ptrdiff_t y) { return x < y ? x : y; }

#pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)

// Lanes [0, count) of an 8-lane vector as a mask for maskload / maskstore, count clamped to 0…8.
static inline __m256i lanes(ptrdiff_t count) {
    int c = count < 0 ? 0 : count > 8 ? 8 : (int)count;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Transposes the 8×8 block r[0..<8] in place: r[i][j] becomes r[j][i].
static inline void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Stores lanes [0, MR) of v at dst.
static inline void store_panel_step(float *dst, __m256 v) {
    _mm_storeu_ps(dst, _mm256_castps256_ps128(v));
    _mm_storel_pi((__m64 *)(dst + 4), _mm256_extractf128_ps(v, 1));
}
_Static_assert(MR == 6, "store_panel_step stores 6 lanes");

// Rows [0, rows) × depth [0, kc) of op(A), from `a` at op(A)'s (0, 0), as MR-row panels: panel r
// holds element (r·MR + i, p) at [p·MR + i]. The lanes of a last, partial panel past its rows
// hold anything (the kernel of its rows does not read them).
static void pack_a(bool trans, const float *a, ptrdiff_t lda, ptrdiff_t rows, ptrdiff_t kc, float *dst) {
    if (trans) {
        // op(A)(i, p) = a[p·lda + i]: each step of depth is one run of A, read once for every panel.
        // 8-float loads where they stay inside the run, then masked ones.
        ptrdiff_t whole = rows >= 8 ? (rows - 8) / MR * MR + MR : 0;
        for (ptrdiff_t p = 0; p < kc; p++) {
            const float *src = a + p * lda;
            float *out = dst + p * MR;
            ptrdiff_t ir = 0;
            for (; ir < whole; ir += MR) store_panel_step(out + ir * kc, _mm256_loadu_ps(src + ir));
            for (; ir < rows; ir += MR) store_panel_step(out + ir * kc, _mm256_maskload_ps(src + ir, lanes(rows - ir)));
        }
        return;
    }
    // op(A)(i, p) = a[i·lda + p]: 8×8 blocks (rows past MR zero) transposed in registers, each step
    // stored as 8 floats whose last 2 the next step overwrites (past the last, SLACK takes them).
    for (ptrdiff_t ir = 0; ir < rows; ir += MR, dst += kc * MR) {
        ptrdiff_t mr = min_pd(MR, rows - ir);
        const float *row[MR];
        for (int i = 0; i < MR; i++) row[i] = a + (ir + (i < mr ? i : 0)) * lda;
        ptrdiff_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = i < MR ? _mm256_loadu_ps(row[i] + p) : _mm256_setzero_ps();
            transpose8(r);
            for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (p + q) * MR, r[q]);
        }
        for (; p < kc; p++)
            for (int i = 0; i < MR; i++) dst[p * MR + i] = row[i][p];
    }
}

// Depth [0, kc) × columns [0, cols) of op(B), from `b` at op(B)'s (0, 0), as NR-column panels:
// panel j holds element (p, j·NR + l) at [p·NR + l], zero past the last column.
static void pack_b(bool trans, const float *b, ptrdiff_t ldb, ptrdiff_t kc, ptrdiff_t cols, float *dst) {
    for (ptrdiff_t jr = 0; jr < cols; jr += NR, dst += kc * NR) {
        ptrdiff_t nr = min_pd(NR, cols - jr);
        for (ptrdiff_t l0 = 0; l0 < NR; l0 += 8) {
            ptrdiff_t count = nr - l0;  // columns of this vector
            if (trans) {
                // op(B)(p, j) = b[j·ldb + p]: 8×8 blocks transposed in registers, then the rest.
                const float *column = b + (jr + l0) * ldb;
                ptrdiff_t p = 0;
                if (count >= 8) {
                    for (; p + 8 <= kc; p += 8) {
                        __m256 r[8];
                        for (int l = 0; l < 8; l++) r[l] = _mm256_loadu_ps(column + l * ldb + p);
                        transpose8(r);
                        for (int q = 0; q < 8; q++) _mm256_store_ps(dst + (p + q) * NR + l0, r[q]);
                    }
                }
                for (; p < kc; p++)
                    for (ptrdiff_t l = 0; l < 8; l++) dst[p * NR + l0 + l] = l < count ? column[l * ldb + p] : 0;
            } else if (count >= 8) {
                for (ptrdiff_t p = 0; p < kc; p++) _mm256_store_ps(dst + p * NR + l0, _mm256_loadu_ps(b + p * ldb + jr + l0));
            } else {
                __m256i mask = lanes(count);
                for (ptrdiff_t p = 0; p < kc; p++) _mm256_store_ps(dst + p * NR + l0, _mm256_maskload_ps(b + p * ldb + jr + l0, mask));
            }
        }
    }
}

// The register tile of `rows` rows and `vecs` vectors (constants where it is inlined):
// acc[i][v] = Σₚ op(A)(i, p) · B(p, 8v …< 8v + 8), each lane summed in order of p, with op(A)(i, p)
// at ap[i·ars + p·acs] and row p of B's vectors 2j and 2j + 1 at bp + j·bpanel + p·ldb (the last
// vector loaded under `tail` when `masked`). Then C = (first ? beta · C : C) + alpha · acc on the
// first `cols` columns; with first and beta == 0, C is not read.
__attribute__((always_inline))
static inline void tile(int rows, int vecs, ptrdiff_t kc, const float *ap, ptrdiff_t ars, ptrdiff_t acs,
                        const float *bp, ptrdiff_t ldb, ptrdiff_t bpanel, bool masked, __m256i tail,
                        float *c, ptrdiff_t ldc, ptrdiff_t cols, float alpha, float beta, bool first) {
    __m256 acc[MR][WV];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
        // C's rows are ldc apart, often in different pages: fetch them while the products run.
        if (i < rows) {
#pragma clang loop unroll(full)
            for (int v = 0; v < WV; v += 2)
                if (v < vecs) _mm_prefetch((const char *)(c + i * ldc + 8 * v), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + 8 * vecs - 1), _MM_HINT_T0);
        }
#pragma clang loop unroll(full)
        for (int v = 0; v < WV; v++) acc[i][v] = _mm256_setzero_ps();
    }
    for (ptrdiff_t p = 0; p < kc; p++, ap += acs, bp += ldb) {
        __m256 bv[WV];
#pragma clang loop unroll(full)
        for (int v = 0; v < WV; v++) {
            const float *row = bp + (v / 2) * bpanel + (v % 2) * 8;
            if (v < vecs) bv[v] = masked && v == vecs - 1 ? _mm256_maskload_ps(row, tail) : _mm256_loadu_ps(row);
        }
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            if (i < rows) {
                __m256 x = _mm256_broadcast_ss(ap + i * ars);
#pragma clang loop unroll(full)
                for (int v = 0; v < WV; v++)
                    if (v < vecs) acc[i][v] = _mm256_fmadd_ps(x, bv[v], acc[i][v]);
            }
        }
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
        if (i >= rows) continue;
        float *dest = c + i * ldc;
#pragma clang loop unroll(full)
        for (int v = 0; v < WV; v++) {
            if (v >= vecs) continue;
            __m256 r = _mm256_mul_ps(va, acc[i][v]);
            if (cols >= 8 * (v + 1)) {
                if (!first) r = _mm256_add_ps(_mm256_loadu_ps(dest + 8 * v), r);
                else if (beta != 0) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(dest + 8 * v), r);
                _mm256_storeu_ps(dest + 8 * v, r);
            } else {
                __m256i mask = lanes(cols - 8 * v);
                if (!first) r = _mm256_add_ps(_mm256_maskload_ps(dest + 8 * v, mask), r);
                else if (beta != 0) r = _mm256_fmadd_ps(vb, _mm256_maskload_ps(dest + 8 * v, mask), r);
                _mm256_maskstore_ps(dest + 8 * v, mask, r);
            }
        }
    }
}

// A block of C, mc × nc, over one depth block [0, kc). Row panel r of op(A) starts at
// ap + r·apanel, element (i, p) at + i·ars + p·acs; column panel j of B at bp + j·bpanel, row p at
// + p·ldb (packed: zero past the last column; in place: loaded under a mask there).
typedef struct {
    ptrdiff_t kc, mc, nc;
    const float *ap; ptrdiff_t ars, acs, apanel;
    const float *bp; ptrdiff_t ldb, bpanel;
    float *c; ptrdiff_t ldc;
    float alpha, beta; bool first;
} Block;

// The tiles of row panel `ir` (`rows` rows, a constant where inlined) across every column panel:
// its panel of A stays in L1 while B streams past. Tiles of 1 to 3 rows span 2 or 4 column panels,
// for 8 or more accumulators (fewer wait on the latency of the multiply-adds).
__attribute__((always_inline))
static inline void row_panel(const Block *x, int rows, bool packedB, ptrdiff_t ir) {
    ptrdiff_t kc = x->kc, ars = x->ars, acs = x->acs, ldb = x->ldb, ldc = x->ldc, bpanel = x->bpanel;
    const float *ap = x->ap + (ir / MR) * x->apanel;
    float *c = x->c + ir * ldc;
    float alpha = x->alpha, beta = x->beta;
    bool first = x->first;
    const int width = rows == 1 ? 8 : rows <= 3 ? 4 : 2;  // vectors of a tile
    ptrdiff_t jr = 0;
    for (; jr + 8 * width <= x->nc; jr += 8 * width)
        tile(rows, width, kc, ap, ars, acs, x->bp + (jr / NR) * bpanel, ldb, bpanel, false, _mm256_setzero_si256(),
             c + jr, ldc, 8 * width, alpha, beta, first);
    if (jr < x->nc) {
        ptrdiff_t cols = x->nc - jr;
        int vecs = (int)((cols + 7) / 8);
        const float *bp = x->bp + (jr / NR) * bpanel;
        __m256i tail = lanes(cols - 8 * (vecs - 1));
        switch (vecs) {
#define ZOO_EDGE(V) case V: if (V <= width) tile(rows, V, kc, ap, ars, acs, bp, ldb, bpanel, !packedB, tail, c + jr, ldc, cols, alpha, beta, first); break;
        ZOO_EDGE(1) ZOO_EDGE(2) ZOO_EDGE(3) ZOO_EDGE(4) ZOO_EDGE(5) ZOO_EDGE(6) ZOO_EDGE(7) ZOO_EDGE(8)
#undef ZOO_EDGE
        }
    }
}

// Every tile of a block, row panel by row panel: C is written in runs along its rows.
__attribute__((always_inline))
static inline void block(const Block *x, bool packedB) {
    ptrdiff_t ir = 0;
    for (; ir + MR <= x->mc; ir += MR) row_panel(x, MR, packedB, ir);
    switch (x->mc - ir) {
    case 1: row_panel(x, 1, packedB, ir); break;
    case 2: row_panel(x, 2, packedB, ir); break;
    case 3: row_panel(x, 3, packedB, ir); break;
    case 4: row_panel(x, 4, packedB, ir); break;
    case 5: row_panel(x, 5, packedB, ir); break;
    }
}

// One instance per operand layout, A's strides constants where A is packed.
static void block_packed(const Block *x) {
    Block y = *x;
    y.ars = 1; y.acs = MR; y.ldb = NR;
    block(&y, true);
}
static void block_a_in_place(const Block *x) { block(x, true); }
static void block_in_place(const Block *x) { block(x, false); }

void zoo_sgemm_avx2(bool transA, bool transB, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                    const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                    float beta, float *c, ptrdiff_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (ptrdiff_t i = 0; i < m; i++)
            for (ptrdiff_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return;
    }
    float *packedA = packing_buffer(), *packedB = packedA + (size_t)MC * KC + SLACK;
    // A single row panel uses each element of B once: reading B in place beats copying it first.
    bool packB = transB || m > MR;
    // A row panel serving one or two column panels is read in place; more, and copying it pays.
    bool packA = n > 2 * NR;
    if (!packB) packA = false;
    // Depth blocks of equal size (a multiple of 8, at most KC): they depend on k only, so every
    // element of C is summed in the same order whatever m, n and the pointers are.
    ptrdiff_t blocks = (k + KC - 1) / KC, depth = ((k + blocks - 1) / blocks + 7) / 8 * 8;
    for (ptrdiff_t jc = 0; jc < n; jc += NC) {
        ptrdiff_t nc = min_pd(NC, n - jc);
        for (ptrdiff_t pc = 0; pc < k; pc += depth) {
            ptrdiff_t kc = min_pd(depth, k - pc);
            if (packB) pack_b(transB, transB ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc, nc, packedB);
            for (ptrdiff_t ic = 0; ic < m; ic += MC) {
                ptrdiff_t mc = min_pd(MC, m - ic);
                const float *aBlock = transA ? a + pc * lda + ic : a + ic * lda + pc;
                Block x = {
                    .kc = kc, .mc = mc, .nc = nc,
                    .ap = packA ? packedA : aBlock, .ars = transA ? 1 : lda, .acs = transA ? lda : 1,
                    .apanel = packA ? MR * kc : MR * (transA ? 1 : lda),
                    .bp = packB ? packedB : b + pc * ldb + jc, .ldb = packB ? NR : ldb, .bpanel = packB ? NR * kc : NR,
                    .c = c + ic * ldc + jc, .ldc = ldc, .alpha = alpha, .beta = beta, .first = pc == 0,
                };
                if (packA) {
                    pack_a(transA, aBlock, lda, mc, kc, packedA);
                    block_packed(&x);
                } else if (packB) {
                    block_a_in_place(&x);
                } else {
                    block_in_place(&x);
                }
            }
        }
    }
}

#pragma clang attribute pop

#else
#include <stdlib.h>

void zoo_sgemm_avx2(bool transA, bool transB, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                    const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                    float beta, float *c, ptrdiff_t ldc) {
    abort(); // zoo_cpu_has_avx2_fma() is false here: never called.
}

#endif
