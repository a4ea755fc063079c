public import RetrieveCore

extension TimbreGaussian {
    /// The dynamic range the Gaussian's log-mel keeps, in dB below its own peak (librosa's `top_db`): quieter
    /// bins are raised to that floor, so the model depends on the recording's spectrum, not on its level or on
    /// how deep its digital silence goes.
    public static let floorDecibels: Float = 80

    /// The timbre Gaussian of a log-mel matrix (`frames × melBands`, dB, as `FeatureExtractor.logMel` makes it):
    /// floored `floorDecibels` below its peak, the frames whose window reaches into the STFT's zero padding left
    /// out (when enough remain, as `BaselineDescriptors` does), MFCCs by `extractor` (whose configuration must
    /// keep at least `mfccCount` coefficients of the same bands). Nil for too few frames (`init(mfcc:)`).
    public init?(logMel: Matrix, extractor: FeatureExtractor) {
        precondition(
            extractor.configuration.mfccCount >= Self.mfccCount,
            "the timbre Gaussian needs \(Self.mfccCount) MFCCs, the extractor keeps \(extractor.configuration.mfccCount)"
        )
        var floored = logMel
        FeatureExtractor.applyTopDecibels(&floored, Self.floorDecibels)
        let edge = extractor.configuration.fftSize / (2 * extractor.configuration.hopLength)
        if floored.rows > 4 * edge { floored = floored.rows(edge..<(floored.rows - edge)) }
        self.init(mfcc: extractor.mfcc(fromLogMel: floored))
    }
}
