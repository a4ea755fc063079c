import ArgumentParser
import Foundation
import AudioDegradations
import RetrieveCore
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import SequenceEncoding
import EncoderTraining

extension DataSplit: ExpressibleByArgument {}

/// A comma-separated list of degradations (`gain-20dB,mp3-128k`), or `none`: parsed by the argument parser, so a
/// misspelt name is refused there with the list of choices.
struct DegradationList: ExpressibleByArgument, Equatable {
    let list: [Degradation]

    init?(argument: String) {
        if argument == "none" { list = []; return }
        let names = argument.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let list = names.compactMap(Degradation.init(rawValue:))
        guard list.count == names.count, !list.isEmpty else { return nil }
        self.list = list
    }

    static var allValueStrings: [String] { Degradation.allCases.map(\.rawValue) + ["none"] }
    var defaultValueDescription: String { list.isEmpty ? "none" : list.map(\.rawValue).joined(separator: ",") }
}

/// `retrieve evaluate DATA`: style retrieval and identification scores of the model and two baselines.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score the model against MFCC and log-mel baselines on a labelled collection.",
        discussion: """
            DATA is a folder with one sub-folder per class (DIR/<label>/<file>), or use --labels CSV with \
            path,label[,split][,group] rows (paths relative to the CSV's folder). With --split and no --labels, \
            DATA/labels.csv is used.
            Style retrieval: every track queries all others (cosine of z-scored descriptors): P@5, P@10, mAP and \
            5-NN accuracy. Files of one recording (same `group` column, or names differing only after `__`, \
            e.g. song__clip1.wav and song__clip2.wav) never count as answers for each other.
            Identification: --identification-excerpts 10-s excerpts per track, each degraded once (cycling \
            through 20 dB white noise, -9 dB gain, 128 kb/s MP3, 4 kHz low-pass, +3 % tempo, +1 semitone, \
            16 kHz resampling), are looked up among the full tracks: R@1, R@10 and MRR. With a model, the rows \
            model:NAME:segments, :segments-z, :segments-aligned, :segments-robust, :segments-robust-pitch and \
            :segments-pitch identify by matching segment embeddings instead of one pooled vector (their style \
            columns repeat the pooled model's); similar --identify does as :segments-pitch for a model that \
            level-normalises its input, as :segments-robust-pitch for an older one.
            Timbre: the row timbre compares tracks' MFCC Gaussians, of all bands and of the bands below 5 kHz \
            (Jensen-Shannon distance, mutual proximity over the evaluated tracks, as Musly does; the closer of \
            the two counts), and model:NAME+timbre mixes the model's cosine with it, each standardised per query \
            (weight 0.4 on timbre).
            """)

    @Argument(help: ArgumentHelp("A labelled collection folder (optional with --labels).", valueName: "data"))
    var data: String?

    @OptionGroup var modelOption: ModelOption
    var model: String? { modelOption.model }

    @Flag(help: "Evaluate the two baselines only, without a model.")
    var baselinesOnly = false

    @Option(help: ArgumentHelp("A CSV of path,label[,split][,group] rows.", valueName: "csv"))
    var labels: String?

    @Option(help: ArgumentHelp("Keep only the rows of this split.", valueName: "name"))
    var split: DataSplit?

    @Option(help: "Degraded excerpts per track for identification (0 skips identification).")
    var identificationExcerpts: Int = 1

    @Option(help: ArgumentHelp(
        "Comma-separated degradations to cycle through instead of the standard seven (e.g. clean,mp3-128k).",
        valueName: "list"))
    var degradations: DegradationList?

    @Option(help: "Seed for excerpt positions and noise.")
    var seed: UInt64 = 0

    @Flag(help: "Print the report as JSON (one object).")
    var json = false

    @Option(help: ArgumentHelp("Also write the report as JSON to this file.", valueName: "path"))
    var jsonOut: String?

    @Flag(name: .shortAndLong, help: "No progress output.")
    var quiet = false

    @Option(help: ArgumentHelp(
        "Write the collection as clips (WAV, 22 050 Hz mono) with a clips.csv into this folder, and stop.",
        valueName: "dir"))
    var exportClips: String?

    @Option(help: "With --export-clips: clips cut from each track, evenly spaced.")
    var clipsPerTrack: Int = 2

    @Option(help: "With --export-clips: the length of a clip in seconds.")
    var clipSeconds: Double = 30

    @Option(help: ArgumentHelp(
        "Leave-labels-out: deal the labels into K folds; train a model on the other labels for each and score "
            + "style retrieval on the fold's unseen labels (see the training options).",
        valueName: "K"))
    var leaveLabelsOut: Int?

    @Option(help: ArgumentHelp(
        "With --leave-labels-out: the collection the fold models train on (a folder, with labels.csv or class "
            + "sub-folders, or a CSV); default: the evaluated collection itself.",
        valueName: "data"))
    var trainData: String?

    @Option(help: ArgumentHelp(
        "With --leave-labels-out: a folder of peer descriptors (NAME.npy and manifest.json from bench/quality) "
            + "of the --labels CSV's items, scored beside the model.",
        valueName: "dir"))
    var peers: String?

    @Option(help: ArgumentHelp(
        "With --leave-labels-out: keep the fold models here (fold-1.safetensors …) and reuse those trained to "
            + "the end by the same recipe on the same labels; default: a temporary folder.",
        valueName: "dir"))
    var foldModels: String?

    @Option(help: ArgumentHelp(
        "With --leave-labels-out: the whole-copy degradations checked against each fold's model (comma-separated, "
            + "or 'none'); default: gain-20dB, gain+6dB, mp3-128k, lowpass-4kHz and resample-16kHz.",
        valueName: "list"))
    var invariance: DegradationList?

    @OptionGroup(title: "Training (with --leave-labels-out)")
    var training: RecipeOptions

    func validate() throws {
        guard data != nil || labels != nil else {
            throw ValidationError("give a labelled collection folder, or --labels CSV")
        }
        try Check.range("--identification-excerpts", identificationExcerpts, 0...1_000)
        if baselinesOnly && model != nil { throw ValidationError("--baselines-only and --model exclude each other") }
        _ = try degradationList()
        _ = try invarianceList()
        try Check.range("--clips-per-track", clipsPerTrack, 1...1_000)
        try Check.above("--clip-seconds", clipSeconds, 0.5, atMost: 3_600, unit: " s")
        if let k = leaveLabelsOut {
            try Check.range("--leave-labels-out", k, 2...1_000)
            if model != nil || baselinesOnly {
                throw ValidationError("--leave-labels-out trains its own fold models: drop --model/--baselines-only")
            }
            if exportClips != nil { throw ValidationError("--export-clips and --leave-labels-out are separate steps") }
        } else if trainData != nil || peers != nil || foldModels != nil || invariance != nil {
            throw ValidationError("--train-data, --peers, --fold-models and --invariance go with --leave-labels-out K")
        }
        if peers != nil && labels == nil {
            throw ValidationError("--peers needs --labels CSV: the clips.csv the peer descriptors were made for")
        }
    }

    func degradationList() throws -> [Degradation] {
        guard let degradations else { return Degradation.standard }
        guard !degradations.list.isEmpty else {
            throw ValidationError("--degradations needs at least one degradation to cycle through, got 'none'")
        }
        return degradations.list
    }

    func invarianceList() throws -> [Degradation] { invariance?.list ?? Degradation.invariance }

    func collection() throws -> [LabelledTrack] {
        if let labels { return try LabelledCollection.csv(labels, split: split?.rawValue) }
        let folder = data!
        if split != nil {
            let csv = (folder as NSString).appendingPathComponent("labels.csv")
            guard FileManager.default.fileExists(atPath: csv) else {
                throw CLIError("\(folder): --split needs a labels.csv with a split column here, or --labels CSV")
            }
            return try LabelledCollection.csv(csv, split: split?.rawValue)
        }
        return try LabelledCollection.folder(folder)
    }

    func run() throws {
        if let folder = exportClips { return try runExport(folder) }
        if let folds = leaveLabelsOut { return try runLeaveLabelsOut(folds) }
        var encoder: SequenceEncoding.Encoder?
        if !baselinesOnly {
            encoder = try modelOption.load(alternative: "or --baselines-only to score the baselines alone")
        }
        let tracks = try collection()
        var options = Evaluator.Options()
        options.excerptsPerTrack = identificationExcerpts
        options.seed = seed
        options.degradations = try degradationList()
        let evaluator = try Evaluator(encoder: encoder, options: options)
        let progress = ProgressReporter(total: tracks.count, label: "evaluating", mode: quiet ? .quiet : nil)
        let report = try evaluator.run(tracks, progress: progress)
        progress.finish()
        guard report.tracks > 0 else { throw CLIError("none of the \(tracks.count) files could be decoded") }
        try emit(report, text: Self.text(report))
    }

    func runExport(_ folder: String) throws {
        let tracks = try collection()
        let progress = ProgressReporter(total: tracks.count, label: "cutting clips", mode: quiet ? .quiet : nil)
        let summary = try ClipExport.export(
            tracks, to: URL(fileURLWithPath: Paths.absolute(folder)), clipsPerTrack: clipsPerTrack,
            clipSeconds: clipSeconds, progress: progress)
        progress.finish()
        print("\(summary.clips) clips of \(summary.tracks) tracks: \(summary.csv.path)")
        if !summary.failures.isEmpty {
            print("\(summary.failures.count) file(s) could not be decoded and were left out")
            throw ExitStatus.partialFailure
        }
    }

    func runLeaveLabelsOut(_ folds: Int) throws {
        let evaluation = try collection()
        let trainingCollection: [LabelledTrack]
        if let trainData {
            trainingCollection = trainData.lowercased().hasSuffix(".csv")
                ? try LabelledCollection.csv(trainData) : try LabelledCollection.load(folder: trainData, labels: nil)
        } else {
            trainingCollection = evaluation
        }
        let peerDescriptors = try peers.map { folder in
            try PeerDescriptors(folder: URL(fileURLWithPath: Paths.absolute(folder)),
                                csv: URL(fileURLWithPath: Paths.absolute(labels!)),
                                items: evaluation.count)
        }
        var options = LeaveLabelsOut.Options(cacheDirectory: training.cacheDirectory)
        options.folds = folds
        options.recipe = training.recipe(seed: seed == 0 ? 1 : seed)
        options.invariance = try invarianceList()
        options.modelsDirectory = foldModels.map { URL(fileURLWithPath: Paths.absolute($0)) }
        let interrupt = InterruptFlag()
        interrupt.catchInterrupts {
            FileHandle.standardError.write(Data("\nretrieve: stopping after this step (Ctrl-C again to stop at once)\n".utf8))
        }
        let runner = LeaveLabelsOut(options: options) { line in
            if !quiet || json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        let report = try runner.run(evaluation: evaluation, training: trainingCollection, peers: peerDescriptors,
                                    progress: ProgressReporter.factory(quiet: quiet), stop: interrupt.stop)
        if report.folds.isEmpty { throw ExitStatus.interrupted }
        try emit(report, text: Self.text(report))
        if interrupt.isRaised { throw ExitStatus.interrupted }
    }

    static func text(_ r: LeaveLabelsOut.Report) -> String {
        func p(_ v: Double) -> String { String(format: "%.3f", v) }
        func pm(_ s: LeaveLabelsOut.Spread) -> String { "\(p(s.mean)) ± \(p(s.std))" }
        var lines: [String] = []
        let items = r.folds.map(\.items).reduce(0, +)
        lines.append("leave-labels-out: \(r.folds.count) folds, \(items) items of "
            + "\(r.folds.map(\.labels.count).reduce(0, +)) labels, each fold scored by a model that never heard its labels")
        for f in r.folds {
            lines.append("  fold \(f.fold): \(f.labels.joined(separator: ", ")) (\(f.items) items, chance P@10 ≈ "
                + "\(p(f.chancePrecision)); model trained on \(f.trainingTracks) tracks"
                + (f.reused ? " (reused)" : String(format: " in %.0f s", f.trainingSeconds))
                + (f.bestEpoch.map { ", weights of epoch \($0)" } ?? "") + ")")
        }
        let fidelities = r.folds.compactMap { f in f.unseenFidelity.map { ($0, f.validationFidelity) } }
        if !fidelities.isEmpty {
            // Means over the folds that measured it; a head cosine only where every such fold had a head.
            func mean(_ values: [Float?]) -> String {
                let v = values.compactMap { $0 }.filter { !$0.isNaN }
                return v.isEmpty || v.count < values.count ? "-" : p(Double(v.reduce(0, +)) / Double(v.count))
            }
            func line(_ f: [TeacherFidelity]) -> String {
                "head cosine \(mean(f.map(\.headCosine))), pair correlation \(mean(f.map(\.pairCorrelation)))"
            }
            lines.append("teacher fidelity of the fold models at their weights' epoch (mean over \(fidelities.count) folds): "
                + "unseen labels \(line(fidelities.map(\.0)))"
                + (fidelities.allSatisfy { $0.1 != nil } ? "; validation tracks \(line(fidelities.compactMap(\.1)))" : ""))
        }
        lines.append("")
        let header = ["system", "P@10", "mAP", "macro P@10", "P@5", "5-NN acc", "worst fold P@10"]
        lines.append(Output.table(header, r.summaries.map { s in
            [s.name, pm(s.precisionAt10), pm(s.meanAveragePrecision), pm(s.macroPrecisionAt10), pm(s.precisionAt5),
             pm(s.knnAccuracy), p(s.precisionAt10.minimum)]
        }, rightAligned: Set(1..<header.count)))
        func ratios(of model: LeaveLabelsOut.Summary) {
            lines.append("")
            lines.append("ratios, \(model.name) / system (mean over folds): P@10, mAP, macro P@10")
            for s in r.summaries where s.name != model.name {
                func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? String(format: "%.2f×", a / b) : "-" }
                lines.append("  / \(s.name): " + [
                    ratio(model.precisionAt10.mean, s.precisionAt10.mean),
                    ratio(model.meanAveragePrecision.mean, s.meanAveragePrecision.mean),
                    ratio(model.macroPrecisionAt10.mean, s.macroPrecisionAt10.mean),
                ].joined(separator: ", "))
            }
        }
        if let hybrid = r.summaries.first(where: { $0.name == LeaveLabelsOut.hybridRow }) { ratios(of: hybrid) }
        if let model = r.summaries.first(where: { $0.name == r.model }) {
            ratios(of: model)
            let below = r.folds.filter { f in
                guard let m = f.systems.first(where: { $0.name == r.model }),
                      let b = f.systems.first(where: { $0.name == BaselineDescriptors.Kind.mfcc.rawValue }) else { return false }
                return m.style.precisionAt10 < b.style.precisionAt10
            }
            lines.append(below.isEmpty ? "no fold has the model's P@10 below the MFCC baseline's"
                : "folds with the model's P@10 below the MFCC baseline's: " + below.map { String($0.fold) }.joined(separator: ", "))
        }
        lines.append("")
        let names = r.summaries.map(\.name)
        lines.append("P@10 per fold")
        lines.append(Output.table(["fold"] + names, r.folds.map { f in
            [String(f.fold)] + names.map { n in f.systems.first { $0.name == n }.map { p($0.style.precisionAt10) } ?? "-" }
        }, rightAligned: Set(0...names.count)))
        let degradations = r.folds.first?.invariance.map(\.degradation) ?? []
        if !degradations.isEmpty {
            lines.append("")
            lines.append("invariance of the model's pooled embedding, whole degraded copies of the unseen items, over all folds:")
            let hybrid = r.folds.allSatisfy { $0.hybridInvariance != nil }
            let rows = degradations.enumerated().map { i, d -> [String] in
                let scores = r.folds.compactMap { $0.invariance.count > i ? $0.invariance[i] : nil }
                let n = scores.map(\.scores.queries).reduce(0, +)
                func weighted(_ scores: [Evaluator.DegradationScores], _ f: (Evaluator.DegradationScores) -> Double?)
                    -> String
                {
                    let pairs = scores.compactMap { s in f(s).map { ($0, Double(s.scores.queries)) } }
                    let w = pairs.map(\.1).reduce(0, +)
                    return w > 0 ? p(pairs.map { $0.0 * $0.1 }.reduce(0, +) / w) : "-"
                }
                let minimum = scores.compactMap { $0.selfCosine?.minimum }.min().map(p) ?? "-"
                let hybridScores = r.folds.compactMap { f in f.hybridInvariance.flatMap { $0.count > i ? $0[i] : nil } }
                return [d, String(n), weighted(scores) { $0.scores.recallAt1 }, weighted(scores) { $0.selfCosine?.mean },
                        minimum, weighted(scores) { $0.selfCosine?.atLeast099 }]
                    + (hybrid ? [weighted(hybridScores) { $0.scores.recallAt1 }] : [])
            }
            let header = ["copy", "n", "finds itself (R@1)", "cosine mean", "min", "share ≥ 0.99"]
                + (hybrid ? ["R@1, \(LeaveLabelsOut.hybridRow)"] : [])
            lines.append(Output.table(header, rows, rightAligned: Set(1..<header.count)))
        }
        for note in r.peers where note.undescribed > 0 {
            lines.append("\(note.name): \(note.undescribed) item(s) it could not describe are left out of its scores")
        }
        lines.append("")
        lines.append(String(format: "%.0f s", r.elapsedSeconds))
        return lines.joined(separator: "\n")
    }

    /// The report as JSON: one object, camelCase keys (the report's own property names), numbers as numbers; one
    /// line for standard output (`pretty: false`, the convention of every `--json`), indented for `--json-out`.
    static func json<Report: Encodable>(_ report: Report, pretty: Bool = false) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            : [.sortedKeys, .withoutEscapingSlashes]
        do { return String(decoding: try encoder.encode(report), as: UTF8.self) } catch {
            throw CLIError("the report cannot be written as JSON (\(error)); run without --json to see it as text")
        }
    }

    /// Writes the report as JSON to `--json-out` if given, and prints it as JSON (`--json`) or as `text`.
    func emit<Report: Encodable>(_ report: Report, text: String) throws {
        if let jsonOut {
            try OutputFile.write(try Self.json(report, pretty: true), to: Paths.absolute(jsonOut))
        }
        print(json ? try Self.json(report) : text)
    }

    static func text(_ r: Evaluator.Report) -> String {
        func p(_ v: Double) -> String { String(format: "%.3f", v) }
        var lines: [String] = []
        let labels = r.labelCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        lines.append("\(r.tracks) tracks (\(r.groups) recordings) in \(r.labelCounts.count) classes: "
            + labels.joined(separator: ", "))
        lines.append("chance: P@k ≈ \(p(r.chancePrecision)); identification R@1 = \(p(1 / Double(max(1, r.groups))))")
        lines.append("")
        let header = ["system", "dims", "P@5", "P@10", "mAP", "5-NN acc", "ID R@1", "R@10", "MRR"]
        let rows = r.systems.map { s in
            [s.name, String(s.dimensions), p(s.style.precisionAt5), p(s.style.precisionAt10),
             p(s.style.meanAveragePrecision), p(s.style.knnAccuracy)]
                + (r.excerpts > 0 ? [p(s.identification.recallAt1), p(s.identification.recallAt10),
                                     p(s.identification.meanReciprocalRank)] : ["-", "-", "-"])
        }
        lines.append(Output.table(header, rows, rightAligned: Set(1..<header.count)))
        if r.systems.contains(where: { $0.name.hasSuffix(":segments") }) {
            lines.append("model:…:segments rows identify by matching segment embeddings (mean over the excerpt's "
                + "segments of the best cosine in the track; -z: after z-scoring; -aligned: share of best matches at "
                + "one time offset; -robust: on log-mel below 3.5 kHz, level-aligned per segment; -pitch and "
                + "-robust-pitch: also trying the query varispeed-shifted ±0.5, ±1, ±1.5 semitones, as `similar "
                + "--identify` does for a model with level normalisation and for one without); their style columns "
                + "repeat the pooled model's.")
        }
        if r.excerpts > 0 {
            lines.append("")
            lines.append("identification by degradation (\(r.excerpts) excerpts of \(Int(r.excerptSeconds)) s; "
                + "MP3 at \(r.mp3KilobitsPerSecond) kb/s CBR): R@1 / R@10 / MRR")
            let names = r.systems.map(\.name)
            let degradations = r.systems.first?.perDegradation.map(\.degradation) ?? []
            let rows = degradations.enumerated().map { i, d in
                [d, String(r.systems[0].perDegradation[i].scores.queries)] + r.systems.map { s in
                    let x = s.perDegradation[i].scores
                    return x.queries > 0 ? "\(p(x.recallAt1)) / \(p(x.recallAt10)) / \(p(x.meanReciprocalRank))" : "-"
                }
            }
            lines.append(Output.table(["degradation", "n"] + names, rows, rightAligned: Set(1..<(names.count + 2))))
        }
        if !r.failures.isEmpty {
            lines.append("")
            lines.append("\(r.failures.count) file(s) could not be decoded and were left out:")
            for f in r.failures.prefix(20) { lines.append("  \(f.path): \(f.reason)") }
            if r.failures.count > 20 { lines.append("  … and \(r.failures.count - 20) more (--json lists all)") }
        }
        lines.append("")
        lines.append("seed \(r.seed), \(String(format: "%.1f", r.elapsedSeconds)) s")
        return lines.joined(separator: "\n")
    }
}
