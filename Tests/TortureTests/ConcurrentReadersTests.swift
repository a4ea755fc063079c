import AudioDecoding
import Foundation
import Synchronization
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import SequenceEncoding
import Testing
import TestSupport
import VectorIndex
#if canImport(Glibc)
import Glibc
#endif

/// Queries while `retrieve index` writes: readers see committed states only, never an error.
@Suite(.serialized) struct ConcurrentReadersTests {
    /// In-process readers (a fresh `IndexStore` and `QueryEngine` per query) and `retrieve similar ID --json` and
    /// `retrieve stats --json` child processes, all in loops while another process indexes.
    @Test func readersDuringAnIndexRunSeeOnlyCommittedStates() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-torture-readers")
        let music = folder.path("music")
        let model = folder.path("model.safetensors")
        let encoder = try Torture.makeModel(at: model, seed: 21)
        let total = TortureMode.isLong ? 60 : 30
        for i in 0..<total {
            let sub = i < 4 ? "a" : "b"
            try FileManager.default.createDirectory(at: music.appendingPathComponent(sub), withIntermediateDirectories: true)
            try AudioFileWriter.write(Torture.tone(i, seconds: 4), sampleRate: 22_050, format: i % 2 == 0 ? .wav16 : .flac16,
                                      to: music.appendingPathComponent(String(format: "%@/t%03d.%@", sub, i,
                                                                             i % 2 == 0 ? "wav" : "flac")))
        }
        let db = folder.path("index.sqlite").path
        let location = ["--db", db, "--model", model.path]
        // Seed the index with folder a, so queries have something to find from the start.
        let first = try runRetrieve(["index", music.appendingPathComponent("a").path, "-q"] + location, in: folder.url)
        try #require(first.exit.status == 0, "\(first.stderr)")

        let counts = Mutex<[Int]>([])
        let problems = Mutex<[String]>([])
        let queries = Mutex(0)
        let done = Mutex(false)
        let group = DispatchGroup()
        // In-process readers: open, load the vectors, query, check every answer against the snapshot it came from.
        for reader in 0..<2 {
            DispatchQueue.global().async(group: group) {
                var last = 0
                while !done.withLock({ $0 }) {
                    do {
                        let store = try IndexStore(path: db)
                        let engine = try QueryEngine(store: store, model: encoder.version, databasePath: db)
                        let ids = Set(engine.tracks.compactMap(\.id))
                        guard engine.count >= last else {
                            problems.withLock { $0.append("reader \(reader): track count went \(last) → \(engine.count)") }
                            break
                        }
                        last = engine.count
                        counts.withLock { $0.append(engine.count) }
                        let results = engine.similar(to: [engine.embedding(row: 0)], seedRows: [0], k: 5)
                        if results.count != min(5, engine.count - 1) || !results.allSatisfy({ ids.contains($0.track.id!) }) {
                            problems.withLock { $0.append("reader \(reader): \(results.count) results of \(engine.count)") }
                        }
                        queries.withLock { $0 += 1 }
                    } catch {
                        problems.withLock { $0.append("reader \(reader): \(error)") }
                    }
                }
            }
        }
        // The writer starts once both readers are querying: on a fast machine it indexes the collection in well
        // under a second, which readers that were still starting up would miss entirely.
        let readersReady = Date().addingTimeInterval(30)
        while queries.withLock({ $0 }) < 2 && problems.withLock({ $0.isEmpty }) && Date() < readersReady {
            Thread.sleep(forTimeInterval: 0.01)
        }
        let writer = try Child(try RetrieveBinary.require(), ["index", music.path, "-q", "--batch-size", "1", "--jobs", "1"]
                               + location, output: folder.path("writer"))
        let queriesBeforeWriter = queries.withLock { $0 }
        // Child-process readers.
        var childQueries = 0, lastStats = 0
        while !writer.hasExited {
            let similar = try runRetrieve(["similar", "1", "--json", "--k", "3"] + location, in: folder.url)
            if similar.exit.status != 0 || !similar.stderr.isEmpty {
                problems.withLock { $0.append("retrieve similar: \(similar.exit) \(similar.stderr)") }
            } else if case let answers = similar.stdout.split(separator: "\n").compactMap({
                          try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }),  // JSON Lines
                      answers.count == 3 {
                childQueries += 1
            } else {
                problems.withLock { $0.append("retrieve similar printed: \(similar.stdout)") }
            }
            let stats = try runRetrieve(["stats", "--json"] + location, in: folder.url)
            if stats.exit.status != 0 || !stats.stderr.isEmpty {
                problems.withLock { $0.append("retrieve stats: \(stats.exit) \(stats.stderr)") }
            } else if let object = try? JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any],
                      let tracks = object["tracks"] as? Int {
                if tracks < lastStats { problems.withLock { $0.append("stats went \(lastStats) → \(tracks)") } }
                lastStats = tracks
                childQueries += 1
            }
        }
        done.withLock { $0 = true }
        group.wait()
        let exit = writer.wait()
        #expect(exit.status == 0, "writer: \(exit)\n\(writer.standardError)")
        let seen = counts.withLock { $0 }
        #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0 })")
        #expect(queries.withLock { $0 } > queriesBeforeWriter && childQueries > 0)
        #expect(Set(seen).count > 1, "readers never saw the index grow: \(Set(seen).sorted())")
        #expect(try IndexSnapshot.read(db).tracks.count == total)
        print("readers: \(queries.withLock { $0 }) in-process queries, \(childQueries) child-process queries, "
              + "track counts seen \(Set(seen).sorted()), problems: \(problems.withLock { $0 }.count)")
    }

    /// Readers that start while the first run is still creating the index: they may be told there is no index
    /// yet, but never see a half-made schema, a busy database or a crash.
    ///
    /// This caught a reader opening the file between GRDB creating `grdb_migrations` and the first migration
    /// committing, and calling it another application's database.
    @Test func readersDuringIndexCreation() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-torture-create")
        let music = folder.path("music")
        let model = folder.path("model.safetensors")
        try Torture.makeModel(at: model, seed: 22)
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        for i in 0..<6 {
            try AudioFileWriter.write(Torture.tone(i, seconds: 4), sampleRate: 22_050, format: .wav16,
                                      to: music.appendingPathComponent("t\(i).wav"))
        }
        for attempt in 0..<(TortureMode.isLong ? 20 : 4) {
            let db = folder.path("index\(attempt).sqlite").path
            let location = ["--db", db, "--model", model.path]
            let writer = try Child(try RetrieveBinary.require(), ["index", music.path, "-q", "--batch-size", "1"] + location,
                                   output: folder.path("writer\(attempt)"))
            var outcomes: [String] = []
            while !writer.hasExited {
                let stats = try runRetrieve(["stats", "--json"] + location, in: folder.url)
                if stats.exit.status == 0 {
                    outcomes.append("ok")
                } else {
                    // Before the file exists: no index; before its schema is complete, a read-only open
                    // refuses it as not yet migrated. Both are one clear line; nothing else is acceptable.
                    let expected = stats.stderr.hasPrefix("retrieve: no index at")
                        || stats.stderr.contains("uses an older schema")
                    #expect(stats.exit.status == 1 && expected && stats.stderr.split(separator: "\n").count == 1,
                            "stats during creation: \(stats.exit) \(stats.stderr.debugDescription)")
                    outcomes.append("none")
                }
            }
            #expect(writer.wait().status == 0, "\(writer.standardError)")
            #expect(try IndexSnapshot.read(db).tracks.count == 6)
        }
    }
}

