import AudioDecoding
import Foundation
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import RetrieveCore
import SequenceEncoding
import Testing
import TestSupport
import PipelineTestSupport
import VectorIndex

@Suite struct IndexerTests {
    @Test func indexesEveryGoodFileAndRecordsBadOnes() throws {
        let f = try PipelineFixture(tracks: 5)
        try Data("this is not audio".utf8).write(to: f.music.appendingPathComponent("fake.mp3"))
        try Data().write(to: f.music.appendingPathComponent("empty.wav"))
        try Data("notes".utf8).write(to: f.music.appendingPathComponent("readme.txt"))  // not audio by name: ignored
        let summary = try f.indexer().run(roots: [f.music.path])
        #expect(summary.scanned == 7)
        #expect(summary.added == 5)
        #expect(Set(summary.failures.map { ($0.path as NSString).lastPathComponent }) == ["fake.mp3", "empty.wav"])
        #expect(summary.failures.allSatisfy { !$0.reason.contains("\n") && $0.reason.contains($0.path) })
        let store = try f.store()
        #expect(try store.trackCount() == 5)
        #expect(try store.failures().count == 2)
        let track = try #require(try store.allTracks().first { $0.path.hasSuffix("track01.flac") })
        #expect(track.artist == "Artist 1" && track.title == "Song 1")
        #expect(abs(track.duration - 2) < 0.01)
        #expect(track.format.lowercased().contains("flac"))
    }

    @Test func secondRunSkipsUnchangedAndFailedFiles() throws {
        let f = try PipelineFixture(tracks: 4)
        try Data("garbage".utf8).write(to: f.music.appendingPathComponent("bad.ogg"))
        _ = try f.indexer().run(roots: [f.music.path])
        let again = try f.indexer().run(roots: [f.music.path])
        #expect(again.added == 0 && again.updated == 0 && again.unchanged == 4 && again.skippedFailures == 1)
        #expect(again.failures.isEmpty)
    }

    @Test func changedFileIsReanalysedAndMovedFileKeepsItsRow() throws {
        let f = try PipelineFixture(tracks: 4)
        _ = try f.indexer().run(roots: [f.music.path])
        let store = try f.store()
        let before = try store.allTracks()
        // Move track00 into a subfolder; rewrite track01 with a longer signal.
        let old = f.music.appendingPathComponent("track00.wav")
        try FileManager.default.createDirectory(at: f.music.appendingPathComponent("moved"), withIntermediateDirectories: true)
        let new = f.music.appendingPathComponent("moved/renamed.wav")
        try FileManager.default.moveItem(at: old, to: new)
        try f.writeTrack(index: 1, seconds: 3)
        let summary = try f.indexer().run(roots: [f.music.path])
        #expect(summary.moved == 1)
        #expect(summary.updated == 1)
        #expect(summary.added == 0)
        let after = try store.allTracks()
        #expect(after.count == 4)
        let moved = try #require(after.first { $0.path == new.path })
        #expect(moved.id == before.first { $0.path == old.path }?.id)
        #expect(abs(try #require(after.first { $0.path.hasSuffix("track01.flac") }).duration - 3) < 0.01)
    }

