import LinearAlgebra
public import RetrieveCore

/// How closely a distilled student reproduces its teacher's view of a set of segments: a diagnostic of
/// distillation, measured on audio the student does not train on (validation tracks, or tracks of labels it
/// never heard), never a training signal.
///
/// Two numbers, each over the segments that have a teacher target:
/// - `headCosine`: the mean cosine between the training-only regression head's output `W e + b` and the
///   teacher's (z-scored, unit) target — how well the feature regression (`Losses.regression`) generalises.
///   nil without a head (`--teacher-regression-weight 0`).
/// - `pairCorrelation`: the Pearson correlation, over every pair of segments of *different* tracks, between
///   the student's cosine of the two embeddings and the teacher's cosine of the two targets — how well the
///   student's geometry, which is all that retrieval uses, follows the teacher's (the relational loss's aim).
///   Pairs within a track are left out: they are similar for both and would inflate the correlation.
public struct TeacherFidelity: Codable, Sendable, Equatable {
    public var headCosine: Float?
    public var pairCorrelation: Float
    /// Segments with a teacher target, and the pairs of them the correlation is taken over.
    public var segments: Int
    public var pairs: Int

    public init(headCosine: Float?, pairCorrelation: Float, segments: Int, pairs: Int) {
        self.headCosine = headCosine
        self.pairCorrelation = pairCorrelation
        self.segments = segments
        self.pairs = pairs
    }

    /// Measures the fidelity of `embeddings` (unit rows, one per segment) to `targets` (unit rows, or all zeros
    /// where a segment has no target), `tracks` naming each segment's track. nil when fewer than two segments of
    /// different tracks have targets; the correlation is NaN when either side's cosines do not vary.
    /// - Complexity: O(n² (E + D)) for n segments with targets (two Gram matrices), O(n · D · E) for the head.
    public static func measure(embeddings: Matrix, targets: Matrix, tracks: [Int], head: RegressionHead?)
        -> TeacherFidelity?
    {
        precondition(embeddings.rows == targets.rows && tracks.count == embeddings.rows,
                     "\(embeddings.rows) embeddings, \(targets.rows) targets and \(tracks.count) track numbers")
        let kept = (0..<targets.rows).filter { r in (0..<targets.columns).contains { targets[r, $0] != 0 } }
        guard Set(kept.map { tracks[$0] }).count >= 2 else { return nil }
        let e = Matrix(rowArrays: kept.map { embeddings.row($0) })
        let t = Matrix(rowArrays: kept.map { targets.row($0) })
        let headCosine = head.map { h in
            1 - Losses.regression(embeddings: e, targets: t, weight: h.weight, bias: h.bias).loss
        }
        let student = BLAS.multiply(e, .none, e, .transposed), teacher = BLAS.multiply(t, .none, t, .transposed)
        var n = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0
        for i in kept.indices {
            for j in (i + 1)..<kept.count where tracks[kept[i]] != tracks[kept[j]] {
                let x = Double(student[i, j]), y = Double(teacher[i, j])
                n += 1; sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y
            }
        }
        let covariance = sxy - sx * sy / n
        let spread = ((sxx - sx * sx / n) * (syy - sy * sy / n)).squareRoot()
        return TeacherFidelity(headCosine: headCosine, pairCorrelation: spread > 0 ? Float(covariance / spread) : .nan,
                               segments: kept.count, pairs: Int(n))
    }

    /// "cos 0.612 r 0.553" (the head's cosine, "-" without a head, and the pair correlation).
    public var summary: String {
        (headCosine.map { String(format: "cos %.3f", $0) } ?? "cos -") + String(format: " r %.3f", pairCorrelation)
    }
}
