import AudioDecoding
import Foundation
@testable import Analysis
import GRDB
import Library
import SimilaritySearch
import SpectralFeatures
import RetrieveCore
import SequenceEncoding
import Testing
import TestSupport
import PipelineTestSupport
import VectorIndex

/// A model with a timbre reference set: the index stores each track's profile, and "more like this" ranks by the
/// hybrid `retrieve evaluate` measures.
@Suite struct TimbreRankingTests {
    func indexed(_ tracks: Int = 8) throws -> (PipelineFixture, QueryEngine) {
        let f = try PipelineFixture(tracks: tracks, timbre: true)
        _ = try f.indexer().run(roots: [f.music.path])
        return (f, try QueryEngine(store: try f.store(), model: f.encoder.version, databasePath: f.databasePath))
    }

    /// Every track's stored profile is what `TimbreAnalysis` makes of its whole decoded log-mel (the streamed
    /// frames are the batch ones), normalised against the model's reference.
    @Test func theIndexStoresEachTracksProfile() throws {
        let (f, engine) = try indexed(4)
        let analyser = try EncoderAnalyser(encoder: f.encoder)
        let reference = try #require(analyser.timbreReference)
        let store = try f.store()
        let modelID = try #require(try Self.modelID(store, digest: f.encoder.version.digest))
        let ids = engine.catalog.ids
        #expect(try store.tracksWithTimbre(model: modelID) == Set(ids))
        let stored = try store.timbres(tracks: ids, model: modelID)
        let extractor = try FeatureExtractor(configuration: f.encoder.configuration.features)
        for (row, id) in ids.enumerated() {
            let samples = try AudioDecoder(targetSampleRate: f.encoder.configuration.features.sampleRate)
                .decode(URL(fileURLWithPath: engine.track(row: row).path)).samples
            let g = TimbreAnalysis.gaussians(
                logMel: extractor.logMel(samples), configuration: f.encoder.configuration.features)
            let expected = reference.profile(full: g.full, lowBand: g.lowBand)
            #expect(!expected.isEmpty)
            #expect(stored[id] == expected.packed)
        }
    }

    /// In a collection smaller than the pool, the ranking is exactly `TimbreSimilarity.hybrid` over the query's
    /// candidates (every track but the seed), as evaluation scores it, its best re-ranked by
    /// `SharedNeighbours.adjusted` with the candidates' hybrid with each other on the query's scale; the scores are
    /// those. With `neighbourWeight` 0 the hybrid alone.
    @Test(arguments: [TimbreSimilarity.hybridWeight, 0.9])
    func smallCollectionsRankByTheEvaluatedHybrid(weight: Double) throws {
        // More candidates than `SharedNeighbours.neighbours`, or the re-ranking leaves them as they are.
        let (f, engine) = try indexed(SharedNeighbours.neighbours + 4)
        engine.timbreWeight = weight
        let profiles = try profiles(f, engine)
        let n = engine.count
        func cosine(_ a: Int, _ b: Int) -> Double { Double(engine.embedding(row: a).cosine(engine.embedding(row: b))) }
        var movedByNeighbours = false, differsFromCosine = false
        for seed in 0..<n {
            let cosines = (0..<n).map { cosine($0, seed) }
            let timbre = (0..<n).map { profiles[seed].similarity(to: profiles[$0]) }
            let hybrid = TimbreSimilarity.hybrid(model: cosines, timbre: timbre, weight: weight, excluding: seed)
            let others = (0..<n).filter { $0 != seed }
            let (ms, ts) = TimbreSimilarity.spreads(model: cosines, timbre: timbre, excluding: seed)
            let pairwise = others.flatMap { x in
                others.map { y in
                    x == y ? Double.nan : TimbreSimilarity.mixed(
                        model: cosine(x, y), timbre: profiles[x].similarity(to: profiles[y]), modelSpread: ms,
                        timbreSpread: ts, weight: weight)
                }
            }
            let adjusted = SharedNeighbours.adjusted(scores: others.map { hybrid[$0] }, pairwise: pairwise)
            let score = Dictionary(uniqueKeysWithValues: zip(others, adjusted))
            let expected = others.sorted { score[$0]! > score[$1]! }
            let results = engine.similar(to: [engine.embedding(row: seed)], seedRows: [seed], k: 7)
            #expect(results.map(\.track.id) == expected.prefix(7).map { engine.tracks[$0].id })
            for r in results {
                #expect(abs(Double(r.score) - score[engine.row(of: r.track.id!)!]!) < 1e-5)
            }
            let byHybrid = others.sorted { hybrid[$0] > hybrid[$1] }
            engine.neighbourWeight = 0
            let plain = engine.similar(to: [engine.embedding(row: seed)], seedRows: [seed], k: 7)
            engine.neighbourWeight = SharedNeighbours.weight
            #expect(plain.map(\.track.id) == byHybrid.prefix(7).map { engine.tracks[$0].id })
            movedByNeighbours = movedByNeighbours || byHybrid.prefix(7) != expected.prefix(7)
            differsFromCosine = differsFromCosine || others.sorted { cosines[$0] > cosines[$1] } != byHybrid
        }
        // Each step changes the order somewhere, or the test could not tell them apart.
        #expect(movedByNeighbours && differsFromCosine)
    }

