import Foundation
import Synchronization
public import EncoderTraining
import LinearAlgebra
import RetrieveCore
public import SequenceEncoding
import SpectralFeatures
import SimilaritySearch
import AudioDecoding
import Analysis

/// How to train an encoder: model size, batches, optimisation, augmentation and stopping.
///
/// Every field is recorded in the training report, and `seed` makes a run repeatable on the same data.
public struct TrainingRecipe: Codable, Sendable {
    public var epochs = 40
    /// Steps per epoch; nil chooses about one pass over the training audio's segments, within 20...200.
    public var stepsPerEpoch: Int? = nil
    /// P: classes per batch.
    public var classesPerBatch = 8
    /// K: segments per class per batch.
    public var segmentsPerClass = 4
    public var segmentSeconds = 3.0
    /// How much consecutive segments overlap when the model cuts a track (the model file's `segmentHopFrames`), as
    /// a share of a segment: 0.5 embeds every moment of a track twice, 0 once (half the encoder's work when
    /// indexing). Training crops are drawn at random, so this only changes how the model file says tracks are cut.
    public var segmentOverlap = 0.5
    public var melBands = 128
    /// The top edge of the mel filterbank in Hz (`FeatureConfiguration.maxFrequency`); nil: the Nyquist frequency
    /// (11 025 Hz at the analysis rate). A lower edge spends the same bands on the range below it and leaves
    /// the model deaf above it.
    public var maxFrequency: Double? = nil
    public var hiddenSize = 128
    public var layers = 1
    public var bidirectional = false
    public var embeddingSize = 128
    public var pooling: Pooling = .mean
    /// The convolutional front end before the LSTM (`ConvolutionalFrontEnd`); nil for none.
    public var frontEnd: ConvolutionalFrontEnd? = nil
    public var learningRate: Float = 2e-3
    public var weightDecay: Float = 1e-4
    public var warmupSteps = 100
    /// κ: weight of the classification loss.
    public var classificationWeight: Float = 1
    /// λ in κ·CE + λ·triplet + ….
    public var tripletWeight: Float = 1
    public var tripletMargin: Float = 0.2
    public var mining: TripletMining = .batchHard
    /// Augmentation of the training crops (`TrainingAugmentation`): gain, noise, EQ, band limits, tempo.
    public var augment = true
    /// N of the pitch-shift augmentation: augmented crops move by a random integer in [−N, N] mel bands (0: off).
    public var pitchShift = 0
    /// N of SpecAugment-style masking: frequency and time masks per augmented crop (0: off).
    public var specMasks = 0
    /// The share of training crops cut from the track's `DegradedCopy` (clipped, MP3, low-passed or resampled in
    /// the audio domain) instead of the original; 0: none, and no copies are made.
    public var degradedCopyFraction: Float = 0
    /// The share of contrastive pairs (with `contrastiveWeight` and degraded copies on) whose two crops are the same
    /// moment of the track, one cut from the original and one from its `DegradedCopy`, each augmented on its own:
    /// a direct lesson that a clipped, lossy or band-limited copy is the same music. Other pairs are two random
    /// crops of the track. 0: none (and no extra random draws, so recipes without it keep their crops).
    public var alignedCopyPairs: Float = 0
    /// γ: weight of the consistency loss that pulls each aligned pair (`alignedCopyPairs`) to cosine 1; on, the
    /// pair's two crops also get the same augmentation, so the degradation is all that tells them apart. 0: off.
    public var copyConsistencyWeight: Float = 0
    /// The model's segment level normalisation range in dB (`EncoderConfiguration.levelRange`); nil for none.
    public var levelRange: Float? = 80
    /// μ: weight of the contrastive loss whose positives are two crops of one track (0: off; each batch then
    /// holds K crops of K random tracks per class, otherwise K/2 tracks with two crops each).
    public var contrastiveWeight: Float = 0
    /// τ of the contrastive loss.
    public var contrastiveTemperature: Float = 0.1
    /// A folder of teacher targets (`scripts/teacher-targets`) for relational distillation; nil for none.
    public var teacherDirectory: String? = nil
    /// ν: weight of the relational distillation loss (used with `teacherDirectory`).
    public var teacherWeight: Float = 1
    /// ρ: weight of the feature-regression distillation loss (used with `teacherDirectory`): a training-only
    /// linear head maps each crop's embedding to the teacher's features of that audio (`Losses.regression`).
    public var teacherRegressionWeight: Float = 0
    /// What a crop's regression target is: the teacher's embedding of the patch the crop lies in, or the mean
    /// over the crop's whole track.
    public var teacherRegressionTarget: TeacherRegressionTarget = .patch
    /// Which of the teacher's patches make a crop's target (for relational distillation, and for regression on
    /// patches): the one its centre lies in, or all it covers, weighted by overlap.
    public var teacherCropTarget: TeacherCropTarget = .centre
    /// ν_t: weight of track-level relational distillation (used with `teacherDirectory`): the mean of each track's
    /// crops in a batch (pooled as the index pools segments) learns the teacher's similarities of whole tracks
    /// (`Losses.pooledRelational`). On, crops come in pairs of one track as for the contrastive loss. 0: off.
    public var teacherTrackWeight: Float = 0
    /// The share of crops (of tracks that have mixes) cut from a mix of the track with another track of its label
    /// (`TeacherTargets.Mix`), whose teacher target is the teacher's embedding of exactly that mix: more music of
    /// each label, and targets that describe the very audio the student sees. 0: none (no mixes are loaded).
    public var teacherMixFraction: Float = 0
    /// Stop after this many epochs without a better validation P@10.
    public var patience = 8
    /// Which epoch's weights the model file holds: the best by validation P@10, or the last trained.
    public var keep: KeptWeights = .best
    public var seed: UInt64 = 1
    /// At most this many seconds of each file are used.
    public var maxTrackSeconds = 360.0
    /// Evenly spaced segments per validation track.
    public var validationSegmentsPerTrack = 8
    /// Whether the labels file's *test* split trains too. That split is held out for held-out-track evaluation
    /// (`retrieve evaluate --split test`); where the test is music of other labels (leave-labels-out folds), or
    /// that evaluation is not wanted, those tracks are just more music to learn from.
    public var trainOnTestSplit = false

