import ArgumentParser
import AudioDecoding
import Foundation
import AudioDegradations
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import Testing
import TestSupport

@testable import retrieve

@Suite struct EvaluateAndMapCommandTests {
    @Test func evaluateParsesItsOptions() throws {
        let c = try EvaluateCommand.parse([
            "data", "--labels", "l.csv", "--split", "test", "--json", "--identification-excerpts", "3", "--seed", "9",
        ])
        #expect(c.data == "data" && c.labels == "l.csv" && c.split == .test && c.json)
        #expect(c.identificationExcerpts == 3 && c.seed == 9 && !c.baselinesOnly)
        #expect(try EvaluateCommand.parse(["--labels", "l.csv"]).data == nil)
        #expect(try EvaluateCommand.parse(["d"]).degradationList() == Degradation.standard)
        #expect(try EvaluateCommand.parse(["d", "--degradations", "clean, mp3-128k"]).degradationList() == [.clean, .mp3])
    }

    @Test func evaluateRejectsBadCombinations() {
        #expect(throws: (any Error).self) { try EvaluateCommand.parse([]) }
        #expect(throws: (any Error).self) { try EvaluateCommand.parse(["d", "--identification-excerpts", "-1"]) }
        #expect(throws: (any Error).self) { try EvaluateCommand.parse(["d", "--baselines-only", "--model", "m"]) }
        #expect(throws: (any Error).self) { try EvaluateCommand.parse(["d", "--degradations", "clean,loud"]) }
    }

    @Test func mapParsesColourChoice() throws {
        let c = try MapCommand.parse(["--out", "m.svg", "--color-by", "genre", "--db", "x.sqlite"])
        #expect(c.out == "m.svg" && c.colorBy == .genre && c.location.db == "x.sqlite")
        #expect(throws: (any Error).self) { try MapCommand.parse(["--out", "m.svg", "--color-by", "mood"]) }
        #expect(throws: (any Error).self) { try MapCommand.parse([]) }
    }

    @Test func evaluateOnGeneratedFoldersPrintsBothTables() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-cli-eval")
        let root = folder.path("data")
        for (label, f) in [("low", 110.0), ("high", 1_760.0)] {
            let dir = root.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for i in 0..<3 {
                let x = Signals.chord([f * (1 + 0.1 * Double(i)), f * 1.5], seconds: 1.5, sampleRate: 22_050)
                try AudioFileWriter.write(x, sampleRate: 22_050, format: .wav16, to: dir.appendingPathComponent("t\(i).wav"))
            }
        }
        var options = Evaluator.Options()
        options.excerptSeconds = 1
        let report = try Evaluator(encoder: nil, options: options).run(
            try LabelledCollection.folder(root.path))
        let text = EvaluateCommand.text(report)
        #expect(text.contains("6 tracks (6 recordings) in 2 classes: high 3, low 3"))
        #expect(text.contains("system") && text.contains("P@5") && text.contains("mfcc-stats") && text.contains("timbre"))
        #expect(text.contains("identification by degradation") && text.contains("mp3-128k"))
        let json = try JSONSerialization.jsonObject(with: Data(try EvaluateCommand.json(report).utf8)) as? [String: Any]
        #expect((json?["systems"] as? [Any])?.count == 3)  // MFCC and log-mel statistics, timbre
        #expect(json?["tracks"] as? Int == 6)
    }

    /// The leave-labels-out text gives the fold models' mean fidelity to the teacher; a head cosine only where
    /// every measured fold had a head, the validation part only where every one measured it.
    @Test func leaveLabelsOutTextGivesTheTeacherFidelity() throws {
        func fold(_ n: Int, unseen: String?, validation: String?) -> String {
            #"{"fold":\#(n),"labels":["a"],"trainingTracks":3,"items":4,"chancePrecision":0.1,"trainingSeconds":1,"#
                + #""reused":false,"bestEpoch":40,"systems":[],"invariance":[],"failures":[]"#
                + (unseen.map { #","unseenFidelity":\#($0)"# } ?? "") + (validation.map { #","validationFidelity":\#($0)"# } ?? "")
                + "}"
        }
        func report(_ folds: [String]) throws -> LeaveLabelsOut.Report {
            let json = #"{"folds":[\#(folds.joined(separator: ","))],"summaries":[],"model":"model","recipe":{},"#
                + #""peers":[],"elapsedSeconds":1}"#
            return try JSONDecoder().decode(LeaveLabelsOut.Report.self, from: Data(json.utf8))
        }
        let a = #"{"headCosine":0.5,"pairCorrelation":0.4,"segments":8,"pairs":20}"#
        let b = #"{"headCosine":0.7,"pairCorrelation":0.6,"segments":8,"pairs":20}"#
        let noHead = #"{"pairCorrelation":0.2,"segments":8,"pairs":20}"#
        let both = EvaluateCommand.text(try report([fold(1, unseen: a, validation: b), fold(2, unseen: b, validation: b)]))
        #expect(both.contains("teacher fidelity of the fold models at their weights' epoch (mean over 2 folds): unseen labels "
            + "head cosine 0.600, pair correlation 0.500; validation tracks head cosine 0.700, pair correlation 0.600"), "\(both)")
        let partial = EvaluateCommand.text(try report([fold(1, unseen: a, validation: nil), fold(2, unseen: noHead, validation: b),
                                                       fold(3, unseen: nil, validation: nil)]))
        #expect(partial.contains("(mean over 2 folds): unseen labels head cosine -, pair correlation 0.300\n"), "\(partial)")
        #expect(!EvaluateCommand.text(try report([fold(1, unseen: nil, validation: a)])).contains("teacher fidelity"))
    }
}