    /// A track whose stored profile is missing (an index written by an older build) or damaged still takes part:
    /// it counts as the mean timbre, to the query and to the other candidates in the shared-neighbour step, and
    /// every score stays finite.
    @Test func tracksWithoutAReadableProfileStillRank() throws {
        let (f, engine) = try indexed()
        let (missing, damaged) = (engine.catalog.ids[2], engine.catalog.ids[5])
        try DatabaseQueue(path: f.databasePath).write { db in
            try db.execute(sql: "UPDATE embeddings SET timbre = NULL WHERE track_id = ?", arguments: [missing.rawValue])
            try db.execute(sql: "UPDATE embeddings SET timbre = zeroblob(40) WHERE track_id = ?",
                           arguments: [damaged.rawValue])
        }
        let reopened = try QueryEngine(store: try f.store(), model: f.encoder.version, databasePath: f.databasePath)
        for seed in [0, 3] {
            let results = reopened.similar(to: [reopened.embedding(row: seed)], seedRows: [seed], k: 7)
            #expect(results.count == 7 && results.allSatisfy { $0.score.isFinite })
            #expect(Set(results.compactMap(\.track.id)).isSuperset(of: [missing, damaged]))
        }
        // A seed without a profile is ranked by the embedding alone: its results' scores are their cosines.
        let seed = try #require(reopened.row(of: missing))
        let query = reopened.embedding(row: seed)
        let plain = reopened.similar(to: [query], seedRows: [seed], k: 7)
        #expect(plain.count == 7)
        for r in plain {
            let id = try #require(r.track.id)
            let row = try #require(reopened.row(of: id))
            #expect(abs(r.score - reopened.embedding(row: row).cosine(query)) < 1e-6)
        }
    }

    /// Weight 0 ranks by the cosine alone, with cosines as scores.
    @Test func weightZeroIsTheEmbeddingAlone() throws {
        let (_, engine) = try indexed()
        engine.timbreWeight = 0
        let seed = engine.embedding(row: 1)
        let results = engine.similar(to: [seed], seedRows: [1], k: 4)
        let brute = (0..<engine.count).filter { $0 != 1 }.sorted {
            engine.embedding(row: $0).cosine(seed) > engine.embedding(row: $1).cosine(seed)
        }
        #expect(results.map(\.track.id) == brute.prefix(4).map { engine.tracks[$0].id })
        #expect(results.allSatisfy { abs($0.score - engine.embedding(row: engine.row(of: $0.track.id!)!).cosine(seed)) < 1e-6 })
    }

    /// A collection larger than the pool: only the embedding's nearest `timbrePool` are ranked again, standardised
    /// by the spreads over evenly spaced rows (here every row but the seed).
    @Test func largeCollectionsRankTheEmbeddingsNearestAgain() throws {
        let (f, engine) = try indexed()
        engine.timbrePool = 4
        let profiles = try profiles(f, engine)
        let seed = 3
        let results = engine.similar(to: [engine.embedding(row: seed)], seedRows: [seed], k: 3)
        let cosines = (0..<engine.count).map { Double(engine.embedding(row: $0).cosine(engine.embedding(row: seed))) }
        let others = (0..<engine.count).filter { $0 != seed }
        let pool = others.sorted { cosines[$0] > cosines[$1] }.prefix(4)
        let timbre = (0..<engine.count).map { profiles[seed].similarity(to: profiles[$0]) }
        let ms = TimbreSimilarity.Spread(others.map { cosines[$0] })
        let ts = TimbreSimilarity.Spread(others.map { timbre[$0] })
        let mixed = { (r: Int) in
            TimbreSimilarity.mixed(model: cosines[r], timbre: timbre[r], modelSpread: ms, timbreSpread: ts)
        }
        let expected = pool.sorted { mixed($0) > mixed($1) }.prefix(3)
        #expect(results.map(\.track.id) == expected.map { engine.tracks[$0].id })
        #expect(results.allSatisfy { pool.contains(engine.row(of: $0.track.id!)!) })
    }

