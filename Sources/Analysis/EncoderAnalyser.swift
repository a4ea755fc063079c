import Foundation
public import RetrieveCore
import AudioDecoding
import SpectralFeatures
public import SequenceEncoding

/// Analyses audio files with an LSTM encoder: decode → stream log-mel → segments → embeddings → pooled track.
///
/// Audio is streamed: frames are cut into segments as they arrive and embedded in batches, so memory stays
/// bounded for any length of file. Very long files are not embedded at every hop: the hop grows so that no more
/// than `maxSegments` segments are embedded per track, which keeps an 8-hour recording from costing 160 times a
/// 3-minute song while still sampling it evenly.
public final class EncoderAnalyser: TrackAnalysing {
    public let encoder: SequenceEncoding.Encoder
    private let decoder: AudioDecoder
    private let extractor: FeatureExtractor
    /// The most segments embedded for one track.
    public var maxSegments = 240
    /// Segments per inference batch.
    public var batchSegments = 64
    /// Whether `analyse` returns segment embeddings for identification too (`retrieve index --segments`): those
    /// of `RobustFrontEnd.windows` (band-limited, level-aligned log-mel, a second pass of the model),
    /// as `identificationSegments(path:)` makes for a query. About 0.5 KB per segment (128 dimensions), one
    /// segment per 1.5 s of audio with the default model.
    public var keepSegments = false

    public init(encoder: SequenceEncoding.Encoder) throws {
        self.encoder = encoder
        decoder = AudioDecoder(targetSampleRate: encoder.configuration.features.sampleRate)
        extractor = try FeatureExtractor(configuration: encoder.configuration.features)
    }

    public var modelVersion: ModelVersion { encoder.version }

    public var keepsSegments: Bool { keepSegments }

