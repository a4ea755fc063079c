import Foundation
public import AudioDegradations
import Analysis
public import EncoderTraining
import LinearAlgebra
import RetrieveCore
import SequenceEncoding
public import Training
import SimilaritySearch

/// Leave-labels-out evaluation: how well a training recipe's model retrieves by style on music of labels
/// (soundtracks, genres) it never heard, which is what a user's library is.
///
/// The labels are dealt into k folds (`assign`). For each fold a model is trained by the recipe on the training
/// collection's tracks of the *other* labels (their train and validation splits, as `retrieve train` uses
/// them; their test split too with the recipe's `trainOnTestSplit`), and style retrieval is scored on the
/// evaluation collection's items of the fold's labels only: every item queries the others of its fold, relevant
/// = same label, items of the query's own track group never counted (`RetrievalMetrics.styleRetrieval`). The
/// baselines (`BaselineDescriptors`) and any peer systems (`PeerDescriptors`, e.g. Musly and MusiCNN from
/// `bench/quality`) are scored on the same items of the same fold, so every row of the report answers the same
/// queries. Scores are reported per fold and as mean ± sample standard deviation over the folds.
public final class LeaveLabelsOut {
    /// What to run.
    public struct Options: Sendable {
        public var folds = 5
        /// The training recipe of every fold's model (its `seed` also deals the folds).
        public var recipe = TrainingRecipe()
        /// The feature cache of training.
        public var cacheDirectory: String
        /// Where the fold models are kept (`fold-1.safetensors` …); nil: a temporary folder, removed afterwards.
        public var modelsDirectory: URL?
        /// Reuse a fold model already in `modelsDirectory` when its report says it was trained by this recipe on
        /// these labels, instead of training it again.
        public var reuseModels = true
        /// Degraded whole copies of every held-out item checked against the fold's model (`Degradation.invariance`
        /// by default; empty skips the check): its cosine with the original and whether it still finds its item.
        public var invariance = Degradation.invariance
        public init(cacheDirectory: String) { self.cacheDirectory = cacheDirectory }
    }

    /// One system's style scores on one fold.
    public struct SystemScores: Sendable, Codable, Equatable {
        public var name: String
        public var style: StyleScores
        /// Items of the fold this system described (a peer may have failed on some).
        public var items: Int
    }

    /// One fold: its labels, its model's training, and every system's scores on its items.
    public struct Fold: Sendable, Codable {
        public var fold: Int
        public var labels: [String]
        public var trainingTracks: Int
        public var items: Int
        public var chancePrecision: Double
        public var trainingSeconds: Double
        /// Whether the fold's model was reused from `modelsDirectory` rather than trained in this run.
        public var reused: Bool
        /// The epoch whose weights the fold's model holds (the best by validation, or the last with
        /// `keep: .last`; the JSON name predates that choice).
        public var bestEpoch: Int?
        /// With a distilling recipe: the fold model's fidelity to its teacher (`TeacherFidelity`) on the training
        /// collection's tracks of the fold's held-out labels, and on its validation tracks, at the epoch of its
        /// weights; nil without teacher targets (or when that epoch was not measured).
        public var unseenFidelity: TeacherFidelity?
        public var validationFidelity: TeacherFidelity?
        public var systems: [SystemScores]
        /// The model's invariance per degradation: R@1 of the degraded copy among the fold's items, and its
        /// cosine with the original (`Evaluator.DegradationScores`).
        public var invariance: [Evaluator.DegradationScores]
        /// The same copies ranked by the model's cosine mixed with timbre (`hybridRow`): R@1 only; nil where
        /// the evaluation had no timbre rows.
        public var hybridInvariance: [Evaluator.DegradationScores]?
        public var failures: [Evaluator.Failure]
    }

    /// A metric's mean and sample standard deviation over the folds, and its worst fold.
    public struct Spread: Sendable, Codable, Equatable {
        public var mean: Double
        public var std: Double
        public var minimum: Double
        init(_ values: [Double]) {
            let n = Double(max(1, values.count))
            let m = values.reduce(0, +) / n
            mean = m
            std = values.count > 1
                ? (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot() : 0
            minimum = values.min() ?? 0
        }
    }

    /// A system's scores over all folds.
    public struct Summary: Sendable, Codable, Equatable {
        public var name: String
        public var precisionAt10: Spread
        public var meanAveragePrecision: Spread
        public var macroPrecisionAt10: Spread
        public var precisionAt5: Spread
        public var knnAccuracy: Spread
    }

