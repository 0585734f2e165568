// Software prefetch of a convolution's input, shared by conv_avx512.c and conv_avx2.c. Not a
// public header: no include guard.

// Asks for the `count` floats at x: the first `l1Bytes` into L1, the rest into L2. The forward
// kernels read a sample's input channel by channel for each tile of outputs, a pattern of strided
// lines the hardware prefetchers did not follow; asked for all at once, the lines arrive in
// parallel (resnet20's forward convolutions ran 10-40 % faster, zoo-cnn's widest one 2×).
static inline void prefetch_input(const float *x, ptrdiff_t count, ptrdiff_t l1Bytes) {
    const char *p = (const char *)x, *end = (const char *)(x + count), *l1End = p + l1Bytes;
    for (; p < end && p < l1End; p += 64) __builtin_prefetch(p, 0, 3);
    for (; p < end; p += 64) __builtin_prefetch(p, 0, 2);
}
