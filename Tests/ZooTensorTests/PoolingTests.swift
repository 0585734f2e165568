import Testing
import ZooTensor
import ZooTestSupport

/// Pooling against loops written here and against finite differences; max-pooling inputs are
/// distinct ladders (`randomDistinct`, gap 0.05 > 2·step) so no window has a near-tie.
@Suite("Pooling")
struct PoolingTests {
    /// Windows of a sliding pool, as (y0, y1, x0, x1) clipped to the input; divisor kh·kw.
    static func slidingWindows(_ h: Int, _ w: Int, k: (Int, Int), s: (Int, Int), p: (Int, Int)) -> [[(Int, Int, Int, Int)]] {
        let oh = (h + 2 * p.0 - k.0) / s.0 + 1, ow = (w + 2 * p.1 - k.1) / s.1 + 1
        return (0..<oh).map { i in (0..<ow).map { j in
            (max(i * s.0 - p.0, 0), min(i * s.0 - p.0 + k.0, h), max(j * s.1 - p.1, 0), min(j * s.1 - p.1 + k.1, w))
        } }
    }

    static func adaptiveWindows(_ h: Int, _ w: Int, o: (Int, Int)) -> [[(Int, Int, Int, Int)]] {
        (0..<o.0).map { i in (0..<o.1).map { j in
            (i * h / o.0, ((i + 1) * h + o.0 - 1) / o.0, j * w / o.1, ((j + 1) * w + o.1 - 1) / o.1)
        } }
    }

