import AudioDecoding
import EncoderTraining
import Foundation
import RetrievalPipeline
import RetrieveCore
import SequenceEncoding
import Testing
import TestSupport

@Suite struct TrainingSessionTests {
    /// Three audibly different classes (low tones, high noise bursts, clicks); a few seeded epochs of a small
    /// model must classify held-out tracks well above chance (1/3) and write a model, a checkpoint and a report.
    @Test func learnsToSeparateThreeGeneratedClasses() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-train")
        let data = folder.path("data")
        var rows = ["path,label,split"]
        for i in 0..<6 {
            let split = i < 4 ? "train" : "validation"
            let tone = Signals.chord([110 + 20 * Double(i), 220 + 15 * Double(i)], seconds: 2, sampleRate: 22_050)
            let noise = Signals.whiteNoise(seconds: 2, sampleRate: 22_050, amplitude: 0.2, seed: UInt64(i + 1))
            let clicks = Signals.clicks(every: 0.1 + 0.02 * Double(i), seconds: 2, sampleRate: 22_050)
            for (label, samples) in [("tones", tone), ("noise", noise), ("clicks", clicks)] {
                let dir = data.appendingPathComponent(label)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try AudioFileWriter.write(samples, sampleRate: 22_050, format: .wav16,
                                          to: dir.appendingPathComponent("\(i).wav"))
                rows.append("\(label)/\(i).wav,\(label),\(split)")
            }
        }
        let labels = data.appendingPathComponent("labels.csv")
        try rows.joined(separator: "\n").write(to: labels, atomically: true, encoding: .utf8)

        var recipe = TrainingRecipe()
        recipe.epochs = 4
        recipe.stepsPerEpoch = 6
        recipe.classesPerBatch = 3
        recipe.segmentsPerClass = 3
        recipe.segmentSeconds = 0.75
        recipe.melBands = 32
        recipe.hiddenSize = 16
        recipe.embeddingSize = 8
        recipe.learningRate = 1e-2
        recipe.warmupSteps = 2
        recipe.validationSegmentsPerTrack = 2
        let output = folder.path("model.safetensors")
        var lines: [String] = []
        let session = try TrainingSession(recipe: recipe, modelName: "toy", output: output,
                                          cacheDirectory: folder.path("cache").path, progress: .quiet) { lines.append($0) }
        let report = try session.run(collection: try LabelledCollection.load(folder: data.path, labels: nil))
        #expect(report.trainTracks == 12 && report.validationTracks == 6)
        #expect(report.epochs.count == 4)
        let last = try #require(report.epochs.last)
        #expect(last.validationAccuracy > 0.6, "validation accuracy \(last.validationAccuracy), lines: \(lines)")
        #expect(last.trainCrossEntropy < report.epochs[0].trainCrossEntropy)
        let model = try SequenceEncoding.Encoder.load(contentsOf: output)
        #expect(model.configuration.classNames == ["clicks", "noise", "tones"])
        #expect(FileManager.default.fileExists(atPath: session.reportURL.path))
        #expect(try String(contentsOf: session.plotURL, encoding: .utf8).contains("<svg"))
        // Resuming a finished run trains no further epochs but keeps the history.
        let resumed = try TrainingSession(recipe: recipe, modelName: "toy", output: output,
                                          cacheDirectory: folder.path("cache").path, progress: .quiet) { _ in }
        #expect(try resumed.run(collection: try LabelledCollection.load(folder: data.path, labels: nil), resume: true)
            .epochs.count == 4)
    }

    @Test func labelsCSVWithQuotesAndSplits() throws {
        let folder = try TemporaryDirectory()
        let csv = folder.path("l.csv")
        try "path,label,split\n\"a, b.wav\",jazz,test\nc.wav,rock,\n".write(to: csv, atomically: true, encoding: .utf8)
        let c = try LabelledCollection.load(folder: nil, labels: csv.path)
        #expect(c.map(\.label) == ["jazz", "rock"])
        #expect(c[0].path.hasSuffix("/a, b.wav") && c[0].split == .test && c[1].split == nil)
        #expect(LabelledCollection.tracks(c, in: .test).count == 1)
        try "path,label,split\nx.wav,rock,holdout\n".write(to: csv, atomically: true, encoding: .utf8)
        #expect(throws: LabelledCollectionError.self) { _ = try LabelledCollection.load(folder: nil, labels: csv.path) }
    }
}
