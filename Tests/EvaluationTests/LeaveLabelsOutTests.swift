import AudioDecoding
import Foundation
import AudioDegradations
@testable import Evaluation
import Analysis
import Library
import Training
import EncoderTraining
import SimilaritySearch
import RetrieveCore
import SequenceEncoding
import Testing
import TestSupport
import PipelineTestSupport

@Suite struct LeaveLabelsOutTests {
    @Test func foldsDealEveryLabelOnceAndEvenly() {
        let labels = (0..<11).map { "label\($0)" }
        let folds = LeaveLabelsOut.assign(labels: labels, folds: 4, seed: 1)
        #expect(folds.count == 4)
        #expect(Set(folds.flatMap { $0 }) == Set(labels) && folds.flatMap { $0 }.count == 11)
        #expect(folds.map(\.count).max()! - folds.map(\.count).min()! <= 1)
        // The order labels are listed in (and repeats) does not matter; another seed deals differently.
        #expect(LeaveLabelsOut.assign(labels: labels.reversed() + labels, folds: 4, seed: 1) == folds)
        #expect(LeaveLabelsOut.assign(labels: labels, folds: 4, seed: 2) != folds)
    }

    @Test func macroPrecisionWeighsClassesEqually() {
        // Class a (4 items) is retrieved perfectly by identical scores within it; class b (2 items) not at all.
        let labels = ["a", "a", "a", "a", "b", "b"]
        var scores = Matrix(rows: 6, columns: 6)
        for i in 0..<6 { for j in 0..<6 { scores[i, j] = labels[i] == labels[j] ? 1 : 0 } }
        // b's items prefer a's items to each other.
        for i in 4..<6 { for j in 0..<6 { scores[i, j] = labels[j] == "a" ? 2 : 0 } }
        let s = RetrievalMetrics.styleRetrieval(scores: scores, labels: labels, groups: (0..<6).map(String.init))
        // P@10 divides by 10: a's queries find 3 relevant, b's queries find 1 (after the 4 a's).
        #expect(abs(s.precisionAt10 - (4 * 0.3 + 2 * 0.1) / 6) < 1e-12)
        #expect(abs(s.macroPrecisionAt10 - (0.3 + 0.1) / 2) < 1e-12)
    }

    @Test func clipStartsAreEvenlySpaced() {
        #expect(ClipExport.clipStarts(samples: 100, clipSamples: 10, clips: 2) == [30, 60])
        #expect(ClipExport.clipStarts(samples: 10, clipSamples: 10, clips: 3) == [0])
        #expect(ClipExport.safeName("a__b c/d") == "a_b_c_d" && ClipExport.safeName(".x") == "_.x")
    }

    /// Four audibly different generated classes, cut into clips; two folds train tiny models on the other two
    /// labels and score the held-out clips beside the baselines and two peers (an embedding and a similarity
    /// matrix, one clip undescribed).
    @Test func foldsTrainScoreAndIncludePeers() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-llo")
        let data = folder.path("data")
        var rows = ["path,label,split"]
        for i in 0..<4 {
            let split = i < 3 ? "train" : "validation"
            let signals: [(String, [Float])] = [
                ("tones", Signals.chord([110 + 20 * Double(i), 220 + 15 * Double(i)], seconds: 3, sampleRate: 22_050)),
                ("noise", Signals.whiteNoise(seconds: 3, sampleRate: 22_050, amplitude: 0.2, seed: UInt64(i + 1))),
                ("clicks", Signals.clicks(every: 0.1 + 0.02 * Double(i), seconds: 3, sampleRate: 22_050)),
                ("chirps", Signals.chirp(from: 300 + 50 * Double(i), to: 3000, seconds: 3, sampleRate: 22_050)),
            ]
            for (label, samples) in signals {
                let dir = data.appendingPathComponent(label)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try AudioFileWriter.write(samples, sampleRate: 22_050, format: .wav16,
                                          to: dir.appendingPathComponent("\(i).wav"))
                rows.append("\(label)/\(i).wav,\(label),\(split)")
            }
        }
        try rows.joined(separator: "\n").write(to: data.appendingPathComponent("labels.csv"), atomically: true,
                                               encoding: .utf8)
        let training = try LabelledCollection.load(folder: data.path, labels: nil)
        let clips = folder.path("clips")
        let summary = try ClipExport.export(training, to: clips, clipsPerTrack: 2, clipSeconds: 1)
        #expect(summary.tracks == 16 && summary.clips == 32 && summary.failures.isEmpty)
        let csv = clips.appendingPathComponent("clips.csv")
        let evaluation = try LabelledCollection.csv(csv.path)
        #expect(evaluation.count == 32)
        #expect(Set(evaluation.map(\.group)).count == 16)
        let firstClip = try AudioDecoder(targetSampleRate: 22_050).decode(URL(fileURLWithPath: evaluation[0].path))
        #expect(firstClip.samples.count == 22_050)

