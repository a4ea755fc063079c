import Foundation
public import RetrieveCore
import LinearAlgebra
import SpectralFeatures
public import SequenceEncoding

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
    /// - Complexity: O(M · N · d) for M query segments, N reference segments of d dimensions (in BLAS), plus
    ///   O(M · N) for the maxima; memory O(blockRows · N).
    public static func scores(queries: [Matrix], references: [Matrix], scoring: Scoring = .meanOfBest,
                              blockRows: Int = 256) -> Matrix {
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
                        BLAS.gemm(.none, .transposed, m: rows, n: total, k: d, a: pq.baseAddress! + start * d,
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
    public static func bestScores(variants: [[Matrix]], references: [Matrix], scoring: Scoring = .meanOfBest)
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

    /// The pitch offsets, in semitones, at which identification also tries a query besides as recorded.
    ///
    /// The model's segments are not pitch-invariant (a +1 semitone copy finds its source only 31 % of the time on
    /// the test split), so a query is also heard varispeed-shifted by each offset: resampled so that pitch and
    /// tempo move together by 2^(s/12). Varispeed is the simplest shift, not the inverse of any particular pitch
    /// shifter: it undoes the pitch of a time-preserving shift and leaves its tempo off by the same factor
    /// (≤ 9 %), which segment matching tolerates. Half-semitone steps leave any shift within ±1.75 semitones at
    /// most a quarter tone from a try. On the corpus's test split, 10-s excerpts shifted by librosa's phase
    /// vocoder are found first 30 of 30 times at +1 semitone and 23 of 30 at −0.75 (a quarter tone from the
    /// nearest try), against 12 and 11 of 30 without the tries. The price: more chances for a wrong track, so
    /// excerpts with 20 dB of white noise are found first less often (0.81 against 0.92, 6 per track).
    public static let pitchOffsets: [Double] = [-0.5, 0.5, -1, 1, -1.5, 1.5]

    /// The rate to resample audio of `sampleRate` Hz to so that, read back at `sampleRate`, it sounds `semitones`
    /// higher (lower when negative), faster (slower) by the same factor: varispeed.
    public static func varispeedRate(_ sampleRate: Int, semitones: Double) -> Int {
        max(1, Int((Double(sampleRate) / pow(2, semitones / 12)).rounded()))
    }

    /// The highest frequency the robust segment front end keeps: below the 4 kHz low-pass (whose order-4 slope
    /// costs about 1 dB at 3.5 kHz), the 8 kHz of 16 kHz resampling and the MP3 encoder's low-pass.
    public static let robustCutoffHz = 3_500.0

    /// Log-mel windows made insensitive to the bandwidth and level of the recording, for segment matching:
    /// bands centred above `robustCutoffHz` are set to the model's band means (normalised input 0, "typical"),
    /// and the kept bands are shifted by one constant per window so that their mean equals the mean of the
    /// model's band means over them. A −9 dB gain or a low-pass then leaves these windows (nearly) unchanged.
    /// It throws away what the high bands and the absolute level tell apart, and feeds the model inputs it was
    /// not trained on.
    public static func robustWindows(_ windows: [Matrix], configuration: EncoderConfiguration) -> [Matrix] {
        let features = configuration.features
        let bandMean = configuration.bandMean, bands = features.melBands
        let centres = features.melCentreFrequencies
        let kept = (0..<bands).filter { centres[$0] <= robustCutoffHz }
        guard !kept.isEmpty, bandMean.count == bands else { return windows }
        let target = kept.reduce(Float(0)) { $0 + bandMean[$1] } / Float(kept.count)
        return windows.map { w in
            var out = w
            var sum: Float = 0
            for r in 0..<w.rows { for b in kept { sum += w[r, b] } }
            let shift = target - sum / Float(w.rows * kept.count)
            for r in 0..<w.rows {
                for b in 0..<bands { out.storage[r * bands + b] = bandMean[b] }
                for b in kept { out.storage[r * bands + b] = w[r, b] + shift }
            }
            return out
        }
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
