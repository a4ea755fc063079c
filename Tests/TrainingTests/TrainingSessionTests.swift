import AudioDecoding
import EncoderTraining
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

@Suite struct TrainingSessionTests {
    /// The timbre reference set leaves out, and names, a file it cannot analyse; too few usable tracks (or too few
    /// mel bands) make no set, said in a note, and training goes on without one.
    @Test func timbreReferenceSkipsBadFilesAndNeedsEnoughTracks() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-reference")
        var tracks: [LabelledTrack] = []
        for i in 0..<9 {
            let url = folder.path("\(i).wav")
            try AudioFileWriter.write(
                Signals.chord([100 + 30 * Double(i)], seconds: 1.5, sampleRate: 22_050), sampleRate: 22_050,
                format: .wav16, to: url)
            tracks.append(LabelledTrack(path: url.path, label: i % 2 == 0 ? "a" : "b"))
        }
        let broken = folder.path("broken.wav")
        try Data("not audio".utf8).write(to: broken)
        tracks.append(LabelledTrack(path: broken.path, label: "a"))
        let encoder = SequenceEncoding.Encoder(
            configuration: EncoderConfiguration(
                inputSize: 32, hiddenSize: 4, layers: 1, bidirectional: false, embeddingSize: 4, classNames: ["a", "b"],
                segmentFrames: 20, segmentHopFrames: 10, features: FeatureConfiguration(melBands: 32, topDecibels: nil),
                bandMean: [Float](repeating: -40, count: 32), bandStd: [Float](repeating: 20, count: 32)),
            seed: 1)
        var lines: [String] = []
        let reference = try TrainingSession.timbreReference(
            tracks, encoder: encoder, seed: 1, progress: SilentProgress.factory, log: { lines.append($0) })
        #expect(reference?.full.rows == 9 && reference?.lowBand.rows == 9)
        #expect(lines.contains { $0.hasPrefix("note: \(broken.path) is left out of the timbre reference set: ") })
        lines = []
        let none = try TrainingSession.timbreReference(
            Array(tracks.suffix(4)), encoder: encoder, seed: 1, progress: SilentProgress.factory,
            log: { lines.append($0) })
        #expect(none == nil)
        #expect(lines.last == "note: no timbre reference set: only 3 track(s) of the training data gave a timbre model, "
            + "and a reference set needs 8; train on more (or longer) tracks")
    }

    /// Three audibly different generated classes of six 2-s tracks each (four train, two validation) in
    /// `folder`/data with its labels.csv; returns the data folder.
    static func threeClasses(in folder: TemporaryDirectory) throws -> URL {
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
        return data
    }

    /// Ctrl-C during training writes nothing to the output path: the kept weights wait in the unfinished file
    /// (a model), the log says so, and `--resume` finishes the run, moving them there. An interrupted run into a
    /// path that holds an earlier model leaves that model as it was.
    @Test func anInterruptedRunWritesNoModelUntilItFinishes() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-train-stop")
        let data = try Self.threeClasses(in: folder)
        let collection = try LabelledCollection.load(folder: data.path, labels: nil)
        var recipe = TrainingRecipe.tiny(epochs: 3, steps: 4, classes: 3, segments: 3, seconds: 0.75, hidden: 16)
        recipe.warmupSteps = 2
        recipe.keep = .last
        let output = folder.path("model.safetensors")
        let stop = StopRequest()
        var lines: [String] = []
        let session = try TrainingSession(recipe: recipe, modelName: "toy", output: output,
                                          cacheDirectory: folder.path("cache").path, stop: stop) { line in
            lines.append(line)
            if line.hasPrefix("epoch   1 ") { _ = stop.raise() }
        }
        let cut = try session.run(collection: collection)
        #expect(cut.epochs.count == 1 && !cut.finished(epochs: 3))
        #expect(!FileManager.default.fileExists(atPath: output.path), "an interrupted run wrote the model file")
        #expect(FileManager.default.fileExists(atPath: session.checkpointURL.path))
        let kept = try SequenceEncoding.Encoder.load(contentsOf: session.unfinishedURL)
        #expect(kept.configuration.classNames == ["clicks", "noise", "tones"])
        #expect(lines.last == "interrupted after epoch 1 of 3: no model written to \(output.path); the weights of "
            + "epoch 1 are in \(session.unfinishedURL.path) (a usable model); --resume continues from the checkpoint",
            "\(lines)")

        lines = []
        let resumed = try TrainingSession(recipe: recipe, modelName: "toy", output: output,
                                          cacheDirectory: folder.path("cache").path) { lines.append($0) }
        let whole = try resumed.run(collection: collection, resume: true)
        #expect(whole.epochs.map(\.epoch) == [1, 2, 3] && whole.finished(epochs: 3))
        #expect(!FileManager.default.fileExists(atPath: session.unfinishedURL.path))
        let model = try SequenceEncoding.Encoder.load(contentsOf: output)
        let checkpoint = try SequenceEncoding.Encoder.load(contentsOf: session.checkpointURL)
        // Keeping the last epoch, the model file holds the weights the run ended with.
        #expect(whole.keptEpoch == 3)
        #expect(model.parameters.array(model.layout.count) == checkpoint.parameters.array(checkpoint.layout.count))
        #expect(!lines.contains { $0.hasPrefix("interrupted") })
        // And the same weights as a run that was never interrupted: the crops and batches drawn after the resume
        // are those an uninterrupted run draws (the generators' states are in the report). Equal to within 1e-6,
        // not bit for bit: OpenBLAS's kernels may sum in another order where a buffer lies at another alignment
        // (a CI run saw 4 of 3 363 weights differ by 2e-8); the generators re-seeded by epochs done, as before
        // they were kept, move them by 0.04.
        let straightOutput = folder.path("straight.safetensors")
        let straight = try TrainingSession(recipe: recipe, modelName: "toy", output: straightOutput,
                                           cacheDirectory: folder.path("cache").path) { _ in }
        _ = try straight.run(collection: collection)
        let uninterrupted = try SequenceEncoding.Encoder.load(contentsOf: straightOutput)
        let difference = Approx.maxAbsDifference(
            model.parameters.array(model.layout.count), uninterrupted.parameters.array(uninterrupted.layout.count))
        #expect(difference <= 1e-6, "resumed and uninterrupted weights differ by up to \(difference)")

        // A new run into the same path, interrupted: the finished model stays, byte for byte, and the note says so.
        let before = try Data(contentsOf: output)
        let stopAgain = StopRequest()
        lines = []
        let again = try TrainingSession(recipe: recipe, modelName: "toy", output: output,
                                        cacheDirectory: folder.path("cache").path, stop: stopAgain) { line in
            lines.append(line)
            if line.hasPrefix("epoch   1 ") { _ = stopAgain.raise() }
        }
        _ = try again.run(collection: collection)
        #expect(try Data(contentsOf: output) == before)
        #expect(lines.last?.hasPrefix("interrupted after epoch 1 of 3: no model written to \(output.path) (it still "
            + "holds an earlier run's model); the weights of epoch 1 are in ") == true, "\(lines)")
    }

    /// Three audibly different classes (low tones, high noise bursts, clicks); a few seeded epochs of a small
    /// model must classify held-out tracks well above chance (1/3) and write a model, a checkpoint and a report.
    @Test func learnsToSeparateThreeGeneratedClasses() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-train")
        let data = try Self.threeClasses(in: folder)

        var recipe = TrainingRecipe.tiny(epochs: 4, steps: 6, classes: 3, segments: 3, seconds: 0.75, hidden: 16)
        recipe.warmupSteps = 2
        let output = folder.path("model.safetensors")
        var lines: [String] = []
        let session = try TrainingSession(recipe: recipe, modelName: "toy", output: output,
                                          cacheDirectory: folder.path("cache").path) { lines.append($0) }
        let report = try session.run(collection: try LabelledCollection.load(folder: data.path, labels: nil))
        #expect(report.trainTracks == 12 && report.validationTracks == 6)
        #expect(report.epochs.count == 4)
        let last = try #require(report.epochs.last)
        #expect(last.validationAccuracy > 0.6, "validation accuracy \(last.validationAccuracy), lines: \(lines)")
        #expect(last.trainCrossEntropy < report.epochs[0].trainCrossEntropy)
        let model = try SequenceEncoding.Encoder.load(contentsOf: output)
        #expect(model.configuration.classNames == ["clicks", "noise", "tones"])
        // The model carries a timbre reference set of the tracks it read (training and validation splits).
        #expect(model.timbreReference?.full.rows == 18 && lines.contains("timbre reference set: 18 tracks"))
        // Segments overlap by half unless the recipe says otherwise (odd lengths round the hop down).
        #expect(model.configuration.segmentHopFrames == model.configuration.segmentFrames / 2)
        #expect(FileManager.default.fileExists(atPath: session.reportURL.path))
        #expect(try String(contentsOf: session.plotURL, encoding: .utf8).contains("<svg"))
        #expect(report.keptEpoch == report.bestEpoch && report.modelEpoch == report.bestEpoch)
        // Resuming a finished run trains no further epochs but keeps the history.
        let resumed = try TrainingSession(recipe: recipe, modelName: "toy", output: output,
                                          cacheDirectory: folder.path("cache").path) { _ in }
        #expect(try resumed.run(collection: try LabelledCollection.load(folder: data.path, labels: nil), resume: true)
            .epochs.count == 4)
        // Keeping the last epoch: the model file holds the weights the run ended with (the checkpoint's). Without
        // overlap the model file cuts tracks into segments one after the other; the mel bands stop at 8 kHz.
        recipe.keep = .last
        recipe.segmentOverlap = 0
        recipe.maxFrequency = 8_000
        let lastOutput = folder.path("last.safetensors")
        let lastSession = try TrainingSession(recipe: recipe, modelName: "toy", output: lastOutput,
                                              cacheDirectory: folder.path("cache").path) { _ in }
        let lastReport = try lastSession.run(collection: try LabelledCollection.load(folder: data.path, labels: nil))
        #expect(lastReport.keptEpoch == 4 && lastReport.modelEpoch == 4 && lastReport.recipe["keep"] == "last")
        let kept = try SequenceEncoding.Encoder.load(contentsOf: lastOutput)
        let ended = try SequenceEncoding.Encoder.load(contentsOf: lastSession.checkpointURL)
        #expect(kept.parameters.array(kept.layout.count) == ended.parameters.array(ended.layout.count))
        #expect(kept.configuration.segmentHopFrames == kept.configuration.segmentFrames)
        #expect(lastReport.recipe["segmentOverlap"] == "0")
        // The mel bands' top edge is the model's: whatever analyses audio for it uses the same filterbank.
        #expect(kept.configuration.features.maxFrequency == 8_000 && lastReport.recipe["maxFrequency"] == "8000")
        #expect(model.configuration.features.maxFrequency == nil && report.recipe["maxFrequency"] == nil)
    }

    /// Which epochs write the model file: for `best` only one that improved on validation, for `last` every one.
    @Test func keptWeightsChooseWhichEpochsWriteTheModel() {
        #expect(KeptWeights.best.writesModel(improved: true) && !KeptWeights.best.writesModel(improved: false))
        #expect(KeptWeights.last.writesModel(improved: true) && KeptWeights.last.writesModel(improved: false))
    }

    /// The report's recipe: scalars as their text, the front end as compact JSON, no key for options left off.
    @Test func recipeDictionaryWritesTheFrontEndAsJSON() {
        var recipe = TrainingRecipe()
        #expect(recipe.dictionary["frontEnd"] == nil && recipe.dictionary["hiddenSize"] == "128")
        recipe.frontEnd = ConvolutionalFrontEnd(channels: 16, kernelBands: 7, kernelFrames: 3, pool: 8)
        #expect(recipe.dictionary["frontEnd"] == #"{"channels":16,"kernelBands":7,"kernelFrames":3,"pool":8}"#)
    }

    /// Distillation: teacher targets for some training tracks (matched by path, z-scored, one per 1-s patch);
    /// tracks without a row train without them; the relational loss falls; it and the regression loss are
    /// reported (printed and in the report); the regression head stays out of the model file.
    @Test func teacherTargetsDistil() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-teacher")
        let data = folder.path("data")
        var rows = ["path,label,split"]
        var index = ["path,sha256,patches,patch_seconds,model"]
        let teacher = folder.path("teacher")
        try FileManager.default.createDirectory(at: teacher, withIntermediateDirectories: true)
        for i in 0..<4 {
            let signals: [(String, [Float])] = [
                ("tones", Signals.chord([110 + 30 * Double(i), 330], seconds: 3, sampleRate: 22_050)),
                ("noise", Signals.whiteNoise(seconds: 3, sampleRate: 22_050, amplitude: 0.2, seed: UInt64(i + 1))),
            ]
            for (c, (label, samples)) in signals.enumerated() {
                let dir = data.appendingPathComponent(label)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try AudioFileWriter.write(samples, sampleRate: 22_050, format: .wav16,
                                          to: dir.appendingPathComponent("\(i).wav"))
                rows.append("\(label)/\(i).wav,\(label),\(i < 3 ? "train" : "validation")")
                guard i != 2 else { continue }  // no targets for the third tracks
                // A 5-d teacher that separates the classes, 3 patches of 1 s each.
                let sha = "t\(c)\(i)"
                let m = Matrix(rowArrays: (0..<3).map { p in (0..<5).map { Float($0 == c ? 3 : 0) + 0.1 * Float(p + $0) } })
                try NumPyArray(m).write(to: teacher.appendingPathComponent(sha + ".npy"))
                index.append("\(label)/\(i).wav,\(sha),3,1,toy")
            }
        }
        try rows.joined(separator: "\n").write(to: data.appendingPathComponent("labels.csv"), atomically: true, encoding: .utf8)
        // Three tracks of a label the run never trains on, for the fidelity on unseen labels; one lacks targets.
        let held = folder.path("held/chirps")
        try FileManager.default.createDirectory(at: held, withIntermediateDirectories: true)
        for i in 0..<3 {
            try AudioFileWriter.write(Signals.chirp(from: 200 + 100 * Double(i), to: 4000, seconds: 3, sampleRate: 22_050),
                                      sampleRate: 22_050, format: .wav16, to: held.appendingPathComponent("\(i).wav"))
            guard i < 2 else { continue }
            try NumPyArray(Matrix(rowArrays: (0..<3).map { p in (0..<5).map { Float($0 == 4 ? 3 : 0) + 0.2 * Float(p * i) } }))
                .write(to: teacher.appendingPathComponent("h\(i).npy"))
            index.append("chirps/\(i).wav,h\(i),3,1,toy")
        }
        try index.joined(separator: "\n").write(to: teacher.appendingPathComponent("index.csv"), atomically: true,
                                                encoding: .utf8)
        let unseen = try LabelledCollection.load(folder: folder.path("held").path, labels: nil)
        #expect(unseen.count == 3)
        // Mixes of two tracks of a class (the third tracks have no targets, the fourth are validation tracks).
        try "path_a,patch_a,path_b,patch_b,gain_a_db,gain_b_db\ntones/0.wav,1,tones/1.wav,0,-3,-3\nnoise/1.wav,0,noise/0.wav,2,-1,-5\nnoise/0.wav,0,noise/3.wav,0,-3,-3\n"
            .write(to: teacher.appendingPathComponent("mixes.csv"), atomically: true, encoding: .utf8)
        try NumPyArray(Matrix(rowArrays: [[3, 0.1, 0.2, 0.3, 0.4], [0.1, 3, 0.3, 0.4, 0.5], [0, 3, 0, 0, 0]]))
            .write(to: teacher.appendingPathComponent("mixes.npy"))
        var recipe = TrainingRecipe.tiny(epochs: 3, steps: 5, classes: 2, segments: 4, seconds: 0.5, hidden: 8)
        recipe.warmupSteps = 1
        recipe.teacherDirectory = teacher.path
        recipe.teacherRegressionWeight = 1
        var lines: [String] = []
        let session = try TrainingSession(recipe: recipe, modelName: "student", output: folder.path("m.safetensors"),
                                          cacheDirectory: folder.path("cache").path) { lines.append($0) }
        let report = try session.run(collection: try LabelledCollection.load(folder: data.path, labels: nil),
                                     unseen: unseen)
        #expect(lines.contains { $0.contains("teacher targets: 4 of 6 training tracks, 5-d, one per 1.0 s") }, "\(lines)")
        // The student's fidelity to the teacher: on the validation tracks every epoch (2 tracks, the tiny recipe's
        // 2 segments each, 4 pairs across them), on the unseen label's two tracks with targets (4 segments each)
        // at the last epoch, printed and kept in the report; it is measured, never trained on.
        #expect(report.epochs.allSatisfy { $0.validationFidelity?.segments == 4 && $0.validationFidelity?.pairs == 4 },
                "\(report.epochs.map { String(describing: $0.validationFidelity) })")
        let unseenFidelity = try #require(report.epochs.last?.unseenFidelity)
        #expect(unseenFidelity.segments == 8 && unseenFidelity.pairs == 16 && unseenFidelity.headCosine != nil)
        #expect(abs(unseenFidelity.headCosine!) <= 1 && abs(unseenFidelity.pairCorrelation) <= 1)
        #expect(lines.filter { $0.contains("| unseen labels: teacher cos ") }.count
                == report.epochs.filter { $0.unseenFidelity != nil }.count, "\(lines)")
        #expect(report.trainTracks == 6 && report.classNames == ["noise", "tones"])
        let relational = lines.compactMap { line -> Double? in
            guard let r = line.range(of: "relational ") else { return nil }
            return Double(line[r.upperBound...].prefix(6))
        }
        #expect(relational.count == 3 && relational.allSatisfy { $0 > 0 } && relational.last! < relational.first!,
                "\(lines)")
        // 1 − cosine lies in [0, 2]; this toy's targets vary mostly with the patch's position in a steady signal,
        // which no crop can tell, so it need not fall here (EncoderTrainingTests shows it learning).
        let regression = report.epochs.compactMap(\.trainRegression)
        #expect(regression.count == 3 && regression.allSatisfy { $0 > 0 && $0 <= 2 }, "\(lines)")
        #expect(lines.filter { $0.contains("regression ") }.count == 3)
        #expect(report.epochs.allSatisfy { $0.trainRelational != nil && $0.trainContrastive == nil })
        let decoded = try TrainingReport.decode(Data(contentsOf: session.reportURL))
        #expect(decoded.epochs.map(\.trainRegression) == report.epochs.map(\.trainRegression))
        #expect(decoded.epochs.map(\.unseenFidelity) == report.epochs.map(\.unseenFidelity))
        // Measuring is all it does: the same run without the unseen tracks trains to the same losses and model.
        let blind = try TrainingSession(recipe: recipe, modelName: "student", output: folder.path("b.safetensors"),
                                        cacheDirectory: folder.path("cache").path) { _ in }
        let blindReport = try blind.run(collection: try LabelledCollection.load(folder: data.path, labels: nil))
        #expect(blindReport.epochs.map(\.trainCrossEntropy) == report.epochs.map(\.trainCrossEntropy)
                && blindReport.epochs.map(\.trainRegression) == report.epochs.map(\.trainRegression))
        #expect(blindReport.epochs.allSatisfy { $0.unseenFidelity == nil }
                && blindReport.epochs.map(\.validationFidelity) == report.epochs.map(\.validationFidelity))
        #expect(try Data(contentsOf: folder.path("b.safetensors")) == Data(contentsOf: folder.path("m.safetensors")))
        let curves = try String(contentsOf: session.plotURL, encoding: .utf8)
        #expect(curves.contains("unseen labels teacher r") && curves.contains("validation teacher cosine"))
        let model = try Data(contentsOf: folder.path("m.safetensors"))
        #expect(String(decoding: model.prefix(4096), as: UTF8.self).contains("regression") == false)
        #expect(String(decoding: try Data(contentsOf: session.checkpointURL).prefix(8192), as: UTF8.self)
            .contains("trainer.regression.parameters"))
        // With the track's mean as target (steady within a track, apart between classes) the regression falls;
        // the relational loss's crop targets here mix the patches each crop covers.
        recipe.teacherRegressionTarget = .track
        recipe.teacherCropTarget = .overlap
        let byTrack = try TrainingSession(recipe: recipe, modelName: "student", output: folder.path("t.safetensors"),
                                          cacheDirectory: folder.path("cache").path) { _ in }
        let byTrackReport = try byTrack.run(collection: try LabelledCollection.load(folder: data.path, labels: nil))
        let trackRegression = byTrackReport.epochs.compactMap(\.trainRegression)
        #expect(trackRegression.count == 3 && trackRegression.last! < trackRegression.first!, "\(trackRegression)")
        #expect(byTrackReport.epochs.allSatisfy { ($0.trainRelational ?? 0) > 0 })
        #expect(byTrackReport.recipe["teacherCropTarget"] == "overlap")
        recipe.teacherRegressionTarget = .patch
        recipe.teacherCropTarget = .centre
        // Track-level distillation alone (no contrastive loss, no crop-level terms): crops come in pairs of a
        // track, their mean learns the teacher's track similarities, and the loss falls.
        var pooled = recipe
        pooled.teacherWeight = 0
        pooled.teacherRegressionWeight = 0
        pooled.teacherTrackWeight = 5
        var pooledLines: [String] = []
        let pooledSession = try TrainingSession(recipe: pooled, modelName: "student", output: folder.path("p.safetensors"),
                                                cacheDirectory: folder.path("cache").path) { pooledLines.append($0) }
        let pooledReport = try pooledSession.run(collection: try LabelledCollection.load(folder: data.path, labels: nil))
        let trackRelational = pooledReport.epochs.compactMap(\.trainTrackRelational)
        #expect(trackRelational.count == 3 && trackRelational.allSatisfy { $0 > 0 }
                && trackRelational.last! < trackRelational.first!, "\(pooledLines)")
        #expect(pooledReport.epochs.allSatisfy { $0.trainRelational == nil && $0.trainContrastive == nil })
        #expect(pooledLines.filter { $0.contains("track relational ") }.count == 3)
        #expect(pooledReport.recipe["teacherTrackWeight"] == "5")
        // Mixes: about half the crops come from mixes of two training tracks of a class (two of the three rows;
        // the third pairs a validation track), the others are cut on the teacher's patches; the epoch line and
        // the report give the share, and the distillation losses stay in range.
        var mixed = recipe
        mixed.teacherMixFraction = 0.5
        mixed.teacherCropTarget = .aligned
        var mixedLines: [String] = []
        let mixedSession = try TrainingSession(recipe: mixed, modelName: "student", output: folder.path("x.safetensors"),
                                               cacheDirectory: folder.path("cache").path) { mixedLines.append($0) }
        let mixedReport = try mixedSession.run(collection: try LabelledCollection.load(folder: data.path, labels: nil))
        #expect(mixedLines.contains { $0.contains("teacher mixes: 2 of 3 in") && $0.contains("pair two training tracks") },
                "\(mixedLines)")
        // Mix crops come only from the two tracks that have mixes (of the six training tracks).
        let shares = mixedReport.epochs.compactMap(\.trainMixShare)
        #expect(shares.count == 3 && shares.allSatisfy { $0 > 0.02 && $0 < 0.3 }, "\(shares)")
        #expect(mixedLines.filter { $0.contains("  mixes 0.") }.count == 3, "\(mixedLines)")
        #expect(mixedReport.epochs.allSatisfy { ($0.trainRelational ?? -1) > 0 && ($0.trainRegression ?? -1) > 0 })
        #expect(mixedReport.recipe["teacherMixFraction"] == "0.5" && mixedReport.recipe["teacherCropTarget"] == "aligned")
        #expect(report.epochs.allSatisfy { $0.trainMixShare == nil })
        // A teacher folder without an index is refused with the command that makes one.
        recipe.teacherDirectory = folder.path("nowhere").path
        let broken = try TrainingSession(recipe: recipe, modelName: "s", output: folder.path("n.safetensors"),
                                         cacheDirectory: folder.path("cache").path) { _ in }
        #expect(throws: TrainingError.self) {
            _ = try broken.run(collection: try LabelledCollection.load(folder: data.path, labels: nil))
        }
    }

    /// Bad training collections go on with a message: a silent file is left out, a class with one training
    /// track is named (its crops all come from it), and a class whose tracks are all in validation too.
    @Test func silentFilesAndThinClassesAreNamed() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-thin")
        let data = folder.path("data")
        var rows = ["path,label,split"]
        func add(_ label: String, _ name: String, _ samples: [Float], _ split: String) throws {
            let dir = data.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try AudioFileWriter.write(samples, sampleRate: 22_050, format: .wav16, to: dir.appendingPathComponent(name))
            rows.append("\(label)/\(name),\(label),\(split)")
        }
        for i in 0..<3 {
            try add("tones", "\(i).wav", Signals.chord([110 + 40 * Double(i), 440], seconds: 2, sampleRate: 22_050), "train")
        }
        try add("tones", "silent.wav", Signals.silence(seconds: 2, sampleRate: 22_050), "train")
        try add("noise", "only.wav", Signals.whiteNoise(seconds: 2, sampleRate: 22_050, amplitude: 0.2), "train")
        try add("clicks", "held.wav", Signals.clicks(every: 0.1, seconds: 2, sampleRate: 22_050), "validation")
        try rows.joined(separator: "\n").write(to: data.appendingPathComponent("labels.csv"), atomically: true,
                                               encoding: .utf8)
        var lines: [String] = []
        let session = try TrainingSession(
            recipe: .tiny(epochs: 1, steps: 2, classes: 2, segments: 2, seconds: 0.5, hidden: 8),
            modelName: "thin", output: folder.path("m.safetensors"), cacheDirectory: folder.path("cache").path,
            progress: SilentProgress.factory) { lines.append($0) }
        let report = try session.run(collection: try LabelledCollection.load(folder: data.path, labels: nil))
        #expect(report.trainTracks == 4 && report.epochs.count == 1)
        #expect(lines.contains { $0.contains("silent.wav: silent") && $0.contains("left out") }, "\(lines)")
        #expect(lines.contains { $0.contains("class noise has one training track") }, "\(lines)")
        #expect(lines.contains { $0.contains("class clicks has no training tracks") }, "\(lines)")
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
