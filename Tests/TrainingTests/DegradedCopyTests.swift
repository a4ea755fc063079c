import AudioDecoding
import Foundation
import PipelineTestSupport
import RetrieveCore
import SpectralFeatures
import Testing
import TestSupport
@testable import Training

@Suite struct DegradedCopyTests {
    /// Each track's copy is fixed by its path and the seed, every kind occurs, and the settings stay in their
    /// documented ranges.
    @Test func copiesAreChosenByPathAndSeedWithinTheirRanges() {
        let copies = (0..<400).map { DegradedCopy.chosen(for: "/music/a/\($0).flac", seed: 1) }
        #expect(copies == (0..<400).map { DegradedCopy.chosen(for: "/music/a/\($0).flac", seed: 1) })
        #expect(copies != (0..<400).map { DegradedCopy.chosen(for: "/music/a/\($0).flac", seed: 2) })
        #expect(Set(copies.map(\.kind)) == Set(DegradedCopy.Kind.allCases))
        for copy in copies {
            switch copy.kind {
            case .clipped: #expect((3...9).contains(copy.value), "\(copy)")
            case .mp3: #expect([64, 96, 128, 160].contains(copy.value), "\(copy)")
            case .lowPass: #expect((3000...8000).contains(copy.value), "\(copy)")
            case .resampled: #expect([8000, 11_025, 16_000].contains(copy.value), "\(copy)")
            }
        }
    }

    /// The degradations do what they say: clipping stays within ±1 and loses the peaks, a low-pass at 3 kHz
    /// removes a 6 kHz tone but keeps a 500 Hz one, resampling to 8 kHz removes what lies above 4 kHz, and
    /// every copy keeps the original's length (so crops keep their teacher targets' times).
    @Test func degradationsChangeTheSignalAsDescribed() throws {
        let rate = 22_050
        let low = Signals.sine(frequency: 500, seconds: 1, sampleRate: rate, amplitude: 0.4)
        let high = Signals.sine(frequency: 6000, seconds: 1, sampleRate: rate, amplitude: 0.4)
        let both = zip(low, high).map { $0 + $1 }
        func rms(_ x: [Float]) -> Float { (x.reduce(0) { $0 + $1 * $1 } / Float(x.count)).squareRoot() }
        let folder = try TemporaryDirectory(prefix: "retrieve-copy")
        let scratch = folder.path("scratch.mp3")
        let clipped = try DegradedCopy(kind: .clipped, value: 9).apply(both, sampleRate: rate, scratch: scratch)
        #expect(clipped.count == both.count && clipped.allSatisfy { abs($0) <= 1 } && clipped.contains { $0 == 1 })
        let lowPassed = try DegradedCopy(kind: .lowPass, value: 3000).apply(high, sampleRate: rate, scratch: scratch)
        #expect(lowPassed.count == high.count && rms(Array(lowPassed[2000...])) < 0.01 * rms(high))
        let keptLow = try DegradedCopy(kind: .lowPass, value: 3000).apply(low, sampleRate: rate, scratch: scratch)
        #expect(abs(rms(Array(keptLow[2000...])) - rms(low)) < 0.05 * rms(low))
        let resampled = try DegradedCopy(kind: .resampled, value: 8000).apply(high, sampleRate: rate, scratch: scratch)
        #expect(resampled.count == high.count && rms(Array(resampled[2000..<20000])) < 0.05 * rms(high))
        let mp3 = try DegradedCopy(kind: .mp3, value: 96).apply(low, sampleRate: rate, scratch: scratch)
        #expect(mp3.count == low.count && abs(rms(mp3) - rms(low)) < 0.1 * rms(low))
        #expect(!FileManager.default.fileExists(atPath: scratch.path), "the MP3 round trip's file is removed")
    }

