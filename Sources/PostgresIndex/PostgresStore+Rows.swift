import Foundation
import NIOCore
import PostgresNIO
import RetrieveCore
public import VectorIndex

// Rows exactly as stored, page by page (keyset paging: each page starts after the last key of the one before,
// through the primary key, so page n costs what page 1 does), and batches written in one transaction each.
extension PostgresStore {
    /// How many rows each table holds, in one statement (one snapshot).
    public func rowCounts() async throws -> RowCounts {
        try await run("counting rows") {
            let rows = try await connection.query(
                """
                SELECT (SELECT count(*) FROM models), (SELECT count(*) FROM tracks), (SELECT count(*) FROM embeddings),
                       (SELECT count(*) FROM segment_embeddings), (SELECT count(*) FROM failures)
                """, logger: logger)
            for try await (m, t, e, s, f) in rows.decode((Int, Int, Int, Int, Int).self) {
                return RowCounts(models: m, tracks: t, embeddings: e, segments: s, failures: f)
            }
            return RowCounts()
        }
    }

    /// Every registered model, by id.
    public func storedModels() async throws -> [ModelRecord] {
        try await run("reading models") { try await Self.models(connection, logger: logger) }
    }

    /// Up to `limit` tracks with ids above `id`, by id.
    public func storedTracks(after id: Int64, limit: Int) async throws -> [StoredTrack] {
        try await run("reading tracks") {
            var tracks: [StoredTrack] = []
            for try await row in try await connection.query(
                "SELECT \(unescaped: Self.trackColumns) FROM tracks WHERE id > \(id) ORDER BY id LIMIT \(limit)",
                logger: logger)
            {
                tracks.append(try Self.decodeTrack(row))
            }
            return tracks
        }
    }

    /// Up to `limit` embeddings after `key`, by (track, model).
    public func storedEmbeddings(after key: EmbeddingKey, limit: Int) async throws -> [StoredEmbedding] {
        try await run("reading embeddings") {
            var embeddings: [StoredEmbedding] = []
            let rows = try await connection.query(
                """
                SELECT track_id, model_id, vector, segment_count, created_at, analysis_version, timbre, segment_version
                FROM embeddings
                WHERE (track_id, model_id) > (\(key.trackID), \(key.modelID)) ORDER BY track_id, model_id LIMIT \(limit)
                """, logger: logger)
            for try await (track, model, vector, segments, createdAt, version, timbre, segmentVersion) in rows.decode(
                (Int64, Int64, Data, Int, Double, Int, Data?, Int).self)
            {
                embeddings.append(
                    StoredEmbedding(
                        trackID: track, modelID: model, vector: vector, segmentCount: segments, createdAt: createdAt,
                        analysisVersion: version, timbre: timbre, segmentVersion: segmentVersion))
            }
            return embeddings
        }
    }

    /// Up to `limit` segment vectors after `key`, by (track, model, index).
    public func storedSegments(after key: SegmentKey, limit: Int) async throws -> [StoredSegment] {
        try await run("reading segment vectors") {
            var segments: [StoredSegment] = []
            let rows = try await connection.query(
                """
                SELECT track_id, model_id, idx, vector FROM segment_embeddings
                WHERE (track_id, model_id, idx) > (\(key.trackID), \(key.modelID), \(Int64(key.index)))
                ORDER BY track_id, model_id, idx LIMIT \(limit)
                """, logger: logger)
            for try await (track, model, index, vector) in rows.decode((Int64, Int64, Int, Data).self) {
                segments.append(StoredSegment(trackID: track, modelID: model, index: index, vector: vector))
            }
            return segments
        }
    }

    /// Up to `limit` failures with paths after `path` (all from `nil`), by path in byte order.
    public func storedFailures(after path: String?, limit: Int) async throws -> [FailureRecord] {
        try await run("reading failures") {
            var failures: [FailureRecord] = []
            let rows = try await connection.query(
                """
                SELECT path, kind, reason, size, mtime, failed_at FROM failures
                WHERE \(path)::text IS NULL OR path > \(path) ORDER BY path LIMIT \(limit)
                """, logger: logger)
            for try await (path, kind, reason, size, mtime, failedAt) in rows.decode(
                (String, String, String, Int64, Double, Double).self)
            {
                failures.append(
                    FailureRecord(
                        path: path, kind: kind, reason: reason, size: size, modificationTime: mtime, failedAt: failedAt)
                )
            }
            return failures
        }
    }

