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

    /// Writes recommendations and returns how many seeds were written.
    ///
    /// - Parameters:
    ///   - k: neighbours per seed.
    ///   - format: csv, jsonl or m3u.
    ///   - seedRows: rows to export for; `nil` exports every track.
    ///   - output: a file for csv and jsonl (`-` for standard output); a folder for m3u (one playlist per seed).
    ///   - progress: advanced once per seed.
    /// - Returns: how many seeds were written.
    /// - Throws: `OutputFileError` when the output cannot be written.
    public func export(
        k: Int, format: RecommendationFormat, seedRows: [Int]?, output: String,
        progress: (any ProgressSink)? = nil
    ) throws -> Int {
        var written = 0
        switch format {
        case .csv, .jsonl:
            let sink = try TextSink(path: output)
            defer { sink.close() }
            if format == .csv { try sink.write("seed_id,seed_path,rank,id,path,score\n") }
            try engine.forEachTrack(k: k, rows: seedRows) { row, results in
                let seed = engine.tracks[row]
                try sink.write(
                    format == .csv
                        ? Self.csvRows(seed: seed, results: results)
                        : Self.jsonLine(seed: seed, results: results) + "\n")
                written += 1
                progress?.advance()
            }
        case .m3u:
            do {
                try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            } catch {
                throw OutputFileError(path: output, error: error)
            }
            var usedNames = Set<String>()
            try engine.forEachTrack(k: k, rows: seedRows) { row, results in
                let seed = engine.tracks[row]
                var name = Self.playlistName(for: seed)
                if !usedNames.insert(name).inserted { name += "-\(seed.id!.rawValue)" }
                let path = (output as NSString).appendingPathComponent(name + ".m3u")
                let sink = try TextSink(path: path)
                defer { sink.close() }
                try sink.write(Self.m3u(seed: seed, results: results))
                written += 1
                progress?.advance()
            }
        }
        return written
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

    init(path: String) throws {
        self.path = path
        if path == "-" {
            handle = .standardOutput
            ownsHandle = false
        } else {
            let folder = (path as NSString).deletingLastPathComponent
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.isEmpty ? "." : folder, isDirectory: &isFolder),
                isFolder.boolValue
            else {
                throw OutputFileError(
                    path: path, problem: "its folder \(folder) does not exist",
                    remedy: "create the folder or choose another path")
            }
            guard FileManager.default.createFile(atPath: path, contents: nil),
                let h = FileHandle(forWritingAtPath: path)
            else {
                throw OutputFileError(path: path, errno: errno)
            }
            handle = h
            ownsHandle = true
        }
    }

    func write(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { try flush() }
    }

    func flush() throws {
        do { try handle.write(contentsOf: buffer) } catch {
            throw OutputFileError(path: path, error: error)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() {
        try? flush()
        if ownsHandle { try? handle.close() }
    }
}
