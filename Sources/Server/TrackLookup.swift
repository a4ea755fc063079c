import Library
import VectorIndex

/// The row of each indexed path: an open-addressing table of row numbers keyed by the path's hash, the paths
/// themselves compared in `tracks` (shared with the query engine, not copied).
///
/// A `[String: Int]` of a million paths costs about 48 MB (2²¹ buckets of key and value); this table 8 MB
/// (2²¹ slots of `Int32`, at most half full), which counts when the server must hold the whole library.
struct PathTable: Sendable {
    private let tracks: TrackTable
    /// Row + 1 of the path hashed to each slot; 0 marks an empty slot.
    private let slots: [Int32]
    private let mask: Int

    /// - Complexity: O(tracks), hashing every path once.
    init(_ tracks: TrackTable) {
        precondition(tracks.count < Int(Int32.max), "a path table holds at most \(Int32.max) tracks")
        var capacity = 16
        while capacity < 2 * tracks.count { capacity <<= 1 }
        var slots = [Int32](repeating: 0, count: capacity)
        let mask = capacity - 1
        for row in tracks.indices {
            var slot = tracks.path(at: row).hashValue & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(row + 1)
        }
        self.tracks = tracks
        self.slots = slots
        self.mask = mask
    }

    /// `row(of:)`, spelled as the dictionary it replaces.
    subscript(_ path: String) -> Int? { row(of: path) }

    /// The row of the track indexed at `path` (compared as `String`s are: canonically equivalent spellings match).
    ///
    /// - Complexity: O(1) expected.
    func row(of path: String) -> Int? {
        var slot = path.hashValue & mask
        while slots[slot] != 0 {
            let row = Int(slots[slot]) - 1
            if tracks.path(at: row) == path { return row }
            slot = (slot + 1) & mask
        }
        return nil
    }
}

/// Free-text search over the tracks' path, artist, title and album, straight from the engine's `TrackTable`: no
/// lower-cased copy of the library is kept (it would cost about 140 bytes per track), and ASCII fields are read
/// in place, without making a string.
enum TrackSearch {
    /// Whether `phrase` (lower case) occurs where a word starts in the track's path, artist, title or album,
    /// ignoring case: "song 3" finds "Song 3" but not ".../A3/song.wav"'s "3".
    static func matches(_ track: TrackRecord, _ phrase: Phrase) -> Bool {
        matches(TrackTable([track]), row: 0, phrase)
    }

    /// `matches(tracks[row], phrase)`, read from the table's bytes.
    static func matches(_ tracks: TrackTable, row: Int, _ phrase: Phrase) -> Bool {
        searched.contains { field in
            tracks.withUTF8(field, row: row) { matches(utf8: $0, phrase) } == true
        }
    }

    /// The fields a phrase is looked for in.
    private static let searched: [TrackTable.Field] = [.path, .artist, .title, .album]

    /// A search phrase, lower case, with its UTF-8 bytes for the ASCII fast path.
    struct Phrase {
        let text: String
        let bytes: [UInt8]
        init(_ text: String) {
            self.text = text
            bytes = Array(text.utf8)
        }
    }

    /// One field given as its UTF-8 bytes: ASCII text is compared byte by byte, folding case on the fly; anything
    /// else through `String.lowercased()`, as Unicode has it.
    private static func matches(utf8 field: UnsafeBufferPointer<UInt8>, _ phrase: Phrase) -> Bool {
        if field.allSatisfy({ $0 < 0x80 }) {
            return phrase.bytes.withUnsafeBufferPointer { asciiMatch(field, $0) }
        }
        return containsAtWordStart(String(decoding: field, as: UTF8.self).lowercased(), phrase.text)
    }

    /// `asciiMatch` for ASCII `text`: `phrase` at a word start, `text` folded to lower case.
    private static func asciiMatch(_ text: UnsafeBufferPointer<UInt8>, _ phrase: UnsafeBufferPointer<UInt8>) -> Bool {
        let m = phrase.count, n = text.count
        guard m > 0 else { return true }
        guard m <= n else { return false }
        let first = phrase[0]
        var i = 0
        while i <= n - m {
            if lower(text[i]) == first, i == 0 || !isAlphanumeric(text[i - 1]) {
                var j = 1
                while j < m, lower(text[i + j]) == phrase[j] { j += 1 }
                if j == m { return true }
            }
            i += 1
        }
        return false
    }

    @inline(__always) private static func lower(_ c: UInt8) -> UInt8 { c &- 65 < 26 ? c | 0x20 : c }

    @inline(__always) private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (c | 0x20) &- 97 < 26 || c &- 48 < 10
    }

    /// Whether `phrase` occurs in `text` where a word starts (at the start, or after a character that is not a
    /// letter or digit).
    static func containsAtWordStart(_ text: String, _ phrase: String) -> Bool {
        var searchStart = text.startIndex
        while let found = text.range(of: phrase, range: searchStart..<text.endIndex) {
            if found.lowerBound == text.startIndex { return true }
            let before = text[text.index(before: found.lowerBound)]
            if !before.isLetter && !before.isNumber { return true }
            searchStart = text.index(after: found.lowerBound)
        }
        return false
    }
}