    /// Pools each plane over `windows` with max or sum / divisor, and the gradient of ⟨pool(x), g⟩.
    static func reference(_ x: Tensor, _ windows: [[(Int, Int, Int, Int)]], isMax: Bool, divisor: ((Int, Int, Int, Int)) -> Float,
                          g: Tensor) -> (Tensor, Tensor) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = windows.count, ow = windows[0].count
        var y = [Float](repeating: 0, count: n * c * oh * ow), dx = [Float](repeating: 0, count: x.count)
        for plane in 0..<(n * c) { for i in 0..<oh { for j in 0..<ow {
            let (y0, y1, x0, x1) = windows[i][j]
            let o = (plane * oh + i) * ow + j
            var best = -Float.infinity, bestIndex = 0, sum: Float = 0
            for a in y0..<y1 { for b in x0..<x1 {
                let idx = (plane * h + a) * w + b
                sum += x.scalars[idx]
                if x.scalars[idx] > best { best = x.scalars[idx]; bestIndex = idx }
            } }
            if isMax {
                y[o] = best
                dx[bestIndex] += g.scalars[o]
            } else {
                let d = divisor(windows[i][j])
                y[o] = sum / d
                for a in y0..<y1 { for b in x0..<x1 { dx[(plane * h + a) * w + b] += g.scalars[o] / d } }
            }
        } } }
        return (Tensor(shape: [n, c, oh, ow], scalars: y), Tensor(shape: x.shape, scalars: dx))
    }

    static func check(_ name: String, _ x: Tensor, _ f: @escaping (Tensor) -> Tensor, windows: [[(Int, Int, Int, Int)]], isMax: Bool,
                      divisor: @escaping ((Int, Int, Int, Int)) -> Float) {
        let y = f(x)
        let g = Tensor.randomNormal(y.shape, key: RandomKey(seed: 41))
        let (expected, expectedGradient) = reference(x, windows, isMax: isMax, divisor: divisor, g: g)
        #expect(isApproximatelyEqual(y, expected), "\(name) forward: \(maxAbsoluteDifference(y, expected))")
        let t = x.requiringGradient()
        let dx = gradients(of: f(t), wrt: [t], seed: g)[0]
        #expect(isApproximatelyEqual(dx, expectedGradient), "\(name) backward: \(maxAbsoluteDifference(dx, expectedGradient))")
        let r = checkGradients(of: { f($0[0]) }, at: [x])
        #expect(r.passed, "\(name): \(r)")
    }

    static let slidingCases: [(k: (Int, Int), s: (Int, Int)?, p: (Int, Int), shape: [Int])] = [
        ((2, 2), nil, (0, 0), [2, 3, 6, 6]),
        ((3, 3), (2, 2), (1, 1), [1, 2, 7, 7]),
        ((2, 3), (1, 2), (1, 0), [2, 1, 5, 8]),
        ((3, 3), (1, 1), (0, 0), [1, 1, 5, 4]),
    ]

    @Test("sliding max and average", arguments: 0..<4)
    func sliding(index: Int) {
        let c = Self.slidingCases[index]
        let x = randomDistinct(c.shape, key: RandomKey(seed: UInt64(42 + index)))
        let windows = Self.slidingWindows(c.shape[2], c.shape[3], k: c.k, s: c.s ?? c.k, p: c.p)
        Self.check("maxPool2d \(c)", x, { maxPool2d($0, kernelSize: c.k, stride: c.s, padding: c.p) }, windows: windows, isMax: true) { _ in 1 }
        Self.check("avgPool2d \(c)", x, { avgPool2d($0, kernelSize: c.k, stride: c.s, padding: c.p) }, windows: windows, isMax: false) { _ in
            Float(c.k.0 * c.k.1)
        }
    }

    @Test("adaptive", arguments: [([1, 2, 7, 7], (3, 3)), ([2, 1, 6, 5], (4, 2)), ([1, 1, 4, 4], (1, 1)), ([1, 2, 5, 9], (5, 4))])
    func adaptive(shape: [Int], output: (Int, Int)) {
        let x = randomDistinct(shape, key: RandomKey(seed: 50))
        let windows = Self.adaptiveWindows(shape[2], shape[3], o: output)
        Self.check("adaptiveMaxPool2d \(output)", x, { adaptiveMaxPool2d($0, outputSize: output) }, windows: windows, isMax: true) { _ in 1 }
        Self.check("adaptiveAvgPool2d \(output)", x, { adaptiveAvgPool2d($0, outputSize: output) }, windows: windows, isMax: false) { w in
            Float((w.1 - w.0) * (w.3 - w.2))
        }
    }

    /// 2×2 windows of stride 2 run vector kernels (8 and 4 windows at a time, then one by one):
    /// planes wide and odd enough for every width and for the rows and columns no window reads,
    /// values with ties (the first maximum wins, in window order) and a NaN; without gradients,
    /// the same maxima.
    @Test("pair max pool: vector widths, odd sizes, ties", arguments: [[2, 3, 24, 24], [1, 2, 9, 37], [3, 1, 2, 34], [1, 1, 5, 11]])
    func pairMaxPool(shape: [Int]) {
        let key = RandomKey(seed: 52)
        var scalars = Tensor.randomNormal(shape, key: key).scalars.map { ($0 * 2).rounded() }  // many ties
        scalars[3] = .nan
        let x = Tensor(shape: shape, scalars: scalars)
        let windows = Self.slidingWindows(shape[2], shape[3], k: (2, 2), s: (2, 2), p: (0, 0))
        let y = maxPool2d(x, kernelSize: (2, 2))
        let g = Tensor.randomNormal(y.shape, key: key.derived("g"))
        let t = x.requiringGradient()
        let dx = gradients(of: maxPool2d(t, kernelSize: (2, 2)), wrt: [t], seed: g)[0]
        // The reference without the NaN's window, then that window by the kernel's rule.
        var clean = scalars
        clean[3] = -.infinity
        let (expected, expectedGradient) = Self.reference(Tensor(shape: shape, scalars: clean), windows, isMax: true, divisor: { _ in 1 }, g: g)
        let nanWindow = 1  // x[3] is top-right of window 1 (columns 2-3 of row 0)
        for o in 0..<y.count where o != nanWindow {
            #expect(y.scalars[o].bitPattern == expected.scalars[o].bitPattern, "\(shape) window \(o): \(y.scalars[o]) vs \(expected.scalars[o])")
        }
        // NaN on the right of the top pair loses to its left (b > a is false), as in the scalar rule.
        let (a, c, d) = (scalars[2], scalars[shape[3] + 2], scalars[shape[3] + 3])
        #expect(y.scalars[nanWindow] == ((d > c ? d : c) > a ? (d > c ? d : c) : a))
        let planeRows = Set([2, 3, shape[3] + 2, shape[3] + 3])
        for i in 0..<x.count where !planeRows.contains(i) {
            #expect(dx.scalars[i].bitPattern == expectedGradient.scalars[i].bitPattern, "\(shape) dx[\(i)]")
        }
        #expect(planeRows.map { dx.scalars[$0] != 0 ? 1 : 0 }.reduce(0, +) == 1, "one position of the NaN's window takes its gradient")
        let inferred = withoutGradients { maxPool2d(t, kernelSize: (2, 2)) }
        #expect(inferred.scalars.map(\.bitPattern) == y.scalars.map(\.bitPattern))
    }

    /// An empty batch pools to an empty batch, forward and backward.
    @Test func pairMaxPoolOfNothing() {
        let t = Tensor.zeros([0, 2, 4, 4]).requiringGradient()
        let y = maxPool2d(t, kernelSize: (2, 2))
        #expect(y.shape == [0, 2, 2, 2] && y.count == 0)
        #expect(gradients(of: y, wrt: [t], seed: Tensor.zeros([0, 2, 2, 2]))[0].shape == [0, 2, 4, 4])
        #expect(withoutGradients { maxPool2d(t, kernelSize: (2, 2)) }.shape == [0, 2, 2, 2])
    }

    @Test func oneDimensionalAndGlobal() {
        let x = randomDistinct([2, 3, 11], key: RandomKey(seed: 51))
        #expect(maxPool1d(x, kernelSize: 3, stride: 2, padding: 1).shape == [2, 3, 6])
        #expect(avgPool1d(x, kernelSize: 2).shape == [2, 3, 5])
        #expect(adaptiveAvgPool1d(x, outputSize: 4).shape == [2, 3, 4])
        #expect(adaptiveMaxPool1d(x, outputSize: 3).scalars == maxPool2dRows(x, windows: [(0, 4), (3, 8), (7, 11)]))
        for (name, f) in [("maxPool1d", { (t: Tensor) in maxPool1d(t, kernelSize: 3, stride: 2, padding: 1) }),
                          ("avgPool1d", { avgPool1d($0, kernelSize: 2) }), ("adaptiveAvgPool1d", { adaptiveAvgPool1d($0, outputSize: 4) }),
                          ("adaptiveMaxPool1d", { adaptiveMaxPool1d($0, outputSize: 3) }), ("globalAvgPool", { globalAvgPool($0) })] as [(String, (Tensor) -> Tensor)] {
            let r = checkGradients(of: { f($0[0]) }, at: [x])
            #expect(r.passed, "\(name): \(r)")
        }
        let image = Tensor.randomNormal([2, 3, 4, 5], key: RandomKey(seed: 52))
        #expect(isApproximatelyEqual(globalAvgPool(image), image.mean(alongAxes: [2, 3])))
    }

    private func maxPool2dRows(_ x: Tensor, windows: [(Int, Int)]) -> [Float] {
        var out: [Float] = []
        for row in 0..<(x.shape[0] * x.shape[1]) {
            for (a, b) in windows { out.append(x.scalars[(row * x.shape[2] + a)..<(row * x.shape[2] + b)].max()!) }
        }
        return out
    }

    /// Max pooling differentiates twice: the gradient of ⟨∇ₓ⟨maxpool(x)², 1⟩, v⟩ matches finite differences.
    @Test func secondOrderThroughMaxPool() {
        let x = randomDistinct([1, 2, 4, 4], key: RandomKey(seed: 53))
        let v = Tensor.randomNormal([1, 2, 4, 4], key: RandomKey(seed: 54))
        let r = checkGradients(of: { xs in
            // The finite-difference evaluations run without a tape; the inner gradient needs one.
            GradientMode.withGradients {
                let t = xs[0].requiresGradient ? xs[0] : xs[0].requiringGradient()
                let inner = gradients(of: (maxPool2d(t, kernelSize: (2, 2)).pow(3)).sum(), wrt: [t], createGraph: true)[0]
                return (inner * v).sum()
            }
        }, at: [x])
        #expect(r.passed, "\(r)")
    }
}