    public init() {}

    public var dictionary: [String: String] {
        guard let data = try? JSONEncoder().encode(self),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        // Nested values (the front end) as compact JSON, scalars as their text.
        return object.mapValues { value in
            guard value is [String: Any] || value is [Any],
                  let nested = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else {
                return "\(value)"
            }
            return String(decoding: nested, as: UTF8.self)
        }
    }
}

/// Which epoch's weights a training run writes as its model.
public enum KeptWeights: String, Codable, Sendable, CaseIterable {
    /// The epoch with the best validation P@10 (ties: the lower validation loss). The validation tracks are
    /// other tracks of the training labels, so this chooses by how well the model knows its own soundtracks.
    case best
    /// The last epoch trained: the end of the learning-rate schedule, chosen by nothing measured.
    case last

    /// Whether an epoch's weights replace the model file: every epoch's for `last` (so an interrupted run leaves
    /// the last finished one), only a better one's for `best`.
    public func writesModel(improved: Bool) -> Bool {
        switch self {
        case .best: improved
        case .last: true
        }
    }
}

/// The target of feature-regression distillation for a training crop.
public enum TeacherRegressionTarget: String, Codable, Sendable, CaseIterable {
    /// The teacher's embedding of the 3-s patch the crop's centre lies in.
    case patch
    /// The mean of the teacher's embeddings over the crop's whole track.
    case track
}

/// How a training crop's teacher target is made from the teacher's per-patch features.
public enum TeacherCropTarget: String, Codable, Sendable, CaseIterable {
    /// The patch the crop's centre lies in.
    case centre
    /// The patches the crop covers, weighted by how much of the crop each covers (a crop rarely starts on a
    /// patch boundary).
    case overlap
    /// Crops are cut where the teacher's patches are (centred on a patch, so a crop is the audio its target
    /// describes, not a mix of two neighbours); the target is that patch. Tracks without targets crop anywhere.
    case aligned
}

/// A labelled track's features, ready for training.
struct TrainingTrack {
    let path: String
    let label: Int
    let logMel: Matrix
    /// The log-mel of the track's `DegradedCopy` (its first `degradedCopySeconds`), when the recipe uses them.
    var degraded: Matrix? = nil
}

