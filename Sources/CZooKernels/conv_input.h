// What the forward kernels (conv_avx512.c, conv_avx2.c, conv_pool_avx2.c) do with a sample's
// input before their tiles: ask for it in cache, and find the offset of every kernel tap. Not a
// public header: no include guard.
#include <stdlib.h>

// Asks for the `count` floats at x: the first `l1Bytes` into L1, the rest into L2. The forward
// kernels read a sample's input channel by channel for each tile of outputs, a pattern of strided
// lines the hardware prefetchers did not follow; asked for all at once, the lines arrive in
// parallel (resnet20's forward convolutions ran 10-40 % faster, zoo-cnn's widest one 2×).
static inline void prefetch_input(const float *x, ptrdiff_t count, ptrdiff_t l1Bytes) {
    const char *p = (const char *)x, *end = (const char *)(x + count), *l1End = p + l1Bytes;
    for (; p < end && p < l1End; p += 64) __builtin_prefetch(p, 0, 3);
    for (; p < end; p += 64) __builtin_prefetch(p, 0, 2);
}

// The input offset of every tap, in the packed weights' order (channel, kernel row, kernel
// column): in `onStack` when the taps fit its 1024 entries, else in memory the caller releases
// with free_tap_offsets.
static inline ptrdiff_t *tap_offsets(ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t onStack[1024]) {
    ptrdiff_t taps = channels * kh * kw, *offset = taps <= 1024 ? onStack : malloc(sizeof(ptrdiff_t) * (size_t)taps);
    if (!offset) abort();
    for (ptrdiff_t c = 0, t = 0; c < channels; c++)
        for (ptrdiff_t ki = 0; ki < kh; ki++)
            for (ptrdiff_t kj = 0; kj < kw; kj++) offset[t++] = (c * h + ki) * w + kj;
    return offset;
}

static inline void free_tap_offsets(ptrdiff_t *offset, ptrdiff_t onStack[1024]) {
    if (offset != onStack) free(offset);
}
