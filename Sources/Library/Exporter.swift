import Foundation
import RetrieveCore
public import VectorIndex
import Analysis
import SimilaritySearch

/// The file formats recommendations can be written in.
public enum RecommendationFormat: String, Sendable, CaseIterable {
    /// One row per (seed, neighbour): `seed_id,seed_path,rank,id,path,score`, RFC 4180 quoting.
    case csv
    /// One JSON object per seed: `{"seed": {...}, "neighbours": [{...}, ...]}`.
    case jsonl
    /// Extended M3U playlists, one per seed, the seed first.
    case m3u
}

/// Writes recommendations for every track (or for listed seeds) to disk, streamed.
///
/// Results are written as each block of rows is scored, so memory beyond the vectors stays bounded by one
/// block's score matrix, whatever the collection size.
public struct Exporter {
    public let engine: QueryEngine

    public init(engine: QueryEngine) { self.engine = engine }

    /// Writes recommendations and returns how many seeds were written (by this run and, when it resumed, by the
    /// interrupted one before it).
    ///
    /// A CSV or JSON Lines export to a file keeps a checkpoint beside it (`ExportProgress`), so that a killed
    /// export run again with the same index, k, format and seeds continues where it stopped.
    ///
    /// - Parameters:
    ///   - k: neighbours per seed.
    ///   - format: csv, jsonl or m3u.
    ///   - seedRows: rows to export for; `nil` exports every track.
    ///   - output: a file for csv and jsonl (`-` for standard output); a folder for m3u (one playlist per seed).
    ///   - threads: threads for the all-against-all scan (see `VectorCollection.allNearest`).
    ///   - progress: advanced once per seed (at the start, by the seeds a resumed run skips).
    /// - Returns: how many seeds were written.
    /// - Throws: `OutputFileError` when the output cannot be written.
    public func export(
        k: Int, format: RecommendationFormat, seedRows: [Int]?, output: String, threads: Int = 1,
        progress: (any ProgressSink)? = nil
    ) throws -> Int {
        switch format {
        case .csv, .jsonl:
            return try exportLines(
                k: k, format: format, seedRows: seedRows, output: output, threads: threads, progress: progress)
        case .m3u:
            do {
                try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            } catch {
                throw OutputFileError(path: output, error: error)
            }
            var usedNames = Set<String>()
            var written = 0
            try engine.forEachTrack(k: k, rows: seedRows, threads: threads) { row, results in
                let seed = engine.track(row: row)
                var name = Self.playlistName(for: seed)
                if !usedNames.insert(name).inserted { name += "-\(seed.id!.rawValue)" }
                let path = (output as NSString).appendingPathComponent(name + ".m3u")
                let sink = try TextSink(path: path)
                defer { sink.close() }
                try sink.write(Self.m3u(seed: seed, results: results))
                written += 1
                progress?.advance()
            }
            return written
        }
    }

    private func exportLines(
        k: Int, format: RecommendationFormat, seedRows: [Int]?, output: String, threads: Int,
        progress: (any ProgressSink)?
    ) throws -> Int {
        let resumable = output != "-"
        let identity =
            resumable
            ? try "\(engine.exportFingerprint()) k=\(k) \(format.rawValue) seeds=\(seedIdentity(seedRows))" : ""
        let checkpoint = resumable ? ExportProgress.resumable(output: output, identity: identity) : nil
        let sink = try TextSink(path: output, keepingBytes: checkpoint?.bytes)
        defer { sink.close() }
        var written = checkpoint?.seedsDone ?? 0
        if let checkpoint {
            progress?.message(
                "resuming the export at seed \(checkpoint.seedsDone + 1) (\(ExportProgress.path(for: output)))")
            progress?.advance(by: checkpoint.seedsDone, detail: "")
        } else if format == .csv {
            try sink.write("seed_id,seed_path,rank,id,path,score\n")
        }
        try engine.forEachTrack(k: k, rows: seedRows, startingAt: written, threads: threads) { row, results in
            let seed = engine.track(row: row)
            try sink.write(
                format == .csv
                    ? Self.csvRows(seed: seed, results: results)
                    : Self.jsonLine(seed: seed, results: results) + "\n")
            written += 1
            progress?.advance()
        } afterBlock: { done in
            guard resumable else { return }
            try sink.flush()
            try ExportProgress(identity: identity, seedsDone: done, bytes: sink.bytes).save(beside: output)
        }
        try sink.flush()
        if resumable { ExportProgress.remove(beside: output) }
        return written
    }

    /// The seed list as part of a checkpoint's identity: its track ids, hashed.
    private func seedIdentity(_ rows: [Int]?) -> String {
        guard let rows else { return "all" }
        var hash = ContentHash.FNV1a64()
        for row in rows { hash.add(engine.catalog.ids[row].rawValue) }
        return "\(rows.count)-\(hash.value)"
    }

    // MARK: - Formatting, shared with `retrieve similar`

