import Foundation

/// What produced a run's numbers: Zoo's version, the kernel path, the processor, the thread count
/// and the host. Results rerun elsewhere that differ in their last digits can then be told apart.
///
/// Stored as a JSON object (sorted keys) in `runs.provenance`, written by each claim: a run shows
/// the provenance of its latest attempt.
public struct Provenance: Codable, Sendable, Equatable {
    /// The package version.
    public var zooVersion: String
    /// The commit Zoo was built from, when built from a checkout.
    public var gitCommit: String?
    /// The kernel path chosen at run time ("avx512", "baseline", …).
    public var kernels: String
    /// The processor's model name, "unknown" when the system does not say.
    public var cpu: String
    /// The instruction-set flags that change which kernels run (see ``relevantFlags``), in that order.
    public var cpuFlags: [String]
    /// Compute threads.
    public var threads: Int
    public var host: String

    /// The JSON keys, snake case like the store's columns.
    enum CodingKeys: String, CodingKey {
        case zooVersion = "zoo_version", gitCommit = "git_commit", kernels, cpu, cpuFlags = "cpu_flags", threads, host
    }

    public init(zooVersion: String, gitCommit: String?, kernels: String, cpu: String, cpuFlags: [String], threads: Int, host: String) {
        self.zooVersion = zooVersion
        self.gitCommit = gitCommit
        self.kernels = kernels
        self.cpu = cpu
        self.cpuFlags = cpuFlags
        self.threads = threads
        self.host = host
    }

    /// The flags worth recording: those the kernels and the compiler's code paths depend on
    /// (x86-64 `flags`, ARM `Features`).
    public static let relevantFlags = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw",
                                       "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "asimd", "sve", "sve2"]

    /// The provenance of this process. The store knows no tensor code, so the caller says which
    /// kernels run and with how many threads; the processor comes from `cpuInfo` (Linux's
    /// `/proc/cpuinfo`: its first "model name" and the ``relevantFlags`` of its first flags line),
    /// "unknown" and no flags when that file is absent or says nothing.
    public static func current(zooVersion: String, gitCommit: String?, kernels: String, threads: Int,
                               cpuInfo: URL = URL(fileURLWithPath: "/proc/cpuinfo")) -> Provenance {
        let text = (try? String(contentsOf: cpuInfo, encoding: .utf8)) ?? ""
        let (cpu, flags) = parseCPUInfo(text)
        return Provenance(zooVersion: zooVersion, gitCommit: gitCommit, kernels: kernels, cpu: cpu, cpuFlags: flags,
                          threads: threads, host: ProcessInfo.processInfo.hostName)
    }

    /// The model name and the relevant flags of `/proc/cpuinfo`'s text.
    static func parseCPUInfo(_ text: String) -> (cpu: String, flags: [String]) {
        var cpu: String?, flags: Set<String>?
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if cpu == nil, key == "model name", !value.isEmpty { cpu = value }
            if flags == nil, key == "flags" || key == "Features" { flags = Set(value.split(separator: " ").map(String.init)) }
            if cpu != nil, flags != nil { break }
        }
        return (cpu ?? "unknown", relevantFlags.filter { flags?.contains($0) ?? false })
    }

    /// Sorted-keys JSON, as stored.
    package func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The provenance stored as `json`; nil when absent or not a valid provenance object.
    package static func decode(_ json: String?) -> Provenance? {
        json.flatMap { try? JSONDecoder().decode(Provenance.self, from: Data($0.utf8)) }
    }
}
