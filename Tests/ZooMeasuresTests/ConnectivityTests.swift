import Foundation
import Testing
import ZooData
@testable import ZooMeasures
import ZooNN
import ZooOptim
import ZooTensor
import ZooTestSupport
import ZooTrain

/// A member of a pair, evaluated on `test` (nil: the data has no test split).
private func member(_ model: any Module, run: String, sample: LabeledData = Fixtures.data, test: LabeledData? = Fixtures.data) -> Subject {
    Subject(runID: run, epoch: 2, config: RunConfig(model: ModelSpec(name: "mlp"), data: DataSpec(name: "fixture"), training: TrainingConfig()),
            model: model, initial: model, sample: sample, test: test)
}

private func resolved(_ m: any PairMeasure, _ overrides: [String: Double] = [:]) throws -> MeasureSettings {
    try MeasureSettings().resolved(defaults: m.defaults, overrides: overrides, measure: m.name)
}

/// Linear(5 → 6), batch norm, tanh, Linear(6 → 3), with running statistics that are not the data's.
private func batchNormNet(seed: UInt64) -> any Module {
    let key = RandomKey(seed: seed)
    var norm = BatchNorm(channels: 6)
    norm.runningMean = Tensor.randomNormal([6], key: key.derived("mean"))
    norm.runningVariance = Tensor.ones([6]) * 2.5
    norm.batchesTracked = Tensor(40)
    return Sequential([Linear(inputSize: 5, outputSize: 6, key: key.derived("0")), norm, ActivationLayer(.tanh),
                       Linear(inputSize: 6, outputSize: 3, key: key.derived("3"))])
}

/// softplus(x) = log(1 + eˣ), the cross-entropy of a two-class logit difference −x.
private func softplus(_ x: Double) -> Double { log1p(exp(x)) }

@Suite("Connectivity measures")
struct ConnectivityTests {
    static let linear = ConnectivityMeasures.LinearInterpolation(), curve = ConnectivityMeasures.CurveConnectivity()

    /// A network against itself: every point is the network (θ_A + α·0), so the curve is flat and
    /// both barriers are 0.
    @Test func identicalNetworksAreFlat() throws {
        let a = member(try Fixtures.mlp(seed: 1), run: "a")
        let v = try Self.linear.values(of: [(a, a)], settings: resolved(Self.linear, ["points": 5]))[0]
        #expect(v[""] == 0 && v["loss_barrier"] == 0)
        #expect(Set(v.keys) == Set(["", "loss_barrier"] + ["0.0000", "0.2500", "0.5000", "0.7500", "1.0000"].flatMap { ["error@\($0)", "loss@\($0)"] }))
        for t in ["0.2500", "0.5000", "0.7500", "1.0000"] {
            #expect(v["error@\(t)"] == v["error@0.0000"] && v["loss@\(t)"] == v["loss@0.0000"])
        }
    }

    /// The ends are the networks themselves, evaluated as the trainer evaluates: `error@0.0000` is
    /// exactly 1 − the accuracy `Trainer.evaluate` gives for A on the test split (250 rows: batches
    /// of 100 and a remainder), `error@1.0000` for B; also for batch-norm networks, whose ends keep
    /// their own statistics under `bn_reset`. The default 25 points are named with four decimals.
    @Test func endsAreTheTrainersMetrics() throws {
        let test = Synthetic.teacherStudent(inputSize: 5, teacherHidden: 8, classes: 3, trainCount: 10, testCount: 250, key: RandomKey(seed: 4)).test
        for (na, nb) in [(try Fixtures.mlp(seed: 1), try Fixtures.mlp(seed: 2)), (batchNormNet(seed: 1), batchNormNet(seed: 2))] {
            let a = member(na, run: "a", test: test), b = member(nb, run: "b", test: test)
            let v = try Self.linear.values(of: [(a, b)], settings: resolved(Self.linear))[0]
            #expect(v.count == 2 * 25 + 2 && v["error@0.0417"] != nil && v["loss@0.9583"] != nil)
            let ea = try Trainer.evaluate(na, on: test), eb = try Trainer.evaluate(nb, on: test)
            #expect(v["error@0.0000"] == 1 - Double(ea.accuracy))
            #expect(v["error@1.0000"] == 1 - Double(eb.accuracy))
            #expect(abs(v["loss@0.0000"]! - Double(ea.loss)) < 1e-5 && abs(v["loss@1.0000"]! - Double(eb.loss)) < 1e-5)
            let top = (0...24).map { v[String(format: "error@%.4f", Double($0) / 24)]! }.max()!
            #expect(v[""] == top - (v["error@0.0000"]! + v["error@1.0000"]!) / 2)
        }
    }

