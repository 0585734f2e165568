// The loops of loops.h compiled for AVX2 and FMA (called only where zoo_cpu_has_avx2_fma()).
#include "zoo_kernels.h"

#if defined(__x86_64__)
#define LOOP(name) zoo_avx2_##name
#pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)
#include "loops.h"
#pragma clang attribute pop
#endif
