import Foundation
import SimilaritySearch
import RetrieveCore
import Testing
import TestSupport

@Suite struct RetrievalMetricsTests {
    let ranking = [true, false, true, true, false]

    @Test func precisionAtKCountsRelevantInTheTopK() {
        #expect(RetrievalMetrics.precision(at: 1, relevance: ranking) == 1)
        #expect(RetrievalMetrics.precision(at: 2, relevance: ranking) == 0.5)
        #expect(RetrievalMetrics.precision(at: 5, relevance: ranking) == 0.6)
        // Fewer candidates than k still divides by k.
        #expect(RetrievalMetrics.precision(at: 10, relevance: ranking) == 0.3)
    }

    @Test func averagePrecisionByHand() throws {
        // Relevant at ranks 1, 3, 4: (1/1 + 2/3 + 3/4) / 3.
        let ap = try #require(RetrievalMetrics.averagePrecision(relevance: ranking))
        #expect(abs(ap - (1 + 2.0 / 3 + 0.75) / 3) < 1e-12)
        #expect(RetrievalMetrics.averagePrecision(relevance: [false, false]) == nil)
        #expect(RetrievalMetrics.averagePrecision(relevance: [false, true]) == 0.5)
    }

    @Test func majorityVoteBreaksTiesByBestRank() {
        #expect(RetrievalMetrics.majorityVote(["a", "b", "b", "a", "c"], k: 5) == "a")
        #expect(RetrievalMetrics.majorityVote(["c", "b", "b", "a", "a"], k: 5) == "b")
        #expect(RetrievalMetrics.majorityVote(["c", "a", "b", "a", "b", "b", "b"], k: 5) == "a")
        #expect(RetrievalMetrics.majorityVote(["x", "y", "y", "y"], k: 5) == "y")
        #expect(RetrievalMetrics.majorityVote([], k: 5) == nil)
    }

    @Test func recallAndReciprocalRank() {
        #expect(RetrievalMetrics.recall(at: 1, rank: 1) == 1)
        #expect(RetrievalMetrics.recall(at: 1, rank: 2) == 0)
        #expect(RetrievalMetrics.recall(at: 10, rank: 10) == 1)
        #expect(RetrievalMetrics.reciprocalRank(4) == 0.25)
        let s = IdentificationScores(ranks: [1, 2, 11, 1])
        #expect(s.recallAt1 == 0.5 && s.recallAt10 == 0.75 && abs(s.meanReciprocalRank - (1 + 0.5 + 1.0 / 11 + 1) / 4) < 1e-12)
    }

    /// Four items, labels a a b b; items 0 and 1 are clips of one recording.
    @Test func styleRetrievalByHandWithTheSameTrackFilter() {
        let scores = Matrix(rowArrays: [
            [1.0, 0.9, 0.5, 0.1],
            [0.9, 1.0, 0.2, 0.3],
            [0.5, 0.2, 1.0, 0.4],
            [0.1, 0.3, 0.4, 1.0],
        ])
        let s = RetrievalMetrics.styleRetrieval(scores: scores, labels: ["a", "a", "b", "b"],
                                                groups: ["g", "g", "h", "i"])
        // q0: candidates 2 (0.5), 3 (0.1), both b: no relevant → AP undefined; kNN votes b → wrong.
        // q1: 3 (0.3), 2 (0.2): none relevant.
        // q2: 0 (0.5, a), 3 (0.4, b), 1 (0.2, a): AP = 1/2; kNN: a 2, b 1 → a, wrong.
        // q3: 2 (0.4, b), 1 (0.3), 0 (0.1): AP = 1; kNN: a 2 vs b 1 → a, wrong.
        #expect(abs(s.meanAveragePrecision - 0.75) < 1e-12)
        #expect(abs(s.precisionAt5 - (0 + 0 + 0.2 + 0.2) / 4) < 1e-12)
        #expect(s.knnAccuracy == 0)
        #expect(s.queries == 4)
        // Without groups, q0 and q1 find each other first.
        let ungrouped = RetrievalMetrics.styleRetrieval(scores: scores, labels: ["a", "a", "b", "b"],
                                                        groups: ["0", "1", "2", "3"])
        #expect(ungrouped.meanAveragePrecision > s.meanAveragePrecision)
    }

    @Test func identificationRanksSkipTheSourcesOtherClips() {
        let scores = Matrix(rowArrays: [
            [0.2, 0.9, 0.5, 0.1],  // source 0; item 1 is the same recording and is ignored; 2 beats it → rank 2
            [0.3, 0.3, 0.1, 0.0],  // source 1; item 0 (same recording) ignored → rank 1
            [0.4, 0.4, 0.4, 0.4],  // source 3: all tied; earlier items rank ahead on ties → rank 4
        ])
        let ranks = RetrievalMetrics.identificationRanks(scores: scores, sources: [0, 1, 3],
                                                         groups: ["g", "g", "h", "i"])
        #expect(ranks == [2, 1, 4])
    }

    /// `styleRetrieval` against a brute-force re-derivation on random data.
    @Test func styleRetrievalMatchesBruteForce() {
        var rng = SeededGenerator(seed: 7)
        let n = 30
        let x = rng.matrix(rows: n, columns: n)
        let labels = (0..<n).map { ["a", "b", "c"][$0 % 3] }
        let groups = (0..<n).map { String($0 / 2) }
        let s = RetrievalMetrics.styleRetrieval(scores: x, labels: labels, groups: groups)
        var p5 = 0.0, ap = 0.0, apCount = 0.0
        for q in 0..<n {
            let others = (0..<n).filter { groups[$0] != groups[q] }.sorted { x[q, $0] > x[q, $1] }
            p5 += Double(others.prefix(5).filter { labels[$0] == labels[q] }.count) / 5
            let relevantRanks = others.indices.filter { labels[others[$0]] == labels[q] }
            if !relevantRanks.isEmpty {
                ap += relevantRanks.enumerated().map { Double($0 + 1) / Double($1 + 1) }.reduce(0, +)
                    / Double(relevantRanks.count)
                apCount += 1
            }
        }
        #expect(abs(s.precisionAt5 - p5 / Double(n)) < 1e-12)
        #expect(abs(s.meanAveragePrecision - ap / apCount) < 1e-12)
    }
}
