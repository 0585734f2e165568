import Foundation
import ZooTensor

/// Stochastic gradient descent with momentum, exactly as `torch.optim.SGD`:
/// g ← g + λp; b ← μb + (1 − τ)g (b = g on the first step); g ← g + μb (Nesterov) or b; p ← p − ηg.
///
/// PyTorch's momentum form deviates from Sutskever et al. 2013 (who scale the gradient by η inside
/// the velocity); the two agree for a constant learning rate. Weight decay λ is L2 added to g.
public struct SGD: Optimizer {
    public var learningRate: Float
    public var momentum: Float
    public var dampening: Float
    public var nesterov: Bool
    public var weightDecay: Float

    public init(learningRate: Float, momentum: Float = 0, dampening: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    public func initialState(for parameters: NamedTensors) -> NamedTensors {
        Slots.zeros(momentum == 0 ? [] : ["momentum"], for: parameters)
    }

    public func update(parameters: NamedTensors, gradients: NamedTensors, state: NamedTensors, learningRate lr: Float)
        -> (parameters: NamedTensors, state: NamedTensors)
    {
        let first = (state["step"]?.scalar ?? 0) == 0
        let (mu, tau, wd, nesterov) = (momentum, dampening, weightDecay, nesterov)
        return fusedUpdate(parameters: parameters, gradients: gradients, state: state, slots: momentum == 0 ? [] : ["momentum"]) { p, g, s, n in
            // One branch-free loop per case, so that each vectorizes.
            guard mu != 0 else {
                for i in 0..<n { p[i] -= lr * (g[i] + wd * p[i]) }
                return
            }
            let buffer = s[0]
            switch (first, nesterov) {
            case (true, false):
                for i in 0..<n { let d = g[i] + wd * p[i]; buffer[i] = d; p[i] -= lr * d }
            case (true, true):
                for i in 0..<n { let d = g[i] + wd * p[i]; buffer[i] = d; p[i] -= lr * (d + mu * d) }
            case (false, false):
                for i in 0..<n { let d = g[i] + wd * p[i]; let b = mu * buffer[i] + (1 - tau) * d; buffer[i] = b; p[i] -= lr * b }
            case (false, true):
                for i in 0..<n { let d = g[i] + wd * p[i]; let b = mu * buffer[i] + (1 - tau) * d; buffer[i] = b; p[i] -= lr * (d + mu * b) }
            }
        }
    }
}

/// Adam (Kingma & Ba 2015) as `torch.optim.Adam`: m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g²,
/// p ← p − η · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε). Weight decay is L2 added to g.
public struct Adam: Optimizer {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public func initialState(for parameters: NamedTensors) -> NamedTensors { Slots.zeros(["exp_avg", "exp_avg_sq"], for: parameters) }

    public func update(parameters: NamedTensors, gradients: NamedTensors, state: NamedTensors, learningRate lr: Float)
        -> (parameters: NamedTensors, state: NamedTensors)
    {
        adamUpdate(parameters: parameters, gradients: gradients, state: state, lr: lr, beta1: beta1, beta2: beta2, epsilon: epsilon,
                   l2: weightDecay, decoupled: 0)
    }
}

/// AdamW (Loshchilov & Hutter 2019) as `torch.optim.AdamW`: p ← p(1 − ηλ), then the Adam step
/// without L2. Default weight decay 0.01.
public struct AdamW: Optimizer {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 1e-2) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public func initialState(for parameters: NamedTensors) -> NamedTensors { Slots.zeros(["exp_avg", "exp_avg_sq"], for: parameters) }

    public func update(parameters: NamedTensors, gradients: NamedTensors, state: NamedTensors, learningRate lr: Float)
        -> (parameters: NamedTensors, state: NamedTensors)
    {
        adamUpdate(parameters: parameters, gradients: gradients, state: state, lr: lr, beta1: beta1, beta2: beta2, epsilon: epsilon,
                   l2: 0, decoupled: weightDecay)
    }
}

private func adamUpdate(parameters: NamedTensors, gradients: NamedTensors, state: NamedTensors, lr: Float, beta1: Float, beta2: Float,
                        epsilon: Float, l2: Float, decoupled: Float) -> (parameters: NamedTensors, state: NamedTensors) {
    let t = (state["step"]?.scalar ?? 0) + 1
    let correction1 = 1 - Float(pow(Double(beta1), Double(t))), correction2 = 1 - Float(pow(Double(beta2), Double(t)))
    let stepSize = lr / correction1, root2 = correction2.squareRoot()
    return fusedUpdate(parameters: parameters, gradients: gradients, state: state, slots: ["exp_avg", "exp_avg_sq"]) { p, g, s, n in
        let (m, v) = (s[0], s[1])
        for i in 0..<n {
            if decoupled != 0 { p[i] *= 1 - lr * decoupled }
            let d = g[i] + l2 * p[i]
            m[i] = beta1 * m[i] + (1 - beta1) * d
            v[i] = beta2 * v[i] + (1 - beta2) * d * d
            p[i] -= stepSize * m[i] / (v[i].squareRoot() / root2 + epsilon)
        }
    }
}

/// RMSprop (Tieleman & Hinton 2012) as `torch.optim.RMSprop`: s ← αs + (1 − α)g²; centered: a ←
/// αa + (1 − α)g and the denominator √(s − a²) + ε, else √s + ε; with momentum μ:
/// b ← μb + g / denominator, p ← p − ηb; else p ← p − η g / denominator. Weight decay is L2.
public struct RMSprop: Optimizer {
    public var learningRate: Float
    public var alpha: Float
    public var epsilon: Float
    public var momentum: Float
    public var centered: Bool
    public var weightDecay: Float

    public init(learningRate: Float = 1e-2, alpha: Float = 0.99, epsilon: Float = 1e-8, momentum: Float = 0, centered: Bool = false, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.alpha = alpha
        self.epsilon = epsilon
        self.momentum = momentum
        self.centered = centered
        self.weightDecay = weightDecay
    }

    private var slots: [String] { ["square_avg"] + (momentum != 0 ? ["momentum"] : []) + (centered ? ["grad_avg"] : []) }

    public func initialState(for parameters: NamedTensors) -> NamedTensors { Slots.zeros(slots, for: parameters) }

    public func update(parameters: NamedTensors, gradients: NamedTensors, state: NamedTensors, learningRate lr: Float)
        -> (parameters: NamedTensors, state: NamedTensors)
    {
        let (a, eps, mu, wd, centered) = (alpha, epsilon, momentum, weightDecay, centered)
        return fusedUpdate(parameters: parameters, gradients: gradients, state: state, slots: slots) { p, g, s, n in
            let square = s[0]
            let buffer: UnsafeMutablePointer<Float>? = mu != 0 ? s[1] : nil
            let average: UnsafeMutablePointer<Float>? = centered ? s[mu != 0 ? 2 : 1] : nil
            for i in 0..<n {
                let d = g[i] + wd * p[i]
                square[i] = a * square[i] + (1 - a) * d * d
                var denominator: Float
                if let avg = average {
                    avg[i] = a * avg[i] + (1 - a) * d
                    denominator = (square[i] - avg[i] * avg[i]).squareRoot() + eps
                } else {
                    denominator = square[i].squareRoot() + eps
                }
                if let b = buffer {
                    b[i] = mu * b[i] + d / denominator
                    p[i] -= lr * b[i]
                } else {
                    p[i] -= lr * d / denominator
                }
            }
        }
    }
}
