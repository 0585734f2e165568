import Foundation

// Differentiable elementwise arithmetic with NumPy broadcasting. The gradient of a broadcast
// input is the output gradient summed back to the input's shape (`sumToShape`).

extension Tensor {
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let r = a.shape == b.shape ? (shape: a.shape, scalars: Elementwise.zip(a.scalars, b.scalars, loop: BLAS.loops.add))
            : Elementwise.zip(a, b, op: "add") { $0 + $1 }
        return recorded("add", shape: r.shape, scalars: r.scalars, inputs: [a, b]) { g, needs in
            [needs[0] ? g.sumToShape(a.shape) : nil, needs[1] ? g.sumToShape(b.shape) : nil]
        }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let r = Elementwise.zip(a, b, op: "subtract") { $0 - $1 }
        return recorded("subtract", shape: r.shape, scalars: r.scalars, inputs: [a, b]) { g, needs in
            [needs[0] ? g.sumToShape(a.shape) : nil, needs[1] ? (-g).sumToShape(b.shape) : nil]
        }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let r = Elementwise.zip(a, b, op: "multiply") { $0 * $1 }
        return recorded("multiply", shape: r.shape, scalars: r.scalars, inputs: [a, b]) { g, needs in
            [needs[0] ? (g * b).sumToShape(a.shape) : nil, needs[1] ? (g * a).sumToShape(b.shape) : nil]
        }
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let r = Elementwise.zip(a, b, op: "divide") { $0 / $1 }
        return recorded("divide", shape: r.shape, scalars: r.scalars, inputs: [a, b]) { g, needs in
            [needs[0] ? (g / b).sumToShape(a.shape) : nil,
             needs[1] ? (-g * a / (b * b)).sumToShape(b.shape) : nil]
        }
    }

    public static prefix func - (a: Tensor) -> Tensor {
        recorded("negate", shape: a.shape, scalars: Elementwise.map(a.scalars) { -$0 }, inputs: [a]) { g, _ in [-g] }
    }

    public static func + (a: Tensor, s: Float) -> Tensor {
        recorded("addScalar", shape: a.shape, scalars: Elementwise.map(a.scalars) { $0 + s }, inputs: [a]) { g, _ in [g] }
    }
    public static func + (s: Float, a: Tensor) -> Tensor { a + s }
    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
    public static func - (s: Float, a: Tensor) -> Tensor { -a + s }

    public static func * (a: Tensor, s: Float) -> Tensor {
        recorded("multiplyScalar", shape: a.shape, scalars: Elementwise.map(a.scalars) { $0 * s }, inputs: [a]) { g, _ in [g * s] }
    }
    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    public static func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
    public static func / (s: Float, a: Tensor) -> Tensor { Tensor(s) / a }

    public static func += (a: inout Tensor, b: Tensor) { a = a + b }
    public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
    public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
    public static func *= (a: inout Tensor, s: Float) { a = a * s }

    /// Sums the axes along which `self` was broadcast from `shape` (the adjoint of ``expanded(to:)``).
    public func sumToShape(_ target: [Int]) -> Tensor {
        if target == shape { return self }
        let check = Elementwise.broadcastShape(target, shape, op: "sumToShape")
        precondition(check == shape, "sumToShape: shape \(shape) is not a broadcast of \(target)")
        let out = Elementwise.sumToShape(scalars, shape: shape, target: target)
        let source = shape
        return Tensor.recorded("sumToShape", shape: target, scalars: out, inputs: [self]) { g, _ in [g.expanded(to: source)] }
    }

    /// `self` broadcast to `target` (NumPy rules), materialized.
    public func expanded(to target: [Int]) -> Tensor {
        if target == shape { return self }
        let check = Elementwise.broadcastShape(shape, target, op: "expanded(to:)")
        precondition(check == target, "expanded(to:): shape \(shape) cannot be broadcast to \(target)")
        let out = Elementwise.expand(scalars, shape: shape, target: target)
        let source = shape
        return Tensor.recorded("expand", shape: target, scalars: out, inputs: [self]) { g, _ in [g.sumToShape(source)] }
    }
}

// MARK: - Unary functions

extension Tensor {
    /// A unary op whose derivative is `g * derivative(x, y)`, both differentiable.
    @inline(__always)
    package func unary(_ op: String, _ f: (Float) -> Float, derivative: @escaping @Sendable (_ x: Tensor) -> Tensor) -> Tensor {
        let x = self
        let values = Elementwise.map(scalars, f)
        return Tensor.recorded(op, shape: shape, scalars: values, inputs: [x]) { g, _ in [g * derivative(x)] }
    }

