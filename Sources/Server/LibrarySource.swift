import Foundation
public import Library
public import RetrieveCore
public import VectorIndex

/// Where `retrieve serve` reads its library from, and how it learns that another process changed it: the SQLite
/// file (`SQLiteLibrarySource`), or another database that the command supplies (PostgreSQL, so that this
/// module stays free of its driver).
///
/// `load` always runs on a thread of its own, never on the server's concurrency pool, so it may block.
public protocol LibrarySource: Sendable {
    /// The index as responses and messages name it (a URL with its password redacted).
    var name: String { get }
    /// A new engine over `model`'s vectors with every track record (`TrackLoading.all`), read from one committed
    /// state of the index, and the index's statistics (nil when they cannot be read).
    func load(model: ModelVersion) throws -> (engine: QueryEngine, statistics: IndexStatistics?)
    /// Whether another process committed to the index since the previous call (or since the source was made,
    /// which must be before the first `load`, so that a commit during that load is seen). Cheap: polled every
    /// second.
    func hasChanged() async throws -> Bool
}

/// An index in an SQLite file: loaded through one read transaction, changes seen by `PRAGMA data_version`.
public struct SQLiteLibrarySource: LibrarySource {
    public let name: String
    private let monitor: IndexChangeMonitor

    /// Opens the change monitor on `path`.
    ///
    /// - Throws: `IndexError` when the file cannot be opened read-only.
    public init(path: String) throws {
        name = path
        monitor = try IndexChangeMonitor(path: path)
    }

    public func load(model: ModelVersion) throws -> (engine: QueryEngine, statistics: IndexStatistics?) {
        let store = try IndexStore.openForReading(path: name)
        let engine = try QueryEngine(store: store, model: model, databasePath: name)
        return (engine, try? store.statistics())
    }

    public func hasChanged() async throws -> Bool { try monitor.hasChanged() }
}
