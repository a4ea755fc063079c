public import RetrieveCore

/// Ranking metrics for retrieval evaluation, as pure functions of ranked relevance lists and ranks.
///
/// Conventions (the usual ones of MIR evaluation, e.g. MIREX audio music similarity and `sklearn.metrics`):
/// a ranking is a list of candidate flags, best first; P@k divides by k even when fewer than k candidates
/// exist; average precision is the mean of the precision at each relevant position, over all relevant
/// candidates in the ranking (so a ranking that is cut short is penalised by what it misses), and is
/// undefined (nil) for a query with no relevant candidate, which mAP then leaves out.
public enum RetrievalMetrics {
    /// The fraction of the first `k` ranked candidates that are relevant: `|relevant ∩ top k| / k`.
    ///
    /// - Complexity: O(k).
    public static func precision(at k: Int, relevance: [Bool]) -> Double {
        precondition(k >= 1, "precision@k needs k ≥ 1, got \(k)")
        return Double(relevance.prefix(k).filter { $0 }.count) / Double(k)
    }

    /// Average precision: `(1/R) Σ_{i relevant} P@i`, with `R` the number of relevant candidates; nil when `R = 0`.
    ///
    /// - Complexity: O(n).
    public static func averagePrecision(relevance: [Bool]) -> Double? {
        var hits = 0
        var sum = 0.0
        for (i, relevant) in relevance.enumerated() where relevant {
            hits += 1
            sum += Double(hits) / Double(i + 1)
        }
        return hits > 0 ? sum / Double(hits) : nil
    }

    /// The label most frequent among the first `k` ranked labels; a tie goes to the tied label that ranks
    /// highest (whose best-scored neighbour comes first). Nil for no labels.
    ///
    /// - Complexity: O(k).
    public static func majorityVote(_ rankedLabels: [String], k: Int) -> String? {
        let top = rankedLabels.prefix(k)
        var counts: [String: Int] = [:]
        var firstRank: [String: Int] = [:]
        for (i, label) in top.enumerated() {
            counts[label, default: 0] += 1
            if firstRank[label] == nil { firstRank[label] = i }
        }
        return counts.max { a, b in
            a.value != b.value ? a.value < b.value : firstRank[a.key]! > firstRank[b.key]!
        }?.key
    }

    /// 1 when the correct item is ranked within the first `k` (`rank` counts from 1), else 0.
    public static func recall(at k: Int, rank: Int) -> Double {
        precondition(rank >= 1, "ranks count from 1, got \(rank)")
        return rank <= k ? 1 : 0
    }

    /// `1 / rank` (`rank` counts from 1).
    public static func reciprocalRank(_ rank: Int) -> Double {
        precondition(rank >= 1, "ranks count from 1, got \(rank)")
        return 1 / Double(rank)
    }

    /// Candidate indices ordered by descending score; ties keep index order so rankings are reproducible.
    ///
    /// - Complexity: O(n log n).
    public static func ranking(scores: [Float], including include: (Int) -> Bool = { _ in true }) -> [Int] {
        scores.indices.filter(include).sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    }
}

/// Style-retrieval scores of one descriptor over a labelled collection.
public struct StyleScores: Sendable, Equatable, Codable {
    public var precisionAt5: Double
    public var precisionAt10: Double
    public var meanAveragePrecision: Double
    /// Accuracy of a 5-nearest-neighbour majority vote (ties to the best-scored label).
    public var knnAccuracy: Double
    /// Queries counted (every track; mAP leaves out the ones with no same-label candidate).
    public var queries: Int
    /// Class-balanced P@10: the mean over labels of the mean P@10 of that label's queries, so a large class
    /// weighs no more than a small one.
    public var macroPrecisionAt10: Double = 0
}

/// Identification scores of one descriptor for a set of excerpt queries.
public struct IdentificationScores: Sendable, Equatable, Codable {
    public var recallAt1: Double
    public var recallAt10: Double
    public var meanReciprocalRank: Double
    public var queries: Int