    /// A copy elsewhere takes over a track's row only when the old file is positively absent: a dangling symlink
    /// left in its place (a drive that is not mounted) is not absence, so the copy is a new track.
    @Test func aCopyDoesNotTakeOverATrackWhoseFileIsOnlyUnreachable() throws {
        let f = try PipelineFixture(tracks: 2)
        let old = f.music.appendingPathComponent("track00.wav")
        _ = try f.indexer().run(roots: [old.path])
        let elsewhere = f.folder.path("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let copy = elsewhere.appendingPathComponent("track00.wav")
        try FileManager.default.moveItem(at: old, to: copy)
        try FileManager.default.createSymbolicLink(atPath: old.path, withDestinationPath: "/nonexistent-drive/track00.wav")
        let summary = try f.indexer().run(roots: [elsewhere.path])
        #expect(summary.moved == 0 && summary.added == 1, "\(summary)")
        #expect(try f.store().allTracks().map(\.path).sorted() == [copy.path, old.path].sorted())
        #expect(!PrunePlan.fileIsAbsent(old.path))  // the dangling link exists
        try FileManager.default.removeItem(at: old)
        #expect(PrunePlan.fileIsAbsent(old.path))
    }

    @Test func pruneRemovesVanishedTracksOnlyUnderTheRoots() throws {
        let f = try PipelineFixture(tracks: 3)
        _ = try f.indexer().run(roots: [f.music.path])
        try FileManager.default.removeItem(at: f.music.appendingPathComponent("track02.ogg"))
        var options = Indexer.Options()
        options.prune = true
        let summary = try f.indexer(options).run(roots: [f.music.path])
        #expect(summary.removed == 1)
        #expect(try f.store().trackCount() == 2)
    }

    @Test func labelsFromACSVReachTheTracks() throws {
        let f = try PipelineFixture(tracks: 3)
        _ = try f.indexer().run(roots: [f.music.path])
        let csv = f.music.appendingPathComponent("labels.csv")
        try "path,label\ntrack00.wav,calm\ntrack01.flac,loud\nmissing.wav,gone\n".write(to: csv, atomically: true, encoding: .utf8)
        let store = try f.store()
        let labelled = try LabelledCollection.csv(csv.path)
        #expect(try store.setLabels(Dictionary(uniqueKeysWithValues: labelled.map { ($0.path, $0.label) })) == 2)
        let labels = Dictionary(uniqueKeysWithValues: try store.allTracks().map {
            (($0.path as NSString).lastPathComponent, $0.label ?? "-")
        })
        #expect(labels == ["track00.wav": "calm", "track01.flac": "loud", "track02.ogg": "-"])
        #expect(try store.setLabels(["\(f.music.path)/track00.wav": "calm"]) == 0)  // unchanged: nothing written
    }

    @Test func dryRunWritesNothing() throws {
        let f = try PipelineFixture(tracks: 3)
        var options = Indexer.Options()
        options.dryRun = true
        let summary = try f.indexer(options).run(roots: [f.music.path])
        #expect(summary.added == 3)
        #expect(try f.store().trackCount() == 0)
    }

    @Test func modelChangeReembedsExactlyTheOtherModelsTracks() throws {
        let f = try PipelineFixture(tracks: 4)
        _ = try f.indexer().run(roots: [f.music.path])
        let otherURL = f.folder.path("other.safetensors")
        let other = try PipelineFixture.makeEncoder(seed: 99, url: otherURL, name: "other")
        // Before re-indexing, queries with the new model refuse to mix vector spaces.
        #expect(throws: LibraryError.self) {
            _ = try QueryEngine(store: try f.store(), model: other.version, databasePath: f.databasePath)
        }
        let summary = try f.indexer(modelURL: otherURL).run(roots: [f.music.path])
        #expect(summary.reembedded == 4 && summary.added == 0)
        let engine = try QueryEngine(store: try f.store(), model: other.version, databasePath: f.databasePath)
        #expect(engine.count == 4)
        let third = try f.indexer(modelURL: otherURL).run(roots: [f.music.path])
        #expect(third.reembedded == 0 && third.unchanged == 4)
    }

    @Test func analysisChangeReembedsExactlyTheStaleTracksAndTheModelKeepsItsConfiguration() throws {
        let f = try PipelineFixture(tracks: 4)
        _ = try f.indexer().run(roots: [f.music.path])
        let store = try f.store()
        let usage = try #require(try store.embeddingModels().first)
        #expect(usage.model.configurationJSON.contains("\"hiddenSize\""))
        let tracks = try store.allTracks()
        // Two tracks' vectors as if an older decoder or front end had made them.
        let stale = IndexBatch(items: tracks.prefix(2).map { track in
            IndexBatch.Item(track: track, embeddings: [IndexBatch.ModelEmbedding(
                modelID: usage.model.id, embedding: try! #require(try store.embedding(track: track.id!, model: usage.model.id)),
                segmentCount: 1, analysisVersion: FeatureConfiguration.analysisVersion + 1)])
        })
        try store.commit(stale)
        let summary = try f.indexer().run(roots: [f.music.path])
        #expect(summary.reembedded == 2 && summary.unchanged == 2 && summary.added == 0)
        for track in tracks {
            #expect(try store.analysisVersion(track: track.id!, model: usage.model.id) == FeatureConfiguration.analysisVersion)
        }
    }

    @Test func interruptStopsBeforeAnalysingEverything() throws {
        let f = try PipelineFixture(tracks: 6)
        let flag = StopRequest()
        flag.raise()
        var options = Indexer.Options()
        options.batchSize = 1
        let summary = try f.indexer(options, stop: flag).run(roots: [f.music.path])
        #expect(summary.interrupted)
        #expect(summary.added < 6)
        let resumed = try f.indexer().run(roots: [f.music.path])
        #expect(resumed.added == 6 - summary.added)
        #expect(try f.store().trackCount() == 6)
    }
}

@Suite struct QueryEngineTests {
    func indexed(_ tracks: Int = 6) throws -> (PipelineFixture, QueryEngine) {
        let f = try PipelineFixture(tracks: tracks)
        _ = try f.indexer().run(roots: [f.music.path])
        return (f, try QueryEngine(store: try f.store(), model: f.encoder.version, databasePath: f.databasePath))
    }

