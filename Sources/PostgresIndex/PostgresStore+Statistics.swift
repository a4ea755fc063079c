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
            return IndexStatistics(
                trackCount: figures.tracks, failureCount: figures.failures, totalDuration: figures.duration,
                models: try await embeddingModels(), databaseBytes: figures.bytes)
        }
    }
}
