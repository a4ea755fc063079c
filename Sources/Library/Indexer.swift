import Foundation
import RetrieveCore
public import VectorIndex
import LinearAlgebra
public import Analysis

/// Brings an index up to date with folders of audio: adds new files, re-analyses changed ones, recognises moved
/// ones, re-embeds tracks made with another model, records failures, and optionally prunes vanished files.
///
/// Work is committed in batches, each one SQLite transaction, so a kill at any moment loses at most the batch in
/// flight and the next run resumes where this one stopped. Decoding, features and inference run on `workers`
/// threads; each worker owns its own analyser (see `TrackAnalysing`).
public final class Indexer {
    /// How an index run behaves.
    public struct Options: Sendable {
        /// Files per transaction: smaller loses less to a kill, larger commits less often.
        public var batchSize = 16
        /// Analysis threads. Each runs decode + features + inference for one file at a time.
        public var workers = max(1, Cores.available)
        /// Plan only: say what would be done, analyse and write nothing.
        public var dryRun = false
        /// Remove tracks whose files are positively gone from under the indexed roots (see `PrunePlan`).
        public var prune = false
        /// Prune even a root that would lose more than `PrunePlan.maximumShare` of its tracks.
        public var force = false
        /// Re-analyse files that failed before even when they have not changed since.
        public var retryFailures = false
        /// Where this index's runs keep their crash journals (`CrashNote`: `PREFIX-PID`); nil keeps none.
        public var crashJournal: String?
        public init() {}
    }

    /// What one run did.
    public struct Summary: Sendable {
        public var scanned = 0
        public var added = 0
        public var updated = 0
        public var reembedded = 0
        public var moved = 0
        public var unchanged = 0
        public var removed = 0
        /// Paths of the tracks pruned (or, in a dry run, that would be), sorted.
        public var removedPaths: [String] = []
        /// Roots whose prune needs `--force`; in a dry run, said instead of refused.
        public var pruneRefusals: [PrunePlan.Root] = []
        public var skippedFailures = 0
        public var failures: [(path: String, reason: String)] = []
        public var audioSeconds = 0.0
        public var elapsed = 0.0
        public var interrupted = false
        public var dryRun = false
        /// Shared (PostgreSQL) runs: files whose expired claim this worker took over from another one.
        public var takenOver = 0
        /// Shared runs: claims of ended workers on this machine handed back to the queue at the start.
        public var handedBack = 0
        /// Shared runs: analysed files not written because their claim was no longer this worker's.
        public var discarded = 0
        public init() {}
    }

    /// What the plan decided for one file.
    enum Action: Equatable, Sendable {
        /// Not in the index: analyse and insert.
        case add(CandidateFile, contentHash: String?)
        /// Changed since it was indexed, or not analysed by this model (another model, an older analysis, no timbre
        /// profile where the model makes one): analyse again, keep its id.
        case analyse(CandidateFile, existing: TrackRecord, reason: AnalyseReason)
        /// Same bytes as an indexed track whose file is gone: update the path, keep the embedding.
        case move(CandidateFile, existing: TrackRecord)
    }

    enum AnalyseReason: Equatable { case changed, otherModel, noSegments }

    let store: IndexStore
    let options: Options
    private let makeAnalyser: () throws -> TrackAnalysing
    private let progress: ProgressFactory
    private let stop: StopRequest
    /// The walk; replaceable in tests (a folder failing part-way through its listing).
    var scanner = CollectionScanner()

    /// - Parameters:
    ///   - store: the index to bring up to date.
    ///   - options: workers, batch size, prune, dry run.
    ///   - progress: makes the progress sink of each stage.
    ///   - stop: polled between files; a raised stop ends the run after the batch in flight.
    ///   - makeAnalyser: called once per worker; each analyser is used by one thread only.
    public init(
        store: IndexStore, options: Options = Options(), progress: @escaping ProgressFactory = SilentProgress.factory,
        stop: StopRequest = StopRequest(), makeAnalyser: @escaping () throws -> TrackAnalysing
    ) {
        self.store = store
        self.options = options
        self.makeAnalyser = makeAnalyser
        self.progress = progress
        self.stop = stop
    }

