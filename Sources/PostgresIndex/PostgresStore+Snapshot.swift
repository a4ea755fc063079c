import NIOCore
import PostgresNIO
public import RetrieveCore
public import VectorIndex

// Reading a PostgreSQL index for queries: one REPEATABLE READ, READ ONLY transaction, so every row read belongs
// to one commit however many other processes write meanwhile (a batch is all there or not at all).
extension PostgresStore {
    /// Runs `body` inside one REPEATABLE READ, READ ONLY transaction on this store's connection: every statement
    /// `body` sends (through this store's methods) sees the same commit. Nothing can be written from it.
    public func inOneSnapshot<T>(_ action: String, _ body: () async throws -> T) async throws -> T {
        try await run(action) {
            try await connection.query("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            do {
                let result = try await body()
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Every registered model with its number of embeddings, by id.
    public func embeddingModels() async throws -> [ModelUsage] {
        try await run("reading models") {
            var counts: [Int64: Int] = [:]
            for try await (model, n) in try await connection.query(
                "SELECT model_id, count(*) FROM embeddings GROUP BY model_id", logger: logger
            ).decode((Int64, Int).self) {
                counts[model] = n
            }
            return try await storedModels().map { ModelUsage(model: $0, embeddingCount: counts[$0.id] ?? 0) }
        }
    }

    /// What a query engine reads, in one snapshot: the vectors, timbre profiles and segments of the model with weights digest
    /// `digest` (none when it is not registered), every track and every model.
    ///
    /// - Complexity: one pass over the model's embeddings and segments and over the tracks, in three statements
    ///   (the tracks paged by id).
    /// - Throws: `PostgresIndexError` (`damagedRow` for a vector whose length is not the model's).
    public func snapshot(modelDigest digest: String) async throws -> IndexSnapshot {
        try await inOneSnapshot("reading the index") {
            let models = try await embeddingModels()
            let model = models.first { $0.model.version.digest == digest }
            var ids: [TrackID] = []
            var storage: [Float] = []
            var segments: [TrackID: [Embedding]] = [:]
            var timbres: [TrackID: [Float]] = [:]
            var segmentVersions: [TrackID: Int] = [:]
            let dimensions = model?.model.version.dimensions ?? 0
            if let model {
                ids.reserveCapacity(model.embeddingCount)
                storage.reserveCapacity(model.embeddingCount * dimensions)
                let rows = try await connection.query(
                    """
                    SELECT track_id, vector, timbre, segment_version FROM embeddings
                    WHERE model_id = \(model.model.id) ORDER BY track_id
                    """, logger: logger)
                for try await (track, vector, timbre, segmentVersion) in rows.decode(
                    (Int64, ByteBuffer, ByteBuffer?, Int64).self)
                {
                    segmentVersions[TrackID(track)] = Int(segmentVersion)
                    storage.append(contentsOf: try floats(vector, dimensions, "the vector of track \(track)"))
                    ids.append(TrackID(track))
                    // A profile's length is checked where it is read (`TimbreProfile(packed:)`); a partial float
                    // makes it missing here already.
                    if let timbre, timbre.readableBytes % 4 == 0 {
                        timbres[TrackID(track)] = try floats(timbre, timbre.readableBytes / 4, "")
                    }
                }
                let segmentRows = try await connection.query(
                    """
                    SELECT track_id, vector FROM segment_embeddings WHERE model_id = \(model.model.id)
                    ORDER BY track_id, idx
                    """, logger: logger)
                for try await (track, vector) in segmentRows.decode((Int64, ByteBuffer).self) {
                    let values = try floats(vector, dimensions, "a segment vector of track \(track)")
                    segments[TrackID(track), default: []].append(Embedding(unchecked: values))
                }
            }
            var newest = 0.0
            let tracks = try await allTracks { newest = max(newest, $0.updatedAt) }
            return IndexSnapshot(
                models: models, modelID: model?.model.id, ids: ids,
                vectors: Matrix(rows: ids.count, columns: ids.isEmpty ? 0 : dimensions, storage: storage),
                tracks: tracks, segments: segments, segmentVersions: segmentVersions, timbres: timbres,
                newestUpdate: newest)
        }
    }

    /// Every track, by ascending id (read page by page: inside `inOneSnapshot` for one commit's tracks);
    /// `each` sees every row as stored.
    public func allTracks(_ each: (StoredTrack) -> Void = { _ in }) async throws -> [TrackRecord] {
        var tracks: [TrackRecord] = []
        var last = Int64.min
        while true {
            let page = try await storedTracks(after: last, limit: 20_000)
            guard let end = page.last else { return tracks }
            for stored in page {
                tracks.append(stored.record)
                each(stored)
            }
            last = end.record.id!.rawValue
        }
    }

    /// Every recorded failure, by path in byte order (as `IndexStore.failures()`).
    public func allFailures() async throws -> [FailureRecord] {
        var failures: [FailureRecord] = []
        while true {
            let page = try await storedFailures(after: failures.last?.path, limit: 20_000)
            if page.isEmpty { return failures }
            failures += page
        }
    }

    /// The floats of a stored vector, which must be `dimensions` long (float32, little-endian).
    private func floats(_ bytes: ByteBuffer, _ dimensions: Int, _ what: @autoclosure () -> String) throws -> [Float] {
        guard bytes.readableBytes == dimensions * 4 else {
            throw PostgresIndexError.damagedRow(
                url: location.description,
                detail: "\(what()) has \(bytes.readableBytes) bytes, the model's \(dimensions) dimensions need "
                    + "\(dimensions * 4)")
        }
        return [Float](unsafeUninitializedCapacity: dimensions) { buffer, count in
            bytes.withUnsafeReadableBytes { VectorCodec.decode($0, into: buffer) }
            count = dimensions
        }
    }
}

extension PostgresStore {
    /// The index's change counter (`PostgresSchema.v2`): it differs from an earlier reading exactly when some
    /// transaction that wrote to the index committed in between. One primary-key read.
    public func changeCounter() async throws -> Int64 {
        try await run("reading the change counter") {
            try await connection.query("SELECT counter FROM index_changes", logger: logger).decode(Int64.self)
                .first { _ in true } ?? 0
        }
    }
}
