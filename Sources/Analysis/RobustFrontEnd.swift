import Foundation
public import RetrieveCore
import SpectralFeatures
public import SequenceEncoding

/// The identification front end: how a recording and a query are heard so that segment matching
/// (`SegmentMatching` in SimilaritySearch) finds an excerpt despite a changed level, band limit or pitch.
///
/// The index stores segment embeddings of `windows(_:configuration:)` (`retrieve index --segments`); a query is
/// embedded the same way, as recorded and once per `pitchOffsets` entry, heard varispeed-shifted.
public enum RobustFrontEnd {
    /// The pitch offsets, in semitones, at which identification also tries a query besides as recorded.
    ///
    /// The model's segments are not pitch-invariant (a +1 semitone copy finds its source only 31 % of the time on
    /// the test split), so a query is also heard varispeed-shifted by each offset: resampled so that pitch and
    /// tempo move together by 2^(s/12). Varispeed is the simplest shift, not the inverse of any particular pitch
    /// shifter: it undoes the pitch of a time-preserving shift and leaves its tempo off by the same factor
    /// (≤ 9 %), which segment matching tolerates. Half-semitone steps leave any shift within ±1.75 semitones at
    /// most a quarter tone from a try. On the corpus's test split, 10-s excerpts shifted by librosa's phase
    /// vocoder are found first 30 of 30 times at +1 semitone and 23 of 30 at −0.75 (a quarter tone from the
    /// nearest try), against 12 and 11 of 30 without the tries. The price: more chances for a wrong track, so
    /// excerpts with 20 dB of white noise are found first less often (0.81 against 0.92, 6 per track).
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
    public static func windows(_ windows: [Matrix], configuration: EncoderConfiguration) -> [Matrix] {
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
