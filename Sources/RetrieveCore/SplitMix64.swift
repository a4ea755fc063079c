/// SplitMix64: a small, fast, seeded random number generator.
///
/// Used wherever a result must be reproducible from a seed: weight initialisation, P×K sampling, crops and
/// augmentation, evaluation excerpts and noise, test data. Not cryptographic.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's whole state: a generator made with `init(seed: g.state)` draws what `g` would draw next.
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
