public import RetrieveCore
import LinearAlgebra

/// Scores a query against reference tracks by matching their segment embeddings one by one, for identifying
/// which track an excerpt was cut from.
///
/// A pooled track vector describes a track's style; two tracks of one style pool to nearly the same vector.
/// Matching segments keeps what pooling throws away: each of the excerpt's segments must find a close
/// counterpart *somewhere* in the track. The score of query `Q` (segments `q_1 … q_m`, rows of unit length)
/// against track `R` (segments `r_1 … r_n`) is
///
///     s(Q, R) = (1/m) Σ_i max_j ⟨q_i, r_j⟩
///
/// the mean, over the query's segments, of the best cosine in the track (a one-sided Chamfer similarity). It
/// lies in [−1, 1] for unit rows, is not symmetric, and does not reward a track for being long: only the best
/// match per query segment counts. The query's segment boundaries need not line up with the track's; a denser
/// hop for the references (the evaluator uses a quarter segment) keeps the nearest reference window close.
///
/// The products come from one GEMM per block of query segments against all reference segments stacked;
/// the maxima are one pass over that block.
public enum SegmentMatching {
    /// `queries.count × references.count` scores `s(Q, R)`; a query or reference with no segments scores −∞
    /// against everything (it cannot be matched).
    ///
    /// - Parameters:
    ///   - queries: each query's segment embeddings, one row per segment, rows L2-normalised.
    ///   - references: each track's segment embeddings, same columns.
    /// - Complexity: O(M · N · d) for M query segments, N reference segments of d dimensions (in BLAS), plus
    ///   O(M · N) for the maxima; memory O(blockRows · N).
    public static func scores(queries: [Matrix], references: [Matrix], blockRows: Int = 256) -> Matrix {
        var out = Matrix(rows: queries.count, columns: references.count, repeating: -.infinity)
        guard let d = (references.first { $0.rows > 0 } ?? queries.first { $0.rows > 0 })?.columns else { return out }
        precondition(references.allSatisfy { $0.rows == 0 || $0.columns == d }
                     && queries.allSatisfy { $0.rows == 0 || $0.columns == d }, "segment matrices differ in width")
        var offsets = [0]
        for r in references { offsets.append(offsets.last! + r.rows) }
        let total = offsets.last!
        guard total > 0 else { return out }
        var stacked = [Float]()
        stacked.reserveCapacity(total * d)
        for r in references where r.rows > 0 { stacked += r.storage }

        // Query segments, stacked, with the query each row belongs to.
        var queryRows = [Float]()
        var owner = [Int]()
        for (q, m) in queries.enumerated() where m.rows > 0 {
            queryRows += m.storage
            owner += Array(repeating: q, count: m.rows)
        }
        let rowCount = owner.count
        guard rowCount > 0 else { return out }
        // Sums of per-row maxima, per query and reference.
        var sums = [Double](repeating: 0, count: queries.count * references.count)
        let block = max(1, blockRows)
        var products = [Float](repeating: 0, count: min(block, rowCount) * total)
        stacked.withUnsafeBufferPointer { ps in
            queryRows.withUnsafeBufferPointer { pq in
                products.withUnsafeMutableBufferPointer { pc in
                    for start in stride(from: 0, to: rowCount, by: block) {
                        let rows = min(block, rowCount - start)
                        BLAS.gemm(.none, .transposed, m: rows, n: total, k: d, a: pq.baseAddress! + start * d,
                                  lda: d, b: ps.baseAddress!, ldb: d, c: pc.baseAddress!, ldc: total)
                        for i in 0..<rows {
                            let row = pc.baseAddress! + i * total
                            let base = owner[start + i] * references.count
                            for t in 0..<references.count where offsets[t + 1] > offsets[t] {
                                var best = -Float.infinity
                                for j in offsets[t]..<offsets[t + 1] { best = max(best, row[j]) }
                                sums[base + t] += Double(best)
                            }
                        }
                    }
                }
            }
        }
        for (q, m) in queries.enumerated() where m.rows > 0 {
            for t in 0..<references.count where references[t].rows > 0 {
                out.storage[q * references.count + t] = Float(sums[q * references.count + t] / Double(m.rows))
            }
        }
        return out
    }

    /// The same score for one pair, by the definition (a reference for tests).
    ///
    /// - Complexity: O(m · n · d).
    public static func naiveScore(query: Matrix, reference: Matrix) -> Float {
        guard query.rows > 0, reference.rows > 0 else { return -.infinity }
        var sum = 0.0
        for i in 0..<query.rows {
            var best = -Float.infinity
            for j in 0..<reference.rows {
                var dot: Float = 0
                for k in 0..<query.columns { dot += query[i, k] * reference[j, k] }
                best = max(best, dot)
            }
            sum += Double(best)
        }
        return Float(sum / Double(query.rows))
    }
}
