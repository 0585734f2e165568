// Zoo's AVX-512 kernels. Swift cannot compile one function for a wider instruction set than
// the rest of the program, so these live in C, each function compiled for AVX-512 and called
// only after zoo_cpu_has_avx512() said the processor has it.
#ifndef ZOO_KERNELS_H
#define ZOO_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

/// Whether the processor (and the operating system) run AVX-512 F, BW, DQ and VL instructions.
bool zoo_cpu_has_avx512(void);

/// C = alpha · op(A) · op(B) + beta · C, row-major, on the calling thread, with AVX-512.
/// op(A) is m×k, op(B) is k×n. With beta == 0, C is not read (it may hold anything).
/// Each element of C is summed over k in the same order whatever m, n and the pointers are,
/// so splitting a product by rows or columns does not change any bit of the result.
void zoo_sgemm_avx512(bool transA, bool transB, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                      const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                      float beta, float *c, ptrdiff_t ldc);

#endif
