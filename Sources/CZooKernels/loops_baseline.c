// The loops of loops.h compiled for the build's own instruction set (SSE2 on x86-64, NEON on
// arm64), and the table of every path's loops.
#include "zoo_kernels.h"

#define LOOP(name) zoo_baseline_##name
#include "loops.h"

#if defined(__x86_64__)
extern const zoo_loops zoo_avx2_table, zoo_avx512_table;
#endif

const zoo_loops *zoo_loops_for(zoo_path path) {
#if defined(__x86_64__)
    if (path == zoo_path_avx512) return &zoo_avx512_table;
    if (path == zoo_path_avx2) return &zoo_avx2_table;
#endif
    return &zoo_baseline_table;
}
