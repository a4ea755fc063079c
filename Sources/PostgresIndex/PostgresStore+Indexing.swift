import Foundation
import Logging
import NIOCore
import PostgresNIO
public import RetrieveCore
public import VectorIndex

/// One file in the shared work queue (`index_work`): what the plan decided for it.
public struct QueuedFile: Sendable, Equatable {
    public var path: String
    public var size: Int64
    public var modificationTime: Double
    /// The plan's reason: `add`, `changed`, `otherModel` or `noSegments`.
    public var reason: String
    /// The indexed track the file re-analyses (`nil` for an added file).
    public var trackID: TrackID?
    /// The content hash computed while planning an added file, if any.
    public var contentHash: String?

    public init(
        path: String, size: Int64, modificationTime: Double, reason: String, trackID: TrackID? = nil,
        contentHash: String? = nil
    ) {
        self.path = path
        self.size = size
        self.modificationTime = modificationTime
        self.reason = reason
        self.trackID = trackID
        self.contentHash = contentHash
    }
}

/// A queued file this worker has claimed, with the track it re-analyses (as it is now) and the worker whose
/// expired claim it took over, if any.
public struct ClaimedFile: Sendable {
    public var file: QueuedFile
    public var existing: TrackRecord?
    public var previousWorker: String?
}

/// Everything a plan reads, read in the planning transaction: tracks, failures, models, which tracks hold which
/// model's embedding (and of which analysis version), which hold segment vectors, and which paths are queued.
public struct PlanningSnapshot: Sendable {
    public var tracksByPath: [String: TrackRecord] = [:]
    public var tracksByHash: [String: [TrackRecord]] = [:]
    public var failureRows: [FailureRecord] = []
    public var models: [ModelUsage] = []
    /// model id → track id → analysis version of its embedding.
    public var embeddings: [Int64: [TrackID: Int]] = [:]
    /// model id → tracks with stored segment vectors → their kind (`segment_version`).
    public var segments: [Int64: [TrackID: Int]] = [:]
    /// model id → tracks whose embedding carries a timbre profile.
    public var timbres: [Int64: Set<TrackID>] = [:]
    /// Paths queued (claimed or not) for the planning model.
    public var queued: Set<String> = []
}

/// What a plan writes, in the planning transaction: moves, a prune, scan problems and the queue's new rows.
public struct PlannedWork: Sendable {
    public var queue: [QueuedFile] = []
    /// (track, new path, size, modification time) of files recognised as moved.
    public var moves: [(track: TrackID, path: String, size: Int64, modificationTime: Double)] = []
    public var pruneTracks: [TrackID] = []
    public var pruneFailures: [String] = []
    public var scanFailures: [FailureRecord] = []
    public init() {}
}

/// What a batch's commit did: the paths written, and those whose claim was no longer this worker's (discarded).
public struct BatchCommit: Sendable {
    public var committed: [String]
    public var lost: [String]
}

// The writing side of `retrieve index` on PostgreSQL: many workers on one library, coordinated by `index_work`.
//
// Planning and committing exclude each other through an advisory lock (planners take it exclusively, batch commits
// shared), so a plan never reads a state in which a batch is half-seen and never queues a file whose result a
// concurrent batch has just committed.
extension PostgresStore {
    /// The advisory lock key that orders plans against batch commits ('RTRW').
    static let planLockKey: Int64 = 0x5254_5257

    static let trackColumns = """
        id, path, size, mtime, content_hash, duration, sample_rate, channels, format, title, artist, album, genre, \
        label, added_at, updated_at
        """

    /// A row selected with `trackColumns`, decoded.
    static func decodeTrack(_ row: PostgresRow) throws -> StoredTrack {
        let (
            id, path, size, mtime, hash, duration, rate, channels, format, title, artist, album, genre, label,
            addedAt, updatedAt
        ) = try row.decode(
            (
                Int64, String, Int64, Double, String, Double, Int, Int, String, String?, String?, String?,
                String?, String?, Double, Double
            ).self)
        return StoredTrack(
            record: TrackRecord(
                id: TrackID(id), path: path, size: size, modificationTime: mtime, contentHash: hash,
                duration: duration, sampleRate: rate, channels: channels, format: format, title: title,
                artist: artist, album: album, genre: genre, label: label),
            addedAt: addedAt, updatedAt: updatedAt)
    }

