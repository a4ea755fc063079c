import Foundation
import LinearAlgebra
import Testing

/// The choice of OpenBLAS core type (`BLASCore.replacement`) on a table of CPUs and OpenBLAS 0.3.21's choices
/// for them, and the CPUID decoding it rests on.
@Suite struct BLASCoreTests {
    static let intel = "GenuineIntel", amd = "AuthenticAMD"
    static let avx2: CPUFeatures = [.avx, .fma, .avx2]
    static let avx512: CPUFeatures = avx2.union(.avx512Skylake)

    struct Case: CustomTestStringConvertible, Sendable {
        var what: String
        var cpu: CPUIdentity
        var openBLASChoice: String
        var userSetting: String? = nil
        var expected: String?
        var testDescription: String { what }
    }

    static let cases: [Case] = [
        // The issue: 0.3.21 falls through to Prescott for family 6 extended models ≥ 11.
        Case(
            what: "Emerald Rapids, AVX-512 and AMX, given Prescott",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 207, features: avx512.union([.avx512bf16, .amxTile])),
            openBLASChoice: "Prescott", expected: "SkylakeX"),
        Case(
            what: "Emerald Rapids whose OS saves no ZMM state",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 207, features: avx512, osSavesAVX512State: false),
            openBLASChoice: "Prescott", expected: "Haswell"),
        Case(
            what: "Raptor Lake (AVX2 only), given Prescott",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 183, features: avx2),
            openBLASChoice: "Prescott", expected: "Haswell"),
        Case(
            what: "an unknown AVX2-only Intel given Core2",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 250, features: avx2),
            openBLASChoice: "Core2", expected: "Haswell"),
        Case(
            what: "Intel family 19 (base family 15 in 0.3.21's switch), given Prescott",
            cpu: CPUIdentity(vendor: intel, family: 19, model: 1, features: avx512),
            openBLASChoice: "Prescott", expected: "SkylakeX"),
        Case(
            what: "Cannon Lake, AVX-512 but given Haswell",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 102, features: avx512),
            openBLASChoice: "Haswell", expected: "SkylakeX"),
        Case(
            what: "an AVX-only CPU given Nehalem",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 200, features: [.avx]),
            openBLASChoice: "Nehalem", expected: "Sandybridge"),
        Case(
            what: "AMD with AVX2 given Prescott gets Zen",
            cpu: CPUIdentity(vendor: amd, family: 26, model: 2, features: avx2),
            openBLASChoice: "Prescott", expected: "Zen"),
        // Known CPUs keep OpenBLAS's choice.
        Case(
            what: "Sapphire Rapids, given Cooperlake",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 143, features: avx512.union(.avx512bf16)),
            openBLASChoice: "Cooperlake", expected: nil),
        Case(
            what: "Skylake-SP, given SkylakeX",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 85, features: avx512),
            openBLASChoice: "SkylakeX", expected: nil),
        Case(
            what: "Coffee Lake, given Haswell",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 158, features: avx2),
            openBLASChoice: "Haswell", expected: nil),
        Case(
            what: "Zen 4 (this project's machine), given Cooperlake",
            cpu: CPUIdentity(vendor: amd, family: 25, model: 17, features: avx512.union(.avx512bf16)),
            openBLASChoice: "Cooperlake", expected: nil),
        Case(
            what: "Zen 2, given Zen",
            cpu: CPUIdentity(vendor: amd, family: 23, model: 49, features: avx2),
            openBLASChoice: "Zen", expected: nil),
        Case(
            what: "Knights Landing (AVX-512F without BW/VL), given Haswell",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 87, features: avx2.union(.avx512f)),
            openBLASChoice: "Haswell", expected: nil),
        Case(
            what: "Excavator (Bulldozer family, identified exactly), left alone",
            cpu: CPUIdentity(vendor: amd, family: 21, model: 101, features: avx2),
            openBLASChoice: "Excavator", expected: nil),
        Case(
            what: "a core name newer than 0.3.21's, left alone",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 207, features: avx512),
            openBLASChoice: "SapphireRapidsPlus", expected: nil),
        Case(
            what: "no AVX at all, Prescott is right",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 200, features: []),
            openBLASChoice: "Prescott", expected: nil),
        Case(
            what: "AVX2 announced but the OS saves no YMM state",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 183, features: avx2, osSavesAVXState: false),
            openBLASChoice: "Prescott", expected: nil),
        // A core type the user set is never replaced, whatever it is.
        Case(
            what: "user set Prescott on Emerald Rapids",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 207, features: avx512),
            openBLASChoice: "Prescott", userSetting: "Prescott", expected: nil),
        Case(
            what: "user set an empty OPENBLAS_CORETYPE",
            cpu: CPUIdentity(vendor: intel, family: 6, model: 207, features: avx512),
            openBLASChoice: "Prescott", userSetting: "", expected: nil),
    ]

    @Test(arguments: cases)
    func replacementCore(_ c: Case) {
        #expect(
            BLASCore.replacement(for: c.cpu, openBLASChoice: c.openBLASChoice, userSetting: c.userSetting)
                == c.expected)
    }

    @Test func coreNamesAreCaseInsensitive() {
        let cpu = CPUIdentity(vendor: Self.intel, family: 6, model: 207, features: Self.avx512)
        #expect(BLASCore.replacement(for: cpu, openBLASChoice: "PRESCOTT", userSetting: nil) == "SkylakeX")
        #expect(BLASCore.replacement(for: cpu, openBLASChoice: "skylakex", userSetting: nil) == nil)
    }

    /// "GenuineIntel" / "AuthenticAMD" as leaf 0 returns them: EBX, EDX, ECX.
    static func vendorLeaf(_ vendor: String) -> CPUIDRegisters {
        let b = Array(vendor.utf8)
        func word(_ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[i + $1]) << UInt32(8 * $1) } }
        return CPUIDRegisters(eax: 0x20, ebx: word(0), ecx: word(8), edx: word(4))
    }

    @Test func decodesEmeraldRapids() {
        // Signature 0x000C06F2: extended model 0xC, family 6, model 0xF, stepping 2.
        let cpu = CPUIdentity(
            leaf0: Self.vendorLeaf("GenuineIntel"),
            leaf1: CPUIDRegisters(eax: 0x000C_06F2, ecx: 1 << 28 | 1 << 27 | 1 << 12),
            leaf7: CPUIDRegisters(eax: 1, ebx: 1 << 5 | 1 << 16 | 1 << 17 | 1 << 30 | 1 << 31, edx: 1 << 24),
            leaf7Subleaf1: CPUIDRegisters(eax: 1 << 5), xcr0: 0x602E7)
        #expect(cpu.vendor == "GenuineIntel")
        #expect(cpu.family == 6 && cpu.model == 207)
        #expect(cpu.usableFeatures == Self.avx512.union([.avx512bf16, .amxTile]))
    }

    @Test func decodesZen4AndHonoursXCR0() {
        // Signature 0x00A10F11: base family 0xF + extended 0xA = 25, model 0x11 = 17.
        let leaf0 = Self.vendorLeaf("AuthenticAMD")
        let leaf1 = CPUIDRegisters(eax: 0x00A1_0F11, ecx: 1 << 28 | 1 << 27 | 1 << 12)
        let leaf7 = CPUIDRegisters(eax: 1, ebx: 1 << 5 | 1 << 16 | 1 << 17 | 1 << 30 | 1 << 31)
        let full = CPUIdentity(leaf0: leaf0, leaf1: leaf1, leaf7: leaf7, leaf7Subleaf1: CPUIDRegisters(), xcr0: 0xE7)
        #expect(full.vendor == "AuthenticAMD" && full.isAMD)
        #expect(full.family == 25 && full.model == 17)
        #expect(full.usableFeatures == Self.avx512)
        // An OS that saves YMM but not ZMM state: AVX-512 is announced but unusable.
        let noZMM = CPUIdentity(leaf0: leaf0, leaf1: leaf1, leaf7: leaf7, leaf7Subleaf1: CPUIDRegisters(), xcr0: 0x7)
        #expect(noZMM.features.isSuperset(of: .avx512Skylake))
        #expect(noZMM.usableFeatures == Self.avx2)
        let noXSAVE = CPUIdentity(leaf0: leaf0, leaf1: leaf1, leaf7: leaf7, leaf7Subleaf1: CPUIDRegisters(), xcr0: 0)
        #expect(noXSAVE.usableFeatures.isEmpty)
    }

    /// This machine's CPUID agrees with the kernel's /proc/cpuinfo on vendor, family, model and AVX flags.
    @Test func currentCPUMatchesProcCPUInfo() throws {
        #if os(Linux) && arch(x86_64)
            let cpu = try #require(CPUIdentity.current)
            let text = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
            let first = text.components(separatedBy: "\n\n")[0]
            func field(_ name: String) -> String? {
                first.split(separator: "\n").first { $0.hasPrefix(name + "\t") || $0.hasPrefix(name + " ") }
                    .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) }
            }
            #expect(field("vendor_id") == cpu.vendor)
            #expect(field("cpu family") == String(cpu.family))
            #expect(field("model") == String(cpu.model))
            let flags = Set((field("flags") ?? "").split(separator: " ").map(String.init))
            #expect(flags.contains("avx2") == cpu.usableFeatures.contains(.avx2))
            #expect(flags.contains("avx512f") == cpu.usableFeatures.contains(.avx512f))
            #expect(flags.contains("avx512bw") == cpu.usableFeatures.contains(.avx512bw))
        #endif
    }

    @Test func coreNameIsReported() {
        #expect(!BLAS.coreName.isEmpty)
        #expect(BLAS.configuration.hasPrefix("OpenBLAS"))
        #expect(BLASCore.summary.hasPrefix(BLAS.coreName))
    }
}
