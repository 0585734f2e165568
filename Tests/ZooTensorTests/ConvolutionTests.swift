import Testing
import ZooTensor
import ZooTestSupport

/// Convolution against naive nested loops written here, and against finite differences
/// (step 1e-2; an element passes when |analytic − numeric| ≤ 1e-2 + 1e-2·|numeric|).
@Suite("Convolution")
struct ConvolutionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var input: [Int]      // [N, C, H, W]
        var weight: [Int]     // [O, C/g, kh, kw]
        var stride = (1, 1), padding = (0, 0), dilation = (1, 1), groups = 1
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "plain 3×3", input: [2, 3, 7, 6], weight: [4, 3, 3, 3]),
        Case(name: "batch 1, odd sizes", input: [1, 1, 5, 5], weight: [3, 1, 3, 3]),
        Case(name: "stride 2 with padding", input: [2, 2, 9, 8], weight: [3, 2, 3, 3], stride: (2, 2), padding: (1, 1)),
        Case(name: "non-square kernel, mixed stride", input: [1, 2, 7, 9], weight: [2, 2, 2, 4], stride: (1, 2), padding: (1, 0)),
        Case(name: "dilation 2", input: [2, 2, 9, 9], weight: [2, 2, 3, 3], dilation: (2, 2), groups: 1),
        Case(name: "groups 2", input: [2, 4, 6, 6], weight: [6, 2, 3, 3], padding: (1, 1), groups: 2),
        Case(name: "depthwise", input: [2, 3, 6, 5], weight: [3, 1, 3, 3], stride: (2, 1), padding: (1, 1), groups: 3),
        Case(name: "pointwise 1×1", input: [3, 4, 4, 5], weight: [5, 4, 1, 1]),
        Case(name: "5×5 like zoo-cnn", input: [2, 1, 12, 12], weight: [8, 1, 5, 5]),
        Case(name: "batch split into chunks", input: [7, 3, 40, 40], weight: [4, 3, 5, 5], padding: (2, 1)),
        // Direct kernels (stride 1, no padding, output rows of 8k columns):
        Case(name: "direct, a partial block of output channels", input: [3, 3, 10, 12], weight: [11, 3, 3, 5]),
        Case(name: "direct, groups 2, two vectors per row", input: [2, 4, 9, 18], weight: [6, 2, 2, 3], groups: 2),
        // With AVX2 or AVX-512, stride-1 convolutions padded by less than the kernel run wide (all three products):
        Case(name: "wide, padded 3×3, two channel blocks, rows across vectors", input: [2, 9, 11, 37], weight: [10, 9, 3, 3], padding: (1, 1)),
        Case(name: "wide, kernel wider than a weight-gradient tile", input: [2, 2, 6, 20], weight: [5, 2, 2, 7], padding: (1, 3)),
        Case(name: "wide, height 1", input: [3, 3, 1, 30], weight: [4, 3, 1, 5], padding: (0, 2)),
        Case(name: "wide, more than 1024 taps", input: [1, 48, 6, 6], weight: [4, 48, 5, 5], padding: (2, 2)),
        Case(name: "wide, a tall kernel over a large plane", input: [1, 8, 21, 20], weight: [8, 8, 9, 1]),
        Case(name: "wide, 7×1 down planes 1 wide", input: [2, 3, 12, 1], weight: [5, 3, 7, 1], padding: (3, 0)),
        // Strided (im2col + GEMM):
        Case(name: "stride 2 as in resnet20, two channel blocks", input: [2, 9, 12, 16], weight: [10, 9, 3, 3], stride: (2, 2), padding: (1, 1)),
        Case(name: "stride 3, kernel 4×3", input: [2, 3, 11, 10], weight: [5, 3, 4, 3], stride: (3, 3), padding: (1, 2)),
        Case(name: "1-D stride 2 as in cnn1d", input: [3, 2, 1, 40], weight: [6, 2, 1, 5], stride: (1, 2), padding: (0, 1)),
        Case(name: "stride 2, groups 2, padding past the kernel", input: [2, 4, 7, 9], weight: [6, 2, 3, 2], stride: (2, 2), padding: (3, 2), groups: 2),
    ]

    /// The definition, as loops: y[n,o,i,j] = Σ_{c,a,b} x[n, g·C/g + c, i·s − p + a·d, j·s − p + b·d] · w[o, c, a, b].
    static func reference(_ x: Tensor, _ w: Tensor, _ c: Case) -> Tensor {
        let (n, ch, h, wd) = (c.input[0], c.input[1], c.input[2], c.input[3])
        let (o, cg, kh, kw) = (c.weight[0], c.weight[1], c.weight[2], c.weight[3])
        let oh = (h + 2 * c.padding.0 - c.dilation.0 * (kh - 1) - 1) / c.stride.0 + 1
        let ow = (wd + 2 * c.padding.1 - c.dilation.1 * (kw - 1) - 1) / c.stride.1 + 1
        var y = [Float](repeating: 0, count: n * o * oh * ow)
        let og = o / c.groups
        for b in 0..<n { for oc in 0..<o { for i in 0..<oh { for j in 0..<ow {
            var s: Float = 0
            let group = oc / og
            for ic in 0..<cg { for a in 0..<kh { for bb in 0..<kw {
                let yy = i * c.stride.0 - c.padding.0 + a * c.dilation.0, xx = j * c.stride.1 - c.padding.1 + bb * c.dilation.1
                if yy < 0 || yy >= h || xx < 0 || xx >= wd { continue }
                s += x.scalars[((b * ch + group * cg + ic) * h + yy) * wd + xx] * w.scalars[((oc * cg + ic) * kh + a) * kw + bb]
            } } }
            y[((b * o + oc) * oh + i) * ow + j] = s
        } } } }
        _ = ch
        return Tensor(shape: [n, o, oh, ow], scalars: y)
    }

    /// The input and weight gradients of ⟨conv(x, w), g⟩, as loops that scatter each product back.
    static func referenceGradients(_ x: Tensor, _ w: Tensor, _ g: Tensor, _ c: Case) -> (Tensor, Tensor) {
        let (n, ch, h, wd) = (c.input[0], c.input[1], c.input[2], c.input[3])
        let (o, cg, kh, kw) = (c.weight[0], c.weight[1], c.weight[2], c.weight[3])
        let (oh, ow) = (g.shape[2], g.shape[3])
        var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: w.count)
        let og = o / c.groups
        for b in 0..<n { for oc in 0..<o { for i in 0..<oh { for j in 0..<ow {
            let gv = g.scalars[((b * o + oc) * oh + i) * ow + j]
            let group = oc / og
            for ic in 0..<cg { for a in 0..<kh { for bb in 0..<kw {
                let yy = i * c.stride.0 - c.padding.0 + a * c.dilation.0, xx = j * c.stride.1 - c.padding.1 + bb * c.dilation.1
                if yy < 0 || yy >= h || xx < 0 || xx >= wd { continue }
                let xi = ((b * ch + group * cg + ic) * h + yy) * wd + xx, wi = ((oc * cg + ic) * kh + a) * kw + bb
                dx[xi] += gv * w.scalars[wi]
                dw[wi] += gv * x.scalars[xi]
            } } }
        } } } }
        return (Tensor(shape: x.shape, scalars: dx), Tensor(shape: w.shape, scalars: dw))
    }

    @Test("forward and backward match loops", arguments: cases)
    func matchesReference(c: Case) {
        let key = RandomKey(seed: 31)
        let x = Tensor.randomNormal(c.input, key: key.derived("x")), w = Tensor.randomNormal(c.weight, key: key.derived("w"))
        let y = conv2d(x, weight: w, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        let expected = Self.reference(x, w, c)
        #expect(isApproximatelyEqual(y, expected, absolute: 1e-4), "\(c.name): max diff \(maxAbsoluteDifference(y, expected))")
        let g = Tensor.randomNormal(y.shape, key: key.derived("g"))
        let (tx, tw) = (x.requiringGradient(), w.requiringGradient())
        let grads = gradients(of: conv2d(tx, weight: tw, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups),
                              wrt: [tx, tw], seed: g)
        let (dx, dw) = Self.referenceGradients(x, w, g, c)
        #expect(isApproximatelyEqual(grads[0], dx, absolute: 1e-4), "\(c.name) dx: \(maxAbsoluteDifference(grads[0], dx))")
        #expect(isApproximatelyEqual(grads[1], dw, absolute: 1e-4), "\(c.name) dw: \(maxAbsoluteDifference(grads[1], dw))")
    }

    /// With a bias, the result is the convolution plus the bias (the direct kernels start from it,
    /// the im2col path adds it as it writes the output).
    @Test("bias adds per channel", arguments: cases)
    func biasAddsPerChannel(c: Case) {
        let key = RandomKey(seed: 38)
        let x = Tensor.randomNormal(c.input, key: key.derived("x")), w = Tensor.randomNormal(c.weight, key: key.derived("w"))
        let b = Tensor.randomNormal([c.weight[0]], key: key.derived("b"))
        let with = conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        let without = conv2d(x, weight: w, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        #expect(isApproximatelyEqual(with, without + b.reshaped([1, c.weight[0], 1, 1]), absolute: 1e-5), "\(c.name)")
    }

    @Test("finite differences", arguments: cases)
    func finiteDifferences(c: Case) {
        let key = RandomKey(seed: 32)
        let x = Tensor.randomNormal(c.input, key: key.derived("x")), w = Tensor.randomNormal(c.weight, key: key.derived("w"))
        let b = Tensor.randomNormal([c.weight[0]], key: key.derived("b"))
        let r = checkGradients(of: { conv2d($0[0], weight: $0[1], bias: $0[2], stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups) },
                               at: [x, w, b], maxElements: 120)
        #expect(r.passed, "\(c.name): \(r)")
    }

    /// stackedConv2dMaxPool2 is maxPool2d of stackedConv2d bit for bit, in inference (one pass
    /// where the path has a kernel for the shapes: AVX2, rows of 8-24) and when recording (the
    /// two ops, with their gradients), for shapes the kernel takes and one it does not.
    @Test(arguments: [([3 * 2, 1, 28, 28], [3, 8, 1, 5, 5]), ([2 * 3, 8, 12, 12], [2, 6, 8, 5, 5]), ([2, 3, 11, 20], [2, 5, 3, 5, 5]),
                      ([2 * 2, 2, 9, 14], [2, 4, 2, 3, 3])])
    func convolutionThenMaxPoolIsTheTwoOps(input: [Int], weight: [Int]) {
        let key = RandomKey(seed: 34)
        let x = Tensor.randomNormal(input, key: key.derived("x")), w = Tensor.randomNormal(weight, key: key.derived("w"))
        let b = Tensor.randomNormal([weight[0], weight[1]], key: key.derived("b"))
        for bias in [b, nil] {
            let (fused, separate) = withoutGradients {
                (stackedConv2dMaxPool2(x, weight: w, bias: bias), maxPool2d(stackedConv2d(x, weight: w, bias: bias), kernelSize: (2, 2)))
            }
            #expect(fused.shape == separate.shape && fused.scalars.map(\.bitPattern) == separate.scalars.map(\.bitPattern),
                    "\(input) * \(weight), bias \(bias != nil)")
        }
        let seed = Tensor.randomNormal(maxPool2d(stackedConv2d(x, weight: w), kernelSize: (2, 2)).shape, key: key.derived("g"))
        let tracked = [x.requiringGradient(), w.requiringGradient(), b.requiringGradient()]
        let fused = gradients(of: stackedConv2dMaxPool2(tracked[0], weight: tracked[1], bias: tracked[2]), wrt: tracked, seed: seed)
        let separate = gradients(of: maxPool2d(stackedConv2d(tracked[0], weight: tracked[1], bias: tracked[2]), kernelSize: (2, 2)),
                                 wrt: tracked, seed: seed)
        for (f, s) in zip(fused, separate) { #expect(f.scalars.map(\.bitPattern) == s.scalars.map(\.bitPattern)) }
    }

    @Test func conv1dMatchesConv2dOfHeightOne() {
        let key = RandomKey(seed: 33)
        let x = Tensor.randomNormal([2, 3, 11], key: key.derived("x")), w = Tensor.randomNormal([4, 3, 3], key: key.derived("w"))
        let b = Tensor.randomNormal([4], key: key.derived("b"))
        let y = conv1d(x, weight: w, bias: b, stride: 2, padding: 1, dilation: 2)
        #expect(y.shape == [2, 4, 5])  // ⌊(11 + 2 − 2·2 − 1) / 2⌋ + 1
        let c = Case(name: "1d", input: [2, 3, 1, 11], weight: [4, 3, 1, 3], stride: (1, 2), padding: (0, 1), dilation: (1, 2))
        let expected = Self.reference(x.reshaped([2, 3, 1, 11]), w.reshaped([4, 3, 1, 3]), c).reshaped([2, 4, 5]) + b.reshaped([1, 4, 1])
        #expect(isApproximatelyEqual(y, expected, absolute: 1e-4))
        let r = checkGradients(of: { conv1d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1, dilation: 2) }, at: [x, w, b])
        #expect(r.passed, "\(r)")
        let depthwise = checkGradients(of: { conv1d($0[0], weight: $0[1], padding: 2, groups: 3) },
                                       at: [x, Tensor.randomNormal([3, 1, 5], key: key.derived("d"))])
        #expect(depthwise.passed, "\(depthwise)")
    }

    /// Hessian-vector product of a small CNN (conv → tanh → average-pool → conv → flatten → linear →
    /// MSE) by double backward, against (∇f(w + εv) − ∇f(w − εv)) / 2ε, within 3e-2 relative.
    /// (Average pooling keeps f smooth; max pooling's second order is checked in PoolingTests.)
    @Test func hessianVectorProductOfCNN() {
        let key = RandomKey(seed: 34)
        let x = Tensor.randomNormal([2, 1, 8, 8], key: key.derived("x"))
        let target = Tensor.randomNormal([2, 3], key: key.derived("t"))
        let shapes = [[4, 1, 3, 3], [4, 4, 2, 2], [3, 4 * 3 * 3]]
        let ws = shapes.enumerated().map { Tensor.randomNormal($1, standardDeviation: 0.4, key: key.derived("w\($0)")) }
        let vs = shapes.enumerated().map { Tensor.randomNormal($1, key: key.derived("v\($0)")) }
        func loss(_ p: [Tensor]) -> Tensor {
            var h = conv2d(x, weight: p[0], padding: (1, 1)).tanh()
            h = avgPool2d(h, kernelSize: (2, 2))
            h = conv2d(h, weight: p[1], stride: (2, 2), padding: (1, 1)).tanh()
            let out = matmul(h.flattened(), p[2].transposed())
            let d = out - target
            return (d * d).mean()
        }
        let tracked = ws.map { $0.requiringGradient() }
        let g = gradients(of: loss(tracked), wrt: tracked, createGraph: true)
        let gv = zip(g, vs).map { ($0 * $1).sum() }.reduce(Tensor(0), +)
        let hv = gradients(of: gv, wrt: tracked)
        let eps: Float = 1e-2
        func grad(_ s: Float) -> [Tensor] {
            let p = zip(ws, vs).map { ($0 + s * $1).requiringGradient() }
            return gradients(of: loss(p), wrt: p)
        }
        let (plus, minus) = (grad(eps), grad(-eps))
        for i in 0..<3 {
            let numeric = (plus[i] - minus[i]) / (2 * eps)
            #expect(isApproximatelyEqual(hv[i], numeric, absolute: 3e-3, relative: 3e-2), "Hv[\(i)] max diff \(maxAbsoluteDifference(hv[i], numeric))")
        }
    }

    /// A stacked population: member m's outputs and gradients are those of conv2d on its own
    /// samples with its own weights, on one and on two threads.
    @Test("stacked members equal separate convolutions", arguments: [cases[0], cases[2], cases[5], cases[9], cases[10], cases[11], cases[12], cases[13], cases[18], cases[21]])
    func stackedMembersEqualSeparateConvolutions(c: Case) {
        let key = RandomKey(seed: 35), members = 3
        let xs = (0..<members).map { Tensor.randomNormal(c.input, key: key.derived("x\($0)")) }
        let ws = (0..<members).map { Tensor.randomNormal(c.weight, key: key.derived("w\($0)")) }
        let bs = (0..<members).map { Tensor.randomNormal([c.weight[0]], key: key.derived("b\($0)")) }
        func separate(_ m: Int) -> Tensor {
            conv2d(xs[m], weight: ws[m], bias: bs[m], stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        }
        for threads in [1, 2] { BLAS.withThreadCount(threads) {
            let x = Tensor.concatenated(xs).requiringGradient(), w = Tensor.stacked(ws).requiringGradient()
            let b = Tensor.stacked(bs).requiringGradient()
            let y = stackedConv2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
            let expected = Tensor.concatenated((0..<members).map(separate))
            #expect(isApproximatelyEqual(y, expected, absolute: 1e-4), "\(c.name): max diff \(maxAbsoluteDifference(y, expected))")
            let seed = Tensor.randomNormal(y.shape, key: key.derived("g"))
            let grads = gradients(of: y, wrt: [x, w, b], seed: seed)
            let n = c.input[0]
            for m in 0..<members {
                let (tx, tw, tb) = (xs[m].requiringGradient(), ws[m].requiringGradient(), bs[m].requiringGradient())
                let alone = gradients(of: conv2d(tx, weight: tw, bias: tb, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups),
                                      wrt: [tx, tw, tb], seed: seed.sliced(axis: 0, m * n..<(m + 1) * n))
                #expect(isApproximatelyEqual(grads[0].sliced(axis: 0, m * n..<(m + 1) * n), alone[0], absolute: 1e-4))
                #expect(isApproximatelyEqual(grads[1].sliced(axis: 0, m..<m + 1).squeezed(axis: 0), alone[1], absolute: 1e-4))
                #expect(isApproximatelyEqual(grads[2].sliced(axis: 0, m..<m + 1).squeezed(axis: 0), alone[2], absolute: 1e-4))
            }
        } }
    }

    @Test func stackedConvolutionFiniteDifferences() {
        let key = RandomKey(seed: 36)
        let x = Tensor.randomNormal([4, 2, 6, 5], key: key.derived("x")), w = Tensor.randomNormal([2, 4, 1, 3, 2], key: key.derived("w"))
        let b = Tensor.randomNormal([2, 4], key: key.derived("b"))
        let r = checkGradients(of: { stackedConv2d($0[0], weight: $0[1], bias: $0[2], stride: (2, 1), padding: (1, 1), groups: 2) },
                               at: [x, w, b], maxElements: 120)
        #expect(r.passed, "\(r)")
    }

    /// The fused channel bias equals broadcasting, for one network and for stacked members, and
    /// its gradients (and those of its adjoint, the channel sums) pass finite differences.
    @Test func channelBiasMatchesBroadcasting() {
        let key = RandomKey(seed: 37)
        let x = Tensor.randomNormal([6, 3, 2, 5], key: key.derived("x"))
        let b = Tensor.randomNormal([3], key: key.derived("b")), stacked = Tensor.randomNormal([2, 3], key: key.derived("s"))
        #expect(isApproximatelyEqual(addingChannelBias(x, b), x + b.reshaped([1, 3, 1, 1]), absolute: 1e-6))
        let expected = (x.reshaped([2, 3, 3, 2, 5]) + stacked.reshaped([2, 1, 3, 1, 1])).reshaped([6, 3, 2, 5])
        #expect(isApproximatelyEqual(addingChannelBias(x, stacked), expected, absolute: 1e-6))
        let r = checkGradients(of: { addingChannelBias($0[0], $0[1]).tanh() }, at: [x, stacked], maxElements: 80)
        #expect(r.passed, "\(r)")
        // Second order through the bias: ∂/∂b of Σ (∂L/∂b)² with L = Σ tanh(x + b).
        let tb = b.requiringGradient()
        let g = gradients(of: addingChannelBias(x, tb).tanh().sum(), wrt: [tb], createGraph: true)[0]
        let h = gradients(of: (g * g).sum(), wrt: [tb])[0]
        let eps: Float = 1e-2
        func gradAt(_ s: Float) -> Tensor {
            let p = (b + Tensor([s, 0, 0])).requiringGradient()
            let gp = gradients(of: addingChannelBias(x, p).tanh().sum(), wrt: [p])[0]
            return (gp * gp).sum()
        }
        let numeric = (gradAt(eps) - gradAt(-eps)) / (2 * eps)
        #expect(abs(h.scalars[0] - numeric.scalar) < 2e-2 * max(1, abs(numeric.scalar)), "\(h.scalars[0]) vs \(numeric.scalar)")
    }

    /// A channel mismatch stops the process with a message naming the op and both shapes.
    @Test func shapeErrorsNameTheOpAndShapes() async throws {
        let result = try #require(await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Tensor.zeros([1, 3, 8, 8]), weight: Tensor.zeros([4, 2, 3, 3]))
        })
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("conv2d") && message.contains("[1, 3, 8, 8]") && message.contains("[4, 2, 3, 3]"), "\(message)")
    }
}