    /// An export recommends for each track what `similar` answers for it alone — the mix and the shared-neighbour
    /// step, here in a collection larger than the pool (the spreads from a sample) — for every track and for
    /// listed seeds: a track's byte-identical copy is not among its recommendations, a seed without a readable
    /// profile is ranked by the cosine, and each result carries its cosine.
    @Test(arguments: [nil, [6, 1, 8]] as [[Int]?])
    func anExportRecommendsWhatSimilarAnswersForEachTrack(rows: [Int]?) throws {
        let f = try PipelineFixture(tracks: 9, timbre: true)
        let first = try #require(try FileManager.default.contentsOfDirectory(atPath: f.music.path).sorted().first)
        try FileManager.default.copyItem(
            at: f.music.appendingPathComponent(first), to: f.music.appendingPathComponent("copy of " + first))
        _ = try f.indexer().run(roots: [f.music.path])
        var engine = try QueryEngine(store: try f.store(), model: f.encoder.version, databasePath: f.databasePath)
        let withoutProfile = engine.catalog.ids[4]
        try DatabaseQueue(path: f.databasePath).write { db in
            try db.execute(
                sql: "UPDATE embeddings SET timbre = NULL WHERE track_id = ?", arguments: [withoutProfile.rawValue])
        }
        engine = try QueryEngine(store: try f.store(), model: f.encoder.version, databasePath: f.databasePath)
        engine.timbrePool = 6
        let k = 4
        var exported: [Int: [SimilarTrack]] = [:]
        try engine.forEachTrack(k: k, rows: rows, threads: 2) { exported[$0] = $1 }
        let seeds = rows ?? Array(0..<engine.count)
        #expect(exported.count == seeds.count)
        var differsFromCosine = false
        for row in seeds {
            let got = try #require(exported[row])
            let alone = engine.similar(to: [engine.embedding(row: row)], seedRows: [row], k: k)
            #expect(got.map(\.track.id) == alone.map(\.track.id), "seed \(row)")
            for (a, b) in zip(got, alone) {
                #expect(abs(a.score - b.score) < 1e-5 && abs(a.cosine - b.cosine) < 1e-5, "seed \(row)")
                let cosine = engine.embedding(row: row).cosine(engine.embedding(row: engine.row(of: a.track.id!)!))
                #expect(abs(a.cosine - cosine) < 1e-5)
            }
            let hash = engine.track(row: row).contentHash
            #expect(!got.contains { $0.track.contentHash == hash }, "seed \(row) recommends its own copy")
            if engine.catalog.ids[row] == withoutProfile {
                #expect(got.allSatisfy { $0.score == $0.cosine })
            } else {
                differsFromCosine = differsFromCosine || got.contains { $0.score != $0.cosine }
            }
        }
        #expect(differsFromCosine)
        // The copy's pair is in the collection and among the seeds of the full export.
        if rows == nil {
            let copies = Dictionary(grouping: 0..<engine.count) { engine.track(row: $0).contentHash }
            #expect(copies.values.contains { $0.count == 2 })
        }
    }

