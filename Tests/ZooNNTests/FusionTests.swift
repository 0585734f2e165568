import Testing
import ZooNN
import ZooTensor
import ZooTestSupport

/// The fused passes (a batch norm with the ReLU after it, a residual sum with its ReLU, the
/// one-pass ReLU gradient) against the ops they replace: the same bits forward, backward and
/// through a create-graph backward pass, and finite differences.
@Suite("Fused passes")
struct FusionTests {
    let key = RandomKey(seed: 91)

    private func bits(_ t: Tensor) -> [UInt32] { t.scalars.map(\.bitPattern) }

    /// `net`'s children one after the other, each batch norm without the ReLU fused (what
    /// Sequential did before the fusion), and the children afterwards (their statistics).
    private func unfused(_ net: Sequential, _ x: Tensor, _ context: ForwardContext) -> (Tensor, [any Module]) {
        var y = x, children = net.children.map(\.module)
        for i in children.indices {
            let childContext = context.child(net.children[i].name)
            if var norm = children[i] as? BatchNorm {
                y = norm(y, context: childContext, thenReLU: false)
                children[i] = norm
            } else {
                y = children[i](y, context: childContext)
            }
        }
        return (y, children)
    }

    /// Values with the edge cases of a ReLU: exact zeros of both signs, NaN, infinities.
    private func edgy(_ shape: [Int], key: RandomKey) -> Tensor {
        var t = Tensor.randomNormal(shape, key: key).scalars
        for (i, v) in [Float(0), -0.0, .nan, .infinity, -.infinity].enumerated() where i < t.count { t[i * 3] = v }
        return Tensor(shape: shape, scalars: t)
    }

    @Test func reluGradientIsTheMaskProduct() {
        let x = edgy([4, 5, 3], key: key.derived("x")), g = edgy([4, 5, 3], key: key.derived("g"))
        #expect(bits(x.reluGradient(g)) == bits(g * x.positiveMask()))
    }

    @Test func reluOfSumIsTheUnfusedBits() {
        let a = edgy([3, 4, 5, 5], key: key.derived("a")), b = Tensor.randomNormal([3, 4, 5, 5], key: key.derived("b"))
        let seed = edgy([3, 4, 5, 5], key: key.derived("seed"))
        let (fa, fb) = (a.requiringGradient(), b.requiringGradient())
        let fused = reluOfSum(fa, fb)
        let (ua, ub) = (a.requiringGradient(), b.requiringGradient())
        let unfused = (ua + ub).relu()
        #expect(bits(fused) == bits(unfused))
        let gf = gradients(of: fused, wrt: [fa, fb], seed: seed), gu = gradients(of: unfused, wrt: [ua, ub], seed: seed)
        #expect(bits(gf[0]) == bits(gu[0]) && bits(gf[1]) == bits(gu[1]))
        // Shapes that broadcast take the unfused path.
        let row = Tensor.randomNormal([5], key: key.derived("row"))
        #expect(bits(reluOfSum(a, row)) == bits((a + row).relu()))
    }

    @Test func reluOfSumFiniteDifferences() {
        // Sums at least 0.15 away from the kink.
        let a = randomAwayFromZero([3, 2, 4], margin: 0.2, key: key.derived("a"))
        let b = Tensor.randomUniform([3, 2, 4], low: -0.05, high: 0.05, key: key.derived("b"))
        let r = checkGradients(of: { reluOfSum($0[0], $0[1]) }, at: [a, b])
        #expect(r.passed, "\(r)")
    }

