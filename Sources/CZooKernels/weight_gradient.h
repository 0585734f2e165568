// The two weight-gradient kernels of the direct convolution (zoo_kernels.h), written once and
// included by conv_avx512.c and conv_avx2.c after their gradient_sweep, with:
//   WG_ROWS_NAME     the per-row kernel's name     WG_BLOCKED_NAME  the blocked kernel's name
//   WG_VECTOR        the vector type               WG_ALIGN         the vector's alignment
//   WG_TILE          accumulators per tile         WG_ZERO          a zero vector
//   WG_REDUCE        the sum of a vector's lanes
//   WG_BY_ROWS       whether the kernels read the output gradients by rows, given ow
//   WG_CHANNELS_NARROW, WG_CHANNELS_WIDE  output channels per tile for kernels up to 3 wide and
//                    wider
// Not a public header: no include guard.

// The tile dispatch of both kernels: WG_CHANNELS_NARROW channels × all the columns for kernels
// up to 3 wide, else WG_CHANNELS_WIDE channels × up to 5 columns.
#define WG_TILE_DISPATCH(columns, kw, SWEEP)                     \
    do {                                                         \
        if (kw <= 3) {                                           \
            if (columns == 1) SWEEP(WG_CHANNELS_NARROW, 1);      \
            else if (columns == 2) SWEEP(WG_CHANNELS_NARROW, 2); \
            else SWEEP(WG_CHANNELS_NARROW, 3);                   \
        } else {                                                 \
            switch (columns) {                                   \
            case 1: SWEEP(WG_CHANNELS_WIDE, 1); break;           \
            case 2: SWEEP(WG_CHANNELS_WIDE, 2); break;           \
            case 3: SWEEP(WG_CHANNELS_WIDE, 3); break;           \
            case 4: SWEEP(WG_CHANNELS_WIDE, 4); break;           \
            default: SWEEP(WG_CHANNELS_WIDE, 5); break;          \
            }                                                    \
        }                                                        \
    } while (0)

// The per-row kernel: output channels [0, count) × kernel rows [firstRow, firstRow + rows) of one
// input channel. Large planes go sample by sample, each kernel row's accumulators kept in memory
// in between, so that a sample's output gradients, read from cache once, serve every kernel row.
// Small planes go row by row, the accumulators in registers over all the samples (saving them
// per sample would cost as much as the sweep). Each accumulator sums in the same order either way.
void WG_ROWS_NAME(const float *x, ptrdiff_t xSampleStride, ptrdiff_t h, ptrdiff_t w,
                  const float *dyPlanes, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                  ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw,
                  ptrdiff_t firstRow, ptrdiff_t rows, bool accumulate, float *dw, ptrdiff_t dwStride) {
    ptrdiff_t oh = h - kh + 1, ow = w - kw + 1;
    if (oh <= 0 || ow <= 0 || count <= 0 || samples <= 0 || rows <= 0) return;
    ptrdiff_t length = zoo_gradient_length(WG_BY_ROWS(ow), w, oh, ow);
    ptrdiff_t channelsPerTile = kw <= 3 ? WG_CHANNELS_NARROW : WG_CHANNELS_WIDE, columnsPerTile = kw <= 3 ? kw : 5;
    bool samplesOuter = (length + 15) / 16 >= 16 && rows > 1;
    WG_VECTOR onStack[8 * WG_TILE], *saved = rows <= 8 ? onStack : aligned_alloc(WG_ALIGN, sizeof(WG_VECTOR) * WG_TILE * (size_t)rows);
    if (!saved) abort();
    x += firstRow * w;
    for (ptrdiff_t o = 0; o < count; o += channelsPerTile) {
        ptrdiff_t channels = count - o < channelsPerTile ? count - o : channelsPerTile;
        const float *dy = dyPlanes + o * planeStride;
        for (ptrdiff_t kj = 0; kj < kw; kj += columnsPerTile) {
            ptrdiff_t columns = kw - kj < columnsPerTile ? kw - kj : columnsPerTile;
            for (ptrdiff_t i = 0; i < WG_TILE * rows; i++) saved[i] = WG_ZERO;
            for (ptrdiff_t n = 0; n < (samplesOuter ? samples : 1); n++) {
                for (ptrdiff_t r = 0; r < rows; r++) {
                    const float *xr = x + (samplesOuter ? n * xSampleStride : 0) + r * w + kj;
                    const float *dr = dy + (samplesOuter ? n * dySampleStride : 0);
                    ptrdiff_t sweepSamples = samplesOuter ? 1 : samples;
#define WG_ROWS_SWEEP(CT, KT) gradient_sweep(CT, KT, xr, xSampleStride, dr, dySampleStride, planeStride, channels, sweepSamples, w, oh, ow, saved + WG_TILE * r)
                    WG_TILE_DISPATCH(columns, kw, WG_ROWS_SWEEP);
#undef WG_ROWS_SWEEP
                }
            }
            for (ptrdiff_t r = 0; r < rows; r++)
                for (ptrdiff_t i = 0; i < channels; i++)
                    for (ptrdiff_t j = 0; j < columns; j++) {
                        float sum = WG_REDUCE(saved[WG_TILE * r + i * columns + j]);
                        float *target = dw + (o + i) * dwStride + (firstRow + r) * kw + kj + j;
                        *target = accumulate ? *target + sum : sum;
                    }
        }
    }
    if (saved != onStack) free(saved);
}

