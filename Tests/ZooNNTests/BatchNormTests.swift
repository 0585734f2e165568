import Testing
import ZooNN
import ZooTensor
import ZooTestSupport

/// Batch norm against loops: statistics per channel, the textbook backward
/// dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)), and PyTorch's running-statistics update.
@Suite("Batch norm reference")
struct BatchNormTests {
    @Test(arguments: [[4, 3], [2, 3, 4, 5], [1, 2, 3, 3]])
    func matchesLoops(shape: [Int]) {
        let key = RandomKey(seed: 71)
        let x = Tensor.randomNormal(shape, mean: 1, standardDeviation: 2, key: key.derived("x"))
        let c = shape[1], n = shape[0], per = shape.dropFirst(2).reduce(1, *)
        let gamma = Tensor.randomNormal([c], key: key.derived("g")), beta = Tensor.randomNormal([c], key: key.derived("b"))
        let dy = Tensor.randomNormal(shape, key: key.derived("dy"))
        let eps: Float = 1e-5, momentum: Float = 0.1
        var y = [Float](repeating: 0, count: x.count), dx = [Float](repeating: 0, count: x.count)
        var meanRef = [Float](repeating: 0, count: c), varRef = [Float](repeating: 0, count: c)
        for ch in 0..<c {
            var indices: [Int] = []
            for b in 0..<n { for p in 0..<per { indices.append((b * c + ch) * per + p) } }
            let m = Float(indices.count)
            let mean = indices.map { x.scalars[$0] }.reduce(0, +) / m
            let variance = indices.map { (x.scalars[$0] - mean) * (x.scalars[$0] - mean) }.reduce(0, +) / m
            meanRef[ch] = mean
            varRef[ch] = variance * m / (m - 1)
            let sigma = (variance + eps).squareRoot()
            let xhat = indices.map { (x.scalars[$0] - mean) / sigma }
            let dys = indices.map { dy.scalars[$0] }
            let meanDy = dys.reduce(0, +) / m
            let meanDyXhat = zip(dys, xhat).map { $0 * $1 }.reduce(0, +) / m
            for (k, i) in indices.enumerated() {
                y[i] = gamma.scalars[ch] * xhat[k] + beta.scalars[ch]
                dx[i] = gamma.scalars[ch] / sigma * (dys[k] - meanDy - xhat[k] * meanDyXhat)
            }
        }
        let tx = x.requiringGradient()
        let out = batchNorm(tx, weight: gamma, bias: beta, runningMean: .zeros([c]), runningVariance: .ones([c]), training: true, momentum: momentum, epsilon: eps)
        #expect(isApproximatelyEqual(out.output, Tensor(shape: shape, scalars: y), absolute: 1e-4))
        let g = gradients(of: out.output, wrt: [tx], seed: dy)[0]
        #expect(isApproximatelyEqual(g, Tensor(shape: shape, scalars: dx), absolute: 1e-4), "max diff \(maxAbsoluteDifference(g, Tensor(shape: shape, scalars: dx)))")
        #expect(isApproximatelyEqual(out.runningMean, Tensor(meanRef.map { momentum * $0 })))
        #expect(isApproximatelyEqual(out.runningVariance, Tensor(varRef.map { (1 - momentum) + momentum * $0 }), absolute: 1e-5))
        #expect(!out.runningMean.requiresGradient)
    }

    /// The fused op's backward pass switches to tensor ops under create-graph: a Hessian-vector
    /// product through training-mode batch norm matches finite differences of gradients.
    @Test func secondOrderThroughTrainingMode() {
        let key = RandomKey(seed: 72)
        let x = Tensor.randomNormal([3, 2, 2, 3], key: key.derived("x")), t = Tensor.randomNormal([3, 2, 2, 3], key: key.derived("t"))
        let w = Tensor.randomNormal([2], mean: 1, standardDeviation: 0.3, key: key.derived("w")), b = Tensor.randomNormal([2], key: key.derived("b"))
        let vs = [Tensor.randomNormal([3, 2, 2, 3], key: key.derived("vx")), Tensor.randomNormal([2], key: key.derived("vw"))]
        func loss(_ p: [Tensor]) -> Tensor {
            let y = batchNorm(p[0], weight: p[1], bias: b, runningMean: .zeros([2]), runningVariance: .ones([2]), training: true).output
            return ((y - t) * (y - t) * y.tanh()).mean()
        }
        let tracked = [x, w].map { $0.requiringGradient() }
        let g = gradients(of: loss(tracked), wrt: tracked, createGraph: true)
        let hv = gradients(of: zip(g, vs).map { ($0 * $1).sum() }.reduce(Tensor(0), +), wrt: tracked)
        let eps: Float = 1e-2
        func grad(_ s: Float) -> [Tensor] {
            let p = zip([x, w], vs).map { ($0 + s * $1).requiringGradient() }
            return gradients(of: loss(p), wrt: p)
        }
        let (plus, minus) = (grad(eps), grad(-eps))
        for i in 0..<2 {
            let numeric = (plus[i] - minus[i]) / (2 * eps)
            #expect(isApproximatelyEqual(hv[i], numeric, absolute: 3e-3, relative: 3e-2), "Hv[\(i)] max diff \(maxAbsoluteDifference(hv[i], numeric))")
        }
    }

    @Test func layerTracksStatisticsOnlyInTraining() {
        var bn = BatchNorm(channels: 2)
        let x = Tensor.randomNormal([8, 2, 3, 3], mean: 3, key: RandomKey(seed: 72))
        _ = bn(x, context: .inference)
        #expect(bn.runningMean == .zeros([2]))
        _ = bn(x, context: .training(key: RandomKey(seed: 1)))
        #expect(bn.runningMean != .zeros([2]))
        #expect(bn.batchesTracked.scalar == 1)
        let y = bn(x, context: .inference)
        let expected = (x - bn.runningMean.reshaped([1, 2, 1, 1])) / (bn.runningVariance.reshaped([1, 2, 1, 1]) + 1e-5).sqrt()
        #expect(isApproximatelyEqual(y, expected))
    }
}
