import Foundation
import Synchronization
public import RetrieveCore
import AudioDecoding
public import SpectralFeatures
public import SequenceEncoding
public import SimilaritySearch

/// A track's timbre from the encoder's own log-mel: the two Gaussians (`TimbreGaussian`, all bands and the bands
/// below `TimbreGaussian.lowBandLimit`) and, with the model's reference set, the profile an index stores
/// (`TimbreProfile`). The one place that turns log-mel into timbre, for the index, queries, evaluation and the
/// reference set alike.
public enum TimbreAnalysis {
    /// The two Gaussians of a log-mel matrix (`frames × bands`, as `FeatureExtractor.logMel` makes it with
    /// `configuration`); nil where there are too few frames or bands (`TimbreGaussian.init(logMel:…)`).
    public static func gaussians(
        logMel: Matrix, configuration: FeatureConfiguration
    )
        -> (full: TimbreGaussian?, lowBand: TimbreGaussian?)
    {
        guard configuration.melBands >= TimbreGaussian.mfccCount else { return (nil, nil) }
        return (
            TimbreGaussian(logMel: logMel, configuration: configuration),
            TimbreGaussian(logMel: logMel, configuration: configuration, bandLimit: TimbreGaussian.lowBandLimit)
        )
    }

    /// The model's reference set, or nil for a model stored without one (its index then ranks by the embedding
    /// alone).
    /// - Throws: `ModelFileError.badTensor` naming the model and the first row that is not a valid Gaussian.
    public static func reference(of encoder: Encoder, path: String) throws(ModelFileError) -> TimbreReference? {
        guard let tensors = encoder.timbreReference else { return nil }
        var bands: [[TimbreGaussian]] = []
        for (name, rows) in [
            (Encoder.TimbreReferenceTensors.fullName, tensors.full),
            (Encoder.TimbreReferenceTensors.lowBandName, tensors.lowBand),
        ] {
            var models: [TimbreGaussian] = []
            for r in 0..<rows.rows {
                guard let model = TimbreGaussian(packed: rows.row(r)) else {
                    throw .badTensor(
                        path: path, name: name,
                        reason: "row \(r) is not a timbre model (its covariance is not positive definite); "
                            + "make the reference again (`retrieve train --timbre-reference-only`)")
                }
                models.append(model)
            }
            bands.append(models)
        }
        guard let reference = TimbreReference(full: bands[0], lowBand: bands[1]) else {
            throw .badTensor(
                path: path, name: Encoder.TimbreReferenceTensors.fullName,
                reason:
                    "holds \(bands[0].count) models, fewer than the \(TimbreReference.minimumCount) a reference needs")
        }
        return reference
    }

    /// The most tracks a reference set takes from a corpus.
    public static let referenceSize = 256

    /// Chooses a reference set's tracks from a labelled corpus: `referenceSize` at most, taken in turn from each
    /// label (labels in name order, each label's tracks in a seeded shuffle), so that every style is represented
    /// and a label with many tracks does not dominate. The same files and seed give the same choice.
    public static func referenceTracks(_ tracks: [(path: String, label: String)], seed: UInt64) -> [String] {
        var rng = SplitMix64(seed: seed ^ 0x7469_6d62_7265)  // "timbre": its own stream, not the training one's
        var byLabel = Dictionary(grouping: tracks.map(\.path).indices) { tracks[$0].label }
            .mapValues { $0.map { tracks[$0].path }.sorted() }
        for label in byLabel.keys.sorted() { byLabel[label]!.shuffle(using: &rng) }
        let labels = byLabel.keys.sorted()
        var chosen: [String] = []
        var depth = 0
        while chosen.count < referenceSize, labels.contains(where: { byLabel[$0]!.count > depth }) {
            for label in labels where depth < byLabel[label]!.count && chosen.count < referenceSize {
                chosen.append(byLabel[label]![depth])
            }
            depth += 1
        }
        return chosen
    }