        // Peers: an embedding that knows the labels (perfect), and a similarity matrix with clip 5 undescribed.
        let peers = folder.path("peers")
        try FileManager.default.createDirectory(at: peers, withIntermediateDirectories: true)
        let labelIndex = Dictionary(uniqueKeysWithValues: ["chirps", "clicks", "noise", "tones"].enumerated().map { ($1, $0) })
        var rng = SeededGenerator(seed: 4)
        let oracle = evaluation.map { item -> [Float] in
            // z-scoring would lift a noise dimension to the labels' weight: the small noise stays in the label's own.
            (0..<4).map { $0 == labelIndex[item.label]! ? 5 + Float.random(in: 0...0.01, using: &rng) : 0 }
        }
        try NumPyArray(Matrix(rowArrays: oracle)).write(to: peers.appendingPathComponent("oracle.npy"))
        var similarity = Matrix(rows: 32, columns: 32)
        for i in 0..<32 { for j in 0..<32 { similarity[i, j] = Float.random(in: 0...1, using: &rng) } }
        for j in 0..<32 { similarity[5, j] = .nan; similarity[j, 5] = .nan }
        try NumPyArray(similarity).write(to: peers.appendingPathComponent("random.npy"))
        let digest = SHA256.hexDigest([UInt8](try Data(contentsOf: csv)))
        try #"{"clips_sha256": "\#(digest)", "systems": {"oracle": {"kind": "embedding"}}}"#
            .write(to: peers.appendingPathComponent("manifest.json"), atomically: true, encoding: .utf8)
        let descriptors = try PeerDescriptors(folder: peers, csv: csv, items: 32)
        #expect(descriptors.names == ["oracle", "random"])
        #expect(descriptors.notes.map(\.undescribed) == [0, 1] && descriptors.notes[1].kind == "similarity")

