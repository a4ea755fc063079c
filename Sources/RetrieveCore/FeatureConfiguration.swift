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

    public init(
        sampleRate: Int = 22_050, fftSize: Int = 2048, hopLength: Int = 512, melBands: Int = 128,
        minFrequency: Double = 0, maxFrequency: Double? = nil, mfccCount: Int = 20,
        topDecibels: Float? = 80
    ) {
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

    /// The bounds a model file's front end must keep (`problem`): wide enough for every configuration in use
    /// (2 kHz test models to 384 kHz studio rates), narrow enough that a damaged or hostile file cannot trap,
    /// allocate gigabytes or plan an FFT that never finishes.
    public enum Bounds {
        public static let sampleRate = 1_000...384_000
        /// Even sizes only (see `FeatureExtractor`); 2^16 is 3 s at 22 050 Hz, far above any real window.
        public static let fftSize = 16...65_536
        /// At least 16 samples, and at most `fftSize` (a larger hop would skip audio).
        public static let minimumHopLength = 16
        /// Frames per second of audio, `sampleRate / hopLength`, at most this (43 by default): bounds memory per second.
        public static let maximumFrameRate = 1_000.0
        public static let melBands = 1...1_024
        /// Dynamic range of `power_to_db`, in dB.
        public static let topDecibels: ClosedRange<Float> = 0...200
    }

    /// The first field outside `Bounds` (or inconsistent with another), as a clause naming the field, its value
    /// and the allowed range, e.g. "features.sampleRate is 0; allowed 1000…384000 Hz"; nil when usable.
    /// `prefix` is prepended to field names ("features." inside a model's configuration).
    public func problem(prefix: String = "") -> String? {
        func bad(_ field: String, _ value: Any, _ allowed: String) -> String {
            "\(prefix)\(field) is \(value); allowed \(allowed)"
        }
        func range<T>(_ r: ClosedRange<T>) -> String { "\(r.lowerBound)…\(r.upperBound)" }
        if !Bounds.sampleRate.contains(sampleRate) {
            return bad("sampleRate", sampleRate, range(Bounds.sampleRate) + " Hz")
        }
        if !Bounds.fftSize.contains(fftSize) || fftSize % 2 != 0 {
            return bad("fftSize", fftSize, "an even number of samples in " + range(Bounds.fftSize))
        }
        let minimumHop = max(Bounds.minimumHopLength, Int((Double(sampleRate) / Bounds.maximumFrameRate).rounded(.up)))
        if !(minimumHop...fftSize).contains(hopLength) {
            return bad(
                "hopLength", hopLength,
                "\(minimumHop)…\(fftSize) samples (at most fftSize, and at most "
                    + "\(Int(Bounds.maximumFrameRate)) frames per second at \(sampleRate) Hz)")
        }
        if !Bounds.melBands.contains(melBands) { return bad("melBands", melBands, range(Bounds.melBands)) }
        // Not tied to melBands here: a model never computes MFCCs, and small test models keep the default 20.
        if !Bounds.melBands.contains(mfccCount) { return bad("mfccCount", mfccCount, range(Bounds.melBands)) }
        let nyquist = Double(sampleRate) / 2
        if !(minFrequency.isFinite && minFrequency >= 0 && minFrequency < nyquist) {
            return bad("minFrequency", minFrequency, "0 ≤ fmin < \(nyquist) Hz (the Nyquist frequency)")
        }
        if let fmax = maxFrequency, !(fmax.isFinite && fmax > minFrequency && fmax <= nyquist) {
            return bad(
                "maxFrequency", fmax, "above minFrequency (\(minFrequency) Hz) and at most \(nyquist) Hz, or null")
        }
        if let top = topDecibels, !(top.isFinite && Bounds.topDecibels.contains(top)) {
            return bad("topDecibels", top, range(Bounds.topDecibels) + " dB, or null")
        }
        return nil
    }

    /// Seconds covered by one hop.
    public var secondsPerFrame: Double { Double(hopLength) / Double(sampleRate) }
}
