import Foundation
import RetrieveCore
import AudioDecoding
import LinearAlgebra

/// One of the seven distortions an identification query goes through before it is looked up.
///
/// They stand for what happens to a recording between a collection and a query: a noisy room, a quieter
/// copy, a lossy re-encode, a bandwidth-limited channel, a DJ's tempo nudge, a transposition, a telephone-ish
/// sample rate. Each is deliberately mild enough that a human hears the same recording.
public enum Degradation: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// No change: the clean excerpt (not among `standard`; for checking the lookup itself).
    case clean
    /// Additive Gaussian white noise at 20 dB SNR (noise power = signal power / 100).
    case whiteNoise = "noise-20dB"
    /// A gain of −9 dB.
    case gain = "gain-9dB"
    /// A round trip through a constant-bitrate 128 kb/s MP3 (LAME via libsndfile) at the analysis rate.
    case mp3 = "mp3-128k"
    /// An 8th-order Butterworth low-pass at 4 kHz.
    case lowPass = "lowpass-4kHz"
    /// Tempo ×1.03 (3 % shorter) with the pitch kept, by WSOLA.
    case timeStretch = "tempo+3%"
    /// Pitch up one semitone with the tempo kept: WSOLA stretch by 2^(1/12), then resampling back.
    case pitchShift = "pitch+1st"
    /// Down to 16 kHz and back (libsoxr HQ both ways): everything above 8 kHz is lost.
    case resample16k = "resample-16kHz"
    /// A gain of −20 dB: a quietly mastered copy (not among `standard`; one of `invariance`).
    case quiet = "gain-20dB"
    /// A gain of +6 dB, clipped to ±1 as a 16-bit or float file would store it (not among `standard`).
    case loud = "gain+6dB"

    public var description: String { rawValue }

    /// The seven degradations `retrieve evaluate` cycles through, in order.
    public static let standard: [Degradation] = [
        .whiteNoise, .gain, .mp3, .lowPass, .timeStretch, .pitchShift, .resample16k,
    ]

    /// The copies of a whole track whose pooled embedding must stay with the original: level changes, a lossy
    /// re-encode, band limits (`retrieve evaluate --leave-labels-out` checks them on the unseen labels).
    public static let invariance: [Degradation] = [.quiet, .loud, .mp3, .lowPass, .resample16k]

    /// The degraded signal, at the same sample rate. `scratch` is a folder for the MP3 round trip's file.
    public func apply(_ samples: [Float], sampleRate: Int, seed: UInt64, scratch: URL) throws -> [Float] {
        switch self {
        case .clean: return samples
        case .whiteNoise: return DSP.addWhiteNoise(samples, snrDecibels: 20, seed: seed)
        case .gain: return DSP.gain(samples, decibels: -9)
        case .quiet: return DSP.gain(samples, decibels: -20)
        case .loud: return DSP.gain(samples, decibels: 6).map { min(1, max(-1, $0)) }
        case .mp3:
            let url = scratch.appendingPathComponent("degradation-\(seed).mp3")
            defer { try? FileManager.default.removeItem(at: url) }
            return try DSP.mp3RoundTrip(samples, sampleRate: sampleRate, kilobitsPerSecond: 128, file: url).samples
        case .lowPass: return DSP.butterworthLowPass(samples, cutoff: 4_000, sampleRate: sampleRate, order: 8)
        case .timeStretch: return DSP.timeStretch(samples, tempo: 1.03, sampleRate: sampleRate)
        case .pitchShift: return try DSP.pitchShift(samples, semitones: 1, sampleRate: sampleRate)
        case .resample16k:
            let down = try DSP.resample(samples, from: Double(sampleRate), to: 16_000)
            let back = try DSP.resample(down, from: 16_000, to: Double(sampleRate))
            return Array(back.prefix(samples.count))
        }
    }
}

/// A degradation that could not be applied (the MP3 encoder or the resampler failed).
public struct DegradationError: Error, CustomStringConvertible {
    public let description: String
}