    /// The whole evaluation.
    public struct Report: Sendable, Codable {
        public var folds: [Fold]
        public var summaries: [Summary]
        /// The system the ratios are taken of (the model), and the recipe that trained it.
        public var model: String
        public var recipe: [String: String]
        public var peers: [PeerDescriptors.Note]
        public var elapsedSeconds: Double
    }

    /// The name of the model's row in the report.
    public static let modelRow = "model"
    /// The name of the row of the model's cosine mixed with timbre similarity (`TimbreSimilarity.hybrid`).
    public static let hybridRow = "model" + Evaluator.hybridSuffix

    private let options: Options
    private let log: (String) -> Void

    public init(options: Options, log: @escaping (String) -> Void) {
        precondition(options.folds >= 2, "leave-labels-out needs at least 2 folds")
        self.options = options
        self.log = log
    }

    /// The labels dealt into `folds` folds: ordered by a seeded hash of their names (FNV-1a of seed and name),
    /// then label i goes to fold i mod k, so folds differ in size by at most one label and do not depend on the
    /// order labels were listed in.
    public static func assign(labels: [String], folds: Int, seed: UInt64) -> [[String]] {
        func hash(_ s: String) -> UInt64 { ContentHash.FNV1a64.of(s, seed: seed) }
        let ordered = Array(Set(labels)).sorted { (hash($0), $0) < (hash($1), $1) }
        var out = [[String]](repeating: [], count: folds)
        for (i, label) in ordered.enumerated() { out[i % folds].append(label) }
        return out.map { $0.sorted() }
    }