/// Queries while tracks are being removed: a reader must never meet a vector whose track has just gone.
@Test func queriesWhileTracksAreRemoved() throws {
    let folder = try TemporaryDirectory(prefix: "retrieve-torture-remove")
    let music = folder.path("music")
    let model = folder.path("model.safetensors")
    let encoder = try Torture.makeModel(at: model, seed: 23)
    try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
    let total = 16
    for i in 0..<total {
        try AudioFileWriter.write(Torture.tone(i, seconds: 0.5), sampleRate: 22_050, format: .wav16,
                                  to: music.appendingPathComponent(String(format: "t%02d.wav", i)))
    }
    let db = folder.path("index.sqlite").path
    let run = try runRetrieve(["index", music.path, "--db", db, "--model", model.path, "-q"], in: folder.url)
    try #require(run.exit.status == 0, "\(run.stderr)")
    let writer = try IndexStore(path: db)
    let ids = try writer.allTracks().compactMap(\.id)
    let problems = Mutex<[String]>([])
    let done = Mutex(false)
    let queries = Mutex(0)
    let group = DispatchGroup()
    for reader in 0..<2 {
        DispatchQueue.global().async(group: group) {
            var last = Int.max
            while !done.withLock({ $0 }) {
                do {
                    let engine = try QueryEngine(store: try IndexStore(path: db, readOnly: true), model: encoder.version,
                                                 databasePath: db)
                    if engine.count > last { problems.withLock { $0.append("reader \(reader): count grew") } }
                    last = engine.count
                    _ = engine.similar(to: [engine.embedding(row: 0)], seedRows: [0], k: 3)
                    queries.withLock { $0 += 1 }
                } catch LibraryError.emptyIndex {
                    break
                } catch {
                    problems.withLock { $0.append("reader \(reader): \(error)") }
                }
            }
        }
    }
    let start = Date()
    while queries.withLock({ $0 }) < 2 && Date().timeIntervalSince(start) < 30 { Thread.sleep(forTimeInterval: 0.01) }
    for id in ids.dropLast() {
        _ = try writer.removeTracks(ids: [id])
        Thread.sleep(forTimeInterval: 0.02)
    }
    done.withLock { $0 = true }
    group.wait()
    #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0 })")
    #expect(queries.withLock { $0 } > 0)
}