    /// An export by the mix resumed at a block boundary writes for every later seed exactly what a whole export
    /// writes, though its memory of pairs starts empty: a library of a block and more (the fixture's profiles
    /// cycled, embeddings seeded), larger than the pool, so the spreads come from the sample.
    @Test func anExportByTheMixResumesExactly() throws {
        let (f, engine) = try indexed(9)
        let profiles = try profiles(f, engine)
        let dir = try TemporaryDirectory(prefix: "retrieve-export-mix")
        let path = dir.path("library.sqlite").path
        let store = try IndexStore(path: path)
        let modelID = try store.register(model: f.encoder.version)
        var rng = SeededGenerator(seed: 7)
        let count = QueryEngine.exportBlock + 40
        let items = (0..<count).map { n in
            IndexBatch.Item(
                track: TrackRecord(
                    path: "/music/\(n).flac", size: 1, modificationTime: 1, contentHash: "h\(n)", duration: 60,
                    sampleRate: 22_050, channels: 1, format: "flac"),
                embeddings: [
                    .init(
                        modelID: modelID,
                        embedding: Embedding(normalising: (0..<f.encoder.version.dimensions).map { _ in rng.nextGaussian() }),
                        segmentCount: 1, timbre: profiles[n % profiles.count].packed)
                ])
        }
        try store.commit(IndexBatch(items: items))
        let library = try QueryEngine(store: store, model: f.encoder.version, databasePath: path)
        #expect(library.count > library.timbrePool)
        var whole: [Int: [SimilarTrack]] = [:]
        try library.forEachTrack(k: 5, threads: 2) { whole[$0] = $1 }
        var resumed: [Int: [SimilarTrack]] = [:]
        try library.forEachTrack(k: 5, startingAt: QueryEngine.exportBlock, threads: 2) { resumed[$0] = $1 }
        #expect(resumed.keys.sorted() == Array(QueryEngine.exportBlock..<count))
        for (row, results) in resumed { #expect(results == whole[row], "seed \(row)") }
        #expect(whole.count == count && whole.values.contains { $0.contains { $0.score != $0.cosine } })
    }

    /// An export remembers one similarity per unordered pair of tracks (`TimbrePairs`), whichever track asked:
    /// the stored profiles' similarity is symmetric to the bit, so what it remembers cannot depend on the order
    /// the seeds came in (nor a resumed export differ from a whole one).
    @Test func profileSimilarityIsSymmetricToTheBit() throws {
        let (f, engine) = try indexed(6)
        let profiles = try profiles(f, engine)
        for a in profiles.indices {
            for b in profiles.indices where a < b {
                let (ab, ba) = (profiles[a].similarity(to: profiles[b]), profiles[b].similarity(to: profiles[a]))
                #expect(ab.bitPattern == ba.bitPattern && ab.isFinite, "\(a), \(b): \(ab) vs \(ba)")
            }
        }
    }

    /// A resumed export continues only under the same ranking: the mix's settings are part of its fingerprint
    /// (the shared-neighbour weight only while timbre ranks).
    @Test func anExportsFingerprintNamesItsRanking() throws {
        let (_, engine) = try indexed(3)
        let mixed = try engine.exportFingerprint()
        engine.neighbourWeight = 0.5
        let otherNeighbours = try engine.exportFingerprint()
        engine.timbreWeight = 0
        let cosine = try engine.exportFingerprint()
        engine.neighbourWeight = SharedNeighbours.weight
        #expect(Set([mixed, otherNeighbours, cosine]).count == 3)
        #expect(try engine.exportFingerprint() == cosine)
    }

    /// A radio of an engine's playlist source picks, at each step, the best eligible track by the mix — the
    /// cosine with the step's direction `c + last` and the timbre similarity to the seeds' profiles and the last
    /// track's, half each (the seeds' half shared equally), standardised over the eligible tracks — moved by
    /// shared neighbours, worked out here from the parts; each entry still reports its cosine with the step's
    /// direction. With `timbreWeight` 0 the source has no ranker and the radio is the cosine's, which differs
    /// somewhere.
    @Test func aRadioPicksEachStepByTheMix() throws {
        let (f, engine) = try indexed(9)
        let profiles = try profiles(f, engine)
        let n = engine.count
        func vector(_ row: Int) -> [Float] { engine.embedding(row: row).values }
        let cosine = { (a: Int, b: Int) in Double(engine.embedding(row: a).cosine(engine.embedding(row: b))) }
        /// The next pick after `history` (seeds, then picks), and the step's direction; nil when none is eligible.
        func pick(seeds: [Int], history: [Int], albumRule: Bool = true) -> (row: Int, target: [Float])? {
            let centre = Embedding.pooled(seeds.map { engine.embedding(row: $0) })!.values
            let target = zip(centre, vector(history.last!)).map { $0 + $1 }
            let direction = Embedding(normalising: target)
            // The radio's rules: not played, no album of a seed's or a pick's (the fixture's tracks are three to an
            // album; an artist gap of 0 leaves artists free).
            let albums = albumRule ? Set(history.compactMap { Playlists.albumKey(engine.track(row: $0)) }) : []
            let eligible = (0..<n).filter {
                !history.contains($0) && !albums.contains(Playlists.albumKey(engine.track(row: $0)) ?? "")
            }
            guard !eligible.isEmpty else { return nil }
            let cosines = eligible.map { Double(direction.cosine(engine.embedding(row: $0))) }
            let timbre = eligible.map { row in
                seeds.map { 0.5 / Double(seeds.count) * profiles[$0].similarity(to: profiles[row]) }.reduce(0, +)
                    + 0.5 * profiles[history.last!].similarity(to: profiles[row])
            }
            let (ms, ts) = (TimbreSimilarity.Spread(cosines), TimbreSimilarity.Spread(timbre))
            let mixed = { (c: Double, t: Double) in
                TimbreSimilarity.mixed(model: c, timbre: t, modelSpread: ms, timbreSpread: ts, weight: engine.timbreWeight)
            }
            let hybrid = zip(cosines, timbre).map(mixed)
            let pairwise = eligible.flatMap { x in
                eligible.map { y in x == y ? Double.nan : mixed(cosine(x, y), profiles[x].similarity(to: profiles[y])) }
            }
            let adjusted =
                eligible.count < 2 || engine.neighbourWeight == 0
                ? hybrid : SharedNeighbours.adjusted(scores: hybrid, pairwise: pairwise, weight: engine.neighbourWeight)
            let best = adjusted.indices.max {
                adjusted[$0] < adjusted[$1] || (adjusted[$0] == adjusted[$1] && eligible[$0] > eligible[$1])
            }!
            return (eligible[best], target)
        }
        var differsFromCosine = false
        for seeds in (0..<n).map({ [$0] }) + [[0, 1], [7, 2], [3, 5]] {
            let radio = Playlists.radio(seeds: seeds, count: 3, artistGap: 0, in: engine.playlistSource)
            var history = seeds
            while history.count - seeds.count < 3, let (expected, target) = pick(seeds: seeds, history: history) {
                let step = history.count - seeds.count
                guard step < radio.count else {
                    Issue.record("seeds \(seeds): the radio ended after \(radio.count) of \(step + 1) possible")
                    break
                }
                let entry = radio[step]
                #expect(entry.row == expected, "seeds \(seeds), step \(step)")
                let dot = zip(vector(entry.row), target).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                let norm = target.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
                #expect(abs(entry.cosine - dot / norm) < 1e-5)
                history.append(entry.row)
            }
            #expect(radio.count == history.count - seeds.count, "seeds \(seeds)")
            engine.timbreWeight = 0
            let byCosine = Playlists.radio(seeds: seeds, count: 3, artistGap: 0, in: engine.playlistSource)
            engine.timbreWeight = TimbreSimilarity.hybridWeight
            differsFromCosine = differsFromCosine || byCosine.map(\.row) != radio.map(\.row)
        }
        #expect(differsFromCosine)
        // Several seeds, the last track elsewhere, no album rule: the seeds' half of the timbre shared among them
        // (also by timbre alone, where the shares weigh most).
        for (timbreWeight, neighbourWeight) in [(TimbreSimilarity.hybridWeight, SharedNeighbours.weight), (1, 0)] {
            (engine.timbreWeight, engine.neighbourWeight) = (timbreWeight, neighbourWeight)
            for a in 0..<n {
                let seeds = [a, (a + 1) % n, (a + 3) % n], last = (a + 5) % n, history = seeds + [last]
                let (expected, target) = try #require(pick(seeds: seeds, history: history, albumRule: false))
                let picked = engine.radioNext(
                    RadioStep(target: target, seeds: seeds, last: last, eligible: { !history.contains($0) }))
                #expect(picked == expected, "seeds \(seeds), last \(last), weights \(timbreWeight), \(neighbourWeight)")
            }
        }
    }

    /// An audio file outside the index brings its own profile: a copy of an indexed track ranks that track's
    /// neighbours as the track itself does.
    @Test func anAudioFileQueryUsesItsOwnProfile() throws {
        let (f, engine) = try indexed()
        let analysis = try EncoderAnalyser(encoder: f.encoder).analyse(path: engine.track(row: 2).path)
        let profile = try #require(analysis.timbre)
        #expect(profile == (try profiles(f, engine))[2])
        let asFile = engine.similar(to: [analysis.embedding], seedRows: [2], k: 5, seedTimbres: [profile])
        let asTrack = engine.similar(to: [engine.embedding(row: 2)], seedRows: [2], k: 5)
        #expect(asFile == asTrack)
    }

    /// An embedding stored without a profile (written by a build that made none) is analysed again by a model
    /// that makes one; tracks with profiles are left alone.
    @Test func aTrackWithoutItsProfileIsAnalysedAgain() throws {
        let (f, engine) = try indexed(3)
        let target = engine.catalog.ids[1]
        try DatabaseQueue(path: f.databasePath).write { db in
            try db.execute(sql: "UPDATE embeddings SET timbre = NULL WHERE track_id = ?", arguments: [target.rawValue])
        }
        let summary = try f.indexer().run(roots: [f.music.path])
        #expect(summary.reembedded == 1 && summary.unchanged == 2)
        let store = try f.store()
        let modelID = try #require(try Self.modelID(store, digest: f.encoder.version.digest))
        #expect(try store.tracksWithTimbre(model: modelID).contains(target))
    }

    static func modelID(_ store: IndexStore, digest: String) throws -> Int64? {
        try store.embeddingModels().first { $0.model.version.digest == digest }?.model.id
    }

    /// Each row's stored profile.
    func profiles(_ f: PipelineFixture, _ engine: QueryEngine) throws -> [TimbreProfile] {
        let store = try f.store()
        let modelID = try #require(try Self.modelID(store, digest: engine.model.digest))
        let stored = try store.timbres(tracks: engine.catalog.ids, model: modelID)
        return try engine.catalog.ids.map { id in
            let values = try #require(stored[id])
            return try #require(TimbreProfile(packed: values))
        }
    }
}

/// What a timbre model is made of: the kept frames of a long track, and the tracks of a reference set.
@Suite struct TimbreAnalysisTests {
    /// Up to the capacity every frame is kept; beyond, every second (then fourth …), evenly over the whole
    /// stream, however it arrives in blocks.
    @Test func longTracksKeepEvenlySpacedFrames() {
        let configuration = FeatureConfiguration(melBands: 2, topDecibels: nil)
        let frames = TimbreFrames(configuration: configuration)
        let total = TimbreFrames.capacity * 3 + 5
        var next = 0
        for size in [1, 7, 1000, 40_000].cycled(until: total) {
            let rows = min(size, total - next)
            frames.append(Matrix(rows: rows, columns: 2, storage: (next..<(next + rows)).flatMap { [Float($0), 0] }))
            next += rows
        }
        let kept = frames.matrix
        // 3 · capacity + 5 frames: twice halved, every fourth frame, from frame 0.
        #expect(kept.rows == (total + 3) / 4 && kept.rows <= TimbreFrames.capacity)
        #expect((0..<kept.rows).allSatisfy { kept[$0, 0] == Float(4 * $0) })
        frames.reset()
        frames.append(Matrix(rows: 3, columns: 2, storage: [5, 0, 6, 0, 7, 0]))
        #expect(frames.matrix.rows == 3 && frames.matrix[0, 0] == 5)
    }

