import ArgumentParser
import Foundation
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import RetrieveCore
import VectorIndex
import PostgresIndex

/// `retrieve stats`: what the index holds.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Summarise the index.")

    @OptionGroup var location: IndexLocationOptions
    @Flag(help: "Print as JSON (one object).") var json = false

    func run() throws {
        let s: IndexStatistics
        let database: String
        if let url = location.postgresURL {
            // PostgreSQL: read-only, the schema must be complete (see PostgresStore.open).
            database = location.databaseName
            s = try location.withPostgres(url) { try await $0.statistics() }
        } else {
            database = location.databasePath
            s = try location.openStore(create: false, readOnly: true).statistics()
        }
        if json {
            print(Exporter.jsonString([
                "database": database, "tracks": s.trackCount, "failures": s.failureCount,
                "totalSeconds": s.totalDuration, "databaseBytes": s.databaseBytes,
                "models": s.models.map { ["name": $0.model.version.name, "digest": $0.model.version.digest,
                                          "dimensions": $0.model.version.dimensions, "embeddings": $0.embeddingCount] },
            ] as [String: Any]))
            return
        }
        print("index     \(database) (\(ByteCountFormatter.string(fromByteCount: s.databaseBytes, countStyle: .file)))")
        print("tracks    \(s.trackCount), \(Output.elapsed(s.totalDuration)) of audio")
        print("failures  \(s.failureCount)" + (s.failureCount > 0 ? " (`retrieve list --failures`)" : ""))
        for m in s.models {
            print("model     \(m.model.version): \(m.embeddingCount) embedding(s)")
        }
    }
}

/// `retrieve list`: the indexed tracks, or the files that failed.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List indexed tracks or failures.")

    @OptionGroup var location: IndexLocationOptions
    @Flag(help: "List the files that could not be indexed, with the reason.") var failures = false
    @Flag(help: "Print JSON Lines (one object per row).") var json = false
    @Option(help: "At most this many rows (0 prints none).") var limit: Int?
    @Option(help: "Skip this many rows first.") var offset: Int = 0

    func validate() throws {
        try Check.atLeast("--limit", limit, 0)
        try Check.atLeast("--offset", offset, 0)
    }

    /// The rows `--offset` and `--limit` select: any non-negative values, however large, select a (maybe empty) slice.
    func page<Row>(_ rows: [Row]) -> ArraySlice<Row> { rows.dropFirst(offset).prefix(limit ?? .max) }

    func run() throws {
        let tracks: [TrackRecord]
        let failed: [FailureRecord]
        if let url = location.postgresURL {
            // One snapshot, as one SQLite read: a page of the listing never mixes two commits.
            (tracks, failed) = try location.withPostgres(url) { [failures] store in
                try await store.inOneSnapshot("listing the index") {
                    failures ? ([], try await store.allFailures()) : (try await store.allTracks(), [])
                }
            }
        } else {
            let store = try location.openStore(create: false, readOnly: true)
            (tracks, failed) = failures ? ([], try store.failures()) : (try store.allTracks(), [])
        }
        if failures {
            for f in page(failed) {
                print(json ? Exporter.jsonString(["path": f.path, "kind": f.kind, "reason": f.reason])
                           : "\(f.path.escapingControlCharacters)\t\(f.reason.escapingControlCharacters)")
            }
            return
        }
        for t in page(tracks) {
            if json {
                print(Exporter.jsonString(Exporter.jsonObject(t)))
            } else {
                // Tab-separated: a tab or newline inside a name is shown escaped (`\t`, `\n`); --json has it exact.
                print("\(t.id!.rawValue)\t\(Output.duration(t.duration))\t"
                      + "\(Exporter.displayName(t).escapingControlCharacters)\t\(t.path.escapingControlCharacters)")
            }
        }
    }
}

/// `retrieve remove`: take tracks out of the index (the files are not touched).
struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove tracks from the index by id, path, or folder (files are not touched).")

    @OptionGroup var location: IndexLocationOptions
    @Argument(help: "Track ids, indexed file paths, or folders.") var targets: [String]

    func run() throws {
        // Resolve every target first, then remove them all in one transaction: a full disk or a lock held by
        // another writer removes nothing, rather than some of the tracks.
        let counts: [Int]
        if let url = location.postgresURL {
            counts = try location.withPostgres(url) { [targets] store in
                var resolved: [RemovalTarget] = []
                for target in targets {
                    if let id = Int64(target), try await store.hasTrack(id: TrackID(id)) {
                        resolved.append(.id(TrackID(id)))
                    } else {
                        resolved.append(.path(Paths.absolute(target)))
                    }
                }
                return try await store.removeTracks(resolved)
            }
        } else {
            let store = try location.openStore(create: false)
            let resolved = try targets.map { target -> RemovalTarget in
                if let id = Int64(target), try store.track(id: TrackID(id)) != nil { return .id(TrackID(id)) }
                return .path(Paths.absolute(target))
            }
            counts = try store.removeTracks(resolved)
        }
        for (target, count) in zip(targets, counts) where count == 0 {
            Output.error("\(target): no indexed track has this id or path, and none is under it")
        }
        print("removed \(counts.reduce(0, +)) track(s)")
    }
}
