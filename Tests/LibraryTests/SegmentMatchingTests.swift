import AudioDecoding
import Foundation
import AudioDegradations
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import RetrieveCore
import SequenceEncoding
import SpectralFeatures
import Testing
import GRDB
import VectorIndex
import TestSupport
import PipelineTestSupport

@Suite struct SegmentMatchingTests {
    /// A model that cuts without overlap (hop = segment length, `retrieve train --segment-overlap 0`) pools one
    /// segment after another, yet stores identification segments every half segment (rounded up), exactly as a
    /// query's are cut: identification keeps its alignment whatever the model's overlap.
    @Test func overlapFreeModelKeepsHalfSegmentIdentificationHop() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-hops")
        let configuration = EncoderConfiguration(
            inputSize: 128, hiddenSize: 12, layers: 1, bidirectional: false, pooling: .mean, embeddingSize: 8,
            classNames: ["a", "b"], segmentFrames: 43, segmentHopFrames: 43,
            bandMean: [Float](repeating: -40, count: 128), bandStd: [Float](repeating: 20, count: 128))
        let url = folder.path("m.safetensors")
        try SequenceEncoding.Encoder(configuration: configuration, seed: 3).save(to: url, name: "no-overlap")
        let encoder = try SequenceEncoding.Encoder.load(contentsOf: url)
        let audio = folder.path("tune.wav")
        let samples = Signals.chord([220, 330], seconds: 6, sampleRate: 22_050)
            .enumerated().map { $1 * Float(0.5 + 0.5 * sin(Double($0) / 9_000)) }
        try AudioFileWriter.write(samples, sampleRate: 22_050, format: .wav16, to: audio)
        // The windows each hop gives on the file's log-mel frames.
        let decoded = try AudioDecoder(targetSampleRate: 22_050).decode(audio).samples
        let streaming = StreamingLogMel(extractor: try FeatureExtractor(configuration: configuration.features))
        let frames = decoded.withUnsafeBufferPointer { streaming.push($0) }.storage + streaming.finish().storage
        let logMel = Matrix(rows: frames.count / 128, columns: 128, storage: frames)
        let pooledWindows = SegmentCutter.windows(of: logMel, length: 43, hop: 43)
        let identificationWindows = SegmentCutter.windows(of: logMel, length: 43, hop: 22)
        #expect(pooledWindows.count >= 6 && identificationWindows.count > pooledWindows.count + 3)

