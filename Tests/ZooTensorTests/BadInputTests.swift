import Testing
import ZooTensor

/// Misuse stops the process with a message naming the op and the shapes — never a silent wrong
/// result, never an out-of-bounds access. Each case runs in a child process (an exit test).
@Suite("Bad input")
struct BadInputTests {
    static func text(_ result: ExitTest.Result?) throws -> String {
        String(decoding: try #require(result).standardErrorContent, as: UTF8.self)
    }

    @Test func incompatibleBroadcast() async throws {
        let m = try Self.text(await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { _ = Tensor.zeros([2, 3]) + Tensor.zeros([4]) })
        #expect(m.contains("add") && m.contains("[2, 3]") && m.contains("[4]"), "\(m)")
    }

    @Test func matmulInnerExtents() async throws {
        let m = try Self.text(await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { _ = matmul(Tensor.zeros([2, 3]), Tensor.zeros([4, 5])) })
        #expect(m.contains("matmul") && m.contains("[2, 3]") && m.contains("[4, 5]"), "\(m)")
    }

    @Test func axisOutOfRange() async throws {
        let m = try Self.text(await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { _ = Tensor.zeros([2, 3]).sum(alongAxis: 2) })
        #expect(m.contains("sum") && m.contains("axis 2") && m.contains("rank 2"), "\(m)")
    }

    @Test func wrongRank() async throws {
        let m = try Self.text(await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { _ = maxPool2d(Tensor.zeros([3, 8, 8]), kernelSize: (2, 2)) })
        #expect(m.contains("maxPool2d") && m.contains("[3, 8, 8]"), "\(m)")
    }

    @Test func reshapeCount() async throws {
        let m = try Self.text(await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { _ = Tensor.zeros([2, 3]).reshaped([4, 2]) })
        #expect(m.contains("reshaped") && m.contains("[2, 3]") && m.contains("[4, 2]"), "\(m)")
    }

    @Test func sliceOutOfBounds() async throws {
        let m = try Self.text(await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { _ = Tensor.zeros([2, 3]).sliced(axis: 1, 2..<5) })
        #expect(m.contains("sliced") && m.contains("2..<5") && m.contains("[2, 3]"), "\(m)")
    }
}
