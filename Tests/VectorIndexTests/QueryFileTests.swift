import Foundation
import GRDB
import Testing
import TestSupport
@testable import VectorIndex

/// Runs every `Queries/*.sql` against a populated index so the shell queries cannot rot with the schema.
///
/// Each file must run without error and return rows, unless its first line says `-- may be empty`.
@Suite struct QueryFileTests {
    static let queriesDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Queries")

    @Test func everyQueryFileRuns() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.queriesDirectory.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.count >= 10)

        let dir = try TemporaryDirectory()
        let path = dir.path("library.sqlite").path
        let store = try IndexStore(path: path)
        let old = try store.register(model: Make.model("old"))
        let new = try store.register(model: Make.model("new"))
        var items = (0..<12).map {
            Make.item($0, model: old, artist: ["A", "B", nil][$0 % 3], album: ["X", "Y"][$0 % 2], segments: $0 % 3)
        }
        items[11].track.contentHash = items[10].track.contentHash  // a duplicate
        try store.commit(
            IndexBatch(
                items: items,
                failures: [
                    FailureRecord(
                        path: "/music/bad.mp3", kind: "decode", reason: "truncated frame", size: 5, modificationTime: 1),
                    FailureRecord(
                        path: "/music/odd.m4a", kind: "unsupported", reason: "no decoder", size: 7, modificationTime: 1),
                ]))
        try store.commit(
            IndexBatch(
                items: (0..<4).map {
                    Make.item($0, model: new, artist: ["A", "B", nil][$0 % 3], album: ["X", "Y"][$0 % 2])
                }))

        let queue = try DatabaseQueue(
            path: path,
            configuration: {
                var c = Configuration(); c.readonly = true; return c
            }())
        for file in files {
            let sql = try String(contentsOf: Self.queriesDirectory.appendingPathComponent(file), encoding: .utf8)
            let mayBeEmpty = sql.hasPrefix("-- may be empty")
            let rows = try queue.read { db -> Int in
                let statements = try db.allStatements(sql: sql)
                var rows = 0
                while let statement = try statements.next() { rows += try Row.fetchAll(statement).count }
                return rows
            }
            #expect(mayBeEmpty ? rows == 0 : rows > 0, "\(file) returned \(rows) rows")
        }
    }

    @Test func missingNewestModelQueryAgreesWithAPI() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("library.sqlite").path
        let store = try IndexStore(path: path)
        let old = try store.register(model: Make.model("old"))
        try store.commit(IndexBatch(items: (0..<5).map { Make.item($0, model: old) }))
        let new = try store.register(model: Make.model("new"))
        try store.commit(IndexBatch(items: [1, 4].map { Make.item($0, model: new) }))
        let sql = try String(
            contentsOf: Self.queriesDirectory.appendingPathComponent("missing_newest_model.sql"), encoding: .utf8)
        let ids = try DatabaseQueue(path: path).read { db in try Int64.fetchAll(db, sql: sql) }
        #expect(Set(ids) == Set(try store.tracksNeedingEmbedding(model: new).compactMap { $0.id?.rawValue }))
        #expect(ids.count == 3)
    }
}
