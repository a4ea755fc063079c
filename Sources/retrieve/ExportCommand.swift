import ArgumentParser
import Foundation
import RetrieveCore
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import VectorIndex
import LinearAlgebra

extension RecommendationFormat: ExpressibleByArgument {}

/// `retrieve export`: recommendations for every track, or for listed seeds, to files.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write recommendations for every track (or for --seeds) as CSV, JSON Lines or M3U playlists.",
        discussion: """
            Each track's recommendations are those `retrieve similar` gives for it alone: when the model stores \
            timbre profiles (the shipped model does), ranked by the embedding and the timbre model together, \
            then by shared neighbours, the score being that mix (--timbre-weight, --neighbour-weight); with \
            --timbre-weight 0, or a model without timbre, by the embedding's cosine — one all-pairs scan, much \
            faster for a large library.
            """)

    @OptionGroup var location: IndexLocationOptions

    @Option(name: .customLong("k"), help: "Recommendations per track.")
    var k: Int = 20

    @Option(help: "Output format (m3u: one playlist per seed track, written into the --out folder).")
    var format: RecommendationFormat = .csv

    @Option(help: ArgumentHelp("Output file (csv, jsonl; - for standard output) or folder (m3u).", valueName: "path"))
    var out: String

    @Option(help: ArgumentHelp(
        "A file listing seed tracks, one path or id per line (# starts a comment); default: every track.",
        valueName: "file"))
    var seeds: String?

    @OptionGroup var ranking: RankingOptions

    @Flag(name: .shortAndLong, help: "No progress output.")
    var quiet = false

    var recommendationFormat: RecommendationFormat { format }

    func validate() throws {
        try Check.range("--k", k, 1...SimilarCommand.maximumK)
        if recommendationFormat == .m3u && out == "-" {
            throw ValidationError("--format m3u writes one playlist per seed: --out must be a folder")
        }
    }

    func run() throws {
        let encoder = try location.loadModel()
        // Records are read block by block as rows are written, so memory holds the vectors and one block of them
        // (from SQLite; a PostgreSQL index is read into memory in one snapshot).
        let engine = try location.openEngine(model: encoder.version, loading: .vectors)
        ranking.apply(to: engine)
        // Without a timbre reference set the index stores no profiles: the all-pairs scan answers every seed.
        if encoder.timbreReference == nil { engine.timbreWeight = 0 }
        var rows: [Int]?
        if let seeds {
            let text: String
            do { text = try String(contentsOfFile: seeds, encoding: .utf8) } catch {
                throw LibraryError.unreadableSeeds(path: seeds, reason: readFailureReason(error, path: seeds))
            }
            rows = []
            for line in text.split(whereSeparator: \.isNewline) {
                let entry = line.trimmingCharacters(in: .whitespaces)
                if entry.isEmpty || entry.hasPrefix("#") { continue }
                guard case .indexed(let row) = try engine.resolve(entry) else {
                    throw CLIError("\(seeds): seed '\(entry)' is not an indexed track; index it first")
                }
                rows!.append(row)
            }
        }
        let total = rows?.count ?? engine.count
        // A bar on a terminal; nothing when standard error is piped or the recommendations go to standard output.
        let interactive = isatty(FileHandle.standardError.fileDescriptor) != 0
        let progress = ProgressReporter(
            total: total, label: "exporting", mode: quiet || out == "-" || !interactive ? .quiet : .terminal)
        // Both cores share the all-pairs scan, each running single-threaded BLAS on its own tiles (two OpenBLAS
        // threads inside each of two workers would oversubscribe them).
        let threads = Cores.available
        BLAS.setThreadCount(1)
        let written = try Exporter(engine: engine).export(
            k: k, format: recommendationFormat, seedRows: rows, output: out, threads: threads, progress: progress)
        progress.finish()
        if out != "-" {
            FileHandle.standardError.write(Data("wrote recommendations for \(written) track(s) to \(out)\n".utf8))
        }
    }
}
