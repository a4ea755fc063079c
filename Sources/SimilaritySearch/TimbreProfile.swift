public import RetrieveCore

/// A track's timbre as an index stores it: its two Gaussians (`TimbreGaussian`, all bands and the bands below
/// `TimbreGaussian.lowBandLimit`), each with its mutual-proximity normalisation against the model's fixed
/// reference set (`TimbreReference`), so that two tracks' timbre similarity needs nothing but their profiles.
///
/// Because the reference set ships with the model, a profile depends only on the track and the model — never on
/// the rest of the collection — and stays valid as the collection grows, like an embedding.
public struct TimbreProfile: Sendable, Equatable {
    /// One band range's model and its normalisation; nil when the track gave no model there (too short).
    public struct Band: Sendable, Equatable {
        public var model: TimbreGaussian
        public var normalisation: TimbreSimilarity.Normalisation

        public init(model: TimbreGaussian, normalisation: TimbreSimilarity.Normalisation) {
            self.model = model
            self.normalisation = normalisation
        }
    }

    public var full: Band?
    public var lowBand: Band?

    public init(full: Band?, lowBand: Band?) {
        self.full = full
        self.lowBand = lowBand
    }

    /// Values per band in `packed`: the Gaussian's packed form, then the normalisation's mean and deviation.
    static let bandCount = TimbreGaussian.packedCount + 2
    /// The length of `packed`: both bands.
    public static let packedCount = 2 * bandCount

    /// The profile as stored (float32): the full band's `TimbreGaussian.packed`, its normalisation's mean and
    /// deviation, then the same for the low band; a missing band is all zeros.
    public var packed: [Float] {
        func values(_ band: Band?) -> [Float] {
            guard let band else { return [Float](repeating: 0, count: Self.bandCount) }
            return band.model.packed + [Float(band.normalisation.mean), Float(band.normalisation.deviation)]
        }
        return values(full) + values(lowBand)
    }

    /// A profile read back from `packed` form; nil when the count is wrong. A band whose values do not make a
    /// model (all zeros, not finite, not positive definite, a deviation that is not positive) is missing.
    public init?(packed values: [Float]) {
        guard values.count == Self.packedCount else { return nil }
        func band(_ start: Int) -> Band? {
            let end = start + TimbreGaussian.packedCount
            let mean = Double(values[end]), deviation = Double(values[end + 1])
            guard let model = TimbreGaussian(packed: values[start..<end]), mean.isFinite, deviation.isFinite,
                deviation > 0
            else { return nil }
            return Band(model: model, normalisation: .init(mean: mean, deviation: deviation))
        }
        full = band(0)
        lowBand = band(Self.bandCount)
    }

    /// Whether neither band has a model.
    public var isEmpty: Bool { full == nil && lowBand == nil }

    /// How alike two tracks' timbres are: for each band both have, the mutual proximity of their Gaussians'
    /// distance under both normalisations, and the larger of the two (`TimbreSimilarity.combined`); in [0, 1],
    /// NaN when the two share no band.
    ///
    /// - Complexity: two Cholesky factorisations of d × d (d = 24).
    public func similarity(to other: TimbreProfile) -> Double {
        func band(_ a: Band?, _ b: Band?) -> Double {
            guard let a, let b else { return .nan }
            let d = TimbreSimilarity.distance(a.model, b.model)
            return d.isFinite ? TimbreSimilarity.mutualProximity(d, a.normalisation, b.normalisation) : .nan
        }
        return TimbreSimilarity.combined(band(full, other.full), band(lowBand, other.lowBand))
    }
}

/// The fixed set of timbre models every track is normalised against (mutual proximity): a few hundred tracks of
/// the model's training corpus, stored in the model file (`Analysis.TimbreReferenceFile`), so that a profile
/// depends on the track and the model only.
public struct TimbreReference: Sendable, Equatable {
    /// The reference tracks' full-band models.
    public let full: [TimbreGaussian]
    /// The reference tracks' low-band models.
    public let lowBand: [TimbreGaussian]

    /// The fewest models per band a reference needs for a normalisation to mean anything.
    public static let minimumCount = 8

    /// Nil when either band has fewer than `minimumCount` models.
    public init?(full: [TimbreGaussian], lowBand: [TimbreGaussian]) {
        guard full.count >= Self.minimumCount, lowBand.count >= Self.minimumCount else { return nil }
        self.full = full
        self.lowBand = lowBand
    }

    /// A track's profile from its two Gaussians: each (rounded to `Float`, as it will be stored) normalised by
    /// its distances to this reference's models of the same band. A band whose model is nil, or whose distances
    /// do not give a normalisation, is missing.
    ///
    /// - Complexity: one Cholesky factorisation per reference model and band.
    public func profile(full: TimbreGaussian?, lowBand: TimbreGaussian?) -> TimbreProfile {
        func band(_ model: TimbreGaussian?, _ reference: [TimbreGaussian]) -> TimbreProfile.Band? {
            guard let model = model?.rounded,
                let exact = TimbreSimilarity.Normalisation(
                    distances: reference.lazy.map { TimbreSimilarity.distance(model, $0) })
            else { return nil }
            // Rounded as stored, so that a profile made now equals the one read back from an index.
            let normalisation = TimbreSimilarity.Normalisation(
                mean: Double(Float(exact.mean)), deviation: Double(Float(exact.deviation)))
            return TimbreProfile.Band(model: model, normalisation: normalisation)
        }
        return TimbreProfile(full: band(full, self.full), lowBand: band(lowBand, self.lowBand))
    }
}