    /// Indexes `roots` (folders or files) and returns what was done.
    public func run(roots: [String]) throws -> Summary {
        let started = Date()
        var summary = Summary()
        summary.dryRun = options.dryRun
        // Each worker decodes and encodes one file at a time, on its own core; OpenBLAS threads on top of the
        // workers would oversubscribe the cores, so BLAS runs single-threaded while workers run in parallel.
        if options.workers > 1 { BLAS.setThreadCount(1) }
        let probe = try makeAnalyser()
        let model = probe.modelVersion
        let scan = scanner.scan(roots)
        // A root that cannot be read is an error, never an empty folder: nothing is indexed or pruned.
        if let root = Self.unreadableRoots(scan).first {
            throw LibraryError.unreadableRoot(path: root.path, reason: root.reason)
        }
        let modelID =
            options.dryRun ? nil : try store.register(model: model, configurationJSON: probe.modelConfigurationJSON)
        summary.scanned = scan.files.count
        for problem in scan.problems { summary.failures.append((problem.path, problem.reason)) }
        if !options.dryRun, let prefix = options.crashJournal {
            try recordCrashes(prefix: prefix, scan: scan, summary: &summary)
        }

        let (actions, unchanged, skipped) = try plan(
            scan.files, model: model, segments: probe.keepsSegments ? probe.segmentVersion : nil,
            timbre: probe.makesTimbre)
        summary.unchanged = unchanged
        summary.skippedFailures = skipped

        if options.prune { try prune(scan: scan, keeping: actions, summary: &summary) }

        if options.dryRun {
            Self.count(actions, into: &summary)
            summary.elapsed = Date().timeIntervalSince(started)
            return summary
        }

        // Problems met while walking the folders (symlink loops, unreadable folders, FIFOs, names that are not
        // UTF-8) are recorded like failed files, so `retrieve list --failures` shows them too.
        if !scan.problems.isEmpty {
            _ = try store.commit(
                IndexBatch(
                    failures: scan.problems.map {
                        FailureRecord(path: $0.path, kind: "scan", reason: $0.reason, size: 0, modificationTime: 0)
                    }))
        }

        // Moves need no analysis: commit them first, in one transaction.
        let moves = actions.compactMap { if case .move(let file, let existing) = $0 { (file, existing) } else { nil } }
        if !moves.isEmpty {
            for (file, existing) in moves {
                _ = try store.moveTrack(id: existing.id!, to: file.path, size: file.size, modificationTime: file.mtime)
            }
            summary.moved = moves.count
        }
        let work = actions.filter { if case .move = $0 { false } else { true } }
        try analyse(work, modelID: modelID!, probe: probe, summary: &summary)
        summary.interrupted = stop.isRaised
        summary.elapsed = Date().timeIntervalSince(started)
        return summary
    }

    /// Records as failures the files that crashed earlier runs (their journals, `CrashNote`), so that planning
    /// leaves them out until they change, and removes those journals once the failures are committed.
    private func recordCrashes(prefix: String, scan: CollectionScan, summary: inout Summary) throws {
        let (failures, journals) = CrashNote.failures(prefix: prefix, scan: scan)
        if !failures.isEmpty {
            _ = try store.commit(IndexBatch(failures: failures))
            CrashNote.report(failures, into: &summary, progress: progress)
        }
        for journal in journals { try? FileManager.default.removeItem(atPath: journal.path) }
    }

    /// The roots of `scan` that could not be read: missing, not permitted, or a folder whose own
    /// listing failed (permissions, an I/O error part-way through).
    static func unreadableRoots(_ scan: CollectionScan) -> [(path: String, reason: String)] {
        scan.roots.compactMap { root in
            switch root.kind {
            case .unreadable(let reason): return (root.path, reason)
            case .folder where scan.listing(ofFolderAt: root.path) == nil:
                return (root.path, scan.unlistedFolders.first { $0.path == root.path }?.reason ?? "not listed")
            case .folder, .file: return nil
            }
        }
    }

    /// Decides for each file whether to add, re-analyse, move or skip it. With `segments` (the kind of segment
    /// embeddings the analyser keeps, `TrackAnalysing.segmentVersion`; nil: none kept), a track embedded by this
    /// model but without stored segment embeddings of that kind is re-analysed too (reason `.noSegments`: none, or
    /// of a front end this build no longer makes); with `timbre`
    /// (the model makes timbre profiles), one whose embedding has no profile is not analysed by this model yet
    /// (reason `.otherModel`).
    func plan(
        _ files: [CandidateFile], model: ModelVersion, segments: Int? = nil, timbre: Bool = false
    ) throws
        -> (actions: [Action], unchanged: Int, skipped: Int)
    {
        let plan = try Self.plan(
            files, model: model, segments: segments, timbre: timbre, source: store,
            retryFailures: options.retryFailures)
        return (plan.actions, plan.unchanged, plan.skipped)
    }

