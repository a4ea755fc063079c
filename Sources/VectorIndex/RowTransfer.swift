public import Foundation
public import RetrieveCore

// The rows of an index exactly as stored, for copying an index to another database (`retrieve migrate`): ids,
// times and vector bytes are kept as they are, so that a copy is the same index, not a re-indexed one.

/// A `tracks` row as stored: the record (with its id) and the times the index keeps about it.
public struct StoredTrack: Sendable, Equatable {
    /// The track; `record.id` is always set.
    public var record: TrackRecord
    /// When the track was first added, seconds since 1970.
    public var addedAt: Double
    /// When the track's row was last changed, seconds since 1970.
    public var updatedAt: Double

    public init(record: TrackRecord, addedAt: Double, updatedAt: Double) {
        self.record = record
        self.addedAt = addedAt
        self.updatedAt = updatedAt
    }
}

/// An `embeddings` row as stored: one model's pooled vector of one track, its bytes untouched.
public struct StoredEmbedding: Sendable, Equatable {
    public var trackID: Int64
    public var modelID: Int64
    /// float32 little-endian, dimensions × 4 bytes (`VectorCodec`'s layout), as stored.
    public var vector: Data
    public var segmentCount: Int
    public var createdAt: Double
    /// `FeatureConfiguration.analysisVersion` of the analysis that made the vector.
    public var analysisVersion: Int
    /// The timbre profile's float32 little-endian bytes as stored, or nil.
    public var timbre: Data?
    /// The kind of the track's segment rows by this model (identification front end version).
    public var segmentVersion: Int

    public init(
        trackID: Int64, modelID: Int64, vector: Data, segmentCount: Int, createdAt: Double, analysisVersion: Int,
        timbre: Data? = nil, segmentVersion: Int
    ) {
        self.trackID = trackID
        self.modelID = modelID
        self.vector = vector
        self.segmentCount = segmentCount
        self.createdAt = createdAt
        self.analysisVersion = analysisVersion
        self.timbre = timbre
        self.segmentVersion = segmentVersion
    }

    /// The position of this row in the order rows are copied and checksummed: (track, model).
    public var key: EmbeddingKey { EmbeddingKey(trackID: trackID, modelID: modelID) }
}

/// A `segment_embeddings` row as stored: one segment's vector, in time order `index`.
public struct StoredSegment: Sendable, Equatable {
    public var trackID: Int64
    public var modelID: Int64
    public var index: Int
    /// float32 little-endian, as stored.
    public var vector: Data

    public init(trackID: Int64, modelID: Int64, index: Int, vector: Data) {
        self.trackID = trackID
        self.modelID = modelID
        self.index = index
        self.vector = vector
    }

    /// The position of this row in copy order: (track, model, index).
    public var key: SegmentKey { SegmentKey(trackID: trackID, modelID: modelID, index: index) }
}

/// Where a keyset-paged read of `embeddings` continues: rows strictly after (track, model).
public struct EmbeddingKey: Sendable, Equatable {
    public var trackID: Int64
    public var modelID: Int64
    public init(trackID: Int64, modelID: Int64) {
        self.trackID = trackID
        self.modelID = modelID
    }
    /// Before every row.
    public static let start = EmbeddingKey(trackID: .min, modelID: .min)
}

/// Where a keyset-paged read of `segment_embeddings` continues: rows strictly after (track, model, index).
public struct SegmentKey: Sendable, Equatable {
    public var trackID: Int64
    public var modelID: Int64
    public var index: Int
    public init(trackID: Int64, modelID: Int64, index: Int) {
        self.trackID = trackID
        self.modelID = modelID
        self.index = index
    }
    /// Before every row.
    public static let start = SegmentKey(trackID: .min, modelID: .min, index: .min)
}

/// Rows of several tables written to a destination in one transaction, parents before children.
public struct RowBatch: Sendable {
    public var models: [ModelRecord] = []
    public var tracks: [StoredTrack] = []
    public var embeddings: [StoredEmbedding] = []
    public var segments: [StoredSegment] = []
    public var failures: [FailureRecord] = []

    public init(
        models: [ModelRecord] = [], tracks: [StoredTrack] = [], embeddings: [StoredEmbedding] = [],
        segments: [StoredSegment] = [], failures: [FailureRecord] = []
    ) {
        self.models = models
        self.tracks = tracks
        self.embeddings = embeddings
        self.segments = segments
        self.failures = failures
    }

    public var rowCount: Int { models.count + tracks.count + embeddings.count + segments.count + failures.count }
}

/// How many rows each table of an index holds.
public struct RowCounts: Sendable, Equatable, CustomStringConvertible {
    public var models = 0
    public var tracks = 0
    public var embeddings = 0
    public var segments = 0
    public var failures = 0

    public init(models: Int = 0, tracks: Int = 0, embeddings: Int = 0, segments: Int = 0, failures: Int = 0) {
        self.models = models
        self.tracks = tracks
        self.embeddings = embeddings
        self.segments = segments
        self.failures = failures
    }

    public var total: Int { models + tracks + embeddings + segments + failures }

    /// "3 tracks, 1 model, 3 embeddings, 0 segment vectors, 0 failures".
    public var description: String {
        func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
        return [
            count(tracks, "track"), count(models, "model"), count(embeddings, "embedding"),
            count(segments, "segment vector"), count(failures, "failure"),
        ].joined(separator: ", ")
    }
}
