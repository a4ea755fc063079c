import Foundation
import GRDB
import RetrieveCore

// The GRDB record layer: one Codable row type per table, its columns named once in `CodingKeys`. The public
// record types (`TrackRecord`, `ModelRecord`, `FailureRecord`) stay free of GRDB; these rows convert to and
// from them. Column meanings are documented in `Schema` and Index/README.md.

/// A row of `tracks`.
struct TrackRow: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "tracks"

    var id: Int64?
    var path: String
    var size: Int64
    var modificationTime: Double
    var contentHash: String
    var duration: Double
    var sampleRate: Int
    var channels: Int
    var format: String
    var title: String?
    var artist: String?
    var album: String?
    var genre: String?
    var label: String?
    var addedAt: Double
    var updatedAt: Double

    enum CodingKeys: String, CodingKey, ColumnExpression {
        case id, path, size, duration, channels, format, title, artist, album, genre, label
        case modificationTime = "mtime"
        case contentHash = "content_hash"
        case sampleRate = "sample_rate"
        case addedAt = "added_at"
        case updatedAt = "updated_at"
    }

    typealias Columns = CodingKeys

    /// A new row for `record` (its `id` is kept when set), added and updated at `now`.
    init(_ record: TrackRecord, now: Double) {
        id = record.id?.rawValue
        path = record.path
        size = record.size
        modificationTime = record.modificationTime
        contentHash = record.contentHash
        duration = record.duration
        sampleRate = record.sampleRate
        channels = record.channels
        format = record.format
        title = record.title
        artist = record.artist
        album = record.album
        genre = record.genre
        label = record.label
        addedAt = now
        updatedAt = now
    }

    /// Takes every field of `record` except the row id and `addedAt`, and marks the row updated at `now`.
    mutating func update(from record: TrackRecord, now: Double) {
        let kept = (id, addedAt)
        self = TrackRow(record, now: now)
        (id, addedAt) = kept
    }

    var record: TrackRecord {
        TrackRecord(
            id: id.map(TrackID.init), path: path, size: size, modificationTime: modificationTime,
            contentHash: contentHash, duration: duration, sampleRate: sampleRate, channels: channels, format: format,
            title: title, artist: artist, album: album, genre: genre, label: label)
    }

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A row of `models`.
struct ModelRow: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "models"

    var id: Int64?
    var name: String
    var digest: String
    var dimensions: Int
    /// The model's configuration (front end, layer sizes) as JSON; `{}` for models registered before builds
    /// that stored it.
    var configuration: String
    var createdAt: Double

    enum CodingKeys: String, CodingKey, ColumnExpression {
        case id, name, digest, dimensions, configuration
        case createdAt = "created_at"
    }

    typealias Columns = CodingKeys

    init(_ version: ModelVersion, configuration: String, createdAt: Double) {
        name = version.name
        digest = version.digest
        dimensions = version.dimensions
        self.configuration = configuration
        self.createdAt = createdAt
    }

    var version: ModelVersion { ModelVersion(name: name, digest: digest, dimensions: dimensions) }

    var record: ModelRecord {
        ModelRecord(id: id ?? 0, version: version, configurationJSON: configuration, createdAt: createdAt)
    }

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A row of `embeddings`: one model's pooled vector of one track, and the analysis that made it.
struct EmbeddingRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "embeddings"

    var trackID: Int64
    var modelID: Int64
    /// float32 little-endian (`VectorCodec`).
    var vector: Data
    var segmentCount: Int
    var createdAt: Double
    /// `FeatureConfiguration.analysisVersion` of the code that decoded and analysed the audio.
    var analysisVersion: Int
    /// The track's timbre profile, float32 little-endian; nil when the model made none.
    var timbre: Data?
    /// The kind of the track's `segment_embeddings` rows (identification front end version).
    var segmentVersion: Int

    enum CodingKeys: String, CodingKey, ColumnExpression {
        case vector, timbre
        case segmentVersion = "segment_version"
        case trackID = "track_id"
        case modelID = "model_id"
        case segmentCount = "segment_count"
        case createdAt = "created_at"
        case analysisVersion = "analysis_version"
    }

    typealias Columns = CodingKeys
}

/// A row of `segment_embeddings`: one segment's vector, in time order `index`.
struct SegmentRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "segment_embeddings"

    var trackID: Int64
    var modelID: Int64
    var index: Int
    var vector: Data

    enum CodingKeys: String, CodingKey, ColumnExpression {
        case vector
        case trackID = "track_id"
        case modelID = "model_id"
        case index = "idx"
    }

    typealias Columns = CodingKeys
}

/// A row of `failures`.
struct FailureRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "failures"

    var path: String
    var kind: String
    var reason: String
    var size: Int64
    var modificationTime: Double
    var failedAt: Double

    enum CodingKeys: String, CodingKey, ColumnExpression {
        case path, kind, reason, size
        case modificationTime = "mtime"
        case failedAt = "failed_at"
    }

    typealias Columns = CodingKeys

    init(_ record: FailureRecord) {
        path = record.path
        kind = record.kind
        reason = record.reason
        size = record.size
        modificationTime = record.modificationTime
        failedAt = record.failedAt
    }

    var record: FailureRecord {
        FailureRecord(
            path: path, kind: kind, reason: reason, size: size, modificationTime: modificationTime,
            failedAt: failedAt)
    }
}