    /// e^x.
    public func exp() -> Tensor {
        let x = self
        let values = Elementwise.map(scalars) { Foundation.exp($0) }
        return Tensor.recorded("exp", shape: shape, scalars: values, inputs: [x]) { g, _ in [g * x.exp()] }
    }
    /// The natural logarithm.
    public func log() -> Tensor { unary("log", { Foundation.log($0) }) { x in 1 / x } }
    /// The square root.
    public func sqrt() -> Tensor { unary("sqrt", { $0.squareRoot() }) { x in 0.5 / x.sqrt() } }
    /// x^p for a constant exponent `p`.
    public func pow(_ p: Float) -> Tensor {
        if p == 1 { return self }
        if p == 2 { return self * self }
        return unary("pow", { Foundation.pow($0, p) }) { x in p * x.pow(p - 1) }
    }
    /// |x|; the derivative at 0 is taken as 0.
    public func abs() -> Tensor { unary("abs", { Swift.abs($0) }) { x in x.sign() } }
    /// −1, 0 or 1 (not differentiable: its gradient is zero).
    public func sign() -> Tensor {
        Tensor(shape: shape, scalars: Elementwise.map(scalars) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) })
    }
    /// Each element clamped to `[low, high]`; the gradient passes where the value is inside.
    public func clamped(min low: Float = -.infinity, max high: Float = .infinity) -> Tensor {
        precondition(low <= high, "clamped(min:max:): min \(low) is above max \(high)")
        let x = self
        let values = Elementwise.map(scalars) { Swift.min(Swift.max($0, low), high) }
        return Tensor.recorded("clamp", shape: shape, scalars: values, inputs: [x]) { g, _ in
            [g * Tensor(shape: x.shape, scalars: Elementwise.map(x.scalars) { $0 >= low && $0 <= high ? 1 : 0 })]
        }
    }
    /// max(x, 0).
    public func relu() -> Tensor {
        let x = self
        let values = Elementwise.map(scalars) { Swift.max($0, 0) }
        return Tensor.recorded("relu", shape: shape, scalars: values, inputs: [x]) { g, _ in [x.reluGradient(g)] }
    }
    /// The gradient `g` through a ReLU whose input (or output) is this tensor: `g · positiveMask()`,
    /// in one pass unless the tape records (then differentiable in `g`).
    public func reluGradient(_ g: Tensor) -> Tensor {
        precondition(g.shape == shape, "reluGradient: gradient \(g.shape) does not match \(shape)")
        if GradientMode.isEnabled { return g * positiveMask() }
        // The product with the mask, not a select: the same bits (−0, NaN) as `g * positiveMask()`.
        return Tensor(shape: shape, scalars: Elementwise.zip(scalars, g.scalars, loop: BLAS.loops.relu_gradient))
    }
    /// 1 where x > 0, else 0 (not differentiable).
    public func positiveMask() -> Tensor {
        Tensor(shape: shape, scalars: Elementwise.map(scalars) { $0 > 0 ? 1 : 0 })
    }
    /// The logistic function 1 / (1 + e^−x).
    public func sigmoid() -> Tensor {
        let x = self
        let values = FastMath.sigmoid(scalars)
        return Tensor.recorded("sigmoid", shape: shape, scalars: values, inputs: [x]) { g, _ in
            // The output's values, unless the pullback itself must be differentiable.
            let s = GradientMode.isEnabled ? x.sigmoid() : Tensor(shape: x.shape, scalars: values)
            return [g * s * (1 - s)]
        }
    }
    /// The hyperbolic tangent.
    public func tanh() -> Tensor {
        let x = self
        let values = FastMath.tanh(scalars)
        return Tensor.recorded("tanh", shape: shape, scalars: values, inputs: [x]) { g, _ in
            let t = GradientMode.isEnabled ? x.tanh() : Tensor(shape: x.shape, scalars: values)
            return [g * (1 - t * t)]
        }
    }
    /// The error function; d/dx erf(x) = 2/√π · e^(−x²).
    public func erf() -> Tensor {
        unary("erf", { Foundation.erf($0) }) { x in (-(x * x)).exp() * Float(2 / Double.pi.squareRoot()) }
    }
    /// log(1 + e^x), computed stably; its derivative is the sigmoid.
    public func softplus() -> Tensor {
        let x = self
        let values = Elementwise.map(scalars) { v in Swift.max(v, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(v))) }
        return Tensor.recorded("softplus", shape: shape, scalars: values, inputs: [x]) { g, _ in [g * x.sigmoid()] }
    }
}

// MARK: - Comparisons and selection (masks are constants: not differentiable)

extension Tensor {
    private static func compare(_ a: Tensor, _ b: Tensor, _ op: String, _ f: (Float, Float) -> Bool) -> Tensor {
        let r = Elementwise.zip(a, b, op: op) { f($0, $1) ? 1 : 0 }
        return Tensor(shape: r.shape, scalars: r.scalars)
    }
    /// 1 where a > b, else 0 (broadcasting; not differentiable).
    public static func .> (a: Tensor, b: Tensor) -> Tensor { compare(a, b, ".>") { $0 > $1 } }
    /// 1 where a < b, else 0.
    public static func .< (a: Tensor, b: Tensor) -> Tensor { compare(a, b, ".<") { $0 < $1 } }
    /// 1 where a ≥ b, else 0.
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { compare(a, b, ".>=") { $0 >= $1 } }
    /// 1 where a ≤ b, else 0.
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { compare(a, b, ".<=") { $0 <= $1 } }
    /// 1 where a == b, else 0.
    public static func .== (a: Tensor, b: Tensor) -> Tensor { compare(a, b, ".==") { $0 == $1 } }

    /// `a` where `condition` is nonzero, else `b` (broadcasting all three).
    /// The gradient flows to `a` where the condition holds and to `b` elsewhere.
    public static func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let mask = condition.detached().sign().abs()
        return mask * a + (1 - mask) * b
    }

    /// The elementwise maximum; where equal, the gradient goes to `a`.
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { select(a .>= b, a, b) }
    /// The elementwise minimum; where equal, the gradient goes to `a`.
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { select(a .<= b, a, b) }
}

/// max(a + b, 0) in one pass, and its gradient in one (the same masked gradient for both): a
/// residual block's last step. The bits of `(a + b).relu()`; operands of different shapes take
/// that path.
public func reluOfSum(_ a: Tensor, _ b: Tensor) -> Tensor {
    guard a.shape == b.shape else { return (a + b).relu() }
    let shape = a.shape
    let values = Elementwise.zip(a.scalars, b.scalars, loop: BLAS.loops.relu_of_sum)
    return Tensor.recorded("reluOfSum", shape: shape, scalars: values, inputs: [a, b]) { g, needs in
        let masked = Tensor(shape: shape, scalars: values).reluGradient(g)
        return [needs[0] ? masked : nil, needs[1] ? masked : nil]
    }
}
