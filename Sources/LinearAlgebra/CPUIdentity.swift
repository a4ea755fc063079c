internal import CCPUID

/// The registers one CPUID leaf returns, as plain integers.
public struct CPUIDRegisters: Sendable, Hashable {
    public var eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32

    public init(eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) {
        (self.eax, self.ebx, self.ecx, self.edx) = (eax, ebx, ecx, edx)
    }
}

/// Instruction-set extensions as CPUID announces them, whether or not the OS enabled their register state.
public struct CPUFeatures: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let avx = CPUFeatures(rawValue: 1 << 0)
    public static let fma = CPUFeatures(rawValue: 1 << 1)
    public static let avx2 = CPUFeatures(rawValue: 1 << 2)
    public static let avx512f = CPUFeatures(rawValue: 1 << 3)
    public static let avx512dq = CPUFeatures(rawValue: 1 << 4)
    public static let avx512bw = CPUFeatures(rawValue: 1 << 5)
    public static let avx512vl = CPUFeatures(rawValue: 1 << 6)
    public static let avx512bf16 = CPUFeatures(rawValue: 1 << 7)
    /// Announced only: usable AMX also needs XCR0 bits 17–18 and Linux's per-process permission; informational.
    public static let amxTile = CPUFeatures(rawValue: 1 << 8)

    /// The AVX-512 subsets OpenBLAS's SkylakeX kernels are written for (Skylake-SP's set).
    public static let avx512Skylake: CPUFeatures = [.avx512f, .avx512dq, .avx512bw, .avx512vl]
    /// Everything whose registers are YMM (need XCR0 bits 1–2).
    static let needsAVXState: CPUFeatures = [.avx, .fma, .avx2]
    /// Everything whose registers are ZMM or opmasks (need XCR0 bits 5–7 as well).
    static let needsAVX512State: CPUFeatures = [.avx512f, .avx512dq, .avx512bw, .avx512vl, .avx512bf16]

    static let names: [(CPUFeatures, String)] = [
        (.avx, "avx"), (.fma, "fma"), (.avx2, "avx2"), (.avx512f, "avx512f"), (.avx512dq, "avx512dq"),
        (.avx512bw, "avx512bw"), (.avx512vl, "avx512vl"), (.avx512bf16, "avx512bf16"), (.amxTile, "amx-tile"),
    ]

    /// The features' lower-case names (as in /proc/cpuinfo, roughly), space-separated.
    public var description: String { Self.names.filter { contains($0.0) }.map(\.1).joined(separator: " ") }
}