/// Trains an encoder on a labelled collection: features cached once, P×K batches of random segment crops,
/// light augmentation, validation by track every epoch, checkpoints, early stopping, and a report.
public final class TrainingSession {
    public let recipe: TrainingRecipe
    public let modelName: String
    private let output: URL
    let cache: FeatureCache
    let log: (String) -> Void
    let progress: ProgressFactory
    private let stop: StopRequest

    public var checkpointURL: URL { output.deletingPathExtension().appendingPathExtension("checkpoint.safetensors") }
    /// Where the weights the run keeps (`--keep`) are written each epoch until the run finishes; then they become
    /// the model file. The output path itself only ever holds a finished run's model, so an interrupted run (Ctrl-C,
    /// a kill) never leaves a file there that another command would take for the trained model.
    public var unfinishedURL: URL {
        output.deletingPathExtension().appendingPathExtension("unfinished.safetensors")
    }
    public var reportURL: URL { output.deletingPathExtension().appendingPathExtension("report.json") }
    public var plotURL: URL { output.deletingPathExtension().appendingPathExtension("report.svg") }

    /// - Parameters:
    ///   - output: where the model is written when the run finishes; the checkpoint, the report and, until then,
    ///     the unfinished model go beside it.
    ///   - log: receives one line per epoch and other messages meant for the user.
    public init(recipe: TrainingRecipe, modelName: String, output: URL, cacheDirectory: String,
                progress: @escaping ProgressFactory = SilentProgress.factory, stop: StopRequest = StopRequest(),
                log: @escaping (String) -> Void) throws {
        self.recipe = recipe
        self.modelName = modelName
        self.output = output
        self.progress = progress
        self.stop = stop
        self.log = log
        cache = try FeatureCache(directory: cacheDirectory, configuration: Self.features(recipe),
                                 maxSeconds: recipe.maxTrackSeconds)
    }

    static func features(_ recipe: TrainingRecipe) -> FeatureConfiguration {
        FeatureConfiguration(melBands: recipe.melBands, maxFrequency: recipe.maxFrequency, topDecibels: nil)
    }