    /// `plan(_:model:segments:timbre:)` against any index (`IndexPlanningSource`); files the source says are
    /// queued already (by another worker's plan) are skipped and counted as `queued`.
    static func plan(
        _ files: [CandidateFile], model: ModelVersion, segments: Int?, timbre: Bool = false,
        source store: some IndexPlanningSource, retryFailures: Bool
    ) throws
        -> (actions: [Action], unchanged: Int, skipped: Int, queued: Int)
    {
        var actions: [Action] = []
        var unchanged = 0, skipped = 0, queued = 0
        // Tracks without this model's embedding made by this build's analysis (decoder, resampler, front end);
        // with the model not yet registered, that is every track.
        let registered = try store.embeddingModels().first { $0.model.version.digest == model.digest }
        let needing = try registered.map {
            Set(
                try store.tracksNeedingEmbedding(
                    model: $0.model.id, analysisVersion: FeatureConfiguration.analysisVersion
                )
                .compactMap(\.id))
        }
        let allIDs = registered == nil ? Set(try store.allTracks().compactMap(\.id)) : []
        let withTimbre = try timbre ? registered.map { try store.tracksWithTimbre(model: $0.model.id) } : nil
        let embeddedByModel = { (id: TrackID) in
            registered != nil && !(needing ?? []).contains(id) && !allIDs.contains(id)
                && (withTimbre?.contains(id) ?? !timbre)
        }
        let withSegments =
            try segments.flatMap { version in
                try registered.map { try store.tracksWithSegments(model: $0.model.id, version: version) }
            } ?? []
        let failed =
            retryFailures
            ? [:] : Dictionary(try store.failures().map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        var claimedForMove = Set<TrackID>()
        for file in files {
            if store.isQueued(file.path) {
                queued += 1
                continue
            }
            if let existing = try store.track(path: file.path) {
                if existing.size != file.size || abs(existing.modificationTime - file.mtime) > 1e-3 {
                    actions.append(.analyse(file, existing: existing, reason: .changed))
                } else if let id = existing.id, !embeddedByModel(id) {
                    actions.append(.analyse(file, existing: existing, reason: .otherModel))
                } else if segments != nil, let id = existing.id, !withSegments.contains(id) {
                    actions.append(.analyse(file, existing: existing, reason: .noSegments))
                } else {
                    unchanged += 1
                }
                continue
            }
            if let failure = failed[file.path], failure.size == file.size,
                abs(failure.modificationTime - file.mtime) <= 1e-3
            {
                skipped += 1
                continue
            }
            let hash = (try? ContentHash.ofFile(atPath: file.path))
            if let hash,
                let moved = try store.tracks(withContentHash: hash).first(where: {
                    $0.size == file.size && !claimedForMove.contains($0.id!)
                        && PrunePlan.fileIsAbsent($0.path)  // not merely unreadable: a move needs its old file gone
                })
            {
                claimedForMove.insert(moved.id!)
                if embeddedByModel(moved.id!) {
                    actions.append(.move(file, existing: moved))
                } else {
                    actions.append(.analyse(file, existing: moved, reason: .otherModel))
                }
                continue
            }
            actions.append(.add(file, contentHash: hash))
        }
        return (actions, unchanged, skipped, queued)
    }

    /// Runs the analyses on worker threads and commits their results in batches.
    private func analyse(_ work: [Action], modelID: Int64, probe: TrackAnalysing, summary: inout Summary) throws {
        guard !work.isEmpty else { return }
        let progress = progress(work.count, "indexing")
        defer { progress.finish() }
        let queue = WorkDispenser(count: work.count)
        let workers = min(options.workers, work.count)
        if let prefix = options.crashJournal { CrashNote.start(prefix: prefix) }
        defer { if let prefix = options.crashJournal { CrashNote.finish(prefix: prefix) } }
        var analysers: [TrackAnalysing] = [probe]
        for _ in 1..<workers { analysers.append(try makeAnalyser()) }
        let results = ResultBuffer()
        let group = DispatchGroup()
        for analyser in analysers {
            let box = AnalyserBox(analyser)
            DispatchQueue.global().async(group: group) { [stop] in
                while !stop.isRaised, let index = queue.next() {
                    let file = work[index].file
                    let outcome: Result<TrackAnalysis, AnalysisFailure>
                    do {
                        outcome = .success(
                            try CrashNote.analysing(file.path) { try box.analyser.analyse(path: file.path) })
                    } catch {
                        outcome = .failure(AnalysisFailure(error))
                    }
                    results.append(index: index, outcome: outcome)
                }
            }
        }
        var committed = 0
        var batch = IndexBatch()
        var lastCommit = Date()
        while committed < work.count {
            guard let (index, outcome) = results.next(timeout: 0.5) else {
                if group.wait(timeout: .now()) == .success && results.isEmpty { break }  // stopped early
                continue
            }
            committed += 1
            let action = work[index]
            let file = action.file
            switch outcome {
            case .success(let analysis):
                batch.items.append(Self.item(for: action, analysis: analysis, modelID: modelID))
                summary.audioSeconds += analysis.info.duration
                Self.count([action], into: &summary)
            case .failure(let failure):
                batch.failures.append(Self.failureRecord(file, failure))
                summary.failures.append((file.path, failure.reason))
                progress.message(Self.message(file, failure))
            }
            progress.advance(detail: (file.path as NSString).lastPathComponent)
            if batch.items.count + batch.failures.count >= options.batchSize || Date().timeIntervalSince(lastCommit) > 5
            {
                _ = try store.commit(batch)
                batch = IndexBatch()
                lastCommit = Date()
            }
        }
        group.wait()
        if !batch.isEmpty { _ = try store.commit(batch) }
    }

    /// The batch item of one analysed file: its track row and this model's embedding (with segments if kept).
    static func item(for action: Action, analysis: TrackAnalysis, modelID: Int64) -> IndexBatch.Item {
        IndexBatch.Item(
            track: record(for: action, analysis: analysis),
            embeddings: [
                IndexBatch.ModelEmbedding(
                    modelID: modelID, embedding: analysis.embedding, segmentCount: analysis.segmentCount,
                    segments: analysis.segments, segmentVersion: analysis.segmentVersion,
                    timbre: analysis.timbre?.packed)
            ])
    }

    /// The failures row of a file that could not be analysed.
    static func failureRecord(_ file: CandidateFile, _ failure: AnalysisFailure) -> FailureRecord {
        FailureRecord(
            path: file.path, kind: failure.kind, reason: failure.reason, size: file.size, modificationTime: file.mtime)
    }

    /// The line shown for a file that could not be analysed, naming the file once.
    static func message(_ file: CandidateFile, _ failure: AnalysisFailure) -> String {
        "retrieve: " + (failure.reason.hasPrefix(file.path + ": ") ? failure.reason : "\(file.path): \(failure.reason)")
    }

    private static func record(for action: Action, analysis: TrackAnalysis) -> TrackRecord {
        let file = action.file
        var record: TrackRecord
        switch action {
        case .add(_, let hash):
            record = TrackRecord(
                path: file.path, size: file.size, modificationTime: file.mtime,
                contentHash: hash ?? (try? ContentHash.ofFile(atPath: file.path)) ?? "",
                duration: 0, sampleRate: 0, channels: 0, format: "")
        case .analyse(_, let existing, let reason):
            record = existing
            record.path = file.path
            record.size = file.size
            record.modificationTime = file.mtime
            if reason == .changed || existing.path != file.path {
                record.contentHash = (try? ContentHash.ofFile(atPath: file.path)) ?? existing.contentHash
            }
        case .move(_, let existing):
            record = existing
        }
        record.duration = analysis.info.duration
        record.sampleRate = analysis.info.sampleRate
        record.channels = analysis.info.channels
        record.format = analysis.info.format
        record.title = analysis.info.title
        record.artist = analysis.info.artist
        record.album = analysis.info.album
        record.genre = analysis.info.genre
        return record
    }
}

extension Indexer.Action {
    var file: CandidateFile {
        switch self {
        case .add(let f, _), .analyse(let f, _, _), .move(let f, _): f
        }
    }
}

/// Results from the workers, consumed by the committing thread in arrival order.
private final class ResultBuffer: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [(Int, Result<TrackAnalysis, AnalysisFailure>)] = []
    func append(index: Int, outcome: Result<TrackAnalysis, AnalysisFailure>) {
        condition.lock()
        pending.append((index, outcome))
        condition.signal()
        condition.unlock()
    }
    func next(timeout: TimeInterval) -> (Int, Result<TrackAnalysis, AnalysisFailure>)? {
        condition.lock()
        defer { condition.unlock() }
        if pending.isEmpty, timeout > 0 { _ = condition.wait(until: Date().addingTimeInterval(timeout)) }
        return pending.isEmpty ? nil : pending.removeFirst()
    }
    var isEmpty: Bool {
        condition.lock()
        defer { condition.unlock() }
        return pending.isEmpty
    }
}

/// Moves a non-Sendable analyser onto the one worker thread that will use it.
final class AnalyserBox: @unchecked Sendable {
    let analyser: TrackAnalysing
    init(_ analyser: TrackAnalysing) { self.analyser = analyser }
}
