import Foundation
import Library
import PostgresIndex
import RetrieveCore
import Server
import Synchronization
import VectorIndex

/// `retrieve serve --db postgresql://…`: the library read from PostgreSQL in one snapshot per load, changes seen
/// by polling the index's change counter (one row) on a connection kept open; a connection that broke is
/// reopened at the next poll.
final class PostgresLibrarySource: LibrarySource {
    let name: String
    private let url: String
    private let poller = Mutex<PostgresStore?>(nil)
    private let lastCounter: Mutex<Int64>

    /// Connects and reads the change counter (before the first load, so that a commit during it is seen).
    init(url: String) throws {
        self.url = url
        name = PostgresLocation.redact(url)
        let store = try Blocking.run { try await PostgresStore.open(url: url, migrate: false) }
        do {
            lastCounter = Mutex(try Blocking.run { try await store.changeCounter() })
        } catch {
            Blocking.closeQuietly(store)
            throw error
        }
        poller.withLock { $0 = store }
    }

    func load(model: ModelVersion) throws -> (engine: QueryEngine, statistics: IndexStatistics?) {
        let url = self.url
        let (snapshot, statistics) = try Blocking.run {
            try await PostgresStore.with(url: url, migrate: false) { store in
                (try await store.snapshot(modelDigest: model.digest), try? await store.statistics())
            }
        }
        let engine = try QueryEngine(reading: snapshot, later: snapshot, model: model, databasePath: name)
        return (engine, statistics)
    }

    func hasChanged() async throws -> Bool {
        let open = poller.withLock { $0 }
        let store: PostgresStore
        if let open {
            store = open
        } else {
            store = try await PostgresStore.open(url: url, migrate: false)
            poller.withLock { $0 = store }
        }
        do {
            let counter = try await store.changeCounter()
            return lastCounter.withLock { last in
                defer { last = counter }
                return counter != last
            }
        } catch {
            // Reconnect at the next poll; a change made meanwhile is then seen by the counter.
            poller.withLock { $0 = nil }
            await store.close()
            throw error
        }
    }
}

extension PostgresLibrarySource {
    /// Closes the polling connection (a command that ends before its process does must, or PostgresNIO traps).
    func close() {
        guard let store = poller.withLock({ open in defer { open = nil }; return open }) else { return }
        Blocking.closeQuietly(store)
    }
}

extension Blocking {
    /// Closes `store`, ignoring a failure (for clean-up on an error path).
    static func closeQuietly(_ store: PostgresStore) {
        _ = try? run { await store.close() }
    }
}
