import Foundation
import RetrieveCore

/// A file found under a collection root that looks like audio.
public struct CandidateFile: Sendable, Equatable {
    /// The absolute path, as the file system spells it (which may not be valid UTF-8; see `displayPath`).
    public let path: String
    /// Size in bytes.
    public let size: Int64
    /// Modification time in seconds since 1970, with sub-second precision where the file system has it.
    public let mtime: Double
}

/// A problem met while walking a collection: an unreadable folder, a symlink loop, a name that cannot be read.
public struct ScanProblem: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Walks folders recursively and lists the files that may be audio.
///
/// Audio is picked by extension first (cheap, and what users expect), and files with an audio extension are
/// still checked by content later, by the decoder. Symlinks to folders are followed once: the walk remembers
/// every folder by device and inode, so a symlink loop ends the branch with a problem instead of recursing
/// forever. Unreadable folders become problems, never fatal errors.
public struct CollectionScanner: Sendable {
    /// Extensions (lower-case, no dot) of the formats libsndfile decodes here.
    public static let audioExtensions: Set<String> = [
        "wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "aifc", "au", "snd", "caf", "w64", "rf64",
    ]

    public init() {}

    /// Lists the candidate files under each root (a root may itself be a file), sorted by path, each once.
    public func scan(_ roots: [String]) -> (files: [CandidateFile], problems: [ScanProblem]) {
        var files: [CandidateFile] = []
        var problems: [ScanProblem] = []
        var visited = Set<FolderIdentity>()
        var seenPaths = Set<String>()
        for root in roots {
            let absolute = Paths.absolute(root)
            var info = stat()
            guard stat(absolute, &info) == 0 else {
                problems.append(ScanProblem(path: absolute, reason: "cannot be read (\(String(cString: strerror(errno))))"))
                continue
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                walk(absolute, info: info, visited: &visited, files: &files, problems: &problems)
            } else if (info.st_mode & S_IFMT) != S_IFREG {
                problems.append(ScanProblem(path: absolute, reason: "is not a regular file (a FIFO, socket or device); skipped"))
            } else if Self.isAudioName(absolute) {
                files.append(CandidateFile(path: absolute, size: Int64(info.st_size), mtime: Self.mtime(info)))
            } else {
                problems.append(ScanProblem(path: absolute, reason: "is not an audio file by its extension"))
            }
        }
        files = files.filter { seenPaths.insert($0.path).inserted }
        files.sort { $0.path < $1.path }
        return (files, problems)
    }

    /// Whether a file name has one of the audio extensions.
    public static func isAudioName(_ path: String) -> Bool {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return false }
        return audioExtensions.contains(path[path.index(after: dot)...].lowercased())
    }

    static func mtime(_ info: stat) -> Double {
        Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
    }

    private struct FolderIdentity: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    private func walk(_ folder: String, info: stat, visited: inout Set<FolderIdentity>, files: inout [CandidateFile],
                      problems: inout [ScanProblem]) {
        guard visited.insert(FolderIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))).inserted else {
            problems.append(ScanProblem(path: folder, reason: "was already visited (a symlink loop?); skipped"))
            return
        }
        guard let dir = opendir(folder) else {
            problems.append(ScanProblem(path: folder, reason: "folder cannot be read (\(String(cString: strerror(errno))))"))
            return
        }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix(while: { $0 != 0 })) }
            if name == "." || name == ".." || name.hasPrefix(".") { continue }
            guard String(validatingUTF8CString: bytes) != nil else {
                problems.append(ScanProblem(path: folder + "/" + name,
                                            reason: "has a file name that is not valid UTF-8; rename it to index it"))
                continue
            }
            names.append(name)
        }
        closedir(dir)
        for name in names.sorted() {
            let path = folder + "/" + name
            var child = stat()
            guard stat(path, &child) == 0 else {
                var linkInfo = stat()
                let reason = lstat(path, &linkInfo) == 0 && (linkInfo.st_mode & S_IFMT) == S_IFLNK
                    ? "is a broken symlink" : "cannot be read (\(String(cString: strerror(errno))))"
                problems.append(ScanProblem(path: path, reason: reason))
                continue
            }
            switch child.st_mode & S_IFMT {
            case S_IFDIR: walk(path, info: child, visited: &visited, files: &files, problems: &problems)
            case S_IFREG where Self.isAudioName(name):
                files.append(CandidateFile(path: path, size: Int64(child.st_size), mtime: Self.mtime(child)))
            case _ where Self.isAudioName(name):
                // A FIFO, socket or device named like audio: opening it could block forever, so it is never
                // decoded, but the user hears about it rather than finding it silently missing.
                problems.append(ScanProblem(path: path, reason: "is not a regular file (a FIFO, socket or device); skipped"))
            default: continue
            }
        }
    }
}

extension String {
    /// A NUL-free byte array decoded as UTF-8, or nil when it is not valid UTF-8.
    init?(validatingUTF8CString bytes: [UInt8]) {
        guard let s = String(validating: bytes, as: UTF8.self) else { return nil }
        self = s
    }
}
