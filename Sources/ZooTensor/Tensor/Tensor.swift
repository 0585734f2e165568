/// An n-dimensional array of `Float` in contiguous row-major order, with value semantics.
///
/// Storage is a Swift array, so copies are cheap and copy-on-write. A tensor may also carry a
/// node of the autodiff tape (see ``requiringGradient()`` and ``gradients(of:wrt:seed:createGraph:)``):
/// every public operation on tensors is differentiable unless its documentation says otherwise.
///
/// Shapes follow PyTorch's conventions: images are `[N, C, H, W]`, sequences `[N, C, L]`,
/// linear weights `[out, in]`, convolution weights `[out, in / groups, kh, kw]`.
public struct Tensor: Sendable {
    /// The extent of each axis; `[]` for a scalar.
    public let shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.product`.
    public let scalars: [Float]
    /// The tape node that produced this tensor, when it takes part in differentiation.
    package let node: TapeNode?

    /// Creates a tensor from its shape and row-major elements.
    /// - Precondition: `scalars.count` equals the product of `shape`, and no extent is negative.
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor(shape:scalars:): negative extent in shape \(shape)")
        precondition(
            shape.elementCount == scalars.count,
            "Tensor(shape:scalars:): shape \(shape) holds \(shape.elementCount) elements but \(scalars.count) were given")
        self.shape = shape
        self.scalars = scalars
        self.node = nil
    }

    package init(shape: [Int], scalars: [Float], node: TapeNode?) {
        self.shape = shape
        self.scalars = scalars
        self.node = node
    }

    /// A rank-0 tensor holding `value`.
    public init(_ value: Float) {
        self.init(shape: [], scalars: [value])
    }

    /// A rank-1 tensor holding `values`.
    public init(_ values: [Float]) {
        self.init(shape: [values.count], scalars: values)
    }

    /// A tensor of `shape` with every element equal to `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.elementCount))
    }

    /// The number of axes.
    public var rank: Int { shape.count }
    /// The number of elements.
    public var count: Int { scalars.count }

    /// The only element of a tensor with one element.
    public var scalar: Float {
        precondition(count == 1, "Tensor.scalar: tensor of shape \(shape) has \(count) elements, not 1")
        return scalars[0]
    }

    /// Zeros of `shape`.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }
    /// Ones of `shape`.
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }
    /// `shape` filled with `value`.
    public static func full(_ shape: [Int], _ value: Float) -> Tensor { Tensor(shape: shape, repeating: value) }
    /// Zeros with the shape of `other` (not differentiable).
    public static func zeros(like other: Tensor) -> Tensor { zeros(other.shape) }
    /// Ones with the shape of `other` (not differentiable).
    public static func ones(like other: Tensor) -> Tensor { ones(other.shape) }

    /// `[start, start + step, …]` up to but excluding `end`, as a rank-1 tensor.
    public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1) -> Tensor {
        precondition(step != 0, "Tensor.arange: step must not be zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor((0..<n).map { start + Float($0) * step })
    }

    /// The identity matrix of size `n`.
    public static func eye(_ n: Int) -> Tensor {
        var s = [Float](repeating: 0, count: n * n)
        for i in 0..<n { s[i * n + i] = 1 }
        return Tensor(shape: [n, n], scalars: s)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        let more = count > 8 ? ", …" : ""
        return "Tensor(shape: \(shape), [\(shown)\(more)]\(node == nil ? "" : ", tracked"))"
    }
}

extension Tensor: Equatable {
    /// Equal when shapes and elements are equal; the tape is ignored.
    public static func == (a: Tensor, b: Tensor) -> Bool {
        a.shape == b.shape && a.scalars == b.scalars
    }
}

extension Collection where Element == Int {
    /// The product of the extents: the number of elements of a tensor of this shape.
    public var elementCount: Int { reduce(1, *) }
}

extension Array where Element == Int {
    /// Row-major strides of a tensor of this shape.
    package var strides: [Int] {
        var s = [Int](repeating: 1, count: count)
        var acc = 1
        for i in stride(from: count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= self[i]
        }
        return s
    }
}

/// Normalizes a possibly negative axis against `rank`, trapping with the op's name when out of range.
package func normalizedAxis(_ axis: Int, rank: Int, op: String) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < rank, "\(op): axis \(axis) is out of range for a tensor of rank \(rank)")
    return a
}