    /// The reference takes labels in turn, each label's tracks in a seeded shuffle, up to `referenceSize`: every
    /// label is represented, the same input gives the same choice, another seed another.
    @Test func referenceTracksTakeEveryLabelInTurn() {
        let tracks = (0..<300).map { (path: "/m/\($0 % 3 == 0 ? "big" : "small\($0 % 3)")/\($0).wav",
                                      label: $0 % 3 == 0 ? "big" : "small\($0 % 3)") }
            + (0..<400).map { (path: "/m/huge/\($0).wav", label: "huge") }
        let chosen = TimbreAnalysis.referenceTracks(tracks, seed: 1)
        #expect(chosen.count == TimbreAnalysis.referenceSize && Set(chosen).count == chosen.count)
        let labelOf = Dictionary(uniqueKeysWithValues: tracks.map { ($0.path, $0.label) })
        let perLabel = Dictionary(grouping: chosen) { labelOf[$0]! }.mapValues(\.count)
        #expect(perLabel == ["big": 64, "huge": 64, "small1": 64, "small2": 64])
        #expect(TimbreAnalysis.referenceTracks(tracks.reversed(), seed: 1) == chosen)
        #expect(TimbreAnalysis.referenceTracks(tracks, seed: 2) != chosen)
        let few = Array(tracks.prefix(10))
        #expect(Set(TimbreAnalysis.referenceTracks(few, seed: 1)) == Set(few.map(\.path)))
    }
}

extension Array {
    /// The elements repeated in order until their sum reaches `total` (for block sizes).
    fileprivate func cycled(until total: Int) -> [Element] where Element == Int {
        var out: [Int] = [], sum = 0
        while sum < total { for v in self where sum < total { out.append(v); sum += v } }
        return out
    }
}
