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
        let configuration = extractor.configuration
        let edge = configuration.fftSize / (2 * configuration.hopLength)
        let mfcc = extractor.mfcc(fromLogMel: floored)
        let delta = FeatureExtractor.deltas(mfcc, width: 9, order: 1)
        func inner(_ m: Matrix) -> Matrix { m.rows > 4 * edge ? m.rows(edge..<(m.rows - edge)) : m }
        let (m, s) = columnStatistics(inner(mfcc))
        let (dm, ds) = columnStatistics(inner(delta))
        return [m + s + dm + ds, logMelStatistics(logMel: inner(floored))]
    }

    /// `[mean(MFCC), std(MFCC), mean(ΔMFCC), std(ΔMFCC)]`, MFCCs by `extractor.mfcc(fromLogMel:)` and deltas by
    /// `FeatureExtractor.deltas` (width 9, librosa's 'interp' edges). Standard deviations are population ones.
    public static func mfccStatistics(logMel: Matrix, extractor: FeatureExtractor) -> [Float] {
        let mfcc = extractor.mfcc(fromLogMel: logMel)
        let delta = FeatureExtractor.deltas(mfcc, width: 9, order: 1)
        let (m, s) = columnStatistics(mfcc)
        let (dm, ds) = columnStatistics(delta)
        return m + s + dm + ds
    }

    /// `[mean(band), std(band)]` over frames.
    public static func logMelStatistics(logMel: Matrix) -> [Float] {
        let (m, s) = columnStatistics(logMel)
        return m + s
    }

    /// Per-column mean and population standard deviation (double accumulation); zeros for no rows.
    public static func columnStatistics(_ x: Matrix) -> (mean: [Float], std: [Float]) {
        let n = x.rows, c = x.columns
        var sum = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c)
        for r in 0..<n {
            for j in 0..<c {
                let v = Double(x.storage[r * c + j])
                sum[j] += v
                squares[j] += v * v
            }
        }
        guard n > 0 else { return ([Float](repeating: 0, count: c), [Float](repeating: 0, count: c)) }
        let mean = sum.map { $0 / Double(n) }
        let std = (0..<c).map { max(0, squares[$0] / Double(n) - mean[$0] * mean[$0]).squareRoot() }
        return (mean.map { Float($0) }, std.map { Float($0) })
    }
}

/// Per-dimension standardisation fitted on one set of vectors and applied to others.
///
/// Descriptors mix units (dB, dB per frame, embedding coordinates); z-scoring each dimension over the
/// evaluated collection before the cosine keeps one large-valued dimension from deciding every ranking.
/// A dimension that is constant over the collection carries no information and is set to zero.
public struct Standardiser: Sendable {
    public let mean: [Float]
    public let scale: [Float]

    /// Fits the mean and population standard deviation of each column.
    public init(fitting x: Matrix) {
        let (m, s) = BaselineDescriptors.columnStatistics(x)
        mean = m
        scale = s.map { $0 > 1e-12 ? 1 / $0 : 0 }
    }

    /// `(x − mean) / std` per row, then each row L2-normalised, so dot products are cosines.
    public func apply(_ x: Matrix) -> Matrix {
        precondition(x.columns == mean.count, "expected \(mean.count) columns, got \(x.columns)")
        var out = x
        for r in 0..<x.rows {
            var norm: Float = 0
            for j in 0..<x.columns {
                let v = (x.storage[r * x.columns + j] - mean[j]) * scale[j]
                out.storage[r * x.columns + j] = v
                norm += v * v
            }
            let inv = norm > 0 ? 1 / norm.squareRoot() : 0
            for j in 0..<x.columns { out.storage[r * x.columns + j] *= inv }
        }
        return out
    }
}
