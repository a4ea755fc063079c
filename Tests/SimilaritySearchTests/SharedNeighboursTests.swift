import Foundation
import SimilaritySearch
import Testing

@Suite struct SharedNeighboursTests {
    /// Thirty members on a circle, similarity the cosine of the angle between two (member i at i × the golden
    /// angle, the query at 0.1 rad): no two similarities tie. As `scripts/fixtures/shared_neighbours.py` places
    /// them.
    static func circle(_ m: Int) -> (scores: [Double], pairwise: [Double]) {
        let angles = (0..<m).map { (Double($0) * Double.pi * (3 - 5.0.squareRoot())).truncatingRemainder(dividingBy: 2 * .pi) }
        return (angles.map { cos($0 - 0.1) }, angles.flatMap { a in angles.map { cos(a - $0) } })
    }

    /// The adjusted scores equal a numpy version written from the paper's steps (`scripts/fixtures/
    /// shared_neighbours.py`), with the defaults and with smaller lists.
    @Test func matchesTheNumPyReference() {
        let (scores, pairwise) = Self.circle(30)
        let defaults: [Double] = [
            1.792687929439, -1.006629308811, -0.273087055558, 0.993819581134, -1.403388947528, 1.089117922746,
            -0.397415755309, -0.892157900065, 1.763967471385, -1.271801603702, 0.246849600712, 0.422838474083,
            -1.311013138230, 1.577691046288, -0.830966917893, -0.487499139168, 1.134358785291, -1.397525620232,
            0.779240597880, -0.107589455846, -1.087838933863, 1.986277603096, -1.125681400555, -0.057121604686,
            0.741503602147, -1.384481897876, 1.332976373095, -0.589059150902, -0.737845734026, 1.553100441826,
        ]
        let smaller: [Double] = [
            2.807151791803, -1.184061473753, -0.399929354786, 0.811081752413, -1.514996071426, 1.214991370236,
            -0.655091510867, -1.048217564076, 2.073576910745, -1.399448471319, 0.056980398800, 0.280999239325,
            -1.428758862224, 2.203901692938, -1.008399082836, -0.672518678168, 1.221554736970, -1.507842458408,
            0.761332101064, -0.361676413575, -1.231971609496, 2.811578305661, -1.277552293102, -0.153339855746,
            0.469270281370, -1.496089021774, 1.758701098372, -0.809851604278, -0.907150788211, 1.639101299219,
        ]
        let a = SharedNeighbours.adjusted(scores: scores, pairwise: pairwise)
        let b = SharedNeighbours.adjusted(scores: scores, pairwise: pairwise, neighbours: 8, expansion: 3, weight: 1)
        for i in 0..<30 {
            #expect(abs(a[i] - defaults[i]) < 1e-9, "member \(i): \(a[i]) against \(defaults[i])")
            #expect(abs(b[i] - smaller[i]) < 1e-9, "member \(i): \(b[i]) against \(smaller[i])")
        }
    }

    /// Two clusters: the query's neighbourhood {0…9} and a tight group {10…15} that scores nearly as high but
    /// whose members are each other's nearest. A stray of the group that the query's neighbours count as theirs
    /// rises above the group.
    @Test func aMemberOfTheQuerysNeighbourhoodRisesAboveAStrayGroup() {
        let m = 24
        let scores = (0..<m).map { i -> Double in
            let x = Double(i)
            if i < 10 { return 5 - 0.1 * x }
            return i < 16 ? 4.6 - 0.01 * x : 1
        }
        let inQuery = Set(0..<10), inGroup = Set(10..<16)
        let pairwise = (0..<m).flatMap { i in
            (0..<m).map { j -> Double in
                if i == j { return .nan }
                let sum = Double(i + j)
                if inQuery.contains(i) && inQuery.contains(j) { return 4 - 0.01 * sum }
                if inGroup.contains(i) && inGroup.contains(j) { return 6 - 0.01 * sum }
                return 0.001 * Double((i * 7 + j * 7) % 13)
            }
        }
        let adjusted = SharedNeighbours.adjusted(scores: scores, pairwise: pairwise, neighbours: 8, expansion: 2, weight: 1)
        // Member 9, last of the query's neighbourhood by score, now ranks above every member of the group.
        #expect(inGroup.allSatisfy { scores[9] < scores[$0] })
        #expect(inGroup.allSatisfy { adjusted[9] > adjusted[$0] }, "\(adjusted)")
    }

    /// A pair marked −∞ (two clips of one track) or not finite is never a neighbour: cutting member 0 off from
    /// every other member leaves the query its only neighbour, and the result stays finite.
    @Test func pairsThatMustNotCountAreNoNeighbours() {
        let (scores, pairwise) = Self.circle(30)
        var cut = pairwise
        for j in 0..<30 where j != 0 { (cut[j], cut[j * 30]) = (-.infinity, .nan) }
        let adjusted = SharedNeighbours.adjusted(scores: scores, pairwise: cut)
        #expect(adjusted.allSatisfy { $0.isFinite })
        #expect(adjusted != SharedNeighbours.adjusted(scores: scores, pairwise: pairwise))
    }

    /// Nothing moves with weight 0, with no more members than neighbours, or when every score is equal.
    @Test func nothingMovesWithoutEvidence() {
        let (scores, pairwise) = Self.circle(30)
        #expect(SharedNeighbours.adjusted(scores: scores, pairwise: pairwise, weight: 0) == scores)
        #expect(SharedNeighbours.adjusted(scores: scores, pairwise: pairwise, neighbours: 30) == scores)
        let flat = [Double](repeating: 1, count: 30)
        #expect(SharedNeighbours.adjusted(scores: flat, pairwise: pairwise) == flat)
    }

    /// The result follows the members, not the order they are given in (no two similarities tie).
    @Test func theOrderOfTheMembersDoesNotMatter() {
        let (scores, pairwise) = Self.circle(30)
        let adjusted = SharedNeighbours.adjusted(scores: scores, pairwise: pairwise)
        let permutation = (0..<30).map { ($0 * 7 + 4) % 30 }  // 7 is prime to 30: every member once
        let permuted = SharedNeighbours.adjusted(
            scores: permutation.map { scores[$0] },
            pairwise: permutation.flatMap { i in permutation.map { j in pairwise[i * 30 + j] } })
        for (position, member) in permutation.enumerated() {
            #expect(abs(permuted[position] - adjusted[member]) < 1e-9, "\(permutation)")
        }
    }
}
