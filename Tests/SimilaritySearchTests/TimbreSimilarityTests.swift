import Foundation
import RetrieveCore
import SimilaritySearch
import Testing

@Suite struct TimbreSimilarityTests {
    /// The MFCC-like matrix k of scripts/fixtures/timbre.py: 80 frames × 25 coefficients from a closed formula.
    static func matrix(_ k: Int, frames: Int = 80) -> Matrix {
        var m = Matrix(rows: frames, columns: 25)
        for r in 0..<frames {
            for c in 0..<25 {
                let (r, c, k) = (Double(r), Double(c), Double(k))
                m[Int(r), Int(c)] = Float(sin(r * (c + 1) * 0.1 + k) * (1 + 0.05 * c) + k * 0.3 * cos(r * 0.05 * (c + k + 1)))
            }
        }
        return m
    }

    static func relative(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(b), 1e-300) }

    /// Against numpy and scipy on the same float32 inputs (scripts/fixtures/timbre.py prints these numbers): the
    /// Gaussians, their Jensen–Shannon distances and mutual proximity within the three, to 1e-9 relative.
    @Test func matchesTheNumpyReference() throws {
        let g = try (0..<3).map { try #require(TimbreGaussian(mfcc: Self.matrix($0))) }
        #expect(g[0].dimensions == 24)
        for (ours, reference) in zip(g[0].mean.prefix(3), [0.12993224496, 0.0324194173561, 0.00191457136534]) {
            #expect(Self.relative(ours, reference) < 1e-9, "mean \(ours) vs \(reference)")
        }
        for (i, reference) in [0.646223952528, 0.754757747088, 0.722975769824].enumerated() {
            #expect(Self.relative(g[1].covariance[i * 24 + i], reference) < 1e-9)
        }
        #expect(Self.relative(g[1].covariance[1], 0.228944180218) < 1e-9 && g[1].covariance[1] == g[1].covariance[24])
        for (ours, reference) in zip(g.map(\.logDeterminant), [5.18892124298, 6.28249013051, 7.81441797594]) {
            #expect(Self.relative(ours, reference) < 1e-9, "log det \(ours) vs \(reference)")
        }
        let pairs = [(0, 1), (0, 2), (1, 2)]
        for ((a, b), reference) in zip(pairs, [0.262061565301, 0.519029747467, 0.550871646411]) {
            #expect(Self.relative(TimbreSimilarity.distance(g[a], g[b]), reference) < 1e-9)
            #expect(TimbreSimilarity.distance(g[a], g[b]) == TimbreSimilarity.distance(g[b], g[a]))
        }
        let distances = TimbreSimilarity.distances(g)
        #expect((0..<3).allSatisfy { distances[$0 * 4] == 0 })
        let proximity = TimbreSimilarity.mutualProximity(distances: distances, count: 3)
        for ((a, b), reference) in zip(pairs, [0.577979969607, 0.182269969299, 0.0574800917943]) {
            #expect(Self.relative(proximity[a * 3 + b], reference) < 1e-9, "MP(\(a), \(b)) \(proximity[a * 3 + b])")
            #expect(proximity[a * 3 + b] == proximity[b * 3 + a])
        }
    }

    /// The matrix forms give the pairwise distances, and NaN wherever a model is missing.
    @Test func distanceMatricesAgreeWithPairsAndMarkMissingModels() throws {
        let g = try (0..<3).map { try #require(TimbreGaussian(mfcc: Self.matrix($0))) }
        let models: [TimbreGaussian?] = [g[0], nil, g[2]]
        let all = TimbreSimilarity.distances(models)
        #expect(all[2] == TimbreSimilarity.distance(g[0], g[2]) && all[6] == all[2])
        #expect(all[1].isNaN && all[3].isNaN && all[4].isNaN && all[0] == 0 && all[8] == 0)
        let cross = TimbreSimilarity.distances([g[1]], to: models)
        #expect(cross[0] == TimbreSimilarity.distance(g[1], g[0]) && cross[1].isNaN
            && cross[2] == TimbreSimilarity.distance(g[1], g[2]))
        let proximity = TimbreSimilarity.mutualProximity(distances: all, count: 3)
        #expect(proximity[1].isNaN && proximity[0] == 1)
    }

    /// Too few frames for a covariance, or a non-finite value, give no model.
    @Test func tooFewFramesGiveNoModel() {
        #expect(TimbreGaussian(mfcc: Self.matrix(0, frames: 24)) == nil)
        #expect(TimbreGaussian(mfcc: Self.matrix(0, frames: 25)) != nil)
        var bad = Self.matrix(0)
        bad[3, 4] = .nan
        #expect(TimbreGaussian(mfcc: bad) == nil)
        #expect(TimbreGaussian(mfcc: Matrix(rows: 80, columns: 20)) == nil)
        // Constant frames: the diagonal loading keeps the covariance positive definite.
        #expect(TimbreGaussian(mfcc: Matrix(rows: 80, columns: 25, repeating: 3)) != nil)
    }

    /// Mutual proximity: the product of both tracks' probabilities that another lies farther away.
    @Test func mutualProximityByHand() {
        let a = TimbreSimilarity.Normalisation(mean: 1, deviation: 0.5), b = TimbreSimilarity.Normalisation(mean: 2, deviation: 1)
        // d = 1: P(X > 1 | a) = 0.5; P(X > 1 | b) = Φ(1) ≈ 0.841345.
        #expect(abs(TimbreSimilarity.mutualProximity(1, a, b) - 0.5 * 0.8413447460685429) < 1e-12)
        let n = TimbreSimilarity.Normalisation(distances: [1, 2, 3, .nan])
        #expect(n == TimbreSimilarity.Normalisation(mean: 2, deviation: 1))
        #expect(TimbreSimilarity.Normalisation(distances: [1, .infinity]) == nil)
        #expect(TimbreSimilarity.Normalisation(distances: [2, 2])?.deviation == 1e-9)
    }

    /// Full band and low band: a pair is as alike as the closer comparison says; a missing one defers to the other.
    @Test func combinedTakesTheCloserComparison() {
        let combined = TimbreSimilarity.combined([0.2, 0.9, .nan, .nan], [0.7, 0.1, 0.4, .nan])
        #expect(combined[0] == 0.7 && combined[1] == 0.9 && combined[2] == 0.4 && combined[3].isNaN)
    }

    /// The hybrid standardises each system over the query's candidates, leaving the query out, and mixes them;
    /// a candidate without a timbre score is ranked by the model alone.
    @Test func hybridMixesStandardisedScores() {
        let model = [1.0, 0.9, 0.5, 0.1], timbre = [1.0, 0.0, 0.2, 0.4]
        // Without the query (index 0): model z of [0.9, 0.5, 0.1] is [1.2247, 0, −1.2247]; timbre of [0, 0.2, 0.4]
        // is [−1.2247, 0, 1.2247].
        let h = TimbreSimilarity.hybrid(model: model, timbre: timbre, weight: 0.25, excluding: 0)
        #expect(abs(h[1] - (0.75 * 1.224744871391589 - 0.25 * 1.224744871391589)) < 1e-12)
        #expect(abs(h[2]) < 1e-12 && abs(h[3] + h[1]) < 1e-12)
        // Weight 0 keeps the model's order, weight 1 the timbre's.
        #expect(TimbreSimilarity.hybrid(model: model, timbre: timbre, weight: 0, excluding: 0)[1...].elementsEqual(
            TimbreSimilarity.standardised(model, excluding: 0)[1...]))
        let onlyTimbre = TimbreSimilarity.hybrid(model: model, timbre: timbre, weight: 1, excluding: 0)
        #expect(onlyTimbre[3] > onlyTimbre[2] && onlyTimbre[2] > onlyTimbre[1])
        // A missing timbre score counts as the mean (0 after standardising): the model decides that candidate.
        let missing = TimbreSimilarity.hybrid(model: model, timbre: [1, .nan, 0.2, 0.4], weight: 0.5, excluding: 0)
        #expect(missing[1].isFinite && abs(missing[1] - 0.5 * TimbreSimilarity.standardised(model, excluding: 0)[1]) < 1e-12)
    }
}