    /// Trains and returns the report. With `resume`, continues from the checkpoint beside the output.
    /// - Parameter unseen: tracks of labels the run does not train on (leave-labels-out's held-out labels). With
    ///   teacher targets, the student's fidelity to the teacher on them (`TeacherFidelity`) is recorded every
    ///   `unseenInterval` epochs, at the epochs whose weights the model file takes, and at the last — a
    ///   diagnostic that never steers training or the choice of weights.
    public func run(collection: [LabelledTrack], unseen: [LabelledTrack] = [], resume: Bool = false) throws
        -> TrainingReport
    {
        var (classNames, train, validation) = try loadData(collection)
        if recipe.degradedCopyFraction > 0 { train = try withDegradedCopies(train) }
        // Training runs one step at a time on all cores: the GEMMs are the whole cost, so OpenBLAS gets both.
        BLAS.setThreadCount(Cores.available)
        let segmentFrames = max(8, Int((recipe.segmentSeconds * Double(cache.configuration.sampleRate)
            / Double(cache.configuration.hopLength)).rounded()))
        let options = trainingOptions(totalSteps: recipe.epochs * stepsPerEpoch(train, segmentFrames: segmentFrames))
        var (trainer, report) = try makeTrainer(resume: resume, options: options, classNames: classNames,
                                                train: train, validation: validation, segmentFrames: segmentFrames)
        if trainer.encoder.timbreReference == nil {
            trainer.encoder.setTimbreReference(
                try Self.timbreReference(
                    Self.referenceItems(collection, recipe: recipe), encoder: trainer.encoder, seed: recipe.seed,
                    progress: progress, log: log))
        }
        let validationSet = validationSegments(validation, segmentFrames: segmentFrames)
        let teacher = try recipe.teacherDirectory.map { directory in
            try TeacherTargets(directory: directory, trackPaths: train.map(\.path), mixes: recipe.teacherMixFraction > 0,
                               log: log)
        }
        if let teacher, options.regressionWeight != 0, trainer.regressionHead == nil {
            trainer.regressionHead = RegressionHead(inputSize: recipe.embeddingSize, outputSize: teacher.dimensions,
                                                    seed: recipe.seed &+ 0x7E4C, options: options)
        }
        if let teacher {
            log("teacher targets: \(teacher.covered) of \(train.count) training tracks, \(teacher.dimensions)-d, "
                + "one per \(teacher.patchSeconds) s")
        }
        let validationProbe = try teacher.map { try fidelityProbe(validationSet, tracks: validation, teacher: $0) }
        let unseenProbe = try teacher.flatMap { t -> FidelityProbe? in
            guard !unseen.isEmpty else { return nil }
            let (set, tracks) = try unseenSegments(unseen, segmentFrames: segmentFrames)
            return try fidelityProbe(set, tracks: tracks, teacher: t)
        }
        var epochs = EpochRunner(
            trainer: trainer, train: train, teacher: teacher, recipe: recipe, segmentFrames: segmentFrames,
            steps: stepsPerEpoch(train, segmentFrames: segmentFrames),
            augmentation: TrainingAugmentation(configuration: cache.configuration, pitchShift: recipe.pitchShift,
                                               masks: recipe.specMasks),
            secondsPerFrame: cache.configuration.secondsPerFrame, epochsDone: report.epochs.count,
            randomState: report.epochs.last?.randomState)
        let previousBest = report.record(of: report.bestEpoch)
        var best = (precision: previousBest?.validationPrecisionAt10 ?? -1,
                    loss: previousBest?.validationCrossEntropy ?? .infinity)
        var sinceBest = report.epochs.count - (report.bestEpoch ?? report.epochs.count)
        log("training \(modelName): \(train.count) train / \(validation.count) validation tracks, "
            + "\(classNames.count) classes, \(epochs.steps) steps of \(recipe.classesPerBatch)×\(recipe.segmentsPerClass) "
            + "segments per epoch")

        for epoch in (report.epochs.count + 1)...max(report.epochs.count + 1, recipe.epochs) {
            if stop.isRaised || epoch > recipe.epochs { break }
            let started = Date()
            let sums = epochs.run(progress: progress(epochs.steps, "epoch \(epoch)"), stop: stop)
            if stop.isRaised { break }
            let validated = validate(trainer, validationSet, probe: validationProbe)
            var record = epochs.record(epoch: epoch, sums: sums, validation: validated.scores,
                                       seconds: Date().timeIntervalSince(started), options: options)
            record.validationFidelity = validated.fidelity
            // Better P@10 wins; at equal P@10 (common with few validation tracks) the lower validation loss.
            let precision = record.validationPrecisionAt10.isNaN ? 0 : record.validationPrecisionAt10
            let loss = record.validationCrossEntropy.isNaN ? record.trainCrossEntropy : record.validationCrossEntropy
            let improved = precision > best.precision || (precision == best.precision && loss < best.loss)
            if improved {
                best = (precision, loss)
                report.bestEpoch = epoch
                sinceBest = 0
            } else {
                sinceBest += 1
            }
            let writesModel = recipe.keep.writesModel(improved: improved)
            // Every few epochs, and at any epoch that may end as the model's: a new best kept as such, the planned
            // last, or one that stops the run early.
            if let unseenProbe, epoch % Self.unseenInterval == 0 || (recipe.keep == .best && improved)
                || epoch == recipe.epochs || sinceBest >= recipe.patience
            {
                record.unseenFidelity = fidelity(trainer, unseenProbe,
                                                 embeddings: trainer.encoder.embed(segments: unseenProbe.set.segments))
            }
            report.epochs.append(record)
            if writesModel {
                try trainer.encoder.save(to: unfinishedURL, name: modelName)
                report.keptEpoch = epoch
            }
            log(EpochRunner.line(record, improved: improved))
            try trainer.saveCheckpoint(to: checkpointURL, name: modelName)
            try writeReport(report)
            if sinceBest >= recipe.patience {
                report.stoppedEarly = true
                log("stopping early: no better validation P@10 for \(recipe.patience) epochs")
                break
            }
        }
        try writeReport(report)
        if report.finished(epochs: recipe.epochs) {
            try finishModel(trainer)
        } else {
            log(unfinishedNote(report))
        }
        return report
    }

