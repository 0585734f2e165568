import ZooNN
import ZooTensor

/// The training loss as a hook: each row's loss from the logits `[N, C]` and the labels, as a
/// differentiable `[N]` tensor. A member's loss for a step is the mean of its rows.
///
/// The trainer reports evaluation metrics (`train`, `validation`, `test`) with the plain
/// cross-entropy whatever the training loss, so that runs with different losses compare.
public struct Loss: Sendable {
    /// A short name for logs.
    public var name: String
    /// Per-row losses `[N]` of `logits: [N, C]`; built from differentiable ops.
    public var rows: @Sendable (_ logits: Tensor, _ labels: [Int]) -> Tensor

    public init(name: String, rows: @escaping @Sendable (_ logits: Tensor, _ labels: [Int]) -> Tensor) {
        self.name = name
        self.rows = rows
    }

    /// Cross-entropy with label smoothing ε as PyTorch: the target is (1 − ε) · onehot + ε / C.
    public static func crossEntropy(labelSmoothing: Float = 0) -> Loss {
        Loss(name: labelSmoothing > 0 ? "cross-entropy (smoothing \(labelSmoothing))" : "cross-entropy") { logits, labels in
            let classes = logits.shape[1]
            var target = oneHot(labels, classCount: classes)
            if labelSmoothing > 0 { target = target * (1 - labelSmoothing) + labelSmoothing / Float(classes) }
            return -(target * logSoftmax(logits, axis: 1)).sum(alongAxis: 1)
        }
    }
}

/// Per-row 1 when the largest logit of `[rows, classes]` is at the label (ties: the first).
func rowHits(_ logits: Tensor, _ labels: [Int]) -> [Int] {
    zip(rowClasses(logits), labels).map { $0 == $1 ? 1 : 0 }
}

/// Each row's predicted class: the largest logit's, the first of equal ones.
func rowClasses(_ logits: Tensor) -> [Int] {
    let classes = logits.shape[1], s = logits.scalars
    return (0..<logits.shape[0]).map { r in
        var best = 0
        for c in 1..<classes where s[r * classes + c] > s[r * classes + best] { best = c }
        return best
    }
}
