import ZooTensor

/// Random image augmentation of training batches `[B, C, H, W]`, each sample with its own key.
public struct Augmentation: Codable, Sendable, Equatable {
    /// Pad each side with this many zeros and crop back to the original size at a random offset
    /// (the CIFAR recipe of He et al. 2016 uses 4); 0 turns cropping off.
    public var cropPadding: Int
    /// Mirror left–right with probability ½.
    public var horizontalFlip: Bool

    public init(cropPadding: Int = 0, horizontalFlip: Bool = false) {
        self.cropPadding = cropPadding
        self.horizontalFlip = horizontalFlip
    }

    public var isIdentity: Bool { cropPadding == 0 && !horizontalFlip }

    /// The batch with sample `i` augmented using `keys[i]`.
    public func apply(to batch: Tensor, keys: [RandomKey]) -> Tensor {
        guard !isIdentity else { return batch }
        precondition(batch.rank == 4, "Augmentation: needs image batches [B, C, H, W], got \(batch.shape)")
        precondition(keys.count == batch.shape[0], "Augmentation: \(keys.count) keys for a batch of \(batch.shape[0])")
        let (b, c, h, w) = (batch.shape[0], batch.shape[1], batch.shape[2], batch.shape[3])
        let p = cropPadding
        var out = [Float](repeating: 0, count: batch.count)
        batch.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<b {
                    let u = keys[i].uniform(count: 3)
                    let dy = p > 0 ? min(Int(u[0] * Float(2 * p + 1)), 2 * p) - p : 0
                    let dx = p > 0 ? min(Int(u[1] * Float(2 * p + 1)), 2 * p) - p : 0
                    let flip = horizontalFlip && u[2] < 0.5
                    for ch in 0..<c {
                        let base = (i * c + ch) * h * w
                        for y in 0..<h {
                            let sy = y + dy
                            guard sy >= 0 && sy < h else { continue }
                            for x in 0..<w {
                                let ox = flip ? w - 1 - x : x
                                let sx = ox + dx
                                if sx >= 0 && sx < w { dst[base + y * w + x] = src[base + sy * w + sx] }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: batch.shape, scalars: out)
    }
}
