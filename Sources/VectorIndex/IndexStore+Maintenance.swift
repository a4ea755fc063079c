import Foundation
import GRDB
public import RetrieveCore

/// One thing `IndexStore.removeTracks(_:)` removes.
public enum RemovalTarget: Sendable, Hashable {
    /// The track with this row id (nothing if there is none).
    case id(TrackID)
    /// The track stored under this path or, if there is none, every track and failure at or below it as a folder
    /// (a prefix ending at a `/` boundary, so `/music/a` does not touch `/music/ab`).
    case path(String)
}

// Removing tracks, pruning, statistics.
extension IndexStore {
    /// Deletes tracks (and, by cascade, their embeddings) in one transaction. Returns how many existed.
    @discardableResult
    public func removeTracks(ids: [TrackID]) throws -> Int {
        try removeTracks(ids.map(RemovalTarget.id)).reduce(0, +)
    }

    /// Deletes every track and failure at or below `directory` (a path prefix ending at a `/` boundary, so
    /// `/music/a` does not touch `/music/ab`). Returns how many tracks were removed.
    @discardableResult
    public func removeTracks(under directory: String) throws -> Int {
        try write("removing the tracks under \(directory)") { db in try Self.removeTracks(db, under: directory) }
    }

    /// Removes `targets` in one transaction, all or nothing: on any failure (a full disk, a lock held too long)
    /// no track is removed, and the error says so. Returns how many tracks each target removed, in order (a track
    /// named twice counts once, for the first target naming it).
    ///
    /// - Complexity: one indexed delete per target.
    public func removeTracks(_ targets: [RemovalTarget]) throws -> [Int] {
        if targets.isEmpty { return [] }
        let what = targets.count == 1 ? "the requested track(s)" : "the tracks of all \(targets.count) targets"
        return try write("removing \(what)") { db in
            try targets.map { target in
                switch target {
                case .id(let id):
                    return try TrackRow.deleteOne(db, key: id.rawValue) ? 1 : 0
                case .path(let path):
                    if try TrackRow.filter(TrackRow.Columns.path == path).deleteAll(db) > 0 { return 1 }
                    return try Self.removeTracks(db, under: path)
                }
            }
        }
    }

    private static func removeTracks(_ db: Database, under directory: String) throws -> Int {
        var prefix = directory
        while prefix.count > 1 && prefix.hasSuffix("/") { prefix.removeLast() }
        let below = prefix == "/" ? "/" : prefix + "/"
        let condition = "path = ?1 OR substr(path, 1, length(?2)) = ?2"
        try db.execute(sql: "DELETE FROM failures WHERE \(condition)", arguments: [prefix, below])
        try db.execute(sql: "DELETE FROM tracks WHERE \(condition)", arguments: [prefix, below])
        return db.changesCount
    }

    /// Deletes the tracks `tracks` and the failure records `failures` in one transaction, all or nothing.
    /// Returns how many tracks existed.
    ///
    /// The store takes no view on what is gone: the caller decides from evidence it gathered (`Library.PrunePlan`:
    /// a folder listed to the end that no longer holds the file), never from a file merely failing to open.
    @discardableResult
    public func prune(tracks: [TrackID], failures: [String]) throws -> Int {
        if tracks.isEmpty && failures.isEmpty { return 0 }
        return try write("pruning \(tracks.count) vanished track(s)") { db in
            var removed = 0
            for id in tracks where try TrackRow.deleteOne(db, key: id.rawValue) { removed += 1 }
            try FailureRow.deleteAll(db, keys: failures)
            return removed
        }
    }

    /// Counts, total duration, per-model embedding counts and bytes on disk.
    public func statistics() throws -> IndexStatistics {
        let models = try embeddingModels()
        let (tracks, failures, duration) = try read { db in
            (
                try TrackRow.fetchCount(db),
                try FailureRow.fetchCount(db),
                try Double.fetchOne(db, sql: "SELECT COALESCE(SUM(duration), 0) FROM tracks")!
            )
        }
        var bytes: Int64 = 0
        for file in [path, path + "-wal"] {
            if let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber {
                bytes += size.int64Value
            }
        }
        return IndexStatistics(
            trackCount: tracks, failureCount: failures, totalDuration: duration, models: models,
            databaseBytes: bytes)
    }
}
