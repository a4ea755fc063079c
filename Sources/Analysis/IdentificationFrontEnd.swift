import Foundation
public import RetrieveCore
import SpectralFeatures
public import SequenceEncoding

/// How a recording and a query are heard for identification, so that segment matching (`SegmentMatching` in
/// SimilaritySearch) finds an excerpt despite a changed level, band limit or pitch.
///
/// The index stores segment embeddings cut every half segment (`retrieve index --segments`); a query is embedded
/// the same way, as recorded and once per `pitchOffsets` entry, heard varispeed-shifted. Which windows the model
/// embeds depends on the model (`usesRobustWindows`): a model that level-normalises its input (format version 2
/// on, every model `retrieve train` makes by default) embeds its own log-mel windows, as for pooling — on the test
/// split 254 of 255 degraded excerpts found first with default-v7, against 249 through the robust windows (both
/// with the pitch tries; 20 dB of noise: 36 of 37 against 31), which band-limit its input and feed it windows it
/// was not trained on; an older model embeds `robustWindows`, which make its segments level- and band-invariant. `version(for:)` names the
/// choice, and the index stores it beside each track's segments so that segments of the other kind are remade,
/// never matched against a query's.
public enum IdentificationFrontEnd {
    /// Whether `configuration`'s model embeds `robustWindows` for identification rather than its own windows:
    /// models without level normalisation (format version 1).
    public static func usesRobustWindows(_ configuration: EncoderConfiguration) -> Bool {
        configuration.levelRange == nil
    }

    /// The kind of identification segments `configuration`'s model makes, as the index records it per track:
    /// 1 for `robustWindows` (every segment stored before the version was recorded), 2 for the model's own
    /// windows.
    public static func version(for configuration: EncoderConfiguration) -> Int {
        usesRobustWindows(configuration) ? robustWindowsVersion : ownWindowsVersion
    }

    /// The kind of segments of `robustWindows`: every segment an index held before kinds were recorded.
    public static let robustWindowsVersion = 1
    /// The kind of segments of the model's own windows.
    public static let ownWindowsVersion = 2

    /// The pitch offsets, in semitones, at which identification also tries a query besides as recorded.
    ///
    /// A model's segments need not be pitch-invariant (default-v1's found a +1 semitone copy only 31 % of the
    /// time on the test split; default-v7's convolutional front end, pooling over mel bands, finds every one), so
    /// a query is also heard varispeed-shifted by each offset: resampled so that pitch and
    /// tempo move together by 2^(s/12). Varispeed is the simplest shift, not the inverse of any particular pitch
    /// shifter: it undoes the pitch of a time-preserving shift and leaves its tempo off by the same factor
    /// (≤ 9 %), which segment matching tolerates. Half-semitone steps leave any shift within ±1.75 semitones at
    /// most a quarter tone from a try. On the corpus's test split, 10-s excerpts shifted by librosa's phase
    /// vocoder were found first 30 of 30 times at +1 semitone and 23 of 30 at −0.75 against 12 and 11 of 30 without
    /// the tries (default-v1, robust windows, 30 tracks), and 85 / 85 at both against 85 and 84 of 85 without
    /// (default-v7, its own windows; `scripts/identify-pitch-check`). The price: more chances for a wrong track (default-v7: 36 of 37
    /// excerpts with 20 dB of white noise found first with the tries, 37 of 37 without).
    public static let pitchOffsets: [Double] = [-0.5, 0.5, -1, 1, -1.5, 1.5]

    /// The rate to resample audio of `sampleRate` Hz to so that, read back at `sampleRate`, it sounds `semitones`
    /// higher (lower when negative), faster (slower) by the same factor: varispeed.
    public static func varispeedRate(_ sampleRate: Int, semitones: Double) -> Int {
        max(1, Int((Double(sampleRate) / pow(2, semitones / 12)).rounded()))
    }

    /// The highest frequency the robust segment front end keeps: below the 4 kHz low-pass (whose order-4 slope
    /// costs about 1 dB at 3.5 kHz), the 8 kHz of 16 kHz resampling and the MP3 encoder's low-pass.
    public static let robustCutoffHz = 3_500.0

    /// Log-mel windows made insensitive to the bandwidth and level of the recording, for segment matching:
    /// bands centred above `robustCutoffHz` are set to the model's band means (normalised input 0, "typical"),
    /// and the kept bands are shifted by one constant per window so that their mean equals the mean of the
    /// model's band means over them. A −9 dB gain or a low-pass then leaves these windows (nearly) unchanged.
    /// It throws away what the high bands and the absolute level tell apart, and feeds the model inputs it was
    /// not trained on.
    public static func robustWindows(_ windows: [Matrix], configuration: EncoderConfiguration) -> [Matrix] {
        let features = configuration.features
        let bandMean = configuration.bandMean, bands = features.melBands
        let centres = features.melCentreFrequencies
        let kept = (0..<bands).filter { centres[$0] <= robustCutoffHz }
        guard !kept.isEmpty, bandMean.count == bands else { return windows }
        let target = kept.reduce(Float(0)) { $0 + bandMean[$1] } / Float(kept.count)
        return windows.map { w in
            var out = w
            var sum: Float = 0
            for r in 0..<w.rows { for b in kept { sum += w[r, b] } }
            let shift = target - sum / Float(w.rows * kept.count)
            for r in 0..<w.rows {
                for b in 0..<bands { out.storage[r * bands + b] = bandMean[b] }
                for b in kept { out.storage[r * bands + b] = w[r, b] + shift }
            }
            return out
        }
    }

}
