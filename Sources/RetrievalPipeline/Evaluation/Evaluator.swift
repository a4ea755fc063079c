import Foundation
public import RetrieveCore
import AudioDecoding
import LinearAlgebra
import SpectralFeatures
public import SequenceEncoding

/// Measures how well a model's embeddings, and two classical baselines, retrieve by style and identify
/// degraded excerpts, over one labelled collection.
///
/// Each file is decoded once and turned into log-mel once; the model's track embedding (the normalised mean
/// of its segment embeddings, `Encoder.embedTrack`) and both baseline descriptors come from that one log-mel.
/// In the same pass, `excerptsPerTrack` excerpts of `excerptSeconds` are cut at seeded random positions and
/// each goes through one degradation, cycling through `degradations` in order over all excerpts, and is
/// described the same three ways. Then, per system, every descriptor is z-scored per dimension over the
/// collection's full tracks (queries with the same statistics) and L2-normalised, so scores are cosines.
///
/// The model's embedding here differs from the index's (`EncoderAnalyser`) in two small ways: the last
/// segment window is aligned to the track's end, and long tracks are not thinned to 240 segments. Both make
/// it, if anything, a slightly better summary of the track than the stored one.
///
/// Style retrieval is leave-one-track-out (see `RetrievalMetrics.styleRetrieval` for the same-track rule);
/// identification ranks each degraded excerpt against all full tracks (`identificationRanks`).
public final class Evaluator {
    /// What the evaluation does.
    public struct Options: Sendable {
        /// Identification excerpts cut from each track.
        public var excerptsPerTrack = 1
        /// Length of an excerpt; a shorter track is used whole.
        public var excerptSeconds = 10.0
        /// Seeds excerpt positions and noise: equal seeds give equal reports.
        public var seed: UInt64 = 0
        /// The degradations, applied in turn.
        public var degradations = Degradation.standard
        public init() {}
    }

    /// A file that was left out, and why.
    public struct Failure: Sendable, Codable, Equatable {
        public var path: String
        public var reason: String
    }

    /// Identification scores for the excerpts that went through one degradation.
    public struct DegradationScores: Sendable, Codable, Equatable {
        public var degradation: String
        public var scores: IdentificationScores
    }

    /// All scores of one system (the model or a baseline).
    public struct SystemReport: Sendable, Codable, Equatable {
        public var name: String
        public var dimensions: Int
        public var style: StyleScores
        public var identification: IdentificationScores
        public var perDegradation: [DegradationScores]
    }

    /// The result of one evaluation.
    public struct Report: Sendable, Codable {
        /// Tracks evaluated (files that decoded).
        public var tracks: Int
        /// Track groups among them (equal to `tracks` when every file is its own recording).
        public var groups: Int
        /// How many evaluated tracks carry each label.
        public var labelCounts: [String: Int]
        /// The expected precision of a random ranking: the mean, over queries, of the share of the other
        /// tracks' groups that carry the query's label.
        public var chancePrecision: Double
        public var excerpts: Int
        public var excerptSeconds: Double
        public var seed: UInt64
        /// The MP3 bitrate the MP3 degradation asked of the encoder (constant bitrate).
        public var mp3KilobitsPerSecond: Int
        public var systems: [SystemReport]
        public var failures: [Failure]
        public var elapsedSeconds: Double
    }

    private let encoder: SequenceEncoding.Encoder?
    private let options: Options
    private let features: FeatureConfiguration
    private let extractor: FeatureExtractor
    private let decoder: AudioDecoder

    /// - Parameter encoder: the model to evaluate; nil evaluates the baselines alone (on the model-less
    ///   default front end, `FeatureConfiguration(topDecibels: nil)`).
    public init(encoder: SequenceEncoding.Encoder?, options: Options = Options()) throws {
        precondition(options.excerptsPerTrack >= 0 && options.excerptSeconds > 0 && !options.degradations.isEmpty)
        self.encoder = encoder
        self.options = options
        features = encoder?.configuration.features ?? FeatureConfiguration(topDecibels: nil)
        extractor = try FeatureExtractor(configuration: features)
        decoder = AudioDecoder(targetSampleRate: features.sampleRate)
    }

    /// The system names, in report order.
    public var systemNames: [String] {
        (encoder.map { ["model:" + $0.version.name] } ?? []) + BaselineDescriptors.Kind.allCases.map(\.rawValue)
    }