    /// `EncoderConfiguration` (features, layer sizes, classes) as JSON with sorted keys; `{}` if it cannot be
    /// encoded (a non-finite number).
    public var modelConfigurationJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self.encoder.configuration)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    public func analyse(path: String) throws -> TrackAnalysis {
        let url = URL(fileURLWithPath: path)
        let info = try decoder.info(of: url)
        let (embedding, segments, kept) = try embed(url: url, expectedSeconds: info.duration)
        return TrackAnalysis(info: info, embedding: embedding, segmentCount: segments, segments: kept)
    }

    /// The segment embeddings of a file, in time order (for `retrieve embed --segments`).
    public func segmentEmbeddings(path: String) throws -> [Embedding] {
        let url = URL(fileURLWithPath: path)
        let info = try decoder.info(of: url)
        var all: [Embedding] = []
        _ = try streamSegments(url: url, expectedSeconds: info.duration) { all.append(contentsOf: $0) }
        return all
    }

    /// A query's segment embeddings for `QueryEngine.identify`, of the robust front end as stored by
    /// `keepSegments`: first as recorded, then once per entry of `pitchOffsets`, heard varispeed-shifted by that
    /// many semitones (`RobustFrontEnd.pitchOffsets`; the file is decoded once per offset).
    public func identificationSegments(path: String, pitchOffsets: [Double] = RobustFrontEnd.pitchOffsets)
        throws -> [[Embedding]]
    {
        let url = URL(fileURLWithPath: path)
        let info = try decoder.info(of: url)
        let rate = encoder.configuration.features.sampleRate
        return try ([0] + pitchOffsets).map { semitones in
            // Decoding to the varispeed rate and reading the result as `rate` is the shift: no second resampling.
            let shifted = semitones == 0
                ? decoder : AudioDecoder(targetSampleRate: RobustFrontEnd.varispeedRate(rate, semitones: semitones))
            var all: [Embedding] = []
            _ = try streamSegments(url: url, decoder: shifted, expectedSeconds: info.duration * pow(2, -semitones / 12),
                                   robust: true) { all.append(contentsOf: $0) }
            return all
        }
    }

    private func embed(url: URL, expectedSeconds: Double) throws -> (Embedding, Int, [Embedding]) {
        var sum = [Float](repeating: 0, count: encoder.configuration.embeddingSize)
        var count = 0
        var kept: [Embedding] = []
        let keep: (([Embedding]) throws -> Void)? = keepSegments ? { kept += $0 } : nil
        _ = try streamSegments(url: url, expectedSeconds: expectedSeconds, alsoRobust: keep) { batch in
            for e in batch {
                for i in 0..<sum.count { sum[i] += e.values[i] }
            }
            count += batch.count
        }
        guard count > 0 else { throw AnalysisError.noAudio(path: url.path) }
        return (Embedding(normalising: sum), count, kept)
    }

    /// The pooled embedding of samples already decoded at the model's rate, by exactly the path `analyse` takes
    /// for a file (the same windows, hop and pooling), so that evaluation scores what the index stores.
    /// Nil for no samples.
    public func embedding(samples: [Float]) -> Embedding? {
        var sum = [Float](repeating: 0, count: encoder.configuration.embeddingSize)
        var count = 0
        let seconds = Double(samples.count) / Double(encoder.configuration.features.sampleRate)
        _ = try? streamSegments(expectedSeconds: seconds, source: { push in try samples.withUnsafeBufferPointer { try push($0) } }) { batch in
            for e in batch {
                for i in 0..<sum.count { sum[i] += e.values[i] }
            }
            count += batch.count
        }
        return count > 0 ? Embedding(normalising: sum) : nil
    }

    /// Streams the file and hands batches of segment embeddings to `body`.
    private func streamSegments(url: URL, decoder: AudioDecoder? = nil, expectedSeconds: Double, robust: Bool = false,
                                alsoRobust: (([Embedding]) throws -> Void)? = nil,
                                _ body: ([Embedding]) throws -> Void) throws -> Int
    {
        try streamSegments(expectedSeconds: expectedSeconds, robust: robust, alsoRobust: alsoRobust,
                           source: { push in try (decoder ?? self.decoder).stream(url, push) },
                           body)
    }

    /// Cuts the samples `source` pushes into segments (`SegmentCutter`) and hands batches of their embeddings to
    /// `body`. With `robust`, `body` gets the embeddings of `RobustFrontEnd.windows` instead; `alsoRobust` gets
    /// those in addition. `expectedSeconds` only sets the hop for very long audio (`maxSegments`).
    private func streamSegments(expectedSeconds: Double, robust: Bool = false,
                                alsoRobust: (([Embedding]) throws -> Void)? = nil,
                                source: ((UnsafeBufferPointer<Float>) throws -> Void) throws -> Void,
                                _ body: ([Embedding]) throws -> Void) throws -> Int
    {
        try withoutActuallyEscaping(body) { body in
            try withoutActuallyEscaping(source) { source in
                try cut(expectedSeconds: expectedSeconds, robust: robust, alsoRobust: alsoRobust, source: source, body)
            }
        }
    }

    private func cut(expectedSeconds: Double, robust: Bool, alsoRobust: (([Embedding]) throws -> Void)?,
                     source: @escaping ((UnsafeBufferPointer<Float>) throws -> Void) throws -> Void,
                     _ body: @escaping ([Embedding]) throws -> Void) throws -> Int
    {
        let config = encoder.configuration
        let length = config.segmentFrames
        // The duration may come from a damaged header (2⁶² frames at 1 Hz): clamp before converting.
        let expectedFrames = Int(min(max(0, expectedSeconds / config.features.secondsPerFrame), 1e15)) + 1
        var hop = max(1, config.segmentHopFrames)
        if expectedFrames > length, (expectedFrames - length) / hop + 1 > maxSegments {
            hop = max(hop, (expectedFrames - length) / (maxSegments - 1))
        }
        let streaming = StreamingLogMel(extractor: extractor)
        var cutter = SegmentCutter(length: length, hop: hop, columns: config.features.melBands)
        var batch: [Matrix] = []
        var made = 0
        func flush() throws {
            guard !batch.isEmpty else { return }
            made += batch.count
            let robustBatch = robust || alsoRobust != nil
                ? RobustFrontEnd.windows(batch, configuration: encoder.configuration) : []
            try body(encoder.embed(segments: robust ? robustBatch : batch))
            if let alsoRobust { try alsoRobust(encoder.embed(segments: robustBatch)) }
            batch.removeAll(keepingCapacity: true)
        }
        func take(_ windows: [Matrix]) throws {
            for w in windows {
                batch.append(w)
                if batch.count >= batchSegments { try flush() }
            }
        }
        try source { block in try take(cutter.push(streaming.push(block))) }
        try take(cutter.push(streaming.finish()))
        try take(cutter.finish())
        try flush()
        return made
    }
}

/// Failures of analysis that are not decoding errors.
public enum AnalysisError: Error, CustomStringConvertible {
    case noAudio(path: String)
    public var description: String {
        switch self {
        case .noAudio(let path): "\(path): decodes to no audio frames; the file is empty, truncated or too short"
        }
    }
}
