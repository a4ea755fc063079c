import Analysis
import CCrashNote
import Foundation
import RetrieveCore
import VectorIndex

/// Files that crashed the analysis: the evidence a run leaves when a decoder (or any analysis step) kills the
/// process with a fault, so that the next run records the file as failed instead of crashing on it again.
///
/// Each indexing process keeps a journal, `JOURNAL-PID`, beside the index; while a worker thread analyses a file,
/// a fault on that thread writes the signal and the file's path to it before the process dies (`crash_note.c`).
/// A run that ends — finished, interrupted or failed with an error — removes its journal. A kill (SIGKILL, an
/// out-of-memory kill) writes nothing: only a fault on a thread that was analysing a file names that file.
public enum CrashNote {
    /// The journal of an ended process: its file and the process id it was named after.
    public struct Journal: Equatable, Sendable {
        public let path: String
        public let pid: Int32
    }

    /// One file that crashed an earlier run, with the signal that ended it.
    public struct Crash: Equatable, Sendable {
        public let path: String
        public let signal: Int32

        /// The failure's reason, one sentence naming the signal and the remedy.
        public var reason: String {
            "the analysis crashed on this file (signal \(signal), \(ChildExit.name(ofSignal: signal))) in an earlier "
                + "run; it is left out until it changes (or `retrieve index --retry-failures`)"
        }
    }

    /// Starts this process's journal for the index whose journals are named `prefix-PID`; false when it cannot be
    /// written (then crashes go unnoted, and indexing goes on).
    @discardableResult
    public static func start(prefix: String) -> Bool {
        crash_note_open(journal(prefix, pid: getpid())) == 0
    }

    /// Ends this process's journal: closed and removed (nothing crashed).
    public static func finish(prefix: String) {
        crash_note_close()
        try? FileManager.default.removeItem(atPath: journal(prefix, pid: getpid()))
    }

    /// Runs `body`, the analysis of `path`, with `path` noted as this thread's file.
    public static func analysing<T>(_ path: String, _ body: () throws -> T) rethrows -> T {
        try path.withCString { name in
            crash_note_begin(name)
            defer { crash_note_end() }
            if let trigger = testTrigger, path.hasSuffix(trigger) { crash_note_fault() }
            return try body()
        }
    }

    /// The crashes the journals of ended processes hold (a live process's journal is its own business), and
    /// those journals' paths, to remove once the crashes are recorded.
    public static func collect(prefix: String) -> (crashes: [Crash], journals: [Journal]) {
        let url = URL(fileURLWithPath: prefix)
        let folder = url.deletingLastPathComponent().path
        let stem = url.lastPathComponent + "-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return ([], []) }
        var crashes: [Crash] = []
        var journals: [Journal] = []
        for name in names.sorted() where name.hasPrefix(stem) {
            guard let pid = Int32(name.dropFirst(stem.count)), pid > 0, pid != getpid(),
                kill(pid, 0) != 0 && errno == ESRCH
            else { continue }
            let path = folder + "/" + name
            journals.append(Journal(path: path, pid: pid))
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            crashes += records(data)
        }
        return (crashes, journals)
    }

    /// The failures rows of the files that crashed ended runs (as `scan` found them, else as they are now; files
    /// gone since are left out), and the journals to remove once those rows are committed.
    static func failures(prefix: String, scan: CollectionScan) -> (failures: [FailureRecord], journals: [Journal]) {
        let (crashes, journals) = collect(prefix: prefix)
        let scanned = Dictionary(scan.files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        var failures: [FailureRecord] = []
        for crash in crashes where !failures.contains(where: { $0.path == crash.path }) {
            guard let file = scanned[crash.path] ?? CandidateFile.at(crash.path) else { continue }
            failures.append(
                FailureRecord(
                    path: file.path, kind: "crash", reason: crash.reason, size: file.size, modificationTime: file.mtime
                ))
        }
        return (failures, journals)
    }

    /// Adds the recorded crashes to the run's summary and says each once.
    static func report(_ failures: [FailureRecord], into summary: inout Indexer.Summary, progress: ProgressFactory) {
        let sink = progress(failures.count, "earlier crashes")
        for failure in failures {
            summary.failures.append((failure.path, failure.reason))
            sink.message("retrieve: \(failure.path): \(failure.reason)")
        }
        sink.finish()
    }

    /// The records of a journal: decimal signal, tab, path, NUL; a torn last record is left out.
    static func records(_ data: Data) -> [Crash] {
        var pieces = data.split(separator: 0, omittingEmptySubsequences: false)
        pieces.removeLast()  // after the last NUL: empty, or a record the dying process did not finish
        return pieces.compactMap { record in
            guard let tab = record.firstIndex(of: 9),
                let signal = Int32(String(decoding: record[record.startIndex..<tab], as: UTF8.self)),
                tab + 1 < record.endIndex
            else { return nil }
            return Crash(path: String(decoding: record[(tab + 1)...], as: UTF8.self), signal: signal)
        }
    }

    static func journal(_ prefix: String, pid: Int32) -> String { "\(prefix)-\(pid)" }

    /// Tests only: a file whose path ends with this (`RETRIEVE_TEST_CRASH_ON`) makes its analysis fault for real.
    private static let testTrigger = ProcessInfo.processInfo.environment["RETRIEVE_TEST_CRASH_ON"].flatMap {
        $0.isEmpty ? nil : $0
    }
}
