import Foundation
public import RetrieveCore
public import VectorIndex

/// One side of a copy: an index whose rows can be read page by page as stored and written batch by batch.
///
/// `IndexStore` (SQLite) and `PostgresStore` conform; each page is one read, each `insert` one transaction.
public protocol IndexEndpoint: Sendable {
    /// What the user calls it: a file path, or a URL with the password redacted.
    var displayName: String { get }
    func rowCounts() async throws -> RowCounts
    func storedModels() async throws -> [ModelRecord]
    func storedTracks(after id: Int64, limit: Int) async throws -> [StoredTrack]
    func storedEmbeddings(after key: EmbeddingKey, limit: Int) async throws -> [StoredEmbedding]
    func storedSegments(after key: SegmentKey, limit: Int) async throws -> [StoredSegment]
    func storedFailures(after path: String?, limit: Int) async throws -> [FailureRecord]
    func insert(_ batch: RowBatch) async throws
    @discardableResult func removeAllRows() async throws -> RowCounts
}

extension IndexStore: IndexEndpoint {
    public var displayName: String { path }
}

extension PostgresStore: IndexEndpoint {
    public var displayName: String { location.description }
}

/// Checksums of an index's contents, one per table, each over every column of every row in key order (64-bit
/// FNV-1a; integers and floats as their bit patterns, strings and vectors length-prefixed, absent values marked).
///
/// Two indexes with equal counts and equal checksums hold the same rows bit for bit (up to FNV's chance of a
/// collision, about 2⁻⁶⁴ for unrelated contents; it does not resist forgery).
public struct IndexChecksums: Sendable, Equatable {
    public var counts = RowCounts()
    public var models = ContentHash.FNV1a64()
    public var tracks = ContentHash.FNV1a64()
    /// Over the pooled vectors with their keys, analysis versions and segment counts.
    public var embeddings = ContentHash.FNV1a64()
    /// Over the segment vectors with their keys.
    public var segments = ContentHash.FNV1a64()
    public var failures = ContentHash.FNV1a64()

    public init() {}

    public static func == (a: Self, b: Self) -> Bool {
        a.counts == b.counts && a.models.value == b.models.value && a.tracks.value == b.tracks.value
            && a.embeddings.value == b.embeddings.value && a.segments.value == b.segments.value
            && a.failures.value == b.failures.value
    }

    mutating func add(_ m: ModelRecord) {
        counts.models += 1
        models.field(m.id)
        models.field(m.version.name)
        models.field(m.version.digest)
        models.field(Int64(m.version.dimensions))
        models.field(m.configurationJSON)
        models.field(m.createdAt)
    }

    mutating func add(_ t: StoredTrack) {
        counts.tracks += 1
        let r = t.record
        tracks.field(r.id?.rawValue ?? -1)
        tracks.field(r.path)
        tracks.field(r.size)
        tracks.field(r.modificationTime)
        tracks.field(r.contentHash)
        tracks.field(r.duration)
        tracks.field(Int64(r.sampleRate))
        tracks.field(Int64(r.channels))
        tracks.field(r.format)
        for text in [r.title, r.artist, r.album, r.genre, r.label] { tracks.field(text) }
        tracks.field(t.addedAt)
        tracks.field(t.updatedAt)
    }

    mutating func add(_ e: StoredEmbedding) {
        counts.embeddings += 1
        embeddings.field(e.trackID)
        embeddings.field(e.modelID)
        embeddings.field(e.vector)
        embeddings.field(Int64(e.segmentCount))
        embeddings.field(e.createdAt)
        embeddings.field(Int64(e.analysisVersion))
        embeddings.field(e.timbre)
        embeddings.field(Int64(e.segmentVersion))
    }

    mutating func add(_ s: StoredSegment) {
        counts.segments += 1
        segments.field(s.trackID)
        segments.field(s.modelID)
        segments.field(Int64(s.index))
        segments.field(s.vector)
    }

