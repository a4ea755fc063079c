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
        #expect(text.contains("system") && text.contains("P@5") && text.contains("mfcc-stats"))
        #expect(text.contains("identification by degradation") && text.contains("mp3-128k"))
        let json = try JSONSerialization.jsonObject(with: Data(try EvaluateCommand.json(report).utf8)) as? [String: Any]
        #expect((json?["systems"] as? [Any])?.count == 2)
        #expect(json?["tracks"] as? Int == 6)
    }
}
