import Foundation
import Testing
import ZooOptim
import ZooTensor

/// The first three steps of each optimizer on p = [1, −2] with the fixed gradients below, against
/// the scalar recurrences written out by hand in Double (tolerance 1e-6).
@Suite("Optimizers")
struct OptimizerTests {
    static let p0: [Double] = [1, -2]
    static let gradients: [[Double]] = [[0.5, -1], [0.25, 0.5], [-1, 2]]

    /// Runs three steps of `optimizer` and returns the parameter after each.
    static func run<O: Optimizer>(_ optimizer: O, lr: Float? = nil) -> [[Double]] {
        var params = NamedTensors([("w", Tensor(p0.map(Float.init))), ("frozen", Tensor([7]))])
        var state = optimizer.initialState(for: params.filter { $0 == "w" })
        var out: [[Double]] = []
        for g in gradients {
            let grads = NamedTensors([("w", Tensor(g.map(Float.init)))])
            (params, state) = optimizer.update(parameters: params, gradients: grads, state: state, learningRate: lr ?? optimizer.learningRate)
            #expect(params["frozen"]!.scalars == [7], "a parameter without gradient changed")
            out.append(params["w"]!.scalars.map(Double.init))
        }
        #expect(state["step"]?.scalar == 3)
        return out
    }

    static func expectClose(_ a: [[Double]], _ b: [[Double]], _ name: String) {
        for (x, y) in zip(a, b) {
            for (u, v) in zip(x, y) { #expect(abs(u - v) < 1e-6 * max(1, abs(v)), "\(name): \(a) vs \(b)") }
        }
    }

    @Test func sgdPlainMomentumNesterovWeightDecay() {
        let lr = 0.1, mu = 0.9, wd = 0.01
        for (name, optimizer, hasMomentum, nesterov, decay) in [
            ("plain", SGD(learningRate: 0.1), false, false, 0.0),
            ("momentum", SGD(learningRate: 0.1, momentum: 0.9), true, false, 0.0),
            ("nesterov", SGD(learningRate: 0.1, momentum: 0.9, nesterov: true), true, true, 0.0),
            ("weight decay", SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01), true, false, wd),
        ] {
            var p = Self.p0, b = [0.0, 0.0]
            var expected: [[Double]] = []
            for (t, g) in Self.gradients.enumerated() {
                for i in 0..<2 {
                    var d = g[i] + decay * p[i]
                    if hasMomentum {
                        b[i] = t == 0 ? d : mu * b[i] + d
                        d = nesterov ? d + mu * b[i] : b[i]
                    }
                    p[i] -= lr * d
                }
                expected.append(p)
            }
            Self.expectClose(Self.run(optimizer), expected, "SGD \(name)")
        }
    }

    /// A tensor of several of the update's 32 Ki-element chunks (the last one partial): every
    /// element and every slot element is updated, in place of the scalar recurrence, and the
    /// tensors passed in keep their values.
    @Test func tensorsOfManyChunks() {
        let n = 100_003
        let p0 = (0..<n).map { Float($0 % 97) / 97 - 0.5 }, g = (0..<n).map { Float($0 % 89) / 89 - 0.4 }
        let (lr, mu, wd): (Float, Float, Float) = (0.1, 0.9, 0.01)
        let optimizer = SGD(learningRate: lr, momentum: mu, weightDecay: wd)
        let before = NamedTensors([("w", Tensor(p0))])
        var params = before, state = optimizer.initialState(for: before)
        var p = p0, b = [Float](repeating: 0, count: n)
        for step in 0..<2 {
            (params, state) = optimizer.update(parameters: params, gradients: NamedTensors([("w", Tensor(g))]), state: state, learningRate: lr)
            for i in 0..<n {
                let d = g[i] + wd * p[i]
                b[i] = step == 0 ? d : mu * b[i] + (1 - 0) * d
                p[i] -= lr * b[i]
            }
        }
        // Counts, not the arrays: a failure names how many of the 100,003 elements differ.
        func differing(_ a: [Float], _ b: [Float]) -> Int { zip(a, b).filter { $0 != $1 }.count + abs(a.count - b.count) }
        #expect(differing(params["w"]!.scalars, p) == 0)
        #expect(differing(state["momentum.w"]!.scalars, b) == 0)
        #expect(differing(before["w"]!.scalars, p0) == 0)
    }

    @Test func adamAndAdamW() {
        for (name, decoupled, l2) in [("adam", 0.0, 0.0), ("adam L2", 0.0, 0.1), ("adamw", 0.1, 0.0)] {
            let lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8
            var p = Self.p0, m = [0.0, 0.0], v = [0.0, 0.0]
            var expected: [[Double]] = []
            for (step, g) in Self.gradients.enumerated() {
                let t = Double(step + 1)
                for i in 0..<2 {
                    p[i] *= 1 - lr * decoupled
                    let d = g[i] + l2 * p[i]
                    m[i] = b1 * m[i] + (1 - b1) * d
                    v[i] = b2 * v[i] + (1 - b2) * d * d
                    let mHat = m[i] / (1 - pow(b1, t)), vHat = v[i] / (1 - pow(b2, t))
                    p[i] -= lr * mHat / (vHat.squareRoot() + eps)
                }
                expected.append(p)
            }
            let got = decoupled > 0 ? Self.run(AdamW(learningRate: 0.01, weightDecay: 0.1)) : Self.run(Adam(learningRate: 0.01, weightDecay: Float(l2)))
            Self.expectClose(got, expected, name)
        }
    }

