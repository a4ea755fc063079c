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

    public init(path: String, size: Int64, mtime: Double) {
        self.path = path
        self.size = size
        self.mtime = mtime
    }

    /// The regular file at `path` as a scan would find it, or nil when there is none.
    public static func at(_ path: String) -> CandidateFile? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return CandidateFile(path: path, size: Int64(info.st_size), mtime: CollectionScanner.mtime(info))
    }
}

/// A problem met while walking a collection: an unreadable folder, a symlink loop, a name that cannot be read.
public struct ScanProblem: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// What one walk of a collection found: the candidate files, the problems, and which folders were listed.
///
/// The listing record is the evidence a prune needs: a track may be taken out of the index only when the folder
/// that held it was listed to the end in this walk and no longer holds it (see `Library.PrunePlan`).
public struct CollectionScan: Sendable {
    /// Candidate audio files, sorted by path, each once.
    public var files: [CandidateFile] = []
    /// Unreadable folders, symlink loops, names that cannot be read, FIFOs named like audio.
    public var problems: [ScanProblem] = []
    /// Each root, made absolute (`Paths.absolute`), with what the walk found there, in the order given.
    public var roots: [ScannedRoot] = []
    /// Every folder whose listing was read to the end, by device and inode, with the names it held.
    public var listedFolders: [FolderIdentity: FolderListing] = [:]
    /// Folders the walk reached but could not list (to the end), as walked, with `strerror`'s text for why.
    public var unlistedFolders: [(path: String, reason: String)] = []

    public init() {}

    /// The listing of the folder `path` names now, if that folder (same device and inode) was listed in this walk.
    public func listing(ofFolderAt path: String) -> FolderListing? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return listedFolders[FolderIdentity(info)]
    }
}

/// A collection root as the walk found it.
public struct ScannedRoot: Sendable, Equatable {
    /// What a root turned out to be.
    public enum Kind: Sendable, Equatable {
        /// A folder, walked (its own listing may still have failed: see `CollectionScan.unlistedFolders`).
        case folder
        /// A file given as a root (a FIFO, socket or device among them: present, refused as a problem).
        case file
        /// Missing or not readable; `reason` is `strerror`'s text.
        case unreadable(reason: String)
    }
    /// The root made absolute, without `.`, `..` or trailing slashes (`Paths.absolute`).
    public let path: String
    public let kind: Kind
}

/// A folder's identity on this machine: the device and inode `stat` reports, the same through any symlink.
public struct FolderIdentity: Sendable, Hashable {
    public let device: UInt64
    public let inode: UInt64
    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

/// The names one folder held when it was listed, compared the way a person would read them.
public struct FolderListing: Sendable, Equatable {
    /// The folder as walked.
    public let path: String
    private let keys: Set<String>

    public init(path: String, names: [String]) {
        self.path = path
        keys = Set(names.map(Self.key))
    }

    /// Whether the listing held `name` or a name that differs from it only in Unicode normalisation (NFC/NFD) or
    /// letter case: a file system may store and list either spelling, so only an absence under every spelling is
    /// evidence that the file is gone.
    public func contains(nameLike name: String) -> Bool { keys.contains(Self.key(name)) }

    static func key(_ name: String) -> String { name.precomposedStringWithCanonicalMapping.lowercased() }
}

/// Walks folders recursively and lists the files that may be audio.
///
/// Audio is picked by extension first (cheap, and what users expect), and files with an audio extension are
/// still checked by content later, by the decoder. Symlinks to folders are followed once: the walk remembers
/// every folder by device and inode, so a symlink loop ends the branch with a problem instead of recursing
/// forever. Unreadable folders become problems, never fatal errors, and are kept apart from the folders listed
/// to the end, so that nothing under them is ever taken for gone.
public struct CollectionScanner: Sendable {
    /// Extensions (lower-case, no dot) of the formats libsndfile decodes here.
    public static let audioExtensions: Set<String> = [
        "wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "aifc", "au", "snd", "caf", "w64", "rf64",
    ]

    /// Reads the raw entry names of one folder (without `.` and `..`), or says why it could not read them all.
    /// Replaceable in tests, to make a folder fail part-way through its listing.
    var listFolder: @Sendable (String) -> Result<[[UInt8]], ListingFailure> = CollectionScanner.readFolder

    /// Why a folder's listing could not be read: `strerror`'s text, and whether some entries had been read.
    struct ListingFailure: Error {
        let reason: String
        var partial = false
    }

    public init() {}