    mutating func add(_ f: FailureRecord) {
        counts.failures += 1
        failures.field(f.path)
        failures.field(f.kind)
        failures.field(f.reason)
        failures.field(f.size)
        failures.field(f.modificationTime)
        failures.field(f.failedAt)
    }

    /// The tables whose counts or checksums differ from `other`'s, one phrase each.
    func differences(from other: IndexChecksums) -> [String] {
        var found: [String] = []
        func compare(_ name: String, _ a: Int, _ b: Int, _ x: UInt64, _ y: UInt64) {
            if a != b {
                found.append("\(name): \(a) rows in the source, \(b) in the copy")
            } else if x != y {
                found.append("\(name): checksum \(Self.hex(x)) in the source, \(Self.hex(y)) in the copy")
            }
        }
        compare("models", counts.models, other.counts.models, models.value, other.models.value)
        compare("tracks", counts.tracks, other.counts.tracks, tracks.value, other.tracks.value)
        compare("embeddings", counts.embeddings, other.counts.embeddings, embeddings.value, other.embeddings.value)
        compare("segment vectors", counts.segments, other.counts.segments, segments.value, other.segments.value)
        compare("failures", counts.failures, other.counts.failures, failures.value, other.failures.value)
        return found
    }

    /// A checksum as 16 hex digits.
    public static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

extension ContentHash.FNV1a64 {
    fileprivate mutating func field(_ value: Int64) {
        withUnsafeBytes(of: value.littleEndian) { add($0) }
    }
    fileprivate mutating func field(_ value: Double) { field(Int64(bitPattern: value.bitPattern)) }
    fileprivate mutating func field(_ value: Data) {
        field(Int64(value.count))
        add(value)
    }
    /// A NULL hashes as the length −1, as for text.
    fileprivate mutating func field(_ value: Data?) {
        guard let value else { return field(Int64(-1)) }
        field(value)
    }
    fileprivate mutating func field(_ value: String?) {
        guard let value else { return field(Int64(-1)) }
        field(Int64(value.utf8.count))
        add(value)
    }
}

/// What `IndexCopier.copy` did: the rows copied and the checksums that the source and the read-back agreed on.
public struct CopyReport: Sendable {
    public var checksums: IndexChecksums
    /// Rows deleted from the destination first (`replace`); `nil` when it was empty.
    public var replaced: RowCounts?
    public var seconds: Double
}

/// Copies an index between two databases (SQLite and PostgreSQL, either way), then proves the copy.
///
/// Rows are streamed table by table in key order, `batchRows` at a time (memory stays bounded by one page of
/// rows, whatever the index's size), each batch written in one transaction; ids, times and vector bytes are kept.
/// A destination that holds any row is refused unless `replace`, which first deletes its rows in one transaction.
/// At the end the destination is read back in full and its counts and checksums compared with the ones taken
/// of the source while copying, and the source is counted again to catch a writer that changed it meanwhile; any
/// difference is an error. A copy that fails part-way leaves a partial destination, which the next run must
/// replace (`destinationNotEmpty` says so).
public struct IndexCopier: Sendable {
    public var batchRows: Int

    public init(batchRows: Int = 1000) {
        precondition(batchRows > 0)
        self.batchRows = batchRows
    }

