import Foundation
import RetrieveCore
import SpectralFeatures

/// Random crops of a track's log-mel (dB) frames, augmented in the feature domain the way users' files differ:
/// tempo, equalisation, band limits (MP3 encoders, low-passed and resampled copies), noise and gain.
///
/// Each augmentation is applied to the decibel values of the crop, which is what the front end makes of the
/// corresponding audio change to a good approximation: a gain or an EQ curve adds to every frame's bands; a
/// low-pass at f pushes the bands above f down to the floor; a tempo change of r stretches the frames in time
/// (the spectrum itself is kept, as a time stretch does); noise adds power. Probabilities and ranges:
/// - tempo ×[0.92, 1.08], on half of the crops (linear interpolation between frames);
/// - EQ on half of the crops: a tilt of ±6 dB across the bands plus a raised-cosine bump of ±4 dB centred
///   anywhere, a quarter to a half of the bands wide;
/// - a low-pass on a quarter of the crops, cutoff log-uniform in 3.5–16 kHz: bands above lose 70 dB, the band
///   at the cutoff 35 dB;
/// - white noise at 10–30 dB SNR on 30 % of the crops;
/// - gain ±6 dB (a no-op for a model with `levelRange`, kept for models without it);
/// - with `masks` N > 0, after everything else, N frequency masks (each up to an eighth of the bands wide) and N
///   time masks (each up to a tenth of the frames long) set to the crop's mean value (SpecAugment, `mask`): a
///   regulariser, so that no one band or moment decides;
/// - with `pitchShift` N > 0, every augmented crop moved by a uniform integer in [−N, N] mel bands
///   (`shiftBands`): a pitch change of that many bands, roughly (mel bands are not equally many semitones
///   wide). With N = 0 the random sequence is that of a build without the option, so recipes keep their crops.
public struct TrainingAugmentation: Sendable {
    private let centres: [Double]
    /// N of the pitch shift: the largest shift in mel bands (0: none).
    public let pitchShift: Int
    /// N of the masking: frequency and time masks per augmented crop (0: none).
    public let masks: Int

    public init(configuration: FeatureConfiguration, pitchShift: Int = 0, masks: Int = 0) {
        precondition(pitchShift >= 0 && masks >= 0, "pitchShift and masks must not be negative")
        centres = configuration.melCentreFrequencies
        self.pitchShift = pitchShift
        self.masks = masks
    }

    /// A random `frames`-long crop of `logMel` (the whole of a shorter one), augmented when `augment` is set, and
    /// the frame at the centre of the source frames it was cut from (for time-aligned teacher targets). With
    /// `start`, the crop begins at that frame (moved back as far as needed to fit) instead of a random one.
    public func crop<G: RandomNumberGenerator>(_ logMel: Matrix, frames: Int, augment: Bool, rng: inout G,
                                               start fixedStart: Int? = nil, centre fixedCentre: Double? = nil)
        -> (segment: Matrix, centreFrame: Double, sourceFrames: Int)
    {
        let stretch = augment && Float.random(in: 0..<1, using: &rng) < 0.5
            ? Double.random(in: 0.92...1.08, using: &rng) : 1
        // A crop of `frames · stretch` source frames becomes `frames` frames.
        let source = max(1, Int((Double(frames) * stretch).rounded()))
        let take = min(source, logMel.rows)
        let start = (fixedStart ?? fixedCentre.map { Int(($0 - Double(take) / 2).rounded()) })
            .map { min(max(0, $0), logMel.rows - take) }
            ?? (logMel.rows > take ? Int.random(in: 0...(logMel.rows - take), using: &rng) : 0)
        var segment = logMel.rows(start..<(start + take))
        let centre = Double(start) + Double(take) / 2
        guard augment else { return (segment, centre, take) }
        if take == source && source != frames { segment = Self.resampleFrames(segment, to: frames) }
        let bands = segment.columns
        var curve = [Float](repeating: Float.random(in: -6...6, using: &rng), count: bands)  // gain
        if Float.random(in: 0..<1, using: &rng) < 0.5 {
            let tilt = Float.random(in: -6...6, using: &rng)
            let bump = Float.random(in: -4...4, using: &rng)
            let centre = Float.random(in: 0..<Float(bands), using: &rng)
            let width = Float.random(in: Float(bands) / 4...Float(bands) / 2, using: &rng)
            for k in 0..<bands {
                curve[k] += tilt * (Float(k) / Float(max(1, bands - 1)) - 0.5)
                let x = (Float(k) - centre) / width
                if abs(x) < 1 { curve[k] += bump * 0.5 * (1 + cos(.pi * x)) }
            }
        }
        if Float.random(in: 0..<1, using: &rng) < 0.25, centres.count == bands {
            let cutoff = exp(Double.random(in: log(3500.0)...log(16000.0), using: &rng))
            var first = true
            for k in 0..<bands where centres[k] > cutoff {
                curve[k] -= first ? 35 : 70
                first = false
            }
        }
        var noisePower: Float = 0
        if Float.random(in: 0..<1, using: &rng) < 0.3 {
            var meanPower: Float = 0
            for v in segment.storage { meanPower += pow(10, v / 10) }
            meanPower /= Float(max(1, segment.storage.count))
            noisePower = meanPower * pow(10, -Float.random(in: 10...30, using: &rng) / 10)
        }
        for r in 0..<segment.rows {
            for k in 0..<bands {
                var v = segment.storage[r * bands + k] + curve[k]
                if noisePower > 0 {
                    v = 10 * log10(pow(10, v / 10) + noisePower * Float.random(in: 0.5...1.5, using: &rng))
                }
                segment.storage[r * bands + k] = v
            }
        }
        // Drawn only when asked for, so that recipes without it keep their random sequence.
        if pitchShift > 0 {
            segment = Self.shiftBands(segment, by: Int.random(in: -pitchShift...pitchShift, using: &rng))
        }
        if masks > 0 { Self.mask(&segment, count: masks, rng: &rng) }
        return (segment, centre, take)
    }

