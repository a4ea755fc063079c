import Foundation

// Re-ranking a query's best candidates by the neighbours they share with it: a candidate whose own nearest
// tracks are the query's nearest (or the query itself) belongs to the query's neighbourhood; one that is merely
// close to the query while its own neighbours lie elsewhere is a hub or a stray. The index applies it to the
// hybrid of embedding and timbre (`QueryEngine.rankedWithTimbre`), and `retrieve evaluate` to the hybrid row,
// both through `adjusted`.

/// Shared-neighbour re-ranking of a query's best candidates (its *members*), by k-reciprocal neighbourhoods
/// (Zhong et al., "Re-ranking person re-identification with k-reciprocal encoding", CVPR 2017).
///
/// Among the members and the query (the query at its own score for each member; `pairwise` between members),
/// each item's k-reciprocal neighbours are those of its `neighbours` nearest that count it among their own
/// `neighbours` nearest; the set grows by a neighbour's own half-size set where two thirds of that lie inside.
/// Each item's neighbourhood is a vector of weights exp(−4 d) over its set (d its distances, scaled to 0…1 over
/// its row) summing to 1, averaged over its `expansion` nearest (itself first); a member's statistic is the
/// Jaccard similarity Σ min / Σ max of its vector and the query's. A member's score then moves by `weight`
/// standard deviations of the members' scores per standard deviation of its statistic above or below the
/// members' mean, so scores stay on the query's scale and a candidate that is not a member counts as the mean.
///
/// Chosen by leave-labels-out (bench/README.md, "quality"): over the hybrid's best 100 with 20 neighbours,
/// expansion 6 and weight 0.6, `retrieve evaluate` scored P@10, mAP and macro P@10 higher on all three label
/// partitions than with the previous statistic (the share of 5 nearest neighbours in common, weight 0.3): +0.008
/// to +0.011, +0.012 to +0.019 and +0.007 to +0.009.
public enum SharedNeighbours {
    /// How many of a query's best candidates are re-ranked.
    public static let members = 100
    /// How many nearest neighbours of each item are candidates for its k-reciprocal set.
    public static let neighbours = 20
    /// Over how many nearest items (itself included) each neighbourhood vector is averaged.
    public static let expansion = 6
    /// How far a member's statistic moves its score, in standard deviations of the members' scores.
    public static let weight = 0.6

    /// The members' scores after re-ranking, in the order of `scores`.
    ///
    /// - Parameters:
    ///   - scores: the query's scores of its members (any order; larger is closer).
    ///   - pairwise: the members' similarities to each other on the scale of `scores`, row-major
    ///     (`scores.count`² values; only entries off the diagonal are read, and a value that is not finite — or
    ///     −∞ for two members that must never count as neighbours — makes that pair no neighbours).
    ///   - neighbours: the size of the nearest-neighbour lists the k-reciprocal sets are drawn from.
    ///   - expansion: over how many nearest items each neighbourhood is averaged (1: none).
    ///   - weight: how far a member's statistic moves its score; 0 returns `scores`.
    /// - Returns: `scores` itself when there are no more members than `neighbours`, or when the scores or the
    ///   statistics do not vary.
    /// - Complexity: O(m² log m) for m members (their nearest-neighbour orders).
    public static func adjusted(
        scores: [Double], pairwise: [Double], neighbours: Int = neighbours, expansion: Int = expansion,
        weight: Double = weight
    ) -> [Double] {
        let m = scores.count
        precondition(pairwise.count == m * m, "\(pairwise.count) pairwise similarities for \(m) members")
        precondition(neighbours > 0 && expansion > 0, "neighbours and expansion must be positive")
        guard m > neighbours, weight != 0 else { return scores }
        let n = m + 1  // the query is item m
        func similarity(_ i: Int, _ j: Int) -> Double {
            if i == m { return scores[j] }
            if j == m { return scores[i] }
            return pairwise[i * m + j]
        }
        // Each item's others, nearest first (ties by position); pairs that are no neighbours left out.
        let order: [[Int]] = (0..<n).map { i in
            (0..<n).filter { $0 != i && similarity(i, $0).isFinite }
                .sorted { a, b in
                    let (x, y) = (similarity(i, a), similarity(i, b))
                    return x > y || (x == y && a < b)
                }
        }
        // Distances scaled to 0…1 over each row (0 the nearest other, 1 the farthest; 0 for itself).
        let scaled: [[Double]] = (0..<n).map { i in
            let values = order[i].map { -similarity(i, $0) }
            guard let low = values.min(), let high = values.max(), high > low else {
                return [Double](repeating: 0, count: n)
            }
            var row = [Double](repeating: 1, count: n)
            row[i] = 0
            for j in order[i] { row[j] = (-similarity(i, j) - low) / (high - low) }
            return row
        }
        // Item i's k nearest (itself first, as its distance to itself is the least), as a membership table.
        func nearestTable(_ k: Int) -> [[Bool]] {
            (0..<n).map { i in
                var row = [Bool](repeating: false, count: n)
                row[i] = true
                for j in order[i].prefix(k) { row[j] = true }
                return row
            }
        }
        func reciprocal(_ k: Int, _ table: [[Bool]]) -> [[Int]] {
            (0..<n).map { i in ([i] + order[i].prefix(k)).filter { table[$0][i] } }
        }
        let full = reciprocal(neighbours, nearestTable(neighbours))
        let halfSize = Int((Double(neighbours) / 2).rounded(.toNearestOrEven))
        let half = reciprocal(halfSize, nearestTable(halfSize))
        var vectors = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            let inside = Set(full[i])
            var set = inside
            for c in full[i] where Double(half[c].filter(inside.contains).count) > 2.0 / 3.0 * Double(half[c].count) {
                set.formUnion(half[c])
            }
            // In index order: a Set's own order changes from run to run, and with it the sum's last bits.
            let weights = set.sorted().map { ($0, exp(-4 * scaled[i][$0])) }
            let total = weights.reduce(0) { $0 + $1.1 }
            for (j, w) in weights { vectors[i][j] = w / total }
        }
        if expansion > 1 {
            vectors = (0..<n).map { i in
                let rows = [i] + order[i].prefix(expansion - 1)
                return (0..<n).map { j in rows.reduce(0) { $0 + vectors[$1][j] } / Double(rows.count) }
            }
        }
        let statistics = (0..<m).map { i -> Double in
            var common = 0.0
            for j in 0..<n { common += min(vectors[m][j], vectors[i][j]) }
            return common / (2 - common)  // each vector sums to 1: Σ max = 2 − Σ min
        }
        guard let scoreSpread = TimbreSimilarity.Spread(scores),
            let statisticSpread = TimbreSimilarity.Spread(statistics)
        else { return scores }
        return (0..<m).map {
            scores[$0] + weight * scoreSpread.deviation * statisticSpread.standardised(statistics[$0])
        }
    }
}
