import ZooTensor

/// Synthetic classification tasks whose ground truth is known.
public enum Synthetic {
    /// Teacher–student: Gaussian inputs `x ~ N(0, I_d)` labelled by a random one-hidden-layer
    /// teacher, `y = argmax W₂ tanh(W₁ x / √d) / √h` with standard normal W₁ `[h, d]` and W₂
    /// `[k, h]`. The task is realizable by a student of the same architecture.
    public static func teacherStudent(inputSize: Int = 32, teacherHidden: Int = 64, classes: Int = 10,
                                      trainCount: Int = 10_000, testCount: Int = 2_000, key: RandomKey) -> DataSplits {
        precondition(inputSize >= 1 && teacherHidden >= 1 && classes >= 2, "teacherStudent: sizes must be positive and classes ≥ 2")
        let w1 = Tensor.randomNormal([teacherHidden, inputSize], key: key.derived("teacher.w1"))
        let w2 = Tensor.randomNormal([classes, teacherHidden], key: key.derived("teacher.w2"))
        func make(_ n: Int, _ k: RandomKey) -> LabeledData {
            let x = Tensor.randomNormal([n, inputSize], key: k)
            let labels = withoutGradients {
                let h = (matmul(x, w1.transposed()) / Float(inputSize).squareRoot()).tanh()
                return matmul(h, w2.transposed()).argmax(alongAxis: 1).scalars.map { Int($0) }
            }
            return LabeledData(inputs: x, labels: labels, classCount: classes)
        }
        return DataSplits(train: make(trainCount, key.derived("train")), test: make(testCount, key.derived("test")))
    }

    /// The hidden manifold model (Goldt et al. 2019, "Modelling the influence of data structure on
    /// learning in neural networks"): latent `c ~ N(0, I_D)`, inputs `x = tanh(F c / √D)` with a
    /// Gaussian feature matrix F `[N, D]`, and labels from a teacher on the latent:
    /// `y = argmax V c` for V `[k, D]` (for k = 2, the sign of one projection).
    public static func hiddenManifold(latentSize: Int = 10, inputSize: Int = 500, classes: Int = 2,
                                      trainCount: Int = 10_000, testCount: Int = 2_000, key: RandomKey) -> DataSplits {
        precondition(latentSize >= 1 && inputSize >= 1 && classes >= 2, "hiddenManifold: sizes must be positive and classes ≥ 2")
        let f = Tensor.randomNormal([inputSize, latentSize], key: key.derived("features"))
        let v = Tensor.randomNormal([classes, latentSize], key: key.derived("teacher"))
        func make(_ n: Int, _ k: RandomKey) -> LabeledData {
            let c = Tensor.randomNormal([n, latentSize], key: k)
            return withoutGradients {
                let x = (matmul(c, f.transposed()) / Float(latentSize).squareRoot()).tanh()
                let scores = classes == 2 ? Tensor.concatenated([matmul(c, v.sliced(axis: 0, 0..<1).transposed()), Tensor.zeros([n, 1])], axis: 1)
                                          : matmul(c, v.transposed())
                return LabeledData(inputs: x, labels: scores.argmax(alongAxis: 1).scalars.map { Int($0) }, classCount: classes)
            }
        }
        return DataSplits(train: make(trainCount, key.derived("train")), test: make(testCount, key.derived("test")))
    }
}
