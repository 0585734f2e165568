import Foundation
import Testing
import ZooData
import ZooTensor

@Suite("Data sets")
struct DatasetTests {
    /// The real Fashion-MNIST from Debian's dataset-fashion-mnist package.
    @Test func fashionMNIST() throws {
        let s = try FashionMNIST.load()
        #expect(s.train.inputs.shape == [60_000, 1, 28, 28])
        #expect(s.test.inputs.shape == [10_000, 1, 28, 28])
        #expect(s.train.classCount == 10)
        #expect(s.train.classCounts == [Int](repeating: 6_000, count: 10))
        #expect(s.train.inputs.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(s.train.inputs.scalars.contains(1))
    }

    @Test func fashionMNISTMissingSaysHowToInstall() {
        do {
            _ = try FashionMNIST.load(directory: nil, environment: ["ZOO_DATA": "/nonexistent"])
        } catch {
            // Debian's folder exists here, so a bad explicit folder is the way to see the error.
        }
        do {
            _ = try FashionMNIST.load(directory: URL(fileURLWithPath: "/nonexistent/fm"), environment: [:])
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("/nonexistent/fm"))
        }
        let places = FashionMNIST.candidates(directory: nil, environment: ["ZOO_DATA": "/data"]).map(\.path)
        #expect(places == ["/data", "/data/fashion-mnist", "/usr/share/datasets/fashion-mnist"])
    }

    @Test func mnist1d() {
        let a = MNIST1D.generate()
        #expect(a.train.inputs.shape == [4000, 1, 40] && a.test.inputs.shape == [1000, 1, 40])
        #expect(a.train.classCounts.allSatisfy { $0 > 340 && $0 < 460 }, "\(a.train.classCounts)")
        let all = a.train.inputs.scalars + a.test.inputs.scalars
        let mean = all.reduce(0, +) / Float(all.count)
        #expect(abs(mean) < 1e-4)
        #expect(a.train.inputs == MNIST1D.generate().train.inputs)
        var other = MNIST1D.Configuration.standard
        other.seed = 7
        #expect(MNIST1D.generate(configuration: other).train.inputs != a.train.inputs)
        // Spatial shuffling applies one permutation to every sample: sorting each row's values
        // gives the same multiset as the unshuffled data.
        let s = MNIST1D.generate(shuffleSequence: true)
        #expect(s.train.labels == a.train.labels)
        for i in [0, 17, 3999] {
            let row = Array(a.train.inputs.scalars[(i * 40)..<(i * 40 + 40)]).sorted()
            let shuffledRow = Array(s.train.inputs.scalars[(i * 40)..<(i * 40 + 40)]).sorted()
            #expect(zip(row, shuffledRow).allSatisfy { abs($0 - $1) < 1e-5 })
        }
        #expect(s.train.inputs != a.train.inputs)
    }

    /// The task is learnable but not trivial: nearest class mean on the test set lands well above
    /// chance (10 %) and well below the CNN's ≈ 94 %.
    @Test func mnist1dNearestMeanIsModerate() {
        let d = MNIST1D.generate()
        var means = [[Float]](repeating: [Float](repeating: 0, count: 40), count: 10)
        for (i, l) in d.train.labels.enumerated() { for j in 0..<40 { means[l][j] += d.train.inputs.scalars[i * 40 + j] / 400 } }
        var correct = 0
        for (i, l) in d.test.labels.enumerated() {
            let x = d.test.inputs.scalars[(i * 40)..<(i * 40 + 40)]
            let distances = means.map { m in zip(m, x).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) }
            if distances.firstIndex(of: distances.min()!) == l { correct += 1 }
        }
        let accuracy = Float(correct) / 1000
        #expect(accuracy > 0.15 && accuracy < 0.6, "nearest-mean accuracy \(accuracy)")
    }

    /// Values printed by SciPy 1.17: `gaussian_filter1d(np.eye(1, 20, 10)[0], 2)` at 10, 12, 14 and
    /// `gaussian_filter([1, 2, 3, 4, 5, 6, 7, 0, 0, 9], 2)` at both ends (reflect mode).
    @Test func gaussianFilterMatchesSciPy() {
        let impulse = (0..<20).map { $0 == 10 ? 1.0 : 0 }
        let y = MNIST1D.gaussianFilter(impulse, sigma: 2)
        #expect(abs(y[10] - 0.199474647864745) < 1e-9)
        #expect(abs(y[12] - 0.12098748976534904) < 1e-9)
        #expect(abs(y[14] - 0.026995957967298846) < 1e-9)
        let z = MNIST1D.gaussianFilter([1, 2, 3, 4, 5, 6, 7, 0, 0, 9], sigma: 2)
        #expect(abs(z[0] - 2.1570718636625905) < 1e-9)
        #expect(abs(z[9] - 4.30360071168922) < 1e-9)
    }

    @Test func synthetic() {
        let t = Synthetic.teacherStudent(inputSize: 8, teacherHidden: 16, classes: 4, trainCount: 1000, testCount: 100, key: RandomKey(seed: 1))
        #expect(t.train.inputs.shape == [1000, 8] && t.test.count == 100 && t.train.classCount == 4)
        #expect(t.train.classCounts.allSatisfy { $0 > 50 }, "\(t.train.classCounts)")
        let h = Synthetic.hiddenManifold(latentSize: 5, inputSize: 50, classes: 2, trainCount: 500, testCount: 50, key: RandomKey(seed: 2))
        #expect(h.train.inputs.shape == [500, 50])
        #expect(h.train.inputs.scalars.allSatisfy { abs($0) <= 1 })
        #expect(h.train.classCounts.allSatisfy { $0 > 150 }, "\(h.train.classCounts)")
        #expect(Synthetic.teacherStudent(key: RandomKey(seed: 1)).train.labels == Synthetic.teacherStudent(key: RandomKey(seed: 1)).train.labels)
    }
}
