import SimilaritySearch
import Testing

@Suite struct SharedNeighboursTests {
    /// Two clusters among six members: {0, 1, 3} close to each other, {2, 4, 5} close to each other, nothing
    /// across. The query's two best are 0 and 1, so member 3 — fourth by score — shares both its neighbours with
    /// the query, and member 2 — third — none.
    static let scores: [Double] = [5, 4, 3, 2.9, 1, 0]
    static func clusters(_ a: Set<Int>, _ b: Set<Int>) -> [Double] {
        (0..<6).flatMap { i in
            (0..<6).map { j in i == j ? .nan : (a.contains(i) && a.contains(j)) || (b.contains(i) && b.contains(j)) ? 10 : 0 }
        }
    }

    /// Each score moved by weight × the scores' standard deviation per standard deviation of its share (given by
    /// hand) from the mean share.
    static func expect(_ adjusted: [Double], shares: [Double], weight: Double) {
        func spread(_ v: [Double]) -> (mean: Double, deviation: Double) {
            let m = v.reduce(0, +) / Double(v.count)
            return (m, (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot())
        }
        let sd = spread(scores).deviation, share = spread(shares)
        for i in scores.indices {
            #expect(abs(adjusted[i] - (scores[i] + weight * sd * (shares[i] - share.mean) / share.deviation)) < 1e-12)
        }
    }

    /// Shares by hand: members 0 and 1 each have the other (one of the query's two) and 3 (not): ½; member 3
    /// has 0 and 1: 1; members 2, 4 and 5 have each other: 0.
    @Test func aMemberSharingTheQuerysNeighboursRisesAndAStrayFalls() {
        let adjusted = SharedNeighbours.adjusted(
            scores: Self.scores, pairwise: Self.clusters([0, 1, 3], [2, 4, 5]), neighbours: 2, weight: 1)
        Self.expect(adjusted, shares: [0.5, 0.5, 0, 1, 0, 0], weight: 1)
        let order = (0..<6).sorted { adjusted[$0] > adjusted[$1] }
        #expect(order == [3, 0, 1, 2, 4, 5])
    }

    /// A pair marked −∞ (two clips of one track) or not finite is never a neighbour: member 3 cut off from 0 and
    /// 1 finds its neighbours elsewhere and stays below them.
    @Test func pairsThatMustNotCountAreNoNeighbours() {
        var pairwise = Self.clusters([0, 1, 3], [2, 4, 5])
        for other in [0, 1] {
            (pairwise[3 * 6 + other], pairwise[other * 6 + 3]) = (-.infinity, -.infinity)
        }
        pairwise[3 * 6 + 4] = .nan
        let adjusted = SharedNeighbours.adjusted(scores: Self.scores, pairwise: pairwise, neighbours: 2, weight: 1)
        // Member 3's nearest: the query (2.9), then member 2 (0, before 5 by position; 4 is NaN): share ½. Members
        // 0 and 1 now have each other and the query (their second best once 3 is cut off): 1. 2, 4, 5: 0.
        Self.expect(adjusted, shares: [1, 1, 0, 0.5, 0, 0], weight: 1)
        #expect(adjusted[3] < adjusted[1] && adjusted[3] > adjusted[2])
    }

    /// Nothing moves with weight 0, with no more members than neighbours, when every share is equal, or when every
    /// score is.
    @Test func nothingMovesWithoutEvidence() {
        let pairwise = Self.clusters([0, 1, 3], [2, 4, 5])
        #expect(SharedNeighbours.adjusted(scores: Self.scores, pairwise: pairwise, neighbours: 2, weight: 0)
            == Self.scores)
        #expect(SharedNeighbours.adjusted(scores: Self.scores, pairwise: pairwise, neighbours: 6) == Self.scores)
        // No member may neighbour another: each one's only neighbour is the query, every share is equal.
        let apart = [Double](repeating: -.infinity, count: 36)
        #expect(SharedNeighbours.adjusted(scores: Self.scores, pairwise: apart, neighbours: 2, weight: 1) == Self.scores)
        #expect(SharedNeighbours.adjusted(scores: [Double](repeating: 1, count: 6), pairwise: pairwise, neighbours: 2)
            == [Double](repeating: 1, count: 6))
    }

    /// The result follows the members, not the order they are given in.
    @Test func theOrderOfTheMembersDoesNotMatter() {
        let pairwise = Self.clusters([0, 1, 3], [2, 4, 5])
        let adjusted = SharedNeighbours.adjusted(scores: Self.scores, pairwise: pairwise, neighbours: 2, weight: 0.3)
        let permutation = [4, 2, 5, 0, 3, 1]
        let permuted = SharedNeighbours.adjusted(
            scores: permutation.map { Self.scores[$0] },
            pairwise: permutation.flatMap { i in permutation.map { j in pairwise[i * 6 + j] } },
            neighbours: 2, weight: 0.3)
        for (position, member) in permutation.enumerated() {
            #expect(abs(permuted[position] - adjusted[member]) < 1e-12)
        }
    }
}