    @Test func resultsMatchBruteForceAndExcludeTheSeed() throws {
        let (_, engine) = try indexed()
        let row = 2
        let seed = engine.embedding(row: row)
        let results = engine.similar(to: [seed], seedRows: [row], k: 3)
        #expect(results.count == 3)
        #expect(!results.contains { $0.track.id == engine.tracks[row].id })
        let brute = (0..<engine.count).filter { $0 != row }
            .map { (engine.tracks[$0].id!, engine.embedding(row: $0).cosine(seed)) }
            .sorted { $0.1 > $1.1 }.prefix(3)
        #expect(results.map(\.track.id!) == brute.map(\.0))
        #expect(results.map(\.rank) == [1, 2, 3])
    }

    @Test func anAudioFileCopyOfAnIndexedTrackDoesNotReturnItself() throws {
        let (f, engine) = try indexed()
        let copy = f.folder.path("copy.wav")
        try FileManager.default.copyItem(at: f.music.appendingPathComponent("track03.wav"), to: copy)
        guard case .audioFile(let path) = try engine.resolve(copy.path) else { Issue.record("not a file"); return }
        let analysis = try EncoderAnalyser(encoder: f.encoder).analyse(path: path)
        let own = try #require(engine.row(matchingContentOf: path))
        #expect(abs(analysis.embedding.cosine(engine.embedding(row: own)) - 1) < 1e-4)
        let results = engine.similar(to: [analysis.embedding], seedRows: [own], k: 10)
        #expect(results.count == 5)
        #expect(!results.contains { $0.track.path.hasSuffix("track03.wav") })
    }

    @Test func filtersExcludeArtistAlbumAndOtherFolders() throws {
        let (_, engine) = try indexed()
        let row = try #require(engine.tracks.firstIndex { $0.path.hasSuffix("track01.flac") })  // Artist 1, Album 1
        var filters = QueryFilters()
        filters.excludeSameArtist = true
        let noArtist = engine.similar(to: [engine.embedding(row: row)], seedRows: [row], k: 10, filters: filters)
        #expect(!noArtist.isEmpty && noArtist.allSatisfy { $0.track.artist != "Artist 1" })
        filters = QueryFilters()
        filters.excludeSameAlbum = true
        let noAlbum = engine.similar(to: [engine.embedding(row: row)], seedRows: [row], k: 10, filters: filters)
        #expect(!noAlbum.isEmpty && noAlbum.allSatisfy { $0.track.album != "Album 1" })
        filters = QueryFilters()
        filters.pathPrefixes = ["/nonexistent"]
        #expect(engine.similar(to: [engine.embedding(row: row)], seedRows: [row], k: 10, filters: filters).isEmpty)
    }

