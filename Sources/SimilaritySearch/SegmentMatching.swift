import Foundation
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
/// `alignedVotes` adds the time structure: segments a hop apart in the query should find their best matches a
/// hop apart in the true track. Each query segment `i` votes for the offset `argmax_j ⟨q_i, r_j⟩ − i` (in
/// hops; query and references must be cut at one hop); the score is the largest share of votes within ±1 hop
/// of one offset (so a 3 % tempo change over 10 s still agrees), plus 10⁻³ × the mean-of-best as tie-break.
///
/// The products come from one GEMM per block of query segments against all reference segments stacked;
/// the maxima are one pass over that block.
public enum SegmentMatching {
    /// How the segment-vs-segment cosines become one score per query and track.
    public enum Scoring: String, Sendable, CaseIterable {
        /// `(1/m) Σ_i max_j ⟨q_i, r_j⟩`.
        case meanOfBest
        /// The share of query segments whose best match lies at one time offset (±1 hop).
        case alignedVotes
    }

    /// `queries.count × references.count` scores `s(Q, R)`; a query or reference with no segments scores −∞
    /// against everything (it cannot be matched).
    ///
    /// - Parameters:
    ///   - queries: each query's segment embeddings, one row per segment, rows L2-normalised.
    ///   - references: each track's segment embeddings, same columns.
    ///   - scoring: how best matches become one score.
    ///   - blockRows: query segments per GEMM block (bounds the memory).
    /// - Returns: the `queries.count × references.count` scores.
    /// - Complexity: O(M · N · d) for M query segments, N reference segments of d dimensions (in BLAS), plus
    ///   O(M · N) for the maxima; memory O(blockRows · N).
    public static func scores(
        queries: [Matrix], references: [Matrix], scoring: Scoring = .meanOfBest,
        blockRows: Int = 256
    ) -> Matrix {
        var out = Matrix(rows: queries.count, columns: references.count, repeating: -.infinity)
        guard let d = (references.first { $0.rows > 0 } ?? queries.first { $0.rows > 0 })?.columns else { return out }
        precondition(
            references.allSatisfy { $0.rows == 0 || $0.columns == d }
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
        var owner = [Int](), position = [Int]()
        for (q, m) in queries.enumerated() where m.rows > 0 {
            queryRows += m.storage
            owner += Array(repeating: q, count: m.rows)
            position += Array(0..<m.rows)
        }
        let rowCount = owner.count
        guard rowCount > 0 else { return out }
        // Sums of per-row maxima, per query and reference.
        var sums = [Double](repeating: 0, count: queries.count * references.count)
        // For alignedVotes: the best match's offset (in hops) of each query segment, per reference.
        var bestOffset = [Int32](repeating: 0, count: scoring == .alignedVotes ? rowCount * references.count : 0)
        let block = max(1, blockRows)
        var products = [Float](repeating: 0, count: min(block, rowCount) * total)
        stacked.withUnsafeBufferPointer { ps in
            queryRows.withUnsafeBufferPointer { pq in
                products.withUnsafeMutableBufferPointer { pc in
                    for start in stride(from: 0, to: rowCount, by: block) {
                        let rows = min(block, rowCount - start)
                        BLAS.gemm(
                            .none, .transposed, m: rows, n: total, k: d, a: pq.baseAddress! + start * d,
                            lda: d, b: ps.baseAddress!, ldb: d, c: pc.baseAddress!, ldc: total)
                        for i in 0..<rows {
                            let row = pc.baseAddress! + i * total
                            let base = owner[start + i] * references.count
                            for t in 0..<references.count where offsets[t + 1] > offsets[t] {
                                var best = -Float.infinity, at = offsets[t]
                                for j in offsets[t]..<offsets[t + 1] where row[j] > best {
                                    best = row[j]
                                    at = j
                                }
                                sums[base + t] += Double(best)
                                if scoring == .alignedVotes {
                                    bestOffset[(start + i) * references.count + t] =
                                        Int32(at - offsets[t] - position[start + i])
                                }
                            }
                        }
                    }
                }
            }
        }
        var firstRow = 0
        for (q, m) in queries.enumerated() where m.rows > 0 {
            defer { firstRow += m.rows }
            for t in 0..<references.count where references[t].rows > 0 {
                let meanOfBest = sums[q * references.count + t] / Double(m.rows)
                guard scoring == .alignedVotes else {
                    out.storage[q * references.count + t] = Float(meanOfBest)
                    continue
                }
                var votes: [Int32: Int] = [:]
                for r in firstRow..<(firstRow + m.rows) { votes[bestOffset[r * references.count + t], default: 0] += 1 }
                let agreeing = votes.keys.map { o in (votes[o - 1] ?? 0) + votes[o]! + (votes[o + 1] ?? 0) }.max()!
                out.storage[q * references.count + t] = Float(Double(agreeing) / Double(m.rows) + 1e-3 * meanOfBest)
            }
        }
        return out
    }

    /// Scores of queries tried in several variants (`variants[v][q]` is variant `v` of query `q`, e.g. the query
    /// at each of `pitchOffsets`): per query and track, the best score over the variants.
    public static func bestScores(
        variants: [[Matrix]], references: [Matrix], scoring: Scoring = .meanOfBest
    )
        -> Matrix
    {
        guard let first = variants.first else { return Matrix(rows: 0, columns: references.count) }
        var best = scores(queries: first, references: references, scoring: scoring)
        for variant in variants.dropFirst() {
            precondition(variant.count == first.count, "every variant must hold every query")
            let other = scores(queries: variant, references: references, scoring: scoring)
            for i in best.storage.indices { best.storage[i] = max(best.storage[i], other.storage[i]) }
        }
        return best
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
