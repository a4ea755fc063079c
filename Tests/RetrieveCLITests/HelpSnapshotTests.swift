import ArgumentParser
import Foundation
import Testing
@testable import retrieve

/// Every command's `--help`, compared byte for byte with `HelpSnapshots/<command>.txt` (80 columns).
///
/// After changing a help text on purpose, regenerate the snapshots and review the diff:
///
///     RETRIEVE_UPDATE_HELP_SNAPSHOTS=1 swift test --filter HelpSnapshotTests
///     git diff Tests/RetrieveCLITests/HelpSnapshots
@Suite struct HelpSnapshotTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("HelpSnapshots")
    static let updating = ProcessInfo.processInfo.environment["RETRIEVE_UPDATE_HELP_SNAPSHOTS"] == "1"

    /// The root command and every subcommand, by the name their snapshot file carries.
    static let commands: [(name: String, type: ParsableCommand.Type)] =
        [("retrieve", Retrieve.self)] + Retrieve.configuration.subcommands.map { ($0._commandName, $0) }

    /// Where ArgumentParser starts the description column of option and subcommand rows.
    static let descriptionColumn = 26

    static func help(_ type: ParsableCommand.Type) -> String {
        type == Retrieve.self ? Retrieve.helpMessage(columns: 80) : Retrieve.helpMessage(for: type, columns: 80)
    }

    @Test(arguments: commands.map(\.name))
    func helpMatchesItsSnapshot(name: String) throws {
        let type = try #require(Self.commands.first { $0.name == name }?.type)
        let help = Self.help(type) + "\n"
        let file = Self.folder.appendingPathComponent("\(name).txt")
        if Self.updating {
            try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
            try Data(help.utf8).write(to: file)
            return
        }
        let snapshot = try String(contentsOf: file, encoding: .utf8)
        let difference = zip(help.split(separator: "\n", omittingEmptySubsequences: false),
                             snapshot.split(separator: "\n", omittingEmptySubsequences: false))
            .enumerated().first { $0.element.0 != $0.element.1 }
            .map { "line \($0.offset + 1): got '\($0.element.0)', snapshot '\($0.element.1)'" } ?? "lengths differ"
        let advice = "`retrieve \(name) --help` differs from \(file.lastPathComponent) (\(difference)); "
            + "if intended, regenerate as the comment above HelpSnapshotTests says"
        #expect(help == snapshot, "\(advice)")
    }

    /// No help text has a run of spaces inside a sentence (a line-continuation mistake in a multi-line literal
    /// left 13 spaces in `similar --help` once), nor a line wider than the 80 columns asked for (the usage line
    /// is never wrapped).
    @Test(arguments: commands.map(\.name))
    func helpHasNoStraySpaces(name: String) throws {
        let type = try #require(Self.commands.first { $0.name == name }?.type)
        for line in Self.help(type).split(separator: "\n") {
            // Runs of two or more spaces after the indentation; a two-column row (an option or subcommand, then
            // its description) has one, ending where descriptions start (column 26).
            let characters = Array(line)
            let indent = characters.prefix { $0 == " " }.count
            var runs: [Range<Int>] = []
            var i = indent
            while i < characters.count {
                var j = i
                while j < characters.count && characters[j] == " " { j += 1 }
                if j - i >= 2 { runs.append(i..<j) }
                i = max(j, i + 1)
            }
            let stray = runs.filter { $0.upperBound != Self.descriptionColumn }
            #expect(stray.isEmpty && runs.count <= 1, "`\(name) --help`: stray spaces in '\(line)'")
            if !line.hasPrefix("USAGE:") { #expect(line.count <= 80, "`\(name) --help`: wider than 80 columns: '\(line)'") }
        }
    }

    @Test func everySnapshotBelongsToACommand() throws {
        guard !Self.updating else { return }
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { $0.hasSuffix(".txt") }
        #expect(Set(files) == Set(Self.commands.map { "\($0.name).txt" }))
    }
}