    /// A residual block (the sum and its activation in bn2's pass) against the same block computed
    /// op by op: same shape, the paper's option A (subsampled, channels padded), a projection,
    /// tanh in place of ReLU; training and evaluation. Output, gradients of x and every parameter
    /// and running statistics bit for bit; second-order gradients to rounding (the two graphs add
    /// x's contributions in another order).
    @Test(arguments: [(3, 1, false, Activation.relu, true), (3, 2, false, .relu, true), (3, 2, true, .relu, true),
                      (3, 1, false, .tanh, true), (3, 2, false, .relu, false), (3, 2, true, .tanh, false)])
    func basicBlockIsTheUnfusedBits(inChannels: Int, stride: Int, projection: Bool, activation: Activation, training: Bool) {
        let out = 6 / stride
        var block = BasicBlock(inChannels: inChannels, outChannels: out, stride: stride, activation: activation, projection: projection,
                               key: key.derived("block"))
        // Running statistics away from their initial values, so that evaluation uses them.
        _ = block(Tensor.randomNormal([4, inChannels, 6, 6], mean: 0.5, key: key.derived("warm")), context: .training(key: key))
        let x = Tensor.randomNormal([4, inChannels, 6, 6], key: key.derived("x"))
        let context = training ? ForwardContext.training(key: key.derived("context")) : .inference
        var reference = block
        let (fx, ux) = (x.requiringGradient(), x.requiringGradient())
        let params = block.parameters.mapTensors { $0.requiringGradient() }
        block.parameters = params
        let fused = block(fx, context: context)
        let refParams = reference.parameters.mapTensors { $0.requiringGradient() }
        reference.parameters = refParams
        let (y, body) = unfused(reference.body, ux, context)
        var shortcutBuffers: [Tensor] = []
        let s: Tensor
        if var projection = reference.shortcut {
            (s, _) = (projection(ux, context: context.child("shortcut")), ())
            shortcutBuffers = projection.buffers.tensors
        } else {
            let extra = out - inChannels
            s = ux.subsampled(stride: (stride, stride)).padded(axis: 1, before: extra / 2, after: extra - extra / 2)
        }
        let unfused = activation(y + s)
        #expect(bits(fused) == bits(unfused))
        let target = Tensor.randomNormal(fused.shape, key: key.derived("t"))
        func loss(_ out: Tensor) -> Tensor { ((out - target) * (out - target) * out.tanh()).sum() }
        let gf = gradients(of: loss(fused), wrt: [fx] + params.tensors, createGraph: true)
        let gu = gradients(of: loss(unfused), wrt: [ux] + refParams.tensors, createGraph: true)
        for (f, u) in zip(gf, gu) { #expect(bits(f) == bits(u)) }
        let v = Tensor.randomNormal(x.shape, key: key.derived("v"))
        let hf = gradients(of: (gf[0] * v).sum(), wrt: [fx])[0], hu = gradients(of: (gu[0] * v).sum(), wrt: [ux])[0]
        let scale = hu.scalars.map(abs).max() ?? 0
        let worst = zip(hf.scalars, hu.scalars).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-5 * scale, "second order: \(worst) apart at a scale of \(scale)")
        let bodyBuffers = (body[1] as! BatchNorm).buffers.tensors + (body[4] as! BatchNorm).buffers.tensors
        #expect(block.buffers.tensors.map(bits) == (bodyBuffers + shortcutBuffers).map(bits))
    }

    /// Batch norm with a residual (and a ReLU) in one pass: finite differences in x, γ, β and the
    /// residual; a residual that only broadcasts takes the separate ops.
    @Test func batchNormWithResidualFiniteDifferences() {
        // Residuals of ±0.1 keep every sum at least 0.16 away from the kink.
        let x = Self.awayFromTheKink
        let w = Tensor([1, 1.2]), b = Tensor([0.2, -0.2])
        let r = Tensor.randomUniform([4, 2, 3, 3], low: -0.1, high: 0.1, key: key.derived("r"))
        for relu in [false, true] {
            let result = checkGradients(of: { p in
                batchNorm(p[0], weight: p[1], bias: p[2], runningMean: .zeros([2]), runningVariance: .ones([2]), training: true,
                          residual: p[3], thenReLU: relu).output
            }, at: [x, w, b, r])
            #expect(result.passed, "relu \(relu): \(result)")
        }
        let row = Tensor([0.25, -0.5, 1])
        let broadcast = batchNorm(x, weight: w, bias: b, runningMean: .zeros([2]), runningVariance: .ones([2]), training: true,
                                  residual: row, thenReLU: true).output
        let separate = (batchNorm(x, weight: w, bias: b, runningMean: .zeros([2]), runningVariance: .ones([2]), training: true).output + row).relu()
        #expect(bits(broadcast) == bits(separate))
    }