    /// Evaluates `tracks`; files that fail to decode are reported to `progress` and left out.
    public func run(_ tracks: [LabelledTrack], progress: ProgressReporter? = nil) throws -> Report {
        let started = Date()
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("retrieve-evaluate-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        let systems = systemNames.count
        var references = [[[Float]]](repeating: [], count: systems)
        var queries = [[[Float]]](repeating: [], count: systems)
        var kept: [LabelledTrack] = []
        var querySources: [Int] = []
        var queryDegradations: [Degradation] = []
        var failures: [Failure] = []
        let rate = features.sampleRate
        let excerptLength = Int(options.excerptSeconds * Double(rate))

        for (trackIndex, track) in tracks.enumerated() {
            defer { progress?.advance(detail: (track.path as NSString).lastPathComponent) }
            let samples: [Float]
            do {
                samples = try decoder.decode(URL(fileURLWithPath: track.path)).samples
                guard !samples.isEmpty else { throw AnalysisError.noAudio(path: track.path) }
            } catch {
                let reason = Indexer.reason(for: error)
                failures.append(Failure(path: track.path, reason: reason))
                progress?.message("retrieve: " + (reason.contains(track.path) ? reason : "\(track.path): \(reason)"))
                continue
            }
            let reference = describe(samples)
            let source = kept.count
            kept.append(track)
            for s in 0..<systems { references[s].append(reference[s]) }

            var rng = NoiseGenerator(seed: options.seed &+ 0x5EED &* UInt64(trackIndex + 1))
            for _ in 0..<options.excerptsPerTrack {
                let length = min(excerptLength, samples.count)
                let start = Int.random(in: 0...(samples.count - length), using: &rng)
                let excerpt = Array(samples[start..<(start + length)])
                let degradation = options.degradations[querySources.count % options.degradations.count]
                let degraded: [Float]
                do {
                    degraded = try degradation.apply(excerpt, sampleRate: rate, seed: rng.next(), scratch: scratch)
                } catch {
                    progress?.message("retrieve: \(track.path): excerpt skipped: \(degradation) failed: \(error)")
                    continue
                }
                guard !degraded.isEmpty else { continue }
                let query = describe(degraded)
                for s in 0..<systems { queries[s].append(query[s]) }
                querySources.append(source)
                queryDegradations.append(degradation)
            }
        }

        var reports: [SystemReport] = []
        let labels = kept.map(\.label), groups = kept.map(\.group)
        for (s, name) in systemNames.enumerated() where !kept.isEmpty {
            let raw = Matrix(rowArrays: references[s])
            let standardiser = Standardiser(fitting: raw)
            let refs = standardiser.apply(raw)
            let style = RetrievalMetrics.styleRetrieval(
                scores: BLAS.multiply(refs, .none, refs, .transposed), labels: labels, groups: groups)
            var ranks: [Int] = []
            if !querySources.isEmpty {
                let q = standardiser.apply(Matrix(rowArrays: queries[s]))
                ranks = RetrievalMetrics.identificationRanks(
                    scores: BLAS.multiply(q, .none, refs, .transposed), sources: querySources, groups: groups)
            }
            let perDegradation = options.degradations.map { d in
                DegradationScores(degradation: d.rawValue, scores: IdentificationScores(
                    ranks: zip(ranks, queryDegradations).filter { $0.1 == d }.map(\.0)))
            }
            reports.append(SystemReport(name: name, dimensions: raw.columns, style: style,
                                        identification: IdentificationScores(ranks: ranks),
                                        perDegradation: perDegradation))
        }
        return Report(
            tracks: kept.count, groups: Set(groups).count,
            labelCounts: Dictionary(labels.map { ($0, 1) }, uniquingKeysWith: +),
            chancePrecision: Self.chancePrecision(labels: labels, groups: groups), excerpts: querySources.count,
            excerptSeconds: options.excerptSeconds, seed: options.seed,
            mp3KilobitsPerSecond: Int(min(128, DSP.mp3BitrateRange(sampleRate: rate).upperBound)),
            systems: reports, failures: failures, elapsedSeconds: Date().timeIntervalSince(started))
    }

    static func chancePrecision(labels: [String], groups: [String]) -> Double {
        guard labels.count > 1 else { return 0 }
        let perLabel = Dictionary(labels.map { ($0, 1) }, uniquingKeysWith: +)
        let perGroup = Dictionary(groups.map { ($0, 1) }, uniquingKeysWith: +)
        let total = labels.indices.reduce(0.0) { sum, i in
            let others = labels.count - perGroup[groups[i]]!
            let same = perLabel[labels[i]]! - perGroup[groups[i]]!  // a group's files share one label
            return sum + (others > 0 ? Double(max(0, same)) / Double(others) : 0)
        }
        return total / Double(labels.count)
    }

    /// Every system's descriptor of one signal, in `systemNames` order (unnormalised; z-scoring comes later).
    func describe(_ samples: [Float]) -> [[Float]] {
        let logMel = extractor.logMel(samples)
        var out: [[Float]] = []
        if let encoder {
            out.append(encoder.embedTrack(logMel: logMel)?.values
                ?? [Float](repeating: 0, count: encoder.configuration.embeddingSize))
        }
        return out + BaselineDescriptors.descriptors(logMel: logMel, extractor: extractor)
    }
}
