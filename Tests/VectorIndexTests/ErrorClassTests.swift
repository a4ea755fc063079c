import Foundation
import GRDB
import RetrieveCore
import Testing
import TestSupport
@testable import VectorIndex

/// Each class of SQLite failure, provoked for real: the error is `IndexError.database` with the right class,
/// its sentence names the file and the remedy and none of SQLite's wording, GRDB's error is kept as the cause,
/// and a failed write changed nothing.
@Suite struct ErrorClassTests {
    /// The failure inside `error`, or a recorded issue.
    static func failure(_ error: IndexError?, sourceLocation: SourceLocation = #_sourceLocation) -> DatabaseFailure? {
        guard case .database(let failure) = error else {
            Issue.record("expected IndexError.database, got \(String(describing: error))", sourceLocation: sourceLocation)
            return nil
        }
        return failure
    }

    /// The sentence names the file and holds none of the library's own words.
    static func expectPlainSentence(_ error: IndexError, path: String, remedy: String,
                                    sourceLocation: SourceLocation = #_sourceLocation) {
        let text = error.description
        #expect(text.contains(path) && text.contains(remedy), "\(text)", sourceLocation: sourceLocation)
        for raw in ["SQLite error", "COMMIT", "grdb_", "NSCocoaErrorDomain", "\n"] {
            #expect(!text.contains(raw), "\(text)", sourceLocation: sourceLocation)
        }
    }

    /// A store of `count` tracks, changed by `setup` (SQL), then reopened with `prepare` on each connection.
    static func store(
        in dir: TemporaryDirectory, tracks count: Int, setup: String? = nil,
        prepare: @escaping @Sendable (Database) throws -> Void
    ) throws -> (IndexStore, Int64) {
        let path = dir.path("lib.sqlite").path
        let model: Int64
        do {
            let store = try IndexStore(path: path)
            model = try store.register(model: Make.model("m"))
            try store.commit(IndexBatch(items: (0..<count).map { Make.item($0, model: model) }))
        }
        if let setup { try DatabaseQueue(path: path).write { db in try db.execute(sql: setup) } }
        return (try IndexStore(path: path, readOnly: false, folderWritable: nil, prepare: prepare), model)
    }

    /// `PRAGMA max_page_count` a few pages above the file's size, as on a nearly full disk: opening still works
    /// (GRDB's pool creates and drops a table, one page), anything larger fails with `SQLITE_FULL`. Opening on a
    /// disk without those few pages fails with the same class of error and sentence.
    static let fullDisk: @Sendable (Database) throws -> Void = { db in
        let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
        try db.execute(sql: "PRAGMA max_page_count = \(pages + 4)")
    }

    @Test func fullDiskFailsTheWholeBatch() throws {
        let dir = try TemporaryDirectory()
        let (store, model) = try Self.store(in: dir, tracks: 2, prepare: Self.fullDisk)
        let big = IndexBatch(items: (100..<160).map { Make.item($0, model: model, dimensions: 8, segments: 40) })
        let error = try #require(throws: IndexError.self) { try store.commit(big) }
        let failure = try #require(Self.failure(error))
        #expect(failure.kind == .diskFull && failure.databaseError?.resultCode == .SQLITE_FULL)
        Self.expectPlainSentence(error, path: store.path, remedy: "free some space")
        #expect(error.description.contains("nothing of it was written"))
        #expect(try store.trackCount() == 2)
    }

    @Test func removalIsAllOrNothingWhenTheDiskFills() throws {
        let dir = try TemporaryDirectory()
        // Deleting frees pages rather than taking them, so the disk "fills" through a trigger that writes a
        // large row when the third track goes: the first two deletions must be rolled back with it.
        let (store, _) = try Self.store(
            in: dir, tracks: 5,
            setup: """
                CREATE TABLE scratch (b BLOB);
                CREATE TRIGGER fill_disk BEFORE DELETE ON tracks WHEN old.id = 3
                BEGIN INSERT INTO scratch VALUES (zeroblob(200000)); END;
                """, prepare: Self.fullDisk)
        let targets: [RemovalTarget] = [.id(TrackID(1)), .path(Make.item(1, model: 1).track.path), .id(TrackID(3))]
        let error = try #require(throws: IndexError.self) { try store.removeTracks(targets) }
        #expect(Self.failure(error)?.kind == .diskFull)
        Self.expectPlainSentence(error, path: store.path, remedy: "free some space")
        #expect(error.description.contains("removing") && error.description.contains("all or nothing"))
        #expect(try store.trackCount() == 5, "no track removed")
        let unlimited = try IndexStore(path: store.path)
        try DatabaseQueue(path: store.path).write { db in try db.execute(sql: "DROP TRIGGER fill_disk") }
        #expect(try unlimited.removeTracks(targets) == [1, 1, 1])
        #expect(try unlimited.removeTracks([.id(TrackID(1)), .path("/nowhere")]) == [0, 0])
        #expect(try unlimited.trackCount() == 2)
    }