    /// Registers `model` (or finds it by digest) and returns its id, as `IndexStore.register(model:configurationJSON:)`
    /// does: the same digest with another name or size is `IndexError.modelConflict`.
    public func register(model: ModelVersion, configurationJSON: String = "{}") async throws -> Int64 {
        try await run("registering model \(model.name)") {
            let now = Date().timeIntervalSince1970
            try await connection.query(
                """
                INSERT INTO models (name, digest, dimensions, configuration, created_at)
                VALUES (\(model.name), \(model.digest), \(Int64(model.dimensions)), \(configurationJSON), \(now))
                ON CONFLICT (digest) DO NOTHING
                """, logger: logger)
            try await connection.query(
                """
                UPDATE models SET configuration = \(configurationJSON)
                WHERE digest = \(model.digest) AND configuration = '{}' AND \(configurationJSON) <> '{}'
                """, logger: logger)
            let rows = try await connection.query(
                "SELECT id, name, dimensions FROM models WHERE digest = \(model.digest)", logger: logger)
            for try await (id, name, dimensions) in rows.decode((Int64, String, Int).self) {
                let stored = ModelVersion(name: name, digest: model.digest, dimensions: dimensions)
                guard stored == model else {
                    throw IndexError.modelConflict(
                        digest: model.digest, stored: stored.description, offered: model.description)
                }
                return id
            }
            throw IndexError.unknownModel(id: -1)
        }
    }

