import AudioDecoding
import Foundation
import Testing
import TestSupport

/// File names and tags with newlines, tabs and terminal escapes: every text view keeps one record per line
/// and shows them escaped; JSON keeps them exact; an M3U never gets a broken entry.
@Suite(.serialized) struct HostileNameOutputTests {
    @Test func namesWithLineBreaksTabsAndEscapesKeepEveryViewParseable() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-torture-names")
        let music = folder.path("music"), model = folder.path("model.safetensors"), db = folder.path("i.sqlite").path
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        try Torture.makeModel(at: model, seed: 9)
        let names = ["plain.wav", "new\nline.wav", "tab\tbed.wav", "esc\u{1B}[2Jape.wav"]
        for (i, name) in names.enumerated() {
            try AudioFileWriter.write(Torture.tone(i, seconds: 1), sampleRate: 22_050, format: .wav16,
                                      to: music.appendingPathComponent(name),
                                      tags: ["title": "Title \(i)\n\u{1B}[31mred", "artist": "A\(i)"])
        }
        let common = ["--db", db, "--model", model.path]
        let index = try runRetrieve(["index", music.path] + common + ["-q"], in: folder.url)
        try #require(index.exit.status == 0, "\(index.stderr)")

        let list = try runRetrieve(["list"] + common, in: folder.url)
        let rows = list.stdout.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(rows.count == names.count, "\(list.stdout)")
        #expect(rows.allSatisfy { $0.split(separator: "\t", omittingEmptySubsequences: false).count == 4 })
        #expect(!list.stdout.contains("\u{1B}"))
        #expect(list.stdout.contains("new\\nline.wav") && list.stdout.contains("tab\\tbed.wav"))

        let json = try runRetrieve(["list", "--json"] + common, in: folder.url)
        let paths = try json.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["path"] as? String
        }
        #expect(Set(paths.compactMap { $0 }) == Set(names.map { music.appendingPathComponent($0).path }))

        let similar = try runRetrieve(["similar", "1", "--k", "3"] + common, in: folder.url)
        #expect(similar.exit.status == 0 && !similar.stdout.contains("\u{1B}"), "\(similar.stdout)")
        #expect(similar.stdout.split(separator: "\n").count == 1 + 3, "\(similar.stdout)")

        let m3u = try runRetrieve(["similar", "1", "--k", "3", "--format", "m3u"] + common, in: folder.url)
        let lines = m3u.stdout.split(separator: "\n")
        #expect(lines.first == "#EXTM3U")
        for (i, line) in lines.enumerated() where line.hasPrefix("#EXTINF") {
            #expect(i + 1 < lines.count && lines[i + 1].hasPrefix("/"), "\(m3u.stdout)")
        }
        // Titles lose their control characters; paths stay exact (a player must find the file).
        #expect(lines.filter { $0.hasPrefix("#EXTINF") }.allSatisfy { !$0.contains("\u{1B}") })
    }
}
