import ArgumentParser
import SequenceEncoding
import SimilaritySearch
import EncoderTraining
import Testing
import Training
@testable import retrieve

/// The parser on argument arrays: every command's options land where they should, and bad combinations are
/// rejected before any work starts.
@Suite struct CommandParsingTests {
    @Test func indexParsesRootsAndOptions() throws {
        let c = try #require(try Retrieve.parseAsRoot(
            ["index", "a", "b", "--db", "x.sqlite", "--prune", "--dry-run", "--jobs", "1", "--batch-size", "4"])
            as? IndexCommand)
        #expect(c.roots == ["a", "b"])
        #expect(c.location.db == "x.sqlite" && c.prune && c.dryRun && c.jobs == 1 && c.batchSize == 4)
    }

    @Test func migrateTakesTwoIndexesAndRefusesTheSameOneTwice() throws {
        let c = try #require(try Retrieve.parseAsRoot(
            ["migrate", "a.sqlite", "postgresql://u:pw@h/d", "--replace", "--batch-rows", "50", "-q"]) as? MigrateCommand)
        #expect(c.source == "a.sqlite" && c.destination == "postgresql://u:pw@h/d")
        #expect(c.replace && c.batchRows == 50 && c.quiet)
        for same in [["a.sqlite", "./a.sqlite"], ["postgresql://u@h/d", "postgresql://u@h/d"]] {
            #expect {
                try Retrieve.parseAsRoot(["migrate"] + same)
            } throws: { error in
                Retrieve.message(for: error).contains("SRC and DST are the same index")
            }
        }
    }

    @Test func indexRejectsZeroJobs() {
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(["index", "a", "--jobs", "0"]) }
    }

    @Test func similarParsesSeedsFiltersAndFormat() throws {
        let c = try #require(try Retrieve.parseAsRoot(
            ["similar", "q.wav", "12", "--k", "5", "--exclude-same-artist", "--under", "/music/jazz", "--dedupe",
             "--json"]) as? SimilarCommand)
        #expect(c.queries == ["q.wav", "12"])
        #expect(c.k == 5 && c.excludeSameArtist && !c.excludeSameAlbum && c.dedupe)
        #expect(c.under == ["/music/jazz"])
        #expect(c.outputFormat == .json)
        #expect(c.ranking.timbreWeight == 0.4 && c.ranking.neighbourWeight == 0.6)
        let weighted = try #require(
            try Retrieve.parseAsRoot(["similar", "q.wav", "--timbre-weight", "0", "--neighbour-weight", "0"])
                as? SimilarCommand)
        #expect(weighted.ranking.timbreWeight == 0 && weighted.ranking.neighbourWeight == 0)
    }

    @Test(arguments: [["similar", "q.wav", "--k", "0"], ["similar", "q.wav", "--json", "--csv"],
                      ["similar", "q.wav", "--dedupe-threshold", "1.5"], ["similar"],
                      ["similar", "q.wav", "--timbre-weight", "1.5"], ["similar", "q.wav", "--timbre-weight", "-0.1"],
                      ["similar", "q.wav", "--neighbour-weight", "2.5"], ["similar", "q.wav", "--neighbour-weight", "-1"]])
    func similarRejectsBadArguments(arguments: [String]) {
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(arguments) }
    }

    @Test func onlyCommandsThatMayCallBLASChooseItsCore() throws {
        // These re-run `retrieve` with the best OpenBLAS core type where OpenBLAS chose worse (BLASCore)…
        for arguments in [
            ["index", "a"], ["export", "--out", "-"], ["train", "corpus", "--out", "m.safetensors"],
            ["similar", "song.flac"], ["similar", "12", "song.flac"], ["similar", "--identify", "clip.wav"],
        ] {
            let c = try Retrieve.parseAsRoot(arguments)
            #expect((c as? BLASFreeCommand)?.callsBLAS ?? true, "\(arguments)")
        }
        // …these never call BLAS, so they skip the second process start.
        for arguments in [["stats"], ["list"], ["remove", "a.flac"]] {
            #expect((try Retrieve.parseAsRoot(arguments) as? BLASFreeCommand)?.callsBLAS == false, "\(arguments)")
        }
        // Queries by track id scan with our own kernel (BLAS's sgemv only on a CPU without AVX2).
        let byID = try Retrieve.parseAsRoot(["similar", "12", "7", "--k", "3"]) as? BLASFreeCommand
        #expect(byID?.callsBLAS == !VectorCollection.scansWithoutBLAS)
    }

    @Test func exportValidatesFormatAndOutput() throws {
        let c = try #require(try Retrieve.parseAsRoot(["export", "--k", "3", "--format", "jsonl", "--out", "-"])
            as? ExportCommand)
        #expect(c.recommendationFormat == .jsonl && c.k == 3)
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(["export", "--format", "xml", "--out", "x"]) }
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(["export", "--format", "m3u", "--out", "-"]) }
    }

    @Test func trainBuildsTheRecipe() throws {
        let c = try #require(try Retrieve.parseAsRoot(
            ["train", "data", "--epochs", "5", "--hidden", "64", "--bidirectional", "--pooling", "attention",
             "--mining", "semiHard", "--seed", "7", "--no-augment"]) as? TrainCommand)
        let r = c.recipe
        #expect(r.epochs == 5 && r.hiddenSize == 64 && r.bidirectional && r.pooling == .attention)
        #expect(r.mining == .semiHard && r.seed == 7 && !r.augment)
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(["train"]) }
    }

    @Test func trainTakesTheNewObjectivesAndRejectsBadValues() throws {
        let c = try #require(try Retrieve.parseAsRoot(
            ["train", "data", "--contrastive-weight", "0.5", "--temperature", "0.2", "--level-range", "0"]) as? TrainCommand)
        #expect(c.recipe.contrastiveWeight == 0.5 && c.recipe.contrastiveTemperature == 0.2 && c.recipe.levelRange == nil)
        #expect(try #require(try Retrieve.parseAsRoot(["train", "data"]) as? TrainCommand).recipe.levelRange == 80)
        let distil = try #require(try Retrieve.parseAsRoot(
            ["train", "data", "--teacher", "t", "--teacher-regression-weight", "2"]) as? TrainCommand)
        #expect(distil.recipe.teacherRegressionWeight == 2 && distil.recipe.teacherDirectory != nil
            && distil.recipe.teacherRegressionTarget == .patch)
        let byTrack = try #require(try Retrieve.parseAsRoot(
            ["train", "data", "--teacher", "t", "--teacher-regression-weight", "2", "--teacher-regression-target", "track"])
            as? TrainCommand)
        #expect(byTrack.recipe.teacherRegressionTarget == .track)
        let pooled = try #require(try Retrieve.parseAsRoot(["train", "data", "--teacher", "t", "--teacher-track-weight", "30"])
            as? TrainCommand)
        #expect(pooled.recipe.teacherTrackWeight == 30 && distil.recipe.teacherTrackWeight == 0)
        let overlap = try #require(try Retrieve.parseAsRoot(["train", "data", "--teacher", "t", "--teacher-crop-target", "overlap"])
            as? TrainCommand)
        #expect(overlap.recipe.teacherCropTarget == .overlap && distil.recipe.teacherCropTarget == .centre)
        let aligned = try #require(try Retrieve.parseAsRoot(["train", "data", "--teacher", "t", "--teacher-crop-target",
                                                              "aligned", "--teacher-mixes", "0.25"]) as? TrainCommand)
        #expect(aligned.recipe.teacherCropTarget == .aligned && aligned.recipe.teacherMixFraction == 0.25
                && distil.recipe.teacherMixFraction == 0)
        let last = try #require(try Retrieve.parseAsRoot(["train", "data", "--keep", "last"]) as? TrainCommand)
        #expect(last.recipe.keep == .last && distil.recipe.keep == .best)
        let masked = try #require(try Retrieve.parseAsRoot(["train", "data", "--spec-masks", "2"]) as? TrainCommand)
        #expect(masked.recipe.specMasks == 2 && distil.recipe.specMasks == 0)
        for bad in [["--level-range", "300"], ["--temperature", "0"], ["--contrastive-weight", "-1"],
                    ["--steps-per-epoch", "0"], ["--layers", "100"], ["--teacher-regression-weight", "1"],
                    ["--teacher", "t", "--teacher-regression-weight", "-1"], ["--teacher-track-weight", "1"],
                    ["--teacher", "t", "--teacher-track-weight", "-1"], ["--teacher-crop-target", "overlap"],
                    ["--teacher", "t", "--teacher-crop-target", "middle"], ["--spec-masks", "9"],
                    ["--spec-masks", "1", "--no-augment"], ["--teacher-mixes", "0.5"],
                    ["--teacher", "t", "--teacher-mixes", "1.5"], ["--keep", "first"],
                    ["--timbre-reference-only", "--resume"]] {
            #expect(throws: (any Error).self, "\(bad)") { try Retrieve.parseAsRoot(["train", "data"] + bad) }
        }
    }

    @Test func trainBuildsTheConvolutionalFrontEnd() throws {
        func recipe(_ extra: [String]) throws -> TrainingRecipe {
            try #require(try Retrieve.parseAsRoot(["train", "data"] + extra) as? TrainCommand).recipe
        }
        #expect(try recipe([]).frontEnd == nil)
        #expect(try recipe([]).maxFrequency == nil && recipe(["--max-frequency", "8000"]).maxFrequency == 8_000)
        #expect(try recipe(["--conv-channels", "0"]).frontEnd == nil)
        #expect(try recipe(["--conv-channels", "16"]).frontEnd
            == ConvolutionalFrontEnd(channels: 16, kernelBands: 7, kernelFrames: 3, pool: 8))
        #expect(try recipe(["--conv-channels", "4", "--conv-kernel", "5x2", "--conv-pool", "4", "--mels", "96"]).frontEnd
            == ConvolutionalFrontEnd(channels: 4, kernelBands: 5, kernelFrames: 2, pool: 4))
        func message(_ extra: [String]) -> String? {
            do { _ = try Retrieve.parseAsRoot(["train", "data"] + extra) } catch { return Retrieve.message(for: error) }
            return nil
        }
        for bad in ["0", "-5", "11026", "nan"] {
            #expect(message(["--max-frequency", bad])?.contains("--max-frequency") == true, "\(bad)")
        }
        #expect(message(["--max-frequency", "11025"]) == nil)
        #expect(message(["--conv-pool", "4"])?.contains("only --conv-channels C (1 or more) creates") == true)
        #expect(message(["--conv-channels", "8", "--conv-pool", "5"])?.contains("--conv-pool 5 must divide --mels 128")
            == true)
        #expect(message(["--conv-channels", "8", "--conv-kernel", "0x3"])?.contains("--conv-kernel") == true)
        #expect(message(["--conv-channels", "8", "--conv-kernel", "7by3"])?.contains("--conv-kernel") == true)
        // A second convolution: defaults 3 × 3 pooled by 2; needs the first; its pooling divides what the first leaves.
        #expect(try recipe(["--conv-channels", "16", "--conv2-channels", "32"]).frontEnd
            == ConvolutionalFrontEnd(
                channels: 16, kernelBands: 7, kernelFrames: 3, pool: 8,
                second: ConvolutionalStage(channels: 32, kernelBands: 3, kernelFrames: 3, pool: 2)))
        #expect(try recipe(["--conv-channels", "16", "--conv-pool", "4", "--conv2-channels", "8", "--conv2-kernel", "5x1",
                            "--conv2-pool", "4"]).frontEnd?.second
            == ConvolutionalStage(channels: 8, kernelBands: 5, kernelFrames: 1, pool: 4))
        #expect(message(["--conv2-channels", "8"])?.contains("only --conv-channels C creates") == true)
        #expect(message(["--conv-channels", "8", "--conv2-pool", "2"])?.contains("only --conv2-channels C (1 or more)")
            == true)
        #expect(message(["--conv-channels", "8", "--conv2-channels", "8", "--conv2-pool", "3"])?
            .contains("--conv2-pool 3 must divide the 16 bands the first convolution leaves") == true)
        #expect(message(["--conv-channels", "8", "--conv2-channels", "8", "--conv2-kernel", "3x0"])?
            .contains("--conv2-kernel") == true)
        #expect(message(["--conv-channels", "8", "--conv2-channels", "257"])?.contains("--conv2-channels") == true)
    }

    @Test func trainTakesAPitchShift() throws {
        let c = try #require(try Retrieve.parseAsRoot(["train", "data", "--pitch-shift", "2"]) as? TrainCommand)
        #expect(c.recipe.pitchShift == 2)
        #expect(try #require(try Retrieve.parseAsRoot(["train", "data"]) as? TrainCommand).recipe.pitchShift == 0)
        for bad in [["--pitch-shift", "33"], ["--pitch-shift", "1", "--no-augment"]] {
            #expect(throws: (any Error).self, "\(bad)") { try Retrieve.parseAsRoot(["train", "data"] + bad) }
        }
    }

    @Test func evaluateLeaveLabelsOutOptions() throws {
        let c = try #require(try Retrieve.parseAsRoot(
            ["evaluate", "--labels", "clips.csv", "--leave-labels-out", "5", "--train-data", "corpus", "--peers", "p",
             "--invariance", "gain-20dB,mp3-128k", "--epochs", "3", "--contrastive-weight", "1"]) as? EvaluateCommand)
        #expect(c.leaveLabelsOut == 5 && c.training.recipe(seed: 1).epochs == 3)
        let consistent = try #require(try Retrieve.parseAsRoot(
            ["evaluate", "--labels", "clips.csv", "--leave-labels-out", "5", "--train-data", "corpus", "--degraded-copies",
             "0.3", "--contrastive-weight", "0.5", "--aligned-copy-pairs", "0.5", "--copy-consistency-weight", "10"])
            as? EvaluateCommand)
        #expect(consistent.training.recipe(seed: 1).copyConsistencyWeight == 10)
        #expect(try c.invarianceList() == [.quiet, .mp3])
        for bad in [["data", "--leave-labels-out", "1"], ["data", "--train-data", "x"],
                    ["data", "--leave-labels-out", "3", "--peers", "p"], ["data", "--leave-labels-out", "3", "--model", "m"],
                    ["data", "--leave-labels-out", "3", "--invariance", "louder"], ["data", "--clip-seconds", "0"],
                    ["data", "--leave-labels-out", "3", "--aligned-copy-pairs", "0.5", "--degraded-copies", "0.3"],
                    ["data", "--leave-labels-out", "3", "--copy-consistency-weight", "1"],
                    ["data", "--leave-labels-out", "3", "--aligned-copy-pairs", "0.5", "--degraded-copies", "0.3",
                     "--contrastive-weight", "0.5", "--copy-consistency-weight", "-1"]] {
            #expect(throws: (any Error).self, "\(bad)") { try Retrieve.parseAsRoot(["evaluate"] + bad) }
        }
    }

    @Test func similarHelpNamesEveryOption() {
        let help = Retrieve.helpMessage(for: SimilarCommand.self)
        for option in ["--k", "--exclude-same-artist", "--exclude-same-album", "--under", "--dedupe", "--json",
                       "--csv", "--m3u", "--db", "--model"] {
            #expect(help.contains(option), "help lacks \(option)")
        }
    }

    /// `retrieve train`'s closing line names the epoch the model file holds: the best one, or under `--keep
    /// last` the last one with the best beside it (it used to name the best epoch whatever the file held).
    @Test func trainNamesTheEpochTheModelFileHolds() {
        func epoch(_ n: Int, _ p10: Float) -> EpochRecord {
            EpochRecord(epoch: n, steps: 60, learningRate: 1e-3, trainCrossEntropy: 1, trainTriplet: 0,
                        trainAccuracy: 0.5, validationCrossEntropy: 2, validationTriplet: 0, validationAccuracy: 0.3,
                        validationPrecisionAt10: p10, seconds: 5)
        }
        var report = TrainingReport(modelName: "m", classNames: ["a", "b"], trainTracks: 4, validationTracks: 2,
                                    recipe: [:], epochs: [epoch(1, 0.05), epoch(2, 0.085), epoch(3, 0.081)],
                                    bestEpoch: 2)
        #expect(TrainCommand.modelEpochNote(report) == " (epoch 2; validation P@10 0.085)")
        report.keptEpoch = 2
        #expect(TrainCommand.modelEpochNote(report) == " (epoch 2; validation P@10 0.085)")
        report.keptEpoch = 3
        #expect(TrainCommand.modelEpochNote(report)
                == " (epoch 3, the last; validation P@10 0.081, best 0.085 at epoch 2)")
        report.bestEpoch = 3
        #expect(TrainCommand.modelEpochNote(report) == " (epoch 3; validation P@10 0.081)")
        report.bestEpoch = nil
        report.keptEpoch = nil
        #expect(TrainCommand.modelEpochNote(report) == "")
    }
}
