import Foundation

/// Which part of a labelled collection an item belongs to. Splits are always by track, never by segment.
public enum DataSplit: String, Sendable, Codable, CaseIterable {
    case train, validation, test
}

/// One labelled audio file.
public struct LabelledItem: Sendable, Equatable {
    /// Absolute path.
    public var path: String
    /// The class label (e.g. the soundtrack or genre).
    public var label: String
    /// The split from the labels file, if it had one.
    public var split: DataSplit?
}

/// A labelled collection: a folder with one sub-folder per class (the GTZAN layout), or a CSV of
/// `path,label[,split]` rows with paths relative to the CSV's folder.
public struct LabelledCollection: Sendable {
    public var items: [LabelledItem]

    public init(items: [LabelledItem]) { self.items = items }

    /// Sorted distinct labels.
    public var classNames: [String] { Array(Set(items.map(\.label))).sorted() }

    /// Reads a collection. `labels` names a CSV; otherwise `folder`'s sub-folders are the classes.
    public static func load(folder: String?, labels: String?) throws -> LabelledCollection {
        if let labels { return try loadCSV(labels) }
        guard let folder else { throw LabelledCollectionError.noSource }
        let root = CollectionScanner.absolutePath(folder)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw LabelledCollectionError.notAFolder(root)
        }
        // A corpus folder made by scripts/corpus carries its own labels.csv (with splits): prefer it.
        if FileManager.default.fileExists(atPath: root + "/labels.csv") { return try loadCSV(root + "/labels.csv") }
        let classes = try FileManager.default.contentsOfDirectory(atPath: root).filter {
            var dir: ObjCBool = false
            return !$0.hasPrefix(".") && FileManager.default.fileExists(atPath: root + "/" + $0, isDirectory: &dir)
                && dir.boolValue
        }.sorted()
        var items: [LabelledItem] = []
        for label in classes {
            let files = CollectionScanner().scan([root + "/" + label]).files
            items += files.map { LabelledItem(path: $0.path, label: label, split: nil) }
        }
        guard !items.isEmpty else { throw LabelledCollectionError.empty(root) }
        return LabelledCollection(items: items)
    }

    static func loadCSV(_ path: String) throws -> LabelledCollection {
        let absolute = CollectionScanner.absolutePath(path)
        let text: String
        do { text = try String(contentsOfFile: absolute, encoding: .utf8) } catch {
            throw LabelledCollectionError.unreadable(absolute, error.localizedDescription)
        }
        let base = (absolute as NSString).deletingLastPathComponent
        var items: [LabelledItem] = []
        for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let fields = CSV.fields(String(line))
            if number == 0, fields.first?.lowercased() == "path" { continue }
            guard fields.count >= 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw LabelledCollectionError.badRow(absolute, number + 1, String(line))
            }
            let file = fields[0].hasPrefix("/") ? fields[0] : base + "/" + fields[0]
            var split: DataSplit?
            if fields.count >= 3, !fields[2].isEmpty {
                guard let s = DataSplit(rawValue: fields[2].lowercased()) else {
                    throw LabelledCollectionError.badRow(absolute, number + 1, String(line))
                }
                split = s
            }
            items.append(LabelledItem(path: CollectionScanner.absolutePath(file), label: fields[1], split: split))
        }
        guard !items.isEmpty else { throw LabelledCollectionError.empty(absolute) }
        return LabelledCollection(items: items)
    }

    /// The items of one split. Items without a split from the labels file are assigned by a stable hash of
    /// their path (about `validationShare` to validation, the rest to train; never test), so the same track
    /// always lands in the same split, run after run.
    public func items(in split: DataSplit, validationShare: Double = 0.15) -> [LabelledItem] {
        items.filter { ($0.split ?? Self.defaultSplit(path: $0.path, validationShare: validationShare)) == split }
    }

    static func defaultSplit(path: String, validationShare: Double) -> DataSplit {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in path.utf8 { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return Double(hash % 10_000) / 10_000 < validationShare ? .validation : .train
    }
}

/// Problems with a labelled collection.
public enum LabelledCollectionError: Error, CustomStringConvertible, Equatable {
    case noSource
    case notAFolder(String)
    case empty(String)
    case unreadable(String, String)
    case badRow(String, Int, String)

    public var description: String {
        switch self {
        case .noSource: "give a folder with one sub-folder per class, or --labels FILE.csv"
        case .notAFolder(let p): "\(p): not a folder; give a folder with one sub-folder per class, or --labels FILE.csv"
        case .empty(let p): "\(p): no labelled audio files found (expected one sub-folder per class, or path,label rows)"
        case .unreadable(let p, let r): "\(p): cannot read the labels file: \(r)"
        case .badRow(let p, let n, let l): "\(p):\(n): expected 'path,label[,split]' with split train|validation|test, got '\(l)'"
        }
    }
}

/// Minimal RFC 4180 field splitting for one line.
enum CSV {
    static func fields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var iterator = line.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else { quoted = false; pending = next }
                    } else { quoted = false }
                } else { current.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                fields.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        fields.append(current)
        return fields.map { $0.trimmingCharacters(in: .whitespaces) }
    }
}
