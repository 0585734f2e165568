import Foundation
import Testing
import ZooData
import ZooTensor

/// File formats on fixtures these tests write: round trips and malformed files.
@Suite("Data file formats")
struct FormatTests {
    static func folder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-data-\(UUID())")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func idx(_ dims: [Int], _ data: [UInt8], type: UInt8 = 0x08) -> [UInt8] {
        var out: [UInt8] = [0, 0, type, UInt8(dims.count)]
        for d in dims { out += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        return out + data
    }

    /// gzip through the system's gzip, so the reader is checked against an independent writer.
    static func gzip(_ url: URL) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-f", url.path]
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0)
    }

    @Test func idxPlainAndGzipFolder() throws {
        let dir = Self.folder()
        let images = (0..<(3 * 2 * 2)).map { UInt8($0 * 20) }
        try Data(Self.idx([3, 2, 2], images)).write(to: dir.appendingPathComponent("train-images-idx3-ubyte"))
        try Data(Self.idx([3], [2, 0, 1])).write(to: dir.appendingPathComponent("train-labels-idx1-ubyte"))
        try Data(Self.idx([1, 2, 2], [0, 51, 102, 255])).write(to: dir.appendingPathComponent("t10k-images-idx3-ubyte"))
        try Data(Self.idx([1], [4])).write(to: dir.appendingPathComponent("t10k-labels-idx1-ubyte"))
        try Self.gzip(dir.appendingPathComponent("train-images-idx3-ubyte"))
        let array = try IDX.read(contentsOf: dir.appendingPathComponent("train-images-idx3-ubyte.gz"))
        #expect(array == IDXArray(dimensions: [3, 2, 2], bytes: images))
        let splits = try IDX.loadFolder(dir)
        #expect(splits.train.inputs.shape == [3, 1, 2, 2])
        #expect(splits.train.labels == [2, 0, 1])
        #expect(splits.train.classCount == 5)  // the largest label anywhere is 4
        #expect(splits.test.inputs.scalars == [0, 0.2, 0.4, 1])
    }

    @Test func idxMalformed() throws {
        let cases: [([UInt8], String)] = [
            ([1, 0, 8, 1, 0, 0, 0, 1, 5], "magic"),
            (Self.idx([2], [1]), "need 2 bytes"),
            (Self.idx([2], [1, 2], type: 0x0D), "not supported"),
            ([0, 0, 8, 3, 0, 0], "truncated header"),
            ([0, 0], "too short"),
        ]
        for (bytes, fragment) in cases {
            do {
                _ = try IDX.parse(bytes, source: "x.idx")
                Issue.record("no error for \(fragment)")
            } catch {
                #expect("\(error)".hasPrefix("x.idx: ") && "\(error)".contains(fragment), "\(error)")
            }
        }
        let dir = Self.folder()
        try Data(Self.idx([3, 1, 1], [1, 2, 3])).write(to: dir.appendingPathComponent("train-images-idx3-ubyte"))
        try Data(Self.idx([2], [1, 2])).write(to: dir.appendingPathComponent("train-labels-idx1-ubyte"))
        try Data(Self.idx([1, 1, 1], [1])).write(to: dir.appendingPathComponent("t10k-images-idx3-ubyte"))
        try Data(Self.idx([1], [1])).write(to: dir.appendingPathComponent("t10k-labels-idx1-ubyte"))
        #expect(throws: DataFileError.self) { _ = try IDX.loadFolder(dir) }
        do { _ = try IDX.loadFolder(dir) } catch { #expect("\(error)".contains("2 labels for 3 images"), "\(error)") }
        // A truncated gzip file.
        let gz = dir.appendingPathComponent("t10k-labels-idx1-ubyte")
        try Self.gzip(gz)
        let bytes = try Data(contentsOf: dir.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
        try bytes.prefix(bytes.count - 6).write(to: dir.appendingPathComponent("cut.gz"))
        #expect(throws: DataFileError.self) { _ = try IDX.read(contentsOf: dir.appendingPathComponent("cut.gz")) }
        #expect(throws: DataFileError.self) { _ = try IDX.loadFolder(Self.folder()) }
    }

    @Test func cifar() throws {
        var ten: [UInt8] = []
        for label in [3, 9] as [UInt8] { ten += [label] + (0..<3072).map { UInt8(($0 + Int(label)) % 256) } }
        let data = try CIFAR.parse(ten, variant: .cifar10, source: "b.bin")
        #expect(data.inputs.shape == [2, 3, 32, 32] && data.labels == [3, 9] && data.classCount == 10)
        #expect(data.inputs.scalars[1024] == Float((1024 + 3) % 256) / 255)  // first green pixel of sample 0 (label 3)
        var hundred: [UInt8] = [7, 88] + [UInt8](repeating: 255, count: 3072)
        let h = try CIFAR.parse(hundred, variant: .cifar100, source: "c.bin")
        #expect(h.labels == [88] && h.classCount == 100 && h.inputs.scalars.allSatisfy { $0 == 1 })
        hundred.removeLast()
        #expect(throws: DataFileError.self) { _ = try CIFAR.parse(hundred, variant: .cifar100, source: "c.bin") }
        #expect(throws: DataFileError.self) { _ = try CIFAR.parse([10] + [UInt8](repeating: 0, count: 3072), variant: .cifar10, source: "b.bin") }
    }

    static func npy(_ descr: String, shape: String, fortran: Bool = false, data: [UInt8], version: UInt8 = 1) -> [UInt8] {
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
        let prefix = version == 1 ? 10 : 12
        while (prefix + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let n = header.utf8.count
        let length: [UInt8] = version == 1 ? [UInt8(n & 255), UInt8(n >> 8)] : [UInt8(n & 255), UInt8(n >> 8), 0, 0]
        return [0x93] + Array("NUMPY".utf8) + [version, 0] + length + Array(header.utf8) + data
    }

    @Test func npyDtypesVersionsAndOrder() throws {
        let f4 = [Float(1.5), -2].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }
        #expect(try NPY.parse(Self.npy("<f4", shape: "(2,)", data: f4), source: "a.npy") == NPYArray(shape: [2], values: [1.5, -2]))
        let f8be = withUnsafeBytes(of: (0.25 as Double).bitPattern.bigEndian) { Array($0) }
        #expect(try NPY.parse(Self.npy(">f8", shape: "()", data: f8be, version: 2), source: "b.npy").values == [0.25])
        let i8 = withUnsafeBytes(of: Int64(-7).littleEndian) { Array($0) }
        #expect(try NPY.parse(Self.npy("<i8", shape: "(1, 1)", data: i8, version: 3), source: "c.npy") == NPYArray(shape: [1, 1], values: [-7]))
        #expect(try NPY.parse(Self.npy("|u1", shape: "(3,)", data: [0, 128, 255]), source: "d.npy").values == [0, 128, 255])
        #expect(try NPY.parse(Self.npy("|b1", shape: "(2,)", data: [1, 0]), source: "e.npy").values == [1, 0])
        #expect(try NPY.parse(Self.npy("<i2", shape: "(1,)", data: [0xfe, 0xff]), source: "f.npy").values == [-2])
        // Fortran order: a 2×3 matrix stored column by column.
        let columns: [UInt8] = [1, 4, 2, 5, 3, 6]
        #expect(try NPY.parse(Self.npy("|u1", shape: "(2, 3)", fortran: true, data: columns), source: "g.npy").values == [1, 2, 3, 4, 5, 6])
        for (bytes, fragment) in [(Self.npy("<c8", shape: "(1,)", data: [UInt8](repeating: 0, count: 8)), "not supported"),
                                  (Self.npy("<f4", shape: "(3,)", data: f4), "needs 12 bytes"),
                                  (Array("not numpy at all".utf8), "bad magic")] {
            do { _ = try NPY.parse(bytes, source: "bad.npy"); Issue.record("no error: \(fragment)") } catch {
                #expect("\(error)".hasPrefix("bad.npy") && "\(error)".contains(fragment), "\(error)")
            }
        }
    }

    /// An .npz written by NumPy itself (stored and compressed), when python3 with numpy is present.
    @Test func npzFromNumPy() throws {
        let dir = Self.folder()
        let script = """
            import numpy as np, sys
            np.savez(sys.argv[1] + '/plain.npz', a=np.arange(6, dtype=np.float32).reshape(2, 3), b=np.array([1, -2], dtype=np.int64))
            np.savez_compressed(sys.argv[1] + '/packed.npz', x=np.linspace(0, 1, 1000), y=np.asfortranarray(np.arange(6).reshape(2, 3)))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir.path]
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "python3 with numpy is required (run scripts/install-deps.sh)")
        let plain = try NPY.readArchive(contentsOf: dir.appendingPathComponent("plain.npz"))
        #expect(plain["a"] == NPYArray(shape: [2, 3], values: [0, 1, 2, 3, 4, 5]))
        #expect(plain["b"]?.values == [1, -2])
        let packed = try NPY.readArchive(contentsOf: dir.appendingPathComponent("packed.npz"))
        #expect(packed["x"]?.shape == [1000])
        #expect(packed["x"]?.values.last == 1)
        #expect(packed["y"]?.values == [0, 1, 2, 3, 4, 5])
        try Data([1, 2, 3]).write(to: dir.appendingPathComponent("bad.npz"))
        #expect(throws: DataFileError.self) { _ = try NPY.readArchive(contentsOf: dir.appendingPathComponent("bad.npz")) }
    }
}
