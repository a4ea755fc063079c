import ArgumentParser
import Foundation
import Testing
@testable import retrieve

/// Every numeric option of every command, found from its help text, is given hostile values (negative, zero,
/// huge, NaN, infinities): each must be refused by the parser or `validate()` with a message naming the option,
/// before any work starts. A new command or option is covered without touching this file; one that takes zero or
/// an unbounded value must be listed below.
@Suite struct NumericOptionTests {
    /// Each command with the arguments it needs to parse at all.
    static let commands: [(name: String, arguments: [String])] = [
        ("index", ["index", "d"]), ("similar", ["similar", "q.wav"]), ("export", ["export", "--out", "o.csv"]),
        ("stats", ["stats"]), ("list", ["list"]), ("remove", ["remove", "1"]), ("features", ["features", "f.wav"]),
        ("embed", ["embed", "f.wav", "--out", "e.npy"]), ("train", ["train", "d"]), ("evaluate", ["evaluate", "d"]),
        ("map", ["map", "--out", "m.svg"]), ("serve", ["serve"]),
        ("mpd", ["mpd"]), ("migrate", ["migrate", "a.sqlite", "postgresql://u@h/d"]),
        ("analyse-upload", ["analyse-upload", "--model", "m", "--model-digest", "d", "--out", "o", "c.wav"]),
    ]

    /// Options for which 0 is a meaningful value.
    static let zeroAllowed: Set<String> = [
        "--limit", "--offset", "--seed", "--identification-excerpts", "--dedupe-threshold", "--weight-decay",
        "--classification-weight", "--triplet-weight", "--contrastive-weight", "--teacher-weight",
        "--teacher-regression-weight", "--teacher-track-weight", "--margin", "--degraded-copies", "--aligned-copy-pairs", "--copy-consistency-weight",
        "--level-range", "--port", "--conv-channels", "--pitch-shift", "--spec-masks", "--segment-overlap",
        "--timbre-weight", "--neighbour-weight",
    ]
    /// Options that take any large value (a seed; a page of rows past the end is empty).
    static let unbounded: Set<String> = ["--limit", "--offset", "--seed"]

    static func parses(_ arguments: [String]) -> Bool { (try? Retrieve.parseAsRoot(arguments)) != nil }

    /// The options of `command` that take a value, from its help text (one line per option at this width).
    static func valueOptions(_ name: String) throws -> [String] {
        let type = try #require(Retrieve.configuration.subcommands.first { $0._commandName == name })
        let help = Retrieve.helpMessage(for: type, columns: 1_000)
        let pattern = try Regex(#"^\s+(?:-[a-zA-Z], )?(--[a-z0-9-]+) <"#)
        return help.split(separator: "\n").compactMap { line in
            (try? pattern.firstMatch(in: String(line))).flatMap { $0.output[1].substring.map(String.init) }
        }
    }

    /// Options that refuse a word but accept some number: the numeric ones.
    static func numericOptions(_ name: String, _ base: [String]) throws -> [String] {
        try valueOptions(name).filter { option in
            !parses(base + ["\(option)=many"]) && ["2", "0.5", "8", "100", "1"].contains { parses(base + ["\(option)=\($0)"]) }
        }
    }

    @Test func everyCommandIsWalked() {
        #expect(Set(Retrieve.configuration.subcommands.map { $0._commandName }) == Set(Self.commands.map(\.name)))
    }

    @Test func theWalkFindsTheNumericOptions() throws {
        #expect(try Self.numericOptions("list", ["list"]) == ["--limit", "--offset"])
        let train = try Self.numericOptions("train", ["train", "d"])
        for option in ["--epochs", "--learning-rate", "--margin", "--seed", "--max-seconds", "--segment-seconds"] {
            #expect(train.contains(option), "\(option) not found among \(train)")
        }
        #expect(!train.contains("--cache") && !train.contains("--pooling"))
    }

    @Test(arguments: commands.map(\.name))
    func hostileNumbersAreRefusedNamingTheOption(name: String) throws {
        let base = try #require(Self.commands.first { $0.name == name }).arguments
        #expect(Self.parses(base), "\(base) should parse")
        for option in try Self.numericOptions(name, base) {
            var hostile = ["-1", "-0.5", "-1e300", "nan", "-nan", "inf", "-inf", "1e300", "99999999999999999999999"]
            if !Self.zeroAllowed.contains(option) { hostile += ["0", "0.0"] }
            if !Self.unbounded.contains(option) { hostile += ["9223372036854775807", "1e30", "4294967296"] }
            for value in hostile {
                let arguments = base + ["\(option)=\(value)"]
                do {
                    _ = try Retrieve.parseAsRoot(arguments)
                    Issue.record("`retrieve \(arguments.joined(separator: " "))` was accepted")
                } catch {
                    let message = Retrieve.message(for: error)
                    #expect(message.contains(option), "`\(arguments.joined(separator: " "))`: '\(message)' does not name \(option)")
                }
            }
        }
    }

    @Test func listPagesAnyNonNegativeRange() throws {
        let rows = Array(0..<5)
        func page(_ arguments: [String]) throws -> [Int] {
            Array(try #require(try Retrieve.parseAsRoot(["list"] + arguments) as? ListCommand).page(rows))
        }
        #expect(try page([]) == rows)
        #expect(try page(["--limit", "0"]) == [])
        #expect(try page(["--limit", "2", "--offset", "1"]) == [1, 2])
        #expect(try page(["--offset", "9223372036854775807"]) == [])
        #expect(try page(["--limit", "9223372036854775807", "--offset", "4"]) == [4])
    }
}
