import ArgumentParser
import Foundation
import RetrievalPipeline
import SequenceEncoding

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
            model:NAME:segments, :segments-z, :segments-aligned, :segments-robust and :segments-robust-pitch \
            identify by matching segment embeddings instead of one pooled vector (their style columns repeat the \
            pooled model's).
            """)

    @Argument(help: ArgumentHelp("A labelled collection folder (optional with --labels).", valueName: "data"))
    var data: String?

    @Option(help: ArgumentHelp(
        "The model file (default: $RETRIEVE_MODEL, else the shipped Index/default-model.safetensors).",
        valueName: "path"))
    var model: String?

    @Flag(help: "Evaluate the two baselines only, without a model.")
    var baselinesOnly = false

    @Option(help: ArgumentHelp("A CSV of path,label[,split][,group] rows.", valueName: "csv"))
    var labels: String?

    @Option(help: ArgumentHelp("Keep only the rows of this split (train, validation, test).", valueName: "name"))
    var split: String?

    @Option(help: "Degraded excerpts per track for identification (0 skips identification).")
    var identificationExcerpts: Int = 1

    @Option(help: ArgumentHelp(
        "Comma-separated degradations to cycle through instead of the standard seven (e.g. clean,mp3-128k).",
        valueName: "list"))
    var degradations: String?

    @Option(help: "Seed for excerpt positions and noise.")
    var seed: UInt64 = 0

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(name: .shortAndLong, help: "No progress output.")
    var quiet = false

    func validate() throws {
        guard data != nil || labels != nil else {
            throw ValidationError("give a labelled collection folder, or --labels CSV")
        }
        guard identificationExcerpts >= 0 else {
            throw ValidationError("--identification-excerpts must be 0 or more, got \(identificationExcerpts)")
        }
        if baselinesOnly && model != nil { throw ValidationError("--baselines-only and --model exclude each other") }
        _ = try degradationList()
    }

    func degradationList() throws -> [Degradation] {
        guard let degradations else { return Degradation.standard }
        let names = degradations.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let list = names.compactMap(Degradation.init(rawValue:))
        guard list.count == names.count, !list.isEmpty else {
            throw ValidationError("--degradations takes a comma-separated list of "
                + Degradation.allCases.map(\.rawValue).joined(separator: ", ") + "; got '\(degradations)'")
        }
        return list
    }

    func collection() throws -> [LabelledTrack] {
        if let labels { return try LabelledCollection.csv(labels, split: split) }
        let folder = data!
        if split != nil {
            let csv = (folder as NSString).appendingPathComponent("labels.csv")
            guard FileManager.default.fileExists(atPath: csv) else {
                throw CLIError("\(folder): --split needs a labels.csv with a split column here, or --labels CSV")
            }
            return try LabelledCollection.csv(csv, split: split)
        }
        return try LabelledCollection.folder(folder)
    }

    func run() throws {
        var encoder: SequenceEncoding.Encoder?
        if !baselinesOnly {
            let path = DefaultLocations.modelPath(option: model)
            guard FileManager.default.fileExists(atPath: path) else {
                throw CLIError("no model at \(path); pass --model PATH, or --baselines-only to score the baselines alone")
            }
            encoder = try SequenceEncoding.Encoder.load(contentsOf: URL(fileURLWithPath: path))
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
        print(json ? Self.json(report) : Self.text(report))
    }

    static func json(_ report: Evaluator.Report) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(report), as: UTF8.self)
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
                + "one time offset; -robust: on log-mel below 3.5 kHz, level-aligned per segment; -robust-pitch: "
                + "also trying the query varispeed-shifted ±0.5, ±1, ±1.5 semitones, as `similar --identify` does); "
                + "their style columns repeat the pooled model's.")
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
