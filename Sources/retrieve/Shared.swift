import ArgumentParser
import Foundation
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import RetrieveCore
import SequenceEncoding
import VectorIndex
import PostgresIndex

/// The `--model` option, shared by every command that embeds audio; `load` is the one way a command loads it.
struct ModelOption: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The model file (default: $RETRIEVE_MODEL, else the shipped Index/default-model.safetensors).",
        valueName: "path"))
    var model: String?

    /// The path the model is (or would be) loaded from.
    var path: String { ModelFile.locate(option: model).path }

    /// Resolves, loads and validates the model (see `ModelFile`); failures are one sentence with the remedy.
    func load(alternative: String? = nil) throws -> SequenceEncoding.Encoder {
        try ModelFile.load(option: model, alternative: alternative)
    }
}

/// How "more like this" ranks: the timbre model's weight beside the embedding and the shared-neighbour step;
/// shared by `similar`, `export` and `mpd`, so they give one answer.
struct RankingOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The timbre model's weight beside the embedding, from 0 (the embedding alone) to 1 (timbre alone, among "
            + "the embedding's nearest 500).",
        valueName: "w"))
    var timbreWeight: Double = TimbreSimilarity.hybridWeight

    @Option(help: ArgumentHelp(
        "With timbre: how far the neighbours a track shares with the query move it among the mix's best 100, in "
            + "standard deviations of their scores (0 keeps the mix's order).",
        valueName: "w"))
    var neighbourWeight: Double = SharedNeighbours.weight

    func validate() throws {
        try Check.finite("--timbre-weight", timbreWeight, 0...1)
        try Check.finite("--neighbour-weight", neighbourWeight, 0...2)
    }

    func apply(to engine: QueryEngine) {
        engine.timbreWeight = timbreWeight
        engine.neighbourWeight = neighbourWeight
    }
}

/// Options every command that touches the index shares.
struct IndexLocationOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The index database (default: $RETRIEVE_DB, else Index/library.sqlite).", valueName: "path"))
    var db: String?

    @OptionGroup var modelOption: ModelOption

    var model: String? {
        get { modelOption.model }
        set { modelOption.model = newValue }
    }

    var databasePath: String { DefaultLocations.databasePath(option: db) }
    var modelPath: String { modelOption.path }

    /// Opens the index; `create` is false for commands that only read, so a mistyped path is not created.
    ///
    /// `readOnly` is for commands that never write (similar, stats, list, export, map): a read-write open writes
    /// to the file even when nothing changes (GRDB creates and drops a table to set up the write-ahead log), so
    /// a query would modify an index it only reads, and could not run on a read-only file, folder or mount.
    /// `IndexStore.openForReading` opens those read-only (immutable where the folder cannot be written).
    func openStore(create: Bool, readOnly: Bool = false) throws -> IndexStore {
        try refusePostgres()
        if !create { try requireIndexFile() }
        return readOnly ? try IndexStore.openForReading(path: databasePath) : try IndexStore(path: databasePath)
    }

    /// Refuses a missing SQLite index file with the remedy (for the commands that only read it).
    func requireIndexFile() throws {
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw CLIError("no index at \(databasePath); run `retrieve index DIR` first, or pass --db")
        }
    }

    func loadModel() throws -> SequenceEncoding.Encoder { try modelOption.load() }

    /// The `postgresql://` URL that --db or $RETRIEVE_DB names, if either does (`databasePath` is for files).
    var postgresURL: String? {
        let named = db ?? ProcessInfo.processInfo.environment["RETRIEVE_DB"]
        return named.flatMap { PostgresLocation.isURL($0) ? $0 : nil }
    }

    /// The index as messages name it: a PostgreSQL URL with its password redacted, else the file's path.
    var databaseName: String { postgresURL.map(PostgresLocation.redact) ?? databasePath }

    /// A query engine over `model`'s vectors: from the SQLite file (one frozen view), or from PostgreSQL, read
    /// in one REPEATABLE READ snapshot and then answered from memory (`PostgresStore.snapshot`). The scan, the
    /// filters and the answers are the same code either way.
    func openEngine(model: ModelVersion, loading: TrackLoading) throws -> QueryEngine {
        guard let url = postgresURL else {
            let store = try openStore(create: false, readOnly: true)
            return try QueryEngine(store: store, model: model, databasePath: databasePath, loading: loading)
        }
        let snapshot = try withPostgres(url) { try await $0.snapshot(modelDigest: model.digest) }
        return try QueryEngine(
            reading: snapshot, later: snapshot, model: model, databasePath: databaseName, loading: loading)
    }

    /// Runs `body` on the PostgreSQL index at `url` (its schema complete: `migrate: false`), then closes it.
    func withPostgres<T: Sendable>(
        _ url: String, _ body: @escaping @Sendable (PostgresStore) async throws -> T
    ) throws -> T {
        try Blocking.run { try await PostgresStore.with(url: url, migrate: false, body) }
    }

    /// Commands that work on SQLite only so far say so for a PostgreSQL URL, instead of taking it for a file name.
    func refusePostgres() throws {
        guard let url = postgresURL else { return }
        throw CLIError(
            "\(PostgresLocation.redact(url)) is a PostgreSQL index, which this command cannot use yet — "
                + "copy it to an SQLite file with `retrieve migrate \(PostgresLocation.redact(url)) FILE.sqlite` and pass --db FILE.sqlite")
    }
}

