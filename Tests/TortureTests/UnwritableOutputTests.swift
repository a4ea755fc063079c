import AudioDecoding
import Foundation
import Testing
import TestSupport

/// Every command that writes a file names it and the remedy when it cannot, in one line, never with
/// Foundation's "NSCocoaErrorDomain" codes; an index it reads is left as it was.
@Suite(.serialized) struct UnwritableOutputTests {
    @Test func everyWritingCommandSaysWhichFileAndWhy() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-torture-output")
        let music = folder.path("music"), model = folder.path("model.safetensors"), db = folder.path("i.sqlite")
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        try Torture.makeModel(at: model, seed: 5)
        let track = music.appendingPathComponent("t.wav")
        try AudioFileWriter.write(Torture.tone(1, seconds: 1), sampleRate: 22_050, format: .wav16, to: track)
        try AudioFileWriter.write(Torture.tone(2, seconds: 1), sampleRate: 22_050, format: .wav16,
                                  to: music.appendingPathComponent("u.wav"))  // a map needs two tracks
        let index = try runRetrieve(["index", music.path, "--db", db.path, "--model", model.path, "-q"], in: folder.url)
        try #require(index.exit.status == 0, "\(index.stderr)")
        let missing = folder.path("no-such-folder").path
        let aFolder = music.path
        let cases: [(args: [String], path: String, words: String)] = [
            (["map", "--db", db.path, "--model", model.path, "--out", missing + "/map.svg"], missing + "/map.svg",
             "does not exist"),
            (["map", "--db", db.path, "--model", model.path, "--out", aFolder], aFolder, "is a folder"),
            (["export", "--db", db.path, "--model", model.path, "--out", missing + "/x.csv"], missing + "/x.csv",
             "does not exist"),
            (["embed", "--model", model.path, track.path, "--out", missing + "/e.npy"], missing + "/e.npy",
             "does not exist"),
        ]
        for c in cases {
            let run = try runRetrieve(c.args, in: folder.url)
            let lines = run.stderr.split(separator: "\n").filter { !$0.isEmpty }
            #expect(run.exit.status != 0, "\(c.args)")
            #expect(lines.count == 1, "\(c.args): \(run.stderr)")
            #expect(run.stderr.contains(c.path) && run.stderr.contains(c.words), "\(c.args): \(run.stderr)")
            #expect(!run.stderr.contains("NSCocoaErrorDomain") && !run.stderr.contains("Error Domain"),
                    "\(c.args): \(run.stderr)")
        }
    }
}