    /// A finished run's model: the kept weights written during the run, moved to the output path (the unfinished
    /// file removed once its bytes are there); a resumed run that kept no new weights leaves an existing model as
    /// it is; with neither, the weights the run ended with.
    private func finishModel(_ trainer: EncoderTrainer) throws {
        let files = FileManager.default
        if files.fileExists(atPath: unfinishedURL.path) {
            let bytes: Data
            do { bytes = try Data(contentsOf: unfinishedURL) } catch {
                throw OutputFileError(path: unfinishedURL.path, error: error)
            }
            try OutputFile.write(bytes, to: output.path)
            try? files.removeItem(at: unfinishedURL)
        } else if !files.fileExists(atPath: output.path) {
            try trainer.encoder.save(to: output, name: modelName)
        }
    }

    /// What an interrupted run left: no model at the output path, the weights kept so far and how to go on.
    func unfinishedNote(_ report: TrainingReport) -> String {
        let done = report.epochs.last?.epoch ?? 0
        var note = "interrupted after epoch \(done) of \(recipe.epochs): no model written to \(output.path)"
        if FileManager.default.fileExists(atPath: output.path) { note += " (it still holds an earlier run's model)" }
        if let kept = report.keptEpoch, FileManager.default.fileExists(atPath: unfinishedURL.path) {
            note += "; the weights of epoch \(kept) are in \(unfinishedURL.path) (a usable model)"
        }
        return note + "; --resume continues from the checkpoint"
    }

    /// The tracks a model's timbre reference set is chosen from: those the session reads (training and validation
    /// splits), never the test split that `retrieve evaluate` holds out.
    public static func referenceItems(_ collection: [LabelledTrack], recipe: TrainingRecipe) -> [LabelledTrack] {
        trainingItems(collection, recipe: recipe) + LabelledCollection.tracks(collection, in: .validation)
    }

    /// The timbre reference set stored with the model (`TimbreAnalysis.referenceTracks` of `collection`, by the
    /// recipe's seed), or nil — said in the log — when too few tracks give a timbre model
    /// or the front end has too few mel bands; the model then ranks by its embedding alone. Files that cannot be
    /// analysed are named in the log and left out.
    public static func timbreReference(
        _ collection: [LabelledTrack], encoder: Encoder, seed: UInt64, progress: ProgressFactory,
        log: (String) -> Void
    ) throws -> Encoder.TimbreReferenceTensors? {
        let features = encoder.configuration.features
        guard features.melBands >= TimbreGaussian.mfccCount else {
            log("note: no timbre reference set: the model's \(features.melBands) mel bands are fewer than the "
                + "\(TimbreGaussian.mfccCount) a timbre model needs")
            return nil
        }
        let paths = TimbreAnalysis.referenceTracks(collection.map { ($0.path, $0.label) }, seed: seed)
        let sink = progress(paths.count, "timbre reference")
        defer { sink.finish() }
        do {
            let reference = try TimbreAnalysis.referenceTensors(
                paths: paths, configuration: features, progress: sink,
                skipped: { path, reason in log("note: \(path) is left out of the timbre reference set: \(reason)") })
            log("timbre reference set: \(reference.full.rows) tracks")
            return reference
        } catch let error as TimbreReferenceError {
            log("note: no timbre reference set: \(error)")
            return nil
        }
    }

    /// The tracks a session trains on (the validation split aside): the train split, and the test split with
    /// `trainOnTestSplit`.
    public static func trainingItems(_ collection: [LabelledTrack], recipe: TrainingRecipe) -> [LabelledTrack] {
        LabelledCollection.tracks(collection, in: .train)
            + (recipe.trainOnTestSplit ? LabelledCollection.tracks(collection, in: .test) : [])
    }

    /// The class names and the training and validation tracks' features; notes classes that cannot be learned.
    private func loadData(_ collection: [LabelledTrack]) throws
        -> (classNames: [String], train: [TrainingTrack], validation: [TrainingTrack])
    {
        let classNames = Array(Set(collection.map(\.label))).sorted()
        guard classNames.count >= 2 else { throw TrainingError.tooFewClasses(classNames) }
        let classIndex = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
        let trainItems = Self.trainingItems(collection, recipe: recipe)
        let validationItems = LabelledCollection.tracks(collection, in: .validation)
        guard !trainItems.isEmpty else { throw TrainingError.emptySplit("train") }
        let train = try loadFeatures(trainItems, classIndex: classIndex, what: "train")
        let validation = try loadFeatures(validationItems, classIndex: classIndex, what: "validation")
        guard Set(train.map(\.label)).count >= 2 else { throw TrainingError.tooFewClasses(classNames) }
        let trainCounts = Dictionary(train.map { ($0.label, 1) }, uniquingKeysWith: +)
        for (c, name) in classNames.enumerated() {
            switch trainCounts[c] ?? 0 {
            case 0: log("note: class \(name) has no training tracks (only validation ones); it cannot be learned")
            case 1: log("note: class \(name) has one training track; its crops are all drawn from that track")
            default: break
            }
        }
        return (classNames, train, validation)
    }

