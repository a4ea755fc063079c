internal import CBLAS

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The choice of OpenBLAS's core type (its kernel set, `OPENBLAS_CORETYPE`) where OpenBLAS misidentifies the CPU.
///
/// Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) picks its kernels in a shared-library constructor, before `main`,
/// from the CPU's vendor, family and model (driver/others/dynamic.c, `get_coretype`), or from
/// `OPENBLAS_CORETYPE` when that is set. Two gaps there cost us a factor of about five in sgemm:
/// - Intel family 6 with an extended model of 11 or more (Raptor Lake 183/186/191, Lunar Lake 189, Arrow Lake
///   197/198, Emerald Rapids 207, …) falls out of the family-6 `switch` into the Pentium 4 case and gets
///   **Prescott** (fixed upstream in 0.3.25, commit e12aaed1);
/// - Intel families above 15 (Diamond Rapids 19, …) are switched on the base family 15: **Prescott** too.
/// Every other unknown CPU falls back to a choice by features (Cooperlake, SkylakeX, Haswell, Sandybridge),
/// which is fine. So before work starts (in `retrieve`: before any command that may call BLAS),
/// ``ensureBestCore()`` compares OpenBLAS's choice with what the CPU can run, and where it is worse sets
/// `OPENBLAS_CORETYPE` and runs the program again from the start.
public enum BLASCore {
    /// The variable OpenBLAS reads; a value the user set is never replaced.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Set, to OpenBLAS's own choice, in the environment of the run that ``ensureBestCore()`` starts: it
    /// stops a second re-run and lets ``summary`` say what happened.
    public static let ownChoiceVariable = "RETRIEVE_OPENBLAS_OWN_CORE"

    /// What a core type's kernels need, in ascending order.
    enum Level: Int, Comparable {
        case sse, avx, avx2, avx512
        static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    /// The level of an OpenBLAS x86-64 core name (0.3.21's table, case-insensitive), or nil for a name we
    /// leave alone: the Bulldozer family, which OpenBLAS identifies exactly by family and which mixes FMA4
    /// with AVX2, and names newer versions may add.
    static func level(ofCore name: String) -> Level? {
        switch name.lowercased() {
        case "unknown", "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn",
            "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "nano", "bobcat":
            return .sse
        case "sandybridge": return .avx
        case "haswell", "zen": return .avx2
        case "skylakex", "cooperlake", "sapphirerapids": return .avx512
        default: return nil
        }
    }

    /// The best core type OpenBLAS 0.3.21 has for what the CPU can use, and its level, or nil below AVX.
    ///
    /// SkylakeX needs AVX-512 F, DQ, BW and VL with ZMM state saved by the OS. (Cooperlake, which 0.3.21 picks
    /// itself where AVX512-BF16 exists, has the same single-precision kernels and differs only in the bf16
    /// ones, and 0.3.21 cannot be asked for it by name: its `force_coretype` stops one entry short.)
    /// AVX2 with FMA gets Zen on AMD and Hygon, as OpenBLAS itself gives them, Haswell elsewhere.
    static func bestCore(for cpu: CPUIdentity) -> (name: String, level: Level)? {
        let usable = cpu.usableFeatures
        if usable.isSuperset(of: .avx512Skylake) { return ("SkylakeX", .avx512) }
        if usable.isSuperset(of: [.avx, .avx2, .fma]) { return (cpu.isAMD ? "Zen" : "Haswell", .avx2) }
        if usable.contains(.avx) { return ("Sandybridge", .avx) }
        return nil
    }

    /// The core type to ask OpenBLAS for instead of the one it chose, or nil to keep its choice.
    ///
    /// Nil when the user set `OPENBLAS_CORETYPE` (`userSetting` non-nil, even empty), when OpenBLAS's choice
    /// is not one we rank (see `level(ofCore:)`), and when it already uses what the CPU can run. On AMD Zen 4
    /// 0.3.21 picks Cooperlake, which is kept: see bench/README.md for the measurement.
    ///
    /// - Parameters:
    ///   - cpu: the CPU as CPUID describes it.
    ///   - openBLASChoice: `openblas_get_corename()` as OpenBLAS initialised itself.
    ///   - userSetting: the value of `OPENBLAS_CORETYPE` in the environment, if any.
    /// - Returns: the core type to re-execute with, or nil to keep OpenBLAS's own choice.
    public static func replacement(for cpu: CPUIdentity, openBLASChoice: String, userSetting: String?) -> String? {
        guard userSetting == nil, let chosen = level(ofCore: openBLASChoice), let best = bestCore(for: cpu),
            chosen < best.level
        else { return nil }
        return best.name
    }

    /// Makes sure this process runs OpenBLAS's best kernels for the CPU. Call it first thing in `main`,
    /// before anything else runs or prints.
    ///
    /// When ``replacement(for:openBLASChoice:userSetting:)`` names a better core, this sets
    /// `OPENBLAS_CORETYPE` to it and replaces the process with a fresh run of the same executable
    /// (`execv("/proc/self/exe")`) with the same arguments byte for byte and the same open descriptors, so
    /// standard input and output, the exit status and the process id are the caller's. OpenBLAS reads the
    /// variable in its constructor, before `main`, so no in-process switch can take effect. The new run
    /// carries `RETRIEVE_OPENBLAS_OWN_CORE` and never re-runs again. If the exec fails (no /proc), the
    /// environment is restored and the program carries on, silently, with OpenBLAS's own choice.
    ///
    /// Does nothing off Linux x86-64.
    public static func ensureBestCore() {
        #if os(Linux) && arch(x86_64)
            guard getenv(ownChoiceVariable) == nil, let cpu = CPUIdentity.current else { return }
            let userSetting = getenv(coreTypeVariable).map { String(cString: $0) }
            let ownChoice = BLAS.coreName
            guard let core = replacement(for: cpu, openBLASChoice: ownChoice, userSetting: userSetting) else { return }
            setenv(ownChoiceVariable, ownChoice, 1)
            setenv(coreTypeVariable, core, 1)
            // argv exactly as the kernel passed it (no UTF-8 repair), terminated by a null pointer.
            let argc = Int(CommandLine.argc)
            var argv = (0..<argc).map { CommandLine.unsafeArgv[$0] }
            argv.append(nil)
            execv("/proc/self/exe", &argv)
            unsetenv(coreTypeVariable)
            unsetenv(ownChoiceVariable)
        #endif
    }

    /// One line for benchmark headers: the core in use and how it was chosen, e.g.
    /// "SkylakeX (set by retrieve; OpenBLAS 0.3.21 chose Prescott for GenuineIntel family 6 model 207 (…))".
    public static var summary: String {
        let version = BLAS.configuration.split(separator: " ").prefix(2).joined(separator: " ")
        let cpu = CPUIdentity.current.map { " for \($0)" } ?? ""
        if let own = getenv(ownChoiceVariable).map({ String(cString: $0) }) {
            return "\(BLAS.coreName) (set by retrieve; \(version) chose \(own)\(cpu))"
        }
        if let user = getenv(coreTypeVariable).map({ String(cString: $0) }) {
            return "\(BLAS.coreName) (\(coreTypeVariable)=\(user); \(version)\(cpu))"
        }
        return "\(BLAS.coreName) (\(version)'s own choice\(cpu))"
    }
}

extension BLAS {
    /// The OpenBLAS core type (kernel set) this process runs, `openblas_get_corename()`: "Haswell",
    /// "SkylakeX", "Zen", …
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's build description, `openblas_get_config()`: "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH …".
    public static var configuration: String { String(cString: openblas_get_config()) }
}
