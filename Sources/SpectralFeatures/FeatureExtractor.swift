import Foundation
public import RetrieveCore
internal import CSpectralKernels

/// How the signal is extended by `fftSize / 2` samples at each end so that frame t is centred on sample t · hop.
///
/// librosa 0.11's default for `stft` and `melspectrogram` is `pad_mode='constant'` (zeros), not `'reflect'`
/// as older librosa versions and many papers assume; `.constant` is therefore our default too.
public enum PadMode: String, Sendable, Equatable, Codable, CaseIterable {
    /// Zeros (librosa 0.11's default, `pad_mode='constant'`).
    case constant
    /// Mirror without repeating the edge sample (`numpy.pad(mode='reflect')`), repeated for very short signals.
    case reflect
}

/// A feature parameter that cannot work, naming the parameter, quoting the value and saying what is allowed.
public struct FeatureConfigurationError: Error, Equatable, CustomStringConvertible {
    public let parameter: String
    public let value: String
    public let requirement: String
    public var description: String {
        "invalid feature configuration: \(parameter) = \(value); \(requirement)"
    }
}

/// The spectral front end: samples → centred STFT → power → Slaney mel → dB → MFCC, matching librosa 0.11.
///
/// Stages are composable, like librosa's: `powerMel` is `melspectrogram(power=2)`, `logMel` applies
/// `power_to_db(ref=1, amin=1e-10, top_db=configuration.topDecibels)`, `mfcc(fromLogMel:)` is the orthonormal
/// DCT-II keeping `mfccCount` coefficients. Every output is a `Matrix` of shape `frames × bands` — the transpose
/// of librosa's `(n_mels, t)` — with `frames = 1 + samples.count / hopLength` (0 for no samples; librosa gives
/// one frame for any signal shorter than a hop, and so do we).
///
/// Precision: single-precision FFT (FFTW's complex DFT of half the frame, finished as a real FFT; see
/// `RealFFTPlan`) and accumulation, as librosa on `float32` input; against librosa the log-mel agrees to a few
/// hundredths of a dB on bins within 60 dB of the peak (1.4e-4 dB on the fixtures). Input must be
/// finite (`AudioDecoder` guarantees it); a NaN in the input makes NaN features.
///
/// Thread safety: an extractor is immutable after `init` and may be shared; each call allocates its own
/// FFT buffers and executes the shared FFTW plan with FFTW's new-array interface.
public final class FeatureExtractor: @unchecked Sendable {
    public let configuration: FeatureConfiguration
    /// How frames at the edges are padded (see `PadMode`).
    public let padMode: PadMode
    let plan: RealFFTPlan
    let window: [Float]
    let filterbank: MelFilterbank
    /// `melBands × dctStride`, row-major: the orthonormal DCT-II basis, transposed, each row zero-padded from
    /// `mfccCount` to `dctStride` (a multiple of 8) so that the MFCC loop works on whole SIMD8 lanes.
    let dctTransposed: [Float]
    let dctStride: Int

