import Foundation
import LinearAlgebra
import Synchronization
public import PostgresIndex
public import RetrieveCore
import VectorIndex
public import Analysis

/// Brings a PostgreSQL index up to date with folders of audio while other processes, on this machine or others,
/// do the same to the same library: `Indexer`'s plan and batches, with the work shared through the database.
///
/// Each run walks its roots and plans against the database under the plan lock (moves, prune and scan problems
/// written there, the files to analyse queued in `index_work`; files queued already are left to the queue). Then
/// it claims batches of queued files with a lease, renews the lease while it analyses them, and commits each
/// batch's results with the release of its claims in one transaction, only for the files still claimed by this
/// worker. A killed worker's claims expire and are taken over; a run ends when the queue of its model is empty. A
/// broken connection is reported in one sentence and the step retried after reconnecting, with backoff.
public final class SharedIndexer: @unchecked Sendable {
    /// How a shared run behaves (`Indexer.Options` for what they have in common).
    public struct Options: Sendable {
        public var batchSize = 16
        /// Seconds a claim lasts unless renewed (renewed every third of it while the batch is analysed).
        public var lease = 120.0
        /// How long to keep reconnecting after the connection broke before giving up, in seconds.
        public var reconnectFor = 300.0
        public var prune = false
        public var force = false
        public var retryFailures = false
        /// Where this machine's runs on this index keep their crash journals (`CrashNote`); nil keeps none.
        public var crashJournal: String?
        public init() {}
    }

    let location: PostgresLocation
    let options: Options
    /// One per analysis thread, each used by one thread at a time (the reason for `@unchecked Sendable`).
    private let analysers: [AnalyserBox]
    private let progress: ProgressFactory
    private let stop: StopRequest
    /// Seconds without an answer after which a claim, count or commit is taken for a broken connection.
    var stepTimeout: Double { max(15, options.lease) }
    /// This worker's name in `index_work.worker`: host, process and a random tag.
    public let worker: String
    /// The walk; replaceable in tests.
    var scanner = CollectionScanner()

    /// - Parameters:
    ///   - location: the PostgreSQL database of the index.
    ///   - options: batch size, lease, prune.
    ///   - analysers: one per analysis thread, all of one model; each is used by one thread at a time.
    ///   - progress: the progress sink of the indexing stage (and messages: failures, reconnects, take-overs).
    ///   - stop: polled between files; a raised stop commits what was analysed and hands the rest back.
    public init(
        location: PostgresLocation, options: Options, analysers: [TrackAnalysing],
        progress: @escaping ProgressFactory = SilentProgress.factory, stop: StopRequest = StopRequest()
    ) {
        precondition(!analysers.isEmpty, "a shared index run needs at least one analyser")
        self.location = location
        self.options = options
        self.analysers = analysers.map(AnalyserBox.init)
        self.progress = progress
        self.stop = stop
        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        worker = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(tag)"
    }

    /// Indexes `roots` (folders or files) together with the other workers and returns what this one did.
    public func run(roots: [String]) async throws -> Indexer.Summary {
        let started = Date()
        var summary = Indexer.Summary()
        // One core per analysis thread, even with one: shared runs are meant to run beside others on the same cores,
        // where OpenBLAS threads in each would oversubscribe them (measured: 2 workers × 1 job took 11.1–11.7 s with
        // BLAS threads, 9.2 s without, on 2 cores).
        BLAS.setThreadCount(1)
        let probe = analysers[0].analyser
        let scan = scanner.scan(roots)
        if let root = Indexer.unreadableRoots(scan).first {
            throw LibraryError.unreadableRoot(path: root.path, reason: root.reason)
        }
        var connection = Connection(location: location, reconnectFor: options.reconnectFor)
        try await connection.open()
        do {
            summary = try await run(scan: scan, probe: probe, connection: &connection, started: started)
            await connection.store?.close()
            return summary
        } catch {
            await connection.store?.close()
            throw error
        }
    }

