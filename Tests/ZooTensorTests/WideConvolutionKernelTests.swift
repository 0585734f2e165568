import CZooKernels
import Testing
import ZooTensor
import ZooTestSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Zoo's direct-convolution C kernels (`conv_avx2.c`, `conv_avx512.c`), called directly on every
/// path the processor runs (whatever `ZOO_KERNELS` says), against double-precision loops on odd
/// shapes, every buffer ending where an unreadable page begins, then starting where one ends (a
/// read or write out of bounds stops the test process); and the weight gradient's sums, bit for
/// bit, however the work is split.
@Suite("Wide convolution kernels", .enabled(if: zoo_cpu_has_avx2_fma(), "the processor has no AVX2 and FMA"))
struct WideConvolutionKernelTests {
    struct Path: CustomTestStringConvertible, Sendable {
        var name: String
        var forward: @Sendable (UnsafePointer<Float>?, Int, Int, Int, UnsafePointer<Float>?, Int, Int, Int, UnsafePointer<Float>?,
                                UnsafeMutablePointer<Float>?) -> Void
        var weightGradient: @Sendable (UnsafePointer<Float>?, Int, Int, Int, UnsafePointer<Float>?, Int, Int, Int, Int, Int, Int, Int, Int,
                                       Bool, UnsafeMutablePointer<Float>?, Int) -> Void
        var blocked: @Sendable (UnsafePointer<Float>?, Int, Int, Int, Int, UnsafePointer<Float>?, Int, Int, Int, Int, Int, Int, Int,
                                UnsafeMutablePointer<Float>?, Int) -> Void
        /// Whether the weight gradient reads the output gradients by rows, for an output width.
        var byRows: @Sendable (Int) -> Bool
        var testDescription: String { name }
    }

    static let paths: [Path] = [Path(name: "avx2", forward: zoo_conv_forward_avx2, weightGradient: zoo_conv_weight_gradient_avx2,
                                     blocked: zoo_conv_weight_gradient_blocked_avx2, byRows: { zoo_gradient_by_rows_avx2($0) })]
        + (zoo_cpu_has_avx512() ? [Path(name: "avx512", forward: zoo_conv_forward_avx512, weightGradient: zoo_conv_weight_gradient_avx512,
                                        blocked: zoo_conv_weight_gradient_blocked_avx512, byRows: { zoo_gradient_by_rows_avx512($0) })] : [])

    /// One convolution: `samples` inputs `[channels, h, w]`, `outChannels` kernels `kh × kw`.
    struct Shape: CustomTestStringConvertible, Sendable {
        var samples, channels, h, w, outChannels, kh, kw: Int
        var testDescription: String { "\(samples)×\(channels)×\(h)×\(w) → \(outChannels), \(kh)×\(kw)" }
        var oh: Int { h - kh + 1 }
        var ow: Int { w - kw + 1 }
        var length: Int { zoo_wide_length(w, oh, ow) }
    }

