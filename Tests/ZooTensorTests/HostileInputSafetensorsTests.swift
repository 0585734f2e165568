import Foundation
import Testing
import ZooTensor

/// Hostile safetensors files (issue 11): no tensor is allocated beyond the file's data, and only
/// F32 is read unless the caller asks for conversion. scripts/test.sh runs these under a memory
/// limit (`ulimit -v`).
@Suite("Hostile input: safetensors")
struct HostileInputSafetensorsTests {
    static func file(_ json: String, data: [UInt8] = []) -> [UInt8] {
        var h = Array(json.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        return withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) } + h + data
    }

    static func message(_ bytes: [UInt8], convertingToFloat32: Bool = false) -> String {
        do { _ = try Safetensors.decode(bytes, source: "x.safetensors", convertingToFloat32: convertingToFloat32); return "no error" } catch {
            return "\(error)"
        }
    }

    /// Shapes declaring terabytes over a few bytes of data are refused before anything is allocated.
    @Test func tensorSizesAreBoundedByTheFileSize() {
        let huge = Self.message(Self.file(#"{"w":{"dtype":"F32","shape":[100000,100000],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        #expect(huge.hasPrefix("x.safetensors: tensor 'w': ") && huge.contains("needs 40000000000"), "\(huge)")
        let overflow = Self.message(Self.file(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        #expect(overflow.contains("tensor 'w'") && overflow.contains("too large"), "\(overflow)")
        let offsets = Self.message(Self.file(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,9000000000000]}}"#, data: [0, 0, 0, 0]))
        #expect(offsets.contains("outside the 4 bytes of data"), "\(offsets)")
    }

    /// I32 and BOOL tensors used to be cast to Float silently; now only when the caller asks.
    @Test func dtypesOtherThanF32AreRefusedUnlessConversionIsAsked() throws {
        for (dtype, size) in [("I32", 4), ("BOOL", 1), ("F16", 2), ("F64", 8)] {
            let bytes = Self.file(#"{"w":{"dtype":"\#(dtype)","shape":[1],"data_offsets":[0,\#(size)]}}"#, data: [UInt8](repeating: 1, count: size))
            let m = Self.message(bytes)
            #expect(m.hasPrefix("x.safetensors: tensor 'w': dtype \(dtype), but Zoo reads F32 tensors only; help:"), "\(m)")
            #expect(Self.message(bytes, convertingToFloat32: true) == "no error")
        }
    }

    @Test func filesThatAreNotRegularAreRefused() {
        do { _ = try Safetensors.read(from: URL(fileURLWithPath: "/dev/zero")); Issue.record("no error") } catch {
            #expect("\(error)" == "/dev/zero: is not a regular file", "\(error)")
        }
    }
}
