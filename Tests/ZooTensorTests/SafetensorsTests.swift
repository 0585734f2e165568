import Foundation
import Testing
import ZooTestSupport
import ZooTensor

@Suite("Safetensors")
struct SafetensorsTests {

    static let sample = NamedTensors([
        ("features.0.weight", Tensor.randomNormal([4, 1, 3, 3], key: RandomKey(seed: 1))),
        ("features.0.bias", Tensor([0.5, -0.25, 1e-30, -.infinity])),
        ("step", Tensor(3)),
        ("empty", Tensor(shape: [0, 5], scalars: [])),
    ])

    func temporaryURL(_ name: String = "t.safetensors") -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-st-\(UUID())")
        try! FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder.appendingPathComponent(name)
    }

    @Test func roundTripIsBitIdenticalAndOrdered() throws {
        let url = temporaryURL()
        try Safetensors.write(Self.sample, metadata: ["config": "{\"a\": 1}", "epoch": "2"], to: url)
        let (tensors, metadata) = try Safetensors.read(from: url)
        #expect(tensors.names == Self.sample.names)
        for (a, b) in zip(tensors.tensors, Self.sample.tensors) {
            #expect(a.shape == b.shape)
            #expect(a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern))
        }
        #expect(metadata == ["config": "{\"a\": 1}", "epoch": "2"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
        #expect(leftovers == ["t.safetensors"], "temporary files left behind: \(leftovers)")
    }

    /// The exact bytes of a one-tensor file, to pin the format.
    @Test func exactBytes() {
        let bytes = Safetensors.encode(NamedTensors([("w", Tensor([1, -2]))]), metadata: ["k": "v"])
        let header = #"{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        var padded = Array(header.utf8)
        while padded.count % 8 != 0 { padded.append(0x20) }
        let expected = [UInt8(padded.count), 0, 0, 0, 0, 0, 0, 0] + padded + [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]
        #expect(bytes == expected)
    }

    @Test func overwriteReplacesTheFile() throws {
        let url = temporaryURL()
        try Safetensors.write(Self.sample, to: url)
        try Safetensors.write(NamedTensors([("only", Tensor([1]))]), to: url)
        #expect(try Safetensors.read(from: url).tensors.names == ["only"])
    }

    /// Each malformed file throws an error naming the source and, where there is one, the key.
    @Test func malformedFilesThrowClearErrors() {
        func header(_ json: String, data: [UInt8] = []) -> [UInt8] {
            let h = Array(json.utf8)
            var n = UInt64(h.count)
            return withUnsafeBytes(of: &n) { Array($0) } + h + data
        }
        let cases: [(String, [UInt8], String)] = [
            ("too short", [1, 2, 3], "too short"),
            ("huge header", [255, 255, 255, 255, 0, 0, 0, 0], "exceeds"),
            ("header past end", [100, 0, 0, 0, 0, 0, 0, 0, 0x7b], "past the end"),
            ("not JSON", header("{nope"), "not valid JSON"),
            ("not an object", header("[1]"), "not a JSON object"),
            ("bad dtype", header(#"{"w":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}"#, data: [0]), "'w'"),
            ("negative shape", header(#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), "shape"),
            ("offsets out of range", header(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]), "outside"),
            ("size mismatch", header(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), "needs 8"),
            ("overlap", header(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), "overlaps"),
            ("trailing data", header(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0, 9]), "cover"),
            ("metadata not strings", header(#"{"__metadata__":{"epoch":3}}"#), "strings"),
            ("missing offsets", header(#"{"w":{"dtype":"F32","shape":[1]}}"#, data: [0, 0, 0, 0]), "data_offsets"),
        ]
        for (name, bytes, fragment) in cases {
            do {
                _ = try Safetensors.decode(bytes, source: "bad.safetensors")
                Issue.record("\(name): no error")
            } catch let error as SafetensorsError {
                #expect("\(error)".hasPrefix("bad.safetensors: "), "\(name): \(error)")
                #expect("\(error)".contains(fragment), "\(name): \(error)")
            } catch {
                Issue.record("\(name): unexpected \(error)")
            }
        }
        #expect(throws: SafetensorsError.self) { _ = try Safetensors.read(from: URL(fileURLWithPath: "/nonexistent/x.safetensors")) }
    }

    @Test func otherDtypesConvertWhenAsked() throws {
        // F64 1.5, I64 −3, BF16 2.0 (0x4000), F16 0.5 (0x3800), U8 200, BOOL 1.
        let json = #"{"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},"c":{"dtype":"BF16","shape":[1],"data_offsets":[16,18]},"d":{"dtype":"F16","shape":[1],"data_offsets":[18,20]},"e":{"dtype":"U8","shape":[1],"data_offsets":[20,21]},"f":{"dtype":"BOOL","shape":[1],"data_offsets":[21,22]}}"#
        var h = Array(json.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var bytes = [UInt8(h.count % 256), UInt8(h.count / 256), 0, 0, 0, 0, 0, 0] + h
        bytes += withUnsafeBytes(of: (1.5 as Double).bitPattern.littleEndian) { Array($0) }
        bytes += withUnsafeBytes(of: UInt64(bitPattern: -3).littleEndian) { Array($0) }
        bytes += [0x00, 0x40, 0x00, 0x38, 200, 1]
        let t = try Safetensors.decode(bytes, convertingToFloat32: true).tensors
        #expect(t.names == ["a", "b", "c", "d", "e", "f"])
        #expect(t.tensors.map(\.scalars) == [[1.5], [-3], [2], [0.5], [200], [1]])
    }

    func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try Python.check("safetensors_check.py", arguments)
    }

    /// Python's `safetensors.numpy.load_file` opens a Zoo file, and Zoo opens a Python file.
    @Test func interoperatesWithPythonSafetensors() throws {
        let url = temporaryURL()
        try Safetensors.write(Self.sample, metadata: ["epoch": "2"], to: url)
        let loaded = try python(["load", url.path])
        try #require(loaded.status == 0, "python3 with the safetensors package is required (run scripts/install-deps.sh): \(loaded.output)")
        let json = try JSONSerialization.jsonObject(with: Data(loaded.output.utf8)) as! [String: Any]
        #expect(json["metadata"] as? [String: String] == ["epoch": "2"])
        let tensors = json["tensors"] as! [String: [String: Any]]
        #expect(Set(tensors.keys) == Set(Self.sample.names))
        let weight = tensors["features.0.weight"]!
        #expect(weight["shape"] as? [Int] == [4, 1, 3, 3])
        #expect(weight["dtype"] as? String == "float32")
        let sum = Self.sample["features.0.weight"]!.scalars.map(Double.init).reduce(0, +)
        #expect(abs((weight["sum"] as! Double) - sum) < 1e-9)
        #expect(tensors["empty"]!["shape"] as? [Int] == [0, 5])

        let other = temporaryURL("py.safetensors")
        let saved = try python(["save", other.path])
        try #require(saved.status == 0, "\(saved.output)")
        // layer.bias is float64: read only when asked to convert.
        #expect(throws: SafetensorsError.self) { _ = try Safetensors.read(from: other) }
        let (read, metadata) = try Safetensors.read(from: other, convertingToFloat32: true)
        #expect(metadata == ["written_by": "python", "epoch": "7"])
        #expect(read["layer.weight"] == Tensor(shape: [2, 3], scalars: [0, 0.25, 0.5, 0.75, 1, 1.25]))
        #expect(read["layer.bias"] == Tensor([-1.5, 2.25]))
        #expect(read["scalar"] == Tensor(3))
    }
}