    static let shapes: [Shape] = [
        Shape(samples: 3, channels: 3, h: 7, w: 13, outChannels: 11, kh: 3, kw: 3),   // ow 11, a partial channel block
        Shape(samples: 2, channels: 2, h: 9, w: 1, outChannels: 5, kh: 1, kw: 1),     // 1-wide planes, 1×1
        Shape(samples: 2, channels: 1, h: 12, w: 1, outChannels: 3, kh: 7, kw: 1),    // 7×1 down a 1-wide plane
        Shape(samples: 3, channels: 4, h: 11, w: 9, outChannels: 6, kh: 7, kw: 1),
        Shape(samples: 2, channels: 5, h: 9, w: 20, outChannels: 13, kh: 5, kw: 5),
        Shape(samples: 4, channels: 1, h: 5, w: 5, outChannels: 1, kh: 5, kw: 5),     // one output
        Shape(samples: 2, channels: 2, h: 6, w: 6, outChannels: 9, kh: 1, kw: 1),
        Shape(samples: 1, channels: 48, h: 6, w: 6, outChannels: 4, kh: 5, kw: 5),    // more than 1024 taps
        Shape(samples: 2, channels: 3, h: 20, w: 37, outChannels: 17, kh: 3, kw: 3),  // planes of many vectors
        Shape(samples: 3, channels: 2, h: 3, w: 30, outChannels: 4, kh: 2, kw: 9),    // whole vectors of dropped columns
        Shape(samples: 5, channels: 1, h: 1, w: 21, outChannels: 2, kh: 1, kw: 5),    // height 1
        Shape(samples: 2, channels: 2, h: 40, w: 37, outChannels: 9, kh: 3, kw: 3),   // large planes: samples outermost
        Shape(samples: 2, channels: 1, h: 30, w: 41, outChannels: 5, kh: 12, kw: 5),  // more kernel rows than the stack holds
        Shape(samples: 3, channels: 4, h: 8, w: 10, outChannels: 16, kh: 3, kw: 2),
        Shape(samples: 2, channels: 3, h: 10, w: 8, outChannels: 7, kh: 2, kw: 4),
        // The AVX2 forward by output rows (see conv_avx2.c): rows of 8k outputs, rows ending in
        // a partial vector, and a partial vector reading into the last row.
        Shape(samples: 2, channels: 5, h: 10, w: 20, outChannels: 6, kh: 3, kw: 5),
        Shape(samples: 2, channels: 3, h: 14, w: 16, outChannels: 6, kh: 3, kw: 3),
        Shape(samples: 2, channels: 2, h: 4, w: 6, outChannels: 5, kh: 3, kw: 3),
        // The AVX-512 forward and weight gradient by rows (see conv_avx512.c): rows of 8k in
        // halves of 8 (rows of 8 and 24, an odd and an even number of halves, and rows of 40,
        // whose vectors span two rows), rows of 16 and 32; blocks of 5-6 and 3 channels.
        Shape(samples: 2, channels: 3, h: 11, w: 12, outChannels: 6, kh: 5, kw: 5),
        Shape(samples: 2, channels: 2, h: 9, w: 10, outChannels: 8, kh: 2, kw: 3),
        Shape(samples: 2, channels: 2, h: 7, w: 28, outChannels: 9, kh: 5, kw: 5),
        Shape(samples: 3, channels: 1, h: 28, w: 28, outChannels: 8, kh: 5, kw: 5),
        Shape(samples: 2, channels: 3, h: 6, w: 42, outChannels: 4, kh: 3, kw: 3),
        Shape(samples: 2, channels: 2, h: 6, w: 34, outChannels: 5, kh: 3, kw: 3),
        Shape(samples: 1, channels: 3, h: 5, w: 16, outChannels: 3, kh: 1, kw: 1),
        // The AVX2 forward's parts of 3 channels (blocks of 6 or 3, tiles of 3 × 4 vectors): zoo-cnn's
        // second convolution (8 rows of 8: tiles of 4 and 4), a second block of 6 read wide with a
        // partial last vector, a block of 3 by rows of 16 (tiles of 4, 4, 4, 4 and a partial one).
        Shape(samples: 2, channels: 8, h: 12, w: 12, outChannels: 6, kh: 5, kw: 5),
        Shape(samples: 2, channels: 2, h: 9, w: 21, outChannels: 14, kh: 3, kw: 3),
        Shape(samples: 2, channels: 2, h: 7, w: 19, outChannels: 11, kh: 3, kw: 3),
        // The weight gradient by rows on both paths, planes large enough for samples outermost.
        Shape(samples: 2, channels: 2, h: 34, w: 34, outChannels: 9, kh: 3, kw: 3),
    ]

    static var cases: [(Path, Shape)] { paths.flatMap { p in shapes.map { (p, $0) } } }

