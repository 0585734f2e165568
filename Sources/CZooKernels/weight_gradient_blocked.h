// The blocked weight-gradient kernel (zoo_kernels.h), written once and included by conv_avx512.c
// and conv_avx2.c after their gradient_sweep and GRADIENT_TILE, with:
//   BLOCKED_NAME   the function's name          BLOCKED_VECTOR  the vector type
//   BLOCKED_TILE   accumulators per tile        BLOCKED_ALIGN   the vector's alignment
//   BLOCKED_ZERO   a zero vector                BLOCKED_REDUCE  the sum of a vector's lanes
//   BLOCKED_CHANNELS_NARROW, BLOCKED_CHANNELS_WIDE  output channels per tile for kernels up to
//                  3 wide and wider (GRADIENT_TILE's)
// Not a public header: no include guard.

// Every (input channel, kernel row, channel tile, column tile) in order, `tile` its accumulators.
#define BLOCKED_FOR_EACH_TILE(BODY)                                                                      \
    do {                                                                                                 \
        BLOCKED_VECTOR *tile = saved;                                                                    \
        for (ptrdiff_t c = 0; c < channels; c++)                                                         \
            for (ptrdiff_t r = 0; r < kh; r++)                                                           \
                for (ptrdiff_t o = 0; o < count; o += channelsPerTile)                                   \
                    for (ptrdiff_t kj = 0; kj < kw; kj += columnsPerTile, tile += BLOCKED_TILE) {         \
                        ptrdiff_t inTile = count - o < channelsPerTile ? count - o : channelsPerTile;    \
                        ptrdiff_t columns = kw - kj < columnsPerTile ? kw - kj : columnsPerTile;         \
                        BODY                                                                             \
                    }                                                                                    \
    } while (0)

// One chunk's sweep of one tile (names of BLOCKED_NAME's body).
#define BLOCKED_SWEEP(CT, KT) gradient_sweep(CT, KT, xr, xSampleStride, dr, dySampleStride, planeStride, inTile, m, length, tile)

void BLOCKED_NAME(const float *x, ptrdiff_t xSampleStride, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,
                  const float *dyWide, ptrdiff_t planeStride, ptrdiff_t dySampleStride,
                  ptrdiff_t count, ptrdiff_t samples, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t chunk,
                  float *dw, ptrdiff_t dwStride) {
    ptrdiff_t oh = h - kh + 1, ow = w - kw + 1;
    if (oh <= 0 || ow <= 0 || count <= 0 || samples <= 0 || channels <= 0) return;
    if (chunk < 1) chunk = 1;
    ptrdiff_t length = zoo_wide_length(w, oh, ow);
    ptrdiff_t channelsPerTile = kw <= 3 ? BLOCKED_CHANNELS_NARROW : BLOCKED_CHANNELS_WIDE, columnsPerTile = kw <= 3 ? kw : 5;
    ptrdiff_t oTiles = (count + channelsPerTile - 1) / channelsPerTile, kjTiles = (kw + columnsPerTile - 1) / columnsPerTile;
    // One register tile's accumulators per (input channel, kernel row, channel tile, column
    // tile), kept here between chunks of samples.
    ptrdiff_t tiles = channels * kh * oTiles * kjTiles;
    BLOCKED_VECTOR *saved = aligned_alloc(BLOCKED_ALIGN, sizeof(BLOCKED_VECTOR) * BLOCKED_TILE * (size_t)tiles);
    if (!saved) abort();
    for (ptrdiff_t i = 0; i < BLOCKED_TILE * tiles; i++) saved[i] = BLOCKED_ZERO;
    for (ptrdiff_t n0 = 0; n0 < samples; n0 += chunk) {
        ptrdiff_t m = samples - n0 < chunk ? samples - n0 : chunk;
        BLOCKED_FOR_EACH_TILE({
            const float *xr = x + n0 * xSampleStride + (c * h + r) * w + kj;
            const float *dr = dyWide + n0 * dySampleStride + o * planeStride;
            GRADIENT_TILE(columns, kw, BLOCKED_SWEEP);
        });
    }
    BLOCKED_FOR_EACH_TILE({
        for (ptrdiff_t i = 0; i < inTile; i++)
            for (ptrdiff_t j = 0; j < columns; j++)
                dw[(o + i) * dwStride + (c * kh + r) * kw + kj + j] = BLOCKED_REDUCE(tile[i * columns + j]);
    });
    free(saved);
}

#undef BLOCKED_FOR_EACH_TILE
#undef BLOCKED_SWEEP
#undef BLOCKED_NAME
#undef BLOCKED_VECTOR
#undef BLOCKED_TILE
#undef BLOCKED_ALIGN
#undef BLOCKED_ZERO
#undef BLOCKED_REDUCE
#undef BLOCKED_CHANNELS_NARROW
#undef BLOCKED_CHANNELS_WIDE