/// An x86-64 CPU as CPUID describes it: vendor, display family and model, features, and which register state
/// the OS saves (XCR0).
///
/// Family and model follow Intel's and AMD's rule: the extended family is added when the base family is 15,
/// the extended model is prefixed when the base family is 6 or 15. So Emerald Rapids is family 6 model 207
/// (0xCF) and Zen 4 family 25 model 17, the numbers `lscpu` prints.
public struct CPUIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The 12-character vendor string: "GenuineIntel", "AuthenticAMD", "HygonGenuine", …
    public var vendor: String
    public var family: Int
    public var model: Int
    /// What CPUID announces.
    public var features: CPUFeatures
    /// XCR0 bits 1–2: the OS saves XMM and YMM state, so AVX, FMA and AVX2 may be used.
    public var osSavesAVXState: Bool
    /// XCR0 bits 5–7 (with 1–2): the OS also saves opmask and ZMM state, so AVX-512 may be used.
    public var osSavesAVX512State: Bool

    public init(
        vendor: String, family: Int, model: Int, features: CPUFeatures, osSavesAVXState: Bool = true,
        osSavesAVX512State: Bool = true
    ) {
        self.vendor = vendor
        self.family = family
        self.model = model
        self.features = features
        self.osSavesAVXState = osSavesAVXState
        self.osSavesAVX512State = osSavesAVX512State && osSavesAVXState
    }

    /// Decodes CPUID leaves 0, 1, 7 (subleaf 0) and 7 (subleaf 1) and XCR0.
    public init(
        leaf0: CPUIDRegisters, leaf1: CPUIDRegisters, leaf7: CPUIDRegisters, leaf7Subleaf1: CPUIDRegisters,
        xcr0: UInt64
    ) {
        // The vendor string is EBX, EDX, ECX of leaf 0, four little-endian ASCII bytes each.
        let bytes = [leaf0.ebx, leaf0.edx, leaf0.ecx].flatMap { word in
            [0, 8, 16, 24].map { UInt8(truncatingIfNeeded: word >> UInt32($0)) }
        }
        let signature = leaf1.eax
        let baseFamily = Int(signature >> 8 & 0xF)
        let baseModel = Int(signature >> 4 & 0xF)
        let extendedFamily = Int(signature >> 20 & 0xFF)
        let extendedModel = Int(signature >> 16 & 0xF)
        var features: CPUFeatures = []
        func bit(_ register: UInt32, _ index: UInt32) -> Bool { register >> index & 1 == 1 }
        if bit(leaf1.ecx, 28) { features.insert(.avx) }
        if bit(leaf1.ecx, 12) { features.insert(.fma) }
        if bit(leaf7.ebx, 5) { features.insert(.avx2) }
        if bit(leaf7.ebx, 16) { features.insert(.avx512f) }
        if bit(leaf7.ebx, 17) { features.insert(.avx512dq) }
        if bit(leaf7.ebx, 30) { features.insert(.avx512bw) }
        if bit(leaf7.ebx, 31) { features.insert(.avx512vl) }
        if bit(leaf7Subleaf1.eax, 5) { features.insert(.avx512bf16) }
        if bit(leaf7.edx, 24) { features.insert(.amxTile) }
        self.init(
            vendor: String(decoding: bytes, as: UTF8.self),
            family: baseFamily == 0xF ? baseFamily + extendedFamily : baseFamily,
            model: baseFamily == 6 || baseFamily == 0xF ? extendedModel << 4 | baseModel : baseModel,
            features: features,
            // OSXSAVE (CPUID.1:ECX bit 27) is implied by a non-zero XCR0: cpuid_xcr0 reads it only then.
            osSavesAVXState: xcr0 & 0x6 == 0x6,
            osSavesAVX512State: xcr0 & 0xE6 == 0xE6)
    }

    /// This machine's CPU, read once; nil where there is no CPUID (not x86-64).
    public static let current: CPUIdentity? = {
        func leaf(_ leaf: UInt32, _ subleaf: UInt32 = 0) -> CPUIDRegisters? {
            var r = cpuid_registers()
            guard cpuid_query(leaf, subleaf, &r) == 1 else { return nil }
            return CPUIDRegisters(eax: r.eax, ebx: r.ebx, ecx: r.ecx, edx: r.edx)
        }
        guard let leaf0 = leaf(0), let leaf1 = leaf(1) else { return nil }
        let leaf7 = leaf(7) ?? CPUIDRegisters()
        // Subleaf 1 of leaf 7 exists when leaf 7 subleaf 0 reports a maximum subleaf of at least 1.
        let leaf7Subleaf1 = leaf7.eax >= 1 ? leaf(7, 1) ?? CPUIDRegisters() : CPUIDRegisters()
        return CPUIdentity(leaf0: leaf0, leaf1: leaf1, leaf7: leaf7, leaf7Subleaf1: leaf7Subleaf1, xcr0: cpuid_xcr0())
    }()

    /// Whether the vendor is AMD or Hygon (whose Dhyana cores are Zen 1), which OpenBLAS treats alike.
    public var isAMD: Bool { vendor == "AuthenticAMD" || vendor == "HygonGenuine" }

    /// The features that may actually be used: those announced whose register state the OS also saves.
    public var usableFeatures: CPUFeatures {
        var usable = features
        if !osSavesAVXState { usable.subtract(CPUFeatures.needsAVXState.union(CPUFeatures.needsAVX512State)) }
        if !osSavesAVX512State { usable.subtract(CPUFeatures.needsAVX512State) }
        return usable
    }

    /// "GenuineIntel family 6 model 207 (avx fma avx2 avx512f …)", with the usable features.
    public var description: String { "\(vendor) family \(family) model \(model) (\(usableFeatures))" }
}
