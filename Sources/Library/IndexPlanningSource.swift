import Foundation
public import RetrieveCore
public import VectorIndex
public import PostgresIndex

/// What `Indexer`'s plan reads from an index: an SQLite `IndexStore`, or a `PlanningSnapshot` read from PostgreSQL
/// in the planning transaction. One plan serves both, so both backends decide alike what to add, re-analyse, move,
/// skip or prune.
public protocol IndexPlanningSource {
    func embeddingModels() throws -> [ModelUsage]
    /// Tracks without `model`'s embedding made by analysis version `analysisVersion`, by id.
    func tracksNeedingEmbedding(model: Int64, analysisVersion: Int) throws -> [TrackRecord]
    func allTracks() throws -> [TrackRecord]
    /// Tracks with stored segment embeddings of kind `version` by `model`.
    func tracksWithSegments(model: Int64, version: Int) throws -> Set<TrackID>
    /// Tracks whose embedding by `model` carries a timbre profile.
    func tracksWithTimbre(model: Int64) throws -> Set<TrackID>
    func failures() throws -> [FailureRecord]
    func track(path: String) throws -> TrackRecord?
    func tracks(withContentHash hash: String) throws -> [TrackRecord]
    /// Whether `path` waits in a shared work queue already (queued by another worker's plan).
    func isQueued(_ path: String) -> Bool
}

extension IndexPlanningSource {
    public func isQueued(_ path: String) -> Bool { false }
}

extension IndexStore: IndexPlanningSource {}

extension PlanningSnapshot: IndexPlanningSource {
    public func embeddingModels() -> [ModelUsage] { models }

    public func tracksNeedingEmbedding(model: Int64, analysisVersion: Int) -> [TrackRecord] {
        let versions = embeddings[model] ?? [:]
        return allTracks().filter { versions[$0.id!] != analysisVersion }
    }

    public func allTracks() -> [TrackRecord] {
        tracksByPath.values.sorted { $0.id! < $1.id! }
    }

    public func tracksWithSegments(model: Int64, version: Int) -> Set<TrackID> {
        Set((segments[model] ?? [:]).filter { $0.value == version }.keys)
    }

    public func tracksWithTimbre(model: Int64) -> Set<TrackID> { timbres[model] ?? [] }

    public func failures() -> [FailureRecord] { failureRows }

    public func track(path: String) -> TrackRecord? { tracksByPath[path] }

    public func tracks(withContentHash hash: String) -> [TrackRecord] {
        (tracksByHash[hash] ?? []).sorted { $0.id! < $1.id! }
    }

    public func isQueued(_ path: String) -> Bool { queued.contains(path) }
}
