/// A single-precision natural logarithm for positive, finite, normal inputs, written so that loops over it
/// vectorise (the dB stage).
///
/// Cephes' `logf` scheme: split x = m · 2ᵉ with m ∈ [√½, √2), then ln(1 + f) for f = m − 1 by a degree-9
/// polynomial, and add e · ln 2 in two parts. Its relative error is about 1e-7 (a few ulps); in dB that is
/// at most 2e-5 at ±100 dB. It does not handle 0, negatives, subnormals, infinities or NaN — callers clamp
/// to `amin` first. Pure arithmetic on fixed constants, so every process and thread computes the same bits.
///
/// The split uses integer arithmetic only: adding 0x3F80_0000 − bits(√½) to x's bits carries into the
/// exponent exactly when the mantissa is at least √½'s, which yields Cephes' m and e without its branch.
/// Written per element on purpose: LLVM vectorises this loop body into SSE lanes, whereas Swift's `SIMD8`
/// versions of the same code (`replacing(with:where:)`, and the polynomial next to it) were compiled lane by
/// lane with branches.
enum FastLog {
    @inline(__always)
    static func naturalLog(_ x: Float) -> Float {
        let shifted = Int32(bitPattern: x.bitPattern) &+ 0x004A_FB0D
        let e = Float((shifted &>> 23) &- 127)
        let m = Float(bitPattern: UInt32(bitPattern: (shifted & 0x007F_FFFF) &+ 0x3F35_04F3))
        let f = m - 1
        let z = f * f
        var y: Float = 7.037_683_629_2e-2
        y = y * f - 1.151_461_031_0e-1
        y = y * f + 1.167_699_874_0e-1
        y = y * f - 1.242_014_084_6e-1
        y = y * f + 1.424_932_278_7e-1
        y = y * f - 1.666_805_766_5e-1
        y = y * f + 2.000_071_476_5e-1
        y = y * f - 2.499_999_399_3e-1
        y = y * f + 3.333_333_117_4e-1
        y = y * f * z
        y += e * -2.121_944_40e-4
        y -= z * 0.5
        return f + y + e * 0.693_359_375
    }
}
