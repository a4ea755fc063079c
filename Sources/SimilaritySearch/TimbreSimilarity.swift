import Foundation
public import RetrieveCore

/// How alike two tracks' timbres are (`TimbreGaussian`), and how that joins the model's cosine.
///
/// - **Distance**: the Jensen–Shannon divergence of two Gaussians, approximated through their merged Gaussian
///   (mean halfway, covariance the mean of both plus the outer product of half the mean difference):
///   `JS = ½ log det Σₘ − ¼ (log det Σ₁ + log det Σ₂)`, and its square root as the distance (0 for equal models).
/// - **Mutual proximity** (Schnitzer et al., ISMIR 2011): each track's distances to a set of others give it a
///   mean μ and standard deviation σ (`Normalisation`); the similarity of a and b is the probability, under
///   both tracks' normal distributions of distances, that a third track lies farther from each of them:
///   `P(X > d | a) · P(X > d | b)`, in [0, 1]. It undoes hubness, where a few tracks with broad models are
///   close to everything.
/// - **Hybrid**: the model's cosines and the timbre similarities of one query, each standardised over the
///   query's candidates (its own mean and standard deviation), mixed as `(1 − w) · model + w · timbre`
///   (`hybrid`). Standardising per query puts the two scales on one footing without any collection-wide
///   statistics, and leaves each system's own ranking of a query's candidates unchanged.
///
/// The three steps are those of Musly's `timbre` method, written here from the published formulas; our MFCCs
/// come from the model's own log-mel and leave out MFCC 0 (`TimbreGaussian`). Each track has two Gaussians, one
/// of all bands and one of the bands below `TimbreGaussian.lowBandLimit`, and two tracks are as alike as the
/// closer of the two comparisons says (`combined`): the full band carries the brightness that tells styles
/// apart, and the low band still recognises a low-passed or band-limited copy of a recording, whose full-band
/// Gaussian the missing top moves far away.
public enum TimbreSimilarity {
    /// w of `hybrid`: the timbre similarity's weight beside the model's cosine (chosen by leave-labels-out,
    /// bench/README.md "quality").
    public static let hybridWeight = 0.4

    /// The square root of the Jensen–Shannon divergence of `a` and `b` (see the type's notes); +∞ when the merged
    /// covariance is not positive definite (not for models `TimbreGaussian` made).
    ///
    /// - Complexity: O(d³ / 3), a Cholesky factorisation of the merged covariance.
    public static func distance(_ a: TimbreGaussian, _ b: TimbreGaussian) -> Double {
        if a == b { return 0 }
        let d = a.dimensions
        precondition(b.dimensions == d, "timbre models of \(d) and \(b.dimensions) dimensions")
        // The merged covariance's lower triangle, factorised in place in scratch space on the stack.
        let logDeterminant = withUnsafeTemporaryAllocation(of: Double.self, capacity: d * d + d) { scratch in
            let merged = scratch.baseAddress!, half = merged + d * d
            a.mean.withUnsafeBufferPointer { ma in
                b.mean.withUnsafeBufferPointer { mb in
                    for i in 0..<d { half[i] = 0.5 * (ma[i] - mb[i]) }
                }
            }
            a.covariance.withUnsafeBufferPointer { ca in
                b.covariance.withUnsafeBufferPointer { cb in
                    for i in 0..<d {
                        let di = half[i]
                        for j in 0...i { merged[i * d + j] = 0.5 * (ca[i * d + j] + cb[i * d + j]) + di * half[j] }
                    }
                }
            }
            return TimbreGaussian.logDeterminant(overwriting: merged, dimensions: d)
        }
        guard let logDeterminant else { return .infinity }
        let divergence = 0.5 * logDeterminant - 0.25 * (a.logDeterminant + b.logDeterminant)
        return divergence.isFinite ? max(0, divergence).squareRoot() : .infinity
    }

    /// All distances among `models`, row-major `n × n` (symmetric, 0 on the diagonal); a pair with a missing
    /// model gets NaN.
    ///
    /// - Complexity: O(n² · d³ / 6), split over the available cores.
    public static func distances(_ models: [TimbreGaussian?]) -> [Double] {
        distances(models, to: models, symmetric: true)
    }

    /// Distances from every model of `queries` (rows) to every model of `references` (columns), row-major; NaN
    /// where either is missing.
    public static func distances(_ queries: [TimbreGaussian?], to references: [TimbreGaussian?]) -> [Double] {
        distances(queries, to: references, symmetric: false)
    }

    private static func distances(
        _ queries: [TimbreGaussian?], to references: [TimbreGaussian?], symmetric: Bool
    )
        -> [Double]
    {
        let n = queries.count, m = references.count
        var out = Pairwise.matrix(rows: n, columns: m, symmetric: symmetric) { i, j in
            guard let a = queries[i], let b = references[j] else { return .nan }
            return distance(a, b)
        }
        if symmetric { for i in 0..<n where queries[i] != nil { out[i * m + i] = 0 } }
        return out
    }

    /// A track's distances to the others of a set: their mean and sample standard deviation, for mutual
    /// proximity.
    public struct Normalisation: Sendable, Equatable, Codable {
        public var mean: Double
        public var deviation: Double

        /// Over the finite values of `distances` (a track's distances to the others, its own left out by the
        /// caller); the deviation is at least 1e-9 so that a set of equal distances still divides. Nil for fewer
        /// than two finite values.
        public init?(distances: some Sequence<Double>) {
            let values = distances.filter(\.isFinite)
            guard values.count >= 2 else { return nil }
            let m = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)
            mean = m
            deviation = max(1e-9, variance.squareRoot())
        }

        public init(mean: Double, deviation: Double) {
            self.mean = mean
            self.deviation = deviation
        }