    /// The copy's features are cached under their own key, differ from the original's where the degradation
    /// bites, cover at most the asked seconds, and a second request reads the cache.
    @Test func copyFeaturesAreCachedApartFromTheOriginal() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-copy-cache")
        let file = folder.path("tone.wav")
        let samples = zip(Signals.sine(frequency: 400, seconds: 4, sampleRate: 22_050, amplitude: 0.3),
                          Signals.whiteNoise(seconds: 4, sampleRate: 22_050, amplitude: 0.1)).map { $0 + $1 }
        try AudioFileWriter.write(samples, sampleRate: 22_050, format: .wav16, to: file)
        let cache = try FeatureCache(directory: folder.path("cache").path,
                                     configuration: FeatureConfiguration(melBands: 32, topDecibels: nil))
        let extractor = try FeatureExtractor(configuration: cache.configuration)
        let clean = try cache.logMel(path: file.path, extractor: extractor)
        let copy = DegradedCopy(kind: .lowPass, value: 3000)
        let degraded = try cache.logMel(path: file.path, copy: copy, seconds: 2, extractor: extractor)
        #expect(degraded.columns == 32 && degraded.rows > 0 && degraded.rows < clean.rows)
        // The top band (above 3 kHz) loses energy, the band of the 400 Hz tone keeps it.
        let top = (0..<degraded.rows).map { clean[$0, 31] - degraded[$0, 31] }.reduce(0, +) / Float(degraded.rows)
        #expect(top > 20, "top band lost \(top) dB")
        let entries = try FileManager.default.contentsOfDirectory(atPath: folder.path("cache").path)
        #expect(entries.filter { $0.contains("lowpass-3000Hz-2s") }.count == 1, "\(entries)")
        #expect(try cache.logMel(path: file.path, copy: copy, seconds: 2, extractor: extractor) == degraded)
    }

    /// A run with copies makes them, trains, and records the fraction in its recipe.
    @Test func trainingWithCopiesRuns() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-train-copies")
        let data = folder.path("data")
        for (label, make) in [("tones", { (i: Int) in Signals.chord([110 + 30 * Double(i), 440], seconds: 3, sampleRate: 22_050) }),
                              ("noise", { (i: Int) in Signals.whiteNoise(seconds: 3, sampleRate: 22_050, seed: UInt64(i)) })] {
            let dir = data.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for i in 0..<3 {
                try AudioFileWriter.write(make(i), sampleRate: 22_050, format: .wav16, to: dir.appendingPathComponent("\(i).wav"))
            }
        }
        var recipe = TrainingRecipe.tiny(epochs: 1, steps: 2, classes: 2, segments: 2, seconds: 0.5, hidden: 8)
        recipe.degradedCopyFraction = 0.5
        let session = try TrainingSession(recipe: recipe, modelName: "copies", output: folder.path("m.safetensors"),
                                          cacheDirectory: folder.path("cache").path) { _ in }
        let report = try session.run(collection: try LabelledCollection.load(folder: data.path, labels: nil))
        #expect(report.epochs.count == 1 && report.recipe["degradedCopyFraction"] == "0.5")
        let copies = try FileManager.default.contentsOfDirectory(atPath: folder.path("cache").path)
            .filter { $0.hasSuffix("-120s.npy") }
        #expect(copies.count == report.trainTracks, "one copy per training track: \(copies)")

        // Aligned pairs (every contrastive pair an original and its copy at one moment) train too.
        recipe.contrastiveWeight = 0.5
        recipe.alignedCopyPairs = 1
        let aligned = try TrainingSession(recipe: recipe, modelName: "aligned", output: folder.path("a.safetensors"),
                                          cacheDirectory: folder.path("cache").path) { _ in }
        let alignedReport = try aligned.run(collection: try LabelledCollection.load(folder: data.path, labels: nil))
        #expect(alignedReport.epochs.count == 1 && alignedReport.recipe["alignedCopyPairs"] == "1")
        #expect(alignedReport.epochs[0].trainContrastive?.isFinite == true)
        #expect(alignedReport.epochs[0].trainConsistency == nil)
        // With the consistency loss, each aligned pair's cosine distance is recorded: 1 − cosine lies in 0...2
        // up to rounding (a level-shifted copy of a loudness-normalised input can embed exactly as its
        // original, cosine 1 ± 1e-7).
        recipe.copyConsistencyWeight = 2
        let consistent = try TrainingSession(recipe: recipe, modelName: "consistent", output: folder.path("c.safetensors"),
                                             cacheDirectory: folder.path("cache").path) { _ in }
        let consistentReport = try consistent.run(collection: try LabelledCollection.load(folder: data.path, labels: nil))
        let consistency = try #require(consistentReport.epochs[0].trainConsistency)
        #expect(consistency.isFinite && consistency > -1e-5 && consistency <= 2, "\(consistency)")
        #expect(consistentReport.recipe["copyConsistencyWeight"] == "2")
    }
}
