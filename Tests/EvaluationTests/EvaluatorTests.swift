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
import TestSupport
import PipelineTestSupport

/// A tiny labelled collection in GTZAN layout: tones in a low register, filtered noise, clicks.
final class LabelledFixture {
    let folder: TemporaryDirectory
    let root: URL
    static let rate = 22_050

    /// Within a class, tracks differ by register, colour or rate (a geometric progression), so each track
    /// is recognisable and each class is a family.
    init(perClass: Int = 6, seconds: Double = 3) throws {
        folder = try TemporaryDirectory(prefix: "retrieve-eval")
        root = folder.path("data")
        for i in 0..<perClass {
            let step = Double(i)
            let f0 = 110 * pow(1.4, step)
            try write(Signals.chord([f0, f0 * 1.5, f0 * 2], seconds: seconds, sampleRate: Self.rate),
                      label: "tones", name: "tone\(i)")
            let noise = Signals.whiteNoise(seconds: seconds, sampleRate: Self.rate, amplitude: 0.2,
                                           seed: UInt64(100 + i))
            let coloured = DSP.butterworthLowPass(noise, cutoff: 400 * pow(1.9, step), sampleRate: Self.rate, order: 4)
            try write(coloured, label: "noise", name: "noise\(i)")
            let clicks = Signals.clicks(every: 0.08 * pow(1.35, step), seconds: seconds, sampleRate: Self.rate)
            try write(clicks, label: "clicks", name: "clicks\(i)")
        }
    }

    func write(_ samples: [Float], label: String, name: String) throws {
        let dir = root.appendingPathComponent(label)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try AudioFileWriter.write(samples, sampleRate: Self.rate, format: .wav16,
                                  to: dir.appendingPathComponent(name + ".wav"))
    }
}

@Suite struct EvaluatorTests {
    @Test func baselinesSeparateTheClassesAndFindCleanExcerpts() throws {
        let fixture = try LabelledFixture()
        let tracks = try LabelledCollection.folder(fixture.root.path)
        #expect(tracks.count == 18)
        var options = Evaluator.Options()
        options.excerptSeconds = 2
        options.degradations = [.clean]
        let report = try Evaluator(encoder: nil, options: options).run(tracks)
        #expect(report.tracks == 18 && report.groups == 18 && report.excerpts == 18)
        #expect(abs(report.chancePrecision - 5.0 / 17) < 1e-12)
        #expect(report.systems.map(\.name) == ["mfcc-stats", "logmel-stats", "timbre"])
        let mfcc = report.systems[0]
        #expect(mfcc.dimensions == 80 && report.systems[1].dimensions == 256)
        #expect(mfcc.style.precisionAt5 > 0.8, "P@5 \(mfcc.style.precisionAt5) vs chance 0.29")
        #expect(mfcc.style.knnAccuracy > 0.75)
        // Log-mel statistics find every clean excerpt's track. MFCC statistics find most: their 20 delta-MFCC
        // means are ≈ 0 with noise for any steady signal, and z-scoring over the collection blows that noise up
        // to the weight of the informative dimensions (dropping them gives 17/18 here); a property of the
        // baseline as specified, kept, and reported.
        let logMel = report.systems[1]
        #expect(logMel.identification.recallAt1 == 1 && logMel.identification.meanReciprocalRank == 1)
        #expect(mfcc.identification.recallAt1 >= 0.5 && mfcc.identification.recallAt10 == 1)
        // The timbre row (MFCC Gaussians, Jensen–Shannon, mutual proximity) tells the three classes apart and
        // finds every clean excerpt's track.
        let timbre = report.systems[2]
        #expect(timbre.dimensions == 2 * 24 * 27 / 2)  // two Gaussians: all bands, low band
        #expect(timbre.style.precisionAt5 > 0.8, "timbre P@5 \(timbre.style.precisionAt5)")
        #expect(timbre.identification.recallAt1 == 1, "timbre R@1 \(timbre.identification.recallAt1)")
    }

