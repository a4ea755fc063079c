import Foundation

/// A growable, manually managed Float buffer: the preallocated workspace of the LSTM kernels.
///
/// Kernels pass raw pointers to BLAS every time step; owning the memory in one class avoids nested
/// `withUnsafeMutableBufferPointer` closures and copy-on-write checks in the hot loops.
package final class FloatBuffer {
    package private(set) var pointer: UnsafeMutablePointer<Float>
    package private(set) var capacity: Int

    package init(count: Int = 0) {
        capacity = max(count, 1)
        pointer = .allocate(capacity: capacity)
        pointer.initialize(repeating: 0, count: capacity)
    }

    /// Makes room for `count` floats; contents are unspecified after growing.
    @discardableResult
    package func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = .allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
        }
        return pointer
    }

    package func zero(_ count: Int) { pointer.update(repeating: 0, count: count) }

    package func array(_ count: Int) -> [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    deinit { pointer.deallocate() }
}

/// Vectorised exp, sigmoid and tanh for the LSTM gate loops.
///
/// `exp` is Cephes' single-precision scheme (range reduction by ln 2 in two parts, degree-6 polynomial,
/// exponent by bit manipulation) on 16 lanes; its relative error is below 2e-7 on [−87, 88], inputs
/// outside are clamped (exp saturates to ~1e−38 or ~1.6e38, which the sigmoid and tanh formulas
/// absorb). sigmoid(x) = 1 / (1 + e^−x); tanh(x) = 1 − 2 / (1 + e^{2x}), whose absolute error is below
/// 3e-7 everywhere (relative error grows near 0, which the LSTM does not care about).
/// Foundation's scalar `exp`/`tanh` cost ~20 ns each, which would dominate the step; these cost ~1 ns.
package enum FastMath {
    @inline(__always)
    package static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let x = pointwiseMax(pointwiseMin(x, SIMD16(repeating: 88.3)), SIMD16(repeating: -87.3))
        // Adding 1.5·2²³ rounds x·log2(e) to an integer n held in the low mantissa bits; this avoids a
        // float→int conversion, which generic SIMD does lane by lane.
        let shifted = x * 1.442_695_04 + 12_582_912
        let fx = shifted - 12_582_912
        let r = x - fx * 0.693_359_375 + fx * 2.121_944_40e-4
        let r2 = r * r
        var y = SIMD16<Float>(repeating: 1.987_569_150_0e-4)
        y = y * r + 1.398_199_950_7e-3
        y = y * r + 8.333_451_907_3e-3
        y = y * r + 4.166_579_589_4e-2
        y = y * r + 1.666_666_545_9e-1
        y = y * r + 5.000_000_120_1e-1
        y = y * r2 + r + 1
        // bits(shifted) = 0x4B40_0000 + n, whose low 9 bits are n's: shifting by 23 leaves (n + 127) << 23.
        let scale = unsafeBitCast(
            (unsafeBitCast(shifted, to: SIMD16<UInt32>.self) &+ 127) &<< 23, to: SIMD16<Float>.self)
        return y * scale
    }

    @inline(__always)
    package static func sigmoid(_ x: SIMD16<Float>) -> SIMD16<Float> { 1 / (1 + exp(-x)) }

    @inline(__always)
    package static func tanh(_ x: SIMD16<Float>) -> SIMD16<Float> { 1 - 2 / (1 + exp(x + x)) }

    /// The same scheme on one lane, for tails (and cheap in debug builds, where generic SIMD is slow).
    @inline(__always)
    package static func exp(_ x: Float) -> Float {
        let c = x > 88.3 ? 88.3 : (x < -87.3 ? -87.3 : x)
        let shifted = c * 1.442_695_04 + 12_582_912
        let fx = shifted - 12_582_912
        let r = c - fx * 0.693_359_375 + fx * 2.121_944_40e-4
        var y: Float = 1.987_569_150_0e-4
        y = y * r + 1.398_199_950_7e-3
        y = y * r + 8.333_451_907_3e-3
        y = y * r + 4.166_579_589_4e-2
        y = y * r + 1.666_666_545_9e-1
        y = y * r + 5.000_000_120_1e-1
        y = y * (r * r) + r + 1
        return y * Float(bitPattern: (shifted.bitPattern &+ 127) &<< 23)
    }
    @inline(__always)
    package static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }
    @inline(__always)
    package static func tanh(_ x: Float) -> Float { 1 - 2 / (1 + exp(x + x)) }

    /// p[i] ← sigmoid(p[i]) for i < count.
    ///
    /// A plain loop over the scalar formula: LLVM vectorises it (clamps become selects), whereas generic
    /// `SIMD16` min/max compile to lane-by-lane loops on the baseline x86-64 target.
    package static func sigmoid(_ p: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { p[i] = sigmoid(p[i]) }
    }

    /// dst[i] ← tanh(src[i]) for i < count; `dst` may equal `src`.
    package static func tanh(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dst[i] = tanh(src[i]) }
    }
}
