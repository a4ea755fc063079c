public import RetrieveCore
public import SpectralFeatures

/// The classical track descriptors the model is compared with: frame-feature statistics over a whole track.
///
/// Both start from the same log-mel the model sees, with librosa's `top_db = 80` applied per track (the model
/// streams features and so keeps the full range; the baselines follow `librosa.feature.mfcc`'s defaults,
/// where near-silent frames are floored 80 dB under the track's peak rather than at −100 dB).
public enum BaselineDescriptors {
    /// The two baselines, in report order.
    public enum Kind: String, CaseIterable, Sendable, Codable {
        /// 20 MFCCs' mean and standard deviation, then 20 delta-MFCCs' mean and standard deviation: 80-d.
        case mfcc = "mfcc-stats"
        /// Every mel band's mean and standard deviation: 2 × bands (256-d for 128 bands).
        case logMel = "logmel-stats"
    }

    /// Both descriptors of one log-mel matrix (`frames × melBands`, dB), in `Kind.allCases` order.
    ///
    /// The statistics leave out the `fftSize / (2 · hop)` frames at each end whose window reaches into the
    /// zero padding of the centred STFT (when at least as many frames remain): they describe the padding, not
    /// the audio, and would make an excerpt's statistics differ from its track's by the length ratio alone.
    public static func descriptors(logMel: Matrix, extractor: FeatureExtractor) -> [[Float]] {
        var floored = logMel
        FeatureExtractor.applyTopDecibels(&floored, 80)
        let mfcc = extractor.mfcc(fromLogMel: floored)
        let delta = FeatureExtractor.deltas(mfcc, width: 9, order: 1)
        func inner(_ m: Matrix) -> Matrix { m.rows(extractor.configuration.paddingFreeFrames(m.rows)) }
        let (m, s) = inner(mfcc).columnStatistics()
        let (dm, ds) = inner(delta).columnStatistics()
        return [m + s + dm + ds, logMelStatistics(logMel: inner(floored))]
    }

    /// `[mean(MFCC), std(MFCC), mean(ΔMFCC), std(ΔMFCC)]`, MFCCs by `extractor.mfcc(fromLogMel:)` and deltas by
    /// `FeatureExtractor.deltas` (width 9, librosa's 'interp' edges). Standard deviations are population ones.
    public static func mfccStatistics(logMel: Matrix, extractor: FeatureExtractor) -> [Float] {
        let mfcc = extractor.mfcc(fromLogMel: logMel)
        let delta = FeatureExtractor.deltas(mfcc, width: 9, order: 1)
        let (m, s) = mfcc.columnStatistics()
        let (dm, ds) = delta.columnStatistics()
        return m + s + dm + ds
    }

    /// `[mean(band), std(band)]` over frames.
    public static func logMelStatistics(logMel: Matrix) -> [Float] {
        let (m, s) = logMel.columnStatistics()
        return m + s
    }
}