    /// A new trainer and report, or with `resume` the checkpoint's trainer and the report beside the output.
    private func makeTrainer(resume: Bool, options: TrainingOptions, classNames: [String], train: [TrainingTrack],
                             validation: [TrainingTrack], segmentFrames: Int) throws -> (EncoderTrainer, TrainingReport) {
        if resume, FileManager.default.fileExists(atPath: checkpointURL.path) {
            let trainer = try EncoderTrainer.resume(from: checkpointURL, options: options)
            let report = (try? TrainingReport.decode(Data(contentsOf: reportURL)))
                ?? newReport(classNames, train, validation)
            guard trainer.encoder.configuration.classNames == classNames else {
                throw TrainingError.resumeMismatch(checkpointURL.path)
            }
            log("resuming from \(checkpointURL.path) at epoch \(report.epochs.count + 1)")
            return (trainer, report)
        }
        let (mean, std) = EncoderConfiguration.bandStatistics(
            of: train.map(\.logMel), levelRange: recipe.levelRange, windowFrames: segmentFrames)
        let configuration = EncoderConfiguration(
            inputSize: recipe.melBands, hiddenSize: recipe.hiddenSize, layers: recipe.layers,
            bidirectional: recipe.bidirectional, pooling: recipe.pooling, embeddingSize: recipe.embeddingSize,
            classNames: classNames, segmentFrames: segmentFrames,
            segmentHopFrames: Self.segmentHop(frames: segmentFrames, overlap: recipe.segmentOverlap),
            features: cache.configuration, bandMean: mean, bandStd: std, levelRange: recipe.levelRange,
            frontEnd: recipe.frontEnd)
        if let problem = configuration.problem { throw TrainingError.badRecipe(problem) }
        let trainer = EncoderTrainer(encoder: Encoder(configuration: configuration, seed: recipe.seed), options: options)
        return (trainer, newReport(classNames, train, validation))
    }

    private func newReport(_ classNames: [String], _ train: [TrainingTrack], _ validation: [TrainingTrack])
        -> TrainingReport
    {
        TrainingReport(modelName: modelName, classNames: classNames, trainTracks: train.count,
                       validationTracks: validation.count, recipe: recipe.dictionary)
    }

    private func writeReport(_ report: TrainingReport) throws {
        try OutputFile.write(report.json(), to: reportURL.path)
        try OutputFile.write(report.curves().svg(), to: plotURL.path)
    }

    private func trainingOptions(totalSteps: Int) -> TrainingOptions {
        var o = TrainingOptions()
        o.learningRate = recipe.learningRate
        o.minimumLearningRate = recipe.learningRate / 100
        o.warmupSteps = recipe.warmupSteps
        o.totalSteps = max(totalSteps, recipe.warmupSteps + 1)
        o.weightDecay = recipe.weightDecay
        o.tripletWeight = recipe.tripletWeight
        o.classificationWeight = recipe.classificationWeight
        o.tripletMargin = recipe.tripletMargin
        o.mining = recipe.mining
        o.contrastiveWeight = recipe.contrastiveWeight
        o.contrastiveTemperature = recipe.contrastiveTemperature
        o.relationalWeight = recipe.teacherDirectory == nil ? 0 : recipe.teacherWeight
        o.regressionWeight = recipe.teacherDirectory == nil ? 0 : recipe.teacherRegressionWeight
        o.trackRelationalWeight = recipe.teacherDirectory == nil ? 0 : recipe.teacherTrackWeight
        o.consistencyWeight = recipe.copyConsistencyWeight
        return o
    }

