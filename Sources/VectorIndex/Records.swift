public import Foundation
public import RetrieveCore

/// One analysed audio file as stored in the `tracks` table.
///
/// `path` is the identity of a track (unique); `contentHash` recognises the same bytes under a new path
/// (see `ContentHash`). `size`, `modificationTime` and `contentHash` describe the file when it was analysed,
/// so the indexer can tell an unchanged file from a modified one without decoding it.
public struct TrackRecord: Sendable, Equatable, Hashable {
    /// The row id; `nil` for a track not yet committed.
    public var id: TrackID?
    /// The file's path as the indexer normalised it (absolute, standardised).
    public var path: String
    /// File size in bytes.
    public var size: Int64
    /// File modification time, seconds since 1970-01-01 UTC.
    public var modificationTime: Double
    /// `ContentHash` of the file's bytes.
    public var contentHash: String
    /// Decoded duration in seconds.
    public var duration: Double
    /// The file's own sample rate in Hz (before resampling to the analysis rate).
    public var sampleRate: Int
    /// The file's own channel count (before mixing to mono).
    public var channels: Int
    /// Container or codec name, lower case (`wav`, `flac`, `ogg`, `opus`, `mp3`).
    public var format: String
    public var title: String?
    public var artist: String?
    public var album: String?
    public var genre: String?
    /// A class label for evaluation (e.g. a genre from a labelled corpus); `nil` for ordinary libraries.
    public var label: String?

    public init(
        id: TrackID? = nil, path: String, size: Int64, modificationTime: Double, contentHash: String,
        duration: Double, sampleRate: Int, channels: Int, format: String, title: String? = nil,
        artist: String? = nil, album: String? = nil, genre: String? = nil, label: String? = nil
    ) {
        self.id = id
        self.path = path
        self.size = size
        self.modificationTime = modificationTime
        self.contentHash = contentHash
        self.duration = duration
        self.sampleRate = sampleRate
        self.channels = channels
        self.format = format
        self.title = title
        self.artist = artist
        self.album = album
        self.genre = genre
        self.label = label
    }
}

/// A registered embedding model as stored in the `models` table.
public struct ModelRecord: Sendable, Equatable, Hashable {
    /// The row id that embeddings refer to.
    public var id: Int64
    /// Name, weights digest and embedding size.
    public var version: ModelVersion
    /// The model's configuration (feature front end, layer sizes) as JSON, kept for reports and audits; `{}`
    /// when it was registered by a build that did not store it.
    public var configurationJSON: String
    /// When the model was first registered in this index, seconds since 1970.
    public var createdAt: Double

    public init(id: Int64, version: ModelVersion, configurationJSON: String, createdAt: Double) {
        self.id = id
        self.version = version
        self.configurationJSON = configurationJSON
        self.createdAt = createdAt
    }
}

/// A registered model and how many tracks have an embedding from it.
public struct ModelUsage: Sendable, Equatable {
    public var model: ModelRecord
    public var embeddingCount: Int

    public init(model: ModelRecord, embeddingCount: Int) {
        self.model = model
        self.embeddingCount = embeddingCount
    }
}

/// A file that could not be analysed, as stored in the `failures` table.
///
/// Kept so that `retrieve index` does not retry an unchanged broken file on every run (same size and
/// modification time → skip) and so that the user can list what was left out and why.
public struct FailureRecord: Sendable, Equatable, Hashable {
    public var path: String
    /// A short machine category for grouping (`decode`, `too-short`, `unsupported`, …).
    public var kind: String
    /// The error's one-line description.
    public var reason: String
    /// File size in bytes when it failed.
    public var size: Int64
    /// File modification time when it failed, seconds since 1970.
    public var modificationTime: Double
    /// When it failed, seconds since 1970.
    public var failedAt: Double

    public init(
        path: String, kind: String = "error", reason: String, size: Int64, modificationTime: Double,
        failedAt: Double = Date().timeIntervalSince1970
    ) {
        self.path = path
        self.kind = kind
        self.reason = reason
        self.size = size
        self.modificationTime = modificationTime
        self.failedAt = failedAt
    }
}

/// A unit of indexing work committed in one transaction: analysed tracks with their embeddings, and failures.
///
/// A kill or crash loses at most the batch in flight; everything committed before stays consistent.
public struct IndexBatch: Sendable {
    /// One model's embedding of a track.
    public struct ModelEmbedding: Sendable {
        /// The `models` row id (from `IndexStore.register(model:configurationJSON:)`).
        public var modelID: Int64
        /// The pooled track embedding.
        public var embedding: Embedding
        /// How many segments were pooled into it.
        public var segmentCount: Int
        /// The per-segment embeddings, if the caller wants them stored (empty: keep none).
        public var segments: [Embedding]
        /// The kind of `segments` (the identification front end's version, `Analysis.IdentificationFrontEnd`),
        /// stored so that segments of another kind are remade rather than matched against a query's; without
        /// segments it is kept but means nothing. 1 by default: the robust windows, the kind of every segment
        /// stored before kinds were recorded.
        public var segmentVersion: Int
        /// The version of the analysis (decoding, resampling, front end) that made these vectors; the index
        /// stores it so that `IndexStore.tracksNeedingEmbedding(model:analysisVersion:)` finds stale ones.
        public var analysisVersion: Int
        /// The track's timbre profile as stored (`SimilaritySearch.TimbreProfile.packed`), when the model makes
        /// one; the index keeps the values as they are.
        public var timbre: [Float]?

        public init(
            modelID: Int64, embedding: Embedding, segmentCount: Int, segments: [Embedding] = [],
            segmentVersion: Int = 1, analysisVersion: Int = FeatureConfiguration.analysisVersion, timbre: [Float]? = nil
        ) {
            self.modelID = modelID
            self.embedding = embedding
            self.segmentCount = segmentCount
            self.segments = segments
            self.segmentVersion = segmentVersion
            self.analysisVersion = analysisVersion
            self.timbre = timbre
        }
    }

    /// A track to insert or update (matched by path) and its embeddings.
    public struct Item: Sendable {
        public var track: TrackRecord
        public var embeddings: [ModelEmbedding]
        public init(track: TrackRecord, embeddings: [ModelEmbedding]) {
            self.track = track
            self.embeddings = embeddings
        }
    }

    public var items: [Item]
    public var failures: [FailureRecord]

    public init(items: [Item] = [], failures: [FailureRecord] = []) {
        self.items = items
        self.failures = failures
    }

    public var isEmpty: Bool { items.isEmpty && failures.isEmpty }
}

/// Counts and sizes of an index, for `retrieve stats`.
public struct IndexStatistics: Sendable, Equatable {
    public var trackCount: Int
    public var failureCount: Int
    /// Sum of track durations in seconds.
    public var totalDuration: Double
    /// Every registered model with its embedding count, oldest first.
    public var models: [ModelUsage]
    /// Bytes of the database file plus its write-ahead log (in PostgreSQL: the database's size on disk).
    public var databaseBytes: Int64

    public init(trackCount: Int, failureCount: Int, totalDuration: Double, models: [ModelUsage], databaseBytes: Int64) {
        self.trackCount = trackCount
        self.failureCount = failureCount
        self.totalDuration = totalDuration
        self.models = models
        self.databaseBytes = databaseBytes
    }
}
