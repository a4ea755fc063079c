import ArgumentParser
import Foundation
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import RetrieveCore
import VectorIndex

/// `retrieve similar QUERY…`: the tracks most like one or more seeds.
struct SimilarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "similar",
        abstract: "List the indexed tracks most similar to a query.",
        discussion: """
            A query is an audio file (indexed or not), an indexed path, or a track id from `retrieve list`. \
            Several queries ask for "more like these": their mean. The query's own track never appears in \
            its results, nor does a copy of it.
            When the model stores timbre profiles (the shipped model does), the embedding's nearest tracks are \
            ranked again by the embedding and the timbre model together (--timbre-weight), and the score is that \
            mix: the two similarities, each standardised over the query's candidates, weighted and added \
            (larger is closer; 0 is an average candidate). The mix's best 100 are then ranked again by the \
            neighbours they share with the query: a track whose own nearest tracks are the query's nearest \
            moves up, one close to the query while its neighbours lie elsewhere moves down, and its score with \
            it (--neighbour-weight). With --timbre-weight 0, or a model without timbre, tracks are ranked by \
            the embedding's cosine, which is then the score.
            With --identify, the one query (an audio file: an excerpt, a degraded copy) is instead matched \
            segment by segment against tracks indexed with `retrieve index --segments`, to find which recording \
            it comes from; the score is the mean over its segments of the best cosine in the track. The query is \
            also tried varispeed-shifted by ±0.5, ±1 and ±1.5 semitones (a pitched-up or slowed-down copy), each \
            track keeping its best score; --exact-pitch skips those tries (7× less work).
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, csv, m3u }

    @OptionGroup var location: IndexLocationOptions

    @Argument(help: ArgumentHelp("Audio files, indexed paths or track ids.", valueName: "query"))
    var queries: [String]

    @Option(name: .customLong("k"), help: "How many results.")
    var k: Int = 10

    @Flag(help: "Leave out tracks by the seeds' artists.")
    var excludeSameArtist = false

    @Flag(help: "Leave out tracks from the seeds' albums.")
    var excludeSameAlbum = false

    @Option(name: .customLong("under"), help: ArgumentHelp(
        "Only tracks under this folder (repeatable).", valueName: "dir"))
    var under: [String] = []

    @Flag(help: ArgumentHelp(
        "Drop tracks that are the same recording as a seed or a better result: the same file content, the same "
            + "artist and title (ignoring case, accents, punctuation and \"feat.\" credits), or a duration within "
            + "1 s together with a cosine of at least --dedupe-threshold (and matching segments where the index "
            + "keeps them). Similar style alone never counts."))
    var dedupe = false

    @Option(help: "With --dedupe: the cosine that, with a duration within 1 s, marks the same recording.")
    var dedupeThreshold: Float = DuplicateRule.defaultSimilarity

    @OptionGroup var ranking: RankingOptions

    @Option(help: "Output format.")
    var format: Format = .table

    @Flag(help: ArgumentHelp(
        "Find which indexed recording an audio file comes from, by matching segments (index with --segments)."))
    var identify = false

    @Flag(help: "With --identify: match the query only as recorded, not also pitch-shifted.")
    var exactPitch = false

    @Flag(help: "Shorthand for --format json (JSON Lines: one object per result).") var json = false
    @Flag(help: "Shorthand for --format csv.") var csv = false
    @Flag(help: "Shorthand for --format m3u.") var m3u = false

    func validate() throws {
        try Check.range("--k", k, 1...Self.maximumK)
        guard [json, csv, m3u].filter({ $0 }).count <= 1 else {
            throw ValidationError("choose one of --json, --csv, --m3u")
        }
        if identify {
            guard queries.count == 1 else {
                throw ValidationError("--identify takes one audio file, got \(queries.count) queries")
            }
            guard !excludeSameArtist && !excludeSameAlbum && under.isEmpty && !dedupe else {
                throw ValidationError("--identify ranks every indexed track; it does not combine with "
                    + "--exclude-same-artist, --exclude-same-album, --under or --dedupe")
            }
        }
        guard identify || !exactPitch else { throw ValidationError("--exact-pitch only applies with --identify") }
        try Check.finite("--dedupe-threshold", dedupeThreshold, 0...1)
    }

    /// The most results a query may ask for (the results are sorted and printed, not streamed).
    static let maximumK = 100_000

    var outputFormat: Format { json ? .json : csv ? .csv : m3u ? .m3u : format }

    func run() throws {
        let encoder = try location.loadModel()
        // From SQLite, the vectors are streamed from the index chunk by chunk and only the rows a query returns or
        // filters on are read, not the whole `tracks` table (--identify reads every track's segments anyway).
        let engine = try location.openEngine(model: encoder.version, loading: identify ? .all : .onDemand)
        ranking.apply(to: engine)
        var analyser: EncoderAnalyser?
        if identify {
            let path = Paths.absolute(queries[0])
            guard FileManager.default.fileExists(atPath: path) else {
                throw CLIError("\(queries[0]): --identify takes an audio file that exists")
            }
            let variants: [[Embedding]]
            let identifier = try EncoderAnalyser(encoder: encoder)
            do {
                variants = try identifier.identificationSegments(
                    path: path, pitchOffsets: exactPitch ? [] : IdentificationFrontEnd.pitchOffsets)
            } catch {
                throw LibraryError.queryNotAnalysable(path: path, reason: String(describing: error))
            }
            let results = try engine.identify(variants: variants, segmentVersion: identifier.segmentVersion, k: k)
            print(render(results, seeds: []), terminator: "")
            return
        }
        var seeds: [Embedding] = []
        var seedRows: [Int] = []
        var seedRecordings: [RecordingEvidence] = []
        var seedTimbres: [TimbreProfile] = []
        for query in queries {
            switch try engine.resolve(query) {
            case .indexed(let row):
                seeds.append(engine.embedding(row: row))
                seedRows.append(row)
            case .audioFile(let path):
                if analyser == nil { analyser = try EncoderAnalyser(encoder: encoder) }
                let analysis: TrackAnalysis
                do {
                    analysis = try analyser!.analyse(path: path)
                } catch {
                    throw LibraryError.queryNotAnalysable(path: path, reason: String(describing: error))
                }
                seeds.append(analysis.embedding)
                if let timbre = analysis.timbre, !timbre.isEmpty { seedTimbres.append(timbre) }
                seedRecordings.append(RecordingEvidence(
                    contentHash: (try? ContentHash.ofFile(atPath: path)) ?? "", artist: analysis.info.artist,
                    title: analysis.info.title, duration: analysis.info.duration, embedding: analysis.embedding))
                if let row = engine.row(matchingContentOf: path) { seedRows.append(row) }
            }
        }
        var filters = QueryFilters()
        filters.excludeSameArtist = excludeSameArtist
        filters.excludeSameAlbum = excludeSameAlbum
        filters.pathPrefixes = under.map(Paths.absolute)
        filters.dedupe = dedupe ? DuplicateRule(similarity: dedupeThreshold) : nil
        let results = try engine.search(
            to: seeds, seedRows: seedRows, k: k, filters: filters, seedRecordings: seedRecordings,
            seedTimbres: seedTimbres)
        print(render(results, seeds: seedRows.map(engine.track(row:))), terminator: "")
    }

    func render(_ results: [SimilarTrack], seeds: [TrackRecord]) -> String {
        switch outputFormat {
        case .table:
            if results.isEmpty { return "no tracks match the query and filters\n" }
            let rows = results.map {
                [String($0.rank), String(format: "%.4f", $0.score), Output.duration($0.track.duration),
                 Exporter.displayName($0.track), $0.track.label ?? ""]
            }
            let hasLabels = results.contains { $0.track.label != nil }
            let header = ["rank", "score", "time", "track"] + (hasLabels ? ["label"] : [])
            return Output.table(header, hasLabels ? rows : rows.map { Array($0.dropLast()) },
                                rightAligned: [0, 1, 2]) + "\n"
        case .json:
            // JSON Lines, one object per result, like `list --json` (see README, "JSON output").
            return results.map { r -> String in
                var o = Exporter.jsonObject(r.track)
                o["rank"] = r.rank
                o["score"] = Double(r.score)
                o["cosine"] = Double(r.cosine)
                return Exporter.jsonString(o) + "\n"
            }.joined()
        case .csv:
            return "rank,score,id,path,artist,title,duration\n" + results.map {
                "\($0.rank),\(String(format: "%.6f", $0.score)),\($0.track.id!.rawValue),"
                    + "\(CSV.field($0.track.path)),\(CSV.field($0.track.artist ?? "")),"
                    + "\(CSV.field($0.track.title ?? "")),\(String(format: "%.2f", $0.track.duration))\n"
            }.joined()
        case .m3u:
            return Exporter.m3u(seed: seeds.count == 1 ? seeds[0] : nil, results: results)
        }
    }
}
