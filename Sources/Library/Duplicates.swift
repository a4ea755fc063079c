import Foundation
public import RetrieveCore
public import VectorIndex

/// What is known about one recording when deciding whether two tracks are the same recording.
public struct RecordingEvidence: Sendable {
    /// The file's content fingerprint (`ContentHash`); empty when unknown.
    public var contentHash: String
    public var artist: String?
    public var title: String?
    /// Seconds actually decoded; 0 when unknown.
    public var duration: Double
    /// The track's style embedding.
    public var embedding: Embedding
    /// The track's segment embeddings in time order, where the index keeps them (`index --segments`); else empty.
    public var segments: [Embedding]

    public init(
        contentHash: String, artist: String?, title: String?, duration: Double, embedding: Embedding,
        segments: [Embedding] = []
    ) {
        self.contentHash = contentHash
        self.artist = artist
        self.title = title
        self.duration = duration
        self.embedding = embedding
        self.segments = segments
    }

    /// The evidence an indexed track carries.
    public init(track: TrackRecord, embedding: Embedding, segments: [Embedding] = []) {
        self.init(
            contentHash: track.contentHash, artist: track.artist, title: track.title, duration: track.duration,
            embedding: embedding, segments: segments)
    }
}

/// Decides whether two tracks are the same recording, for `retrieve similar --dedupe`: the one place that does.
///
/// Two tracks are the same recording when any of these holds:
/// 1. **the same bytes**: equal content fingerprints (a copy at another path);
/// 2. **the same tags**: the same artist and title after `nameKey`'s normalisation (case, accents, width,
///    punctuation, whitespace, "feat." credits, a leading "The" on the artist), with lengths that agree to within
///    10 s or 5 % (so an "Intro" on two albums of one artist is not merged when the two differ in length);
/// 3. **the same sound, the same length**: decoded durations within 1 s *and* style-embedding cosine at least
///    `similarity`; where both tracks keep segment embeddings, their time-aligned segments must also agree on
///    average at least as well, moment by moment and not only in overall style.
///
/// The style embedding's cosine alone never decides: different pieces of one soundtrack often reach 0.995 with the
/// shipped model, and pieces of one loop length share a duration too, which is why rule 3 asks for both and
/// defaults to 0.999.
public struct DuplicateRule: Sendable, Equatable {
    /// The default for `similarity`.
    public static let defaultSimilarity: Float = 0.999
    /// Rule 3's largest difference in decoded duration, in seconds.
    public static let durationTolerance = 1.0

    /// Rule 3's smallest style cosine (and mean aligned segment cosine), in [0, 1].
    public var similarity: Float

    public init(similarity: Float = DuplicateRule.defaultSimilarity) { self.similarity = similarity }

    /// Whether `a` and `b` are the same recording (see the rules above). Symmetric.
    ///
    /// - Complexity: O(d) without segments; O(s·d) with s aligned segments of d dimensions.
    public func sameRecording(_ a: RecordingEvidence, _ b: RecordingEvidence) -> Bool {
        if !a.contentHash.isEmpty && a.contentHash == b.contentHash { return true }
        if let key = Self.nameKey(artist: a.artist, title: a.title),
            key == Self.nameKey(artist: b.artist, title: b.title),
            Self.lengthsAgreeLoosely(a.duration, b.duration)
        {
            return true
        }
        guard a.duration > 0, b.duration > 0, abs(a.duration - b.duration) <= Self.durationTolerance,
            a.embedding.cosine(b.embedding) >= similarity
        else { return false }
        guard !a.segments.isEmpty, !b.segments.isEmpty else { return true }
        guard abs(a.segments.count - b.segments.count) <= 1 else { return false }
        let aligned = zip(a.segments, b.segments).map { Double($0.cosine($1)) }
        return aligned.reduce(0, +) / Double(aligned.count) >= Double(similarity)
    }

    /// Rule 2's length check: within 10 s or 5 % of the longer; true when either length is unknown.
    static func lengthsAgreeLoosely(_ a: Double, _ b: Double) -> Bool {
        guard a > 0, b > 0 else { return true }
        return abs(a - b) <= max(10, 0.05 * max(a, b))
    }

    /// Artist and title as a person reads them, or nil when either is missing: "The Beatles" and "beatles",
    /// "Song (feat. X)" and "song", "Beyoncé" and "BEYONCE", "AC/DC" and "ACDC", "T.N.T." and "TNT", "Simon & Garfunkel" and
    /// "Simon and Garfunkel" are one key. Version words ("Live", "Remix", "Remastered") are kept: a live take is
    /// another recording.
    public static func nameKey(artist: String?, title: String?) -> String? {
        guard let artist, let title else { return nil }
        var a = normalise(artist)
        let t = normalise(title)
        if a.hasPrefix("the ") { a.removeFirst(4) }
        guard !a.isEmpty, !t.isEmpty else { return nil }
        // Word breaks go too: "T.N.T." and "TNT", "AC/DC" and "ACDC" are spelt both ways.
        return a.replacingOccurrences(of: " ", with: "") + "\u{1F}" + t.replacingOccurrences(of: " ", with: "")
    }

    private static let featuringInBrackets = try! NSRegularExpression(
        pattern: #"\s*[(\[{]\s*(feat|ft|featuring|with)\b[^)\]}]*[)\]}]"#, options: [.caseInsensitive])
    private static let featuringAfter = try! NSRegularExpression(
        pattern: #"\s+(feat|ft|featuring)\b.*$"#, options: [.caseInsensitive])
    private static let notWordCharacters = try! NSRegularExpression(pattern: #"[^\p{L}\p{N}]+"#)

    static func normalise(_ text: String) -> String {
        var s = text.precomposedStringWithCompatibilityMapping
            .folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: nil)
        func replace(_ pattern: NSRegularExpression, with template: String) {
            s = pattern.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: template)
        }
        replace(featuringInBrackets, with: "")
        replace(featuringAfter, with: "")
        s = s.replacingOccurrences(of: "&", with: " and ")
        replace(notWordCharacters, with: " ")
        return s.trimmingCharacters(in: .whitespaces)
    }
}
