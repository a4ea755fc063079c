public import VectorIndex

extension PostgresStore {
    /// Counts, total duration, per-model embedding counts and the database's size on disk, in one statement each
    /// (`retrieve stats`); the same figures `IndexStore.statistics()` gives for SQLite.
    public func statistics() async throws -> IndexStatistics {
        try await run("reading statistics") {
            let counts = try await connection.query(
                """
                SELECT (SELECT count(*) FROM tracks), (SELECT count(*) FROM failures),
                       (SELECT COALESCE(sum(duration), 0) FROM tracks)::float8, pg_database_size(current_database())
                """, logger: logger)
            var figures = (tracks: 0, failures: 0, duration: 0.0, bytes: Int64(0))
            for try await (t, f, d, b) in counts.decode((Int, Int, Double, Int64).self) { figures = (t, f, d, b) }
            var perModel: [Int64: Int] = [:]
            for try await (model, n) in try await connection.query(
                "SELECT model_id, count(*) FROM embeddings GROUP BY model_id", logger: logger
            ).decode((Int64, Int).self) {
                perModel[model] = n
            }
            let models = try await storedModels().map { ModelUsage(model: $0, embeddingCount: perModel[$0.id] ?? 0) }
            return IndexStatistics(
                trackCount: figures.tracks, failureCount: figures.failures, totalDuration: figures.duration,
                models: models, databaseBytes: figures.bytes)
        }
    }
}