    /// Deterministic values in [-1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(state >> 40) / Float(1 << 23) - 1
        }
    }

    /// `values` in memory that ends where an inaccessible page begins (or, `atStart`, begins where
    /// one ends).
    final class Guarded {
        let region: UnsafeMutableRawPointer, size: Int, pointer: UnsafeMutablePointer<Float>, count: Int

        init(_ values: [Float], atStart: Bool) {
            let page = Int(sysconf(Int32(_SC_PAGESIZE))), bytes = values.count * MemoryLayout<Float>.stride
            size = (bytes + page - 1) / page * page + 2 * page
            let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let mapped, mapped != UnsafeMutableRawPointer(bitPattern: -1) else { fatalError("mmap failed") }
            region = mapped
            precondition(mprotect(region, page, PROT_NONE) == 0 && mprotect(region + size - page, page, PROT_NONE) == 0)
            let start = atStart ? region + page : region + size - page - bytes
            count = values.count
            pointer = start.bindMemory(to: Float.self, capacity: count)
            pointer.initialize(from: values, count: count)
        }

        deinit { munmap(region, size) }
        var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
    }

    /// Weights `[O, C, kh, kw]` in the kernels' layout: blocks of 8 output channels, block b as
    /// `[(c·kh + ki)·kw + kj][8]`, zero past O.
    static func packed(_ w: [Float], _ s: Shape) -> [Float] {
        let taps = s.channels * s.kh * s.kw, blocks = (s.outChannels + 7) / 8
        var out = [Float](repeating: 0, count: blocks * taps * 8)
        for o in 0..<s.outChannels { for t in 0..<taps { out[((o / 8) * taps + t) * 8 + o % 8] = w[o * taps + t] } }
        return out
    }

    /// Whether `value` is within 1e-6·(terms + 2) of the sum of the magnitudes of `reference`'s terms.
    static func close(_ value: Float, _ reference: (sum: Double, magnitude: Double), terms: Int) -> Bool {
        abs(Double(value) - reference.sum) <= 1e-6 * Double(terms + 2) * reference.magnitude + 1e-30
    }

    @Test("forward matches double-precision loops", arguments: cases)
    func forward(path: Path, s: Shape) {
        let (oh, ow) = (s.oh, s.ow), taps = s.channels * s.kh * s.kw
        let x = Self.values(s.channels * s.h * s.w, seed: 1), w = Self.values(s.outChannels * taps, seed: 2)
        let bias = Self.values(s.outChannels, seed: 3), packed = Self.packed(w, s)
        var outputs: [[Float]] = []
        for (atStart, withBias) in [(false, true), (true, true), (false, false)] {
            let gx = Guarded(x, atStart: atStart), gw = Guarded(packed, atStart: atStart), gb = Guarded(bias, atStart: atStart)
            let y = Guarded([Float](repeating: .nan, count: s.outChannels * oh * ow), atStart: atStart)
            path.forward(gx.pointer, s.channels, s.h, s.w, gw.pointer, s.outChannels, s.kh, s.kw, withBias ? gb.pointer : nil, y.pointer)
            outputs.append(y.array)
        }
        #expect(outputs[0].map(\.bitPattern) == outputs[1].map(\.bitPattern), "\(s): the result depends on where the buffers are")
        var wrong = 0
        for o in 0..<s.outChannels {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var sum = Double(bias[o]), magnitude = abs(sum)
                    for c in 0..<s.channels {
                        for ki in 0..<s.kh {
                            for kj in 0..<s.kw {
                                let p = Double(x[(c * s.h + oy + ki) * s.w + ox + kj]) * Double(w[((o * s.channels + c) * s.kh + ki) * s.kw + kj])
                                sum += p
                                magnitude += abs(p)
                            }
                        }
                    }
                    let i = (o * oh + oy) * ow + ox
                    if !Self.close(outputs[0][i], (sum, magnitude), terms: taps) { wrong += 1 }
                    if !Self.close(outputs[2][i] + bias[o], (sum, magnitude), terms: taps + 1) { wrong += 1 }
                }
            }
        }
        #expect(wrong == 0, "\(path.name) \(s): \(wrong) outputs wrong")
    }

    /// The weight gradient's inputs, with sample and channel strides wider than the planes and
    /// channel planes `extra` floats longer than the positions the path reads (by rows: oh·ow, at
    /// oy·ow + ox; wide: the wide length, at oy·w + ox with zeros in the dropped columns): NaN
    /// (which would show if read) between the input planes and after each output-gradient plane's
    /// last position.
    struct GradientInputs {
        var x: [Float], dy: [Float], xStride: Int, planeStride: Int, dyStride: Int, dwStride: Int, rowStride: Int

        init(_ s: Shape, extra: Int, path: Path) {
            let byRows = path.byRows(s.ow), length = zoo_gradient_length(byRows, s.w, s.oh, s.ow)
            rowStride = byRows ? s.ow : s.w
            xStride = s.h * s.w + 3
            planeStride = length + extra
            dyStride = s.outChannels * planeStride + 5
            dwStride = s.kh * s.kw + 2
            let (xStride, planeStride, dyStride, rowStride) = (xStride, planeStride, dyStride, rowStride)
            x = WideConvolutionKernelTests.values((s.samples - 1) * xStride + s.h * s.w, seed: 4).enumerated().map { i, v in
                i % xStride < s.h * s.w ? v : .nan
            }
            let random = WideConvolutionKernelTests.values((s.samples - 1) * dyStride + (s.outChannels - 1) * planeStride + length, seed: 5)
            dy = random.indices.map { i in
                let r = i % dyStride, q = r % planeStride
                return r >= s.outChannels * planeStride || q >= length ? .nan : q % rowStride < s.ow ? random[i] : 0
            }
        }

        /// dy[n, o, oy, ox]
        func dy(_ n: Int, _ o: Int, _ oy: Int, _ ox: Int) -> Float { dy[n * dyStride + o * planeStride + oy * rowStride + ox] }
    }

    /// Runs `path`'s weight gradient for output channels `channels` and kernel rows `rows` into `dw`.
    static func weightGradient(_ path: Path, _ s: Shape, _ inputs: GradientInputs, channels: Range<Int>, rows: Range<Int>,
                               accumulate: Bool = false, into dw: inout [Float], atStart: Bool = false) {
        let x = Guarded(inputs.x, atStart: atStart), dy = Guarded(inputs.dy, atStart: atStart)
        let out = Guarded(dw, atStart: atStart)
        path.weightGradient(x.pointer, inputs.xStride, s.h, s.w, dy.pointer + channels.lowerBound * inputs.planeStride,
                            inputs.planeStride, inputs.dyStride, channels.count, s.samples, s.kh, s.kw, rows.lowerBound, rows.count,
                            accumulate, out.pointer + channels.lowerBound * inputs.dwStride, inputs.dwStride)
        dw = out.array
    }

    @Test("weight gradient matches double-precision loops", arguments: cases)
    func weightGradientMatchesLoops(path: Path, s: Shape) {
        let inputs = GradientInputs(s, extra: (s.h + s.w) % 5, path: path)
        let (oh, ow) = (s.oh, s.ow), start = Self.values(s.outChannels * inputs.dwStride, seed: 6)
        var dw = start, added = start
        Self.weightGradient(path, s, inputs, channels: 0..<s.outChannels, rows: 0..<s.kh, into: &dw)
        Self.weightGradient(path, s, inputs, channels: 0..<s.outChannels, rows: 0..<s.kh, accumulate: true, into: &added, atStart: true)
        var wrong = 0
        for o in 0..<s.outChannels {
            for ki in 0..<s.kh {
                for kj in 0..<s.kw {
                    var sum = 0.0, magnitude = 0.0
                    for n in 0..<s.samples {
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                let p = Double(inputs.dy(n, o, oy, ox)) * Double(inputs.x[n * inputs.xStride + (oy + ki) * s.w + ox + kj])
                                sum += p
                                magnitude += abs(p)
                            }
                        }
                    }
                    let i = o * inputs.dwStride + ki * s.kw + kj
                    if !Self.close(dw[i], (sum, magnitude), terms: s.samples * oh * ow) { wrong += 1 }
                    // Accumulating adds the same sum to what dw held.
                    if added[i].bitPattern != (start[i] + dw[i]).bitPattern { wrong += 1 }
                }
            }
            // Between the blocks, nothing is written.
            for i in s.kh * s.kw..<inputs.dwStride where dw[o * inputs.dwStride + i] != start[o * inputs.dwStride + i] { wrong += 1 }
        }
        #expect(wrong == 0, "\(path.name) \(s): \(wrong) weights wrong")
    }

    /// The sums do not depend on how the work is split: all the kernel rows at once, one at a
    /// time, or in two parts; all the channels at once or one at a time.
    @Test("weight gradient: splitting rows or channels changes no bit", arguments: cases)
    func weightGradientSplitsAreExact(path: Path, s: Shape) {
        let inputs = GradientInputs(s, extra: 0, path: path), start = Self.values(s.outChannels * inputs.dwStride, seed: 7)
        var whole = start, byRow = start, byChannel = start, halves = start
        Self.weightGradient(path, s, inputs, channels: 0..<s.outChannels, rows: 0..<s.kh, into: &whole)
        for r in 0..<s.kh { Self.weightGradient(path, s, inputs, channels: 0..<s.outChannels, rows: r..<r + 1, into: &byRow) }
        for o in 0..<s.outChannels { Self.weightGradient(path, s, inputs, channels: o..<o + 1, rows: 0..<s.kh, into: &byChannel) }
        let cut = s.kh / 2, split = (s.outChannels + 1) / 2
        for (channels, rows) in [(0..<split, 0..<cut), (0..<split, cut..<s.kh), (split..<s.outChannels, 0..<s.kh)] where !rows.isEmpty && !channels.isEmpty {
            Self.weightGradient(path, s, inputs, channels: channels, rows: rows, into: &halves)
        }
        for (name, other) in [("row by row", byRow), ("channel by channel", byChannel), ("in parts", halves)] {
            let differing = whole.indices.filter { whole[$0].bitPattern != other[$0].bitPattern }.count
            #expect(differing == 0, "\(path.name) \(s) \(name): \(differing) weights differ")
        }
    }

    /// The blocked kernel (the engine's) sums in the per-row kernel's order: the same bits for
    /// chunks of 1, 2 or all samples, over two input channels at once or one at a time, with
    /// nothing read or written out of bounds; between the weight blocks nothing is written.
    @Test("blocked weight gradient: the per-row kernel's bits, whatever the chunk", arguments: cases)
    func blockedWeightGradientIsExact(path: Path, s: Shape) {
        // Two input channels: channel c of sample n at n·xStride + c·h·w.
        let plane = s.h * s.w, xStride = 2 * plane + 3
        let values = Self.values((s.samples - 1) * xStride + 2 * plane, seed: 8)
        let x = values.indices.map { i in i % xStride < 2 * plane ? values[i] : .nan }
        let inputs = GradientInputs(s, extra: 1, path: path), dwStride = 2 * s.kh * s.kw + 1
        let start = Self.values(s.outChannels * dwStride, seed: 9)
        // The reference: the per-row kernel, channel by channel, all samples at once.
        var expected = start
        for c in 0..<2 {
            let gx = Guarded(x, atStart: false), gy = Guarded(inputs.dy, atStart: false), out = Guarded(expected, atStart: false)
            path.weightGradient(gx.pointer + c * plane, xStride, s.h, s.w, gy.pointer, inputs.planeStride, inputs.dyStride, s.outChannels,
                                s.samples, s.kh, s.kw, 0, s.kh, false, out.pointer + c * s.kh * s.kw, dwStride)
            expected = out.array
        }
        for chunk in [1, 2, s.samples] {
            for (first, channels) in [(0, 2), (0, 1), (1, 1)] {
                var dw = start
                for atStart in [false, true] {
                    let gx = Guarded(x, atStart: atStart), gy = Guarded(inputs.dy, atStart: atStart), out = Guarded(start, atStart: atStart)
                    path.blocked(gx.pointer + first * plane, xStride, channels, s.h, s.w, gy.pointer, inputs.planeStride, inputs.dyStride,
                                 s.outChannels, s.samples, s.kh, s.kw, chunk, out.pointer + first * s.kh * s.kw, dwStride)
                    dw = out.array
                }
                let written = (0..<s.outChannels).flatMap { o in (first * s.kh * s.kw ..< (first + channels) * s.kh * s.kw).map { o * dwStride + $0 } }
                let differing = written.filter { dw[$0].bitPattern != expected[$0].bitPattern }.count
                let touched = Set(written), stray = dw.indices.filter { !touched.contains($0) && dw[$0].bitPattern != start[$0].bitPattern }.count
                #expect(differing == 0 && stray == 0, "\(path.name) \(s) chunk \(chunk), channels \(first)+\(channels): \(differing) differ, \(stray) written outside")
            }
        }
    }

    /// Through the engine, on whichever path runs: the weight gradient of one member is the same,
    /// bit for bit, on 1, 2 or 3 threads and with other members stacked beside it.
    @Test("weight gradient: thread count and stacked members change no bit", arguments: [
        ([4, 16, 18, 18], [16, 16, 3, 3], (1, 1)), ([3, 6, 14, 14], [16, 6, 5, 5], (0, 0)), ([5, 3, 9, 31], [11, 3, 5, 5], (2, 2)),
        ([2, 4, 12, 7], [6, 4, 7, 1], (3, 0)), ([3, 8, 8, 8], [16, 8, 3, 3], (1, 1)), ([2, 3, 16, 16], [9, 3, 3, 3], (1, 1)),
    ])
    func weightGradientIndependentOfThreads(input: [Int], weight: [Int], padding: (Int, Int)) {
        let key = RandomKey(seed: 41), members = 3
        let xs = (0..<members).map { Tensor.randomNormal(input, key: key.derived("x\($0)")) }
        let ws = (0..<members).map { Tensor.randomNormal(weight, key: key.derived("w\($0)")) }
        let seeds = (0..<members).map { m in
            Tensor.randomNormal(conv2d(xs[m], weight: ws[m], padding: padding).shape, key: key.derived("g\(m)"))
        }
        func alone(_ m: Int) -> [UInt32] {
            let w = ws[m].requiringGradient()
            return gradients(of: conv2d(xs[m], weight: w, padding: padding), wrt: [w], seed: seeds[m])[0].scalars.map(\.bitPattern)
        }
        let reference = BLAS.withThreadCount(1) { (0..<members).map(alone) }
        for threads in [1, 2, 3] {
            BLAS.withThreadCount(threads) {
                #expect((0..<members).map(alone) == reference, "\(threads) threads, \(input) * \(weight)")
                let w = Tensor.stacked(ws).requiringGradient()
                let dw = gradients(of: stackedConv2d(Tensor.concatenated(xs), weight: w, padding: padding), wrt: [w],
                                   seed: Tensor.concatenated(seeds))[0]
                for m in 0..<members {
                    #expect(dw.sliced(axis: 0, m..<m + 1).squeezed(axis: 0).scalars.map(\.bitPattern) == reference[m],
                            "member \(m) of \(members) stacked, \(threads) threads, \(input) * \(weight)")
                }
            }
        }
    }

    /// The AVX2 forward pass with 2×2 max pooling in one pass (`conv_pool_avx2.c`) against the
    /// forward kernel followed by the loops' max_pool_pairs, bit for bit: rows of 24, 16 and 8
    /// outputs, odd numbers of rows and of row pairs, parts of a channel block (8 + 3, 6, 11),
    /// more than 1024 taps; inputs with exact zeros of both signs, so that windows tie, and a NaN.
    /// Every buffer ends at an unreadable page, then starts at one.
    @Test("forward and max pool in one pass: the bits of the two", arguments: [
        Shape(samples: 2, channels: 1, h: 28, w: 28, outChannels: 8, kh: 5, kw: 5),
        Shape(samples: 2, channels: 8, h: 12, w: 12, outChannels: 6, kh: 5, kw: 5),
        Shape(samples: 2, channels: 3, h: 11, w: 20, outChannels: 11, kh: 5, kw: 5),
        Shape(samples: 2, channels: 2, h: 10, w: 12, outChannels: 3, kh: 5, kw: 5),
        Shape(samples: 2, channels: 2, h: 9, w: 10, outChannels: 7, kh: 2, kw: 3),
        Shape(samples: 1, channels: 48, h: 12, w: 12, outChannels: 4, kh: 5, kw: 5),
        Shape(samples: 2, channels: 2, h: 4, w: 26, outChannels: 9, kh: 3, kw: 3),
    ])
    func forwardMaxPool(s: Shape) {
        let (oh, ow) = (s.oh, s.ow), taps = s.channels * s.kh * s.kw, (ph, pw) = (oh / 2, ow / 2)
        #expect(zoo_conv_max_pool_fits_avx2(oh, ow))
        var x = Self.values(s.channels * s.h * s.w, seed: 6).map { $0 < -0.5 ? 0 : $0 < -0.2 ? -0.0 : $0 }
        x[x.count / 2] = .nan
        let w = Self.values(s.outChannels * taps, seed: 7).map { ($0 * 4).rounded() / 4 }
        let bias = Self.values(s.outChannels, seed: 8), packed = Self.packed(w, s)
        let loops = zoo_loops_for(zoo_path_avx2)!.pointee
        var plain = [Float](repeating: .nan, count: s.outChannels * oh * ow), expected = [Float](repeating: .nan, count: s.outChannels * ph * pw)
        zoo_conv_forward_avx2(x, s.channels, s.h, s.w, packed, s.outChannels, s.kh, s.kw, bias, &plain)
        loops.max_pool_pairs(plain, s.outChannels, oh, ow, ph, pw, 0, &expected, nil)
        for atStart in [false, true] {
            let gx = Guarded(x, atStart: atStart), gw = Guarded(packed, atStart: atStart), gb = Guarded(bias, atStart: atStart)
            let y = Guarded([Float](repeating: .nan, count: s.outChannels * ph * pw), atStart: atStart)
            zoo_conv_forward_max_pool_avx2(gx.pointer, s.channels, s.h, s.w, gw.pointer, s.outChannels, s.kh, s.kw, gb.pointer, y.pointer)
            let wrong = zip(y.array, expected).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(wrong == 0, "\(s): \(wrong) of \(expected.count) pooled outputs differ")
        }
    }
}
