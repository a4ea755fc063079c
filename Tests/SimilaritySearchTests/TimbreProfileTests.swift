import Foundation
import RetrieveCore
import SimilaritySearch
import Testing

@Suite struct TimbreProfileTests {
    static func gaussian(_ k: Int) throws -> TimbreGaussian {
        try #require(TimbreGaussian(mfcc: TimbreSimilarityTests.matrix(k)))
    }

    /// The stored form reads back as the model rounded to Float: mean and covariance within Float's precision,
    /// the log-determinant recomputed from the rounded values, and a second round trip exact.
    @Test func packedFormRoundTrips() throws {
        let g = try Self.gaussian(1)
        #expect(g.packed.count == TimbreGaussian.packedCount && TimbreGaussian.packedCount == 324)
        let r = try #require(TimbreGaussian(packed: g.packed))
        for (a, b) in zip(r.mean + r.covariance, g.mean + g.covariance) {
            #expect(abs(a - b) <= 1e-6 * max(1, abs(b)))
        }
        #expect(r.covariance[1] == r.covariance[24], "the lower triangle mirrors the upper one")
        #expect(abs(r.logDeterminant - g.logDeterminant) < 1e-5)
        #expect(TimbreGaussian(packed: r.packed) == r && g.rounded == r)
    }

    /// A wrong length, a value that is not finite or a covariance that is not positive definite is no model.
    @Test func damagedPackedValuesAreRefused() throws {
        let values = try Self.gaussian(0).packed
        #expect(TimbreGaussian(packed: values.dropLast()) == nil)
        var nan = values
        nan[30] = .nan
        #expect(TimbreGaussian(packed: nan) == nil)
        var negative = values
        negative[24] = -1  // the first variance
        #expect(TimbreGaussian(packed: negative) == nil)
        #expect(TimbreGaussian(packed: [Float](repeating: 0, count: TimbreGaussian.packedCount)) == nil)
    }

    /// A profile's normalisation is the mean and sample deviation of its model's distances to the reference's
    /// models of the same band (rounded to Float as stored); its similarity to another is the larger of the two
    /// bands' mutual proximities, by `TimbreSimilarity`'s own functions.
    @Test func profilesNormaliseAgainstTheReferenceAndCompareByTheCloserBand() throws {
        let models = try (0..<12).map(Self.gaussian)
        let reference = try #require(TimbreReference(full: Array(models[2...9]), lowBand: Array(models[3...11])))
        let a = reference.profile(full: models[0], lowBand: models[1])
        let b = reference.profile(full: models[1], lowBand: models[0])
        let full = try #require(a.full)
        let rounded = try #require(models[0].rounded)
        let exact = try #require(
            TimbreSimilarity.Normalisation(distances: models[2...9].map { TimbreSimilarity.distance(rounded, $0) }))
        #expect(full.normalisation.mean == Double(Float(exact.mean)))
        #expect(full.normalisation.deviation == Double(Float(exact.deviation)))
        func mp(_ x: TimbreProfile.Band?, _ y: TimbreProfile.Band?) throws -> Double {
            let (x, y) = (try #require(x), try #require(y))
            return TimbreSimilarity.mutualProximity(
                TimbreSimilarity.distance(x.model, y.model), x.normalisation, y.normalisation)
        }
        let expected = max(try mp(a.full, b.full), try mp(a.lowBand, b.lowBand))
        #expect(abs(a.similarity(to: b) - expected) < 1e-15)
        #expect(a.similarity(to: b) == b.similarity(to: a))
        // One band missing: the other decides; none shared: NaN.
        let fullOnly = TimbreProfile(full: a.full, lowBand: nil)
        #expect(fullOnly.similarity(to: b) == (try mp(a.full, b.full)))
        #expect(fullOnly.similarity(to: TimbreProfile(full: nil, lowBand: b.lowBand)).isNaN)
        #expect(TimbreReference(full: Array(models[0..<7]), lowBand: models) == nil, "fewer than eight models")
    }

    /// The stored profile reads back equal (its values were rounded when it was made); a missing band is stored as
    /// zeros and reads back missing; a wrong length is no profile.
    @Test func profilesRoundTripThroughTheirStoredForm() throws {
        let models = try (0..<10).map(Self.gaussian)
        let reference = try #require(TimbreReference(full: Array(models[2...]), lowBand: Array(models[2...])))
        let profile = reference.profile(full: models[0], lowBand: models[1])
        #expect(profile.packed.count == TimbreProfile.packedCount && TimbreProfile.packedCount == 652)
        #expect(TimbreProfile(packed: profile.packed) == profile)
        let half = reference.profile(full: nil, lowBand: models[1])
        let read = try #require(TimbreProfile(packed: half.packed))
        #expect(read.full == nil && read.lowBand == half.lowBand && !read.isEmpty)
        #expect(TimbreProfile(packed: [Float](repeating: 0, count: TimbreProfile.packedCount))?.isEmpty == true)
        #expect(TimbreProfile(packed: Array(profile.packed.dropLast())) == nil)
    }

    /// Spreads: population statistics over the finite scores; none for fewer than two or for equal scores; `mixed`
    /// is the hybrid's per-candidate form.
    @Test func spreadsStandardiseAndMix() throws {
        let s = try #require(TimbreSimilarity.Spread([1, 2, 3, .nan]))
        #expect(s.mean == 2 && abs(s.deviation - (2.0 / 3).squareRoot()) < 1e-15)
        #expect(s.standardised(.nan) == 0 && s.standardised(2) == 0)
        #expect(TimbreSimilarity.Spread([1]) == nil && TimbreSimilarity.Spread([2, 2]) == nil)
        let model = [0.9, 0.5, 0.1], timbre = [0.0, 0.2, 0.4]
        let hybrid = TimbreSimilarity.hybrid(model: model, timbre: timbre, weight: 0.3)
        let (ms, ts) = (TimbreSimilarity.Spread(model), TimbreSimilarity.Spread(timbre))
        for i in 0..<3 {
            #expect(
                hybrid[i]
                    == TimbreSimilarity.mixed(
                        model: model[i], timbre: timbre[i], modelSpread: ms, timbreSpread: ts, weight: 0.3))
        }
        #expect(TimbreSimilarity.mixed(model: 5, timbre: 5, modelSpread: nil, timbreSpread: nil) == 0)
    }
}
