import Foundation

/// File-path spelling shared by every command: absolute, normalised paths are what the index stores.
public enum Paths {
    /// `path` made absolute against the current directory and without `.` components or trailing slashes.
    public static func absolute(_ path: String) -> String {
        let joined = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var parts: [Substring] = []
        for part in joined.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { _ = parts.popLast(); continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }
}

/// A music server's library folder as the index spells it, and the mapping between the server's relative paths
/// and the index's absolute ones: MPD's `file` URIs (relative to its `music_directory`) and a Subsonic server's
/// song `path`s (relative to its music folder) alike.
public struct MusicRoot: Sendable, Equatable {
    /// Absolute, normalised (as the index stores paths), without a trailing slash (except `/` itself).
    public let path: String

    public init(_ path: String) { self.path = Paths.absolute(path) }

    /// The indexed path of `relative` (a path under the music folder); `nil` for a stream URL (`http://…`),
    /// an absolute path, or one that escapes the folder with `..`.
    public func indexedPath(ofRelative relative: String) -> String? {
        guard !relative.isEmpty, !relative.hasPrefix("/"), !relative.contains("://") else { return nil }
        let joined = Paths.absolute(path + "/" + relative)
        return relativePath(ofIndexed: joined) == nil ? nil : joined
    }

    /// The path relative to the music folder of an indexed path; `nil` for a path outside the folder.
    public func relativePath(ofIndexed indexed: String) -> String? {
        let prefix = path == "/" ? "/" : path + "/"
        guard indexed.hasPrefix(prefix), indexed.count > prefix.count else { return nil }
        return String(indexed.dropFirst(prefix.count))
    }
}