    @Test func modelAndDegradationsRunAndBadFilesAreReported() throws {
        let fixture = try LabelledFixture(perClass: 2, seconds: 2)
        try Data("not audio".utf8).write(to: fixture.root.appendingPathComponent("tones/broken.wav"))
        let encoder = try PipelineFixture.makeEncoder(seed: 3, url: fixture.folder.path("m.safetensors"), name: "tiny")
        var options = Evaluator.Options()
        options.excerptSeconds = 1
        options.excerptsPerTrack = 2
        let tracks = try LabelledCollection.folder(fixture.root.path)
        let report = try Evaluator(encoder: encoder, options: options).run(tracks)
        #expect(report.tracks == 6)
        #expect(report.failures.count == 1 && report.failures[0].path.hasSuffix("broken.wav"))
        #expect(report.excerpts == 12)
        #expect(report.systems.map(\.name)
            == ["model:tiny", "model:tiny:z", "model:tiny:segments", "model:tiny:segments-z", "model:tiny:segments-aligned",
               "model:tiny:segments-robust",
               "model:tiny:segments-robust-pitch", "model:tiny:segments-pitch",
               "mfcc-stats", "logmel-stats", "timbre", "model:tiny+timbre"])
        #expect(report.systems[0].dimensions == 8)
        #expect(report.systems.map(\.name) == (try Evaluator(encoder: encoder, options: options)).systemNames)
        // The model row (raw cosine, as the index) reports how close each degradation's queries stay to their
        // tracks; the other rows do not.
        #expect(report.systems[0].perDegradation.allSatisfy { ($0.selfCosine?.minimum ?? -2) >= -1 })
        #expect(report.systems[1].perDegradation.allSatisfy { $0.selfCosine == nil })
        for system in report.systems {
            #expect(system.perDegradation.map(\.degradation) == Degradation.standard.map(\.rawValue))
            // 12 excerpts cycle through 7 degradations.
            #expect(system.perDegradation.map(\.scores.queries) == [2, 2, 2, 2, 2, 1, 1])
            #expect((0...1).contains(system.identification.recallAt1))
            #expect(system.identification.recallAt10 == 1)  // only 6 tracks
        }
        // Equal seeds, equal reports.
        let again = try Evaluator(encoder: encoder, options: options).run(tracks)
        #expect(again.systems == report.systems)
    }

    /// A model with a timbre reference set is scored as the index ranks: each track's profile normalised against
    /// the reference (`TimbreProfile.similarity`), the model's cosine beside it, the hybrid per query, its best
    /// re-ranked by shared neighbours — the row's scores are those of the index's own answers (`QueryEngine`) for
    /// every track of the same tracks indexed.
    @Test func theHybridOfAModelWithAReferenceSetIsTheIndexs() throws {
        // More candidates than `SharedNeighbours.neighbours`, or the re-ranking leaves them as they are.
        let f = try PipelineFixture(tracks: SharedNeighbours.neighbours + 4, timbre: true)
        _ = try f.indexer().run(roots: [f.music.path])
        let engine = try QueryEngine(store: try f.store(), model: f.encoder.version, databasePath: f.databasePath)
        let tracks = try FileManager.default.contentsOfDirectory(atPath: f.music.path).sorted().enumerated().map {
            LabelledTrack(path: f.music.appendingPathComponent($1).path, label: $0 % 3 == 0 ? "a" : "b")
        }
        var options = Evaluator.Options()
        options.excerptsPerTrack = 0
        options.segmentMatching = false
        let report = try Evaluator(encoder: f.encoder, options: options).run(tracks)
        let row = try #require(report.systems.first { $0.name == "model:\(f.encoder.version.name)+timbre" })
        let n = tracks.count
        #expect(engine.count == n)
        let rowOf = Dictionary(uniqueKeysWithValues: tracks.enumerated().map { ($1.path, $0) })
        // The index's answers as scores: each result's score, every other track ranked.
        func answers(neighbourWeight: Double) throws -> Matrix {
            engine.neighbourWeight = neighbourWeight
            var scores = Matrix(rows: n, columns: n)
            for seed in 0..<n {
                let i = try #require(rowOf[engine.track(row: seed).path])
                let results = engine.similar(to: [engine.embedding(row: seed)], seedRows: [seed], k: n - 1)
                #expect(results.count == n - 1)
                for r in results { scores[i, try #require(rowOf[r.track.path])] = r.score }
            }
            return scores
        }
        let labels = tracks.map(\.label), groups = tracks.map(\.path)
        let expected = RetrievalMetrics.styleRetrieval(scores: try answers(neighbourWeight: SharedNeighbours.weight),
                                                       labels: labels, groups: groups)
        #expect(abs(row.style.meanAveragePrecision - expected.meanAveragePrecision) < 1e-9)
        #expect(abs(row.style.precisionAt5 - expected.precisionAt5) < 1e-9)
        // The index without the re-ranking answers otherwise here, or the test could not tell the two apart.
        let plain = RetrievalMetrics.styleRetrieval(scores: try answers(neighbourWeight: 0), labels: labels,
                                                    groups: groups)
        #expect(plain.meanAveragePrecision != expected.meanAveragePrecision)
    }

    @Test func groupRuleJoinsClipsOfOneTrack() {
        #expect(LabelledCollection.group(ofPath: "/m/rock/song__clip2.wav") == "/m/rock/song")
        #expect(LabelledCollection.group(ofPath: "/m/rock/song__clip7.flac") == "/m/rock/song")
        #expect(LabelledCollection.group(ofPath: "/m/jazz/song__clip7.flac") == "/m/jazz/song")
        #expect(LabelledCollection.group(ofPath: "/m/rock/blues.00012.wav") == "/m/rock/blues.00012")
        #expect(LabelledCollection.group(ofPath: "/m/rock/__odd.wav") == "/m/rock/__odd")
    }

    @Test func csvWithHeaderSplitGroupAndQuotes() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-csv")
        let csv = folder.path("labels.csv")
        try [
            "path,label,split,group",
            "rock/a.wav,rock,test,",
            #""rock/b, live.wav",rock,train,x"#,
            #"jazz/c.flac,"jazz ""cool""",test,x"#,
            "",
        ].joined(separator: "\n").write(to: csv, atomically: true, encoding: .utf8)
        let all = try LabelledCollection.csv(csv.path)
        #expect(all.count == 3)
        #expect(all[1].path == folder.url.path + "/rock/b, live.wav")
        #expect(all[2].label == "jazz \"cool\"")
        #expect(all[1].group == "x" && all[2].group == "x")
        #expect(all[0].group == folder.url.path + "/rock/a")
        let test = try LabelledCollection.csv(csv.path, split: "test")
        #expect(test.map(\.label) == ["rock", "jazz \"cool\""])
        #expect(throws: LabelledCollectionError.self) { try LabelledCollection.csv(csv.path, split: "nope") }
        // Without a header: path,label.
        try "x.wav,a\ny.wav,b\n".write(to: csv, atomically: true, encoding: .utf8)
        #expect(try LabelledCollection.csv(csv.path).map(\.label) == ["a", "b"])
        #expect(try LabelledCollection.csv(csv.path, split: "test").count == 2)  // no split column: all rows
    }

    @Test func standardiserZScoresThenNormalises() {
        let x = Matrix(rowArrays: [[1, 10, 5], [3, 30, 5], [5, 50, 5]])
        let s = Standardiser(fitting: x)
        let z = s.apply(x)
        // Column 3 is constant → 0; columns 1 and 2 become −1.22, 0, 1.22 → rows ±(1, 1, 0)/√2 and 0.
        #expect(Approx.maxAbsDifference(z.row(0), [-0.70710677, -0.70710677, 0]) < 1e-6)
        #expect(z.row(1) == [0, 0, 0])
        #expect(Approx.maxAbsDifference(z.row(2), [0.70710677, 0.70710677, 0]) < 1e-6)
    }

    @Test func baselineStatisticsMatchANaiveComputation() throws {
        let extractor = try FeatureExtractor(configuration: FeatureConfiguration(topDecibels: nil))
        let x = Signals.chirp(from: 200, to: 3_000, seconds: 1, sampleRate: 22_050)
        let logMel = extractor.logMel(x)
        let stats = BaselineDescriptors.logMelStatistics(logMel: logMel)
        #expect(stats.count == 256)
        let band = (0..<logMel.rows).map { Double(logMel[$0, 40]) }
        let mean = band.reduce(0, +) / Double(band.count)
        let std = (band.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(band.count)).squareRoot()
        #expect(abs(Double(stats[40]) - mean) < 1e-3 && abs(Double(stats[128 + 40]) - std) < 1e-3)
        let both = BaselineDescriptors.descriptors(logMel: logMel, extractor: extractor)
        #expect(both.map(\.count) == [80, 256])
    }
}
