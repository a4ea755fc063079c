import Foundation

/// Writes a whole output file (a model, a report, a plot, an array) atomically: the one way retrieve writes
/// files, so that every failure becomes one sentence naming the file and the remedy.
///
/// The bytes go to a temporary file in the same folder, which then replaces `path`: a reader never sees half a
/// file, and a failed write leaves any previous file as it was.
public enum OutputFile {
    /// Writes `data` to `path`, replacing what is there.
    public static func write(_ data: Data, to path: String) throws(OutputFileError) {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw OutputFileError(path: path, problem: "is a folder", remedy: "name a file inside it")
        }
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) else {
            throw OutputFileError(
                path: path, problem: "its folder \(folder) does not exist",
                remedy: "create the folder or choose another path")
        }
        guard isFolder.boolValue else {
            throw OutputFileError(path: path, problem: "\(folder) is not a folder", remedy: "choose another path")
        }
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw OutputFileError(path: path, error: error)
        }
    }

    /// Writes `text` as UTF-8.
    public static func write(_ text: String, to path: String) throws(OutputFileError) {
        try write(Data(text.utf8), to: path)
    }
}

/// An output file that could not be written: what went wrong and what to do, in one sentence.
public struct OutputFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String
    public let remedy: String

    public init(path: String, problem: String, remedy: String) {
        self.path = path
        self.problem = problem
        self.remedy = remedy
    }

    /// The sentence for a Foundation error: its POSIX cause where it has one (Foundation wraps `errno` as the
    /// underlying error of its Cocoa errors, whose own codes and texts mean nothing to a user).
    public init(path: String, error: any Error) {
        let ns = error as NSError
        let posix = ns.domain == NSPOSIXErrorDomain ? ns : ns.userInfo[NSUnderlyingErrorKey] as? NSError
        if let posix, posix.domain == NSPOSIXErrorDomain {
            self.init(path: path, errno: Int32(truncatingIfNeeded: posix.code), fallback: error)
        } else if ns.domain == NSCocoaErrorDomain,
            ns.code == NSFileNoSuchFileError || ns.code == NSFileWriteNoPermissionError
                || ns.code == NSFileWriteOutOfSpaceError || ns.code == NSFileWriteVolumeReadOnlyError
        {
            let code: Int32 =
                switch ns.code {
                case NSFileNoSuchFileError: ENOENT
                case NSFileWriteNoPermissionError: EACCES
                case NSFileWriteOutOfSpaceError: ENOSPC
                default: EROFS
                }
            self.init(path: path, errno: code, fallback: error)
        } else {
            self.init(
                path: path, problem: "the write failed (\(ns.domain) \(ns.code))", remedy: "check the path and the disk"
            )
        }
    }

    /// The sentence for a POSIX error number (Foundation reports them as its underlying error).
    public init(path: String, errno code: Int32, fallback: (any Error)? = nil) {
        self.path = path
        switch code {
        case EACCES, EPERM:
            problem = "permission denied"
            remedy = "make its folder writable or choose another path"
        case EROFS:
            problem = "the file system is read-only"
            remedy = "choose a path on a writable disk"
        case ENOSPC, EDQUOT:
            problem = "the disk is full"
            remedy = "free some space and run the command again (nothing was written)"
        case ENOENT:
            problem = "a folder on its path does not exist"
            remedy = "create the folder or choose another path"
        case ENOTDIR:
            problem = "a part of its path is a file, not a folder"
            remedy = "choose another path"
        case EISDIR:
            problem = "is a folder"
            remedy = "name a file inside it"
        case ENAMETOOLONG:
            problem = "the name is too long"
            remedy = "choose a shorter path"
        default:
            let reason =
                code > 0 && code < 200
                ? String(cString: strerror(code)) : fallback.map { "\($0.localizedDescription)" } ?? "error \(code)"
            problem = reason
            remedy = "check the path and the disk"
        }
    }

    public var description: String { "\(path): cannot write: \(problem); \(remedy)" }
}

/// Why a file could not be read, in words a user can act on: the POSIX cause under Foundation's error
/// ("no such file", "permission denied", "is a folder", "not valid UTF-8 text"), never its domain and code.
public func readFailureReason(_ error: any Error, path: String) -> String {
    let ns = error as NSError
    let posix = ns.domain == NSPOSIXErrorDomain ? ns : ns.userInfo[NSUnderlyingErrorKey] as? NSError
    var isFolder: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
    if !exists { return "no such file" }
    if isFolder.boolValue { return "is a folder, not a file" }
    if let posix, posix.domain == NSPOSIXErrorDomain {
        switch Int32(truncatingIfNeeded: posix.code) {
        case EACCES, EPERM: return "permission denied"
        case EISDIR: return "is a folder, not a file"
        case EIO: return "input/output error (a failing disk or a network mount)"
        case let code: return String(cString: strerror(code))
        }
    }
    if ns.domain == NSCocoaErrorDomain {
        switch ns.code {
        case NSFileReadNoPermissionError: return "permission denied"
        case NSFileReadInapplicableStringEncodingError: return "not valid UTF-8 text"
        case NSFileReadNoSuchFileError: return "no such file"
        case NSFileReadTooLargeError: return "too large to read"
        default: break
        }
    }
    return "it cannot be read (\(ns.domain) \(ns.code))"
}