    /// What `run` would do, counted from the plan and written nowhere: the plan of `roots` against one committed
    /// state of the index (read without the plan lock, in one read-only snapshot; files another worker has queued
    /// count as theirs), with the moves, re-analyses and (with `prune`) removals it would make, as `Indexer`'s dry
    /// run counts them. The database must hold an index already; it is neither created nor upgraded.
    public func dryRun(roots: [String]) async throws -> Indexer.Summary {
        let started = Date()
        var summary = Indexer.Summary()
        summary.dryRun = true
        let probe = analysers[0].analyser
        let scan = scanner.scan(roots)
        if let root = Indexer.unreadableRoots(scan).first {
            throw LibraryError.unreadableRoot(path: root.path, reason: root.reason)
        }
        let store = try await PostgresStore.open(location, migrate: false)
        let snapshot: PlanningSnapshot
        do {
            snapshot = try await store.planningSnapshot(modelDigest: probe.modelVersion.digest)
            await store.close()
        } catch {
            await store.close()
            throw error
        }
        summary.scanned = scan.files.count
        for problem in scan.problems { summary.failures.append((problem.path, problem.reason)) }
        let plan = try Indexer.plan(
            scan.files, model: probe.modelVersion, segments: probe.keepsSegments ? probe.segmentVersion : nil,
            timbre: probe.makesTimbre,
            source: snapshot, retryFailures: options.retryFailures)
        summary.unchanged = plan.unchanged
        summary.skippedFailures = plan.skipped
        if options.prune {
            _ = try Indexer.prunePlan(
                scan: scan, keeping: plan.actions, tracks: snapshot.allTracks(),
                failures: snapshot.failures().map(\.path), force: options.force, dryRun: true, summary: &summary)
        }
        Indexer.count(plan.actions, into: &summary)
        summary.elapsed = Date().timeIntervalSince(started)
        return summary
    }

    private func run(
        scan: CollectionScan, probe: TrackAnalysing, connection: inout Connection, started: Date
    ) async throws -> Indexer.Summary {
        let model = probe.modelVersion
        let segments = probe.keepsSegments ? probe.segmentVersion : nil
        let timbre = probe.makesTimbre
        let configuration = probe.modelConfigurationJSON
        let modelID = try await connection.retrying("registering the model", timeout: stepTimeout) {
            try await $0.register(model: model, configurationJSON: configuration)
        }
        let record = ModelRecord(id: modelID, version: model, configurationJSON: configuration, createdAt: 0)
        let options = options
        // Files that crashed this machine's earlier runs: failures before planning, so no worker queues them again.
        let crashed = options.crashJournal.map { CrashNote.failures(prefix: $0, scan: scan) }
        if let crashed, !crashed.failures.isEmpty {
            let failures = crashed.failures
            try await connection.retrying("recording files that crashed the analysis", timeout: stepTimeout) {
                try await $0.recordCrashes(failures)
            }
        }
        // The processes that left journals have ended (`CrashNote.collect` checks): their claims need not wait for
        // the lease to expire.
        let host = ProcessInfo.processInfo.hostName
        var handedBack = 0
        for journal in crashed?.journals ?? [] {
            handedBack += try await connection.retrying(
                "handing back the claims of an ended worker", timeout: stepTimeout
            ) { try await $0.releaseClaims(ofWorkersStartingWith: "\(host):\(journal.pid):") }
            try? FileManager.default.removeItem(atPath: journal.path)
        }
        var planned = try await connection.retrying("planning the files to index") {
            try await $0.planAndQueue(model: modelID) { snapshot in
                try Self.plan(
                    scan: scan, model: model, segments: segments, timbre: timbre, snapshot: snapshot, options: options)
            }
        }
        planned.scanned = scan.files.count
        var summary = planned
        if let crashed, !crashed.failures.isEmpty {
            CrashNote.report(crashed.failures, into: &summary, progress: progress)
        }
        if handedBack > 0 {
            summary.handedBack = handedBack
            let note = progress(handedBack, "claims handed back")
            note.message(
                "retrieve: handed back \(handedBack) claim(s) of worker(s) on this machine that ended while analysing "
                    + "(crashed or killed), without waiting for their lease")
            note.finish()
        }
        if let prefix = options.crashJournal { CrashNote.start(prefix: prefix) }
        defer { if let prefix = options.crashJournal { CrashNote.finish(prefix: prefix) } }
        let total = try await connection.retrying("counting the queued files", timeout: stepTimeout) {
            try await $0.queueCounts(model: modelID)
        }
        let sink = progress(total.queued, "indexing")
        defer { sink.finish() }
        connection.report = { sink.message($0) }
        let worker = worker
        while !stop.isRaised {
            let claims = try await connection.retrying("claiming files to index", timeout: stepTimeout) {
                try await $0.claim(model: modelID, worker: worker, limit: options.batchSize, lease: options.lease)
            }
            if claims.isEmpty {
                // Nothing free: done when the queue is empty, else wait for the other workers' batches to commit
                // or their leases to expire (a killed worker's files are then taken over).
                let left = try await connection.retrying("counting the queued files", timeout: stepTimeout) {
                    try await $0.queueCounts(model: modelID)
                }
                if left.queued == 0 { break }
                try await Task.sleep(for: .seconds(min(1, options.lease / 4)))
                continue
            }
            let takenOver = claims.filter { $0.previousWorker != nil && $0.previousWorker != worker }
            if let first = takenOver.first {
                summary.takenOver += takenOver.count
                sink.message(
                    "retrieve: took over \(takenOver.count) file(s) whose claim by \(first.previousWorker!) expired "
                        + "(a stopped or killed worker), starting with \(first.file.path)")
            }
            try await work(
                claims, model: record, connection: &connection, sink: sink, summary: &summary)
        }
        if stop.isRaised {
            _ = try? await connection.store?.release(model: modelID, worker: worker)
            summary.interrupted = true
        }
        summary.elapsed = Date().timeIntervalSince(started)
        return summary
    }