    /// Runs every fold: trains on `training` without the fold's labels, scores on `evaluation`'s items of them.
    /// `peers` (optional) describe `evaluation`'s items in its order.
    public func run(evaluation: [LabelledTrack], training: [LabelledTrack], peers: PeerDescriptors?,
                    progress: @escaping ProgressFactory, stop: StopRequest) throws -> Report {
        let started = Date()
        let evaluationLabels = Set(evaluation.map(\.label))
        let trainingLabels = Set(training.map(\.label))
        guard evaluationLabels.count >= options.folds else {
            throw LeaveLabelsOutError.fewerLabelsThanFolds(labels: evaluationLabels.count, folds: options.folds)
        }
        let missing = evaluationLabels.subtracting(trainingLabels)
        if !missing.isEmpty {
            log("note: the training collection has no tracks of \(missing.sorted().joined(separator: ", ")); "
                + "those labels are only evaluated")
        }
        if let peers, peers.items != evaluation.count {
            throw LeaveLabelsOutError.peersMismatch(
                "the peers describe \(peers.items) items, the evaluation collection has \(evaluation.count)")
        }
        let folds = Self.assign(labels: Array(evaluationLabels), folds: options.folds, seed: options.recipe.seed)
        let fm = FileManager.default
        let temporary = options.modelsDirectory == nil
        let modelsDirectory = options.modelsDirectory ?? fm.temporaryDirectory
            .appendingPathComponent("retrieve-folds-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try fm.createDirectory(at: modelsDirectory, withIntermediateDirectories: true)
        defer { if temporary { try? fm.removeItem(at: modelsDirectory) } }

        var results: [Fold] = []
        for (f, labels) in folds.enumerated() {
            if stop.isRaised { break }
            let held = Set(labels)
            let trainTracks = training.filter { !held.contains($0.label) }
            let trainLabels = Set(trainTracks.map(\.label))
            // What the training session reads.
            let used = TrainingSession.trainingItems(trainTracks, recipe: options.recipe).count
                + LabelledCollection.tracks(trainTracks, in: .validation).count
            guard trainLabels.count >= 2 else {
                throw LeaveLabelsOutError.tooFewTrainingLabels(fold: f + 1, labels: trainLabels.sorted())
            }
            log("fold \(f + 1)/\(folds.count): held out \(labels.joined(separator: ", ")); training on "
                + "\(used) tracks of \(trainLabels.count) labels")
            let output = modelsDirectory.appendingPathComponent("fold-\(f + 1).safetensors")
            let trainingStarted = Date()
            let (kept, reused) = try trainedModel(at: output, fold: f + 1, tracks: trainTracks,
                                                  unseen: training.filter { held.contains($0.label) },
                                                  progress: progress, stop: stop)
            let trainingSeconds = Date().timeIntervalSince(trainingStarted)
            if stop.isRaised { break }
            let encoder = try ModelFile.load(path: output.path)

            let (report, systems) = try score(encoder, on: evaluation, held: held, fold: f + 1, peers: peers,
                                              progress: progress)
            let modelName = "model:" + encoder.version.name
            let fold = Fold(fold: f + 1, labels: labels, trainingTracks: used, items: report.tracks,
                            chancePrecision: report.chancePrecision, trainingSeconds: trainingSeconds,
                            reused: reused, bestEpoch: kept?.epoch, unseenFidelity: kept?.unseenFidelity,
                            validationFidelity: kept?.validationFidelity, systems: systems,
                            invariance: options.invariance.isEmpty ? []
                                : report.systems.first { $0.name == modelName }?.perDegradation ?? [],
                            hybridInvariance: options.invariance.isEmpty ? nil
                                : report.systems.first { $0.name == modelName + Evaluator.hybridSuffix }?.perDegradation,
                            failures: report.failures)
            log("fold \(f + 1): " + systems.map { String(format: "%@ P@10 %.3f", $0.name, $0.style.precisionAt10) }
                .joined(separator: ", ")
                + (kept?.unseenFidelity.map { "; teacher fidelity on its unseen labels \($0.summary)" } ?? ""))
            results.append(fold)
        }
        let summaries = Self.summaries(results)
        return Report(folds: results, summaries: summaries, model: Self.modelRow,
                      recipe: options.recipe.dictionary, peers: peers?.notes ?? [],
                      elapsedSeconds: Date().timeIntervalSince(started))
    }

    /// Scores a fold's model on the evaluation items of its held-out labels (and its invariance copies), beside
    /// the baselines and the peers; returns the evaluator's report and one row per system.
    private func score(_ encoder: SequenceEncoding.Encoder, on evaluation: [LabelledTrack], held: Set<String>, fold: Int,
                       peers: PeerDescriptors?, progress: ProgressFactory) throws -> (Evaluator.Report, [SystemScores]) {
        let indices = evaluation.indices.filter { held.contains(evaluation[$0].label) }
        var evaluatorOptions = Evaluator.Options()
        evaluatorOptions.excerptsPerTrack = options.invariance.count
        evaluatorOptions.wholeTrackQueries = true
        evaluatorOptions.segmentMatching = false
        if !options.invariance.isEmpty { evaluatorOptions.degradations = options.invariance }
        let evaluator = try Evaluator(encoder: encoder, options: evaluatorOptions)
        let sink = progress(indices.count, "fold \(fold) evaluating")
        let report = try evaluator.run(indices.map { evaluation[$0] }, progress: sink)
        sink.finish()
        let modelName = "model:" + encoder.version.name
        var systems = report.systems.map { s in
            let name = switch s.name {
            case modelName: Self.modelRow
            case modelName + ":z": "model-z"
            case modelName + Evaluator.hybridSuffix: Self.hybridRow
            default: s.name
            }
            return SystemScores(name: name, style: s.style, items: report.tracks)
        }
        if let peers {
            let failed = Set(report.failures.map(\.path))
            let kept = indices.filter { !failed.contains(evaluation[$0].path) }
            for name in peers.names {
                if let scored = peers.styleScores(name, items: kept, labels: kept.map { evaluation[$0].label },
                                                  groups: kept.map { evaluation[$0].group }) {
                    systems.append(SystemScores(name: name, style: scored.style, items: scored.items))
                }
            }
        }
        return (report, systems)
    }

    /// Mean ± spread over folds of every system's scores, in the first fold's system order.
    static func summaries(_ results: [Fold]) -> [Summary] {
        let names = results.first?.systems.map(\.name) ?? []
        return names.map { name in
            let scores = results.compactMap { $0.systems.first { $0.name == name }?.style }
            return Summary(name: name, precisionAt10: Spread(scores.map(\.precisionAt10)),
                           meanAveragePrecision: Spread(scores.map(\.meanAveragePrecision)),
                           macroPrecisionAt10: Spread(scores.map(\.macroPrecisionAt10)),
                           precisionAt5: Spread(scores.map(\.precisionAt5)),
                           knnAccuracy: Spread(scores.map(\.knnAccuracy)))
        }
    }

    /// Gives a reused fold model trained before models carried a timbre reference set the one its training would
    /// make now (from the fold's training tracks, by the recipe's seed), so that its hybrid is evaluated as an
    /// index would use it; the model file is rewritten once.
    private func addTimbreReference(to output: URL, tracks: [LabelledTrack], progress: ProgressFactory) throws {
        let encoder = try ModelFile.load(path: output.path)
        guard encoder.timbreReference == nil else { return }
        let name = encoder.version.name
        guard
            let reference = try TrainingSession.timbreReference(
                TrainingSession.referenceItems(tracks, recipe: options.recipe), encoder: encoder,
                seed: options.recipe.seed, progress: progress, log: { self.log("  " + $0) })
        else { return }
        encoder.setTimbreReference(reference)
        try encoder.save(to: output, name: name)
        log("  \(output.lastPathComponent): stored a timbre reference set of \(reference.full.rows) training tracks")
    }

    /// Trains the fold's model into `output`, or reuses the one there when its report shows the same recipe and
    /// training labels and a finished run (an interrupted one is trained again); returns the record of the epoch
    /// of the model's weights (nil in reports that predate `keptEpoch` and `bestEpoch` alike) and whether the
    /// model was reused. `unseen` (the held-out labels' tracks) is only measured on, never trained on.
    private func trainedModel(at output: URL, fold: Int, tracks: [LabelledTrack], unseen: [LabelledTrack],
                              progress: @escaping ProgressFactory, stop: StopRequest) throws
        -> (kept: EpochRecord?, reused: Bool)
    {
        let session = try TrainingSession(recipe: options.recipe, modelName: "fold-\(fold)", output: output,
                                          cacheDirectory: options.cacheDirectory, progress: progress,
                                          stop: stop) { [log] line in log("  " + line) }
        let classes = Array(Set(tracks.map(\.label))).sorted()
        if options.reuseModels, let data = try? Data(contentsOf: session.reportURL),
           let previous = try? TrainingReport.decode(data),
           // A recipe field added since that model was trained is taken at its default, which is how it trained.
           TrainingRecipe().dictionary.merging(previous.recipe, uniquingKeysWith: { $1 }) == options.recipe.dictionary,
           previous.classNames == classes,
           previous.trainTracks == TrainingSession.trainingItems(tracks, recipe: options.recipe).count
        {
            if previous.finished(epochs: options.recipe.epochs), FileManager.default.fileExists(atPath: output.path) {
                log("  reusing \(output.path) (same recipe and labels)")
                try addTimbreReference(to: output, tracks: tracks, progress: progress)
                return (previous.record(of: previous.modelEpoch), true)
            }
            // Interrupted (Ctrl-C, a kill): the report ends before the recipe does. Training on from the checkpoint
            // would draw other crops than an uninterrupted run (the generators restart at the resumed epoch), so
            // the fold is trained again from the start: the same recipe, the same model.
            if !previous.finished(epochs: options.recipe.epochs) {
                log("  \(output.lastPathComponent) stopped after epoch \(previous.epochs.last?.epoch ?? 0) of "
                    + "\(options.recipe.epochs) (interrupted): training it again from the start")
            }
        }
        // A fresh model: no checkpoint or unfinished weights of another run may be resumed or finished.
        for stale in [session.checkpointURL, session.unfinishedURL, output] {
            try? FileManager.default.removeItem(at: stale)
        }
        let report = try session.run(collection: tracks, unseen: unseen)
        return (report.record(of: report.modelEpoch), false)
    }
}

/// Why a leave-labels-out evaluation cannot run.
public enum LeaveLabelsOutError: Error, CustomStringConvertible {
    case fewerLabelsThanFolds(labels: Int, folds: Int)
    case tooFewTrainingLabels(fold: Int, labels: [String])
    case peersMismatch(String)

    public var description: String {
        switch self {
        case .fewerLabelsThanFolds(let labels, let folds):
            "the evaluation collection has \(labels) label(s), fewer than the \(folds) folds asked for; "
                + "use --leave-labels-out \(max(2, labels)) or fewer, or add labels"
        case .tooFewTrainingLabels(let fold, let labels):
            "fold \(fold) leaves \(labels.count) label(s) to train on (\(labels.joined(separator: ", "))); "
                + "training needs at least 2: use fewer folds or a training collection with more labels"
        case .peersMismatch(let reason):
            "the peer descriptors do not fit this evaluation collection: \(reason); re-run bench/quality"
        }
    }
}