    /// The hop between the segments a model of `frames`-frame segments embeds, for `overlap` (a share of a
    /// segment, 0 ..< 1): `frames · (1 − overlap)` rounded down, at least 1 (0.5 gives `frames / 2`).
    static func segmentHop(frames: Int, overlap: Double) -> Int {
        max(1, Int((Double(frames) * (1 - overlap)).rounded(.down)))
    }

    private func stepsPerEpoch(_ train: [TrainingTrack], segmentFrames: Int) -> Int {
        if let s = recipe.stepsPerEpoch { return max(1, s) }
        let segments = train.reduce(0) { $0 + max(1, $1.logMel.rows / segmentFrames) }
        return min(200, max(20, segments / (recipe.classesPerBatch * recipe.segmentsPerClass)))
    }

    /// Decodes (or reads from the cache) every item's features, two files at a time.
    private func loadFeatures(_ items: [LabelledTrack], classIndex: [String: Int], what: String) throws
        -> [TrainingTrack]
    {
        guard !items.isEmpty else { return [] }
        let workers = min(Cores.available, items.count)
        let extractors = try (0..<workers).map { _ in try FeatureExtractor(configuration: self.cache.configuration) }
        let cache = self.cache
        let progress = progress(items.count, "features (\(what))")
        // One slot per item, each written by the one worker that owns the item.
        let results = Mutex([TrainingTrack?](repeating: nil, count: items.count))
        let failures = Mutex([String?](repeating: nil, count: items.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var i = worker
            let extractor = extractors[worker]
            while i < items.count {
                let item = items[i]
                do {
                    let logMel = try cache.logMel(path: item.path, extractor: extractor)
                    let spread = (logMel.storage.max() ?? 0) - (logMel.storage.min() ?? 0)
                    if logMel.rows > 0 && spread < 1 {
                        // Digital silence (or a constant signal): every band sits at one level, there is no style.
                        failures.withLock { $0[i] = "\(item.path): silent (every band at one level throughout); left out" }
                    } else if logMel.rows > 0 {
                        let track = TrainingTrack(path: item.path, label: classIndex[item.label]!, logMel: logMel)
                        results.withLock { $0[i] = track }
                    } else {
                        failures.withLock { $0[i] = "\(item.path): no audio frames" }
                    }
                } catch {
                    let reason = String(describing: error)
                    failures.withLock { $0[i] = reason }
                }
                progress.advance(detail: (item.path as NSString).lastPathComponent)
                i += workers
            }
        }
        progress.finish()
        for case let failure? in failures.withLock({ $0 }) { log("skipped: \(failure)") }
        return results.withLock { $0.compactMap { $0 } }
    }

    struct ValidationSet {
        var segments: [Matrix] = []
        var labels: [Int] = []
        /// Which validation track each segment belongs to, and the frames it spans there.
        var track: [Int] = []
        var spans: [Range<Int>] = []
        var trackLabels: [Int] = []
    }

    /// `perTrack` evenly spaced segments of each track (fewer when it is short; the whole track when it is
    /// shorter than one segment).
    static func evenSegments(_ tracks: [TrainingTrack], segmentFrames: Int, perTrack: Int) -> ValidationSet {
        var set = ValidationSet()
        for (t, track) in tracks.enumerated() {
            let n = track.logMel.rows
            let count = n <= segmentFrames ? 1 : min(perTrack, n / segmentFrames)
            for s in 0..<max(1, count) {
                let start = count <= 1 ? 0 : (n - segmentFrames) * s / (count - 1)
                let span = n <= segmentFrames ? 0..<n : start..<(start + segmentFrames)
                set.segments.append(n <= segmentFrames ? track.logMel : track.logMel.rows(span))
                set.labels.append(track.label)
                set.track.append(t)
                set.spans.append(span)
            }
            set.trackLabels.append(track.label)
        }
        return set
    }

    private func validationSegments(_ tracks: [TrainingTrack], segmentFrames: Int) -> ValidationSet {
        Self.evenSegments(tracks, segmentFrames: segmentFrames, perTrack: recipe.validationSegmentsPerTrack)
    }

    /// Epochs between two measures of the fidelity on unseen labels, and the segments taken per unseen track:
    /// together about a tenth of an epoch's time on the corpus.
    static let unseenInterval = 5
    static let unseenSegmentsPerTrack = 4

    /// The unseen labels' tracks, `unseenSegmentsPerTrack` segments each (their labels are only names here).
    private func unseenSegments(_ items: [LabelledTrack], segmentFrames: Int) throws -> (ValidationSet, [TrainingTrack]) {
        let labels = Array(Set(items.map(\.label))).sorted()
        let tracks = try loadFeatures(items, classIndex: Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) }),
                                      what: "unseen labels")
        return (Self.evenSegments(tracks, segmentFrames: segmentFrames, perTrack: Self.unseenSegmentsPerTrack), tracks)
    }

    /// A set of segments with the teacher's target for each (its span's overlap-weighted patches, z-scored as
    /// the training targets are), for `TeacherFidelity`.
    struct FidelityProbe {
        let set: ValidationSet
        let targets: Matrix
    }

    private func fidelityProbe(_ set: ValidationSet, tracks: [TrainingTrack], teacher: TeacherTargets) throws
        -> FidelityProbe
    {
        let own = try TeacherTargets(directory: teacher.directory, trackPaths: tracks.map(\.path), scaledAs: teacher,
                                     log: log)
        let seconds = cache.configuration.secondsPerFrame
        return FidelityProbe(set: set, targets: Matrix(rowArrays: set.segments.indices.map { i in
            own.target(track: set.track[i], from: Double(set.spans[i].lowerBound) * seconds,
                       to: Double(set.spans[i].upperBound) * seconds)
        }))
    }

    private func fidelity(_ trainer: EncoderTrainer, _ probe: FidelityProbe, embeddings: [Embedding]) -> TeacherFidelity? {
        TeacherFidelity.measure(embeddings: Matrix(rowArrays: embeddings.map(\.values)), targets: probe.targets,
                                tracks: probe.set.track, head: trainer.regressionHead)
    }

    private func validate(_ trainer: EncoderTrainer, _ set: ValidationSet, probe: FidelityProbe?)
        -> (scores: (crossEntropy: Float, triplet: Float, accuracy: Float, precisionAt10: Float), fidelity: TeacherFidelity?)
    {
        guard !set.segments.isEmpty else { return ((.nan, .nan, .nan, .nan), nil) }
        let evaluation = trainer.evaluate(segments: set.segments, labels: set.labels)
        let embeddings = trainer.encoder.embed(segments: set.segments)
        var byTrack = [[Embedding]](repeating: [], count: set.trackLabels.count)
        for (i, e) in embeddings.enumerated() { byTrack[set.track[i]].append(e) }
        let tracks = byTrack.map { Embedding.pooled($0)! }
        return ((evaluation.crossEntropy, evaluation.triplet, evaluation.accuracy,
                 Self.precisionAtK(tracks, labels: set.trackLabels, k: 10)),
                probe.flatMap { fidelity(trainer, $0, embeddings: embeddings) })
    }

    /// Mean precision at k of each item's nearest others (itself excluded), relevant = same label; k is cut to
    /// the number of others. `RetrievalMetrics` ranks and counts, as in `retrieve evaluate`.
    static func precisionAtK(_ items: [Embedding], labels: [Int], k: Int) -> Float {
        guard items.count > 1 else { return .nan }
        let kk = min(k, items.count - 1)
        var total = 0.0
        for i in items.indices {
            let scores = items.map { items[i].cosine($0) }
            let ranked = RetrievalMetrics.ranking(scores: scores) { $0 != i }
            total += RetrievalMetrics.precision(at: kk, relevance: ranked.map { labels[$0] == labels[i] })
        }
        return Float(total / Double(items.count))
    }
}

/// Problems that stop a training run before it starts.
public enum TrainingError: Error, CustomStringConvertible {
    case tooFewClasses([String])
    case emptySplit(String)
    case badRecipe(String)
    case resumeMismatch(String)

    public var description: String {
        switch self {
        case .tooFewClasses(let c): "training needs at least two classes with audio, found \(c.count): \(c.joined(separator: ", "))"
        case .emptySplit(let s): "the \(s) split has no tracks; check the labels file's split column"
        case .badRecipe(let p): "bad training settings: \(p)"
        case .resumeMismatch(let p): "\(p): the checkpoint was trained on other classes; remove it or train afresh without --resume"
        }
    }
}