    /// `Indexer`'s plan of `scan` against `snapshot`, turned into the work to write; the summary's counts beside.
    static func plan(
        scan: CollectionScan, model: ModelVersion, segments: Int?, timbre: Bool = false, snapshot: PlanningSnapshot,
        options: Options
    ) throws -> (PlannedWork, Indexer.Summary) {
        var summary = Indexer.Summary()
        let plan = try Indexer.plan(
            scan.files, model: model, segments: segments, timbre: timbre, source: snapshot,
            retryFailures: options.retryFailures)
        summary.unchanged = plan.unchanged
        summary.skippedFailures = plan.skipped
        for problem in scan.problems { summary.failures.append((problem.path, problem.reason)) }
        var work = PlannedWork()
        if options.prune {
            let prune = try Indexer.prunePlan(
                scan: scan, keeping: plan.actions, tracks: snapshot.allTracks(),
                failures: snapshot.failures().map(\.path), force: options.force, dryRun: false, summary: &summary)
            work.pruneTracks = prune.tracks
            work.pruneFailures = prune.failurePaths
        }
        work.scanFailures = scan.problems.map {
            FailureRecord(path: $0.path, kind: "scan", reason: $0.reason, size: 0, modificationTime: 0)
        }
        for action in plan.actions {
            switch action {
            case .move(let file, let existing):
                work.moves.append((existing.id!, file.path, file.size, file.mtime))
                summary.moved += 1
            case .add(let file, let hash):
                work.queue.append(
                    QueuedFile(
                        path: file.path, size: file.size, modificationTime: file.mtime, reason: "add",
                        contentHash: hash))
            case .analyse(let file, let existing, let reason):
                work.queue.append(
                    QueuedFile(
                        path: file.path, size: file.size, modificationTime: file.mtime,
                        reason: "\(reason)", trackID: existing.id))
            }
        }
        return (work, summary)
    }

