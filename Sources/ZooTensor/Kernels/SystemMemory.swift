import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What this process may allocate, for the resource limits that data files and model options are
/// checked against before allocating (DataLimits, ModelLimits).
public enum SystemMemory {
    /// The machine's physical memory, or the address-space limit (`ulimit -v`) when smaller.
    public static var available: Int {
        let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        var limit = rlimit()
        #if os(Linux)
        let status = getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
        #else
        let status = getrlimit(RLIMIT_AS, &limit)
        #endif
        // No limit is RLIM_INFINITY, the largest rlim_t: Int.max once clamped.
        return status == 0 ? min(physical, Int(clamping: limit.rlim_cur)) : physical
    }
}
