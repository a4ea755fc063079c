import AudioDecoding
public import Foundation
import Analysis
public import Library
public import Training
public import RetrieveCore
public import SequenceEncoding
public import TestSupport
public import VectorIndex

/// A small generated collection, a small random-weight model and a temporary index, for pipeline tests.
///
/// The model is untrained: these tests check orchestration (what gets analysed, stored, skipped, moved,
/// recorded, returned), not the quality of the embeddings, which `retrieve evaluate` measures.
public final class PipelineFixture {
    public let folder: TemporaryDirectory
    public let music: URL
    public let databasePath: String
    public let modelURL: URL
    public let encoder: SequenceEncoding.Encoder

    /// - Parameters:
    ///   - tracks: how many tracks to write (`writeTrack`).
    ///   - seed: the random model's seed.
    ///   - timbre: give the model a timbre reference set (of eight tracks made as its own are, outside `music`),
    ///     so that indexing stores timbre profiles and queries rank by the hybrid.
    /// - Throws: what writing the files and the model throws.
    public init(tracks: Int = 6, seed: UInt64 = 1, timbre: Bool = false) throws {
        folder = try TemporaryDirectory(prefix: "retrieve-pipeline")
        music = folder.path("music")
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        databasePath = folder.path("index.sqlite").path
        modelURL = folder.path("model.safetensors")
        var encoder = try Self.makeEncoder(seed: seed, url: modelURL, name: "test-\(seed)")
        if timbre {
            encoder.setTimbreReference(try Self.timbreReference(in: folder.path("reference"), encoder: encoder))
            try encoder.save(to: modelURL, name: "test-\(seed)")
            encoder = try SequenceEncoding.Encoder.load(contentsOf: modelURL)
        }
        self.encoder = encoder
        for i in 0..<tracks { try writeTrack(index: i) }
    }

    /// A reference set of eight tracks made as the fixture's are (`trackSamples`, indices 10…17), written to
    /// `folder`: a reference unlike the tracks would leave every mutual proximity at 0 or 1.
    static func timbreReference(
        in folder: URL, encoder: SequenceEncoding.Encoder
    ) throws
        -> SequenceEncoding.Encoder.TimbreReferenceTensors
    {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var paths: [String] = []
        for i in 10..<18 {
            let url = folder.appendingPathComponent("reference\(i).wav")
            try AudioFileWriter.write(trackSamples(index: i, seconds: 2), sampleRate: 22_050, format: .wav16, to: url)
            paths.append(url.path)
        }
        return try TimbreAnalysis.referenceTensors(paths: paths, configuration: encoder.configuration.features)
    }

    /// A random-weight model of the fixture's shape, saved at `url`; with `levelRange`, one that level-normalises
    /// its input (and so identifies by its own windows, `IdentificationFrontEnd`).
    public static func makeEncoder(
        seed: UInt64, url: URL, name: String, levelRange: Float? = nil
    ) throws -> SequenceEncoding.Encoder {
        let configuration = EncoderConfiguration(
            inputSize: 128, hiddenSize: 12, layers: 1, bidirectional: false, pooling: .mean, embeddingSize: 8,
            classNames: ["a", "b"], segmentFrames: 43, segmentHopFrames: 22,
            bandMean: [Float](repeating: -40, count: 128), bandStd: [Float](repeating: 20, count: 128),
            levelRange: levelRange)
        let encoder = SequenceEncoding.Encoder(configuration: configuration, seed: seed)
        try encoder.save(to: url, name: name)
        return try SequenceEncoding.Encoder.load(contentsOf: url)
    }

    /// Track `i`: a 2-second tone whose pitch depends on `i`, with tags, in a format that cycles.
    @discardableResult
    public func writeTrack(index i: Int, in subfolder: String = "", seconds: Double = 2) throws -> URL {
        let formats: [AudioFileFormat] = [.wav16, .flac16, .oggVorbis]
        let format = formats[i % formats.count]
        let dir = subfolder.isEmpty ? music : music.appendingPathComponent(subfolder)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(String(format: "track%02d.%@", i, format.fileExtension))
        try AudioFileWriter.write(
            Self.trackSamples(index: i, seconds: seconds), sampleRate: 22_050, format: format, to: url,
            tags: ["artist": "Artist \(i % 2)", "title": "Song \(i)", "album": "Album \(i % 3)"])
        return url
    }

    /// The samples of track `i` at 22 050 Hz: a chord whose pitch depends on `i`, and a slow wave.
    static func trackSamples(index i: Int, seconds: Double) -> [Float] {
        Signals.chord([110 * Double(i + 1), 165 * Double(i + 1)], seconds: seconds, sampleRate: 22_050)
            .enumerated().map { $1 + 0.05 * Float(sin(Double($0) * 0.001 * Double(i + 1))) }
    }

    public func store() throws -> IndexStore { try IndexStore(path: databasePath) }

    public func indexer(
        _ options: Indexer.Options = Indexer.Options(), modelURL: URL? = nil,
        stop: StopRequest = StopRequest(), keepSegments: Bool = false
    ) throws -> Indexer {
        let url = modelURL ?? self.modelURL
        return Indexer(store: try store(), options: options, stop: stop) {
            let analyser = try EncoderAnalyser(encoder: try SequenceEncoding.Encoder.load(contentsOf: url))
            analyser.keepSegments = keepSegments
            return analyser
        }
    }
}

extension TrainingRecipe {
    /// A recipe small enough for tests: 32 mel bands, a tiny LSTM, a few short steps, learning rate 1e-2.
    public static func tiny(
        epochs: Int, steps: Int, classes: Int, segments: Int, seconds: Double, hidden: Int
    ) -> TrainingRecipe {
        var recipe = TrainingRecipe()
        recipe.epochs = epochs
        recipe.stepsPerEpoch = steps
        recipe.classesPerBatch = classes
        recipe.segmentsPerClass = segments
        recipe.segmentSeconds = seconds
        recipe.melBands = 32
        recipe.hiddenSize = hidden
        recipe.embeddingSize = 8
        recipe.learningRate = 1e-2
        recipe.validationSegmentsPerTrack = 2
        return recipe
    }
}
