/// A vectorised single-precision natural logarithm for positive, finite, normal inputs (the dB stage).
///
/// Cephes' `logf` scheme: split x = m · 2ᵉ with m ∈ [√½, √2), then ln(1 + f) for f = m − 1 by a degree-9
/// polynomial, and add e · ln 2 in two parts. Its relative error is about 1e-7 (a few ulps); in dB that is
/// at most 2e-5 at ±100 dB. It does not handle 0, negatives, subnormals, infinities or NaN — callers clamp
/// to `amin` first. Pure arithmetic on fixed constants, so every process and thread computes the same bits.
enum FastLog {
    @inline(__always)
    static func naturalLog(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let bits = unsafeBitCast(x, to: SIMD8<Int32>.self)
        // Exponent e and mantissa m ∈ [0.5, 1).
        var e = SIMD8<Float>((bits &>> 23) &- 126)
        var m = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F00_0000, to: SIMD8<Float>.self)
        // Move m into [√½, √2): below √½, double it and take one from the exponent.
        let small = m .< 0.707_106_781_186_547_524
        e.replace(with: e - 1, where: small)
        m.replace(with: m + m, where: small)
        let f = m - 1
        let z = f * f
        var y = SIMD8<Float>(repeating: 7.037_683_629_2e-2)
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
