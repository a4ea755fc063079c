internal import CScanKernels
import LinearAlgebra

/// The dot-product scan behind single-query search: one pass over the stored rows, scores into a buffer.
///
/// `automatic` runs the C kernel's AVX-512F loop where the CPU has it, else its AVX2+FMA loop (checked once, at
/// run time), else OpenBLAS's sgemv, which is faster than the kernel's portable C loop (about 24–28 ms against
/// 29 ms for 10⁶ × 128); `portable` and `avx2` force the other loops so tests cover them on any machine. Either sums in
/// Float with several partial sums per row, so results can differ from a sequential loop in the last bits
/// (about 1e-7 relative for unit vectors of a few hundred dimensions); NaN and infinity propagate as in IEEE
/// arithmetic.
enum ScanKernel: Sendable {
    case automatic
    case portable
    /// The AVX2+FMA loop even where AVX-512 is available (the portable loop where neither is).
    case avx2

    /// `true` if `automatic` uses a vector loop (AVX2+FMA or AVX-512F) on this machine.
    static let hasVectorKernel: Bool = scan_has_avx2_fma() != 0 || scan_has_avx512() != 0
    /// `true` if `automatic` uses the AVX-512F loop on this machine.
    static let hasAVX512Kernel: Bool = scan_has_avx512() != 0

    /// Scores rows `firstRow ..< firstRow + rowCount` of `vectors` (row-major, `dimensions` columns) against
    /// `query` into `scores[0 ..< rowCount]`. The only place the kernel's raw pointers are formed.
    ///
    /// - Complexity: O(rowCount × dimensions)
    @inline(__always)
    func scores(
        _ vectors: UnsafeBufferPointer<Float>, dimensions: Int, firstRow: Int, rowCount: Int,
        query: UnsafeBufferPointer<Float>, into scores: UnsafeMutablePointer<Float>
    ) {
        precondition(query.count == dimensions, "Query has \(query.count) dimensions, vectors have \(dimensions)")
        precondition(firstRow >= 0 && rowCount >= 0 && (firstRow + rowCount) * dimensions <= vectors.count)
        if rowCount == 0 || dimensions == 0 {
            scores.update(repeating: 0, count: rowCount)
            return
        }
        if self == .automatic && !Self.hasVectorKernel {
            BLAS.gemv(
                .none, rows: rowCount, columns: dimensions, a: vectors.baseAddress! + firstRow * dimensions,
                lda: dimensions, x: query.baseAddress!, y: scores)
            return
        }
        scan_dot_scores(
            vectors.baseAddress! + firstRow * dimensions, rowCount, dimensions, query.baseAddress!, scores,
            self == .portable ? SCAN_KERNEL_PORTABLE : self == .avx2 ? SCAN_KERNEL_AVX2 : SCAN_KERNEL_AUTOMATIC)
    }
}