    /// Inserts rows exactly as given (ids, times and vector bytes kept), parents first, in one transaction: all of
    /// the batch or none. A key that exists already is an error, never an overwrite. Each table is one statement
    /// over arrays (`unnest`), so a batch costs a few round trips whatever its size; the id sequences are moved
    /// past the copied ids so that later inserts without an id do not collide.
    public func insert(_ batch: RowBatch) async throws {
        if batch.rowCount == 0 { return }
        try await run("copying a batch of \(batch.rowCount) row(s)") {
            try await connection.withTransaction(logger: logger) { connection in
                if !batch.models.isEmpty {
                    let m = batch.models
                    try await connection.query(
                        """
                        INSERT INTO models (id, name, digest, dimensions, configuration, created_at)
                        SELECT * FROM unnest(\(m.map(\.id)), \(m.map(\.version.name)), \(m.map(\.version.digest)),
                            \(m.map { Int64($0.version.dimensions) }), \(m.map(\.configurationJSON)), \(m.map(\.createdAt)))
                        """, logger: logger)
                    try await connection.query(
                        "SELECT setval(pg_get_serial_sequence('models', 'id'), (SELECT max(id) FROM models))",
                        logger: logger)
                }
                if !batch.tracks.isEmpty {
                    let t = batch.tracks.map(\.record)
                    // Nullable text columns travel as text plus a bit mask of which are NULL (arrays of optionals
                    // do not encode): bit 0 title, 1 artist, 2 album, 3 genre, 4 label.
                    let nulls: [Int64] = t.map { r in
                        [r.title, r.artist, r.album, r.genre, r.label].enumerated().reduce(0) {
                            $0 | ($1.element == nil ? Int64(1) << $1.offset : 0)
                        }
                    }
                    try await connection.query(
                        """
                        INSERT INTO tracks (id, path, size, mtime, content_hash, duration, sample_rate, channels, format,
                            title, artist, album, genre, label, added_at, updated_at)
                        SELECT id, path, size, mtime, content_hash, duration, sample_rate, channels, format,
                            CASE WHEN n & 1 = 0 THEN title END, CASE WHEN n & 2 = 0 THEN artist END,
                            CASE WHEN n & 4 = 0 THEN album END, CASE WHEN n & 8 = 0 THEN genre END,
                            CASE WHEN n & 16 = 0 THEN label END, added_at, updated_at
                        FROM unnest(\(t.map { $0.id!.rawValue }), \(t.map(\.path)), \(t.map(\.size)),
                            \(t.map(\.modificationTime)), \(t.map(\.contentHash)), \(t.map(\.duration)),
                            \(t.map { Int64($0.sampleRate) }), \(t.map { Int64($0.channels) }), \(t.map(\.format)),
                            \(t.map { $0.title ?? "" }), \(t.map { $0.artist ?? "" }), \(t.map { $0.album ?? "" }),
                            \(t.map { $0.genre ?? "" }), \(t.map { $0.label ?? "" }), \(batch.tracks.map(\.addedAt)),
                            \(batch.tracks.map(\.updatedAt)), \(nulls))
                            AS u(id, path, size, mtime, content_hash, duration, sample_rate, channels, format, title,
                                 artist, album, genre, label, added_at, updated_at, n)
                        """, logger: logger)
                    try await connection.query(
                        "SELECT setval(pg_get_serial_sequence('tracks', 'id'), (SELECT max(id) FROM tracks))",
                        logger: logger)
                }
                if !batch.embeddings.isEmpty {
                    let e = batch.embeddings
                    try await connection.query(
                        """
                        INSERT INTO embeddings
                            (track_id, model_id, vector, segment_count, created_at, analysis_version, segment_version)
                        SELECT * FROM unnest(\(e.map(\.trackID)), \(e.map(\.modelID)),
                            \(e.map { ByteBuffer(bytes: $0.vector) }), \(e.map { Int64($0.segmentCount) }),
                            \(e.map(\.createdAt)), \(e.map { Int64($0.analysisVersion) }),
                            \(e.map { Int64($0.segmentVersion) }))
                        """, logger: logger)
                    // Arrays cannot hold NULLs here, so the timbre profiles follow for the rows that have one.
                    let t = e.filter { $0.timbre != nil }
                    if !t.isEmpty {
                        try await connection.query(
                            """
                            UPDATE embeddings SET timbre = u.timbre
                            FROM unnest(\(t.map(\.trackID)), \(t.map(\.modelID)),
                                \(t.map { ByteBuffer(bytes: $0.timbre!) })) AS u(track_id, model_id, timbre)
                            WHERE embeddings.track_id = u.track_id AND embeddings.model_id = u.model_id
                            """, logger: logger)
                    }
                }
                if !batch.segments.isEmpty {
                    let s = batch.segments
                    try await connection.query(
                        """
                        INSERT INTO segment_embeddings (track_id, model_id, idx, vector)
                        SELECT * FROM unnest(\(s.map(\.trackID)), \(s.map(\.modelID)), \(s.map { Int64($0.index) }),
                            \(s.map { ByteBuffer(bytes: $0.vector) }))
                        """, logger: logger)
                }
                if !batch.failures.isEmpty {
                    let f = batch.failures
                    try await connection.query(
                        """
                        INSERT INTO failures (path, kind, reason, size, mtime, failed_at)
                        SELECT * FROM unnest(\(f.map(\.path)), \(f.map(\.kind)), \(f.map(\.reason)), \(f.map(\.size)),
                            \(f.map(\.modificationTime)), \(f.map(\.failedAt)))
                        """, logger: logger)
                }
            }
        }
    }

    /// Deletes every track, model, vector and failure in one transaction, keeping the schema (for `retrieve
    /// migrate --replace`). Returns how many rows there were.
    @discardableResult
    public func removeAllRows() async throws -> RowCounts {
        let counts = try await rowCounts()
        _ = try await run("emptying the index") {
            try await connection.withTransaction(logger: logger) { connection in
                try await connection.query(
                    "TRUNCATE index_work, segment_embeddings, embeddings, tracks, models, failures RESTART IDENTITY",
                    logger: logger)
            }
        }
        return counts
    }
}
