import Foundation
public import RetrieveCore
public import VectorIndex

/// What a `QueryEngine` keeps in memory.
public enum TrackLoading: Sendable {
    /// Every vector and every track record, read when the engine is made: for long-lived engines that list and
    /// search tracks (the server, the map, the radio).
    case all
    /// Every vector; track records only for rows that are returned or filtered on, when first needed: an export,
    /// which scans all against all but needs one block of records at a time.
    case vectors
    /// Nothing but the track ids: each query streams the vectors from the index chunk by chunk (one chunk in
    /// memory at a time, no copy of the library) and reads only the records it returns or filters on, from the
    /// engine's frozen view. For one-off queries (`retrieve similar`); not for concurrent use.
    case onDemand
}

/// The track records behind a query engine's rows: row `r` is the `r`-th smallest track id with a vector.
///
/// With `TrackLoading.all` the records are a `TrackTable` filled once; otherwise each is read from the
/// engine's `IndexView` (one commit's state, the same as the vectors') on first use and cached, under a lock,
/// so any thread may ask. A record cannot be missing: the view is frozen, and a vector cannot outlive its track.
public final class TrackCatalog: @unchecked Sendable {
    // @unchecked: `cache` and `everything` change only under `lock`.
    /// Track ids by row, ascending.
    public let ids: [TrackID]
    private let view: any IndexReading
    private let lock = NSLock()
    private var everything: TrackTable?
    private var cache: [Int: TrackRecord] = [:]

    /// - Parameters:
    ///   - ids: track ids by row, ascending.
    ///   - frozen: the view the vectors were read from; with `.all`, every record is read from it now.
    ///   - view: where records are read later (`frozen` itself for `.onDemand`).
    ///   - loading: all records now, or each when first needed.
    /// - Throws: `IndexError` when the records cannot be read.
    init(ids: [TrackID], frozen: any IndexReading, view: any IndexReading, loading: TrackLoading) throws {
        self.ids = ids
        self.view = view
        if case .all = loading { everything = try Self.table(of: ids, in: frozen) }
    }

    /// The records of `ids` (ascending), picked from the tracks of `view` as they are read.
    private static func table(of ids: [TrackID], in view: any IndexReading) throws -> TrackTable {
        var table = TrackTable(reservingCapacity: ids.count)
        try view.forEachTrack { record in
            // Tracks come by ascending id, a superset of `ids`: those without a vector are skipped.
            if table.count < ids.count && record.id == ids[table.count] { table.append(record) }
        }
        precondition(table.count == ids.count, "a vector without its track: \(ids[table.count])")
        table.shrinkToFit()
        return table
    }

    /// The number of rows.
    public var count: Int { ids.count }

    /// The row of track `id`, if it has a vector.
    ///
    /// - Complexity: O(log rows)
    public func row(of id: TrackID) -> Int? { ids.position(ofAscending: id) }

    /// The record of `row`; a catalog that reads on demand stops the program if the index cannot be read, so
    /// code that may meet a damaged index calls `record(at:)`.
    public subscript(row: Int) -> TrackRecord {
        guard let record = try? record(at: row) else {
            preconditionFailure("track \(ids[row]) of a frozen view could not be read")
        }
        return record
    }

    /// The record of `row`, read from the index (and kept) the first time when the catalog reads on demand.
    ///
    /// - Throws: `IndexError` when the index cannot be read (a damaged page, an I/O error).
    public func record(at row: Int) throws -> TrackRecord {
        lock.lock()
        defer { lock.unlock() }
        if let everything { return everything[row] }
        if let cached = cache[row] { return cached }
        guard let record = try view.track(id: ids[row]) else { throw MissingTrackRecord(id: ids[row]) }
        cache[row] = record
        return record
    }

    /// Reads the records of `rows` in a few statements (an export block's seeds and neighbours), so that the
    /// subscript then finds them cached; `keepingOnly` first drops every other cached record, bounding memory.
    public func prefetch(rows: some Sequence<Int>, keepingOnly: Bool = false) throws {
        lock.lock()
        let wanted = everything == nil ? Set(rows) : []
        if keepingOnly { cache = cache.filter { wanted.contains($0.key) } }
        let missing = wanted.filter { cache[$0] == nil }.sorted()
        lock.unlock()
        if missing.isEmpty { return }
        let records = try view.tracks(ids: missing.map { ids[$0] })
        lock.lock()
        defer { lock.unlock() }
        for record in records { if let row = row(of: record.id!) { cache[row] = record } }
    }

    /// Every record by row (read once, then kept).
    public var all: TrackTable {
        lock.lock()
        defer { lock.unlock() }
        if let everything { return everything }
        guard let read = try? Self.table(of: ids, in: view) else {
            preconditionFailure("the tracks of a frozen view could not be read")
        }
        everything = read
        cache = [:]
        return read
    }
}

/// A vector whose track row is gone: only a damaged index (or one edited by hand) has one.
struct MissingTrackRecord: Error, CustomStringConvertible {
    let id: TrackID
    var description: String {
        "track \(id.rawValue) has a vector but no record in the index, which is damaged: re-create it with "
            + "`retrieve index` into a new file"
    }
}