        let analyser = try EncoderAnalyser(encoder: encoder)
        analyser.keepSegments = true
        let analysis = try analyser.analyse(path: audio.path)
        let pooled = try analyser.segmentEmbeddings(path: audio.path)
        #expect(analysis.segmentCount == pooledWindows.count && pooled.count == pooledWindows.count)
        #expect(pooled.map(\.values) == encoder.embed(segments: pooledWindows).map(\.values))
        let query = try analyser.identificationSegments(path: audio.path, pitchOffsets: [])[0]
        let robust = encoder.embed(segments: IdentificationFrontEnd.robustWindows(identificationWindows, configuration: configuration))
        #expect(query.map(\.values) == robust.map(\.values))
        #expect(analysis.segments.map(\.values) == query.map(\.values))
        #expect(analysis.segmentVersion == 1)
        // A model that level-normalises its input embeds its own windows for identification, at the same hop.
        var levelled = configuration
        levelled.levelRange = 80
        let levelURL = folder.path("level.safetensors")
        try SequenceEncoding.Encoder(configuration: levelled, seed: 3).save(to: levelURL, name: "level")
        let levelEncoder = try SequenceEncoding.Encoder.load(contentsOf: levelURL)
        let levelAnalyser = try EncoderAnalyser(encoder: levelEncoder)
        levelAnalyser.keepSegments = true
        let levelAnalysis = try levelAnalyser.analyse(path: audio.path)
        let own = levelEncoder.embed(segments: identificationWindows)
        #expect(levelAnalysis.segmentVersion == 2)
        #expect(levelAnalysis.segments.map(\.values) == own.map(\.values))
        #expect(try levelAnalyser.identificationSegments(path: audio.path, pitchOffsets: [])[0].map(\.values)
                == own.map(\.values))
        // The pooled embedding is the normalised mean of the pooled segments only.
        let mean = try #require(Embedding.pooled(pooled))
        #expect(zip(analysis.embedding.values, mean.values).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func scoresATinyExampleByHand() {
        let q = Matrix(rowArrays: [[1, 0], [0, 1]])
        let r1 = Matrix(rowArrays: [[1, 0], [0.6, 0.8]])
        let r2 = Matrix(rowArrays: [[0.6, 0.8]])
        let r3 = Matrix(rowArrays: [[-1, 0], [0, -1]])
        let empty = Matrix(rows: 0, columns: 2)
        let s = SegmentMatching.scores(queries: [q, Matrix(rowArrays: [[0, 1]]), empty],
                                       references: [r1, r2, r3, empty])
        // q against r1: q₁ best 1 (r1₁), q₂ best 0.8 (r1₂) → 0.9; against r2: (0.6 + 0.8) / 2 = 0.7;
        // against r3: both best 0 → 0. The one-segment query (0, 1): 0.8, 0.8, 0.
        let expected: [[Float]] = [[0.9, 0.7, 0, -.infinity], [0.8, 0.8, 0, -.infinity]]
        for i in 0..<2 {
            #expect(Approx.maxAbsDifference(Array(s.row(i)[0..<3]), Array(expected[i][0..<3])) < 1e-6)
            #expect(s[i, 3] == -.infinity)
        }
        #expect(s.row(2).allSatisfy { $0 == -.infinity })
    }

    @Test func alignedVotesRewardMatchesInTheirOrder() {
        func e(_ i: Int) -> [Float] { (0..<4).map { $0 == i ? 1 : 0 } }
        let q = Matrix(rowArrays: [e(0), e(1), e(2)])
        let inOrder = Matrix(rowArrays: [e(3), e(0), e(1), e(2)])
        let reversed = Matrix(rowArrays: [e(2), e(1), e(0)])
        let best = SegmentMatching.scores(queries: [q], references: [inOrder, reversed])
        #expect(best.row(0) == [1, 1])  // every segment is found in both
        let votes = SegmentMatching.scores(queries: [q], references: [inOrder, reversed], scoring: .alignedVotes)
        // In order: offsets 1, 1, 1 → 3/3 agree. Reversed: offsets 2, 0, −2 → at most 1/3 within ±1 hop.
        // Both plus 10⁻³ × mean-of-best (1).
        #expect(abs(votes[0, 0] - 1.001) < 1e-6 && abs(votes[0, 1] - (1.0 / 3 + 0.001)) < 1e-6)
    }

    @Test func variantsKeepEachTracksBestScore() {
        func e(_ i: Int) -> [Float] { (0..<3).map { $0 == i ? 1 : 0 } }
        let references = [Matrix(rowArrays: [e(0)]), Matrix(rowArrays: [e(1)]), Matrix(rowArrays: [e(2)])]
        // Query 0 tried as e0 and as e1; query 1 as e2 and as (e0 + e1)/√2.
        let h = Float(0.5).squareRoot()
        let asRecorded = [Matrix(rowArrays: [e(0)]), Matrix(rowArrays: [e(2)])]
        let shifted = [Matrix(rowArrays: [e(1)]), Matrix(rowArrays: [[h, h, 0]])]
        let best = SegmentMatching.bestScores(variants: [asRecorded, shifted], references: references)
        #expect(best.row(0) == [1, 1, 0])
        #expect(Approx.maxAbsDifference(best.row(1), [h, h, 1]) < 1e-6)
        #expect(SegmentMatching.bestScores(variants: [asRecorded], references: references)
                == SegmentMatching.scores(queries: asRecorded, references: references))
    }

    /// A tone decoded at the varispeed rate and read back at the analysis rate is `semitones` higher.
    @Test(arguments: [-1.5, -0.5, 1.0, 1.5])
    func varispeedRateShiftsPitchBySemitones(semitones: Double) throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-varispeed")
        let url = folder.path("tone.wav")
        try AudioFileWriter.write(Signals.sine(frequency: 440, seconds: 2, sampleRate: 44_100), sampleRate: 44_100,
                                  format: .wav16, to: url)
        let rate = IdentificationFrontEnd.varispeedRate(22_050, semitones: semitones)
        let samples = try AudioDecoder(targetSampleRate: rate).decode(url).samples
        // Frequency at 22 050 Hz from upward zero crossings over the middle second.
        let middle = Array(samples[(samples.count / 4)..<(samples.count * 3 / 4)])
        var crossings: [Double] = []
        for i in 1..<middle.count where middle[i - 1] < 0 && middle[i] >= 0 {
            crossings.append(Double(i - 1) + Double(-middle[i - 1] / (middle[i] - middle[i - 1])))
        }
        let period = (crossings.last! - crossings.first!) / Double(crossings.count - 1)
        let heard = 22_050 / period
        #expect(abs(heard / (440 * pow(2, semitones / 12)) - 1) < 1e-3, "\(heard) Hz")
    }

    @Test func blockedProductsEqualTheDefinition() {
        var rng = SeededGenerator(seed: 7)
        func unitRows(_ n: Int) -> Matrix {
            Matrix(rowArrays: (0..<n).map { _ in
                let v = (0..<16).map { _ in Float.random(in: -1...1, using: &rng) }
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                return v.map { $0 / norm }
            })
        }
        let queries = (0..<5).map { unitRows(1 + $0 * 2) }
        let references = (0..<7).map { unitRows(3 + $0) }
        for block in [1, 3, 256] {
            let s = SegmentMatching.scores(queries: queries, references: references, blockRows: block)
            let votes = SegmentMatching.scores(queries: queries, references: references, scoring: .alignedVotes,
                                               blockRows: block)
            #expect(votes == SegmentMatching.scores(queries: queries, references: references,
                                                    scoring: .alignedVotes))
            for (i, q) in queries.enumerated() {
                for (j, r) in references.enumerated() {
                    #expect(abs(s[i, j] - SegmentMatching.naiveScore(query: q, reference: r)) < 1e-5)
                }
            }
        }
    }

    /// Tracks of one timbre and one set of notes, each in its own order: a pooled vector (the mean over the
    /// track) barely tells them apart, the segments (which hear the order) do.
    @Test func segmentsIdentifyExcerptsThatPoolingConfuses() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-segments")
        let root = folder.path("data")
        let rate = 22_050
        let notes = (0..<12).map { 220 * pow(2, Double($0) / 12) }
        var rng = SeededGenerator(seed: 11)
        for t in 0..<8 {
            var samples: [Float] = []
            for _ in 0..<2 {
                for f in notes.shuffled(using: &rng) {
                    samples += Signals.chord([f, 2 * f, 3 * f], seconds: 0.3, sampleRate: rate)
                }
            }
            let dir = root.appendingPathComponent("melody")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try AudioFileWriter.write(samples, sampleRate: rate, format: .wav16,
                                      to: dir.appendingPathComponent("tune\(t).wav"))
        }
        let configuration = EncoderConfiguration(
            inputSize: 128, hiddenSize: 24, layers: 1, bidirectional: false, pooling: .mean, embeddingSize: 16,
            classNames: ["a", "b"], segmentFrames: 43, segmentHopFrames: 22,
            bandMean: [Float](repeating: -40, count: 128), bandStd: [Float](repeating: 20, count: 128))
        let encoder = SequenceEncoding.Encoder(configuration: configuration, seed: 5)
        let url = folder.path("m.safetensors")
        try encoder.save(to: url, name: "tiny")
        var options = Evaluator.Options()
        options.excerptSeconds = 2.5
        options.excerptsPerTrack = 3
        // A random encoder is not level- or band-invariant (−9 dB gain or a 4 kHz low-pass already move its
        // segments far, as they move the trained model's); a 3 % tempo change is mild for it. The robust front
        // end (log-mel below 3.5 kHz, level aligned) makes gain and this low-pass (all partials < 3.5 kHz) mild.
        // +1 semitone moves each note of a tune to the next one of the set: a tune no track plays, which only the
        // pitch tries (`IdentificationFrontEnd.pitchOffsets`, by varispeed, not by the degradation's shifter) undo.
        options.degradations = [.clean, .timeStretch, .gain, .lowPass, .pitchShift]
        options.excerptsPerTrack = 5
        let report = try Evaluator(encoder: try SequenceEncoding.Encoder.load(contentsOf: url), options: options)
            .run(try LabelledCollection.folder(root.path))
        let names = report.systems.map(\.name)
        #expect(names == ["model:tiny", "model:tiny:z", "model:tiny:segments", "model:tiny:segments-z", "model:tiny:segments-aligned",
               "model:tiny:segments-robust",
               "model:tiny:segments-robust-pitch", "model:tiny:segments-pitch",
               "mfcc-stats", "logmel-stats", "timbre", "model:tiny+timbre"])
        let byName = Dictionary(uniqueKeysWithValues: report.systems.map { ($0.name, $0.identification) })
        let pooled = try #require(byName["model:tiny"]), segments = try #require(byName["model:tiny:segments"])
        #expect(report.excerpts == 40)
        #expect(pooled.recallAt1 < 0.6, "pooled R@1 \(pooled.recallAt1)")
        let perDegradation = Dictionary(uniqueKeysWithValues: report.systems.map { s in
            (s.name, s.perDegradation.map(\.scores.recallAt1))
        })
        // Clean and tempo: plain segment matching finds them; robust matching also survives gain and low-pass.
        #expect(perDegradation["model:tiny:segments"]!.prefix(2).allSatisfy { $0 >= 0.85 },
                "\(perDegradation["model:tiny:segments"]!)")
        let robust = try #require(byName["model:tiny:segments-robust"])
        #expect(perDegradation["model:tiny:segments-robust"]!.prefix(4).allSatisfy { $0 >= 0.85 },
                "robust R@1 \(robust.recallAt1) \(perDegradation["model:tiny:segments-robust"]!)")
        #expect(segments.recallAt1 > pooled.recallAt1 && robust.recallAt1 > segments.recallAt1)
        let pitchTries = try #require(byName["model:tiny:segments-robust-pitch"])
        let pitched = perDegradation["model:tiny:segments-robust-pitch"]!
        print("pitch tries: R@1 by degradation \(pitched), without \(perDegradation["model:tiny:segments-robust"]!)")
        #expect(pitched[4] >= 0.85 && pitched[4] > perDegradation["model:tiny:segments-robust"]![4],
                "pitch+1st R@1 with tries \(pitched), without \(perDegradation["model:tiny:segments-robust"]!)")
        #expect(pitchTries.recallAt1 >= robust.recallAt1 && pitchTries.recallAt1 >= 0.9, "\(pitched)")
        for name in ["mfcc-stats", "logmel-stats"] {
            #expect(try #require(byName[name]).recallAt1 < robust.recallAt1)
        }
    }
}

