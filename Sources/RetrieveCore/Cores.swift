import Foundation

/// The number of cores this process may run on: the one count every thread pool of retrieve sizes itself by.
///
/// `ProcessInfo.activeProcessorCount` counts the machine's online cores and ignores the process's CPU affinity,
/// so a job started with `taskset -c 0` (or in a cpuset-limited container) would run two threads on one core —
/// for OpenBLAS, whose idle threads spin, slower than one (8–22 % per training epoch, measured). This takes the
/// smaller of that count and the cores in the calling thread's affinity mask; `RETRIEVE_THREADS` (a positive
/// integer) overrides both.
public enum Cores {
    /// Cores available to this process (≥ 1); read afresh on every call (the affinity may change).
    public static var available: Int {
        if let text = ProcessInfo.processInfo.environment["RETRIEVE_THREADS"], let n = Int(text), n > 0 {
            return n
        }
        return min(max(1, ProcessInfo.processInfo.activeProcessorCount), affinityCount ?? Int.max)
    }

    /// Cores in the calling thread's affinity mask (the `Cpus_allowed` mask of `/proc/thread-self/status`, which
    /// `sched_setaffinity` and `taskset` set), or nil where it cannot be read (not Linux, no /proc).
    public static var affinityCount: Int? {
        guard let status = try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8) else { return nil }
        return affinityCount(status: status)
    }

    /// The cores in a `/proc/…/status` text's `Cpus_allowed:` line (comma-separated 32-bit hex words), or nil.
    public static func affinityCount(status: String) -> Int? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else {
            return nil
        }
        var count = 0
        for word in line.dropFirst("Cpus_allowed:".count).split(separator: ",") {
            guard let bits = UInt32(word.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
            count += bits.nonzeroBitCount
        }
        return count > 0 ? count : nil
    }
}
