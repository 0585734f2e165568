import Foundation
import ZooNN
import ZooTensor

/// The representations a network computes on the way to its logits, in evaluation mode: what
/// the representation measures (Davies–Bouldin, the last-layer tangent kernel) and the pairwise
/// CKA read.
///
/// The *layers* are the leaves of the model's tree of ``Sequential`` containers, in the order
/// they run, named by their dotted path (`module_list.3`, `features.0.conv1`, `layer2.1`). A
/// leaf that is itself a composite (ResNet's ``BasicBlock``) is one layer: its output is the
/// block's output, after the residual sum. Leaves that do not change the representation in
/// evaluation mode (``Flatten``, ``Dropout``) are not reported: their output equals their input.
///
/// The *penultimate* representation is the input of the network's final linear map: the input
/// of the last ``Linear`` layer, or, for a network that ends in a 1×1 ``Conv2d`` followed by
/// global average pooling (NiN), the globally pooled input of that convolution — the logits are
/// exactly `W·h + b` of it in both cases.
struct FeatureExtractor {
    /// One leaf of the model: its dotted name and the module.
    struct Leaf {
        var name: String
        var module: any Module
    }

    /// The network's final linear map `logits = W·h + b` on the penultimate representation `h`.
    struct Head {
        /// The index of the leaf that applies it.
        var leaf: Int
        /// `[classes, features]`.
        var weight: Tensor
        var bias: Tensor?
        /// The names of its parameters in the model (`module_list.12.weight`…).
        var parameterNames: [String]
        /// Whether its output is the model's output (only identities and the pooling follow).
        var isFinal: Bool
        /// Whether `h` is the global average of the leaf's input over its spatial axes (NiN).
        var pooled: Bool
    }

    let leaves: [Leaf]
    /// The leaves whose outputs are reported, by index into ``leaves``.
    let reported: [Int]
    let head: Head?
    /// The model's catalog name, for errors.
    let modelName: String

    /// - Throws: ``MeasureError`` when the model is not a tree of ``Sequential`` containers.
    init(_ model: any Module, modelName: String) throws {
        guard let root = model as? Sequential else {
            throw MeasureError(description: "model '\(modelName)' (\(type(of: model))) is not a Sequential network: "
                + "its layers' representations cannot be read")
        }
        var leaves: [Leaf] = []
        func collect(_ s: Sequential, prefix: String) {
            for child in s.children {
                let name = prefix.isEmpty ? child.name : prefix + "." + child.name
                if let inner = child.module as? Sequential { collect(inner, prefix: name) } else { leaves.append(Leaf(name: name, module: child.module)) }
            }
        }
        collect(root, prefix: "")
        self.leaves = leaves
        self.modelName = modelName
        reported = leaves.indices.filter { !Self.isIdentity(leaves[$0].module) }
        head = Self.findHead(leaves)
    }

    /// The names of the reported layers, in order.
    var layerNames: [String] { reported.map { leaves[$0].name } }

    /// Flatten, and dropout in evaluation mode, leave the representation as it is.
    private static func isIdentity(_ m: any Module) -> Bool { m is Flatten || m is Dropout }

    private static func isGlobalAverage(_ m: any Module) -> Bool {
        guard let p = m as? Pool, case .globalAvg = p.kind else { return false }
        return true
    }

    /// The last leaf with parameters, when it is a linear map of the penultimate representation.
    private static func findHead(_ leaves: [Leaf]) -> Head? {
        guard let i = leaves.lastIndex(where: { !$0.module.parameters.isEmpty }) else { return nil }
        let after = leaves[(i + 1)...].map(\.module)
        let names = leaves[i].module.parameters.names.map { leaves[i].name + "." + $0 }
        if let linear = leaves[i].module as? Linear {
            return Head(leaf: i, weight: linear.weight, bias: linear.bias, parameterNames: names,
                        isFinal: after.allSatisfy(isIdentity), pooled: false)
        }
        if let conv = leaves[i].module as? Conv2d, conv.weight.shape[2] == 1, conv.weight.shape[3] == 1, conv.groups == 1,
           conv.stride == (1, 1), conv.padding == (0, 0), after.contains(where: isGlobalAverage),
           after.allSatisfy({ isIdentity($0) || isGlobalAverage($0) }) {
            return Head(leaf: i, weight: conv.weight.reshaped([conv.weight.shape[0], conv.weight.shape[1]]), bias: conv.bias,
                        parameterNames: names, isFinal: true, pooled: true)
        }
        return nil
    }

    /// The final linear map, or an error naming the model when it does not end in one.
    func requireHead() throws -> Head {
        guard let head else {
            let last = leaves.last { !$0.module.parameters.isEmpty }
            throw MeasureError(description: "model '\(modelName)' does not end in a linear layer (its last layer with weights is "
                + (last.map { "'\($0.name)' (\(type(of: $0.module)))" } ?? "missing")
                + "): it has no penultimate representation")
        }
        return head
    }

    /// Calls `body` with each reported layer's output `[N, D]` (flattened per row) for `inputs`
    /// `[N, …]`, in one pass over all rows: at most one layer's output is alive besides what
    /// `body` keeps, so pass as many rows as the caller needs at once (the CKA probe set).
    func forEachLayer(_ inputs: Tensor, _ body: (_ name: String, _ output: Tensor) throws -> Void) rethrows {
        var x = inputs
        var next = 0
        for (i, leaf) in leaves.enumerated() {
            var m = leaf.module
            x = withoutGradients { m(x, context: .inference) }
            if next < reported.count && reported[next] == i {
                try body(leaf.name, x.reshaped([x.shape[0], -1]))
                next += 1
            }
        }
    }

    /// The penultimate representation `[N, D]` of `inputs` `[N, …]`, in batches of `batchRows`.
    /// - Throws: ``MeasureError`` when the model does not end in a linear map.
    func penultimate(_ inputs: Tensor, batchRows: Int = 250) throws -> Tensor {
        let head = try requireHead()
        let n = inputs.shape[0]
        var parts: [Tensor] = []
        for start in stride(from: 0, to: n, by: max(1, batchRows)) {
            var x = inputs.sliced(axis: 0, start ..< min(n, start + batchRows))
            withoutGradients {
                for leaf in leaves[..<head.leaf] {
                    var m = leaf.module
                    x = m(x, context: .inference)
                }
                if head.pooled { x = globalAvgPool(x) }
            }
            parts.append(x.reshaped([x.shape[0], -1]))
        }
        return parts.count == 1 ? parts[0] : Tensor.concatenated(parts)
    }
}
