// The loops of loops.h compiled for AVX-512 (called only where zoo_cpu_has_avx512()).
#include "zoo_kernels.h"

#if defined(__x86_64__)
#define LOOP(name) zoo_avx512_##name
#pragma clang attribute push (__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))), apply_to = function)
#include "loops.h"
#pragma clang attribute pop
#endif