    /// Lists the candidate files under each root (a root may itself be a file), sorted by path, each once, and
    /// records which folders were listed to the end.
    public func scan(_ roots: [String]) -> CollectionScan {
        var result = CollectionScan()
        var visited = Set<FolderIdentity>()
        var seenPaths = Set<String>()
        for root in roots {
            let absolute = Paths.absolute(root)
            var info = stat()
            guard stat(absolute, &info) == 0 else {
                let reason = String(cString: strerror(errno))
                result.problems.append(ScanProblem(path: absolute, reason: "cannot be read (\(reason))"))
                result.roots.append(ScannedRoot(path: absolute, kind: .unreadable(reason: reason)))
                continue
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                result.roots.append(ScannedRoot(path: absolute, kind: .folder))
                walk(absolute, info: info, visited: &visited, into: &result)
            } else if (info.st_mode & S_IFMT) != S_IFREG {
                result.problems.append(
                    ScanProblem(
                        path: absolute, reason: "is not a regular file (a FIFO, socket or device); skipped"))
                result.roots.append(ScannedRoot(path: absolute, kind: .file))  // there, refused above, never opened
            } else if Self.isAudioName(absolute) {
                result.roots.append(ScannedRoot(path: absolute, kind: .file))
                result.files.append(CandidateFile(path: absolute, size: Int64(info.st_size), mtime: Self.mtime(info)))
            } else {
                result.roots.append(ScannedRoot(path: absolute, kind: .file))
                result.problems.append(ScanProblem(path: absolute, reason: "is not an audio file by its extension"))
            }
        }
        result.files = result.files.filter { seenPaths.insert($0.path).inserted }
        result.files.sort { $0.path < $1.path }
        return result
    }

    /// Whether a file name has one of the audio extensions.
    public static func isAudioName(_ path: String) -> Bool {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return false }
        return audioExtensions.contains(path[path.index(after: dot)...].lowercased())
    }

    static func mtime(_ info: stat) -> Double {
        Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
    }

    /// `opendir` + `readdir` to the end. `readdir` returns nil both at the end and on an error (EIO on a failing
    /// disk, a network share dropping away mid-walk); only errno tells them apart, so it is cleared before each call.
    @Sendable static func readFolder(_ folder: String) -> Result<[[UInt8]], ListingFailure> {
        guard let dir = opendir(folder) else {
            return .failure(ListingFailure(reason: String(cString: strerror(errno))))
        }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 {
                    return .failure(ListingFailure(reason: String(cString: strerror(errno)), partial: true))
                }
                return .success(names)
            }
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix(while: { $0 != 0 })) }
            if bytes == [UInt8(ascii: ".")] || bytes == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            names.append(bytes)
        }
    }

    private func walk(
        _ folder: String, info: stat, visited: inout Set<FolderIdentity>, into result: inout CollectionScan
    ) {
        let identity = FolderIdentity(info)
        guard visited.insert(identity).inserted else {
            result.problems.append(ScanProblem(path: folder, reason: "was already visited (a symlink loop?); skipped"))
            return
        }
        let entries: [[UInt8]]
        switch listFolder(folder) {
        case .success(let listed): entries = listed
        case .failure(let failure):
            result.problems.append(
                ScanProblem(
                    path: folder,
                    reason: failure.partial
                        ? "folder could not be listed to the end (\(failure.reason))"
                        : "folder cannot be read (\(failure.reason))"))
            result.unlistedFolders.append((folder, failure.reason))
            return
        }
        var names: [String] = []
        for bytes in entries {
            let name = String(decoding: bytes, as: UTF8.self)
            if name.hasPrefix(".") { continue }
            guard String(validatingUTF8CString: bytes) != nil else {
                result.problems.append(
                    ScanProblem(
                        path: folder + "/" + name,
                        reason: "has a file name that is not valid UTF-8; rename it to index it"))
                continue
            }
            names.append(name)
        }
        result.listedFolders[identity] = FolderListing(
            path: folder, names: entries.map { String(decoding: $0, as: UTF8.self) })
        for name in names.sorted() {
            let path = folder + "/" + name
            var child = stat()
            guard stat(path, &child) == 0 else {
                var linkInfo = stat()
                let reason =
                    lstat(path, &linkInfo) == 0 && (linkInfo.st_mode & S_IFMT) == S_IFLNK
                    ? "is a broken symlink" : "cannot be read (\(String(cString: strerror(errno))))"
                result.problems.append(ScanProblem(path: path, reason: reason))
                continue
            }
            switch child.st_mode & S_IFMT {
            case S_IFDIR: walk(path, info: child, visited: &visited, into: &result)
            case S_IFREG where Self.isAudioName(name):
                result.files.append(CandidateFile(path: path, size: Int64(child.st_size), mtime: Self.mtime(child)))
            case _ where Self.isAudioName(name):
                // A FIFO, socket or device named like audio: opening it could block forever, so it is never
                // decoded, but the user hears about it rather than finding it silently missing.
                result.problems.append(
                    ScanProblem(
                        path: path, reason: "is not a regular file (a FIFO, socket or device); skipped"))
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
