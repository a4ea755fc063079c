import Foundation
public import AudioDegradations
import RetrieveCore
import AudioDecoding
import LinearAlgebra
import SpectralFeatures
public import SequenceEncoding
import Analysis
import SimilaritySearch
public import Training

/// Measures how well a model's embeddings, and two classical baselines, retrieve by style and identify
/// degraded excerpts, over one labelled collection.
///
/// Each file is decoded once and turned into log-mel once; the model's track embedding (the normalised mean
/// of its segment embeddings, made by `EncoderAnalyser` exactly as the index makes it) and both baseline
/// descriptors come from the decoded samples.
/// In the same pass, `excerptsPerTrack` excerpts of `excerptSeconds` are cut at seeded random positions and
/// each goes through one degradation, cycling through `degradations` in order over all excerpts, and is
/// described the same three ways. Then, per system, every descriptor is z-scored per dimension over the
/// collection's full tracks (queries with the same statistics) and L2-normalised, so scores are cosines. The
/// model is scored twice: as the index uses it (row `model:NAME`, its own unit vectors and their cosine, which
/// is what a user gets) and z-scored like the baselines (row `model:NAME:z`). For the model row each
/// degradation also reports how close the degraded queries stay to their tracks (`CosineSummary`); with
/// `wholeTrackQueries` the queries are whole degraded copies, an invariance check.
///
/// The model's embedding here differs from the index's (`EncoderAnalyser`) in two small ways: the last
/// segment window is aligned to the track's end, and long tracks are not thinned to 240 segments. Both make
/// it, if anything, a slightly better summary of the track than the stored one.
///
/// With a model, identification is also scored by segment matching (`SegmentMatching`): the model's segment
/// embeddings of each track and each excerpt, cut every quarter segment (`matchingHopFrames`), are kept and
/// compared segment by segment, as rows `model:NAME:segments` (the model's cosine), `…:segments-z` (cosine after
/// z-scoring over all reference segments), `…:segments-aligned` (time-consistent votes), `…:segments-robust`
/// (the model's cosine on band-limited, level-aligned log-mel: `robustWindows`), and with the query also tried
/// varispeed-shifted by each of `IdentificationFrontEnd.pitchOffsets`, `…:segments-robust-pitch` and
/// `…:segments-pitch` (what `retrieve similar --identify` does for a model without and with level
/// normalisation, `IdentificationFrontEnd.usesRobustWindows`). These rows repeat the pooled model's style
/// scores: segment matching is for identification only.
///
/// Two more rows compare tracks by timbre (`TimbreGaussian`, `TimbreSimilarity`): `timbre`, the Jensen–Shannon
/// distance of the tracks' MFCC Gaussians (all bands, and the bands below `TimbreGaussian.lowBandLimit`)
/// normalised by mutual proximity over the evaluated tracks, the closer of the two (`TimbreSimilarity.combined`;
/// Musly's method, twice), and, with a model, `model:NAME+timbre`, the model's cosine and that similarity mixed
/// per query (`TimbreSimilarity.hybrid`). They need at least `TimbreGaussian.mfccCount` mel bands; a track too
/// short for a Gaussian is ranked by the model alone in the hybrid and last in `timbre`.
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
        /// Whether each query is the whole track, degraded (`excerptSeconds` is then ignored): for invariance.
        public var wholeTrackQueries = false
        /// Whether the model's segment-matching rows (`SegmentScoring`) are computed; they cost a model pass per
        /// quarter segment and seven per query.
        public var segmentMatching = true
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
        /// The model's own cosine between each degraded query and the track it came from (model row only).
        public var selfCosine: CosineSummary?
    }

    /// How close degraded copies stay to their originals in the model's own space.
    public struct CosineSummary: Sendable, Codable, Equatable {
        public var mean: Double
        public var minimum: Double
        /// The share of queries with cosine ≥ 0.99.
        public var atLeast099: Double
        init?(_ values: [Float]) {
            guard !values.isEmpty else { return nil }
            mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
            minimum = Double(values.min()!)
            atLeast099 = Double(values.filter { $0 >= 0.99 }.count) / Double(values.count)
        }
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
    /// The model's track embeddings come from the indexer's analyser, so they are the vectors the index stores.
    private let analyser: EncoderAnalyser?
    /// Whether the front end has the bands the timbre Gaussians need (`TimbreGaussian.mfccCount`); without, the
    /// timbre rows are left out.
    private let describesTimbre: Bool

    /// - Parameter encoder: the model to evaluate; nil evaluates the baselines alone (on the model-less
    ///   default front end, `FeatureConfiguration(topDecibels: nil)`).
    public init(encoder: SequenceEncoding.Encoder?, options: Options = Options()) throws {
        precondition(options.excerptsPerTrack >= 0 && options.excerptSeconds > 0 && !options.degradations.isEmpty)
        self.encoder = encoder
        self.options = options
        features = encoder?.configuration.features ?? FeatureConfiguration(topDecibels: nil)
        extractor = try FeatureExtractor(configuration: features)
        decoder = AudioDecoder(targetSampleRate: features.sampleRate)
        analyser = try encoder.map { try EncoderAnalyser(encoder: $0) }
        describesTimbre = features.melBands >= TimbreGaussian.mfccCount
    }

    /// The name of the timbre row.
    public static let timbreRow = "timbre"
    /// The suffix of the hybrid row's name (`model:NAME+timbre`).
    public static let hybridSuffix = "+timbre"

    /// The system names, in report order.
    public var systemNames: [String] {
        var names: [String] = []
        if let encoder {
            let model = "model:" + encoder.version.name
            names = [model, model + ":z"]
                + (options.segmentMatching ? SegmentScoring.allCases.map { model + ":" + $0.rawValue } : [])
        }
        return names + BaselineDescriptors.Kind.allCases.map(\.rawValue) + timbreSystemNames
    }

    /// The timbre rows (`timbre`, and with a model its hybrid), or none without a timbre front end.
    var timbreSystemNames: [String] {
        guard describesTimbre else { return [] }
        return [Self.timbreRow] + (encoder.map { ["model:" + $0.version.name + Self.hybridSuffix] } ?? [])
    }

    /// The systems described by one vector per signal, in report order.
    var pooledSystemNames: [String] {
        (encoder.map { ["model:" + $0.version.name] } ?? []) + BaselineDescriptors.Kind.allCases.map(\.rawValue)
    }

    /// How the model's segment embeddings are compared in the segment-matching systems.
    enum SegmentScoring: String, CaseIterable {
        /// The model's own cosine (its embeddings are unit vectors).
        case segments
        /// Cosine after z-scoring each dimension over all reference segments.
        case segmentsZ = "segments-z"
        /// The model's cosine, scored by time-consistent best matches (`SegmentMatching.Scoring.alignedVotes`).
        case segmentsAligned = "segments-aligned"
        /// The model's cosine on segments of a robust front end (`robustWindows`): log-mel above
        /// `robustCutoffHz` replaced by the model's band means, each window's level aligned.
        case segmentsRobust = "segments-robust"
        /// As `segmentsRobust`, also trying the query varispeed-shifted by each of `IdentificationFrontEnd.pitchOffsets`,
        /// the best score per track counting, as `retrieve similar --identify` does for a model without level
        /// normalisation. (Earlier tries: shifting the
        /// log-mel by ±1, ±2 bands did less, test split R@1 0.911 with pitch+1st at 0.46; `DSP.pitchShift` by ±1
        /// reached 1.00 but inverts the degradation's own shifter exactly.)
        case segmentsRobustPitch = "segments-robust-pitch"
        /// The model's own segments, also trying the query varispeed-shifted by each of
        /// `IdentificationFrontEnd.pitchOffsets`, the best score per track counting: `retrieve similar --identify`
        /// for a model that level-normalises its input.
        case segmentsPitch = "segments-pitch"
    }

    /// The hop, in frames, of the reference and query segments for segment matching: a quarter segment, so
    /// that an excerpt's segment, wherever it starts, overlaps some reference segment by at least 7/8.
    var matchingHopFrames: Int { max(1, (encoder?.configuration.segmentFrames ?? 4) / 4) }

    /// What the first pass makes: per system, each kept track's and each query's descriptor; per front end,
    /// their segment embeddings; and where each query came from.
    struct Described {
        var references: [[[Float]]]
        var queries: [[[Float]]]
        /// Per front end (plain, robust): each track's segment embeddings.
        var referenceSegments: [[Matrix]] = [[], []]
        /// Per front end (plain, robust, then one robust per pitch try of `IdentificationFrontEnd.pitchOffsets`, then one
        /// plain per pitch try).
        var querySegments = [[Matrix]](repeating: [], count: 2 + 2 * IdentificationFrontEnd.pitchOffsets.count)
        var kept: [LabelledTrack] = []
        /// Each kept track's and each query's timbre Gaussians, all bands and low band (nil: too short, or no timbre
        /// front end).
        var referenceTimbre: [Timbre] = []
        var queryTimbre: [Timbre] = []
        var querySources: [Int] = []
        var queryDegradations: [Degradation] = []
        var failures: [Failure] = []

        init(systems: Int) {
            references = [[[Float]]](repeating: [], count: systems)
            queries = [[[Float]]](repeating: [], count: systems)
        }
    }

    /// Evaluates `tracks`; files that fail to decode are reported to `progress` and left out.
    public func run(_ tracks: [LabelledTrack], progress: (any ProgressSink)? = nil) throws -> Report {
        let started = Date()
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("retrieve-evaluate-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        var described = Described(systems: pooledSystemNames.count)
        for (trackIndex, track) in tracks.enumerated() {
            defer { progress?.advance(detail: (track.path as NSString).lastPathComponent) }
            guard let samples = Self.decode(track, with: decoder, failures: &described.failures, progress: progress)
            else { continue }
            let (reference, segments, timbre) = describe(samples, matching: options.segmentMatching)
            let source = described.kept.count
            described.kept.append(track)
            described.referenceTimbre.append(timbre)
            for s in reference.indices { described.references[s].append(reference[s]) }
            for (f, m) in segments.enumerated() { described.referenceSegments[f].append(m) }
            addQueries(from: samples, of: track, index: trackIndex, source: source, to: &described, scratch: scratch,
                       progress: progress)
        }
        let labels = described.kept.map(\.label), groups = described.kept.map(\.group)
        return Report(
            tracks: described.kept.count, groups: Set(groups).count,
            labelCounts: Dictionary(labels.map { ($0, 1) }, uniquingKeysWith: +),
            chancePrecision: Self.chancePrecision(labels: labels, groups: groups),
            excerpts: described.querySources.count, excerptSeconds: options.excerptSeconds, seed: options.seed,
            mp3KilobitsPerSecond: Int(min(128, DSP.mp3BitrateRange(sampleRate: features.sampleRate).upperBound)),
            systems: described.kept.isEmpty ? [] : systemReports(described), failures: described.failures,
            elapsedSeconds: Date().timeIntervalSince(started))
    }

    /// Cuts `excerptsPerTrack` excerpts of one track at seeded positions, degrades each (cycling through
    /// `degradations` over all queries) and describes it; a degradation that fails skips its excerpt.
    private func addQueries(from samples: [Float], of track: LabelledTrack, index trackIndex: Int, source: Int,
                            to described: inout Described, scratch: URL, progress: (any ProgressSink)?) {
        let rate = features.sampleRate
        let excerptLength = Int(options.excerptSeconds * Double(rate))
        var rng = NoiseGenerator(seed: options.seed &+ 0x5EED &* UInt64(trackIndex + 1))
        for _ in 0..<options.excerptsPerTrack {
            let length = options.wholeTrackQueries ? samples.count : min(excerptLength, samples.count)
            let start = Int.random(in: 0...(samples.count - length), using: &rng)
            let excerpt = Array(samples[start..<(start + length)])
            let degradation = options.degradations[described.querySources.count % options.degradations.count]
            let degraded: [Float]
            do {
                degraded = try degradation.apply(excerpt, sampleRate: rate, seed: rng.next(), scratch: scratch)
            } catch {
                progress?.message("retrieve: \(track.path): excerpt skipped: \(degradation) failed: \(error)")
                continue
            }
            guard !degraded.isEmpty else { continue }
            let (query, segments, timbre) = describe(degraded, query: true, matching: options.segmentMatching)
            for s in query.indices { described.queries[s].append(query[s]) }
            described.queryTimbre.append(timbre)
            for (f, m) in segments.enumerated() { described.querySegments[f].append(m) }
            described.querySources.append(source)
            described.queryDegradations.append(degradation)
        }
    }

    /// A signal's two timbre Gaussians (`TimbreSimilarity.combined`).
    struct Timbre {
        var full: TimbreGaussian?
        var lowBand: TimbreGaussian?
    }

    /// Every system's scores, in `systemNames` order.
    private func systemReports(_ d: Described) -> [SystemReport] {
        let labels = d.kept.map(\.label), groups = d.kept.map(\.group)
        func report(_ name: String, dimensions: Int, style: StyleScores, ranks: [Int], selfCosines: [Float] = [])
            -> SystemReport
        {
            let perDegradation = options.degradations.map { g in
                DegradationScores(degradation: g.rawValue, scores: IdentificationScores(
                    ranks: zip(ranks, d.queryDegradations).filter { $0.1 == g }.map(\.0)),
                    selfCosine: CosineSummary(zip(selfCosines, d.queryDegradations).filter { $0.1 == g }.map(\.0)))
            }
            return SystemReport(name: name, dimensions: dimensions, style: style,
                                identification: IdentificationScores(ranks: ranks), perDegradation: perDegradation)
        }
        var reports: [SystemReport] = []
        for (s, name) in pooledSystemNames.enumerated() {
            let raw = Matrix(rowArrays: d.references[s])
            let isModel = s == 0 && encoder != nil
            if isModel {
                // The model as the index uses it: its own unit vectors, cosine. (Its z-scored row follows.)
                let style = RetrievalMetrics.styleRetrieval(
                    scores: BLAS.multiply(raw, .none, raw, .transposed), labels: labels, groups: groups)
                var ranks: [Int] = [], selfCosines: [Float] = []
                if !d.querySources.isEmpty {
                    let scores = BLAS.multiply(Matrix(rowArrays: d.queries[s]), .none, raw, .transposed)
                    ranks = RetrievalMetrics.identificationRanks(scores: scores, sources: d.querySources, groups: groups)
                    selfCosines = d.querySources.enumerated().map { scores[$0, $1] }
                }
                reports.append(report(name, dimensions: raw.columns, style: style, ranks: ranks,
                                      selfCosines: selfCosines))
            }
            let standardiser = Standardiser(fitting: raw)
            let refs = standardiser.apply(raw)
            let style = RetrievalMetrics.styleRetrieval(
                scores: BLAS.multiply(refs, .none, refs, .transposed), labels: labels, groups: groups)
            var ranks: [Int] = []
            if !d.querySources.isEmpty {
                let q = standardiser.apply(Matrix(rowArrays: d.queries[s]))
                ranks = RetrievalMetrics.identificationRanks(
                    scores: BLAS.multiply(q, .none, refs, .transposed), sources: d.querySources, groups: groups)
            }
            reports.append(report(isModel ? name + ":z" : name, dimensions: raw.columns, style: style, ranks: ranks))
            guard isModel, options.segmentMatching else { continue }
            // Segment matching: identification only; the style columns repeat the pooled model's.
            for scoring in SegmentScoring.allCases {
                let ranks = d.querySources.isEmpty ? [] : segmentRanks(d, scoring: scoring, columns: raw.columns)
                reports.append(report(name + ":" + scoring.rawValue, dimensions: raw.columns, style: style,
                                      ranks: ranks))
            }
        }
        return reports + timbreReports(d) { report($0, dimensions: $1, style: $2, ranks: $3) }
    }

    /// The timbre row and, with a model, the hybrid row (`TimbreSimilarity`); none without a timbre front end.
    private func timbreReports(
        _ d: Described,
        report: (String, Int, StyleScores, [Int]) -> SystemReport
    ) -> [SystemReport] {
        guard describesTimbre else { return [] }
        let labels = d.kept.map(\.label), groups = d.kept.map(\.group)
        let n = d.kept.count, queries = d.querySources.count
        // Per band range: mutual proximity among the kept tracks, and of each query to every kept track (a query
        // normalised by its distances to all kept tracks, a track by its distances to the other kept tracks).
        func proximities(_ model: (Timbre) -> TimbreGaussian?) -> (tracks: [Double], queries: [Double]) {
            let references = d.referenceTimbre.map(model)
            let distances = TimbreSimilarity.distances(references)
            let norms = TimbreSimilarity.normalisations(distances: distances, count: n)
            let queryDistances = TimbreSimilarity.distances(d.queryTimbre.map(model), to: references)
            let queryProximity = (0..<queries).flatMap { q in
                let row = queryDistances[(q * n)..<((q + 1) * n)]
                let norm = TimbreSimilarity.Normalisation(distances: row)
                return row.enumerated().map { j, distance in
                    guard let norm, let other = norms[j], distance.isFinite else { return Double.nan }
                    return TimbreSimilarity.mutualProximity(distance, norm, other)
                }
            }
            return (TimbreSimilarity.mutualProximity(distances: distances, count: n), queryProximity)
        }
        let full = proximities(\.full), lowBand = proximities(\.lowBand)
        let similarity = TimbreSimilarity.combined(full.tracks, lowBand.tracks)
        let combinedQueries = TimbreSimilarity.combined(full.queries, lowBand.queries)
        let querySimilarity = (0..<queries).map { Array(combinedQueries[($0 * n)..<(($0 + 1) * n)]) }
        func matrix(_ rows: [[Double]], columns: Int) -> Matrix {
            // A missing similarity ranks last.
            Matrix(rows: rows.count, columns: columns,
                   storage: rows.flatMap { $0.map { $0.isFinite ? Float($0) : -.greatestFiniteMagnitude } })
        }
        let timbreRows = (0..<n).map { Array(similarity[($0 * n)..<(($0 + 1) * n)]) }
        var out = [report(
            Self.timbreRow, 2 * TimbreGaussian.coefficients.count * (TimbreGaussian.coefficients.count + 3) / 2,
            RetrievalMetrics.styleRetrieval(scores: matrix(timbreRows, columns: n), labels: labels, groups: groups),
            queries == 0 ? [] : RetrievalMetrics.identificationRanks(
                scores: matrix(querySimilarity, columns: n), sources: d.querySources, groups: groups))]
        guard let encoder else { return out }
        // The model's cosines (its embeddings are unit vectors), mixed with the timbre similarity per query. A
        // model with a timbre reference set is mixed as the index mixes it: each track's profile normalised
        // against that set (`TimbreProfile`), not against the other tracks evaluated.
        let (mixedTracks, mixedQueries) =
            analyser?.timbreReference.map { profileSimilarities(d, reference: $0) } ?? (timbreRows, querySimilarity)
        let references = Matrix(rowArrays: d.references[0])
        let cosines = BLAS.multiply(references, .none, references, .transposed)
        // Each query's row as the index ranks it: the hybrid, its best re-ranked by shared neighbours.
        func ranked(model: [Double], timbre: [Double], excluding: Int?, candidates: [Int]) -> [Double] {
            let (ms, ts) = TimbreSimilarity.spreads(model: model, timbre: timbre, excluding: excluding)
            var row = zip(model, timbre).map {
                TimbreSimilarity.mixed(model: $0, timbre: $1, modelSpread: ms, timbreSpread: ts)
            }
            let members = Array(candidates.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
                .prefix(SharedNeighbours.members))
            // Two clips of one track are one item in a library: never each other's neighbours.
            let pairwise = members.flatMap { x in
                members.map { y in
                    groups[x] == groups[y]
                        ? -Double.infinity
                        : TimbreSimilarity.mixed(
                            model: Double(cosines[x, y]), timbre: mixedTracks[x][y], modelSpread: ms, timbreSpread: ts)
                }
            }
            let adjusted = SharedNeighbours.adjusted(scores: members.map { row[$0] }, pairwise: pairwise)
            for (member, score) in zip(members, adjusted) { row[member] = score }
            return row
        }
        let hybridRows = (0..<n).map { i in
            ranked(model: cosines.row(i).map(Double.init), timbre: mixedTracks[i], excluding: i,
                   candidates: (0..<n).filter { groups[$0] != groups[i] })
        }
        var ranks: [Int] = []
        if queries > 0 {
            let queryCosines = BLAS.multiply(Matrix(rowArrays: d.queries[0]), .none, references, .transposed)
            // A library holds a track once: the source's other clips are not candidates (nor counted as rivals
            // by `identificationRanks`).
            let rows = (0..<queries).map { q in
                let source = d.querySources[q]
                return ranked(model: queryCosines.row(q).map(Double.init), timbre: mixedQueries[q], excluding: nil,
                              candidates: (0..<n).filter { $0 == source || groups[$0] != groups[source] })
            }
            ranks = RetrievalMetrics.identificationRanks(scores: matrix(rows, columns: n), sources: d.querySources,
                                                         groups: groups)
        }
        out.append(report(
            "model:" + encoder.version.name + Self.hybridSuffix, references.columns,
            RetrievalMetrics.styleRetrieval(scores: matrix(hybridRows, columns: n), labels: labels, groups: groups),
            ranks))
        return out
    }

    /// The timbre similarities of every kept track (rows) and every query to every kept track by their profiles
    /// against `reference` (`TimbreProfile.similarity`), as the index computes them; NaN on the diagonal.
    private func profileSimilarities(_ d: Described, reference: TimbreReference) -> ([[Double]], [[Double]]) {
        let tracks = d.referenceTimbre.map { reference.profile(full: $0.full, lowBand: $0.lowBand) }
        let queries = d.queryTimbre.map { reference.profile(full: $0.full, lowBand: $0.lowBand) }
        let n = tracks.count
        // The similarity is symmetric (one divergence, both normalisations): each pair of tracks once.
        let among = Pairwise.matrix(rows: n, columns: n, symmetric: true) { tracks[$0].similarity(to: tracks[$1]) }
        let toTracks = Pairwise.matrix(rows: queries.count, columns: n, symmetric: false) {
            queries[$0].similarity(to: tracks[$1])
        }
        func rows(_ flat: [Double], _ count: Int) -> [[Double]] {
            (0..<count).map { Array(flat[($0 * n)..<(($0 + 1) * n)]) }
        }
        return (rows(among, n), rows(toTracks, queries.count))
    }

    /// Identification ranks of every query by segment matching with one scoring.
    private func segmentRanks(_ d: Described, scoring: SegmentScoring, columns: Int) -> [Int] {
        let frontEnd = scoring == .segmentsRobust || scoring == .segmentsRobustPitch ? 1 : 0
        var refs = d.referenceSegments[frontEnd], qs = d.querySegments[frontEnd]
        if scoring == .segmentsZ {
            let z = Standardiser(fitting: Self.stack(refs, columns: columns))
            refs = refs.map(z.apply)
            qs = qs.map(z.apply)
        }
        let tries = IdentificationFrontEnd.pitchOffsets.count
        let variants =
            scoring == .segmentsRobustPitch ? [qs] + d.querySegments[2..<(2 + tries)]
            : scoring == .segmentsPitch ? [qs] + d.querySegments[(2 + tries)...] : [qs]
        let scores = SegmentMatching.bestScores(variants: variants, references: refs,
                                                scoring: scoring == .segmentsAligned ? .alignedVotes : .meanOfBest)
        return RetrievalMetrics.identificationRanks(scores: scores, sources: d.querySources,
                                                    groups: d.kept.map(\.group))
    }

    /// A labelled file's samples, or nil after recording why it could not be decoded (or held no audio) in
    /// `failures` and saying so through `progress`.
    static func decode(_ track: LabelledTrack, with decoder: AudioDecoder, failures: inout [Failure],
                       progress: (any ProgressSink)?) -> [Float]? {
        do {
            let samples = try decoder.decode(URL(fileURLWithPath: track.path)).samples
            guard !samples.isEmpty else { throw AnalysisError.noAudio(path: track.path) }
            return samples
        } catch {
            let reason = AnalysisFailure(error).reason
            failures.append(Failure(path: track.path, reason: reason))
            progress?.message("retrieve: " + (reason.contains(track.path) ? reason : "\(track.path): \(reason)"))
            return nil
        }
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

    /// Every pooled system's descriptor of one signal, in `pooledSystemNames` order (unnormalised; z-scoring
    /// comes later), and the model's segment embeddings at `matchingHopFrames` (one unit row per segment).
    func describe(_ samples: [Float], query: Bool = false, matching: Bool = true)
        -> (descriptors: [[Float]], segments: [Matrix], timbre: Timbre)
    {
        let logMel = extractor.logMel(samples)
        let timbre = describesTimbre
            ? { let g = TimbreAnalysis.gaussians(logMel: logMel, configuration: features)
                return Timbre(full: g.full, lowBand: g.lowBand) }()
            : Timbre()
        var out: [[Float]] = []
        var segments: [Matrix] = []
        if let encoder, let analyser {
            out.append(analyser.embedding(samples: samples)?.values
                ?? [Float](repeating: 0, count: encoder.configuration.embeddingSize))
            guard matching else {
                return (out + BaselineDescriptors.descriptors(logMel: logMel, extractor: extractor), [], timbre)
            }
            let windows = SegmentCutter.windows(of: logMel, length: encoder.configuration.segmentFrames, hop: matchingHopFrames)
            var frontEnds = [windows, robustWindows(windows)]
            if query {
                let rate = features.sampleRate
                let shifted = IdentificationFrontEnd.pitchOffsets.map { semitones in
                    // Varispeed, as `EncoderAnalyser.identificationSegments`; a failed resampling leaves the query
                    // unshifted for that try.
                    let shifted = (try? DSP.resample(samples, from: Double(rate),
                                                     to: Double(IdentificationFrontEnd.varispeedRate(rate, semitones: semitones))))
                        .map { extractor.logMel($0) } ?? logMel
                    return SegmentCutter.windows(of: shifted, length: encoder.configuration.segmentFrames,
                                                 hop: matchingHopFrames)
                }
                frontEnds += shifted.map(robustWindows) + shifted
            }
            for w in frontEnds {
                segments.append(Self.stack(encoder.embed(segments: w).map(\.values),
                                           columns: encoder.configuration.embeddingSize))
            }
        }
        return (out + BaselineDescriptors.descriptors(logMel: logMel, extractor: extractor), segments, timbre)
    }

    func robustWindows(_ windows: [Matrix]) -> [Matrix] {
        guard let encoder else { return windows }
        return IdentificationFrontEnd.robustWindows(windows, configuration: encoder.configuration)
    }


    static func stack(_ rows: [[Float]], columns: Int) -> Matrix {
        Matrix(rows: rows.count, columns: columns, storage: rows.flatMap { $0 })
    }

    static func stack(_ matrices: [Matrix], columns: Int) -> Matrix {
        Matrix(rows: matrices.reduce(0) { $0 + $1.rows }, columns: columns, storage: matrices.flatMap(\.storage))
    }
}