/// Plain signal processing on mono `[Float]` at a sample rate: what the degradations are made of.
public enum DSP {
    /// Adds zero-mean Gaussian noise whose power is the signal's mean power divided by 10^(snr/10).
    /// A silent signal is returned unchanged (its SNR is undefined).
    public static func addWhiteNoise(_ x: [Float], snrDecibels: Double, seed: UInt64) -> [Float] {
        let power = x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(1, x.count))
        guard power > 0 else { return x }
        let sigma = (power / pow(10, snrDecibels / 10)).squareRoot()
        var rng = NoiseGenerator(seed: seed)
        return x.map { $0 + Float(sigma * rng.nextGaussian()) }
    }

    /// Multiplies by 10^(dB/20).
    public static func gain(_ x: [Float], decibels: Double) -> [Float] {
        let g = Float(pow(10, decibels / 20))
        return x.map { $0 * g }
    }

    /// One second-order IIR section, `H(z) = (b0 + b1 z⁻¹ + b2 z⁻²) / (1 + a1 z⁻¹ + a2 z⁻²)`.
    public struct Biquad: Sendable, Equatable {
        public var b0, b1, b2, a1, a2: Double

        /// |H(e^{iω})| at `frequency` Hz.
        public func magnitude(at frequency: Double, sampleRate: Int) -> Double {
            let w = 2 * Double.pi * frequency / Double(sampleRate)
            func poly(_ c0: Double, _ c1: Double, _ c2: Double) -> Double {
                let re = c0 + c1 * cos(w) + c2 * cos(2 * w)
                let im = -c1 * sin(w) - c2 * sin(2 * w)
                return (re * re + im * im).squareRoot()
            }
            return poly(b0, b1, b2) / poly(1, a1, a2)
        }
    }

    /// The second-order sections of a digital Butterworth low-pass of even `order` with its −3 dB point at
    /// `cutoff` Hz: the analogue prototype's conjugate pole pairs, Q_k = 1 / (2 sin((2k+1)π / 2N)), each
    /// mapped by the bilinear transform with the cutoff pre-warped (the RBJ cookbook low-pass section).
    public static func butterworthSections(cutoff: Double, sampleRate: Int, order: Int) -> [Biquad] {
        precondition(order >= 2 && order % 2 == 0, "Butterworth order must be even and ≥ 2, got \(order)")
        precondition(cutoff > 0 && cutoff < Double(sampleRate) / 2, "cutoff \(cutoff) Hz must be below Nyquist")
        let w0 = 2 * Double.pi * cutoff / Double(sampleRate)
        return (0..<(order / 2)).map { k in
            let q = 1 / (2 * sin(Double(2 * k + 1) * Double.pi / Double(2 * order)))
            let alpha = sin(w0) / (2 * q)
            let a0 = 1 + alpha
            let c = cos(w0)
            return Biquad(
                b0: (1 - c) / 2 / a0, b1: (1 - c) / a0, b2: (1 - c) / 2 / a0,
                a1: -2 * c / a0, a2: (1 - alpha) / a0)
        }
    }

    /// Runs the signal through `sections` in cascade (transposed direct form II, double-precision state).
    public static func filter(_ x: [Float], sections: [Biquad]) -> [Float] {
        var y = x.map(Double.init)
        for s in sections {
            var z1 = 0.0, z2 = 0.0
            for i in 0..<y.count {
                let input = y[i]
                let output = s.b0 * input + z1
                z1 = s.b1 * input - s.a1 * output + z2
                z2 = s.b2 * input - s.a2 * output
                y[i] = output
            }
        }
        return y.map { Float($0) }
    }

    /// A Butterworth low-pass (see `butterworthSections`): flat pass band, −3 dB at `cutoff`, then at least
    /// −6·order dB per octave (the bilinear transform makes the stop band steeper toward Nyquist: order 8 at
    /// 4 kHz and 22 050 Hz is −41 dB at 6 kHz and below −60 dB at 8 kHz).
    public static func butterworthLowPass(_ x: [Float], cutoff: Double, sampleRate: Int, order: Int = 8) -> [Float] {
        filter(x, sections: butterworthSections(cutoff: cutoff, sampleRate: sampleRate, order: order))
    }

    /// Changes the tempo by `tempo` (1.03 plays 3 % faster, so the result has `count / tempo` samples) and
    /// keeps the pitch, by WSOLA (waveform-similarity overlap-add, Verhelst & Roelands 1993).
    ///
    /// Frames of ~46 ms with a periodic Hann window are overlap-added every half frame; each frame is read
    /// from near its nominal input position `k · hop · tempo`, shifted by up to a quarter frame to the offset
    /// whose waveform best continues the previous frame (maximum cross-correlation), so periodicities — the
    /// pitch — are preserved while the time axis is scaled. Transients may be doubled or dropped at most
    /// once per frame, which is inaudible at 3 %.
    public static func timeStretch(_ x: [Float], tempo: Double, sampleRate: Int) -> [Float] {
        precondition(tempo > 0, "tempo must be positive, got \(tempo)")
        let outputCount = Int((Double(x.count) / tempo).rounded())
        guard x.count > 0, outputCount > 0 else { return [] }
        var frame = 256
        while frame < Int(0.046 * Double(sampleRate)) { frame *= 2 }
        let hop = frame / 2, tolerance = frame / 4
        let window = (0..<frame).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(frame))) }
        let frames = outputCount / hop + 2
        let pad = tolerance + frame
        let lastNominal = Int(Double(frames) * Double(hop) * tempo)
        var input = [Float](repeating: 0, count: pad + max(x.count, lastNominal) + pad + frame)
        input.replaceSubrange(pad..<(pad + x.count), with: x)
        let shifts = 2 * tolerance + 1
        var candidates = [Float](repeating: 0, count: shifts * frame)
        var correlation = [Float](repeating: 0, count: shifts)
        var output = [Float](repeating: 0, count: frames * hop + frame)
        var weight = [Float](repeating: 0, count: output.count)
        input.withUnsafeBufferPointer { xin in
            output.withUnsafeMutableBufferPointer { y in
                weight.withUnsafeMutableBufferPointer { wsum in
                    var previous = pad
                    for k in 0..<frames {
                        let nominal = pad + Int(Double(k * hop) * tempo)
                        var start = nominal
                        if k > 0 {
                            // The natural continuation of the previous frame, and the candidate most like it: every
                            // candidate frame is copied into one matrix so that one GEMV scores them all.
                            let natural = xin.baseAddress! + previous + hop
                            candidates.withUnsafeMutableBufferPointer { c in
                                for d in 0..<shifts {
                                    (c.baseAddress! + d * frame).update(
                                        from: xin.baseAddress! + nominal - tolerance + d,
                                        count: frame)
                                }
                                correlation.withUnsafeMutableBufferPointer { r in
                                    BLAS.gemv(
                                        .none, rows: shifts, columns: frame, a: c.baseAddress!, lda: frame,
                                        x: natural, y: r.baseAddress!)
                                }
                            }
                            var best = 0
                            for d in 1..<shifts where correlation[d] > correlation[best] { best = d }
                            start = nominal - tolerance + best
                        }
                        for n in 0..<frame {
                            y[k * hop + n] += xin[start + n] * window[n]
                            wsum[k * hop + n] += window[n]
                        }
                        previous = start
                    }
                }
            }
        }
        return (0..<outputCount).map { output[$0] / max(weight[$0], 1e-3) }
    }

    /// Shifts the pitch by `semitones` and keeps the duration: a WSOLA stretch by a = 2^(semitones/12)
    /// (longer, same pitch), then resampling by 1/a (back to the original length, every frequency × a).
    public static func pitchShift(_ x: [Float], semitones: Double, sampleRate: Int) throws -> [Float] {
        let factor = pow(2, semitones / 12)
        let stretched = timeStretch(x, tempo: 1 / factor, sampleRate: sampleRate)
        let shifted = try resample(stretched, from: Double(sampleRate) * factor, to: Double(sampleRate))
        if shifted.count >= x.count { return Array(shifted.prefix(x.count)) }
        return shifted + [Float](repeating: 0, count: x.count - shifted.count)
    }

    /// Resamples with libsoxr at `SOXR_HQ`, as the decoder does (`Resampler.resample`).
    public static func resample(_ x: [Float], from inputRate: Double, to outputRate: Double) throws -> [Float] {
        do { return try Resampler.resample(x, from: inputRate, to: outputRate) } catch {
            throw DegradationError(description: "resampling \(inputRate) → \(outputRate) Hz failed: \(error)")
        }
    }

    /// The MP3 bitrates libsndfile 1.2 (LAME) can be asked for at `sampleRate`: MPEG-1 above 32 kHz,
    /// MPEG-2 from 16 kHz, MPEG-2.5 below.
    public static func mp3BitrateRange(sampleRate: Int) -> ClosedRange<Double> {
        sampleRate >= 32_000 ? 32...320 : sampleRate >= 16_000 ? 8...160 : 8...64
    }

    /// Encodes `x` as a constant-bitrate MP3 at `sampleRate` into `file`, decodes it back with
    /// `AudioDecoder`, and returns the decoded samples (trimmed or zero-padded to `x.count`) and the bitrate
    /// actually asked of the encoder.
    ///
    /// libsndfile exposes LAME's bitrate only as `SFC_SET_COMPRESSION_LEVEL` in [0, 1], mapped linearly onto
    /// the MPEG version's range (`bitrate = max − level · (max − min)`, truncated); in constant-bitrate mode
    /// (`SFC_SET_BITRATE_MODE`) the level below is the one that truncates to exactly `kilobitsPerSecond`.
    /// At rates below 16 kHz (MPEG-2.5) the most is 64 kb/s, and that is what is then used.
    public static func mp3RoundTrip(
        _ x: [Float], sampleRate: Int, kilobitsPerSecond: Int, file: URL
    ) throws
        -> (samples: [Float], kilobitsPerSecond: Int)
    {
        let range = mp3BitrateRange(sampleRate: sampleRate)
        let kbps = min(range.upperBound, max(range.lowerBound, Double(kilobitsPerSecond)))
        var level = (range.upperBound - kbps - 0.25) / (range.upperBound - range.lowerBound)
        level = min(1, max(0, level))
        let accepted: Bool
        do {
            let writer = try AudioFileWriter(url: file, format: .mp3, sampleRate: sampleRate)
            accepted = try writer.setConstantBitrate(compressionLevel: level)
            try writer.write(x)
            writer.close()
        } catch {
            throw DegradationError(description: "MP3 encoding failed: \(error)")
        }
        guard accepted else {
            throw DegradationError(description: "libsndfile refused MP3 compression level \(level) (\(Int(kbps)) kb/s)")
        }
        var y = try AudioDecoder(targetSampleRate: sampleRate).decode(file).samples
        if y.count > x.count { y.removeLast(y.count - x.count) }
        if y.count < x.count { y += [Float](repeating: 0, count: x.count - y.count) }
        return (y, Int(kbps))
    }
}

/// SplitMix64 with Box–Muller Gaussians: reproducible noise from a seed.
public struct NoiseGenerator: RandomNumberGenerator {
    private var base: SplitMix64
    private var spare: Double?
    public init(seed: UInt64) { base = SplitMix64(seed: seed) }
    public mutating func next() -> UInt64 { base.next() }
    public mutating func nextGaussian() -> Double {
        if let s = spare {
            spare = nil
            return s
        }
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        let r = (-2 * log(u1)).squareRoot()
        spare = r * sin(2 * .pi * u2)
        return r * cos(2 * .pi * u2)
    }
}
