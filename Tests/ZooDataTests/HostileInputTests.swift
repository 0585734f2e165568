import Foundation
import Testing
import ZooData
import ZooTensor

/// Hostile data files (issue 11): every size a file declares is bounded before it is allocated,
/// and no file reaches a trap. scripts/test.sh runs these under a memory limit (`ulimit -v`), so
/// a regression fails instead of swapping.
@Suite("Hostile input: data files")
struct HostileInputDataTests {
    static func folder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-hostile-\(UUID())")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func idx(_ dims: [Int], _ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0, 0, 8, UInt8(dims.count)]
        for d in dims { out += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        return out + data
    }

    /// The output of a shell pipeline (used to compress large streams without holding them).
    static func shell(_ command: String) throws -> [UInt8] {
        let p = Process(), pipe = Pipe()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "\(command) failed")
        return [UInt8](data)
    }

    static func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    /// A folder in the MNIST layout with the given images and labels.
    static func mnistFolder(train: ([Int], [UInt8]), trainLabels: [UInt8], test: ([Int], [UInt8]), testLabels: [UInt8]) throws -> URL {
        let dir = folder()
        try Data(idx(train.0, train.1)).write(to: dir.appendingPathComponent("train-images-idx3-ubyte"))
        try Data(idx([trainLabels.count], trainLabels)).write(to: dir.appendingPathComponent("train-labels-idx1-ubyte"))
        try Data(idx(test.0, test.1)).write(to: dir.appendingPathComponent("t10k-images-idx3-ubyte"))
        try Data(idx([testLabels.count], testLabels)).write(to: dir.appendingPathComponent("t10k-labels-idx1-ubyte"))
        return dir
    }

    /// A 32 MB gzip stream behind a header declaring 10 images of 28×28: inflation stops one
    /// byte past the 7,856 bytes the header declares (the issue's 1 MB file inflated to 3.1 GB).
    @Test func gzipDecompressionIsBoundedByTheIDXHeader() throws {
        let dir = Self.folder(), url = dir.appendingPathComponent("bomb.gz")
        let header = Self.idx([10, 28, 28], []).map { String(format: "\\%03o", $0) }.joined()
        try Data(try Self.shell("{ printf '\(header)'; head -c 33554432 /dev/zero; } | gzip -1 -c")).write(to: url)
        let m = Self.message { try IDX.read(contentsOf: url) }
        #expect(m.hasPrefix(url.path) && m.contains("7856 bytes its IDX header declares") && m.contains("stopped after 7857 bytes"), "\(m)")
    }

    @Test func idxDimensionsPastTheLimitAreRefusedBeforeAllocating() {
        let m = Self.message { try IDX.parse(Self.idx([0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], [1, 2, 3]), source: "huge.idx") }
        #expect(m.hasPrefix("huge.idx: ") && m.contains("DataLimits.maximumFileBytes"), "\(m)")
    }

    @Test func npyShapeIsBoundedByTheFileSize() {
        func npy(_ shape: String) -> [UInt8] {
            var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
            while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
            header += "\n"
            return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8) + [0, 0, 0, 0]
        }
        let overflow = Self.message { try NPY.parse(npy("(4611686018427387904, 4)"), source: "o.npy") }
        #expect(overflow.hasPrefix("o.npy: ") && overflow.contains("more bytes than an Int can count"), "\(overflow)")
        let large = Self.message { try NPY.parse(npy("(1000000000000,)"), source: "l.npy") }
        #expect(large.contains("needs 4000000000000 bytes of data but the file holds 4"), "\(large)")
    }

    /// A zip archive of one entry, `data` stored (method 0) or a raw deflate stream (method 8),
    /// declaring `size` bytes once inflated.
    static func zip(name: String, method: Int, data: [UInt8], size: Int) -> [UInt8] {
        func u16(_ v: Int) -> [UInt8] { [UInt8(v & 255), UInt8(v >> 8 & 255)] }
        func u32(_ v: Int) -> [UInt8] { u16(v & 0xFFFF) + u16(v >> 16 & 0xFFFF) }
        let n = Array(name.utf8)
        let local = u32(0x0403_4b50) + u16(20) + u16(0) + u16(method) + u32(0) + u32(0) + u32(data.count) + u32(size) + u16(n.count) + u16(0) + n + data
        let central = u32(0x0201_4b50) + u16(20) + u16(20) + u16(0) + u16(method) + u32(0) + u32(0) + u32(data.count) + u32(size)
            + u16(n.count) + u16(0) + u16(0) + u16(0) + u16(0) + u32(0) + u32(0) + n
        let end = u32(0x0605_4b50) + u16(0) + u16(0) + u16(1) + u16(1) + u32(central.count) + u32(local.count) + u16(0)
        return local + central + end
    }

    @Test func npzEntriesInflateNoMoreThanTheyDeclare() throws {
        let dir = Self.folder()
        // 10 MB of zeros as a raw deflate stream (gzip's, without its 10-byte header and 8-byte trailer).
        let gz = try Self.shell("head -c 10000000 /dev/zero | gzip -1 -c -n")
        let deflate = Array(gz[10..<(gz.count - 8)])
        let bomb = dir.appendingPathComponent("bomb.npz")
        try Data(Self.zip(name: "a.npy", method: 8, data: deflate, size: 1000)).write(to: bomb)
        let m = Self.message { try NPY.readArchive(contentsOf: bomb) }
        #expect(m.hasPrefix(bomb.path + "/a.npy: ") && m.contains("more than the 1000 bytes the archive declares"), "\(m)")
        // An entry declaring 4 GB from 8 bytes: nothing of that size is reserved.
        let liar = dir.appendingPathComponent("liar.npz")
        try Data(Self.zip(name: "a.npy", method: 8, data: [0x01, 0x03, 0x00, 0xfc, 0xff, 1, 2, 3], size: 0xFFFF_FFFE)).write(to: liar)
        let l = Self.message { try NPY.readArchive(contentsOf: liar) }
        #expect(l.contains("holds 3 bytes, expected 4294967294"), "\(l)")
    }

    @Test func trainAndTestImagesOfDifferentSizesGiveAnErrorNamingBoth() throws {
        let dir = try Self.mnistFolder(train: ([2, 3, 3], [UInt8](repeating: 9, count: 18)), trainLabels: [0, 1],
                                       test: ([1, 4, 4], [UInt8](repeating: 9, count: 16)), testLabels: [1])
        let m = Self.message { try IDX.loadFolder(dir) }
        #expect(m.contains("t10k-images-idx3-ubyte") && m.contains("4×4") && m.contains("3×3") && m.contains("help:"), "\(m)")
        let spec = Self.message { try DatasetCatalog.load(DataSpec(name: "idx:\(dir.path)")) }
        #expect(spec.contains("4×4") && spec.contains("3×3"), "\(spec)")
    }

    /// One corrupt label byte (254) among classes 0–2 would make a 255-class model.
    @Test func labelsOutOfRangeAreRefusedNamingTheFile() throws {
        let images = ([4, 1, 1], [UInt8](repeating: 1, count: 4))
        let dir = try Self.mnistFolder(train: images, trainLabels: [0, 1, 2, 254], test: ([1, 1, 1], [1]), testLabels: [1])
        let m = Self.message { try IDX.loadFolder(dir) }
        #expect(m.hasPrefix(dir.appendingPathComponent("train-labels-idx1-ubyte").path) && m.contains("label 254 (sample 3)")
                    && m.contains("255 classes") && m.contains("only 4"), "\(m)")
        // Labels 1...26 (EMNIST Letters, no class 0) are fine.
        let letters = try Self.mnistFolder(train: ([26, 1, 1], [UInt8](repeating: 1, count: 26)), trainLabels: (1...26).map(UInt8.init),
                                           test: ([1, 1, 1], [1]), testLabels: [5])
        #expect(try IDX.loadFolder(letters).train.classCount == 27)
        // The throwing initializer names its source instead of stopping.
        let direct = Self.message { try LabeledData(inputs: Tensor.zeros([2, 3]), labels: [0, 7], classCount: 5, source: "x.bin") }
        #expect(direct == "x.bin: sample 1 has label 7, outside 0..<5", "\(direct)")
        let count = Self.message { try LabeledData(inputs: Tensor.zeros([2, 3]), labels: [0], classCount: 5, source: "x.bin") }
        #expect(count.hasPrefix("x.bin: 1 labels for inputs of shape [2, 3]"), "\(count)")
    }

    @Test func anEmptyTrainingSetIsRefused() throws {
        let dir = try Self.mnistFolder(train: ([0, 2, 2], []), trainLabels: [], test: ([1, 2, 2], [1, 2, 3, 4]), testLabels: [0])
        let m = Self.message { try IDX.loadFolder(dir) }
        #expect(m.contains("train-images-idx3-ubyte: holds no images"), "\(m)")
    }

    @Test func syntheticDataSizeIsBoundedByMemory() {
        do {
            _ = try DatasetCatalog.load(DataSpec(name: "teacher-student", options: ["input-size": "100000", "train": "10000000"]))
            Issue.record("no error")
        } catch let e as DataSpecError {
            #expect(e.option == "train" && e.description.contains("memory available"), "\(e)")
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func dataFilesMustBeRegularFiles() {
        let m = Self.message { try IDX.read(contentsOf: URL(fileURLWithPath: "/dev/zero")) }
        #expect(m == "/dev/zero: is not a regular file", "\(m)")
    }
}