    /// Logistic regression on two points of class 0, P = (1, 0) and Q = (0, 1), with the logit
    /// difference d = z₀ − z₁ linear in the weights: A gives d(P) = 1, d(Q) = −2, B the reverse,
    /// so d_α(P) = 1 − 3α (right for α ≤ ⅓) and d_α(Q) = −2 + 3α (right from α ≥ ⅔). At
    /// α = 0, ¼, ½, ¾, 1 the error is ½, ½, 1, ½, ½: a barrier of ½. The cross-entropy
    /// ½[softplus(−d(P)) + softplus(−d(Q))] is convex in α: no loss barrier.
    @Test func handMadeBarrier() throws {
        let data = LabeledData(inputs: Tensor(shape: [2, 2], scalars: [1, 0, 0, 1]), labels: [0, 0], classCount: 2)
        func net(_ w: [Float]) -> any Module { Linear(weight: Tensor(shape: [2, 2], scalars: w + [0, 0]), bias: Tensor.zeros([2])) }
        let a = member(net([1, -2]), run: "a", sample: data, test: data), b = member(net([-2, 1]), run: "b", sample: data, test: data)
        let v = try Self.linear.values(of: [(a, b)], settings: resolved(Self.linear, ["points": 5]))[0]
        let errors = ["0.0000", "0.2500", "0.5000", "0.7500", "1.0000"].map { v["error@\($0)"]! }
        #expect(errors == [0.5, 0.5, 1, 0.5, 0.5])
        #expect(v[""] == 0.5)
        for (t, label) in [(0.0, "0.0000"), (0.25, "0.2500"), (0.5, "0.5000"), (0.75, "0.7500"), (1, "1.0000")] {
            let expected = (softplus(-(1 - 3 * t)) + softplus(-(-2 + 3 * t))) / 2
            #expect(abs(v["loss@\(label)"]! - expected) < 1e-6, "loss at \(t)")
        }
        #expect(abs(v["loss_barrier"]!) < 1e-12)
    }