    /// In one transaction holding the plan lock: reads a `PlanningSnapshot` for model `model`, lets `plan` decide,
    /// and writes what it decided (moves, prune, scan failures, new queue rows; a path queued already stays as it
    /// is). Returns what `plan` returned beside the work. An error thrown by `plan` writes nothing.
    public func planAndQueue<T: Sendable>(
        model: Int64, _ plan: @Sendable (PlanningSnapshot) throws -> (PlannedWork, T)
    ) async throws -> T {
        try await run("planning the files to index") {
            try await connection.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.planLockKey))", logger: logger)
                let snapshot = try await Self.readPlanningSnapshot(connection, model: model, logger: logger)
                let (work, result) = try plan(snapshot)
                try await Self.write(work, model: model, connection: connection, logger: logger)
                return result
            }
        }
    }

    /// What a plan reads: every track, failure, embedding version and segment owner, the models, and the paths
    /// queued for `model` (none without one), through `connection`, inside the caller's transaction.
    static func readPlanningSnapshot(
        _ connection: PostgresConnection, model: Int64?, logger: Logger
    ) async throws -> PlanningSnapshot {
        var snapshot = PlanningSnapshot()
        for try await row in try await connection.query(
            "SELECT \(unescaped: Self.trackColumns) FROM tracks", logger: logger)
        {
            let track = try Self.decodeTrack(row).record
            snapshot.tracksByPath[track.path] = track
            snapshot.tracksByHash[track.contentHash, default: []].append(track)
        }
        for try await (path, kind, reason, size, mtime, failedAt) in try await connection.query(
            "SELECT path, kind, reason, size, mtime, failed_at FROM failures", logger: logger
        ).decode((String, String, String, Int64, Double, Double).self) {
            snapshot.failureRows.append(
                FailureRecord(
                    path: path, kind: kind, reason: reason, size: size, modificationTime: mtime,
                    failedAt: failedAt))
        }
        var segmentVersions: [Int64: [TrackID: Int]] = [:]
        for try await (track, modelID, version, hasTimbre, segmentVersion) in try await connection.query(
            "SELECT track_id, model_id, analysis_version, timbre IS NOT NULL, segment_version FROM embeddings",
            logger: logger
        ).decode((Int64, Int64, Int, Bool, Int).self) {
            snapshot.embeddings[modelID, default: [:]][TrackID(track)] = version
            segmentVersions[modelID, default: [:]][TrackID(track)] = segmentVersion
            if hasTimbre { snapshot.timbres[modelID, default: []].insert(TrackID(track)) }
        }
        for try await (track, modelID) in try await connection.query(
            "SELECT DISTINCT track_id, model_id FROM segment_embeddings", logger: logger
        ).decode((Int64, Int64).self) {
            snapshot.segments[modelID, default: [:]][TrackID(track)] = segmentVersions[modelID]?[TrackID(track)] ?? 1
        }
        if let model {
            for try await path in try await connection.query(
                "SELECT path FROM index_work WHERE model_id = \(model)", logger: logger
            ).decode(String.self) {
                snapshot.queued.insert(path)
            }
        }
        let models = try await Self.models(connection, logger: logger)
        snapshot.models = models.map {
            ModelUsage(model: $0, embeddingCount: snapshot.embeddings[$0.id]?.count ?? 0)
        }
        return snapshot
    }

    /// The `PlanningSnapshot` of one commit, read in a REPEATABLE READ, READ ONLY transaction without the plan lock
    /// and with no write: what `retrieve index --dry-run` plans against. Paths queued for the model whose digest is
    /// `modelDigest` count as queued.
    public func planningSnapshot(modelDigest: String) async throws -> PlanningSnapshot {
        try await inOneSnapshot("reading the index to plan a dry run") {
            var model: Int64?
            for try await id in try await connection.query(
                "SELECT id FROM models WHERE digest = \(modelDigest)", logger: logger
            ).decode(Int64.self) {
                model = id
            }
            return try await Self.readPlanningSnapshot(connection, model: model, logger: logger)
        }
    }

    /// Every registered model, by id, read through `connection` (inside a transaction or not).
    static func models(_ connection: PostgresConnection, logger: Logger) async throws -> [ModelRecord] {
        var models: [ModelRecord] = []
        for try await (id, name, digest, dimensions, configuration, createdAt) in try await connection.query(
            "SELECT id, name, digest, dimensions, configuration, created_at FROM models ORDER BY id", logger: logger
        ).decode((Int64, String, String, Int, String, Double).self) {
            models.append(
                ModelRecord(
                    id: id, version: ModelVersion(name: name, digest: digest, dimensions: dimensions),
                    configurationJSON: configuration, createdAt: createdAt))
        }
        return models
    }

    private static func write(
        _ work: PlannedWork, model: Int64, connection: PostgresConnection, logger: Logger
    ) async throws {
        let now = Date().timeIntervalSince1970
        for move in work.moves {
            try await connection.query(
                """
                UPDATE tracks SET path = \(move.path), size = \(move.size), mtime = \(move.modificationTime),
                    updated_at = \(now)
                WHERE id = \(move.track.rawValue)
                """, logger: logger)
            try await connection.query("DELETE FROM failures WHERE path = \(move.path)", logger: logger)
        }
        if !work.pruneTracks.isEmpty {
            try await connection.query(
                "DELETE FROM tracks WHERE id = ANY(\(work.pruneTracks.map(\.rawValue)))", logger: logger)
        }
        if !work.pruneFailures.isEmpty {
            try await connection.query("DELETE FROM failures WHERE path = ANY(\(work.pruneFailures))", logger: logger)
        }
        if !work.scanFailures.isEmpty {
            try await upsert(failures: work.scanFailures, connection: connection, logger: logger)
        }
        if !work.queue.isEmpty {
            let q = work.queue
            try await connection.query(
                """
                INSERT INTO index_work (model_id, path, size, mtime, reason, track_id, content_hash, queued_at)
                SELECT \(model)::bigint, path, size, mtime, reason, NULLIF(track_id, 0), NULLIF(content_hash, ''),
                    \(now)::float8
                FROM unnest(\(q.map(\.path)), \(q.map(\.size)), \(q.map(\.modificationTime)), \(q.map(\.reason)),
                    \(q.map { $0.trackID?.rawValue ?? 0 }), \(q.map { $0.contentHash ?? "" }))
                    AS u(path, size, mtime, reason, track_id, content_hash)
                ON CONFLICT (model_id, path) DO NOTHING
                """, logger: logger)
        }
    }

    private static func upsert(failures: [FailureRecord], connection: PostgresConnection, logger: Logger) async throws {
        let f = failures
        try await connection.query(
            """
            INSERT INTO failures (path, kind, reason, size, mtime, failed_at)
            SELECT * FROM unnest(\(f.map(\.path)), \(f.map(\.kind)), \(f.map(\.reason)), \(f.map(\.size)),
                \(f.map(\.modificationTime)), \(f.map(\.failedAt)))
            ON CONFLICT (path) DO UPDATE SET kind = excluded.kind, reason = excluded.reason, size = excluded.size,
                mtime = excluded.mtime, failed_at = excluded.failed_at
            """, logger: logger)
    }

    /// Records `failures` (files that crashed an earlier run's analysis) and takes those files out of every
    /// model's queue, in one transaction: planning then leaves them out until they change, and no worker claims
    /// them meanwhile (one that holds a claim on one finds it gone when it commits).
    public func recordCrashes(_ failures: [FailureRecord]) async throws {
        guard !failures.isEmpty else { return }
        try await run("recording files that crashed the analysis") {
            try await connection.withTransaction(logger: logger) { connection in
                try await Self.upsert(failures: failures, connection: connection, logger: logger)
                try await connection.query(
                    "DELETE FROM index_work WHERE path = ANY(\(failures.map(\.path)))", logger: logger)
            }
        }
    }

    /// Claims up to `limit` queued files of model `model` whose claim is free or expired, for `lease` seconds
    /// (server time), skipping rows other workers are claiming at this moment.
    public func claim(model: Int64, worker: String, limit: Int, lease: Double) async throws -> [ClaimedFile] {
        try await run("claiming files to index") {
            var claimed: [ClaimedFile] = []
            for try await (path, size, mtime, reason, track, hash, previous) in try await connection.query(
                """
                UPDATE index_work w SET worker = \(worker),
                    claimed_until = clock_timestamp() + \(lease) * interval '1 second', attempts = w.attempts + 1
                FROM (SELECT model_id, path, worker FROM index_work
                      WHERE model_id = \(model) AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
                      ORDER BY path LIMIT \(limit) FOR UPDATE SKIP LOCKED) p
                WHERE w.model_id = p.model_id AND w.path = p.path
                RETURNING w.path, w.size, w.mtime, w.reason, w.track_id, w.content_hash, p.worker
                """, logger: logger
            ).decode((String, Int64, Double, String, Int64?, String?, String?).self) {
                claimed.append(
                    ClaimedFile(
                        file: QueuedFile(
                            path: path, size: size, modificationTime: mtime, reason: reason,
                            trackID: track.map(TrackID.init), contentHash: hash),
                        existing: nil, previousWorker: previous))
            }
            let ids = claimed.compactMap { $0.file.trackID?.rawValue }
            if !ids.isEmpty {
                var existing: [TrackID: TrackRecord] = [:]
                for try await row in try await connection.query(
                    "SELECT \(unescaped: Self.trackColumns) FROM tracks WHERE id = ANY(\(ids))", logger: logger)
                {
                    let track = try Self.decodeTrack(row).record
                    existing[track.id!] = track
                }
                for i in claimed.indices {
                    claimed[i].existing = claimed[i].file.trackID.flatMap { existing[$0] }
                }
            }
            return claimed.sorted { $0.file.path < $1.file.path }
        }
    }

    /// Extends this worker's claims on `paths` by `lease` seconds from now; returns how many are still its.
    @discardableResult
    public func renew(model: Int64, worker: String, paths: [String], lease: Double) async throws -> Int {
        try await run("renewing the claims of \(paths.count) file(s)") {
            let rows = try await connection.query(
                """
                UPDATE index_work SET claimed_until = clock_timestamp() + \(lease) * interval '1 second'
                WHERE model_id = \(model) AND worker = \(worker) AND path = ANY(\(paths))
                RETURNING path
                """, logger: logger)
            var count = 0
            for try await _ in rows { count += 1 }
            return count
        }
    }

    /// Hands back to the queue the claims of the workers whose names start with `prefix` (`host:pid:`, a process
    /// known to have ended), so that other workers take them at once instead of when their lease expires; returns
    /// how many.
    @discardableResult
    public func releaseClaims(ofWorkersStartingWith prefix: String) async throws -> Int {
        try await run("handing back the claims of an ended worker") {
            let rows = try await connection.query(
                """
                UPDATE index_work SET worker = NULL, claimed_until = NULL
                WHERE starts_with(worker, \(prefix)) RETURNING path
                """, logger: logger)
            var count = 0
            for try await _ in rows { count += 1 }
            return count
        }
    }

    /// Hands this worker's unfinished claims back to the queue (a stopped run), so others take them at once.
    public func release(model: Int64, worker: String) async throws {
        _ = try await run("handing back unfinished claims") {
            try await connection.query(
                "UPDATE index_work SET worker = NULL, claimed_until = NULL WHERE model_id = \(model) AND worker = \(worker)",
                logger: logger)
        }
    }

    /// How many files of model `model` are queued, and how many of those are claimed with a live lease.
    public func queueCounts(model: Int64) async throws -> (queued: Int, claimed: Int) {
        try await run("counting the queued files") {
            for try await counts in try await connection.query(
                """
                SELECT count(*), count(*) FILTER (WHERE claimed_until >= clock_timestamp())
                FROM index_work WHERE model_id = \(model)
                """, logger: logger
            ).decode((Int, Int).self) {
                return counts
            }
            return (0, 0)
        }
    }

    /// Commits one batch in one transaction, as `IndexStore.commit(_:)` does (tracks upserted by path keeping id and
    /// `added_at`, a changed content hash dropping the old bytes' embeddings, segments replaced, failures of the
    /// written paths cleared, the batch's failures recorded), together with the release of its claims: and only
    /// for the files whose claim in `index_work` is still `worker`'s. The others are left out (another worker took
    /// them over) and returned as `lost`. `model` is the batch's one model (its vectors' size is checked).
    public func commit(_ batch: IndexBatch, model: ModelRecord, worker: String) async throws -> BatchCommit {
        let paths = batch.items.map(\.track.path) + batch.failures.map(\.path)
        if paths.isEmpty { return BatchCommit(committed: [], lost: []) }
        return try await run("committing a batch of \(paths.count) file(s)") {
            try await connection.withTransaction(logger: logger) { connection in
                try await connection.query(
                    "SELECT pg_advisory_xact_lock_shared(\(Self.planLockKey))", logger: logger)
                var mine = Set<String>()
                for try await path in try await connection.query(
                    """
                    SELECT path FROM index_work WHERE model_id = \(model.id) AND worker = \(worker)
                        AND path = ANY(\(paths)) FOR UPDATE
                    """, logger: logger
                ).decode(String.self) {
                    mine.insert(path)
                }
                let now = Date().timeIntervalSince1970
                for item in batch.items where mine.contains(item.track.path) {
                    let id = try await Self.upsert(track: item.track, now: now, connection: connection, logger: logger)
                    for e in item.embeddings {
                        for v in [e.embedding] + e.segments where v.dimensions != model.version.dimensions {
                            throw IndexError.dimensionMismatch(
                                path: item.track.path, model: model.version.description,
                                expected: model.version.dimensions, found: v.dimensions)
                        }
                        let vector = ByteBuffer(bytes: VectorCodec.encode(e.embedding.values))
                        let timbre = e.timbre.map { ByteBuffer(bytes: VectorCodec.encode($0)) }
                        try await connection.query(
                            """
                            INSERT INTO embeddings
                                (track_id, model_id, vector, segment_count, created_at, analysis_version, timbre,
                                 segment_version)
                            VALUES (\(id), \(e.modelID), \(vector), \(Int64(e.segmentCount)), \(now),
                                \(Int64(e.analysisVersion)), \(timbre), \(Int64(e.segmentVersion)))
                            ON CONFLICT (track_id, model_id) DO UPDATE SET vector = excluded.vector,
                                segment_count = excluded.segment_count, created_at = excluded.created_at,
                                analysis_version = excluded.analysis_version, timbre = excluded.timbre,
                                segment_version = excluded.segment_version
                            """, logger: logger)
                        try await connection.query(
                            "DELETE FROM segment_embeddings WHERE track_id = \(id) AND model_id = \(e.modelID)",
                            logger: logger)
                        if !e.segments.isEmpty {
                            let vectors = e.segments.map { ByteBuffer(bytes: VectorCodec.encode($0.values)) }
                            try await connection.query(
                                """
                                INSERT INTO segment_embeddings (track_id, model_id, idx, vector)
                                SELECT \(id)::bigint, \(e.modelID)::bigint, i - 1, v FROM unnest(\(vectors)) WITH ORDINALITY AS u(v, i)
                                """, logger: logger)
                        }
                    }
                    try await connection.query("DELETE FROM failures WHERE path = \(item.track.path)", logger: logger)
                }
                let failures = batch.failures.filter { mine.contains($0.path) }
                if !failures.isEmpty {
                    try await Self.upsert(failures: failures, connection: connection, logger: logger)
                }
                let done = paths.filter { mine.contains($0) }
                try await connection.query(
                    "DELETE FROM index_work WHERE model_id = \(model.id) AND path = ANY(\(done))", logger: logger)
                return BatchCommit(committed: done, lost: paths.filter { !mine.contains($0) })
            }
        }
    }

    /// Inserts `track`, or updates the track at its path (keeping id and `added_at`), as SQLite's commit does.
    private static func upsert(
        track: TrackRecord, now: Double, connection: PostgresConnection, logger: Logger
    ) async throws -> Int64 {
        let t = track
        var existing: (id: Int64, hash: String)?
        for try await row in try await connection.query(
            "SELECT id, content_hash FROM tracks WHERE path = \(t.path) FOR UPDATE", logger: logger
        ).decode((Int64, String).self) {
            existing = row
        }
        if let existing {
            try await connection.query(
                """
                UPDATE tracks SET size = \(t.size), mtime = \(t.modificationTime), content_hash = \(t.contentHash),
                    duration = \(t.duration), sample_rate = \(Int64(t.sampleRate)), channels = \(Int64(t.channels)),
                    format = \(t.format), title = \(t.title), artist = \(t.artist), album = \(t.album),
                    genre = \(t.genre), label = \(t.label), updated_at = \(now)
                WHERE id = \(existing.id)
                """, logger: logger)
            if existing.hash != t.contentHash {
                try await connection.query("DELETE FROM embeddings WHERE track_id = \(existing.id)", logger: logger)
            }
            return existing.id
        }
        for try await id in try await connection.query(
            """
            INSERT INTO tracks (path, size, mtime, content_hash, duration, sample_rate, channels, format, title,
                artist, album, genre, label, added_at, updated_at)
            VALUES (\(t.path), \(t.size), \(t.modificationTime), \(t.contentHash), \(t.duration),
                \(Int64(t.sampleRate)), \(Int64(t.channels)), \(t.format), \(t.title), \(t.artist), \(t.album),
                \(t.genre), \(t.label), \(now), \(now))
            RETURNING id
            """, logger: logger
        ).decode(Int64.self) {
            return id
        }
        throw IndexError.pathTaken(path: t.path)
    }
}
