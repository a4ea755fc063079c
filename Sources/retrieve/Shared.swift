import ArgumentParser
import Foundation
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import RetrieveCore
import SequenceEncoding
import VectorIndex

/// Options every command that touches the index shares.
struct IndexLocationOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The index database (default: $RETRIEVE_DB, else Index/library.sqlite).", valueName: "path"))
    var db: String?

    @Option(help: ArgumentHelp(
        "The model file (default: $RETRIEVE_MODEL, else the shipped Index/default-model.safetensors).",
        valueName: "path"))
    var model: String?

    var databasePath: String { DefaultLocations.databasePath(option: db) }
    var modelPath: String { DefaultLocations.modelPath(option: model) }

    /// Opens the index; `create` is false for commands that only read, so a mistyped path is not created.
    ///
    /// `readOnly` is for commands that never write (similar, stats, list, export, map): a read-write open writes
    /// to the file even when nothing changes (GRDB creates and drops a table to set up the write-ahead log), so
    /// a query would modify an index it only reads, and could not run on a read-only file, folder or mount.
    /// `IndexStore.openForReading` opens those read-only (immutable where the folder cannot be written).
    func openStore(create: Bool, readOnly: Bool = false) throws -> IndexStore {
        if !create && !FileManager.default.fileExists(atPath: databasePath) {
            throw CLIError("no index at \(databasePath); run `retrieve index DIR` first, or pass --db")
        }
        return readOnly ? try IndexStore.openForReading(path: databasePath) : try IndexStore(path: databasePath)
    }

    func loadModel() throws -> SequenceEncoding.Encoder {
        let path = modelPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIError("no model at \(path); pass --model PATH, or train one with `retrieve train`")
        }
        return try SequenceEncoding.Encoder.load(contentsOf: URL(fileURLWithPath: path))
    }
}

/// A one-line error for the user, printed as `retrieve: MESSAGE`.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Output helpers: plain text for people, stable formats for programs.
enum Output {
    static func error(_ text: String) {
        FileHandle.standardError.write(Data("retrieve: \(text)\n".utf8))
    }

    /// "3:25" or "1:02:03"; "?" for what is no duration (negative, NaN) and ">9999:59:59" from 10 000 hours on
    /// (+∞ too), which no recording lasts: a length from a damaged header (10¹⁴ s, or 10³⁰⁰ s, which would trap in
    /// `Int`) must not fill a table column with digits.
    static func duration(_ seconds: Double) -> String {
        guard seconds >= 0 else { return "?" }  // negative or NaN
        guard seconds < 35_999_999.5 else { return ">9999:59:59" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, (s % 3600) / 60, s % 60)
                         : String(format: "%d:%02d", s / 60, s % 60)
    }

    /// Left-aligned columns separated by two spaces; numeric columns right-aligned.
    static func table(_ header: [String], _ rows: [[String]], rightAligned: Set<Int> = []) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return i == cells.count - 1 ? (rightAligned.contains(i) ? pad + c : c)
                    : (rightAligned.contains(i) ? pad + c : c + pad)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

/// Exit statuses, documented in the README.
enum ExitStatus {
    /// Finished, but some files could not be indexed (each is recorded with its reason).
    static let partialFailure = ExitCode(3)
    /// Stopped by Ctrl-C after committing the batch in flight.
    static let interrupted = ExitCode(130)
}
