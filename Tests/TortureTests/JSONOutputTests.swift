import AudioDecoding
import Foundation
import Testing
import TestSupport

/// Every command's JSON output follows the one convention the README states ("JSON output"): JSON Lines — each
/// line of standard output one JSON object (one line for a summary or report, one per row for a listing) —
/// with camelCase keys, numbers as numbers and paths as absolute path strings.
@Suite struct JSONOutputTests {
    /// The objects of `stdout`, one per non-empty line; records an issue for a line that is not an object.
    static func objects(_ stdout: String, _ command: String) -> [[String: Any]] {
        stdout.split(separator: "\n").compactMap { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            if object == nil { Issue.record("`\(command)`: a line is not a JSON object: \(line)") }
            return object
        }
    }

    /// Every key of `value`, recursively, except those of objects keyed by data (labels, degradations).
    static func keys(_ value: Any, dataKeyed: Set<String> = ["labelCounts"]) -> [String] {
        if let object = value as? [String: Any] {
            return object.flatMap { key, child in [key] + (dataKeyed.contains(key) ? [] : keys(child, dataKeyed: dataKeyed)) }
        }
        if let array = value as? [Any] { return array.flatMap { keys($0, dataKeyed: dataKeyed) } }
        return []
    }

    static func checkConvention(_ objects: [[String: Any]], _ command: String) {
        for key in objects.flatMap({ keys($0) }) {
            #expect(key.first?.isLowercase == true && !key.contains("_") && !key.contains("-") && !key.contains(" "),
                    "`\(command)`: key '\(key)' is not camelCase")
        }
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                for (key, child) in object {
                    if key == "path" || key == "database" {
                        #expect((child as? String)?.hasPrefix("/") == true, "`\(command)`: \(key) is not an absolute path string")
                    }
                    if ["id", "rank", "tracks"].contains(key) { #expect(child is NSNumber, "`\(command)`: \(key) is not a number") }
                    if ["score", "duration"].contains(key) { #expect(child is NSNumber, "`\(command)`: \(key) is not a number") }
                    walk(child)
                }
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        objects.forEach(walk)
    }

    @Test func everyCommandPrintsJSONLinesOfCamelCaseObjects() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-json")
        let model = folder.path("model.safetensors")
        try Torture.makeModel(at: model, seed: 5)
        let music = folder.path("music")
        for (label, base) in [("low", 0), ("high", 6)] {
            let dir = music.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for i in 0..<2 {
                try AudioFileWriter.write(Torture.tone(base + i, seconds: 1), sampleRate: 22_050, format: .wav16,
                                          to: dir.appendingPathComponent("t\(i).wav"))
            }
        }
        try Data().write(to: music.appendingPathComponent("low/empty.wav"))
        let location = ["--db", folder.path("i.sqlite").path, "--model", model.path]
        let commands: [(arguments: [String], status: Int32, lines: ClosedRange<Int>)] = [
            (["index", music.path, "--json", "-q"] + location, 3, 1...1),
            (["stats", "--json"] + location, 0, 1...1),
            (["list", "--json"] + location, 0, 4...4),
            (["list", "--failures", "--json"] + location, 0, 1...1),
            (["list", "--json", "--limit", "0"] + location, 0, 0...0),
            (["similar", "1", "--json", "--k", "2"] + location, 0, 2...2),
            (["similar", "1", "--format", "json", "--k", "3"] + location, 0, 3...3),
            (["export", "--format", "jsonl", "--out", "-", "--k", "2", "-q"] + location, 0, 4...4),
            (["evaluate", music.path, "--model", model.path, "--identification-excerpts", "1", "--json", "-q"], 0, 1...1),
        ]
        for c in commands {
            let name = c.arguments.prefix(2).joined(separator: " ")
            let run = try runRetrieve(c.arguments, in: folder.url)
            #expect(run.exit.status == c.status, "`\(name)`: \(run.exit) \(run.stderr)")
            let objects = Self.objects(run.stdout, name)
            #expect(c.lines.contains(objects.count), "`\(name)`: \(objects.count) objects: \(run.stdout)")
            Self.checkConvention(objects, name)
        }
    }
}
