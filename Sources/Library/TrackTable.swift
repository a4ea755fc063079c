public import RetrieveCore
public import VectorIndex

/// Every track record of a library in compact form: the strings of all tracks in one UTF-8 buffer, the numbers
/// in arrays, and `table[row]` making a `TrackRecord` when asked.
///
/// An array of `TrackRecord`s costs about 410 bytes per track for 218 bytes of data at a million tracks: 184
/// bytes of record (eight strings at 16 bytes each) plus a separate heap block, with its header and rounding,
/// for every string longer than 15 bytes (the path, the content hash). Here a track costs its strings' bytes
/// plus 88 bytes: six numbers, the offset of its strings, and eight lengths. A server that keeps the whole
/// library resident thereby stays near the size of its vectors and metadata.
///
/// Strings come back exactly as stored (a `String` holds valid UTF-8, and its bytes decode to an equal string).
/// Reading a field makes a new `String` (one allocation when longer than 15 bytes); code that reads a field of
/// every track can look at its bytes in place with `withUTF8(_:row:_:)`.
public struct TrackTable: RandomAccessCollection, Sendable {
    /// A string field of a track, in the order the fields are laid out in the buffer.
    public enum Field: Int, CaseIterable, Sendable {
        case path, contentHash, format, title, artist, album, genre, label
    }

    /// Row ids; `noID` for a record without one (not yet committed).
    private var ids: [Int64] = []
    private var sizes: [Int64] = []
    private var modificationTimes: [Double] = []
    private var durations: [Double] = []
    private var sampleRates: [Int] = []
    private var channelCounts: [Int] = []
    /// Offset in `text` of each row's first field; its fields follow one another in `Field` order.
    private var starts: [Int] = []
    /// Byte length of each row's fields (`Field.allCases.count` per row), `absent` for a `nil` optional.
    private var lengths: [UInt32] = []
    /// Every field's UTF-8 bytes, row after row.
    private var text: [UInt8] = []

    private static let noID = Int64.min
    private static let absent = UInt32.max
    private static let fieldCount = Field.allCases.count

    /// An empty table with room for `capacity` tracks' numbers.
    public init(reservingCapacity capacity: Int = 0) {
        ids.reserveCapacity(capacity)
        sizes.reserveCapacity(capacity)
        modificationTimes.reserveCapacity(capacity)
        durations.reserveCapacity(capacity)
        sampleRates.reserveCapacity(capacity)
        channelCounts.reserveCapacity(capacity)
        starts.reserveCapacity(capacity)
        lengths.reserveCapacity(capacity * Self.fieldCount)
    }

    /// A table of `records`, in their order.
    public init(_ records: some Sequence<TrackRecord>) {
        self.init(reservingCapacity: records.underestimatedCount)
        for record in records { append(record) }
        shrinkToFit()
    }

    /// Adds `record` as the last row.
    ///
    /// - Precondition: no string of `record` is 4 GiB or longer.
    public mutating func append(_ record: TrackRecord) {
        ids.append(record.id?.rawValue ?? Self.noID)
        sizes.append(record.size)
        modificationTimes.append(record.modificationTime)
        durations.append(record.duration)
        sampleRates.append(record.sampleRate)
        channelCounts.append(record.channels)
        starts.append(text.count)
        for value in [
            record.path, record.contentHash, record.format, record.title, record.artist, record.album, record.genre,
            record.label,
        ] {
            guard var value else {
                lengths.append(Self.absent)
                continue
            }
            value.withUTF8 { bytes in
                precondition(bytes.count < Int(Self.absent), "a track's string of \(bytes.count) bytes")
                lengths.append(UInt32(bytes.count))
                text.append(contentsOf: bytes)
            }
        }
    }

    /// Gives back the growth room of the text buffer (up to half of it after appending row by row).
    public mutating func shrinkToFit() {
        guard text.capacity > text.count else { return }
        let used = text
        text = [UInt8](unsafeUninitializedCapacity: used.count) { buffer, count in
            _ = buffer.initialize(from: used)
            count = used.count
        }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { ids.count }

    /// The record of `row`, made from the table.
    ///
    /// - Complexity: O(length of its strings).
    public subscript(row: Int) -> TrackRecord {
        TrackRecord(
            id: id(at: row), path: path(at: row), size: sizes[row], modificationTime: modificationTimes[row],
            contentHash: contentHash(at: row), duration: durations[row], sampleRate: sampleRates[row],
            channels: channelCounts[row], format: string(.format, row: row)!, title: string(.title, row: row),
            artist: string(.artist, row: row), album: string(.album, row: row), genre: string(.genre, row: row),
            label: string(.label, row: row))
    }

    /// The row id of `row`'s track (`nil` if it had none).
    public func id(at row: Int) -> TrackID? { ids[row] == Self.noID ? nil : TrackID(ids[row]) }

    /// `self[row].path`, without making the rest of the record.
    public func path(at row: Int) -> String { string(.path, row: row)! }

    /// Every track's path, by row.
    public var paths: [String] { indices.map(path(at:)) }

    /// `self[row].contentHash`, without making the rest of the record.
    public func contentHash(at row: Int) -> String { string(.contentHash, row: row)! }

    /// `field` of `row` (`nil` for an absent optional field).
    public func string(_ field: Field, row: Int) -> String? {
        withUTF8(field, row: row) { String(decoding: $0, as: UTF8.self) }
    }

    /// Calls `body` with the UTF-8 bytes of `field` of `row` in place, or returns `nil` for an absent field.
    /// The bytes are valid only inside `body`.
    public func withUTF8<R>(_ field: Field, row: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        let base = row * Self.fieldCount
        var offset = starts[row]
        for f in 0..<field.rawValue where lengths[base + f] != Self.absent { offset += Int(lengths[base + f]) }
        let length = lengths[base + field.rawValue]
        if length == Self.absent { return nil }
        return try text.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[offset..<offset + Int(length)]))
        }
    }
}
