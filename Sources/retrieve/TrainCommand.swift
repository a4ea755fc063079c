import ArgumentParser
import EncoderTraining
import Foundation
import RetrieveCore
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import SequenceEncoding

extension Pooling: ExpressibleByArgument {}
extension TripletMining: ExpressibleByArgument {
    public static var allValueStrings: [String] { [TripletMining.batchHard, .semiHard].map(\.rawValue) }
}
extension TeacherRegressionTarget: ExpressibleByArgument {}
extension TeacherCropTarget: ExpressibleByArgument {}
extension KeptWeights: ExpressibleByArgument {}

/// A convolution kernel's size as `FxT` (mel bands × frames), for `--conv-kernel`.
struct KernelSize: ExpressibleByArgument, Equatable {
    var bands: Int
    var frames: Int

    init(bands: Int, frames: Int) {
        self.bands = bands
        self.frames = frames
    }

    init?(argument: String) {
        let parts = argument.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let f = Int(parts[0]), let t = Int(parts[1]) else { return nil }
        self.init(bands: f, frames: t)
    }

    var defaultValueDescription: String { "\(bands)x\(frames)" }
}

/// `retrieve train DATA`: train an encoder on a labelled collection.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an encoder on labelled audio (one sub-folder per class, or --labels CSV).",
        discussion: """
            Features are computed once and cached (--cache). Each epoch prints its losses, train and validation \
            accuracy and validation P@10. When training finishes, the model (the epoch --keep names) is written \
            to --out, with a checkpoint, a JSON report and an SVG plot of the curves beside it. Validation is \
            split by track. Ctrl-C stops after the current step and writes no model to --out (the weights kept \
            so far stay in NAME.unfinished.safetensors beside it); --resume continues from the checkpoint.
            """)

    @Argument(help: ArgumentHelp("A folder with one sub-folder per class (or with labels.csv).", valueName: "data"))
    var data: String?

    @Option(help: ArgumentHelp("A CSV of path,label[,split] rows instead of class folders.", valueName: "file"))
    var labels: String?

    @Option(help: ArgumentHelp("Where to write the model.", valueName: "path"))
    var out: String = "model.safetensors"

    @Option(help: "The model's name, stored in the file and the index.")
    var name: String?

    @Flag(help: "Continue from the checkpoint beside --out.") var resume = false
    @Flag(help: ArgumentHelp(
        "No training: make the timbre reference set of DATA (as training does) and store it in the existing "
            + "model at --out, whose index then ranks by embedding and timbre together."))
    var timbreReferenceOnly = false
    @OptionGroup(title: "Training") var training: RecipeOptions
    @Option(help: "Random seed (the same seed and data give the same model).") var seed: UInt64 = 1
    @Flag(name: .shortAndLong, help: "No progress bars.") var quiet = false

    func validate() throws {
        guard data != nil || labels != nil else { throw ValidationError("give a DATA folder or --labels FILE.csv") }
        guard !(timbreReferenceOnly && resume) else {
            throw ValidationError("--timbre-reference-only trains nothing; it does not combine with --resume")
        }
    }

    var recipe: TrainingRecipe { training.recipe(seed: seed) }

    func run() throws {
        let collection = try LabelledCollection.load(folder: data, labels: labels)
        let output = URL(fileURLWithPath: Paths.absolute(out))
        if timbreReferenceOnly { return try storeTimbreReference(collection, in: output) }
        let cacheDirectory = training.cacheDirectory
        let interrupt = InterruptFlag()
        interrupt.catchInterrupts {
            FileHandle.standardError.write(Data("\nretrieve: stopping after this step (Ctrl-C again to stop at once)\n".utf8))
        }
        let session = try TrainingSession(
            recipe: recipe, modelName: name ?? output.deletingPathExtension().lastPathComponent, output: output,
            cacheDirectory: cacheDirectory, progress: ProgressReporter.factory(quiet: quiet), stop: interrupt.stop) { line in
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
        let report = try session.run(collection: collection, resume: resume)
        if report.finished(epochs: session.recipe.epochs) {
            print("model: \(output.path)" + Self.modelEpochNote(report))
        }
        print("report: \(session.reportURL.path), plot: \(session.plotURL.path)")
        if interrupt.isRaised { throw ExitStatus.interrupted }
    }
}

