/// The parameters of the audio front end, from decoding to MFCC.
///
/// Defaults are librosa's (`sr=22050, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=20`, Slaney mel
/// scale and normalisation, `power_to_db(ref=1, amin=1e-10, top_db=80)`), so our features can be checked
/// against librosa number for number. A model stores the configuration it was trained with, and the
/// pipeline always analyses audio with the model's configuration, never a global default.
public struct FeatureConfiguration: Sendable, Equatable, Hashable, Codable {
    /// Analysis sample rate in Hz; every file is resampled to it.
    public var sampleRate: Int
    /// FFT size in samples (also the window length); even (`FeatureExtractor` refuses odd sizes).
    public var fftSize: Int
    /// Hop between frames in samples.
    public var hopLength: Int
    /// Number of mel bands.
    public var melBands: Int
    /// Lowest mel filter edge in Hz.
    public var minFrequency: Double
    /// Highest mel filter edge in Hz; `nil` means Nyquist.
    public var maxFrequency: Double?
    /// Number of MFCC coefficients.
    public var mfccCount: Int
    /// Dynamic range kept by `power_to_db`, in dB below the peak; `nil` keeps everything.
    public var topDecibels: Float?

    public init(sampleRate: Int = 22_050, fftSize: Int = 2048, hopLength: Int = 512, melBands: Int = 128,
                minFrequency: Double = 0, maxFrequency: Double? = nil, mfccCount: Int = 20,
                topDecibels: Float? = 80) {
        self.sampleRate = sampleRate
        self.fftSize = fftSize
        self.hopLength = hopLength
        self.melBands = melBands
        self.minFrequency = minFrequency
        self.maxFrequency = maxFrequency
        self.mfccCount = mfccCount
        self.topDecibels = topDecibels
    }

    /// librosa's defaults.
    public static let standard = FeatureConfiguration()

    /// The version of the analysis that turns a file into the frames a model sees: decoding, mixing to mono,
    /// resampling and the front end (STFT, mel, dB, level normalisation) and how frames are cut into segments.
    ///
    /// The index stores it with every embedding, and `retrieve index` re-embeds tracks whose vectors another
    /// version made, as it does for another model. **Bump it** whenever a change to `AudioDecoding` (which
    /// samples come out of a file, how many, at what rate), the resampler or `SpectralFeatures` can change the
    /// frames of some file; not for changes that keep every output bit the same. The model's own parameters
    /// (weights, `FeatureConfiguration` values) are versioned by its digest, not by this number.
    /// Versions: 1, every index written before the number was stored; 2, a track's segments include the
    /// window that ends at its last frame (`SegmentCutter`), so the end of every track is heard; 3, files are
    /// decoded to the end of their audio whatever their header claims (an MP3 without a Xing header, a lying
    /// FLAC STREAMINFO total or OGG granule) and cut by the length decoded (a tagged, junk-ended or truncated
    /// OGG/Opus had been cut into one segment).
    public static let analysisVersion = 3

    /// Seconds covered by one hop.
    public var secondsPerFrame: Double { Double(hopLength) / Double(sampleRate) }
}
