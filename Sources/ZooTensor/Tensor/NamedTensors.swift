/// An ordered collection of tensors keyed by dotted names (`features.0.weight`): a state dict.
///
/// One type serves for parameters, gradients, optimizer state and checkpoint files. Order is the
/// order of insertion, which for a model is the order its layers declare their parameters, so
/// that two models of one architecture list the same names in the same order.
public struct NamedTensors: Sendable, Equatable, RandomAccessCollection {
    public private(set) var names: [String] = []
    public private(set) var tensors: [Tensor] = []
    private var positions: [String: Int] = [:]

    public init() {}

    /// A collection from name–tensor pairs in order; names must be unique.
    public init(_ pairs: [(String, Tensor)]) {
        for (name, tensor) in pairs { append(name, tensor) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { names.count }
    public subscript(position: Int) -> (name: String, tensor: Tensor) { (names[position], tensors[position]) }

    /// The tensor called `name`, if any; setting a new name appends it, setting nil removes it.
    public subscript(name: String) -> Tensor? {
        get { positions[name].map { tensors[$0] } }
        set {
            if let i = positions[name] {
                if let t = newValue { tensors[i] = t } else { remove(at: i) }
            } else if let t = newValue {
                append(name, t)
            }
        }
    }

    /// Appends a new entry.
    /// - Precondition: `name` is not present yet.
    public mutating func append(_ name: String, _ tensor: Tensor) {
        precondition(positions[name] == nil, "NamedTensors: duplicate name '\(name)'")
        positions[name] = names.count
        names.append(name)
        tensors.append(tensor)
    }

    /// Appends every entry of `other`, each name prefixed with `prefix` and a dot.
    public mutating func append(contentsOf other: NamedTensors, prefix: String) {
        for (n, t) in zip(other.names, other.tensors) { append(prefix.isEmpty ? n : "\(prefix).\(n)", t) }
    }

    private mutating func remove(at i: Int) {
        names.remove(at: i)
        tensors.remove(at: i)
        positions = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
    }

    /// The entries whose names start with `prefix.`, with that prefix removed.
    public func children(of prefix: String) -> NamedTensors {
        if prefix.isEmpty { return self }
        let p = prefix + "."
        var out = NamedTensors()
        for (n, t) in zip(names, tensors) where n.hasPrefix(p) { out.append(String(n.dropFirst(p.count)), t) }
        return out
    }

    /// The entries whose names satisfy `isIncluded`.
    public func filter(_ isIncluded: (String) -> Bool) -> NamedTensors {
        var out = NamedTensors()
        for (n, t) in zip(names, tensors) where isIncluded(n) { out.append(n, t) }
        return out
    }

    /// The same names with each tensor transformed.
    public func mapTensors(_ transform: (Tensor) throws -> Tensor) rethrows -> NamedTensors {
        var out = self
        out.tensors = try tensors.map(transform)
        return out
    }

    /// The same names with `combine` applied to this collection's and `other`'s tensor of each name.
    /// - Precondition: both hold the same names.
    public func zipTensors(_ other: NamedTensors, _ combine: (Tensor, Tensor) throws -> Tensor) rethrows -> NamedTensors {
        precondition(Set(names) == Set(other.names),
                     "NamedTensors: names differ: \(Set(names).symmetricDifference(other.names).sorted().prefix(5))")
        var out = self
        out.tensors = try zip(names, tensors).map { name, t in try combine(t, other[name]!) }
        return out
    }

    /// The total number of elements.
    public var elementCount: Int { tensors.reduce(0) { $0 + $1.count } }

    /// Every tensor cut from the tape.
    public func detached() -> NamedTensors { mapTensors { $0.detached() } }

    /// Every tensor as a new leaf of the tape.
    public func requiringGradient() -> NamedTensors { mapTensors { $0.requiringGradient() } }

    public static func == (a: NamedTensors, b: NamedTensors) -> Bool {
        a.names == b.names && a.tensors == b.tensors
    }
}

/// Gradients of scalar `y` with respect to every tensor of `xs`, under the same names.
public func gradients(of y: Tensor, wrt xs: NamedTensors, createGraph: Bool = false) -> NamedTensors {
    var out = xs
    let g = gradients(of: y, wrt: xs.tensors, createGraph: createGraph)
    for (i, name) in xs.names.enumerated() { out[name] = g[i] }
    return out
}