/// Range checks for numeric options, for `validate()`: each rejects NaN and infinities (a comparison with NaN is
/// false, so `contains` alone already does) and says which option got which value and what it takes.
enum Check {
    /// `value` must lie in `allowed`.
    static func range<T: Comparable>(_ option: String, _ value: T, _ allowed: ClosedRange<T>, unit: String = "") throws {
        guard allowed.contains(value) else {
            throw ValidationError("\(option) must be between \(allowed.lowerBound) and \(allowed.upperBound)\(unit), got \(value)")
        }
    }

    /// `value`, when given, must lie in `allowed`.
    static func range<T: Comparable>(_ option: String, _ value: T?, _ allowed: ClosedRange<T>, unit: String = "") throws {
        if let value { try range(option, value, allowed, unit: unit) }
    }

    /// `value`, when given, must be at least `minimum` (any larger value is fine: `list --limit`, `--offset`).
    static func atLeast(_ option: String, _ value: Int?, _ minimum: Int) throws {
        if let value, value < minimum { throw ValidationError("\(option) must be \(minimum) or more, got \(value)") }
    }

    /// `value` must be finite and lie in `allowed` (floating point).
    static func finite<T: BinaryFloatingPoint>(_ option: String, _ value: T, _ allowed: ClosedRange<T>, unit: String = "") throws {
        guard value.isFinite, allowed.contains(value) else {
            throw ValidationError("\(option) must be a number between \(allowed.lowerBound) and \(allowed.upperBound)\(unit), got \(value)")
        }
    }

    /// `value` must be finite, above `lower` (exclusive) and at most `upper`.
    static func above<T: BinaryFloatingPoint>(_ option: String, _ value: T, _ lower: T, atMost upper: T, unit: String = "") throws {
        guard value.isFinite, value > lower, value <= upper else {
            throw ValidationError("\(option) must be a number above \(lower) and at most \(upper)\(unit), got \(value)")
        }
    }
}

/// A one-line error for the user, printed as `retrieve: MESSAGE`.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Output helpers: plain text for people, stable formats for programs.
enum Output {
    static func error(_ text: String) {
        // A file name's tabs and terminal escapes are shown escaped; the message's own line breaks (a list of
        // paths under a refusal, each escaped where it is made) stay.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0).escapingControlCharacters }
        FileHandle.standardError.write(Data("retrieve: \(lines.joined(separator: "\n"))\n".utf8))
    }

    /// "3:25" or "1:02:03"; "?" for what is no duration (negative, NaN) and ">9999:59:59" from 10 000 hours on
    /// (+∞ too), which no recording lasts: a length from a damaged header (10¹⁴ s, or 10³⁰⁰ s, which would trap in
    /// `Int`) must not fill a table column with digits.
    static func duration(_ seconds: Double) -> String {
        guard seconds >= 0 else { return "?" }  // negative or NaN
        guard seconds < 35_999_999.5 else { return ">9999:59:59" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, (s % 3600) / 60, s % 60)
                         : String(format: "%d:%02d", s / 60, s % 60)
    }

    /// "1h02m", "3m05s", "12s" or "?".
    static func elapsed(_ seconds: Double) -> String {
        guard seconds >= 0 else { return "?" }  // negative or NaN
        // 10⁶ hours and more is a damaged length (and above 9.2·10¹⁸ s `Int` would trap): say so, briefly.
        guard seconds < 3_599_999_999.5 else { return ">999999h" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }

    /// Left-aligned columns separated by two spaces; numeric columns right-aligned.
    static func table(_ header: [String], _ rawRows: [[String]], rightAligned: Set<Int> = []) -> String {
        // A name or tag may hold a newline, a tab or a terminal escape: shown escaped, the columns stay columns.
        let rows = rawRows.map { $0.map(\.escapingControlCharacters) }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return i == cells.count - 1 ? (rightAligned.contains(i) ? pad + c : c)
                    : (rightAligned.contains(i) ? pad + c : c + pad)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

/// Exit statuses, documented in the README.
enum ExitStatus {
    /// Finished, but some files could not be indexed (each is recorded with its reason).
    static let partialFailure = ExitCode(3)
    /// Stopped by Ctrl-C after committing the batch in flight.
    static let interrupted = ExitCode(130)
}

/// A base folder of the XDG convention: `$VARIABLE` when set and not empty, else `~/FALLBACK`.
enum XDGFolder {
    static func path(_ variable: String, else fallback: String) -> String {
        ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/" + fallback)
    }
}