    /// The batch-norm reset: the statistics recomputed by ``Module/recomputeBatchStatistics`` are
    /// the mean over the batches of each batch's mean and unbiased variance of the batch norm's
    /// input, computed here directly; the measure's interior point is that network, and with
    /// `bn_reset` 0 the buffers are interpolated instead.
    @Test func batchNormReset() throws {
        let sample = Synthetic.teacherStudent(inputSize: 5, teacherHidden: 8, classes: 3, trainCount: 150, testCount: 60, key: RandomKey(seed: 5))
        var net = batchNormNet(seed: 3)
        let batches = [0..<20, 20..<45, 45..<60].map { Fixtures.data.inputs.sliced(axis: 0, $0) }
        net.recomputeBatchStatistics(over: batches, key: RandomKey(seed: 1))
        let (mean, variance) = Self.directStatistics(net, batches)
        #expect(maxAbsoluteDifference(net.buffers["1.running_mean"]!, Tensor(mean.map(Float.init))) < 1e-6)
        #expect(maxAbsoluteDifference(net.buffers["1.running_var"]!, Tensor(variance.map(Float.init))) < 1e-5)
        #expect(net.buffers["1.num_batches_tracked"]!.scalar == 3)
        #expect(net.parameters == batchNormNet(seed: 3).parameters)

        // The measure at α = ½: A + ½(B − A) with statistics of the reset's batches (100 and 50 rows).
        let a = member(batchNormNet(seed: 1), run: "a", sample: sample.train, test: sample.test)
        let b = member(batchNormNet(seed: 2), run: "b", sample: sample.train, test: sample.test)
        let reset = try ConnectivityMeasures.StatisticsReset(sample.train, batches: 20, seed: 0, measure: "test")
        #expect(reset.batches.map { $0.shape[0] } == [100, 50])
        var middle = a.model.with(parameters: a.model.parameters.zipTensors(b.model.parameters) { $0 + ($1 - $0) * 0.5 })
        let direct = Self.directStatistics(middle, reset.batches)
        var buffers = middle.buffers
        buffers["1.running_mean"] = Tensor(direct.mean.map(Float.init))
        buffers["1.running_var"] = Tensor(direct.variance.map(Float.init))
        middle.buffers = buffers
        let expected = try Trainer.evaluate(middle, on: sample.test)
        let v = try Self.linear.values(of: [(a, b)], settings: resolved(Self.linear, ["points": 3]))[0]
        #expect(abs(v["loss@0.5000"]! - Double(expected.loss)) < 1e-4)

        middle.buffers = a.model.buffers.zipTensors(b.model.buffers) { $0 + ($1 - $0) * 0.5 }
        let interpolated = try Trainer.evaluate(middle, on: sample.test)
        let off = try Self.linear.values(of: [(a, b)], settings: resolved(Self.linear, ["points": 3, "bn_reset": 0]))[0]
        #expect(off["error@0.5000"] == 1 - Double(interpolated.accuracy))
        #expect(abs(off["loss@0.5000"]! - Double(interpolated.loss)) < 1e-5)
        #expect(off["loss@0.0000"] == v["loss@0.0000"] && off["loss@1.0000"] == v["loss@1.0000"])
    }

