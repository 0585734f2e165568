import Foundation
import Testing
import ZooData
import ZooTensor

@Suite("Modifiers, batching, catalog")
struct ModifierTests {
    static let data = LabeledData(inputs: Tensor.arange(0, 200).reshaped([100, 2]), labels: (0..<100).map { $0 % 5 }, classCount: 5)
    let key = RandomKey(seed: 3)

    @Test func subsetsAndClasses() {
        let s = Self.data.subset(30, key: key)
        #expect(s.count == 30 && Set(s.labels).count > 1)
        #expect(s.inputs == Self.data.subset(30, key: key).inputs)
        for i in 0..<30 { #expect(Int(s.inputs.scalars[2 * i]) / 2 % 5 == s.labels[i], "row and label moved apart") }
        let kept = Self.data.keepingClasses([3, 1])
        #expect(kept.classCount == 2 && kept.count == 40)
        #expect(Set(kept.labels) == [0, 1])
        #expect(Int(kept.inputs.scalars[0]) / 2 % 5 == 1 && kept.labels[0] == 1)
    }

    @Test func labelNoise() {
        let noisy = Self.data.corruptingLabels(fraction: 0.3, key: key)
        let changed = zip(noisy.labels, Self.data.labels).filter { $0 != $1 }.count
        #expect(changed == 30)
        #expect(noisy.labels == Self.data.corruptingLabels(fraction: 0.3, key: key).labels)
        #expect(Self.data.corruptingLabels(fraction: 0, key: key).labels == Self.data.labels)
        #expect(Self.data.corruptingLabels(fraction: 1, key: key).labels.enumerated().allSatisfy { $1 != $0 % 5 })
        let random = Self.data.randomizingLabels(key: key)
        #expect(random.labels.allSatisfy { (0..<5).contains($0) } && random.labels != Self.data.labels)
    }

    @Test func validationSplitAndNormalization() {
        let (train, validation) = Self.data.splittingValidation(20, key: key)
        #expect(train.count == 80 && validation.count == 20)
        let ids = Set((train.inputs.scalars + validation.inputs.scalars).enumerated().filter { $0.offset % 2 == 0 }.map(\.element))
        #expect(ids.count == 100)
        let (m, s) = Self.data.channelStatistics()
        let normalized = Self.data.normalized(mean: m, standardDeviation: s)
        let (m2, s2) = normalized.channelStatistics()
        #expect(m2.allSatisfy { abs($0) < 1e-4 } && s2.allSatisfy { abs($0 - 1) < 1e-4 })
    }

    @Test func batchesCoverEveryRowOnceInASeededOrder() {
        let loader = BatchLoader(data: Self.data, batchSize: 32, shuffleKey: key)
        let batches = Array(loader)
        #expect(batches.map(\.labels.count) == [32, 32, 32, 4])
        let firsts = batches.flatMap { b in stride(from: 0, to: b.inputs.count, by: 2).map { Int(b.inputs.scalars[$0]) / 2 } }
        #expect(firsts.sorted() == Array(0..<100))
        #expect(firsts != Array(0..<100))
        var sequential = BatchLoader(data: Self.data, batchSize: 32, shuffleKey: key)
        sequential.prefetch = false
        #expect(Array(sequential).map(\.inputs) == batches.map(\.inputs))
        #expect(Array(BatchLoader(data: Self.data, batchSize: 100, shuffleKey: nil))[0].inputs == Self.data.inputs)
    }

    @Test func augmentation() {
        let images = Tensor.arange(0, 2 * 1 * 4 * 4).reshaped([2, 1, 4, 4])
        let flip = Augmentation(horizontalFlip: true)
        let keys = [RandomKey(seed: 1), RandomKey(seed: 2)]
        let flipped = flip.apply(to: images, keys: keys)
        for i in 0..<2 {
            let row = Array(flipped.scalars[(i * 16)..<(i * 16 + 4)])
            #expect(row == [Float(i * 16), Float(i * 16 + 1), Float(i * 16 + 2), Float(i * 16 + 3)] || row == [Float(i * 16 + 3), Float(i * 16 + 2), Float(i * 16 + 1), Float(i * 16)])
        }
        let crop = Augmentation(cropPadding: 1).apply(to: images, keys: keys)
        #expect(crop.shape == images.shape)
        #expect(crop == Augmentation(cropPadding: 1).apply(to: images, keys: keys))
        // Every value of a crop is either 0 (padding) or a value of the same image.
        for i in 0..<2 {
            let source = Set(images.scalars[(i * 16)..<(i * 16 + 16)])
            #expect(crop.scalars[(i * 16)..<(i * 16 + 16)].allSatisfy { $0 == 0 || source.contains($0) })
        }
    }

    @Test func catalogAppliesOptionsAndRejectsBadOnes() throws {
        let d = try DatasetCatalog.load(DataSpec(name: "teacher-student", options: ["train": "500", "test": "100", "validation": "50", "label-noise": "0.2", "seed": "4"]))
        #expect(d.train.count == 450 && d.validation?.count == 50 && d.test?.count == 100)
        let again = try DatasetCatalog.load(DataSpec(name: "teacher-student", options: ["train": "500", "test": "100", "validation": "50", "label-noise": "0.2", "seed": "4"]))
        #expect(d.train.labels == again.train.labels)
        let fm = try DatasetCatalog.load(DataSpec(name: "fashion-mnist", options: ["classes": "0,9", "subset": "100", "crop": "2", "flip": "true"]))
        #expect(fm.train.count == 100 && fm.train.classCount == 2 && fm.test?.count == 2000 && fm.augmentation == Augmentation(cropPadding: 2, horizontalFlip: true))
        let m = try DatasetCatalog.load(DataSpec(name: "mnist1d", options: ["shuffle-sequence": "true"]))
        #expect(m.inputShape == [1, 40])
        func message(_ spec: DataSpec) -> String {
            do { _ = try DatasetCatalog.load(spec); return "" } catch { return "\(error)" }
        }
        #expect(message(DataSpec(name: "imagenet")).contains("fashion-mnist"))
        #expect(message(DataSpec(name: "mnist1d", options: ["colour": "red"])).contains("colour"))
        #expect(message(DataSpec(name: "mnist1d", options: ["label-noise": "2"])).contains("label-noise"))
        #expect(message(DataSpec(name: "mnist1d", options: ["subset": "9000"])).contains("subset"))
        #expect(message(DataSpec(name: "mnist1d", options: ["crop": "2"])).contains("crop"))
        #expect(message(DataSpec(name: "idx:/nonexistent")).contains("/nonexistent"))
    }
}
