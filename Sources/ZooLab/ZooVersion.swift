import Foundation
import ZooStore
import ZooTensor

/// Zoo's version, and the provenance of this process's numbers.
public enum ZooVersion {
    /// The package version (bumped with each release).
    public static let package = "0.5.0"

    /// The commit of the checkout this binary was built in, when it was built in one: the
    /// executable's folder and its parents are searched for `.git` (a SwiftPM build lives in
    /// `CHECKOUT/.build/…`) and its HEAD read: the checkout's commit when the process starts
    /// (uncommitted changes are not detected); nil outside a checkout.
    public static let gitCommit: String? = {
        var folder = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<8 {
            let git = folder.appendingPathComponent(".git")
            if let head = try? String(contentsOf: git.appendingPathComponent("HEAD"), encoding: .utf8) {
                let line = head.trimmingCharacters(in: .whitespacesAndNewlines)
                guard line.hasPrefix("ref: ") else { return String(line.prefix(40)) }
                let ref = String(line.dropFirst(5))
                if let commit = try? String(contentsOf: git.appendingPathComponent(ref), encoding: .utf8) {
                    return String(commit.trimmingCharacters(in: .whitespacesAndNewlines).prefix(40))
                }
                let packed = (try? String(contentsOf: git.appendingPathComponent("packed-refs"), encoding: .utf8)) ?? ""
                return packed.split(separator: "\n").first { $0.hasSuffix(" " + ref) }.map { String($0.prefix(40)) }
            }
            folder.deleteLastPathComponent()
        }
        return nil
    }()

    /// The kernel path chosen at run time: "avx512" or "avx2" (Zoo's own C kernels for that
    /// instruction set) or "baseline" (OpenBLAS and portable loops); `ZOO_KERNELS` narrows it.
    public static var kernels: String { BLAS.kernelPath.rawValue }

    /// What produced numbers computed now with `threads` compute threads.
    public static func provenance(threads: Int) -> Provenance {
        Provenance.current(zooVersion: package, gitCommit: gitCommit, kernels: kernels, threads: threads)
    }
}