    /// The reference tensors of the tracks at `paths`, analysed as the index analyses a track (decoded at the
    /// model's rate, its log-mel, its Gaussians, rounded to `Float`); files that cannot be decoded or give no
    /// model are left out and reported through `skipped` (path, reason). Runs on `workers` threads.
    /// - Throws: `TimbreReferenceError.tooFew` when fewer than `TimbreReference.minimumCount` tracks give models.
    public static func referenceTensors(
        paths: [String], configuration: FeatureConfiguration, workers: Int = Cores.available,
        progress: any ProgressSink = SilentProgress(), skipped: (String, String) -> Void = { _, _ in }
    ) throws -> Encoder.TimbreReferenceTensors {
        let extractor = try FeatureExtractor(configuration: configuration)
        let decoder = AudioDecoder(targetSampleRate: configuration.sampleRate)
        let results = Mutex<[Int: Result<(TimbreGaussian, TimbreGaussian), AnalysisFailure>]>([:])
        let queue = WorkDispenser(count: paths.count)
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, paths.count))) { _ in
            while let i = queue.next() {
                let outcome: Result<(TimbreGaussian, TimbreGaussian), AnalysisFailure>
                do {
                    let frames = TimbreFrames(configuration: configuration)
                    let streaming = StreamingLogMel(extractor: extractor)
                    try decoder.stream(URL(fileURLWithPath: paths[i])) { frames.append(streaming.push($0)) }
                    frames.append(streaming.finish())
                    let (full, low) = gaussians(logMel: frames.matrix, configuration: configuration)
                    if let full = full?.rounded, let low = low?.rounded {
                        outcome = .success((full, low))
                    } else {
                        outcome = .failure(AnalysisFailure(AnalysisError.noTimbre(path: paths[i])))
                    }
                } catch {
                    outcome = .failure(AnalysisFailure(error))
                }
                results.withLock { $0[i] = outcome }
                progress.advance(detail: (paths[i] as NSString).lastPathComponent)
            }
        }
        var full: [Float] = [], low: [Float] = []
        var count = 0
        for (i, path) in paths.enumerated() {
            switch results.withLock({ $0[i] }) {
            case .success(let (f, l)):
                full += f.packed
                low += l.packed
                count += 1
            case .failure(let failure): skipped(path, failure.reason)
            case nil: break
            }
        }
        guard count >= TimbreReference.minimumCount else {
            throw TimbreReferenceError.tooFew(found: count, needed: TimbreReference.minimumCount)
        }
        return Encoder.TimbreReferenceTensors(
            full: Matrix(rows: count, columns: TimbreGaussian.packedCount, storage: full),
            lowBand: Matrix(rows: count, columns: TimbreGaussian.packedCount, storage: low))
    }
}

/// Why a timbre reference set could not be made.
public enum TimbreReferenceError: Error, CustomStringConvertible, Equatable {
    case tooFew(found: Int, needed: Int)

    public var description: String {
        switch self {
        case .tooFew(let found, let needed):
            "only \(found) track(s) of the training data gave a timbre model, and a reference set needs "
                + "\(needed); train on more (or longer) tracks"
        }
    }
}

/// The log-mel frames of one track kept for its timbre Gaussians, bounded in memory: every frame up to
/// `capacity`, then every second one (and so on), so that a long recording is sampled evenly over its whole
/// length. About 8 MB at the default 128 bands.
///
/// Not thread-safe: one per stream.
final class TimbreFrames {
    /// The most frames kept: 16 384, about 6 minutes at the default hop of 512 samples at 22 050 Hz.
    static let capacity = 16_384

    private let bands: Int
    private var storage: [Float] = []
    /// Every `step`-th frame of the stream is kept.
    private var step = 1
    /// Frames of the stream seen so far.
    private var seen = 0

    init(configuration: FeatureConfiguration) {
        bands = configuration.melBands
    }

    /// Adds a block of frames (`k × bands`).
    func append(_ frames: Matrix) {
        precondition(
            frames.columns == bands || frames.rows == 0, "frames of \(frames.columns) bands, expected \(bands)")
        for r in 0..<frames.rows {
            if seen % step == 0 {
                storage.append(contentsOf: frames.row(r))
                if storage.count / bands > Self.capacity { halve() }
            }
            seen += 1
        }
    }

    /// Keeps every second kept frame (those at multiples of the doubled step).
    private func halve() {
        let kept = storage.count / bands
        var out: [Float] = []
        out.reserveCapacity((kept + 1) / 2 * bands)
        for k in stride(from: 0, to: kept, by: 2) { out.append(contentsOf: storage[(k * bands)..<((k + 1) * bands)]) }
        storage = out
        step *= 2
    }

    /// Forgets every frame (a stream that starts again).
    func reset() {
        storage = []
        step = 1
        seen = 0
    }

    /// The kept frames, `frames × bands`.
    var matrix: Matrix { Matrix(rows: storage.count / bands, columns: bands, storage: storage) }
}