@Suite struct IdentifyTests {
    @Test func indexKeepsSegmentsAndIdentifyFindsTheSourceOfAnExcerpt() throws {
        let f = try PipelineFixture(tracks: 6)
        // Without --segments: identification says what to do.
        _ = try f.indexer().run(roots: [f.music.path])
        let plain = try QueryEngine(store: try f.store(), model: f.encoder.version, databasePath: f.databasePath)
        let one = [Embedding(normalising: [Float](repeating: 1, count: f.encoder.configuration.embeddingSize))]
        #expect(throws: LibraryError.noSegments(database: f.databasePath)) {
            try plain.identify(segments: one, segmentVersion: 1, k: 3)
        }

        // Asking for segments later re-analyses the tracks that have none, once.
        let upgrade = try f.indexer(keepSegments: true).run(roots: [f.music.path])
        #expect(upgrade.reembedded == 6 && upgrade.unchanged == 0, "\(upgrade)")
        let again = try f.indexer(keepSegments: true).run(roots: [f.music.path])
        #expect(again.reembedded == 0 && again.unchanged == 6, "\(again)")
        #expect(try f.indexer().run(roots: [f.music.path]).unchanged == 6)  // segments kept, nothing to do
        let store = try f.store()
        let engine = try QueryEngine(store: store, model: f.encoder.version, databasePath: f.databasePath)
        let modelID = try #require(try store.embeddingModels().first?.model.id)
        for track in engine.tracks {
            let segments = try store.segments(track: track.id!, model: modelID)
            #expect(segments.count == 3)  // 2 s: windows of 43 frames every 22 of 87
        }
        // A 1.2-s excerpt of track 3, cut at 0.4 s (not on a segment boundary).
        let source = engine.tracks.first { $0.path.hasSuffix("track03.wav") }!
        let samples = try AudioDecoder(targetSampleRate: 22_050).decode(URL(fileURLWithPath: source.path)).samples
        let excerptURL = f.folder.path("excerpt.wav")
        try AudioFileWriter.write(Array(samples[8_820..<(8_820 + 26_460)]), sampleRate: 22_050, format: .wav16,
                                  to: excerptURL)
        let analyser = try EncoderAnalyser(encoder: f.encoder)
        #expect(analyser.segmentVersion == 1)  // the fixture's model does not level-normalise: robust windows
        let results = try engine.identify(
            variants: try analyser.identificationSegments(path: excerptURL.path), segmentVersion: 1, k: 3)
        #expect(results.map(\.rank) == [1, 2, 3])
        #expect(results.first?.track.path == source.path)
        #expect(results[0].score > results[1].score)
        // The stored segments are the query front end's: a whole track finds itself with cosine 1.
        let whole = try engine.identify(
            variants: try analyser.identificationSegments(path: source.path), segmentVersion: 1, k: 1)
        #expect(whole.first?.track.path == source.path && abs(whole[0].score - 1) < 1e-5)
        // Excluded rows never come back.
        let row = try #require(engine.row(of: source.id!))
        let without = try engine.identify(
            variants: try analyser.identificationSegments(path: excerptURL.path), segmentVersion: 1, k: 6,
            excluding: [row])
        #expect(without.count == 5 && !without.contains { $0.track.path == source.path })
    }

    /// A model that level-normalises its input stores its own windows as identification segments (kind 2); the
    /// robust windows an earlier build stored for it (kind 1) are never matched against a query's, and the next
    /// `index --segments` remakes them.
    @Test func segmentsOfAnEarlierFrontEndAreRemadeNotMatched() throws {
        let f = try PipelineFixture(tracks: 6)
        let levelURL = f.folder.path("level.safetensors")
        let encoder = try PipelineFixture.makeEncoder(seed: 8, url: levelURL, name: "level", levelRange: 80)
        let analyser = try EncoderAnalyser(encoder: encoder)
        #expect(analyser.segmentVersion == 2 && IdentificationFrontEnd.version(for: f.encoder.configuration) == 1)
        let first = try f.indexer(modelURL: levelURL, keepSegments: true).run(roots: [f.music.path])
        #expect(first.added == 6, "\(first)")
        let source = try #require(try f.store().allTracks().first { $0.path.hasSuffix("track03.wav") })
        func identify() throws -> [SimilarTrack] {
            let engine = try QueryEngine(store: try f.store(), model: encoder.version, databasePath: f.databasePath)
            return try engine.identify(
                variants: try analyser.identificationSegments(path: source.path, pitchOffsets: []),
                segmentVersion: analyser.segmentVersion, k: 1)
        }
        // The stored segments are the model's own windows, as the query's: the track finds itself at cosine 1.
        let found = try identify()
        #expect(found.first?.track.path == source.path && abs(found[0].score - 1) < 1e-5)
        // As an index of an earlier build holds them after the migration: every segment of kind 1.
        let queue = try DatabaseQueue(path: f.databasePath)
        try queue.write { try $0.execute(sql: "UPDATE embeddings SET segment_version = 1") }
        try queue.close()
        #expect(throws: LibraryError.staleSegments(database: f.databasePath)) { try identify() }
        // Indexing without --segments leaves them; with it, every track is re-analysed once.
        #expect(try f.indexer(modelURL: levelURL).run(roots: [f.music.path]).unchanged == 6)
        let remade = try f.indexer(modelURL: levelURL, keepSegments: true).run(roots: [f.music.path])
        #expect(remade.reembedded == 6 && remade.unchanged == 0, "\(remade)")
        let again = try f.indexer(modelURL: levelURL, keepSegments: true).run(roots: [f.music.path])
        #expect(again.reembedded == 0 && again.unchanged == 6, "\(again)")
        #expect(try identify().first?.track.path == source.path)
    }
}
