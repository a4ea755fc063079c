public import RetrieveCore

/// What analysing one audio file yields: its technical description, its tags and its embedding.
public struct TrackAnalysis: Sendable {
    /// Container/codec name as the decoder reports it, e.g. "FLAC" or "OGG/Vorbis".
    public var format: String
    /// The file's own sample rate in Hz (before resampling).
    public var sampleRate: Int
    /// The file's channel count (before mixing to mono).
    public var channels: Int
    /// Duration in seconds.
    public var duration: Double
    public var title: String?
    public var artist: String?
    public var album: String?
    public var genre: String?
    /// The track embedding: the normalised mean of its segment embeddings.
    public var embedding: Embedding
    /// How many segments were embedded to make `embedding`.
    public var segmentCount: Int
    /// The segment embeddings themselves, in time order, when the analyser keeps them (for identification by
    /// segment matching, `QueryEngine.identify`); empty otherwise.
    public var segments: [Embedding]

    public init(format: String, sampleRate: Int, channels: Int, duration: Double, title: String? = nil,
                artist: String? = nil, album: String? = nil, genre: String? = nil, embedding: Embedding,
                segmentCount: Int, segments: [Embedding] = []) {
        self.format = format
        self.sampleRate = sampleRate
        self.channels = channels
        self.duration = duration
        self.title = title
        self.artist = artist
        self.album = album
        self.genre = genre
        self.embedding = embedding
        self.segmentCount = segmentCount
        self.segments = segments
    }
}

/// Something that turns an audio file into a `TrackAnalysis`.
///
/// An analyser owns per-thread state (FFT buffers, LSTM scratch space), so the indexer makes one per worker
/// and never shares one between threads. The error it throws becomes the file's one-line failure reason.
public protocol TrackAnalysing: AnyObject {
    /// The model whose embeddings this analyser produces.
    var modelVersion: ModelVersion { get }
    func analyse(path: String) throws -> TrackAnalysis
}
