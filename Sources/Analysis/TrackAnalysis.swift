public import AudioDecoding
public import RetrieveCore
public import SimilaritySearch

/// What analysing one audio file yields: the decoder's description of the file (format, rates, tags) and
/// its embedding.
public struct TrackAnalysis: Sendable {
    /// The file as the decoder describes it: format, its own sample rate and channels, duration, tags.
    public var info: AudioFileInfo
    /// The track embedding: the normalised mean of its segment embeddings.
    public var embedding: Embedding
    /// How many segments were embedded to make `embedding`.
    public var segmentCount: Int
    /// The segment embeddings themselves, in time order, when the analyser keeps them (for identification by
    /// segment matching, `QueryEngine.identify`); empty otherwise.
    public var segments: [Embedding]
    /// The kind of `segments` (`IdentificationFrontEnd.version(for:)`), which the index stores beside them.
    public var segmentVersion: Int
    /// The track's timbre profile, when the model has a timbre reference set (`TimbreAnalysis`); nil otherwise.
    /// A track too short for a Gaussian has an empty profile, not nil, so that it is not analysed again.
    public var timbre: TimbreProfile?

    public init(
        info: AudioFileInfo, embedding: Embedding, segmentCount: Int, segments: [Embedding] = [],
        segmentVersion: Int = IdentificationFrontEnd.robustWindowsVersion, timbre: TimbreProfile? = nil
    ) {
        self.info = info
        self.embedding = embedding
        self.segmentCount = segmentCount
        self.segments = segments
        self.segmentVersion = segmentVersion
        self.timbre = timbre
    }
}

/// Something that turns an audio file into a `TrackAnalysis`.
///
/// An analyser owns per-thread state (FFT buffers, LSTM scratch space), so the indexer makes one per worker
/// and never shares one between threads. The error it throws becomes the file's one-line failure reason.
public protocol TrackAnalysing: AnyObject {
    /// The model whose embeddings this analyser produces.
    var modelVersion: ModelVersion { get }
    /// Whether `analyse` returns segment embeddings to store; the indexer then also re-analyses unchanged tracks
    /// that have none (indexed before without `--segments`).
    var keepsSegments: Bool { get }
    /// The kind of segment embeddings `analyse` returns (`IdentificationFrontEnd.version(for:)`); with
    /// `keepsSegments`, the indexer also re-analyses tracks whose stored segments are of another kind.
    var segmentVersion: Int { get }
    /// The model's configuration (front end, layer sizes) as JSON, stored with the model in the index.
    var modelConfigurationJSON: String { get }
    /// Whether `analyse` returns a timbre profile (the model has a timbre reference set); the indexer then also
    /// re-analyses tracks of this model stored without one.
    var makesTimbre: Bool { get }
    func analyse(path: String) throws -> TrackAnalysis
}

extension TrackAnalysing {
    public var keepsSegments: Bool { false }
    public var segmentVersion: Int { IdentificationFrontEnd.robustWindowsVersion }
    public var modelConfigurationJSON: String { "{}" }
    public var makesTimbre: Bool { false }
}

/// Why a file could not be analysed, as the index's failures table records it and evaluation reports it.
public struct AnalysisFailure: Error, Sendable {
    /// A short category for grouping failures: the error type's name without its module, e.g.
    /// "AudioDecodingError".
    public let kind: String
    /// The error's first line (decoder errors start with the path).
    public let reason: String

    public init(_ error: any Error) {
        kind = String(describing: type(of: error))
        let text = String(describing: error)
        reason = text.split(separator: "\n").first.map(String.init) ?? text
    }
}