    /// Copies every row of `source` into `destination`, then reads the copy back and compares it.
    ///
    /// - Parameters:
    ///   - source: the index read (page by page; never written).
    ///   - destination: the index written, one transaction per batch.
    ///   - replace: delete the destination's rows first if it holds any (else such a destination is refused).
    ///   - progress: makes the sink of each stage ("copying" over every row, "verifying" over every row again).
    ///   - stop: checked between batches; a raised stop ends the copy with `CancellationError`.
    /// - Returns: the rows copied with their checksums, what was replaced, and how long it took.
    /// - Throws: `PostgresIndexError.destinationNotEmpty`, `.sourceChanged` or `.verificationFailed`; the errors of
    ///   either store (`IndexError`, `PostgresIndexError`); `CancellationError` after a stop.
    public func copy(
        from source: any IndexEndpoint, to destination: any IndexEndpoint, replace: Bool,
        progress: ProgressFactory = SilentProgress.factory, stop: StopRequest = StopRequest()
    ) async throws -> CopyReport {
        let started = Date()
        let before = try await source.rowCounts()
        let existing = try await destination.rowCounts()
        var replaced: RowCounts?
        if existing.total > 0 {
            guard replace else {
                throw PostgresIndexError.destinationNotEmpty(name: destination.displayName, counts: existing)
            }
            replaced = try await destination.removeAllRows()
        }
        let sink = progress(before.total, "copying")
        var copied = IndexChecksums()
        try await Self.scan(source, batchRows: batchRows, into: &copied, stop: stop) { batch in
            try await destination.insert(batch)
            sink.advance(by: batch.rowCount, detail: "")
        }
        sink.finish()

        let after = try await source.rowCounts()
        guard after == before, copied.counts == before else {
            throw PostgresIndexError.sourceChanged(name: source.displayName, before: before, after: after)
        }
        let check = progress(before.total, "verifying")
        var readBack = IndexChecksums()
        try await Self.scan(destination, batchRows: batchRows, into: &readBack, stop: stop) { batch in
            check.advance(by: batch.rowCount, detail: "")
        }
        check.finish()
        let differences = copied.differences(from: readBack)
        guard differences.isEmpty else {
            throw PostgresIndexError.verificationFailed(
                source: source.displayName, destination: destination.displayName, details: differences)
        }
        return CopyReport(checksums: copied, replaced: replaced, seconds: Date().timeIntervalSince(started))
    }

    /// Counts and checksums of every row of `index` (read page by page, nothing else done with the rows).
    public func checksums(
        of index: any IndexEndpoint, stop: StopRequest = StopRequest()
    ) async throws
        -> IndexChecksums
    {
        var sums = IndexChecksums()
        try await Self.scan(index, batchRows: batchRows, into: &sums, stop: stop) { _ in }
        return sums
    }

    /// Reads every row of `index` in copy order, `batchRows` per page, adds each to `sums` and hands each page to
    /// `body` as one batch: models, then tracks, embeddings, segment vectors, failures (parents before children).
    static func scan(
        _ index: any IndexEndpoint, batchRows: Int, into sums: inout IndexChecksums, stop: StopRequest,
        _ body: (RowBatch) async throws -> Void
    ) async throws {
        func checkStop() throws { if stop.isRaised { throw CancellationError() } }
        let models = try await index.storedModels()
        for m in models { sums.add(m) }
        try await body(RowBatch(models: models))

        var lastTrack = Int64.min
        while true {
            try checkStop()
            let page = try await index.storedTracks(after: lastTrack, limit: batchRows)
            guard let last = page.last else { break }
            for t in page { sums.add(t) }
            try await body(RowBatch(tracks: page))
            lastTrack = last.record.id!.rawValue
        }
        var lastEmbedding = EmbeddingKey.start
        while true {
            try checkStop()
            let page = try await index.storedEmbeddings(after: lastEmbedding, limit: batchRows)
            guard let last = page.last else { break }
            for e in page { sums.add(e) }
            try await body(RowBatch(embeddings: page))
            lastEmbedding = last.key
        }
        var lastSegment = SegmentKey.start
        while true {
            try checkStop()
            let page = try await index.storedSegments(after: lastSegment, limit: batchRows)
            guard let last = page.last else { break }
            for s in page { sums.add(s) }
            try await body(RowBatch(segments: page))
            lastSegment = last.key
        }
        var lastFailure: String?
        while true {
            try checkStop()
            let page = try await index.storedFailures(after: lastFailure, limit: batchRows)
            guard let last = page.last else { break }
            for f in page { sums.add(f) }
            try await body(RowBatch(failures: page))
            lastFailure = last.path
        }
    }
}
