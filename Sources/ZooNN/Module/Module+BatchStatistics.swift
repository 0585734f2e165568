import ZooTensor

extension Module {
    /// Recomputes the running statistics of every batch norm from `batches`, as PyTorch's
    /// `torch.optim.swa_utils.update_bn` does: the statistics are reset (mean 0, variance 1, no
    /// batches tracked), then each batch goes through the network in training mode without
    /// gradients, every batch norm keeping the cumulative average of the batch statistics
    /// (PyTorch's `momentum=None`: after the k-th batch, running = running + (batch − running)/k).
    /// The running mean ends as the mean of the batch means, the running variance as the mean of
    /// the unbiased batch variances, `num_batches_tracked` as the number of batches.
    ///
    /// For weights that the statistics they carry do not belong to: an average or interpolation
    /// of networks (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima"; Frankle et
    /// al. 2020). Dropout is active in these passes, as in PyTorch's (the model is in training
    /// mode), with masks from `key`. Parameters do not change; a model without buffers is left as
    /// it is. Buffers are recognised by PyTorch's names (`running_mean`, `running_var`,
    /// `num_batches_tracked`); in training mode a batch norm's output does not depend on them, so
    /// the batches see the same activations whatever the statistics were before.
    /// - Precondition: every batch has more than one value per channel (training-mode batch norm needs it).
    /// - Complexity: one forward pass per batch.
    package mutating func recomputeBatchStatistics(over batches: [Tensor], key: RandomKey) {
        guard !buffers.isEmpty else { return }
        buffers = NamedTensors(buffers.map { name, t -> (String, Tensor) in
            switch name.split(separator: ".").last {
            case "running_mean", "num_batches_tracked": (name, Tensor.zeros(t.shape))
            case "running_var": (name, Tensor.ones(t.shape))
            default: (name, t)
            }
        })
        withoutGradients {
            for (i, x) in batches.enumerated() {
                var context = ForwardContext.training(key: key.derived(i))
                context.cumulativeStatistics = true
                _ = self(x, context: context)
            }
        }
    }
}
