import Library
import RetrieveCore
import Testing
import VectorIndex

struct TrackTableTests {
    /// Records with every field shape: absent and empty optionals, long and short strings, non-ASCII text
    /// (composed and decomposed spellings kept apart), no id, extreme numbers.
    static let records: [TrackRecord] = [
        TrackRecord(
            id: TrackID(1), path: "/music/Artist/Album/01 Song.flac", size: 12_345_678,
            modificationTime: 1_700_000_000.25, contentHash: "h1:12345678:0123456789abcdef", duration: 215.5,
            sampleRate: 44_100, channels: 2, format: "flac", title: "Song", artist: "Artist", album: "Album",
            genre: "Rock", label: nil),
        TrackRecord(
            id: nil, path: "/x", size: 0, modificationTime: 0, contentHash: "", duration: 0, sampleRate: 0,
            channels: 0, format: "", title: "", artist: nil, album: "", genre: nil, label: ""),
        TrackRecord(
            id: TrackID(Int64.max), path: "/música/Éric Serra/Le Grand Bleu/ĳssel 🎵.mp3", size: Int64.max,
            modificationTime: -1.5, contentHash: String(repeating: "f", count: 64), duration: .greatestFiniteMagnitude,
            sampleRate: Int.max, channels: Int.min, format: "mp3", title: "E\u{301}té", artist: "Été",
            album: "Le Grand Bleu", genre: "Soundtrack", label: "film"),
    ]

    @Test func everyRecordComesBackEqual() {
        let table = TrackTable(Self.records)
        #expect(table.count == Self.records.count)
        #expect(Array(table) == Self.records)
        for (row, record) in Self.records.enumerated() {
            #expect(table[row] == record)
            #expect(table.id(at: row) == record.id && table.path(at: row) == record.path)
            #expect(table.contentHash(at: row) == record.contentHash)
            #expect(table.string(.artist, row: row) == record.artist && table.string(.label, row: row) == record.label)
            #expect(table.withUTF8(.title, row: row) { Array($0) } == record.title.map { Array($0.utf8) })
        }
        #expect(table.paths == Self.records.map(\.path))
        // Bytes are kept as they were: the decomposed title is not turned into the composed one.
        #expect(Array(table.string(.title, row: 2)!.unicodeScalars) == Array("E\u{301}té".unicodeScalars))
    }

    @Test func appendingRowByRowMatchesMakingAtOnce() {
        var table = TrackTable(reservingCapacity: 1)
        for record in Self.records + Self.records { table.append(record) }
        table.shrinkToFit()
        #expect(Array(table) == Self.records + Self.records)
        #expect(TrackTable().isEmpty && TrackTable([TrackRecord]()).isEmpty)
    }
}
