import Foundation
public import RetrieveCore

extension TimbreGaussian {
    /// The dynamic range the Gaussian's log-mel keeps, in dB below its own peak (librosa's `top_db`): quieter
    /// bins are raised to that floor, so the model depends on the recording's spectrum, not on its level or on
    /// how deep its digital silence goes.
    public static let floorDecibels: Float = 80

    /// The upper band limit of the low-band Gaussian (`TimbreSimilarity.combined`), in Hz: a 4-kHz low-pass or an
    /// old band-limited recording changes little below it.
    public static let lowBandLimit = 5_000.0

    /// The timbre Gaussian of a log-mel matrix (`frames × bands`, dB, as `FeatureExtractor.logMel` makes it with
    /// `configuration`), from the bands whose centre lies at or below `bandLimit` (all bands for nil; at least
    /// `mfccCount` of the lowest, whatever the limit): the log-mel floored `floorDecibels` below its peak, the
    /// frames whose window reaches into the STFT's zero padding left out (when enough remain, as
    /// `BaselineDescriptors` does), and the MFCCs of the chosen bands — the orthonormal DCT-II across them, as
    /// librosa's `mfcc`, by `FeatureExtractor`'s DCT (`FeatureExtractor.mfcc(fromLogMel:)` for all bands). Nil for
    /// too few frames or bands.
    ///
    /// - Complexity: O(frames · bands · `mfccCount`).
    public init?(logMel: Matrix, configuration: FeatureConfiguration, bandLimit: Double? = nil) {
        let centres = configuration.melCentreFrequencies
        guard logMel.columns == centres.count, centres.count >= Self.mfccCount else { return nil }
        let bands = max(
            Self.mfccCount, bandLimit.map { limit in centres.filter { $0 <= limit }.count } ?? centres.count)
        var floored = logMel
        FeatureExtractor.applyTopDecibels(&floored, Self.floorDecibels)
        let rows = configuration.paddingFreeFrames(floored.rows)
        // The kept frames' lowest `bands` bands, contiguous, through `FeatureExtractor`'s own DCT.
        var kept = Matrix(rows: rows.count, columns: bands)
        for (out, r) in rows.enumerated() {
            for n in 0..<bands { kept[out, n] = floored[r, n] }
        }
        let (basis, stride) = FeatureExtractor.dctBasis(bands: bands, count: Self.mfccCount)
        self.init(mfcc: FeatureExtractor.dct(rows: kept, basis: basis, stride: stride, count: Self.mfccCount))
    }
}