    /// Per channel of the batch norm (layer 1), the mean over `batches` of the batch mean and of
    /// the unbiased batch variance of its input (layer 0's output), in double precision.
    static func directStatistics(_ net: any Module, _ batches: [Tensor]) -> (mean: [Double], variance: [Double]) {
        let w = net.parameters["0.weight"]!, bias = net.parameters["0.bias"]!
        let (c, d) = (w.shape[0], w.shape[1])
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        for x in batches {
            let n = x.shape[0]
            for ch in 0..<c {
                let h = (0..<n).map { r in (0..<d).reduce(Double(bias.scalars[ch])) { $0 + Double(w.scalars[ch * d + $1]) * Double(x.scalars[r * d + $1]) } }
                let m = h.reduce(0, +) / Double(n)
                mean[ch] += m / Double(batches.count)
                variance[ch] += h.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1) / Double(batches.count)
            }
        }
        return (mean, variance)
    }

    /// The Bézier and chain paths against their formulas, and their bend gradients,
    /// (1/K) Σ_k ∂φ/∂θ_bend(t_k) ∇L(φ(t_k)), against central finite differences of the mean loss over the t's.
    @Test(arguments: [ConnectivityMeasures.Path.bezier, .chain])
    func bendGradientMatchesFiniteDifferences(path: ConnectivityMeasures.Path) throws {
        let a = member(try Fixtures.mlp(seed: 1), run: "a"), b = member(try Fixtures.mlp(seed: 2), run: "b")
        let ends = try ConnectivityMeasures.Ends(a, b, measure: "test")
        let bend = ends.towardB.mapTensors { $0 * 0.5 + Tensor.randomNormal($0.shape, standardDeviation: 0.3, key: RandomKey(seed: UInt64($0.count))) }
        // The path is the papers': (1 − t)²θ_A + 2t(1 − t)θ_bend + t²θ_B, or the chain through θ_bend at t = ½.
        let middle = ends.a.parameters.zipTensors(bend) { $0 + $1 }
        for t: Float in [0.3, 0.8] {
            let (wa, wm, wb): (Float, Float, Float) = path == .bezier ? ((1 - t) * (1 - t), 2 * t * (1 - t), t * t)
                : t <= 0.5 ? (1 - 2 * t, 2 * t, 0) : (0, 2 - 2 * t, 2 * t - 1)
            let expected = ends.a.parameters.zipTensors(middle) { $0 * wa + $1 * wm }.zipTensors(ends.b.parameters) { $0 + $1 * wb }
            for (name, x) in ends.network(at: t, path: path, bend: bend).parameters {
                #expect(maxAbsoluteDifference(x, expected[name]!) < 1e-5, "\(name) at \(t)")
            }
        }
        let ts: [Float] = [0.2, 0.45, 0.7, 0.9]
        let analytic = try ConnectivityMeasures.bendGradients([(ends, bend, ts)], path: path, on: Fixtures.data)[0]
        func loss(_ bend: NamedTensors) throws -> Double {
            try Evaluator().lossAndAccuracy(ts.map { ends.network(at: $0, path: path, bend: bend) }, on: Fixtures.data)
                .reduce(0) { $0 + $1.loss } / Double(ts.count)
        }
        #expect(abs(try loss(bend) - analytic.loss) < 1e-6)
        let h: Float = 1e-2
        var compared = 0
        for (name, t) in bend {
            for e in stride(from: 0, to: t.count, by: max(1, t.count / 6)) {
                func moved(_ step: Float) -> NamedTensors {
                    var s = t.scalars
                    s[e] += step
                    var out = bend
                    out[name] = Tensor(shape: t.shape, scalars: s)
                    return out
                }
                let numeric = (try loss(moved(h)) - loss(moved(-h))) / Double(2 * h)
                let value = Double(analytic.gradient[name]!.scalars[e])
                #expect(abs(value - numeric) < 1e-3 + 1e-2 * abs(numeric), "\(name)[\(e)]: \(value) against \(numeric)")
                compared += 1
            }
        }
        #expect(compared >= 20)
    }

    /// Two networks trained briefly from different seeds: the trained curve's barriers are at most
    /// the straight line's (on the training sample it was trained on, with a small tolerance for
    /// the few steps), and its ends are the networks themselves.
    @Test(arguments: [0.0, 1.0]) func curveBeatsTheLine(shape: Double) throws {
        let (a, b) = Self.trainedPair
        let overrides = ["points": 9.0, "split": 0]
        let line = try Self.linear.values(of: [(a, b)], settings: resolved(Self.linear, overrides))[0]
        let curve = try Self.curve.values(of: [(a, b)], settings: resolved(Self.curve, overrides.merging(["steps": 60, "shape": shape]) { $1 }))[0]
        for key in ["error@0.0000", "loss@0.0000", "error@1.0000", "loss@1.0000"] { #expect(curve[key] == line[key], "\(key)") }
        #expect(curve["loss_barrier"]! <= line["loss_barrier"]! + 0.01, "curve \(curve["loss_barrier"]!) line \(line["loss_barrier"]!)")
        #expect(curve[""]! <= line[""]! + 0.01, "curve \(curve[""]!) line \(line[""]!)")
        #expect(line["loss_barrier"]! > 0.05, "the straight line has no barrier to beat: \(line["loss_barrier"]!)")
        // Untrained, the bend is the midpoint and both shapes are the straight line.
        let straight = try Self.curve.values(of: [(a, b)], settings: resolved(Self.curve, overrides.merging(["steps": 0, "shape": shape]) { $1 }))[0]
        for (key, value) in line where key.hasPrefix("loss") { #expect(abs(straight[key]! - value) < 1e-5, "\(key)") }
    }

    /// Two MLPs trained for 4 epochs from seeds 1 and 2 on a 384-row teacher–student task.
    static let trainedPair: (Subject, Subject) = {
        let s = Synthetic.teacherStudent(inputSize: 8, teacherHidden: 16, classes: 3, trainCount: 384, testCount: 200, key: RandomKey(seed: 8))
        let data = TrainingData(train: s.train, test: s.test)
        let subjects = (1...2).map { seed -> Subject in
            let config = RunConfig(model: ModelSpec(name: "mlp", options: ["hidden": "24"]), data: DataSpec(name: "teacher-student"),
                                   training: TrainingConfig(epochs: 4, batchSize: 32, optimizer: .adam(Adam(learningRate: 1e-2)), seed: UInt64(seed)))
            let model = try! config.makeModel(for: data)
            var trained = model
            try! trained.load(try! Trainer(config: config.training).run(model: model, data: data).state.model)
            return Subject(runID: "seed\(seed)", epoch: 4, config: config, model: trained, initial: model, sample: s.train, test: s.test)
        }
        return (subjects[0], subjects[1])
    }()

    /// Sparsity counts exact zeros of the weights (rank ≥ 2) only: 3 of 12 and 6 of 6.
    @Test func sparsityOnHandMasks() throws {
        var w0 = (1...12).map(Float.init)
        for i in [0, 5, 11] { w0[i] = 0 }
        w0[3] = -0.0
        let net = Sequential([Linear(weight: Tensor(shape: [3, 4], scalars: w0), bias: Tensor.zeros([3])), ActivationLayer(.relu),
                              Linear(weight: Tensor.zeros([2, 3]), bias: Tensor([1, 0]))])
        let m = try #require(MeasureCatalog.measure("sparsity"))
        #expect(m.family == .weights)
        let v = try m.values(of: [member(net, run: "a")], settings: MeasureSettings())[0]
        let expected: [String: Double] = ["0.weight": 4.0 / 12, "2.weight": 1, "": 10.0 / 18, "density": 1 - 10.0 / 18]
        #expect(v == expected)
    }

    /// Errors name the measure and the run; the catalog knows both pair measures and their pairing.
    @Test func errorsAndCatalog() throws {
        let a = member(try Fixtures.mlp(seed: 1), run: "run-a", test: nil), b = member(try Fixtures.mlp(seed: 2), run: "run-b", test: nil)
        let error = #expect(throws: MeasureError.self) { try Self.linear.values(of: [(a, b)], settings: resolved(Self.linear)) }
        #expect(error?.description.contains("linear_interpolation") == true && error?.description.contains("run-a") == true
            && error?.description.contains("split=0") == true, "\(error?.description ?? "")")
        #expect(try Self.linear.values(of: [(a, b)], settings: resolved(Self.linear, ["split": 0, "points": 3]))[0].count == 8)
        let other = member(try Fixtures.mlp(seed: 3, hidden: "4"), run: "run-c")
        #expect(throws: MeasureError.self) { try Self.linear.values(of: [(a, other)], settings: resolved(Self.linear, ["split": 0])) }
        let bn = member(batchNormNet(seed: 1), run: "run-bn")
        let refused = #expect(throws: MeasureError.self) { try Self.curve.values(of: [(bn, bn)], settings: resolved(Self.curve)) }
        #expect(refused?.description.contains("batch-norm") == true && refused?.description.contains("run-bn") == true)
        #expect(throws: MeasureError.self) { try Self.linear.values(of: [(a, b)], settings: resolved(Self.linear, ["split": 0, "points": 2])) }
        for name in ["linear_interpolation", "curve_connectivity"] { #expect(MeasureCatalog.pairMeasure(name)?.pairing == .seeds) }
        for name in ["cka", "prediction_disagreement", "weight_distance"] { #expect(MeasureCatalog.pairMeasure(name)?.pairing == .all) }
    }
}