extension TrainCommand {
    /// `--timbre-reference-only`: the reference set of `collection`, by the seed, stored in the model at `output`
    /// (rewritten atomically, under its own name).
    func storeTimbreReference(_ collection: [LabelledTrack], in output: URL) throws {
        let encoder = try ModelFile.load(path: output.path)
        let name = encoder.version.name
        let log = { (line: String) in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        guard
            let reference = try TrainingSession.timbreReference(
                TrainingSession.referenceItems(collection, recipe: recipe), encoder: encoder, seed: seed,
                progress: ProgressReporter.factory(quiet: quiet), log: log)
        else { throw CLIError("\(data ?? labels ?? ""): no timbre reference set could be made (see the note above)") }
        encoder.setTimbreReference(reference)
        try encoder.save(to: output, name: name)
        print("model: \(output.path) (timbre reference set of \(reference.full.rows) tracks; digest "
            + "\(encoder.version.digest.prefix(12)))")
    }

    /// Which epoch's weights the model file holds, with its validation P@10 — and, when that is not the best
    /// epoch (`--keep last`), the best one beside it: " (epoch 40, the last; validation P@10 0.081, best 0.085
    /// at epoch 19)". Empty when the report names no epoch.
    static func modelEpochNote(_ report: TrainingReport) -> String {
        guard let kept = report.record(of: report.modelEpoch) else { return "" }
        var note = String(format: " (epoch %d", kept.epoch)
        if kept.epoch == report.epochs.last?.epoch, report.bestEpoch != kept.epoch {
            note += ", the last"
        }
        note += String(format: "; validation P@10 %.3f", kept.validationPrecisionAt10)
        if let best = report.record(of: report.bestEpoch), best.epoch != kept.epoch {
            note += String(format: ", best %.3f at epoch %d", best.validationPrecisionAt10, best.epoch)
        }
        return note + ")"
    }
}

/// The training recipe's options, shared by `retrieve train` and `retrieve evaluate --leave-labels-out`.
struct RecipeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Feature cache folder (default: $XDG_CACHE_HOME/retrieve or ~/.cache/retrieve).",
                               valueName: "dir"))
    var cache: String?
    @Option(help: "Epochs at most.") var epochs: Int = 40
    @Option(help: "Steps per epoch (default: about one pass over the training segments, 20–200).") var stepsPerEpoch: Int?
    @Option(name: .customLong("classes-per-batch"), help: "P: classes per batch.") var p: Int = 8
    @Option(name: .customLong("segments-per-class"), help: "K: segments per class per batch.") var k: Int = 4
    @Option(help: "Segment length in seconds.") var segmentSeconds: Double = 3
    @Option(help: ArgumentHelp(
        "How much consecutive segments overlap when the model embeds a track, as a share of a segment: 0.5 "
            + "embeds each moment twice, 0 once (half the encoder's work).", valueName: "share"))
    var segmentOverlap: Double = 0.5
    @Option(help: "Mel bands of the model's input.") var mels: Int = 128
    @Option(help: ArgumentHelp(
        "The top edge of the model's mel bands in Hz (default: the Nyquist frequency of the analysis rate, "
            + "11025): the bands cover 0 Hz up to it, and the model hears nothing above.", valueName: "Hz"))
    var maxFrequency: Double?
    @Option(help: "LSTM hidden size.") var hidden: Int = 128
    @Option(help: "LSTM layers.") var layers: Int = 1
    @Flag(help: "Bidirectional LSTM.") var bidirectional = false
    @Option(help: "Embedding size.") var embedding: Int = 128
    @Option(help: "Temporal pooling.") var pooling: Pooling = .mean
    @Option(help: ArgumentHelp(
        "Channels of a convolutional front end before the LSTM: Conv2d over (mel bands × frames), ReLU, max-pooling "
            + "over mel bands (0: no front end).",
        valueName: "C"))
    var convChannels: Int = 0
    @Option(help: ArgumentHelp(
        "The front end's kernel, mel bands × frames (with --conv-channels; default 7x3).", valueName: "FxT"))
    var convKernel: KernelSize?
    @Option(help: ArgumentHelp(
        "The front end's max-pooling over mel bands, kernel and stride; must divide --mels (with --conv-channels; "
            + "default 8).",
        valueName: "P"))
    var convPool: Int?
    @Option(help: ArgumentHelp(
        "Channels of a second convolution over the front end's pooled output (C₁ channels × pooled bands × frames), "
            + "ReLU, max-pooling over bands; its output feeds the LSTM (with --conv-channels; 0: none).",
        valueName: "C"))
    var conv2Channels: Int = 0
    @Option(help: ArgumentHelp(
        "The second convolution's kernel, pooled bands × frames (with --conv2-channels; default 3x3).",
        valueName: "FxT"))
    var conv2Kernel: KernelSize?
    @Option(help: ArgumentHelp(
        "The second convolution's max-pooling over bands; must divide --mels / --conv-pool (with --conv2-channels; "
            + "default 2).",
        valueName: "P"))
    var conv2Pool: Int?
    @Option(help: "Peak learning rate (AdamW, warm-up then cosine decay).") var learningRate: Float = 2e-3
    @Option(help: "AdamW's decoupled weight decay.") var weightDecay: Float = 1e-4
    @Option(help: "κ: weight of the classification loss (cross-entropy over the labels).")
    var classificationWeight: Float = 1
    @Option(help: "λ in κ·CE + λ·triplet + μ·contrastive + ν·distillation.") var tripletWeight: Float = 1
    @Option(help: "Triplet margin on cosine distance.") var margin: Float = 0.2
    @Option(help: "Triplet mining.") var mining: TripletMining = .batchHard
    @Option(help: "μ: weight of the contrastive loss whose positives are two crops of one track (0: off).")
    var contrastiveWeight: Float = 0
    @Option(help: "Temperature of the contrastive loss.") var temperature: Float = 0.1
    @Option(help: ArgumentHelp(
        "A folder of teacher targets (scripts/teacher-targets) to distil: the model learns the teacher's pairwise "
            + "similarities of the training crops (used only for training, never at run time).",
        valueName: "dir"))
    var teacher: String?
    @Option(help: "ν: weight of the distillation loss (with --teacher).") var teacherWeight: Float = 1
    @Option(help: ArgumentHelp(
        "ρ: weight of feature-regression distillation (with --teacher): a linear head, used only in training, "
            + "maps each crop's embedding to the teacher's features of that audio (1 − cosine; 0: off)."))
    var teacherRegressionWeight: Float = 0
    @Option(help: ArgumentHelp(
        "The regression target of a crop: patch (the teacher's features of the 3-s patch it lies in) or track "
            + "(their mean over its whole track)."))
    var teacherRegressionTarget: TeacherRegressionTarget = .patch
    @Option(help: ArgumentHelp(
        "A crop's teacher target: centre (the teacher's features of the 3-s patch its centre lies in), overlap "
            + "(of every patch it covers, weighted by overlap) or aligned (crops are cut centred on a patch, whose "
            + "features are the target)."))
    var teacherCropTarget: TeacherCropTarget = .centre
    @Option(help: ArgumentHelp(
        "ν_t: weight of track-level distillation (with --teacher): the mean embedding of each track's crops in a "
            + "batch learns the teacher's pairwise similarities of whole tracks (0: off)."))
    var teacherTrackWeight: Float = 0
    @Option(help: ArgumentHelp(
        "The share of crops (with --teacher) cut from a mix of the track with another of its label instead, "
            + "whose teacher target is the teacher's embedding of exactly that mix (the folder's mixes.csv, made "
            + "by scripts/teacher-targets --mixes-per-track; 0: none).", valueName: "share"))
    var teacherMixes: Float = 0
    @Option(help: ArgumentHelp(
        "Segment level normalisation range in dB: the model ignores loudness (0: off, the model sees levels).",
        valueName: "dB"))
    var levelRange: Float = 80
    @Flag(help: "No augmentation (gain, noise, EQ, band limits, tempo).") var noAugment = false
    @Option(help: ArgumentHelp(
        "Pitch-shift augmentation: each augmented crop moves by a random whole number of mel bands in [−N, N], "
            + "the edge bands repeated (0: off).",
        valueName: "N"))
    var pitchShift: Int = 0
    @Option(help: ArgumentHelp(
        "Masking augmentation (SpecAugment): N frequency and N time masks on each augmented crop, each up to an "
            + "eighth of the bands or a tenth of the frames, set to the crop's mean (0: off).",
        valueName: "N"))
    var specMasks: Int = 0
    @Option(help: ArgumentHelp(
        "Share of training crops cut from a degraded copy of their track, made once in the audio domain: clipped "
            + "after +3–9 dB, MP3 at 64–160 kb/s, low-passed at 3–8 kHz or resampled to 8–16 kHz (0: none).",
        valueName: "fraction"))
    var degradedCopies: Float = 0
    @Option(help: ArgumentHelp(
        "Share of contrastive pairs whose two crops are one moment of the track, from the original and from its "
            + "degraded copy (with --contrastive-weight and --degraded-copies; 0: none).",
        valueName: "fraction"))
    var alignedCopyPairs: Float = 0
    @Option(help: ArgumentHelp(
        "γ: weight of a loss pulling each aligned pair to cosine 1, both crops augmented alike (with "
            + "--aligned-copy-pairs; 0: off)."))
    var copyConsistencyWeight: Float = 0
    @Option(help: "Stop after this many epochs without a better validation P@10.") var patience: Int = 8
    @Option(help: ArgumentHelp(
        "Which epoch's weights the model keeps: best (by validation P@10 on other tracks of the training labels) "
            + "or last (the end of the schedule).", valueName: "best|last"))
    var keep: KeptWeights = .best
    @Option(help: "Use at most this many seconds of each file.") var maxSeconds: Double = 360
    @Flag(help: "Train on the labels file's test split too (otherwise held out for 'retrieve evaluate --split test').")
    var trainOnTestSplit = false

    func validate() throws {
        try Check.range("--epochs", epochs, 1...10_000)
        try Check.range("--steps-per-epoch", stepsPerEpoch, 1...1_000_000)
        try Check.range("--classes-per-batch", p, 2...1_000)
        try Check.range("--segments-per-class", k, 2...1_000)
        try Check.above("--segment-seconds", segmentSeconds, 0.2, atMost: 60, unit: " s")
        try Check.finite("--segment-overlap", segmentOverlap, 0...0.95)
        try Check.range("--mels", mels, 8...512)
        if let maxFrequency {
            let nyquist = Double(FeatureConfiguration.standard.sampleRate) / 2
            try Check.above("--max-frequency", maxFrequency, 0, atMost: nyquist, unit: " Hz")
        }
        try Check.range("--hidden", hidden, 1...4_096)
        try Check.range("--layers", layers, 1...8)
        try Check.range("--embedding", embedding, 2...4_096)
        try Check.range("--conv-channels", convChannels, 0...256)
        if let convKernel {
            try Check.range("--conv-kernel's mel bands", convKernel.bands, 1...64)
            try Check.range("--conv-kernel's frames", convKernel.frames, 1...64)
        }
        try Check.range("--conv-pool", convPool, 1...64)
        if convChannels == 0, convKernel != nil || convPool != nil {
            throw ValidationError(
                "--conv-kernel and --conv-pool shape a front end that only --conv-channels C (1 or more) creates")
        }
        if let frontEnd, mels % frontEnd.pool != 0 {
            throw ValidationError(
                "--conv-pool \(frontEnd.pool) must divide --mels \(mels) (pooling windows cannot straddle the last band)")
        }
        try Check.range("--conv2-channels", conv2Channels, 0...256)
        if let conv2Kernel {
            try Check.range("--conv2-kernel's bands", conv2Kernel.bands, 1...64)
            try Check.range("--conv2-kernel's frames", conv2Kernel.frames, 1...64)
        }
        try Check.range("--conv2-pool", conv2Pool, 1...64)
        if conv2Channels == 0, conv2Kernel != nil || conv2Pool != nil {
            throw ValidationError(
                "--conv2-kernel and --conv2-pool shape a second convolution that only --conv2-channels C (1 or more) creates")
        }
        if conv2Channels > 0, convChannels == 0 {
            throw ValidationError("--conv2-channels adds a second convolution to a front end that only --conv-channels C creates")
        }
        if let frontEnd, let second = frontEnd.second, frontEnd.firstBands(mels: mels) % second.pool != 0 {
            throw ValidationError(
                "--conv2-pool \(second.pool) must divide the \(frontEnd.firstBands(mels: mels)) bands the first convolution "
                    + "leaves (--mels \(mels) / --conv-pool \(frontEnd.pool))")
        }
        try Check.above("--learning-rate", learningRate, 0, atMost: 1)
        try Check.finite("--weight-decay", weightDecay, 0...1)
        for (option, weight) in [("--classification-weight", classificationWeight), ("--triplet-weight", tripletWeight),
                                 ("--contrastive-weight", contrastiveWeight), ("--teacher-weight", teacherWeight),
                                 ("--teacher-regression-weight", teacherRegressionWeight),
                                 ("--teacher-track-weight", teacherTrackWeight),
                                 ("--copy-consistency-weight", copyConsistencyWeight)] {
            try Check.finite(option, weight, 0...1_000)
        }
        try Check.finite("--margin", margin, 0...2)
        try Check.above("--temperature", temperature, 0, atMost: 100)
        if levelRange != 0 { try Check.finite("--level-range", levelRange, 1...200, unit: " dB (or 0: off)") }
        try Check.finite("--degraded-copies", degradedCopies, 0...1)
        try Check.finite("--aligned-copy-pairs", alignedCopyPairs, 0...1)
        if alignedCopyPairs > 0, degradedCopies == 0 || contrastiveWeight == 0 {
            throw ValidationError("--aligned-copy-pairs pairs crops of the original with its degraded copy: it needs "
                + "--degraded-copies and --contrastive-weight above 0")
        }
        if copyConsistencyWeight > 0, alignedCopyPairs == 0 {
            throw ValidationError("--copy-consistency-weight pulls aligned pairs together: it needs --aligned-copy-pairs "
                + "above 0 (with --degraded-copies and --contrastive-weight)")
        }
        try Check.range("--pitch-shift", pitchShift, 0...(max(mels, 8) / 4))
        try Check.range("--spec-masks", specMasks, 0...8)
        if specMasks > 0, noAugment {
            throw ValidationError("--spec-masks is an augmentation, so --no-augment turns it off; give one or the other")
        }
        if pitchShift > 0, noAugment {
            throw ValidationError("--pitch-shift is an augmentation, so --no-augment turns it off; give one or the other")
        }
        try Check.range("--patience", patience, 1...10_000)
        try Check.above("--max-seconds", maxSeconds, 0, atMost: 86_400, unit: " s")
        if teacherRegressionWeight > 0, teacher == nil {
            throw ValidationError("--teacher-regression-weight needs --teacher DIR (the teacher's features to regress on)")
        }
        if teacherCropTarget != .centre, teacher == nil {
            throw ValidationError("--teacher-crop-target chooses among the teacher's patches: it needs --teacher DIR")
        }
        try Check.finite("--teacher-mixes", teacherMixes, 0...1)
        if teacherMixes > 0, teacher == nil {
            throw ValidationError("--teacher-mixes needs --teacher DIR (the folder holding mixes.csv and mixes.npy)")
        }
        if teacherTrackWeight > 0, teacher == nil {
            throw ValidationError("--teacher-track-weight needs --teacher DIR (the teacher's features of whole tracks)")
        }
    }

    func recipe(seed: UInt64) -> TrainingRecipe {
        var r = TrainingRecipe()
        r.epochs = epochs
        r.stepsPerEpoch = stepsPerEpoch
        r.classesPerBatch = p
        r.segmentsPerClass = k
        r.segmentSeconds = segmentSeconds
        r.segmentOverlap = segmentOverlap
        r.melBands = mels
        r.maxFrequency = maxFrequency
        r.hiddenSize = hidden
        r.layers = layers
        r.bidirectional = bidirectional
        r.embeddingSize = embedding
        r.pooling = pooling
        r.frontEnd = frontEnd
        r.learningRate = learningRate
        r.weightDecay = weightDecay
        r.tripletWeight = tripletWeight
        r.classificationWeight = classificationWeight
        r.tripletMargin = margin
        r.mining = mining
        r.contrastiveWeight = contrastiveWeight
        r.contrastiveTemperature = temperature
        r.teacherDirectory = teacher.map(Paths.absolute)
        r.teacherWeight = teacherWeight
        r.teacherRegressionWeight = teacherRegressionWeight
        r.teacherRegressionTarget = teacherRegressionTarget
        r.teacherTrackWeight = teacherTrackWeight
        r.teacherCropTarget = teacherCropTarget
        r.levelRange = levelRange == 0 ? nil : levelRange
        r.augment = !noAugment
        r.pitchShift = pitchShift
        r.specMasks = specMasks
        r.degradedCopyFraction = degradedCopies
        r.teacherMixFraction = teacherMixes
        r.alignedCopyPairs = alignedCopyPairs
        r.copyConsistencyWeight = copyConsistencyWeight
        r.trainOnTestSplit = trainOnTestSplit
        r.patience = patience
        r.keep = keep
        r.maxTrackSeconds = maxSeconds
        r.seed = seed
        return r
    }

    /// The front end the options ask for (with its second stage under `--conv2-channels`), nil without
    /// `--conv-channels`.
    var frontEnd: ConvolutionalFrontEnd? {
        guard convChannels > 0 else { return nil }
        let kernel = convKernel ?? KernelSize(bands: 7, frames: 3)
        let second = conv2Channels > 0
            ? ConvolutionalStage(
                channels: conv2Channels, kernelBands: conv2Kernel?.bands ?? 3, kernelFrames: conv2Kernel?.frames ?? 3,
                pool: conv2Pool ?? 2)
            : nil
        return ConvolutionalFrontEnd(
            channels: convChannels, kernelBands: kernel.bands, kernelFrames: kernel.frames, pool: convPool ?? 8,
            second: second)
    }

    var cacheDirectory: String {
        cache ?? XDGFolder.path("XDG_CACHE_HOME", else: ".cache") + "/retrieve/features"
    }
}