    /// SpecAugment's masking in place: `count` runs of whole bands (each 0 to an eighth of the bands wide) and
    /// `count` runs of whole frames (each 0 to a tenth of the frames long), at uniform positions, set to the
    /// mean of `m`'s values (neutral after the model's level and band normalisation, unlike the floor).
    static func mask<G: RandomNumberGenerator>(_ m: inout Matrix, count: Int, rng: inout G) {
        let rows = m.rows, bands = m.columns
        guard rows > 0, bands > 0 else { return }
        let mean = m.storage.reduce(0, +) / Float(m.storage.count)
        for _ in 0..<count {
            let width = Int.random(in: 0...max(0, bands / 8), using: &rng)
            let first = Int.random(in: 0...(bands - width), using: &rng)
            for r in 0..<rows { for k in first..<(first + width) { m.storage[r * bands + k] = mean } }
            let length = Int.random(in: 0...max(0, rows / 10), using: &rng)
            let start = Int.random(in: 0...(rows - length), using: &rng)
            for r in start..<(start + length) { for k in 0..<bands { m.storage[r * bands + k] = mean } }
        }
    }

    /// `m` (frames × bands) moved `shift` bands up (towards higher bands; down when negative): band k of each frame
    /// takes band k − shift, and the bands that would come from outside repeat the edge band (never wrapped round).
    /// - Complexity: O(rows · columns).
    static func shiftBands(_ m: Matrix, by shift: Int) -> Matrix {
        guard shift != 0, m.columns > 0 else { return m }
        var out = m
        let bands = m.columns
        for r in 0..<m.rows {
            for k in 0..<bands { out.storage[r * bands + k] = m.storage[r * bands + min(max(k - shift, 0), bands - 1)] }
        }
        return out
    }

    /// `m`'s rows linearly interpolated to `rows` rows spanning the same time (first and last rows kept).
    static func resampleFrames(_ m: Matrix, to rows: Int) -> Matrix {
        guard m.rows > 1, rows > 1 else { return m.rows(0..<min(m.rows, max(rows, 1))) }
        var out = Matrix(rows: rows, columns: m.columns)
        let scale = Double(m.rows - 1) / Double(rows - 1)
        for r in 0..<rows {
            let x = Double(r) * scale
            let i = min(Int(x), m.rows - 2)
            let f = Float(x - Double(i))
            for k in 0..<m.columns { out[r, k] = m[i, k] * (1 - f) + m[i + 1, k] * f }
        }
        return out
    }
}