    /// The means of per-query ranks.
    public init(ranks: [Int]) {
        queries = ranks.count
        let n = Double(max(1, ranks.count))
        recallAt1 = ranks.map { RetrievalMetrics.recall(at: 1, rank: $0) }.reduce(0, +) / n
        recallAt10 = ranks.map { RetrievalMetrics.recall(at: 10, rank: $0) }.reduce(0, +) / n
        meanReciprocalRank = ranks.map(RetrievalMetrics.reciprocalRank).reduce(0, +) / n
    }
}

extension RetrievalMetrics {
    /// Leave-one-track-out style retrieval: every item queries all items of other track groups.
    ///
    /// The same-track rule: items sharing the query's `groups` value (clips of one recording) never count and
    /// are removed from its ranking, so a collection of several clips per track is not rewarded for finding
    /// the other clips. With one item per track this is exactly "exclude the query itself".
    ///
    /// - Parameters:
    ///   - scores: `n × n` similarities, row = query.
    ///   - labels: the class of each item.
    ///   - groups: the track group of each item.
    /// - Returns: P@5, P@10, mAP, 5-NN accuracy and macro P@10 over all queries.
    /// - Complexity: O(n² log n).
    public static func styleRetrieval(scores: Matrix, labels: [String], groups: [String]) -> StyleScores {
        let n = labels.count
        precondition(
            scores.rows == n && scores.columns == n && groups.count == n,
            "scores must be \(n) × \(n) with a label and group per item")
        var p5 = 0.0, p10 = 0.0, apSum = 0.0, apCount = 0, correct = 0
        var perLabel: [String: (sum: Double, count: Int)] = [:]
        for q in 0..<n {
            let row = scores.row(q)
            let ranked = ranking(scores: row) { groups[$0] != groups[q] }
            let relevance = ranked.map { labels[$0] == labels[q] }
            p5 += precision(at: 5, relevance: relevance)
            let p = precision(at: 10, relevance: relevance)
            p10 += p
            perLabel[labels[q], default: (0, 0)].sum += p
            perLabel[labels[q], default: (0, 0)].count += 1
            if let ap = averagePrecision(relevance: relevance) {
                apSum += ap
                apCount += 1
            }
            if majorityVote(ranked.map { labels[$0] }, k: 5) == labels[q] { correct += 1 }
        }
        let d = Double(max(1, n))
        return StyleScores(
            precisionAt5: p5 / d, precisionAt10: p10 / d,
            meanAveragePrecision: apCount > 0 ? apSum / Double(apCount) : 0,
            knnAccuracy: Double(correct) / d, queries: n,
            macroPrecisionAt10: perLabel.isEmpty
                ? 0
                : perLabel.values.map { $0.sum / Double($0.count) }.reduce(0, +) / Double(perLabel.count))
    }

    /// The rank (from 1) of each query's source item among the reference items.
    ///
    /// Other items of the source's track group are removed from the ranking: they are neither right nor wrong.
    ///
    /// - Parameters:
    ///   - scores: `queries × references` similarities.
    ///   - sources: the reference index each query was cut from.
    ///   - groups: the track group of each reference item.
    /// - Returns: each query's rank (from 1) of its source among the references.
    public static func identificationRanks(scores: Matrix, sources: [Int], groups: [String]) -> [Int] {
        precondition(scores.rows == sources.count && scores.columns == groups.count, "shape mismatch")
        return sources.enumerated().map { q, source in
            let row = scores.row(q)
            let target = row[source]
            var rank = 1
            for j in 0..<row.count where j != source && groups[j] != groups[source] {
                // Ties are resolved against the source: an equal score ranks ahead of it.
                if row[j] > target || (row[j] == target && j < source) { rank += 1 }
            }
            return rank
        }
    }
}
