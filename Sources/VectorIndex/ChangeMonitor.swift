import Foundation
import GRDB

/// Tells whether another connection has committed to an index since the last look: SQLite's
/// `PRAGMA data_version` on one dedicated read-only connection.
///
/// `data_version` changes exactly when a commit by any other connection (another process's `retrieve index`
/// included) becomes visible to this one; it never changes for this connection's own reads. A look costs one
/// pragma (microseconds), so a server can poll it every second. An index opened immutable (a folder nobody can
/// write: see `ReadOnlyAccess`) cannot change while it is open, and `hasChanged()` is then always false.
public final class IndexChangeMonitor: @unchecked Sendable {
    /// The database file.
    public let path: String
    /// One connection, so that successive values of `data_version` are comparable (they are per connection).
    private let queue: DatabaseQueue?
    private let lock = NSLock()
    private var lastVersion: Int

    /// Opens the dedicated connection and reads the current `data_version`.
    ///
    /// - Throws: `IndexError.database` when the file cannot be opened read-only.
    public init(path: String) throws {
        self.path = path
        guard ReadOnlyAccess(path: path) != .immutable else {
            queue = nil
            lastVersion = 0
            return
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = path + " (change monitor)"
        configuration.busyMode = .timeout(30)
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            self.queue = queue
            lastVersion = try queue.read { try Int.fetchOne($0, sql: "PRAGMA data_version") ?? 0 }
        } catch {
            throw IndexError.database(DatabaseFailure(path: path, cause: error))
        }
    }

    /// Whether a commit by another connection happened since the previous call (or since `init`).
    public func hasChanged() throws -> Bool {
        guard let queue else { return false }
        lock.lock()
        defer { lock.unlock() }
        let version: Int
        do {
            version = try queue.read { try Int.fetchOne($0, sql: "PRAGMA data_version") ?? 0 }
        } catch {
            throw IndexError.database(DatabaseFailure(path: path, cause: error))
        }
        defer { lastVersion = version }
        return version != lastVersion
    }
}
