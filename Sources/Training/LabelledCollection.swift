import Foundation
import Analysis
import RetrieveCore

/// One audio file of a labelled evaluation collection.
public struct LabelledTrack: Sendable, Equatable {
    /// Absolute path.
    public var path: String
    /// The class (genre, style) the file belongs to.
    public var label: String
    /// The recording the file is cut from; files of one group never count as answers for each other.
    public var group: String
    /// The split named by the labels file, if it has a split column.
    public var split: DataSplit?

    public init(path: String, label: String, group: String? = nil, split: DataSplit? = nil) {
        self.path = path
        self.label = label
        self.group = group ?? LabelledCollection.group(ofPath: path)
        self.split = split
    }
}

/// Which part of a labelled collection a track belongs to. Splits are always by track, never by segment.
public enum DataSplit: String, Sendable, Codable, CaseIterable {
    case train, validation, test
}

/// A labelled collection could not be read.
public struct LabelledCollectionError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Reads labelled collections: a folder with one sub-folder per class (GTZAN layout), or a CSV of
/// `path,label[,split][,group]` rows with paths relative to the CSV's folder.
///
/// The track-group rule: a file's group is its CSV `group` value when there is one; otherwise its folder plus
/// its file name without extension and without everything from the first `__` on, so `rock/song__clip2.wav`
/// and `rock/song__clip7.wav` are one track (`rock/song`), and a file without `__` is a track of its own.
public enum LabelledCollection {
    /// Reads a collection for training: `labels` names a CSV; otherwise `folder` is read, preferring the
    /// `labels.csv` (with splits) that `scripts/corpus` writes into it over its class sub-folders.
    public static func load(folder: String?, labels: String?) throws -> [LabelledTrack] {
        if let labels { return try csv(labels) }
        guard let folder else {
            throw LabelledCollectionError(path: ".", reason: "give a folder with one sub-folder per class, or --labels CSV")
        }
        let root = Paths.absolute(folder)
        if FileManager.default.fileExists(atPath: root + "/labels.csv") { return try csv(root + "/labels.csv") }
        return try self.folder(root)
    }

    /// The tracks of one split. Tracks without a split from the labels file are assigned by a stable hash of
    /// their group (about `validationShare` to validation, the rest to train; never test), so every clip of a
    /// recording lands in the same split, run after run.
    public static func tracks(_ tracks: [LabelledTrack], in split: DataSplit, validationShare: Double = 0.15)
        -> [LabelledTrack]
    {
        tracks.filter { ($0.split ?? defaultSplit(group: $0.group, validationShare: validationShare)) == split }
    }

    static func defaultSplit(group: String, validationShare: Double) -> DataSplit {
        let hash = ContentHash.FNV1a64.of(group)
        return Double(hash % 10_000) / 10_000 < validationShare ? .validation : .train
    }

    /// The group of a path by the naming rule (see the type's documentation).
    public static func group(ofPath path: String) -> String {
        let url = URL(fileURLWithPath: path)
        var stem = url.deletingPathExtension().lastPathComponent
        if let range = stem.range(of: "__"), range.lowerBound != stem.startIndex {
            stem = String(stem[..<range.lowerBound])
        }
        return url.deletingLastPathComponent().path + "/" + stem
    }

    /// Every audio file under `root`'s immediate sub-folders (searched recursively), labelled with the
    /// sub-folder's name. Audio files directly in `root` have no class and are left out.
    public static func folder(_ root: String) throws -> [LabelledTrack] {
        let base = Paths.absolute(root)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: base, isDirectory: &isFolder), isFolder.boolValue else {
            throw LabelledCollectionError(path: base, reason: "is not a folder; give a folder with one sub-folder per class, or --labels CSV")
        }
        let files = CollectionScanner().scan([base]).files
        let tracks = files.compactMap { file -> LabelledTrack? in
            let relative = file.path.dropFirst(base.count + 1)
            guard let slash = relative.firstIndex(of: "/") else { return nil }
            return LabelledTrack(path: file.path, label: String(relative[..<slash]))
        }
        guard !tracks.isEmpty else {
            throw LabelledCollectionError(path: base, reason: "has no audio files in class sub-folders (DIR/<label>/<file>)")
        }
        return tracks
    }

    /// The rows of a labels CSV; with `split`, only that split's rows when the CSV has a split column.
    ///
    /// A header row naming `path` and `label` (and optionally `split`, `group`) is recognised; without one the
    /// columns are `path,label[,split]`. Fields may be quoted as RFC 4180 says.
    public static func csv(_ csvPath: String, split: String? = nil) throws -> [LabelledTrack] {
        let absolute = Paths.absolute(csvPath)
        let text: String
        do { text = try String(contentsOfFile: absolute, encoding: .utf8) } catch {
            throw LabelledCollectionError(path: absolute, reason: "cannot be read: \(readFailureReason(error, path: absolute))")
        }
        var rows = CSV.rows(text).filter { !($0.count == 1 && $0[0].isEmpty) }
        var columns = ["path": 0, "label": 1, "split": 2]
        if let header = rows.first, header.contains("path"), header.contains("label") {
            columns = Dictionary(header.enumerated().map { ($1.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
            rows.removeFirst()
        }
        let folder = (absolute as NSString).deletingLastPathComponent
        var tracks: [LabelledTrack] = []
        for (i, row) in rows.enumerated() {
            func field(_ name: String) -> String? {
                columns[name].flatMap { $0 < row.count ? row[$0].trimmingCharacters(in: .whitespaces) : nil }
            }
            guard let path = field("path"), !path.isEmpty, let label = field("label"), !label.isEmpty else {
                throw LabelledCollectionError(path: absolute, reason: "row \(i + 1) has no path and label: \(row)")
            }
            // A CSV without a split column (e.g. the corpus script's test.csv) is one split already: keep it all.
            if let split, let rowSplit = field("split"), rowSplit != split { continue }
            let full = Paths.absolute(path.hasPrefix("/") ? path : folder + "/" + path)
            let group = field("group").flatMap { $0.isEmpty ? nil : $0 }
            var rowSplit: DataSplit?
            if let text = field("split"), !text.isEmpty {
                guard let parsed = DataSplit(rawValue: text.lowercased()) else {
                    throw LabelledCollectionError(
                        path: absolute, reason: "row \(i + 1): split must be train, validation or test, got '\(text)'")
                }
                rowSplit = parsed
            }
            tracks.append(LabelledTrack(path: full, label: label, group: group, split: rowSplit))
        }
        guard !tracks.isEmpty else {
            throw LabelledCollectionError(
                path: absolute, reason: split.map { "has no rows in split '\($0)'" } ?? "has no rows")
        }
        return tracks
    }

}
