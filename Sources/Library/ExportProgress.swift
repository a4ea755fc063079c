import Foundation
import RetrieveCore

/// The checkpoint of a CSV or JSON Lines export, kept beside its output as `OUT.progress` while it runs, so a
/// killed export continues where it stopped.
///
/// After each block of seeds the output is flushed and this record names how many seeds and how many bytes of
/// the output are complete; it is replaced atomically (`OutputFile`). A new run with the same index state, k,
/// format and seeds (`identity`) truncates the output to those bytes and resumes at that seed: anything a kill
/// left after the checkpoint is cut off, so no line is written twice or half. Any difference starts afresh.
/// The record is removed when the export completes. (A kill cannot lose bytes the process wrote; a power cut
/// could lose the output's tail, which the byte count would then exceed, and the export restarts.) M3U exports,
/// one file per seed, always start afresh.
struct ExportProgress: Codable, Equatable {
    /// Index fingerprint, k, format and seeds, as one string.
    var identity: String
    /// Seeds completely written.
    var seedsDone: Int
    /// Bytes of the output holding exactly those seeds.
    var bytes: UInt64

    static func path(for output: String) -> String { output + ".progress" }

    /// The checkpoint left for `output` by an interrupted export with the same `identity`, if its output still
    /// holds the bytes it names.
    static func resumable(output: String, identity: String) -> ExportProgress? {
        guard let data = FileManager.default.contents(atPath: path(for: output)),
            let record = try? JSONDecoder().decode(ExportProgress.self, from: data), record.identity == identity,
            let size = (try? FileManager.default.attributesOfItem(atPath: output))?[.size] as? NSNumber,
            size.uint64Value >= record.bytes
        else { return nil }
        return record
    }

    func save(beside output: String) throws {
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        try OutputFile.write(data, to: Self.path(for: output))
    }

    static func remove(beside output: String) {
        try? FileManager.default.removeItem(atPath: path(for: output))
    }
}