    /// Sequential runs BatchNorm + ReLU as one op: the same output, gradients, second-order
    /// gradients and running statistics as the two layers one after the other.
    @Test(arguments: [true, false])
    func batchNormThenReLUInSequential(training: Bool) {
        let conv = Conv2d(2, 3, kernelSize: 3, padding: 1, key: key.derived("conv"))
        var net = Sequential([conv, BatchNorm(channels: 3), ActivationLayer(.relu), Flatten()])
        // Running statistics away from their initial values, so that evaluation uses them.
        _ = net(Tensor.randomNormal([5, 2, 4, 4], mean: 1, key: key.derived("warm")), context: .training(key: key))
        let x = Tensor.randomNormal([5, 2, 4, 4], key: key.derived("x")).requiringGradient()
        let context = training ? ForwardContext.training(key: key.derived("c")) : .inference
        let (y, separate) = unfused(net, x, context)
        let fused = net(x, context: context)
        #expect(bits(fused) == bits(y))
        #expect(net.buffers.tensors.map(bits) == (separate[1] as! BatchNorm).buffers.tensors.map { bits($0) })
        let target = Tensor.randomNormal(fused.shape, key: key.derived("t"))
        func loss(_ out: Tensor) -> Tensor { ((out - target) * (out - target) * out.tanh()).sum() }
        let gf = gradients(of: loss(fused), wrt: [x], createGraph: true)[0]
        let gu = gradients(of: loss(y), wrt: [x], createGraph: true)[0]
        #expect(bits(gf) == bits(gu))
        let v = Tensor.randomNormal(x.shape, key: key.derived("v"))
        let hf = gradients(of: (gf * v).sum(), wrt: [x])[0], hu = gradients(of: (gu * v).sum(), wrt: [x])[0]
        #expect(bits(hf) == bits(hu))
    }

    /// `[4, 2, 3, 3]`: each channel holds ±0.5, ±1, ±1.5 six times each, so x̂ = ±0.46, ±0.93,
    /// ±1.39, and with γ = (1, 1.2), β = (0.2, −0.2) every output is at least 0.26 away from a
    /// ReLU's kink.
    static let awayFromTheKink: Tensor = {
        let pattern: [Float] = [-1.5, -1, -0.5, 0.5, 1, 1.5]
        var values = [Float](repeating: 0, count: 72)
        for n in 0..<4 { for c in 0..<2 { for j in 0..<9 { values[(n * 2 + c) * 9 + j] = pattern[(n * 9 + j) % 6] } } }
        return Tensor(shape: [4, 2, 3, 3], scalars: values)
    }()

    @Test func batchNormThenReLUFiniteDifferences() {
        let x = Self.awayFromTheKink
        let w = Tensor([1, 1.2]), b = Tensor([0.2, -0.2])
        let r = checkGradients(of: { p in
            batchNorm(p[0], weight: p[1], bias: p[2], runningMean: .zeros([2]), runningVariance: .ones([2]), training: true,
                      thenReLU: true).output
        }, at: [x, w, b])
        #expect(r.passed, "\(r)")
    }

    /// A convolution with a 2×2 max pool after it (one pass in inference on the AVX2 path) gives
    /// the bits of the two layers, alone (Sequential) and as a population, in inference and with
    /// gradients; a pool of stride 1 after it is not fused.
    @Test func convolutionThenMaxPoolIsTheTwoLayers() throws {
        let x = Tensor.randomNormal([3, 2, 20, 20], key: key.derived("x"))
        let conv = Conv2d(2, 6, kernelSize: 5, key: key.derived("conv"))
        #expect(conv.poolsInOnePass(then: Pool.max2d(2)) && !conv.poolsInOnePass(then: Pool.max2d(2, stride: 1)))
        #expect(!Conv2d(2, 6, kernelSize: 5, padding: 1, key: key).poolsInOnePass(then: Pool.max2d(2)))
        let net = Sequential([conv, Pool.max2d(2), ActivationLayer(.tanh), Flatten()])
        let expected = maxPool2d(conv2d(x, weight: conv.weight, bias: conv.bias), kernelSize: (2, 2)).tanh().reshaped([3, 6 * 8 * 8])
        let population = try Population([net])
        #expect(bits(withoutGradients { net.inferring(x) }) == bits(expected))
        #expect(bits(withoutGradients { population.inferring(x) }) == bits(expected))
        let w = conv.weight.requiringGradient()
        var tracked = net
        tracked.parameters = NamedTensors([("0.weight", w), ("0.bias", conv.bias!)])
        let seed = Tensor.randomNormal(expected.shape, key: key.derived("g"))
        let dw = gradients(of: tracked.inferring(x), wrt: [w], seed: seed)[0]
        let reference = gradients(of: maxPool2d(conv2d(x, weight: w, bias: conv.bias), kernelSize: (2, 2)).tanh().reshaped(expected.shape),
                                  wrt: [w], seed: seed)[0]
        #expect(bits(dw) == bits(reference))
    }
}