    static func csvRows(seed: TrackRecord, results: [SimilarTrack]) -> String {
        results.map {
            "\(seed.id!.rawValue),\(CSV.field(seed.path)),\($0.rank),\($0.track.id!.rawValue),"
                + "\(CSV.field($0.track.path)),\(String(format: "%.6f", $0.score))\n"
        }.joined()
    }

    /// A JSON object describing a track, as used in `--json` and JSON Lines output.
    public static func jsonObject(_ t: TrackRecord) -> [String: Any] {
        var o: [String: Any] = ["id": t.id?.rawValue ?? NSNull(), "path": t.path, "duration": t.duration]
        if let v = t.title { o["title"] = v }
        if let v = t.artist { o["artist"] = v }
        if let v = t.album { o["album"] = v }
        if let v = t.genre { o["genre"] = v }
        if let v = t.label { o["label"] = v }
        return o
    }

    public static func jsonString(_ object: Any) -> String {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func jsonLine(seed: TrackRecord, results: [SimilarTrack]) -> String {
        jsonString([
            "seed": jsonObject(seed),
            "neighbours": results.map { r -> [String: Any] in
                var o = jsonObject(r.track)
                o["rank"] = r.rank
                o["score"] = Double(r.score)
                o["cosine"] = Double(r.cosine)
                return o
            },
        ])
    }

    /// An extended M3U playlist: the seed first, then its neighbours.
    public static func m3u(seed: TrackRecord?, results: [SimilarTrack]) -> String {
        var text = "#EXTM3U\n"
        for t in (seed.map { [$0] } ?? []) + results.map(\.track) {
            // A path with a line break cannot be an M3U entry (each line is one); a title's control characters
            // become spaces; a length that is not a plausible duration is M3U's "unknown", -1.
            guard !t.path.contains(where: { $0 == "\n" || $0 == "\r" }) else {
                text += "# left out: track \(t.id?.rawValue ?? 0), its path has a line break\n"
                continue
            }
            let seconds = t.duration.isFinite && t.duration >= 0 && t.duration < 1e9 ? Int(t.duration.rounded()) : -1
            text += "#EXTINF:\(seconds),\(displayName(t).replacingControlCharactersWithSpaces)\n\(t.path)\n"
        }
        return text
    }

    /// "Artist – Title" when both tags exist, else the title, else "folder/file name" (in an untagged
    /// collection the folder is usually the album or the genre, which says more than the file name alone).
    public static func displayName(_ t: TrackRecord) -> String {
        if let artist = t.artist, let title = t.title, !artist.isEmpty, !title.isEmpty { return "\(artist) – \(title)" }
        if let title = t.title, !title.isEmpty { return title }
        let url = URL(fileURLWithPath: t.path)
        let folder = url.deletingLastPathComponent().lastPathComponent
        return folder.isEmpty || folder == "/" ? url.lastPathComponent : folder + "/" + url.lastPathComponent
    }

    static func playlistName(for t: TrackRecord) -> String {
        let base = ((t.path as NSString).lastPathComponent as NSString).deletingPathExtension
        let safe = base.map { "/\\:*?\"<>|".contains($0) ? "_" : $0 }
        return String(safe.prefix(100))
    }
}

/// A buffered text file (or standard output for `-`).
final class TextSink {
    private let handle: FileHandle
    private let path: String
    private var buffer = Data()
    private let ownsHandle: Bool
    /// Bytes in the file once the buffer is flushed (kept ones included).
    private(set) var bytes: UInt64 = 0

    /// Opens `path` for writing: a new, empty file, or with `keepingBytes` the existing file cut to that many
    /// bytes and written after them (a resumed export).
    init(path: String, keepingBytes kept: UInt64? = nil) throws {
        self.path = path
        if path == "-" {
            handle = .standardOutput
            ownsHandle = false
            return
        }
        let folder = (path as NSString).deletingLastPathComponent
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.isEmpty ? "." : folder, isDirectory: &isFolder),
            isFolder.boolValue
        else {
            throw OutputFileError(
                path: path, problem: "its folder \(folder) does not exist",
                remedy: "create the folder or choose another path")
        }
        guard kept != nil || FileManager.default.createFile(atPath: path, contents: nil),
            let h = FileHandle(forWritingAtPath: path)
        else {
            throw OutputFileError(path: path, errno: errno)
        }
        if let kept {
            do {
                try h.truncate(atOffset: kept)
                try h.seekToEnd()
            } catch {
                throw OutputFileError(path: path, error: error)
            }
            bytes = kept
        }
        handle = h
        ownsHandle = true
    }

    func write(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { try flush() }
    }

    func flush() throws {
        do { try handle.write(contentsOf: buffer) } catch {
            throw OutputFileError(path: path, error: error)
        }
        bytes += UInt64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    func close() {
        try? flush()
        if ownsHandle { try? handle.close() }
    }
}
