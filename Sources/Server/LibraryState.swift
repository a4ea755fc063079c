import Foundation
import Library
import Logging
import RetrieveCore
import Synchronization
import VectorIndex

/// One loaded state of the index: a query engine over one consistent snapshot of tracks and vectors, with the
/// look-up tables the routes need. Immutable once made; a reload makes a new one.
final class LibrarySnapshot: @unchecked Sendable {
    // @unchecked: QueryEngine is a class whose query methods (`similar`, `embedding`, `playlistSource`, …) read
    // state set in its initialiser, and whose two lazy caches (segments for `identify`, which tracks have them
    // for dedupe) sit behind locks.
    let engine: QueryEngine
    /// Counts the loads since the server started: 1 for the first, +1 for each reload.
    let generation: Int
    let loadedAt: Date
    /// Row of each indexed path.
    let rowOfPath: PathTable
    /// Index statistics read with the snapshot (tracks, failures, size on disk).
    let statistics: IndexStatistics?

    /// What the snapshot holds beside the engine is kept small (`PathTable`; search reads the records, see
    /// `TrackSearch`): at a million tracks the server must stay near the size of the vectors and the records.
    init(engine: QueryEngine, generation: Int, statistics: IndexStatistics?) {
        self.engine = engine
        self.generation = generation
        self.statistics = statistics
        loadedAt = Date()
        rowOfPath = PathTable(engine.tracks)
    }

    /// The row of an indexed track by id.
    func row(id: Int64) -> Int? { engine.row(of: TrackID(id)) }
}

/// The current `LibrarySnapshot`, swapped atomically when another process commits to the index.
///
/// Every request takes the current snapshot once and answers from it alone, so an answer never mixes two
/// states and never sees half of an indexing batch (each batch is one SQLite transaction, and a snapshot is
/// read in one read transaction). A reload that fails (the index is mid-way through a re-embedding with a
/// new model, or the database was briefly unreachable) keeps the previous snapshot and records why; the next
/// change tries again, and so does a later check without one (after 1, 2, 4 … 60 s), so that a change whose
/// reload failed is never lost.
final class LibraryState: Sendable {
    let source: any LibrarySource
    let model: ModelVersion
    private let current: Mutex<LibrarySnapshot>
    private let status = Mutex<ReloadStatus>(ReloadStatus())
    private let logger: Logger

    struct ReloadStatus: Sendable {
        var reloads = 0
        var lastError: String?
        var lastCheck: Date?
        /// Reloads failed in a row since the last success (0: the snapshot is the index's latest state seen).
        var failedInARow = 0
        /// When a failed reload is tried again without a new change.
        var retryAt: ContinuousClock.Instant?
    }

    /// The wait before trying a failed reload again: 1 s after the first failure, doubling up to a minute.
    static func retryDelay(afterFailures failures: Int) -> Duration {
        .seconds(min(60, 1 << min(max(failures - 1, 0), 6)))
    }

    /// Loads the first snapshot (on a thread of its own: a source may block); throws (with the Library's
    /// sentence) when the index cannot be served. `source` was made first, so that a commit that lands while
    /// the first snapshot loads is seen as a change.
    init(source: any LibrarySource, model: ModelVersion, logger: Logger) async throws {
        self.source = source
        self.model = model
        self.logger = logger
        current = Mutex(try await Self.load(source: source, model: model, generation: 1).get())
        Self.releaseFreedMemory()
    }

    /// The index as responses name it.
    var databaseName: String { source.name }

    /// Hands the heap's free pages back to the system. A load frees nearly as much as it keeps (GRDB's rows, a
    /// dictionary of tracks by id, the previous snapshot after a reload), and glibc keeps freed small blocks
    /// mapped: at a million tracks that was 300 MB more resident after a reload than after the first load.
    /// (glibc's `malloc_trim`, which Swift's Glibc module does not export; looked up once, absent elsewhere.)
    static func releaseFreedMemory() { mallocTrim?(0) }

    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim"
    ).map { unsafeBitCast($0, to: (@convention(c) (Int) -> Int32).self) }

    /// The snapshot to answer one request from.
    var snapshot: LibrarySnapshot { current.withLock { $0 } }

    var reloadStatus: ReloadStatus { status.withLock { $0 } }

    /// Loads a snapshot on a new thread, never on the server's.
    static func load(
        source: any LibrarySource, model: ModelVersion, generation: Int
    ) async -> Result<LibrarySnapshot, any Error> {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    returning: Result {
                        let (engine, statistics) = try source.load(model: model)
                        return LibrarySnapshot(engine: engine, generation: generation, statistics: statistics)
                    })
            }
        }
    }

    /// Checks for commits by other processes every `interval` and loads a new snapshot after each, until the
    /// task is cancelled. Loading runs on its own thread, never on the server's. After a reload the next check
    /// waits at least twice as long as the load took, so that while `retrieve index` commits batch after batch
    /// reloading takes at most a third of one core (a million tracks load in about 6 s).
    /// `onReload` runs after each reload, before the next check.
    func watch(every interval: Duration, onReload: @Sendable (LibrarySnapshot) async -> Void = { _ in }) async {
        var pause = interval
        while !Task.isCancelled {
            try? await Task.sleep(for: pause)
            if Task.isCancelled { return }
            let started = ContinuousClock.now
            let reloaded = await checkOnce()
            if reloaded { await onReload(snapshot) }
            pause = reloaded ? max(interval, (ContinuousClock.now - started) * 2) : interval
        }
    }

    /// One check: reloads when the index changed. Returns whether a new snapshot was installed.
    @discardableResult
    func checkOnce() async -> Bool {
        let changed: Bool
        do {
            changed = try await source.hasChanged()
        } catch {
            status.withLock {
                $0.lastError = String(describing: error); $0.lastCheck = Date()
            }
            logger.warning("index check failed: \(error)")
            return false
        }
        // A change whose reload failed is tried again when its wait is over, with or without a new change.
        let retry = status.withLock { status in
            status.lastCheck = Date()
            return status.retryAt.map { ContinuousClock.now >= $0 } ?? false
        }
        guard changed || retry else { return false }
        let next = snapshot.generation + 1
        let started = ContinuousClock.now
        let result = await Self.load(source: source, model: model, generation: next)
        switch result {
        case .success(let loaded):
            current.withLock { $0 = loaded }
            // The previous snapshot is freed here unless a request still holds it (then when that one ends).
            Thread.detachNewThread { Self.releaseFreedMemory() }
            status.withLock {
                $0.reloads += 1; $0.lastError = nil; $0.failedInARow = 0; $0.retryAt = nil
            }
            logger.info(
                "index reloaded",
                metadata: [
                    "generation": "\(loaded.generation)", "tracks": "\(loaded.engine.count)",
                    "durationMs": "\(Self.milliseconds(ContinuousClock.now - started))",
                ])
            return true
        case .failure(let error):
            let delay = status.withLock { status in
                status.lastError = String(describing: error)
                status.failedInARow += 1
                let delay = Self.retryDelay(afterFailures: status.failedInARow)
                status.retryAt = ContinuousClock.now + delay
                return delay
            }
            logger.warning(
                "index changed but could not be reloaded; still serving the previous state, trying again in \(delay): \(error)"
            )
            return false
        }
    }

    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.1f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }
}
