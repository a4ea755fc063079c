import Foundation
import GRDB
import RetrieveCore
import Testing
import TestSupport
@testable import VectorIndex

/// Read-only opens: the choice between shared, immutable and refused; no file is written or created; older
/// schemas are never migrated by a read-only store.
///
/// Tests usually run as root, whom file modes do not stop, so an unwritable folder is taken through
/// `folderWritable: false` (the path `access(2)` chooses for a read-only mount or a folder the user cannot
/// write); `unwritableFolderAsAnotherUser` also changes the modes for real when the tests run as another user.
/// TortureTests' `ReadOnlyIndexTests` runs the CLI as user `nobody` on a root-owned folder.
@Suite struct ReadOnlyOpeningTests {
    /// A closed index of 3 tracks at `dir/name`, with no `-wal` or `-shm` left beside it.
    static func makeIndex(in dir: TemporaryDirectory, _ name: String = "lib.sqlite") throws -> String {
        let path = dir.path(name).path
        do {
            let store = try IndexStore(path: path)
            let model = try store.register(model: Make.model("m"))
            try store.commit(IndexBatch(items: (0..<3).map { Make.item($0, model: model) }))
        }
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "closing the pool checkpoints the log")
        return path
    }

    static func files(in dir: TemporaryDirectory) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.url.path) {
            out[name] = try Data(contentsOf: dir.path(name))
        }
        return out
    }

    @Test func accessFollowsFolderLogAndSharedMemory() {
        #expect(ReadOnlyAccess(folderWritable: true, logBytes: nil, sharedMemoryExists: false) == .shared)
        #expect(ReadOnlyAccess(folderWritable: true, logBytes: 4152, sharedMemoryExists: false) == .shared)
        #expect(ReadOnlyAccess(folderWritable: false, logBytes: nil, sharedMemoryExists: false) == .immutable)
        #expect(ReadOnlyAccess(folderWritable: false, logBytes: 0, sharedMemoryExists: true) == .immutable)
        #expect(ReadOnlyAccess(folderWritable: false, logBytes: 4152, sharedMemoryExists: true) == .shared)
        #expect(ReadOnlyAccess(folderWritable: false, logBytes: 4152, sharedMemoryExists: false) == .blockedLog)
    }

    @Test func unwritableFolderWithoutLogOpensImmutableAndWritesNothing() throws {
        let dir = try TemporaryDirectory()
        let path = try Self.makeIndex(in: dir)
        let before = try Self.files(in: dir)
        do {
            let store = try IndexStore(path: path, readOnly: true, folderWritable: false)
            #expect(store.database is DatabaseQueue)
            #expect(try store.trackCount() == 3)
            #expect(try store.statistics().models.first?.embeddingCount == 3)
            let model = try #require(try store.embeddingModels().first).model.id
            #expect(try store.loadVectors(model: model).ids.count == 3)
            // A write through a read-only store is refused with the read-only sentence, the cause kept.
            let error = try #require(throws: IndexError.self) { try store.removeTracks(ids: [TrackID(1)]) }
            guard case .database(let failure) = error else { Issue.record("\(error)"); return }
            #expect(failure.kind == .readOnly && failure.databaseError?.resultCode == .SQLITE_READONLY)
            #expect(error.description.contains(path) && error.description.contains("copy the file to a writable folder"))
            #expect(error.description.contains("removing") && !error.description.contains("SQLite error"))
        }
        #expect(try Self.files(in: dir) == before, "no -wal or -shm created, no byte changed")
    }

    @Test func unwritableFolderWithCommitsInTheLog() throws {
        // A writer that never checkpoints leaves its commits in the -wal; copies of the file with and without
        // the -shm stand for a shared folder whose owner's writer is running, or crashed.
        let source = try TemporaryDirectory()
        let path = try Self.makeIndex(in: source)
        let writer = try DatabaseQueue(path: path)
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            try db.execute(sql: "UPDATE tracks SET title = 'in the log' WHERE id = 1")
        }
        let withShm = try TemporaryDirectory(), withoutShm = try TemporaryDirectory()
        for (dir, suffixes) in [(withShm, ["", "-wal", "-shm"]), (withoutShm, ["", "-wal"])] {
            for suffix in suffixes {
                try FileManager.default.copyItem(atPath: path + suffix, toPath: dir.path("lib.sqlite").path + suffix)
            }
        }
        try writer.close()

        let blocked = withoutShm.path("lib.sqlite").path
        let before = try Self.files(in: withoutShm)
        #expect(throws: IndexError.unreadableLog(path: blocked)) {
            try IndexStore(path: blocked, readOnly: true, folderWritable: false)
        }
        #expect(IndexError.unreadableLog(path: blocked).description.contains("wal_checkpoint"))
        #expect(try Self.files(in: withoutShm) == before)

        let shared = try IndexStore(path: withShm.path("lib.sqlite").path, readOnly: true, folderWritable: false)
        #expect(try shared.track(id: TrackID(1))?.title == "in the log")
        // The remedy for the blocked case: the file and its -wal copied into a writable folder read completely.
        let copied = try IndexStore(path: blocked, readOnly: true, folderWritable: true)
        #expect(try copied.track(id: TrackID(1))?.title == "in the log")
    }

    /// With the tests running as a user other than root, the folder's write permission is really taken away.
    @Test(.enabled(if: getuid() != 0)) func unwritableFolderAsAnotherUser() throws {
        let dir = try TemporaryDirectory()
        let path = try Self.makeIndex(in: dir)
        chmod(dir.url.path, 0o555)
        chmod(path, 0o444)
        defer { chmod(dir.url.path, 0o755) }
        #expect(try IndexStore.openForReading(path: path).trackCount() == 3)
        #expect(throws: IndexError.self) { try IndexStore(path: path) }
    }

    /// An index of schema v1 only (as written by builds before the analysis version).
    static func makeVersion1Index(in dir: TemporaryDirectory) throws -> String {
        let path = dir.path("old.sqlite").path
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        try Schema.migrator.migrate(queue, upTo: "v1-initial")
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO models (id, name, digest, dimensions, created_at) VALUES (1, 'm', 'mmmm', 2, 0);
                    INSERT INTO tracks (id, path, size, mtime, content_hash, duration, sample_rate, channels, format,
                        added_at, updated_at) VALUES (1, '/music/a.flac', 1, 1, 'h1:1:a', 60, 44100, 2, 'flac', 0, 0);
                    INSERT INTO embeddings (track_id, model_id, vector, segment_count, created_at)
                        VALUES (1, 1, x'0000803f00000000', 1, 0);
                    """)
        }
        try queue.close()
        return path
    }

    @Test func outdatedSchemaIsNeverMigratedReadOnly() throws {
        let dir = try TemporaryDirectory()
        let path = try Self.makeVersion1Index(in: dir)
        let before = try Self.files(in: dir)
        #expect(throws: IndexError.outdatedSchema(path: path)) { try IndexStore(path: path, readOnly: true) }
        #expect(throws: IndexError.outdatedSchema(path: path)) {
            try IndexStore.openForReading(path: path, writable: false)
        }
        #expect(IndexError.outdatedSchema(path: path).description.contains("with write access"))
        #expect(try Self.files(in: dir) == before)
    }

    @Test func openForReadingUpgradesAWritableOldIndexKeepingItsVectors() throws {
        let dir = try TemporaryDirectory()
        let path = try Self.makeVersion1Index(in: dir)
        let store = try IndexStore.openForReading(path: path)
        #expect(try store.trackCount() == 1)
        #expect(try store.embedding(track: TrackID(1), model: 1)?.values == [1, 0])
        // Vectors written before the analysis version existed were made by analysis version 1.
        #expect(try store.analysisVersion(track: TrackID(1), model: 1) == 1)
        #expect(try store.tracksNeedingEmbedding(model: 1, analysisVersion: 1).isEmpty)
        #expect(try store.tracksNeedingEmbedding(model: 1, analysisVersion: 2).map(\.path) == ["/music/a.flac"])
        #expect(try store.model(id: 1)?.configurationJSON == "{}")
        #expect(try store.database is DatabasePool && IndexStore.userVersion(of: path) == Int32(Schema.version))
    }
}