    @Test func rmspropVariants() {
        for (name, mu, centered) in [("plain", 0.0, false), ("momentum", 0.5, false), ("centered", 0.0, true), ("centered momentum", 0.5, true)] {
            let lr = 0.01, alpha = 0.99, eps = 1e-8
            var p = Self.p0, s = [0.0, 0.0], a = [0.0, 0.0], b = [0.0, 0.0]
            var expected: [[Double]] = []
            for g in Self.gradients {
                for i in 0..<2 {
                    s[i] = alpha * s[i] + (1 - alpha) * g[i] * g[i]
                    var denominator = s[i].squareRoot() + eps
                    if centered {
                        a[i] = alpha * a[i] + (1 - alpha) * g[i]
                        denominator = (s[i] - a[i] * a[i]).squareRoot() + eps
                    }
                    if mu > 0 {
                        b[i] = mu * b[i] + g[i] / denominator
                        p[i] -= lr * b[i]
                    } else {
                        p[i] -= lr * g[i] / denominator
                    }
                }
                expected.append(p)
            }
            Self.expectClose(Self.run(RMSprop(learningRate: 0.01, momentum: Float(mu), centered: centered)), expected, "RMSprop \(name)")
        }
    }

    @Test func scheduledLearningRateIsUsed() {
        let got = Self.run(SGD(learningRate: 1), lr: 0.5)
        #expect(got[0] == [0.75, -1.5])
    }

    @Test func stateNamesAndShapes() {
        let params = NamedTensors([("a.weight", Tensor.zeros([2, 3])), ("a.bias", Tensor.zeros([2]))])
        let state = Adam().initialState(for: params)
        #expect(state.names == ["exp_avg.a.weight", "exp_avg.a.bias", "exp_avg_sq.a.weight", "exp_avg_sq.a.bias", "step"])
        #expect(state["exp_avg_sq.a.weight"]?.shape == [2, 3])
        #expect(SGD(learningRate: 0.1).initialState(for: params).names == ["step"])
    }

    @Test func clipping() {
        let g = NamedTensors([("a", Tensor([3, 0])), ("b", Tensor([4]))])
        let (same, norm) = clipByGlobalNorm(g, maxNorm: 10)
        #expect(norm == 5 && same == g)
        let (clipped, before) = clipByGlobalNorm(g, maxNorm: 1)
        #expect(before == 5)
        let after = clipped.tensors.flatMap(\.scalars).map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
        #expect(abs(after - 1) < 1e-5)
        #expect(abs(clipped["a"]!.scalars[0] - 0.6) < 1e-5)
    }

    @Test func minimizesAQuadratic() {
        let optimizer = SGD(learningRate: 0.1, momentum: 0.9)
        var params = NamedTensors([("x", Tensor([3, -4]))])
        var state = optimizer.initialState(for: params)
        for _ in 0..<200 {
            let x = params["x"]!.requiringGradient()
            let loss = (x * x).sum()
            (params, state) = optimizer.update(parameters: params, gradients: NamedTensors([("x", gradient(of: loss, wrt: x))]), state: state, learningRate: 0.1)
        }
        #expect((params["x"]! * params["x"]!).sum().scalar < 1e-4)
    }

    @Test func configJSONIsStableAndValidated() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let sgd = OptimizerConfig.sgd(SGD(learningRate: 0.1, momentum: 0.9))
        #expect(String(decoding: try encoder.encode(sgd), as: UTF8.self)
                == #"{"dampening":0,"kind":"sgd","learningRate":0.1,"momentum":0.9,"nesterov":false,"weightDecay":0}"#)
        #expect(String(decoding: try encoder.encode(OptimizerConfig.adamW(AdamW())), as: UTF8.self)
                == #"{"beta1":0.9,"beta2":0.999,"epsilon":1e-08,"kind":"adamw","learningRate":0.001,"weightDecay":0.01}"#)
        for config in [sgd, .adam(Adam()), .adamW(AdamW()), .rmsprop(RMSprop(momentum: 0.5, centered: true))] {
            #expect(try JSONDecoder().decode(OptimizerConfig.self, from: encoder.encode(config)) == config)
        }
        #expect(throws: (any Error).self) { try JSONDecoder().decode(OptimizerConfig.self, from: Data(#"{"kind":"lbfgs"}"#.utf8)) }
        do {
            try OptimizerConfig.sgd(SGD(learningRate: -1)).validate()
            Issue.record("a negative learning rate was accepted")
        } catch { #expect("\(error)".contains("learning rate") && "\(error)".contains("-1")) }
        #expect(throws: OptimizerConfigError.self) { try OptimizerConfig.adam(Adam(beta1: 1)).validate() }
        #expect(throws: OptimizerConfigError.self) { try OptimizerConfig.sgd(SGD(learningRate: 0.1, momentum: 1.5)).validate() }
    }
}
