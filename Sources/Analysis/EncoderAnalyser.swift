import Foundation
public import RetrieveCore
import AudioDecoding
import SpectralFeatures
public import SequenceEncoding
public import SimilaritySearch

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
    /// Whether `analyse` returns segment embeddings for identification too (`retrieve index --segments`): every
    /// half segment, of the windows `IdentificationFrontEnd` chooses for the model (`segmentVersion`), as
    /// `identificationSegments(path:)` makes for a query. About 0.5 KB per segment (128 dimensions), one segment
    /// per 1.5 s of audio with the default model.
    public var keepSegments = false

    /// The model's timbre reference set; with one, every analysed track gets a timbre profile.
    public let timbreReference: TimbreReference?

    /// - Parameters:
    ///   - encoder: the model.
    ///   - modelPath: the model file, named in the message should its timbre reference set be damaged.
    /// - Throws: `FeatureConfigurationError` for a front end this build cannot compute, `ModelFileError` for a
    ///   damaged timbre reference set.
    public init(encoder: SequenceEncoding.Encoder, modelPath: String = "the model") throws {
        self.encoder = encoder
        decoder = AudioDecoder(targetSampleRate: encoder.configuration.features.sampleRate)
        extractor = try FeatureExtractor(configuration: encoder.configuration.features)
        timbreReference = try TimbreAnalysis.reference(of: encoder, path: modelPath)
    }

    public var modelVersion: ModelVersion { encoder.version }

    public var makesTimbre: Bool { timbreReference != nil }

    public var keepsSegments: Bool { keepSegments }

    /// The kind of identification segments this model makes (`IdentificationFrontEnd.version(for:)`).
    public var segmentVersion: Int { IdentificationFrontEnd.version(for: encoder.configuration) }

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
        let (embedding, segments, kept, decoded, timbre) = try embed(url: url, expectedSeconds: info.duration)
        // The decoded length, not the header's claim, is what the index stores and shows.
        return TrackAnalysis(
            info: decoded, embedding: embedding, segmentCount: segments, segments: kept,
            segmentVersion: segmentVersion, timbre: timbre)
    }

    /// A track's timbre profile from its kept log-mel frames; nil without a reference set.
    private func profile(_ frames: TimbreFrames?) -> TimbreProfile? {
        guard let timbreReference, let frames else { return nil }
        let (full, lowBand) = TimbreAnalysis.gaussians(
            logMel: frames.matrix, configuration: encoder.configuration.features)
        return timbreReference.profile(full: full, lowBand: lowBand)
    }

    /// The segment embeddings of a file, in time order (for `retrieve embed --segments`).
    public func segmentEmbeddings(path: String) throws -> [Embedding] {
        let url = URL(fileURLWithPath: path)
        let info = try decoder.info(of: url)
        var all: [Embedding] = []
        _ = try streamSegments(url: url, expectedSeconds: info.duration, restart: { all = [] }) {
            all.append(contentsOf: $0)
        }
        return all
    }

    /// A query's segment embeddings for `QueryEngine.identify`, of the front end `keepSegments` stores: first as
    /// recorded, then once per entry of `pitchOffsets`, heard varispeed-shifted by that
    /// many semitones (`IdentificationFrontEnd.pitchOffsets`; the file is decoded once per offset).
    public func identificationSegments(
        path: String, pitchOffsets: [Double] = IdentificationFrontEnd.pitchOffsets
    )
        throws -> [[Embedding]]
    {
        let url = URL(fileURLWithPath: path)
        let info = try decoder.info(of: url)
        let rate = encoder.configuration.features.sampleRate
        return try ([0] + pitchOffsets).map { semitones in
            // Decoding to the varispeed rate and reading the result as `rate` is the shift: no second resampling.
            let shifted =
                semitones == 0
                ? decoder
                : AudioDecoder(targetSampleRate: IdentificationFrontEnd.varispeedRate(rate, semitones: semitones))
            var all: [Embedding] = []
            _ = try streamSegments(
                url: url, decoder: shifted, expectedSeconds: info.duration * pow(2, -semitones / 12),
                identification: true, restart: { all = [] }
            ) { all.append(contentsOf: $0) }
            return all
        }
    }

    private func embed(
        url: URL, expectedSeconds: Double
    ) throws
        -> (Embedding, Int, [Embedding], AudioFileInfo, TimbreProfile?)
    {
        var sum = [Float](repeating: 0, count: encoder.configuration.embeddingSize)
        var count = 0
        var kept: [Embedding] = []
        let keep: (([Embedding]) throws -> Void)? = keepSegments ? { kept += $0 } : nil
        let frames = timbreReference == nil ? nil : TimbreFrames(configuration: encoder.configuration.features)
        let (_, decoded) = try streamSegments(
            url: url, expectedSeconds: expectedSeconds, alsoIdentification: keep, frames: frames,
            restart: {
                sum = [Float](repeating: 0, count: sum.count)
                count = 0
                kept = []
                frames?.reset()
            }
        ) { batch in
            for e in batch {
                for i in 0..<sum.count { sum[i] += e.values[i] }
            }
            count += batch.count
        }
        guard count > 0 else { throw AnalysisError.noAudio(path: url.path) }
        return (Embedding(normalising: sum), count, kept, decoded, profile(frames))
    }

    /// The pooled embedding of samples already decoded at the model's rate, by exactly the path `analyse` takes
    /// for a file (the same windows, hop and pooling), so that evaluation scores what the index stores.
    /// Nil for no samples.
    public func embedding(samples: [Float]) -> Embedding? {
        var sum = [Float](repeating: 0, count: encoder.configuration.embeddingSize)
        var count = 0
        let seconds = Double(samples.count) / Double(encoder.configuration.features.sampleRate)
        // The length is exact here, so one pass always suffices and `restart` is never called.
        _ = try? streamSegments(
            expectedSeconds: seconds, restart: {},
            source: { push in try samples.withUnsafeBufferPointer { try push($0) } }
        ) { batch in
            for e in batch {
                for i in 0..<sum.count { sum[i] += e.values[i] }
            }
            count += batch.count
        }
        return count > 0 ? Embedding(normalising: sum) : nil
    }

    /// Streams the file and hands batches of segment embeddings to `body`; returns how many were made and the
    /// decoded file's info (its length as decoded, see `streamSegments(expectedSeconds:…)` for `restart`).
    private func streamSegments(
        url: URL, decoder: AudioDecoder? = nil, expectedSeconds: Double, identification: Bool = false,
        alsoIdentification: (([Embedding]) throws -> Void)? = nil, frames: TimbreFrames? = nil,
        restart: () -> Void,
        _ body: ([Embedding]) throws -> Void
    ) throws -> (Int, AudioFileInfo) {
        var info: AudioFileInfo?
        let made = try streamSegments(
            expectedSeconds: expectedSeconds, identification: identification,
            alsoIdentification: alsoIdentification, frames: frames,
            restart: restart,
            source: { push in info = try (decoder ?? self.decoder).stream(url, push) },
            body)
        guard let info else { preconditionFailure("stream returned without info") }
        return (made, info)
    }

    /// The hops between segments, in frames, for audio of `seconds` (at the analysis rate): the model's hop for
    /// the pooled embedding, and for identification segments (`IdentificationFrontEnd`) at most half a segment (rounded
    /// up), so that an excerpt's segments lie at most about a quarter segment off the stored ones whatever the
    /// model's overlap (a model cut without overlap still stores identification segments every half segment).
    /// Each is widened so that at most `maxSegments` segments are embedded.
    private func segmentHops(seconds: Double) -> SegmentHops {
        let config = encoder.configuration
        let length = config.segmentFrames
        // A header's duration may be absurd (2⁶² frames at 1 Hz): clamp before converting.
        let frames = Int(min(max(0, seconds / config.features.secondsPerFrame), 1e15)) + 1
        func widened(_ base: Int) -> Int {
            var hop = max(1, base)
            if frames > length, (frames - length) / hop + 1 > maxSegments {
                hop = max(hop, (frames - length) / (maxSegments - 1))
            }
            return hop
        }
        return SegmentHops(
            pooled: widened(config.segmentHopFrames),
            identification: widened(min(config.segmentHopFrames, (length + 1) / 2)))
    }

    /// The hops `cut` uses: the model's for pooling, its own for identification segments.
    private struct SegmentHops: Equatable {
        let pooled: Int
        let identification: Int
    }

    /// Cuts the samples `source` pushes into segments (`SegmentCutter`) and hands batches of their embeddings to
    /// `body`. With `identification`, `body` gets the identification segments' embeddings instead (cut at the
    /// identification hop, of `IdentificationFrontEnd`'s windows for the model); `alsoIdentification` gets those
    /// in addition.
    ///
    /// `expectedSeconds` (a header's claim, for a file) only chooses the hop (`segmentHop`) before the length is
    /// known. A header can lie by any amount (an appended tag makes an OGG claim 10¹⁴ s, a truncated file claims
    /// its full length), so when the samples pushed call for another hop, `restart` is called and `source` runs
    /// again with the hop of their length: every track is cut exactly as an honest copy of it would be, at the
    /// cost of a second decode on damaged files only.
    private func streamSegments(
        expectedSeconds: Double, identification: Bool = false,
        alsoIdentification: (([Embedding]) throws -> Void)? = nil, frames: TimbreFrames? = nil,
        restart: () -> Void,
        source: ((UnsafeBufferPointer<Float>) throws -> Void) throws -> Void,
        _ body: ([Embedding]) throws -> Void
    ) throws -> Int {
        let rate = Double(encoder.configuration.features.sampleRate)
        var hops = segmentHops(seconds: expectedSeconds)
        for pass in 1...2 {
            let (made, samples) = try withoutActuallyEscaping(body) { body in
                try withoutActuallyEscaping(source) { source in
                    try cut(
                        hops: hops, identification: identification, alsoIdentification: alsoIdentification,
                        frames: frames, source: source, body)
                }
            }
            let decodedHops = segmentHops(seconds: Double(samples) / rate)
            // The second pass decodes the same samples, so its hops are right (unless the file changed meanwhile).
            if decodedHops == hops || pass == 2 { return made }
            restart()
            hops = decodedHops
        }
        preconditionFailure("unreachable: the second pass always returns")
    }

    /// One pass of `streamSegments` with fixed hops; returns the segments `body` got and the samples pushed.
    /// Pooled segments are cut at `hops.pooled`, identification segments (`identification` or
    /// `alsoIdentification`) at `hops.identification`, from the same log-mel stream; where the hops agree, one cut
    /// serves both, and one pass of the model too where the model embeds its own windows for identification.
    private func cut(
        hops: SegmentHops, identification: Bool, alsoIdentification: (([Embedding]) throws -> Void)?,
        frames timbreFrames: TimbreFrames?,
        source: @escaping ((UnsafeBufferPointer<Float>) throws -> Void) throws -> Void,
        _ body: @escaping ([Embedding]) throws -> Void
    ) throws -> (Int, Int) {
        let config = encoder.configuration
        let streaming = StreamingLogMel(extractor: extractor)
        var made = 0
        let toBody: ([Embedding]) throws -> Void = { batch in
            made += batch.count
            try body(batch)
        }
        // A query (`identification`) is cut for identification only; an indexed track for pooling, and for
        // `alsoIdentification` by the same cut where the hops agree, else by a second one.
        let streams: [SegmentStream]
        if identification {
            streams = [SegmentStream(hop: hops.identification, pooled: nil, identification: toBody)]
        } else if let alsoIdentification, hops.identification != hops.pooled {
            streams = [
                SegmentStream(hop: hops.pooled, pooled: toBody, identification: nil),
                SegmentStream(hop: hops.identification, pooled: nil, identification: alsoIdentification),
            ]
        } else {
            streams = [SegmentStream(hop: hops.pooled, pooled: toBody, identification: alsoIdentification)]
        }
        let robust = IdentificationFrontEnd.usesRobustWindows(config)
        var cutters = streams.map {
            SegmentCutter(length: config.segmentFrames, hop: $0.hop, columns: config.features.melBands)
        }
        var batches = [[Matrix]](repeating: [], count: streams.count)
        func flush(_ i: Int) throws {
            guard !batches[i].isEmpty else { return }
            let own = streams[i].pooled != nil || !robust ? encoder.embed(segments: batches[i]) : []
            if let pooled = streams[i].pooled { try pooled(own) }
            if let identify = streams[i].identification {
                try identify(
                    robust
                        ? encoder.embed(
                            segments: IdentificationFrontEnd.robustWindows(batches[i], configuration: config))
                        : own)
            }
            batches[i].removeAll(keepingCapacity: true)
        }
        func take(_ frames: Matrix?) throws {
            if let frames { timbreFrames?.append(frames) }
            for i in streams.indices {
                let windows = frames.map { cutters[i].push($0) } ?? cutters[i].finish()
                for w in windows {
                    batches[i].append(w)
                    if batches[i].count >= batchSegments { try flush(i) }
                }
            }
        }
        var samples = 0
        try source { block in
            samples += block.count
            try take(streaming.push(block))
        }
        try take(streaming.finish())
        try take(nil)
        for i in streams.indices { try flush(i) }
        return (made, samples)
    }

    /// One cut of the log-mel stream: its hop, and where its segments' embeddings go (for pooling, and for
    /// identification through `IdentificationFrontEnd`).
    private struct SegmentStream {
        let hop: Int
        let pooled: (([Embedding]) throws -> Void)?
        let identification: (([Embedding]) throws -> Void)?
    }
}

/// Failures of analysis that are not decoding errors.
public enum AnalysisError: Error, CustomStringConvertible {
    case noAudio(path: String)
    case noTimbre(path: String)
    public var description: String {
        switch self {
        case .noAudio(let path): "\(path): decodes to no audio frames; the file is empty, truncated or too short"
        case .noTimbre(let path):
            "\(path): too short for a timbre model (it needs more frames than the model has coefficients)"
        }
    }
}
