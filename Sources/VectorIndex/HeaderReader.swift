import Foundation

/// Reads the first bytes of database files without ever closing a descriptor of a file SQLite may have open.
///
/// POSIX record locks belong to the process and the file, not to the descriptor: closing *any* descriptor of the
/// database file drops every lock this process's SQLite connections hold on it. Reading the header with a
/// `FileHandle` and closing it therefore broke the locking of other `IndexStore`s open on the same index in the
/// same process (seen as "disk I/O error" on `BEGIN IMMEDIATE` while another process wrote). One descriptor per
/// file is kept open for the process's lifetime instead; it is replaced (and the old one closed, which is safe
/// because locks are per file) only when the path names another file.
enum HeaderReader {
    private struct Open {
        let descriptor: Int32
        let device: UInt64
        let inode: UInt64
    }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var open: [String: Open] = [:]

    /// The first 100 bytes (fewer if the file is shorter), or nil if the file cannot be opened.
    static func first100Bytes(of path: String) -> Data? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        lock.lock()
        defer { lock.unlock() }
        var entry = open[path]
        if let current = entry, current.device != UInt64(info.st_dev) || current.inode != UInt64(info.st_ino) {
            Foundation.close(current.descriptor)
            entry = nil
        }
        if entry == nil {
            let descriptor = Foundation.open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return nil }
            entry = Open(descriptor: descriptor, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            open[path] = entry
        }
        var buffer = [UInt8](repeating: 0, count: 100)
        let count = pread(entry!.descriptor, &buffer, 100, 0)
        guard count >= 0 else { return nil }
        return Data(buffer.prefix(count))
    }
}
