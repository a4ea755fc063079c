import ArgumentParser
import Foundation
import RetrieveCore
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import VectorIndex
import PostgresIndex
import SequenceEncoding

/// `retrieve index DIR…`: bring the index up to date with folders of audio.
struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Analyse folders of audio and add them to the index (incremental).",
        discussion: """
            Unchanged files (same size and modification time) are skipped, moved files are recognised by their \
            content and keep their embedding, and tracks embedded by another model are re-embedded. Files that \
            cannot be decoded are recorded with their reason and do not stop the run. Work is committed in \
            batches: a kill loses at most the batch in flight, and the next run resumes.
            With --db postgresql://… (or RETRIEVE_DB), several `retrieve index` processes, on one machine or \
            many (the collection at the same path on each), can index one library at once: each plans its folders, \
            queues what needs analysing in the database, and claims batches from that queue with a lease (--lease); \
            a stopped or killed worker's files are taken over when its lease expires, and a run ends when the queue \
            is empty. A broken connection is reported and retried after reconnecting.
            Exit status: 0 all files indexed; 3 finished, but some files failed (see `retrieve list --failures`); \
            130 stopped by Ctrl-C; 1 the run could not proceed.
            """)

    @OptionGroup var location: IndexLocationOptions

    @Argument(help: ArgumentHelp("Folders (searched recursively) or files to index.", valueName: "dir"))
    var roots: [String]

    @Flag(help: ArgumentHelp(
        "Remove tracks whose files are gone from under the given folders: only where the file's folder was "
            + "listed and no longer holds it; a folder that cannot be read keeps its tracks."))
    var prune = false

    @Flag(help: ArgumentHelp(
        "With --prune: remove even when more than half of a folder's tracks (and more than 5) are gone, which "
            + "otherwise is refused as a likely unmounted drive or moved folder."))
    var force = false

    @Flag(help: "Say what would be done; analyse and write nothing.")
    var dryRun = false

    @Flag(help: "Retry files that failed before even if they have not changed.")
    var retryFailures = false

    // No default value here: it would be this machine's core count, printed in --help.
    @Option(help: "Analysis threads (default: one per core).")
    var jobs: Int?

    @Option(help: "Files per committed batch.")
    var batchSize: Int = 16

    @Option(help: ArgumentHelp(
        "A CSV of path,label rows (paths relative to the CSV); indexed tracks get these class labels, which "
            + "`retrieve evaluate`, `retrieve map` and `similar` show.", valueName: "csv"))
    var labels: String?

    @Flag(help: "Print the summary as JSON (one object).")
    var json = false

    @Flag(help: ArgumentHelp(
        "Also store every segment's embedding (about 0.5 KB per 1.5 s of audio), for `similar --identify`; "
            + "tracks indexed before without it are analysed again once."))
    var segments = false

    @Flag(name: .shortAndLong, help: "No progress output.")
    var quiet = false

    @Option(help: ArgumentHelp(
        "PostgreSQL only: seconds a worker's claim on a batch lasts without renewal (renewed every third of it "
            + "while it works); a killed worker's files are taken over after this long.", valueName: "seconds"))
    var lease: Double = 120

    func validate() throws {
        try Check.range("--jobs", jobs, 1...1_024)
        try Check.range("--batch-size", batchSize, 1...100_000)
        guard prune || !force else { throw ValidationError("--force only applies with --prune") }
        guard lease >= 1, lease <= 86_400 else {
            throw ValidationError("--lease must be between 1 and 86400 seconds, not \(lease)")
        }
    }

    /// One encoder per analysis thread: its scratch buffers are not shared between threads.
    func makeAnalyser() throws -> TrackAnalysing {
        let analyser = try EncoderAnalyser(encoder: try location.loadModel())
        analyser.keepSegments = segments
        return analyser
    }

    /// Ctrl-C stops after the batch in flight; a second one at once.
    func catchInterrupts() -> InterruptFlag {
        let interrupt = InterruptFlag()
        interrupt.catchInterrupts {
            FileHandle.standardError.write(Data(
                "\nretrieve: stopping after the batch in flight (Ctrl-C again to stop at once)\n".utf8))
        }
        return interrupt
    }

    /// `run()` for a PostgreSQL index: one worker among any number indexing the same library.
    func runShared(url: String) throws {
        let target = try PostgresLocation(url)
        let threads = jobs ?? Cores.available
        let analysers = try (0..<threads).map { _ in try makeAnalyser() }
        var options = SharedIndexer.Options()
        options.batchSize = batchSize
        options.lease = lease
        options.prune = prune
        options.force = force
        options.retryFailures = retryFailures
        options.crashJournal = Self.crashJournal(for: target)
        let interrupt = catchInterrupts()
        let indexer = SharedIndexer(
            location: target, options: options, analysers: analysers, progress: ProgressReporter.factory(quiet: quiet),
            stop: interrupt.stop)
        let roots = roots
        let dryRun = dryRun
        let labelled = try labels.map { try LabelledCollection.csv($0) }
        let summary = try Blocking.run {
            dryRun ? try await indexer.dryRun(roots: roots) : try await indexer.run(roots: roots)
        }
        // A finished run ends once the queue is empty, so every file of the library is committed when the labels
        // are set; an interrupted one labels what is committed, and the next run the rest.
        if let labelled, !dryRun {
            let labels = Self.labelsByPath(labelled)
            try Blocking.run { try await PostgresStore.with(url: url, migrate: false) { try await $0.setLabels(labels) } }
        }
        if json {
            var object = summaryObject(summary)
            object["database"] = target.description
            object["takenOver"] = summary.takenOver
            object["handedBack"] = summary.handedBack
            object["discarded"] = summary.discarded
            object["worker"] = indexer.worker
            print(Exporter.jsonString(object))
        } else {
            var lines = summaryText(summary).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            lines.removeLast()  // "index: <SQLite path>"
            if summary.takenOver > 0 || summary.discarded > 0 || summary.handedBack > 0 {
                lines.append("  \(summary.takenOver) taken over from stopped workers, \(summary.handedBack) handed back "
                    + "from ended ones on this machine, \(summary.discarded) discarded "
                    + "(claim taken over by another worker)")
            }
            lines.append("  index: \(target) (worker \(indexer.worker))")
            print(lines.joined(separator: "\n"))
        }
        if summary.interrupted { throw ExitStatus.interrupted }
        if !summary.failures.isEmpty { throw ExitStatus.partialFailure }
    }

    /// `--labels`' rows as the stores take them: the label of each path, the first row of a path winning.
    static func labelsByPath(_ rows: [LabelledTrack]) -> [String: String] {
        Dictionary(rows.map { ($0.path, $0.label) }, uniquingKeysWith: { a, _ in a })
    }

    /// Where this machine's shared runs on `target` keep their crash journals: the state folder
    /// ($XDG_STATE_HOME/retrieve, else ~/.local/state/retrieve), one name per server and database; nil (no
    /// journal, indexing goes on) when that folder cannot be made.
    static func crashJournal(for target: PostgresLocation) -> String? {
        let folder = XDGFolder.path("XDG_STATE_HOME", else: ".local/state") + "/retrieve"
        guard (try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)) != nil
        else { return nil }
        return folder + "/postgres-" + SHA256.hexDigest(Array(target.description.utf8)).prefix(16) + "-crashes"
    }

    func run() throws {
        _ = try location.loadModel()  // fail before touching the index if the model is missing or damaged
        if let url = location.postgresURL { return try runShared(url: url) }
        let store = try location.openStore(create: !dryRun)
        var options = Indexer.Options()
        options.workers = jobs ?? Cores.available
        options.batchSize = batchSize
        options.dryRun = dryRun
        options.prune = prune
        options.force = force
        options.retryFailures = retryFailures
        // Beside the index, as SQLite keeps its -wal: a file that crashes the analysis is named there.
        options.crashJournal = location.databasePath + "-crashes"
        let interrupt = catchInterrupts()
        let indexer = Indexer(
            store: store, options: options, progress: ProgressReporter.factory(quiet: quiet), stop: interrupt.stop,
            makeAnalyser: makeAnalyser)
        let labelled = try labels.map { try LabelledCollection.csv($0) }
        let summary = try indexer.run(roots: roots)
        if let labelled, !dryRun {
            try store.setLabels(Self.labelsByPath(labelled))
        }
        if json {
            print(Exporter.jsonString(summaryObject(summary)))
        } else {
            print(summaryText(summary))
        }
        if summary.interrupted { throw ExitStatus.interrupted }
        if !summary.failures.isEmpty && !dryRun { throw ExitStatus.partialFailure }
    }

    func summaryText(_ s: Indexer.Summary) -> String {
        let verb = s.dryRun ? "would be" : "were"
        var lines: [String] = []
        let rate = s.elapsed > 0 ? s.audioSeconds / s.elapsed : 0
        lines.append("\(s.scanned) audio files found under \(roots.joined(separator: ", "))"
            + (s.dryRun ? " (dry run: nothing written)" : ""))
        lines.append("  \(s.added) added, \(s.updated) updated, \(s.reembedded) re-embedded, \(s.moved) moved, "
            + "\(s.removed) removed, \(s.unchanged) unchanged, \(s.skippedFailures) skipped (failed before)")
        if !s.dryRun {
            lines.append("  \(Output.elapsed(s.audioSeconds)) of audio analysed in "
                + "\(Output.elapsed(s.elapsed)) "
                + String(format: "(%.0f× real time)", rate))
        }
        if !s.removedPaths.isEmpty {
            lines.append("  \(s.removedPaths.count) track(s) \(verb) removed, their files gone:")
            for path in s.removedPaths.prefix(5) { lines.append("    \(path.escapingControlCharacters)") }
            if s.removedPaths.count > 5 { lines.append("    … and \(s.removedPaths.count - 5) more") }
        }
        for refusal in s.pruneRefusals {
            lines.append("  without --force, the prune would be refused: \(refusal.gone.count) of the \(refusal.indexed) "
                + "tracks under \(refusal.path) are gone (an unmounted drive or a moved folder?)")
        }
        if !s.failures.isEmpty {
            lines.append("  \(s.failures.count) file(s) \(verb) not indexed:")
            // Decoder reasons already start with the path; scan problems do not. Name the file once either way.
            for f in s.failures.prefix(20) {
                lines.append("    " + (f.reason.hasPrefix(f.path + ": ") ? f.reason : "\(f.path): \(f.reason)")
                    .escapingControlCharacters)
            }
            if s.failures.count > 20 { lines.append("    … and \(s.failures.count - 20) more: `retrieve list --failures`") }
        }
        if s.interrupted { lines.append("  interrupted: run `retrieve index` again to continue") }
        lines.append("  index: \(location.databasePath)")
        return lines.joined(separator: "\n")
    }

    func summaryObject(_ s: Indexer.Summary) -> [String: Any] {
        [
            "scanned": s.scanned, "added": s.added, "updated": s.updated, "reembedded": s.reembedded,
            "moved": s.moved, "removed": s.removed, "removedPaths": s.removedPaths,
            "unchanged": s.unchanged, "skippedFailures": s.skippedFailures,
            "failures": s.failures.map { ["path": $0.path, "reason": $0.reason] },
            "audioSeconds": s.audioSeconds, "elapsedSeconds": s.elapsed, "interrupted": s.interrupted,
            "dryRun": s.dryRun, "database": location.databasePath,
        ]
    }
}
