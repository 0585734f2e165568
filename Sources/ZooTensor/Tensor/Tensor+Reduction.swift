// Differentiable reductions over axes. Axes may be negative (counted from the end); an empty
// axis list means every axis.

extension Tensor {
    /// The shape with each of `axes` set to 1, and the normalized axes.
    private func reducedShape(_ axes: [Int], op: String) -> (kept: [Int], axes: [Int]) {
        let normalized = axes.isEmpty ? Array(0..<rank) : axes.map { normalizedAxis($0, rank: rank, op: op) }
        precondition(Set(normalized).count == normalized.count, "\(op): axis listed twice in \(axes) for shape \(shape)")
        var kept = shape
        for a in normalized { kept[a] = 1 }
        return (kept, normalized)
    }

    private static func dropping(_ axes: [Int], from shape: [Int]) -> [Int] {
        shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    }

    /// The sum over `axes` (all axes when empty); reduced axes are kept with extent 1 when
    /// `keepingDimensions` is true, removed otherwise.
    public func sum(alongAxes axes: [Int] = [], keepingDimensions: Bool = false) -> Tensor {
        let (kept, normalized) = reducedShape(axes, op: "sum")
        let s = sumToShape(kept)
        return keepingDimensions ? s : s.reshaped(Tensor.dropping(normalized, from: shape))
    }

    /// The sum along one axis.
    public func sum(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
        sum(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }

    /// The mean over `axes` (all axes when empty).
    public func mean(alongAxes axes: [Int] = [], keepingDimensions: Bool = false) -> Tensor {
        let (kept, _) = reducedShape(axes, op: "mean")
        let n = shape.elementCount / Swift.max(kept.elementCount, 1)
        return sum(alongAxes: axes, keepingDimensions: keepingDimensions) * (1 / Float(Swift.max(n, 1)))
    }

    /// The mean along one axis.
    public func mean(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
        mean(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }

    /// The variance over `axes`: the mean squared deviation, divided by n − 1 when `unbiased`.
    public func variance(alongAxes axes: [Int] = [], unbiased: Bool = false, keepingDimensions: Bool = false) -> Tensor {
        let (kept, normalized) = reducedShape(axes, op: "variance")
        let n = shape.elementCount / Swift.max(kept.elementCount, 1)
        let centered = self - mean(alongAxes: axes, keepingDimensions: true)
        let ss = (centered * centered).sum(alongAxes: normalized, keepingDimensions: keepingDimensions)
        return ss * (1 / Float(Swift.max(unbiased ? n - 1 : n, 1)))
    }

    private func extremum(_ axes: [Int], keepingDimensions: Bool, op: String, isMax: Bool) -> Tensor {
        precondition(count > 0, "\(op): the tensor is empty (shape \(shape))")
        let (kept, normalized) = reducedShape(axes, op: op)
        let values = isMax
            ? Elementwise.reduce(scalars, shape: shape, target: kept, initial: -.infinity) { Swift.max($0, $1) }
            : Elementwise.reduce(scalars, shape: shape, target: kept, initial: .infinity) { Swift.min($0, $1) }
        let x = self
        let result = Tensor.recorded(op, shape: kept, scalars: values, inputs: [x]) { g, _ in
            // Ties share the gradient equally, as PyTorch's amax/amin do.
            let hits = x.detached() .== Tensor(shape: kept, scalars: values)
            let share = hits / hits.sumToShape(kept)
            return [g.expanded(to: x.shape) * share]
        }
        return keepingDimensions ? result : result.reshaped(Tensor.dropping(normalized, from: shape))
    }

    /// The maximum over `axes` (all when empty); ties share the gradient.
    public func max(alongAxes axes: [Int] = [], keepingDimensions: Bool = false) -> Tensor {
        extremum(axes, keepingDimensions: keepingDimensions, op: "max", isMax: true)
    }

    /// The minimum over `axes` (all when empty); ties share the gradient.
    public func min(alongAxes axes: [Int] = [], keepingDimensions: Bool = false) -> Tensor {
        extremum(axes, keepingDimensions: keepingDimensions, op: "min", isMax: false)
    }

    /// The index of the largest element along `axis` (the first on ties), as a tensor of
    /// whole numbers without that axis. Not differentiable.
    public func argmax(alongAxis axis: Int = -1) -> Tensor {
        let a = normalizedAxis(axis, rank: rank, op: "argmax")
        precondition(shape[a] > 0, "argmax: axis \(axis) of shape \(shape) is empty")
        let outer = shape[..<a].elementCount, n = shape[a], inner = shape[(a + 1)...].elementCount
        var out = [Float](repeating: 0, count: outer * inner)
        scalars.withUnsafeBufferPointer { p in
            for o in 0..<outer {
                for i in 0..<inner {
                    var best = p[o * n * inner + i], bestIndex = 0
                    for k in 1..<n where p[(o * n + k) * inner + i] > best {
                        best = p[(o * n + k) * inner + i]
                        bestIndex = k
                    }
                    out[o * inner + i] = Float(bestIndex)
                }
            }
        }
        return Tensor(shape: Tensor.dropping([a], from: shape), scalars: out)
    }

    /// log Σ e^x over `axes`, computed stably by shifting by the maximum.
    public func logSumExp(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let m = max(alongAxes: axes, keepingDimensions: true).detached()
        let s = (self - m).exp().sum(alongAxes: axes, keepingDimensions: true).log() + m
        if keepingDimensions { return s }
        let (_, normalized) = reducedShape(axes, op: "logSumExp")
        return s.reshaped(Tensor.dropping(normalized, from: shape))
    }
}