    @Test func dedupeDropsCopiesAndReencodesButKeepsDifferentRecordingsOfOneStyle() throws {
        let f = try PipelineFixture(tracks: 4)
        let decoded = try AudioDecoder().decode(f.music.appendingPathComponent("track01.flac"))
        // A re-encode of track01 (other container, other bytes) with the same tags, and a byte-identical copy.
        try AudioFileWriter.write(decoded.samples, sampleRate: 22_050, format: .wavFloat,
                                  to: f.music.appendingPathComponent("reencode.wav"),
                                  tags: ["artist": "Artist 1", "title": "Song 1"])
        try FileManager.default.createDirectory(at: f.music.appendingPathComponent("copy"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: f.music.appendingPathComponent("track01.flac"),
                                         to: f.music.appendingPathComponent("copy/track01.flac"))
        // Two different pieces of one "soundtrack": the same two chords in the other order, the same length, no
        // tags. Their style embeddings agree almost exactly; their segments, moment by moment, do not.
        let x = Signals.chord([220, 277], seconds: 2, sampleRate: 22_050)
        let y = Signals.chord([330, 392, 494], seconds: 2, sampleRate: 22_050)
        try AudioFileWriter.write(x + y, sampleRate: 22_050, format: .wav16, to: f.music.appendingPathComponent("loopA.wav"))
        try AudioFileWriter.write(y + x, sampleRate: 22_050, format: .wav16, to: f.music.appendingPathComponent("loopB.wav"))
        _ = try f.indexer(keepSegments: true).run(roots: [f.music.path])
        let engine = try QueryEngine(store: try f.store(), model: f.encoder.version, databasePath: f.databasePath)
        func row(_ name: String) throws -> Int { try #require(engine.tracks.firstIndex { $0.path.hasSuffix("/" + name) }) }
        let (a, b) = (try row("loopA.wav"), try row("loopB.wav"))
        // What fooled the old dedupe, and more: style and length agree (cosine ≈ 0.99999, both 4 s), so only the
        // time-aligned segments can tell these two apart, and they do.
        #expect(engine.embedding(row: a).cosine(engine.embedding(row: b)) >= 0.999)
        #expect(abs(engine.tracks[a].duration - engine.tracks[b].duration) < 0.01)

        var filters = QueryFilters()
        filters.dedupe = DuplicateRule()
        let names = { (results: [SimilarTrack]) in results.map { String($0.track.path.dropFirst(f.music.path.count + 1)) } }
        // Seeded with a loop: the other loop stays; of track01's three copies exactly one stays.
        let fromLoop = names(engine.similar(to: [engine.embedding(row: a)], seedRows: [a], k: 10, filters: filters))
        #expect(fromLoop.contains("loopB.wav"))
        #expect(fromLoop.filter { ["track01.flac", "copy/track01.flac", "reencode.wav"].contains($0) }.count == 1, "\(fromLoop)")
        #expect(fromLoop.count == 5)
        // Seeded with track01: its copy and its re-encode are the seed's own recording and go.
        let seed = try row("track01.flac")
        let fromSong = names(engine.similar(to: [engine.embedding(row: seed)], seedRows: [seed], k: 10, filters: filters))
        #expect(Set(fromSong) == ["track00.wav", "track02.ogg", "track03.wav", "loopA.wav", "loopB.wav"], "\(fromSong)")
        // Without dedupe everything but the seed and its byte-identical copy is returned.
        #expect(engine.similar(to: [engine.embedding(row: seed)], seedRows: [seed], k: 10).count == 6)
    }

    @Test func emptyIndexIsAClearError() throws {
        let f = try PipelineFixture(tracks: 0)
        #expect(throws: LibraryError.emptyIndex(database: f.databasePath)) {
            _ = try QueryEngine(store: try f.store(), model: f.encoder.version, databasePath: f.databasePath)
        }
    }

    @Test func exportLeavesOutCopiesOfTheSeedAsSimilarDoes() throws {
        let f = try PipelineFixture(tracks: 4)
        try FileManager.default.copyItem(at: f.music.appendingPathComponent("track00.wav"),
                                         to: f.music.appendingPathComponent("copy-of-track00.wav"))
        _ = try f.indexer().run(roots: [f.music.path])
        let engine = try QueryEngine(store: try f.store(), model: f.encoder.version, databasePath: f.databasePath)
        var exported: [Int: [String]] = [:]
        try engine.forEachTrack(k: 3) { row, results in exported[row] = results.map(\.track.path) }
        for row in 0..<engine.count {
            let single = engine.similar(to: [engine.embedding(row: row)], seedRows: [row], k: 3).map(\.track.path)
            #expect(exported[row] == single, "row \(row)")
            let name = (engine.tracks[row].path as NSString).lastPathComponent
            if name.hasSuffix("track00.wav") {
                #expect(!(exported[row] ?? []).contains { $0.hasSuffix("track00.wav") }, "\(exported[row] ?? [])")
            }
        }
        // The same through explicit seed rows (the blocked path).
        try engine.forEachTrack(k: 3, rows: Array(0..<engine.count)) { row, results in
            #expect(results.map(\.track.path) == exported[row])
        }
    }

    @Test func exportWritesEveryTrackInEachFormat() throws {
        let (f, engine) = try indexed(5)
        let exporter = Exporter(engine: engine)
        let csv = f.folder.path("out.csv").path
        #expect(try exporter.export(k: 2, format: .csv, seedRows: nil, output: csv) == 5)
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "seed_id,seed_path,rank,id,path,score")
        #expect(lines.count == 1 + 5 * 2)
        let jsonl = f.folder.path("out.jsonl").path
        _ = try exporter.export(k: 3, format: .jsonl, seedRows: [1, 2], output: jsonl)
        let objects = try String(contentsOfFile: jsonl, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        #expect(objects.count == 2)
        #expect((objects[0]["neighbours"] as! [Any]).count == 3)
        let m3u = f.folder.path("playlists").path
        _ = try exporter.export(k: 3, format: .m3u, seedRows: nil, output: m3u)
        let playlists = try FileManager.default.contentsOfDirectory(atPath: m3u)
        #expect(playlists.count == 5)
        let text = try String(contentsOfFile: m3u + "/" + playlists.sorted()[0], encoding: .utf8)
        #expect(text.hasPrefix("#EXTM3U\n#EXTINF:2,Artist"))
        #expect(text.components(separatedBy: "#EXTINF").count == 1 + 4)
        // Export rows agree with single queries.
        var fromExport: [Int: [TrackID]] = [:]
        try engine.forEachTrack(k: 2) { row, results in fromExport[row] = results.map { $0.track.id! } }
        for row in 0..<engine.count {
            let single = engine.similar(to: [engine.embedding(row: row)], seedRows: [row], k: 2).map { $0.track.id! }
            #expect(fromExport[row] == single)
        }
    }
}
