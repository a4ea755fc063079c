import ArgumentParser
import Foundation
import Library
import PostgresIndex
import RetrieveCore
import VectorIndex

/// `retrieve migrate SRC DST`: copies an index between SQLite and PostgreSQL (either way), verified.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy an index between SQLite and PostgreSQL (either way), verified.",
        discussion: """
            SRC and DST are each an SQLite file or a postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE URL. Rows are \
            copied as stored (ids, times, vector bytes), in batches of --batch-rows, each one transaction; then the \
            copy is read back and its row counts and checksums compared with the source's. A destination that \
            holds any row is left untouched unless --replace.
            """)

    @Argument(help: ArgumentHelp("The index to copy: an SQLite file or a postgresql:// URL.", valueName: "src"))
    var source: String

    @Argument(help: ArgumentHelp("Where to copy it: an SQLite file or a postgresql:// URL.", valueName: "dst"))
    var destination: String

    @Flag(help: "Delete whatever the destination holds first, then copy.") var replace = false

    @Option(help: ArgumentHelp("Rows per batch (one transaction each).", valueName: "n"))
    var batchRows = 1000

    @Flag(name: .shortAndLong, help: "No progress bar.") var quiet = false
    @Flag(help: "Print the summary as JSON (one object).") var json = false

    func validate() throws {
        try Check.range("--batch-rows", batchRows, 1...100_000)
        if Endpoint(source) == Endpoint(destination) {
            throw ValidationError("SRC and DST are the same index (\(Endpoint(source))); name another destination")
        }
    }

    /// An SQLite path (absolute) or a PostgreSQL URL, as given.
    enum Endpoint: Equatable, CustomStringConvertible {
        case sqlite(String)
        case postgres(String)

        init(_ text: String) {
            self = PostgresLocation.isURL(text) ? .postgres(text) : .sqlite(Paths.absolute(text))
        }

        var description: String {
            switch self {
            case .sqlite(let path): return path
            case .postgres(let url): return PostgresLocation.redact(url)
            }
        }

        /// Opens the index; a source must exist and is only read, a destination is created (schema included).
        func open(asSource: Bool) async throws -> any IndexEndpoint {
            switch self {
            case .sqlite(let path):
                guard asSource else { return try IndexStore(path: path) }
                guard FileManager.default.fileExists(atPath: path) else {
                    throw CLIError("no index at \(path) to copy — check the path")
                }
                return try IndexStore.openForReading(path: path)
            case .postgres(let url):
                return try await PostgresStore.open(url: url, migrate: !asSource)
            }
        }
    }

    func run() throws {
        let interrupt = InterruptFlag()
        interrupt.catchInterrupts {
            FileHandle.standardError.write(Data("\nretrieve: stopping after the batch in flight\n".utf8))
        }
        let (source, destination, replace, batchRows, quiet) = (
            Endpoint(self.source), Endpoint(self.destination), self.replace, self.batchRows, self.quiet
        )
        // A bar on a terminal; nothing when standard error is piped (as `export`), or with --quiet.
        let interactive = isatty(FileHandle.standardError.fileDescriptor) != 0
        let progress: ProgressFactory = { total, label in
            ProgressReporter(total: total, label: label, mode: quiet || !interactive ? .quiet : .terminal)
        }
        let report = try Blocking.run {
            let from = try await source.open(asSource: true)
            let to: any IndexEndpoint
            do {
                to = try await destination.open(asSource: false)
            } catch {
                await (from as? PostgresStore)?.close()
                throw error
            }
            let outcome = await Result {
                try await IndexCopier(batchRows: batchRows).copy(
                    from: from, to: to, replace: replace, progress: progress,
                    stop: interrupt.stop)
            }
            await (from as? PostgresStore)?.close()
            await (to as? PostgresStore)?.close()
            do {
                return try outcome.get()
            } catch is CancellationError {
                throw CLIError(
                    "interrupted: \(destination) holds part of the copy — run `retrieve migrate` again with --replace")
            }
        }
        let sums = report.checksums
        let hex = IndexChecksums.hex
        if json {
            print(Exporter.jsonString([
                "source": source.description, "destination": destination.description, "seconds": report.seconds,
                "replaced": report.replaced.map { $0.total } as Any,
                "rows": ["tracks": sums.counts.tracks, "models": sums.counts.models,
                         "embeddings": sums.counts.embeddings, "segments": sums.counts.segments,
                         "failures": sums.counts.failures],
                "checksums": ["tracks": hex(sums.tracks.value), "models": hex(sums.models.value),
                              "embeddings": hex(sums.embeddings.value), "segments": hex(sums.segments.value),
                              "failures": hex(sums.failures.value)],
            ] as [String: Any]))
            return
        }
        if let replaced = report.replaced { print("replaced  \(replaced) in \(destination)") }
        print("copied    \(sums.counts)")
        print("          from \(source)")
        print("          to   \(destination) in \(Output.elapsed(report.seconds))")
        print("verified  every row read back: counts equal; checksums (FNV-1a 64) equal:")
        print("          embeddings \(hex(sums.embeddings.value))  segment vectors \(hex(sums.segments.value))")
        print("          tracks \(hex(sums.tracks.value))  models \(hex(sums.models.value))  failures \(hex(sums.failures.value))")
    }
}
