// Debian's libopenblas-dev installs cblas.h (with the OpenBLAS extensions such as
// openblas_set_num_threads) under the multiarch include folder, which is on the default path.
#include <cblas.h>
// mallopt: the engine asks malloc to keep large freed blocks for reuse (see BLAS.swift).
#include <malloc.h>
// Flush-to-zero and denormals-are-zero for the calling thread's SSE/AVX arithmetic: tiny
// gradients otherwise hit the CPU's slow microcoded path for subnormal numbers.
#include <xmmintrin.h>
static inline void zoo_flush_denormals(void) { _mm_setcsr(_mm_getcsr() | 0x8040); }
