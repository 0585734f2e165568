import Dispatch
import ZooTensor

/// One minibatch: inputs `[B, …]` and their labels.
public struct Batch: Sendable {
    public var inputs: Tensor
    public var labels: [Int]
    public init(inputs: Tensor, labels: [Int]) {
        self.inputs = inputs
        self.labels = labels
    }
}

/// The minibatches of one pass over a data set, in a seeded order, prepared one batch ahead on
/// a background thread while the caller trains on the current one.
///
/// Batch `i` holds samples `order[i·B ..< (i+1)·B]` (the last batch may be smaller); `order` is
/// the identity or a permutation keyed by `shuffleKey`, so a pass is a pure function of the key.
/// Augmentation of sample `j` of the pass is keyed by `augmentationKey.derived(j)`.
public struct BatchLoader: Sequence, Sendable {
    public let data: LabeledData
    public let batchSize: Int
    public let order: [Int]
    public let augmentation: Augmentation?
    public let augmentationKey: RandomKey
    /// Whether to prepare the next batch on a background thread.
    public var prefetch: Bool = true

    public init(data: LabeledData, batchSize: Int, shuffleKey: RandomKey?, augmentation: Augmentation? = nil,
                augmentationKey: RandomKey = RandomKey(seed: 0)) {
        precondition(batchSize >= 1, "BatchLoader: batch size must be at least 1, got \(batchSize)")
        self.data = data
        self.batchSize = batchSize
        self.order = shuffleKey.map { $0.permutation(data.count) } ?? Array(0..<data.count)
        self.augmentation = augmentation
        self.augmentationKey = augmentationKey
    }

    /// The number of batches in the pass.
    public var batchCount: Int { (data.count + batchSize - 1) / batchSize }

    /// Batch `index` of the pass.
    public func batch(_ index: Int) -> Batch {
        precondition(index >= 0 && index < batchCount, "BatchLoader: batch \(index) is out of range 0..<\(batchCount)")
        let range = (index * batchSize)..<Swift.min(data.count, (index + 1) * batchSize)
        let rows = Array(order[range])
        var inputs = data.inputs.gatheringRows(rows)
        if let a = augmentation {
            inputs = a.apply(to: inputs, keys: range.map { augmentationKey.derived($0) })
        }
        return Batch(inputs: inputs, labels: rows.map { data.labels[$0] })
    }

    public func makeIterator() -> Iterator { Iterator(loader: self) }

    public final class Iterator: IteratorProtocol {
        let loader: BatchLoader
        var index = 0
        var pending: (DispatchSemaphore, PrefetchSlot)?

        init(loader: BatchLoader) { self.loader = loader }

        public func next() -> Batch? {
            guard index < loader.batchCount else { return nil }
            let current: Batch
            if let (done, slot) = pending {
                done.wait()
                current = slot.batch!
            } else {
                current = loader.batch(index)
            }
            index += 1
            pending = nil
            if loader.prefetch && index < loader.batchCount {
                let done = DispatchSemaphore(value: 0), slot = PrefetchSlot(), loader = self.loader, i = index
                DispatchQueue.global().async {
                    slot.batch = loader.batch(i)
                    done.signal()
                }
                pending = (done, slot)
            }
            return current
        }
    }
}

/// A batch handed from the prefetching thread to the consumer.
///
/// `@unchecked Sendable` is safe: the producer writes `batch` once, before signalling the
/// semaphore, and the consumer reads it only after waiting on that semaphore, which orders the
/// two accesses; nothing else touches it.
final class PrefetchSlot: @unchecked Sendable {
    var batch: Batch?
}

extension Tensor {
    /// Rows `rows` of axis 0, in that order (not differentiable: for data only).
    public func gatheringRows(_ rows: [Int]) -> Tensor {
        precondition(rank >= 1, "gatheringRows: needs rank ≥ 1, got shape \(shape)")
        let n = shape[0], width = n == 0 ? 0 : count / n
        let out = [Float](unsafeUninitializedCapacity: rows.count * width) { buffer, initialized in
            scalars.withUnsafeBufferPointer { source in
                for (i, r) in rows.enumerated() {
                    precondition(r >= 0 && r < n, "gatheringRows: row \(r) is out of range for shape \(shape)")
                    let dst = buffer.baseAddress! + i * width
                    dst.initialize(from: source.baseAddress! + r * width, count: width)
                }
            }
            initialized = rows.count * width
        }
        return Tensor(shape: [rows.count] + shape.dropFirst(), scalars: out)
    }
}