    /// The plan's action for a claimed file, as the plan made it (a re-analysed track that has gone since is added).
    static func action(for claim: ClaimedFile) -> Indexer.Action {
        let f = claim.file
        let file = CandidateFile(path: f.path, size: f.size, mtime: f.modificationTime)
        let reasons: [String: Indexer.AnalyseReason] = [
            "changed": .changed, "otherModel": .otherModel, "noSegments": .noSegments,
        ]
        if let existing = claim.existing, let reason = reasons[f.reason] {
            return .analyse(file, existing: existing, reason: reason)
        }
        return .add(file, contentHash: f.contentHash)
    }

    /// Analyses one claimed batch (renewing its lease meanwhile) and commits it.
    private func work(
        _ claims: [ClaimedFile], model: ModelRecord, connection: inout Connection, sink: any ProgressSink,
        summary: inout Indexer.Summary
    ) async throws {
        let paths = claims.map(\.file.path)
        let renewal = Task { [store = connection.store, worker, lease = options.lease] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(lease / 3))
                if Task.isCancelled { break }
                _ = try? await store?.renew(model: model.id, worker: worker, paths: paths, lease: lease)
            }
        }
        let actions = claims.map(Self.action(for:))
        let outcomes = await analyse(actions.map(\.file), sink: sink)
        renewal.cancel()
        var batch = IndexBatch()
        for (action, outcome) in zip(actions, outcomes) {
            switch outcome {
            case .success(let analysis)?:
                batch.items.append(Indexer.item(for: action, analysis: analysis, modelID: model.id))
            case .failure(let failure)?:
                batch.failures.append(Indexer.failureRecord(action.file, failure))
                sink.message(Indexer.message(action.file, failure))
            case nil: break  // stopped before this file: its claim is handed back
            }
        }
        let worker = worker
        let count = batch.items.count + batch.failures.count
        let finished = batch
        let result = try await connection.retrying("committing a batch of \(count) file(s)", timeout: stepTimeout) {
            try await $0.commit(finished, model: model, worker: worker)
        }
        let lost = Set(result.lost)
        if let first = result.lost.first {
            sink.message(
                "retrieve: discarded the analysis of \(lost.count) file(s), starting with \(first), "
                    + "because their claim is no longer this worker's (its lease expired and another worker took "
                    + "them over, or an earlier attempt of this commit went through before the connection broke)")
            summary.discarded += lost.count
        }
        // Counted once the commit says which files it wrote.
        for (action, outcome) in zip(actions, outcomes) where !lost.contains(action.file.path) {
            switch outcome {
            case .success(let analysis)?:
                summary.audioSeconds += analysis.info.duration
                Indexer.count([action], into: &summary)
            case .failure(let failure)?: summary.failures.append((action.file.path, failure.reason))
            case nil: break
            }
        }
    }

    /// Analyses `files` on the analysers' threads; `nil` for the files not begun before a stop.
    private func analyse(
        _ files: [CandidateFile], sink: any ProgressSink
    ) async -> [Result<TrackAnalysis, AnalysisFailure>?] {
        await withCheckedContinuation { continuation in
            let results = Results(count: files.count)
            let queue = WorkDispenser(count: files.count)
            let group = DispatchGroup()
            for box in analysers.prefix(files.count) {
                DispatchQueue.global().async(group: group) { [stop] in
                    while !stop.isRaised, let index = queue.next() {
                        let file = files[index]
                        let outcome: Result<TrackAnalysis, AnalysisFailure>
                        do {
                            outcome = .success(
                                try CrashNote.analysing(file.path) { try box.analyser.analyse(path: file.path) })
                        } catch {
                            outcome = .failure(AnalysisFailure(error))
                        }
                        results.set(index, outcome)
                        sink.advance(by: 1, detail: (file.path as NSString).lastPathComponent)
                    }
                }
            }
            group.notify(queue: .global()) { continuation.resume(returning: results.values) }
        }
    }

    /// The connection, reopened after it breaks.
    struct Connection {
        let location: PostgresLocation
        let reconnectFor: Double
        var store: PostgresStore?
        /// Where the sentence about a broken connection goes (standard error until the progress sink exists).
        var report: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

        init(location: PostgresLocation, reconnectFor: Double) {
            self.location = location
            self.reconnectFor = reconnectFor
        }

        /// `body(store)`, or after `timeout` seconds without its answer a broken-connection error (the connection
        /// is closed and the step abandoned: a query on a connection that died under it may never be answered).
        static func answer<T: Sendable>(
            within timeout: Double?, location: PostgresLocation, _ store: PostgresStore,
            _ body: @escaping @Sendable (PostgresStore) async throws -> T
        ) async throws -> T {
            guard let timeout else { return try await body(store) }
            let once = Once()
            return try await withCheckedThrowingContinuation { continuation in
                let work = Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await body(store)) } catch { result = .failure(error) }
                    if once.claim() { continuation.resume(with: result) }
                }
                Task {
                    try? await Task.sleep(for: .seconds(timeout))
                    guard once.claim() else { return }
                    continuation.resume(
                        throwing: PostgresIndexError.unreachable(
                            url: location.description, cause: StepTimeout(seconds: timeout)))
                    work.cancel()
                    await store.close()
                }
            }
        }

        static func why(_ error: PostgresIndexError) -> String {
            switch error {
            case .unreachable(_, let cause): return PostgresIndexError.summary(of: cause)
            case .query(_, _, let detail, _): return detail
            default: return PostgresIndexError.summary(of: error)
            }
        }

        mutating func open() async throws {
            store = try await PostgresStore.open(location, migrate: true)
        }

        /// Runs `body`; when the connection breaks, says so once, reconnects with backoff (0.5 s doubling to 10 s,
        /// for up to `reconnectFor` seconds) and runs `body` again. `body` must be one transaction (or one
        /// statement) so that a retry neither loses nor repeats a write.
        ///
        /// A connection the server closed while idle (a terminated backend) is replaced before `body` runs, since a
        /// query on it may never be answered; with `timeout`, a step that has had no answer for that long closes
        /// the connection, which fails it as a broken connection.
        mutating func retrying<T: Sendable>(
            _ action: String, timeout: Double? = nil, _ body: @escaping @Sendable (PostgresStore) async throws -> T
        ) async throws -> T {
            var delay = 0.5
            var since: Date?
            while true {
                do {
                    if let closed = store, closed.isClosed {
                        report(
                            "retrieve: lost the connection to \(location) before \(action) (the server or the network "
                                + "closed it); reconnecting with backoff")
                        store = nil
                        Task { await closed.close() }
                    }
                    if store == nil { try await open() }
                    return try await Self.answer(within: timeout, location: location, store!, body)
                } catch let error as PostgresIndexError where error.isConnectionLoss {} catch let error
                    as PostgresIndexError where error.isConnectionLoss
                {
                    let start = since ?? Date()
                    since = start
                    guard Date().timeIntervalSince(start) < reconnectFor else { throw error }
                    if let broken = store {
                        report(
                            "retrieve: lost the connection to \(location) while \(action) "
                                + "(\(Self.why(error))); reconnecting with backoff and "
                                + "retrying that step, of which nothing was written")
                        store = nil
                        Task { await broken.close() }
                    }
                    try await Task.sleep(for: .seconds(delay))
                    delay = min(delay * 2, 10)
                }
            }
        }
    }
}

/// True for the first caller of `claim()` only: who resumes a continuation raced by two tasks.
private final class Once: Sendable {
    private let done = Atomic<Bool>(false)
    func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}

/// A step of a shared run that had no answer in time.
struct StepTimeout: Error, CustomStringConvertible {
    let seconds: Double
    var description: String { "no answer for \(Int(seconds)) s" }
}

/// Each file's outcome, set by the analysis threads.
private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<TrackAnalysis, AnalysisFailure>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ outcome: Result<TrackAnalysis, AnalysisFailure>) {
        lock.withLock { slots[index] = outcome }
    }
    var values: [Result<TrackAnalysis, AnalysisFailure>?] { lock.withLock { slots } }
}
