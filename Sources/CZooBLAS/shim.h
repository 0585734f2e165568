// Debian's libopenblas-dev installs cblas.h (with the OpenBLAS extensions such as
// openblas_set_num_threads) under the multiarch include folder, which is on the default path.
#include <cblas.h>
// mallopt: the engine asks malloc to keep large freed blocks for reuse (see BLAS.swift).
#include <malloc.h>
// Flush-to-zero and denormals-are-zero for the calling thread's SSE/AVX arithmetic: tiny
// gradients otherwise hit the CPU's slow microcoded path for subnormal numbers.
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
static inline void zoo_flush_denormals(void) { _mm_setcsr(_mm_getcsr() | 0x8040); }
#elif defined(__aarch64__)
// FPCR.FZ (bit 24): subnormal inputs and results are flushed to zero.
static inline void zoo_flush_denormals(void) {
    unsigned long fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr | (1ul << 24)));
}
#else
static inline void zoo_flush_denormals(void) {}
#endif