    /// Validates `configuration` and precomputes the window, mel filterbank, DCT and FFT plan.
    public init(
        configuration: FeatureConfiguration = .standard, padMode: PadMode = .constant
    )
        throws(FeatureConfigurationError)
    {
        let c = configuration
        func bad(_ p: String, _ v: Any, _ r: String) -> FeatureConfigurationError {
            FeatureConfigurationError(parameter: p, value: "\(v)", requirement: r)
        }
        guard c.sampleRate > 0 else { throw bad("sampleRate", c.sampleRate, "must be a positive number of Hz") }
        // Odd sizes are refused: librosa centres them with ⌊n/2⌋ samples of padding and so makes one frame fewer
        // than `1 + samples / hop` for some lengths; every frame size in use is even (default 2048).
        guard c.fftSize >= 2, c.fftSize % 2 == 0 else {
            throw bad("fftSize", c.fftSize, "must be an even number of samples, at least 2 (e.g. 2048)")
        }
        guard c.hopLength > 0 else { throw bad("hopLength", c.hopLength, "must be a positive number of samples") }
        guard c.melBands > 0 else { throw bad("melBands", c.melBands, "must be at least 1") }
        guard c.mfccCount > 0, c.mfccCount <= c.melBands else {
            throw bad("mfccCount", c.mfccCount, "must be between 1 and melBands (\(c.melBands))")
        }
        let nyquist = Double(c.sampleRate) / 2
        let fmax = c.maxFrequency ?? nyquist
        guard c.minFrequency >= 0, c.minFrequency.isFinite else {
            throw bad("minFrequency", c.minFrequency, "must be a finite frequency ≥ 0 Hz")
        }
        guard fmax > c.minFrequency, fmax.isFinite else {
            throw bad("maxFrequency", fmax, "must be finite and above minFrequency (\(c.minFrequency) Hz)")
        }
        if let top = c.topDecibels, !(top >= 0 && top.isFinite) {
            throw bad("topDecibels", top, "must be a finite non-negative number of dB, or nil to keep everything")
        }
        self.configuration = c
        self.padMode = padMode
        plan = FFTPlanCache.shared.plan(size: c.fftSize)
        // Periodic Hann (scipy.signal.get_window('hann', n, fftbins=True)).
        window = (0..<c.fftSize).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(c.fftSize))) }
        filterbank = MelFilterbank(
            sampleRate: c.sampleRate, fftSize: c.fftSize, bands: c.melBands,
            minFrequency: c.minFrequency, maxFrequency: fmax)
        (dctTransposed, dctStride) = Self.dctBasis(bands: c.melBands, count: c.mfccCount)
    }

    /// The first `count` orthonormal DCT-II basis vectors over `bands` values, transposed (`bands × stride`,
    /// row-major) and each row zero-padded to `stride`, the next multiple of 8 (what `dct(rows:…)` takes):
    /// √(1/K) for coefficient 0, √(2/K) · cos(π k (2i + 1) / 2K) for the others, as scipy's `dct(norm='ortho')`.
    static func dctBasis(bands n: Int, count: Int) -> (basis: [Float], stride: Int) {
        let stride = (count + 7) / 8 * 8
        var dct = [Float](repeating: 0, count: stride * n)
        for k in 0..<count {
            let scale = (2.0 / Double(n)).squareRoot() * (k == 0 ? 1 / 2.0.squareRoot() : 1)
            for i in 0..<n {
                dct[i * stride + k] = Float(scale * cos(Double.pi * Double(k) * Double(2 * i + 1) / Double(2 * n)))
            }
        }
        return (dct, stride)
    }

    /// The DCT of each row of `x` (`frames × bands`) by a basis of `dctBasis(bands:count:)`: `frames × count`.
    static func dct(rows x: Matrix, basis: [Float], stride: Int, count: Int) -> Matrix {
        var out = Matrix(rows: x.rows, columns: count)
        // y[k] += dctᵀ[i][k] · x[i] over i, the coefficients held in SIMD accumulators across the whole i loop:
        // independent lanes, where a dot product per coefficient would be one long dependency chain. Each y[k]
        // is still summed in the order i = 0, 1, …
        guard x.rows > 0 else { return out }
        basis.withUnsafeBufferPointer { basis in
            x.storage.withUnsafeBufferPointer { x0 in
                out.storage.withUnsafeMutableBufferPointer { y in
                    spk_dct_rows(x0.baseAddress!, x.rows, x.columns, basis.baseAddress!, stride, count, y.baseAddress!)
                }
            }
        }
        return out
    }

    /// FFT bins per frame, `fftSize / 2 + 1`.
    public var frequencyBins: Int { configuration.fftSize / 2 + 1 }

    /// Frames produced for a signal of `sampleCount` samples: `1 + sampleCount / hopLength`, or 0 when empty.
    public func frameCount(forSampleCount sampleCount: Int) -> Int {
        sampleCount == 0 ? 0 : 1 + sampleCount / configuration.hopLength
    }

    /// The power spectrogram |STFT|², `frames × (fftSize / 2 + 1)` (librosa `abs(stft(y))**2`, transposed).
    public func powerSpectrogram(_ samples: [Float]) -> Matrix {
        frames(samples, columns: frequencyBins) { processor, frame, row in processor.powerSpectrum(frame, row) }
    }

    /// The mel power spectrogram, `frames × melBands` (librosa `feature.melspectrogram`, transposed).
    public func powerMel(_ samples: [Float]) -> Matrix {
        frames(samples, columns: configuration.melBands) { processor, frame, row in
            processor.mel(frame, row, decibels: false)
        }
    }

    /// The log-mel spectrogram in dB, `frames × melBands`: `power_to_db(melspectrogram(y), ref=1, amin=1e-10,
    /// top_db=configuration.topDecibels)`. Silence comes out at −100 dB (the `amin` floor), never −∞ or NaN.
    public func logMel(_ samples: [Float]) -> Matrix {
        var m = frames(samples, columns: configuration.melBands) { processor, frame, row in
            processor.mel(frame, row, decibels: true)
        }
        if let top = configuration.topDecibels { Self.applyTopDecibels(&m, top) }
        return m
    }

    /// MFCCs, `frames × mfccCount` (librosa `feature.mfcc` with its defaults, transposed).
    public func mfcc(_ samples: [Float]) -> Matrix {
        mfcc(fromLogMel: logMel(samples))
    }

    /// MFCCs of an existing log-mel matrix (`frames × melBands`): the orthonormal DCT-II of each frame.
    public func mfcc(fromLogMel logMel: Matrix) -> Matrix {
        let bands = configuration.melBands
        precondition(logMel.columns == bands, "log-mel has \(logMel.columns) bands, configuration says \(bands)")
        return Self.dct(rows: logMel, basis: dctTransposed, stride: dctStride, count: configuration.mfccCount)
    }

    /// `power_to_db` with `ref=1`: `10 · log10(max(amin, x))`, then, if `topDecibels` is given, every value
    /// is raised to at least `max − topDecibels`.
    public static func powerToDecibels(_ power: Matrix, amin: Float = 1e-10, topDecibels: Float? = 80) -> Matrix {
        var m = power
        // The same conversion the log-mel path makes per frame, so that `powerToDecibels(powerMel(x))` is
        // `logMel(x)` bit for bit.
        m.storage.withUnsafeMutableBufferPointer { x in
            if let base = x.baseAddress { FrameProcessor.decibels(base, count: x.count, amin: amin) }
        }
        if let top = topDecibels { applyTopDecibels(&m, top) }
        return m
    }

    /// Clamps every dB value to at least `max − topDecibels` (the second half of `power_to_db`). Needs the
    /// global maximum, which is why `StreamingLogMel` leaves it to the caller.
    public static func applyTopDecibels(_ decibels: inout Matrix, _ topDecibels: Float) {
        guard !decibels.storage.isEmpty else { return }
        decibels.storage.withUnsafeMutableBufferPointer { x in
            let floor = spk_max(x.baseAddress!, x.count) - topDecibels
            spk_clamp_below(x.baseAddress!, x.count, floor)
        }
    }

    /// Runs `body` on every centred frame of the padded signal, writing one `columns`-wide row per frame.
    private func frames(
        _ samples: [Float], columns: Int,
        _ body: (FrameProcessor, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    ) -> Matrix {
        let count = frameCount(forSampleCount: samples.count)
        var out = Matrix(rows: count, columns: columns)
        guard count > 0 else { return out }
        let padded = Self.pad(samples, by: configuration.fftSize / 2, mode: padMode)
        let processor = FrameProcessor(self)
        let hop = configuration.hopLength
        padded.withUnsafeBufferPointer { x in
            out.storage.withUnsafeMutableBufferPointer { y in
                for t in 0..<count { body(processor, x.baseAddress! + t * hop, y.baseAddress! + t * columns) }
            }
        }
        return out
    }

    /// `numpy.pad(x, (half, half), mode)`; for `.reflect` a signal shorter than the pad is mirrored repeatedly.
    static func pad(_ x: [Float], by half: Int, mode: PadMode) -> [Float] {
        let n = x.count
        var padded = [Float](repeating: 0, count: n + 2 * half)
        for i in 0..<n { padded[half + i] = x[i] }
        if mode == .reflect, n > 0 {
            for i in 0..<half {
                padded[half - 1 - i] = x[reflectIndex(-1 - i, n)]
                padded[half + n + i] = x[reflectIndex(n + i, n)]
            }
        }
        return padded
    }

    /// Index into `0..<n` of position `j` of the signal mirrored at both ends without repeating edge samples.
    static func reflectIndex(_ j: Int, _ n: Int) -> Int {
        if n == 1 { return 0 }
        let period = 2 * (n - 1)
        var k = j % period
        if k < 0 { k += period }
        return k < n ? k : period - k
    }
}