    @Test func anotherWriterHoldingTheLockIsBusy() throws {
        let dir = try TemporaryDirectory()
        let (store, _) = try Self.store(in: dir, tracks: 2) { db in try db.execute(sql: "PRAGMA busy_timeout = 50") }
        let other = try DatabaseQueue(path: store.path)
        try other.inDatabase { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            defer { try? db.execute(sql: "ROLLBACK") }
            let error = try #require(throws: IndexError.self) { try store.removeTracks(ids: [TrackID(1)]) }
            #expect(Self.failure(error)?.kind == .busy)
            Self.expectPlainSentence(error, path: store.path, remedy: "another process")
        }
        #expect(try store.trackCount() == 2)
    }

    @Test func damagedPagesAreReportedWithTheRebuildRemedy() throws {
        let dir = try TemporaryDirectory()
        let path = try ReadOnlyOpeningTests.makeIndex(in: dir)
        // Keep the header page, overwrite every later page with junk.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for i in 4096..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 31) }
        try bytes.write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: IndexError.self) {
            let store = try IndexStore(path: path, readOnly: true)
            _ = try store.allTracks()
        }
        #expect(Self.failure(error)?.kind == .damaged)
        Self.expectPlainSentence(error, path: path, remedy: "retrieve index")
    }

    @Test func anUncreatableFolderCannotOpen() throws {
        let dir = try TemporaryDirectory()
        try Data("a file, not a folder".utf8).write(to: dir.path("file"))
        let path = dir.path("file/index.sqlite").path
        let error = try #require(throws: IndexError.self) { try IndexStore(path: path) }
        let failure = try #require(Self.failure(error))
        #expect(failure.kind == .cannotOpen)
        Self.expectPlainSentence(error, path: path, remedy: "pass another --db")
    }

    @Test func failuresAreMatchableAndEquatable() throws {
        let cause = DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full")
        let a = DatabaseFailure(path: "/x.sqlite", action: "removing 2 tracks", cause: cause)
        #expect(a.kind == .diskFull)
        #expect(a == DatabaseFailure(kind: .diskFull, path: "/x.sqlite", action: "removing 2 tracks", cause: cause))
        #expect(a != DatabaseFailure(path: "/y.sqlite", action: "removing 2 tracks", cause: cause))
        for (code, kind) in [
            (ResultCode.SQLITE_READONLY, DatabaseFailure.Kind.readOnly), (.SQLITE_CORRUPT, .damaged),
            (.SQLITE_NOTADB, .damaged), (.SQLITE_BUSY, .busy), (.SQLITE_LOCKED, .busy), (.SQLITE_CANTOPEN, .cannotOpen),
            (.SQLITE_IOERR, .ioError), (.SQLITE_CONSTRAINT, .other),
        ] {
            let failure = DatabaseFailure(path: "/x.sqlite", cause: DatabaseError(resultCode: code))
            #expect(failure.kind == kind, "\(code)")
            #expect(failure.description.contains("/x.sqlite") && !failure.description.contains("\n"))
        }
    }

    @Test func modelConfigurationIsStoredAndFilledInLater() throws {
        let dir = try TemporaryDirectory()
        let store = try IndexStore(path: dir.path("lib.sqlite").path)
        let old = try store.register(model: Make.model("a"))
        #expect(try store.model(id: old)?.configurationJSON == "{}")
        #expect(try store.register(model: Make.model("a"), configurationJSON: #"{"hiddenSize":8}"#) == old)
        #expect(try store.model(id: old)?.configurationJSON == #"{"hiddenSize":8}"#)
        // A stored configuration is never replaced by another registration of the same weights.
        _ = try store.register(model: Make.model("a"), configurationJSON: "{}")
        #expect(try store.model(id: old)?.configurationJSON == #"{"hiddenSize":8}"#)
    }

    @Test func analysisVersionIsStoredWithEachEmbedding() throws {
        let dir = try TemporaryDirectory()
        let store = try IndexStore(path: dir.path("lib.sqlite").path)
        let model = try store.register(model: Make.model("m"))
        var stale = Make.item(1, model: model)
        stale.embeddings[0].analysisVersion = FeatureConfiguration.analysisVersion + 1
        let ids = try store.commit(IndexBatch(items: [Make.item(0, model: model), stale]))
        #expect(try store.analysisVersion(track: ids[0], model: model) == FeatureConfiguration.analysisVersion)
        #expect(
            try store.tracksNeedingEmbedding(model: model, analysisVersion: FeatureConfiguration.analysisVersion)
                .map(\.id) == [ids[1]])
        #expect(try store.tracksNeedingEmbedding(model: model).isEmpty)
    }
}