        var options = LeaveLabelsOut.Options(cacheDirectory: folder.path("cache").path)
        options.folds = 2
        options.modelsDirectory = folder.path("models")
        options.recipe = TrainingRecipe.tiny(epochs: 2, steps: 3, classes: 2, segments: 4, seconds: 0.5, hidden: 8)
        options.recipe.learningRate = 2e-3
        options.recipe.warmupSteps = 1
        options.recipe.contrastiveWeight = 0.5
        var lines: [String] = []
        let report = try LeaveLabelsOut(options: options) { lines.append($0) }
            .run(evaluation: evaluation, training: training, peers: descriptors, progress: SilentProgress.factory,
                 stop: StopRequest())
        #expect(report.folds.count == 2)
        #expect(Set(report.folds.flatMap(\.labels)) == Set(labelIndex.keys))
        for fold in report.folds {
            #expect(fold.items == 16 && fold.labels.count == 2 && fold.trainingTracks == 8)
            #expect(fold.systems.map(\.name)
                == ["model", "model-z", "mfcc-stats", "logmel-stats", "timbre", "model+timbre", "oracle", "random"])
            // Whole degraded copies of every held-out clip: a -20 dB copy embeds as the original (level range).
            #expect(fold.invariance.map(\.degradation) == Degradation.invariance.map(\.rawValue))
            let quiet = try #require(fold.invariance.first?.selfCosine)
            #expect(fold.invariance[0].scores.queries == 16 && quiet.minimum > 0.999, "\(quiet)")
            // The same copies ranked by the model mixed with timbre: the quieter copy still finds its own clip.
            let hybrid = try #require(fold.hybridInvariance)
            #expect(hybrid.map(\.degradation) == Degradation.invariance.map(\.rawValue))
            #expect(hybrid[0].scores.queries == 16 && hybrid[0].scores.recallAt1 == 1, "\(hybrid[0].scores)")
            let oracleScores = try #require(fold.systems.first { $0.name == "oracle" })
            // Each clip's 6 same-label candidates (its own track's other clip left out) rank first: mAP 1.
            #expect(abs(oracleScores.style.meanAveragePrecision - 1) < 1e-9)
            let randomItems = try #require(fold.systems.first { $0.name == "random" }).items
            #expect(randomItems == (fold.labels.contains(evaluation[5].label) ? 15 : 16))
        }
        #expect(report.summaries.map(\.name).first == "model")
        #expect(FileManager.default.fileExists(atPath: folder.path("models/fold-1.safetensors").path))
        // A second run reuses the fold models trained by the same recipe on the same labels.
        lines = []
        let again = try LeaveLabelsOut(options: options) { lines.append($0) }
            .run(evaluation: evaluation, training: training, peers: nil, progress: SilentProgress.factory, stop: StopRequest())
        #expect(lines.filter { $0.contains("reusing") }.count == 2, "\(lines)")
        #expect(again.folds.allSatisfy(\.reused) && !report.folds.contains(where: \.reused))
        #expect(again.summaries.first?.precisionAt10 == report.summaries.first?.precisionAt10)

        // Ctrl-C after fold 1's first epoch leaves no model file, its unfinished weights and a report of 1 of 2
        // epochs: the next run must train the fold again: the uninterrupted run's model, weight for weight.
        options.modelsDirectory = folder.path("models-interrupted")
        let stop = StopRequest()
        _ = try LeaveLabelsOut(options: options) { line in if line.contains(" ce ") { _ = stop.raise() } }
            .run(evaluation: evaluation, training: training, peers: nil, progress: SilentProgress.factory, stop: stop)
        let cut = try TrainingReport.decode(Data(contentsOf: folder.path("models-interrupted/fold-1.report.json")))
        #expect(cut.epochs.count == 1 && !cut.finished(epochs: 2))
        #expect(!FileManager.default.fileExists(atPath: folder.path("models-interrupted/fold-1.safetensors").path))
        #expect(FileManager.default.fileExists(atPath: folder.path("models-interrupted/fold-1.unfinished.safetensors").path))
        lines = []
        let retrained = try LeaveLabelsOut(options: options) { lines.append($0) }
            .run(evaluation: evaluation, training: training, peers: nil, progress: SilentProgress.factory, stop: StopRequest())
        #expect(lines.contains { $0.contains("fold-1.safetensors stopped after epoch 1 of 2") }, "\(lines)")
        #expect(!lines.contains { $0.contains("reusing") } && !retrained.folds.contains(where: \.reused))
        let whole = try TrainingReport.decode(Data(contentsOf: folder.path("models-interrupted/fold-1.report.json")))
        #expect(whole.epochs.map(\.epoch) == [1, 2] && whole.finished(epochs: 2))
        #expect(!FileManager.default.fileExists(atPath: folder.path("models-interrupted/fold-1.unfinished.safetensors").path))
        let weights = try ["models-interrupted", "models"].map { dir in
            let encoder = try Encoder.load(contentsOf: folder.path("\(dir)/fold-1.safetensors"))
            return encoder.parameters.array(encoder.layout.count)
        }
        #expect(weights[0] == weights[1])

        // A test split among the training labels' tracks: left out of the fold models' training, unless
        // the recipe's trainOnTestSplit, which takes them too (and never reuses models trained without them).
        let withTest = training.map { track in
            var track = track
            if track.path.hasSuffix("/2.wav") { track.split = .test }
            return track
        }
        options.invariance = []
        for (onTest, tracks) in [(false, 6), (true, 8)] {
            options.recipe.trainOnTestSplit = onTest
            options.modelsDirectory = folder.path("models-test-split")  // one folder: the second run retrains
            let run = try LeaveLabelsOut(options: options) { _ in }
                .run(evaluation: evaluation, training: withTest, peers: nil, progress: SilentProgress.factory,
                     stop: StopRequest())
            #expect(run.folds.map(\.trainingTracks) == [tracks, tracks] && run.recipe == options.recipe.dictionary)
            #expect(run.folds.allSatisfy { !$0.reused })
            // What the session itself read: 2 labels × (2 train tracks, + 1 test track with the flag).
            let written = try TrainingReport.decode(Data(contentsOf: folder.path("models-test-split/fold-1.report.json")))
            #expect(written.trainTracks == (onTest ? 6 : 4) && written.validationTracks == 2)
        }

        // A distilling recipe: each fold's model reports its fidelity to the teacher on the training collection's
        // tracks of its held-out labels (2 labels × 4 tracks × 4 segments), and on its validation tracks (2 × 1 × 2),
        // at the epoch of its weights; the held-out tracks are measured, never trained on.
        let teacher = folder.path("teacher")
        try FileManager.default.createDirectory(at: teacher, withIntermediateDirectories: true)
        var index = ["path,sha256,patches,patch_seconds,model"]
        for (n, track) in training.enumerated() {
            let relative = track.path.split(separator: "/").suffix(2).joined(separator: "/")
            let c = labelIndex[track.label]!
            try NumPyArray(Matrix(rowArrays: (0..<3).map { p in (0..<4).map { Float($0 == c ? 3 : 0) + 0.1 * Float(p + n % 3) } }))
                .write(to: teacher.appendingPathComponent("x\(n).npy"))
            index.append("\(relative),x\(n),3,1,toy")
        }
        try index.joined(separator: "\n").write(to: teacher.appendingPathComponent("index.csv"), atomically: true,
                                                encoding: .utf8)
        options.folds = 2
        options.recipe.trainOnTestSplit = false
        options.recipe.teacherDirectory = teacher.path
        options.recipe.teacherRegressionWeight = 1
        options.modelsDirectory = folder.path("models-teacher")
        let distilled = try LeaveLabelsOut(options: options) { _ in }
            .run(evaluation: evaluation, training: training, peers: nil, progress: SilentProgress.factory, stop: StopRequest())
        for fold in distilled.folds {
            let unseen = try #require(fold.unseenFidelity)
            #expect(unseen.segments == 32 && unseen.pairs == 32 * 28 / 2 && unseen.headCosine != nil, "\(unseen)")
            #expect(fold.validationFidelity?.segments == 4 && fold.trainingTracks == 8)
            let written = try TrainingReport.decode(Data(contentsOf: folder.path("models-teacher/fold-\(fold.fold).report.json")))
            #expect(written.epochs.first { $0.epoch == fold.bestEpoch }?.unseenFidelity == unseen)
        }
        #expect(report.folds.allSatisfy { $0.unseenFidelity == nil && $0.validationFidelity == nil })

        // Too few labels for the folds, and peers made for another clip set, are refused with a reason.
        options.folds = 5
        #expect(throws: LeaveLabelsOutError.self) {
            _ = try LeaveLabelsOut(options: options) { _ in }
                .run(evaluation: evaluation, training: training, peers: nil, progress: SilentProgress.factory, stop: StopRequest())
        }
        try "index,path,label,group\n".appending(try String(contentsOf: csv, encoding: .utf8))
            .write(to: folder.path("other.csv"), atomically: true, encoding: .utf8)
        #expect(throws: PeerDescriptorsError.self) {
            _ = try PeerDescriptors(folder: peers, csv: folder.path("other.csv"), items: 32)
        }
    }
}