// The blocked kernel: every input channel and kernel row, samples in chunks, a register tile's
// accumulators kept in memory between chunks.

// Every (input channel, kernel row, channel tile, column tile) in order, `tile` its accumulators.
#define BLOCKED_FOR_EACH_TILE(BODY)                                                                   \
    do {                                                                                              \
        WG_VECTOR *tile = saved;                                                                      \
        for (ptrdiff_t c = 0; c < channels; c++)                                                      \
            for (ptrdiff_t r = 0; r < kh; r++)                                                        \
                for (ptrdiff_t o = 0; o < count; o += channelsPerTile)                                \
                    for (ptrdiff_t kj = 0; kj < kw; kj += columnsPerTile, tile += WG_TILE) {          \
                        ptrdiff_t inTile = count - o < channelsPerTile ? count - o : channelsPerTile; \
                        ptrdiff_t columns = kw - kj < columnsPerTile ? kw - kj : columnsPerTile;      \
                        BODY                                                                          \
                    }                                                                                 \
    } while (0)

// One chunk's sweep of one tile (names of WG_BLOCKED_NAME's body).
#define BLOCKED_SWEEP(CT, KT) gradient_sweep(CT, KT, xr, xSampleStride, dr, dySampleStride, planeStride, inTile, m, w, oh, ow, tile)

void WG_BLOCKED_NAME(const float *x, ptrdiff_t xSampleStride, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                  const float *dyPlanes, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                  ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t chunk,
                  float *dw, ptrdiff_t dwStride) {
    ptrdiff_t oh = h - kh + 1, ow = w - kw + 1;
    if (oh <= 0 || ow <= 0 || count <= 0 || samples <= 0 || channels <= 0) return;
    if (chunk < 1) chunk = 1;
    ptrdiff_t channelsPerTile = kw <= 3 ? WG_CHANNELS_NARROW : WG_CHANNELS_WIDE, columnsPerTile = kw <= 3 ? kw : 5;
    ptrdiff_t oTiles = (count + channelsPerTile - 1) / channelsPerTile, kjTiles = (kw + columnsPerTile - 1) / columnsPerTile;
    // One register tile's accumulators per (input channel, kernel row, channel tile, column
    // tile), kept here between chunks of samples.
    ptrdiff_t tiles = channels * kh * oTiles * kjTiles;
    WG_VECTOR *saved = aligned_alloc(WG_ALIGN, sizeof(WG_VECTOR) * WG_TILE * (size_t)tiles);
    if (!saved) abort();
    for (ptrdiff_t i = 0; i < WG_TILE * tiles; i++) saved[i] = WG_ZERO;
    for (ptrdiff_t n0 = 0; n0 < samples; n0 += chunk) {
        ptrdiff_t m = samples - n0 < chunk ? samples - n0 : chunk;
        BLOCKED_FOR_EACH_TILE({
            const float *xr = x + n0 * xSampleStride + (c * h + r) * w + kj;
            const float *dr = dyPlanes + n0 * dySampleStride + o * planeStride;
            WG_TILE_DISPATCH(columns, kw, BLOCKED_SWEEP);
        });
    }
    BLOCKED_FOR_EACH_TILE({
        for (ptrdiff_t i = 0; i < inTile; i++)
            for (ptrdiff_t j = 0; j < columns; j++)
                dw[(o + i) * dwStride + (c * kh + r) * kw + kj + j] = WG_REDUCE(tile[i * columns + j]);
    });
    free(saved);
}

#undef BLOCKED_FOR_EACH_TILE
#undef BLOCKED_SWEEP
#undef WG_TILE_DISPATCH
#undef WG_ROWS_NAME
#undef WG_BLOCKED_NAME
#undef WG_VECTOR
#undef WG_TILE
#undef WG_ALIGN
#undef WG_ZERO
#undef WG_REDUCE
#undef WG_BY_ROWS
#undef WG_CHANNELS_NARROW
#undef WG_CHANNELS_WIDE