/// Per-call work buffers and the per-frame kernels: window, FFT, power, mel, dB.
final class FrameProcessor {
    let extractor: FeatureExtractor
    let buffers: RealFFTBuffers
    let power: UnsafeMutablePointer<Float>
    let fftSize: Int
    let amin: Float = 1e-10

    init(_ extractor: FeatureExtractor) {
        self.extractor = extractor
        fftSize = extractor.configuration.fftSize
        buffers = RealFFTBuffers(size: fftSize)
        // Zeroed past the last bin: the mel kernel reads that far (see `MelFilterbank.paddedBins`).
        power = .allocate(capacity: extractor.filterbank.paddedBins)
        power.initialize(repeating: 0, count: extractor.filterbank.paddedBins)
    }

    deinit { power.deallocate() }

    /// |FFT(window · frame)|² into `output` (`fftSize / 2 + 1` values).
    @inline(__always)
    func powerSpectrum(_ frame: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        extractor.window.withUnsafeBufferPointer { w in
            spk_window(frame, w.baseAddress!, fftSize, buffers.input)
        }
        extractor.plan.powerSpectrum(buffers, output)
    }

    /// Mel power (or its dB value, without top-dB clamping) of one frame into `output` (`melBands` values).
    @inline(__always)
    func mel(_ frame: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, decibels: Bool) {
        powerSpectrum(frame, power)
        extractor.filterbank.apply(power, output)
        if decibels { Self.decibels(output, count: extractor.filterbank.bands, amin: amin) }
    }

    /// `x ← 10 · log10(max(amin, x))` in place (`spk_decibels`: a vectorised Cephes logarithm that agrees with
    /// `log10f` to a few ulps, ≤ 2e-5 dB at ±100 dB, far below the 0.05 dB this path promises).
    @inline(__always)
    static func decibels(_ x: UnsafeMutablePointer<Float>, count: Int, amin: Float) {
        // Floored values (silence) get exactly what `10 · log10(amin)` gives: −100 dB for 1e-10.
        spk_decibels(x, count, amin, 3.0102999566398120 * log2(amin))
    }
}

extension FeatureConfiguration {
    /// The frames of a `frames`-long centred STFT whose windows stay clear of its zero padding: all but the
    /// `fftSize / (2 · hopLength)` at each end, when more than twice as many remain in between; otherwise all.
    /// Statistics over them describe the audio, not the padding, so an excerpt's match its track's.
    public func paddingFreeFrames(_ frames: Int) -> Range<Int> {
        let edge = fftSize / (2 * hopLength)
        return frames > 4 * edge ? edge..<(frames - edge) : 0..<frames
    }
}