        /// P(X > d) for X ~ N(mean, deviation²).
        func farther(_ d: Double) -> Double { 0.5 * erfc((d - mean) / (deviation * 2.0.squareRoot())) }
    }

    /// Mutual proximity of two tracks at distance `d`: `P(X > d | a) · P(X > d | b)`, larger = more alike.
    public static func mutualProximity(_ d: Double, _ a: Normalisation, _ b: Normalisation) -> Double {
        a.farther(d) * b.farther(d)
    }

    /// Each of `n` tracks' normalisation by its distances to the other `n − 1` (row-major `n × n` distances, as
    /// `distances(_:)` makes them); nil for a track with fewer than two finite distances.
    public static func normalisations(distances: [Double], count n: Int) -> [Normalisation?] {
        precondition(distances.count == n * n, "expected \(n) × \(n) distances")
        return (0..<n).map { i in
            Normalisation(distances: (0..<n).lazy.filter { $0 != i }.map { distances[i * n + $0] })
        }
    }

    /// The mutual-proximity similarity matrix of `n` tracks from their distance matrix (row-major `n × n`), each
    /// track normalised by its distances to the other `n − 1` (`normalisations`): what Musly computes when every
    /// track is in its style set. Row-major `n × n`; NaN for a pair with a missing distance, and 1 on the diagonal.
    public static func mutualProximity(distances: [Double], count n: Int) -> [Double] {
        let norms = normalisations(distances: distances, count: n)
        var out = [Double](repeating: .nan, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                if i == j {
                    out[i * n + j] = 1
                    continue
                }
                guard let a = norms[i], let b = norms[j], distances[i * n + j].isFinite else { continue }
                out[i * n + j] = mutualProximity(distances[i * n + j], a, b)
            }
        }
        return out
    }

    /// The timbre similarity of tracks described twice (full band and low band): for each pair the larger of the
    /// two mutual proximities (NaN only where both are). Row-major, as the inputs.
    public static func combined(_ full: [Double], _ lowBand: [Double]) -> [Double] {
        precondition(full.count == lowBand.count, "\(full.count) and \(lowBand.count) similarities")
        return zip(full, lowBand).map(combined)
    }

    /// One pair's `combined` similarity: the larger of the two band ranges', the one that exists when the other
    /// is NaN, NaN only when both are.
    public static func combined(_ full: Double, _ lowBand: Double) -> Double {
        full.isNaN ? lowBand : lowBand.isNaN ? full : max(full, lowBand)
    }

    /// The mean and (population) standard deviation of a query's scores over its candidates, by which
    /// `standardised` and `mixed` put a system's scores on the common scale.
    public struct Spread: Sendable, Equatable {
        public var mean: Double
        public var deviation: Double

        public init(mean: Double, deviation: Double) {
            self.mean = mean
            self.deviation = deviation
        }

        /// Over the finite values of `scores`; nil for fewer than two, or when they are all equal.
        public init?(_ scores: some Sequence<Double>) {
            let values = scores.filter(\.isFinite)
            guard values.count >= 2 else { return nil }
            let n = Double(values.count), m = values.reduce(0, +) / n
            let s = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / n).squareRoot()
            guard s > 0 else { return nil }
            (mean, deviation) = (m, s)
        }

        /// `(score − mean) / deviation`; 0 (the mean) for a score that is not finite.
        public func standardised(_ score: Double) -> Double { score.isFinite ? (score - mean) / deviation : 0 }
    }

    /// One query's scores standardised over its candidates: `(s − mean) / std` over the finite scores outside
    /// `excluding` (the query itself, when it is among the candidates); a non-finite score becomes 0 (the mean),
    /// so a track without a timbre model is ranked by the other system alone.
    public static func standardised(_ scores: [Double], excluding: Int? = nil) -> [Double] {
        guard let spread = Spread(scores.indices.lazy.filter { $0 != excluding }.map { scores[$0] }) else {
            return [Double](repeating: 0, count: scores.count)
        }
        return scores.map(spread.standardised)
    }

    /// One candidate's hybrid score, `(1 − weight) · z(model) + weight · z(timbre)`, each standardised by the
    /// query's spread of that system's scores over its candidates (a system without a spread counts 0).
    public static func mixed(
        model: Double, timbre: Double, modelSpread: Spread?, timbreSpread: Spread?, weight: Double = hybridWeight
    ) -> Double {
        (1 - weight) * (modelSpread?.standardised(model) ?? 0) + weight * (timbreSpread?.standardised(timbre) ?? 0)
    }

    /// The spreads by which `hybrid` standardises one query's model and timbre scores over its candidates
    /// (leaving out `excluding`).
    public static func spreads(
        model: [Double], timbre: [Double], excluding: Int? = nil
    )
        -> (model: Spread?, timbre: Spread?)
    {
        precondition(model.count == timbre.count, "\(model.count) model scores, \(timbre.count) timbre scores")
        func spread(_ scores: [Double]) -> Spread? {
            Spread(scores.indices.lazy.filter { $0 != excluding }.map { scores[$0] })
        }
        return (spread(model), spread(timbre))
    }

    /// The hybrid score of one query against its candidates: `(1 − weight) · z(model) + weight · z(timbre)`, each
    /// standardised over the candidates (`standardised`, leaving out `excluding`).
    public static func hybrid(
        model: [Double], timbre: [Double], weight: Double = hybridWeight, excluding: Int? = nil
    )
        -> [Double]
    {
        let (ms, ts) = spreads(model: model, timbre: timbre, excluding: excluding)
        return zip(model, timbre).map {
            mixed(model: $0, timbre: $1, modelSpread: ms, timbreSpread: ts, weight: weight)
        }
    }
}
