/// The identifier of a track row in the index.
public struct TrackID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The SQLite row id.
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public static func < (a: TrackID, b: TrackID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// Which model made an embedding: its name and the hash of its weights file.
///
/// Stored beside every embedding so that vectors of two models are never compared, and so that
/// `retrieve index` knows exactly which tracks to re-embed after a model change.
public struct ModelVersion: Hashable, Sendable, Codable, CustomStringConvertible {
    /// A human-readable name, e.g. `default-v1`.
    public let name: String
    /// Hex SHA-256 (or another stable digest) of the model file's bytes.
    public let digest: String
    /// The embedding size the model produces.
    public let dimensions: Int

    public init(name: String, digest: String, dimensions: Int) {
        self.name = name
        self.digest = digest
        self.dimensions = dimensions
    }

    public var description: String { "\(name) (\(digest.prefix(12)), \(dimensions)-d)" }
}

extension RandomAccessCollection where Element == TrackID, Index == Int {
    /// The position of `id` among these ids, which must be ascending; nil when absent.
    ///
    /// - Complexity: O(log count)
    public func position(ofAscending id: TrackID) -> Int? {
        var low = startIndex, high = endIndex
        while low < high {
            let middle = (low + high) / 2
            if self[middle].rawValue < id.rawValue { low = middle + 1 } else { high = middle }
        }
        return low < endIndex && self[low] == id ? low : nil
    }
}
