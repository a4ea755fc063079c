import PostgresNIO
public import RetrieveCore
public import VectorIndex

// `retrieve remove` and `index --labels` on PostgreSQL: the semantics of `IndexStore.removeTracks(_:)` and
// `setLabels(_:)`, statement for statement.
extension PostgresStore {
    /// Whether a track with row id `id` exists.
    public func hasTrack(id: TrackID) async throws -> Bool {
        try await run("looking up track \(id.rawValue)") {
            try await connection.query(
                "SELECT EXISTS (SELECT 1 FROM tracks WHERE id = \(id.rawValue))", logger: logger
            ).decode(Bool.self).first { _ in true } ?? false
        }
    }

    /// Sets the class label of the tracks at these paths, as `IndexStore.setLabels(_:)` does, in one statement:
    /// paths not in the index are ignored. Returns how many tracks changed.
    @discardableResult
    public func setLabels(_ labels: [String: String]) async throws -> Int {
        let paths = labels.keys.sorted()
        let values = paths.map { labels[$0]! }
        return try await run("setting the labels of \(labels.count) track(s)") {
            let rows = try await connection.query(
                """
                UPDATE tracks t SET label = u.label FROM unnest(\(paths), \(values)) AS u(path, label)
                WHERE t.path = u.path AND t.label IS DISTINCT FROM u.label RETURNING t.id
                """, logger: logger)
            var changed = 0
            for try await _ in rows { changed += 1 }
            return changed
        }
    }

    /// Removes `targets` in one transaction, all or nothing, as `IndexStore.removeTracks(_:)` does: a track by id;
    /// a path's track or, when no track has that path, every track and failure at or below it as a folder (a
    /// prefix ending at a `/` boundary). Vectors and segments go with their tracks (ON DELETE CASCADE). Returns
    /// how many tracks each target removed, in order (a track named twice counts once, for the first target).
    ///
    /// - Complexity: one indexed delete per id or path; a folder is a range scan of the path index.
    public func removeTracks(_ targets: [RemovalTarget]) async throws -> [Int] {
        if targets.isEmpty { return [] }
        let what =
            targets.count == 1
            ? "removing the requested track(s)" : "removing the tracks of all \(targets.count) targets"
        return try await run(what) {
            try await connection.withTransaction(logger: logger) { connection in
                var counts: [Int] = []
                for target in targets {
                    switch target {
                    case .id(let id):
                        counts.append(
                            try await deleted(connection, "DELETE FROM tracks WHERE id = \(id.rawValue) RETURNING 1"))
                    case .path(let path):
                        let exact = try await deleted(connection, "DELETE FROM tracks WHERE path = \(path) RETURNING 1")
                        if exact > 0 {
                            counts.append(exact)
                            continue
                        }
                        let range = PathPrefix(path)
                        // `path >= lower AND path < upper` under COLLATE "C" is SQLite's byte-wise prefix test,
                        // and a range scan of the unique path index.
                        _ = try await deleted(
                            connection,
                            """
                            DELETE FROM failures WHERE path = \(range.folder)
                                OR (path >= \(range.lowerBound) AND path < \(range.upperBound)) RETURNING 1
                            """)
                        counts.append(
                            try await deleted(
                                connection,
                                """
                                DELETE FROM tracks WHERE path = \(range.folder)
                                    OR (path >= \(range.lowerBound) AND path < \(range.upperBound)) RETURNING 1
                                """))
                    }
                }
                return counts
            }
        }
    }

    /// Runs a `DELETE … RETURNING 1` and counts its rows.
    private func deleted(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> Int {
        var count = 0
        for try await _ in try await connection.query(query, logger: logger) {
            count += 1
        }
        return count
    }
}
