import Foundation
public import RetrieveCore
import VectorIndex
public import SimilaritySearch

// "More like this" by the embedding and timbre together: the hybrid `retrieve evaluate` measures as
// `model+timbre`, on an index whose model stores timbre profiles (`TimbreProfile`).
extension QueryEngine {
    /// How many evenly spaced rows give the spreads that put cosine and timbre on one scale when the pool is not
    /// every candidate.
    static let spreadSample = 256

    /// The stored timbre profiles of the tracks at `rows` that have one; none when they cannot be read (the
    /// query is then ranked by the embedding alone).
    func seedProfiles(rows: [Int]) -> [TimbreProfile] {
        guard !rows.isEmpty, let modelID,
            let stored = try? view.timbres(tracks: rows.map { catalog.ids[$0] }, model: modelID)
        else { return [] }
        return rows.compactMap { stored[catalog.ids[$0]].flatMap(TimbreProfile.init(packed:)) }
            .filter { !$0.isEmpty }
    }

    /// The `k` best of the embedding's nearest `timbrePool` candidates (all of them, for a smaller collection) by
    /// `TimbreSimilarity.mixed`: `(1 − timbreWeight) · z(cosine) + timbreWeight · z(timbre)`, where a candidate's
    /// timbre similarity is its mean `TimbreProfile.similarity` to the seeds' profiles, and each z standardises by
    /// the query's spread of that score over its candidates — over the pool itself when it holds every candidate,
    /// else over `spreadSample` evenly spaced rows. A candidate without a profile counts as the mean timbre. The
    /// scores are the hybrid's. Should the profiles not be readable, the cosine ranking stands.
    ///
    /// - Complexity: one embedding scan, then about 2 · (pool + sample) · (seeds + 1) Cholesky factorisations of
    ///   24 × 24 (a few milliseconds).
    func rankedWithTimbre(
        query: [Float], timbres: [TimbreProfile], k: Int, seedRows: Set<Int>, where include: @escaping (Int) -> Bool
    ) throws -> [Neighbour] {
        let poolSize = min(count, max(k, timbrePool))
        let pool = try nearest(to: query, k: poolSize, where: include)
        guard let modelID, !pool.isEmpty else { return Array(pool.prefix(k)) }
        // Fewer than asked means the filter left no more candidates: the pool is all of them.
        let exhaustive = pool.count < poolSize || poolSize == count
        let sample =
            exhaustive
            ? [] : stride(from: 0, to: count, by: max(1, count / Self.spreadSample)).filter { !seedRows.contains($0) }
        let rows = pool.map(\.index) + sample
        guard let stored = try? view.timbres(tracks: rows.map { catalog.ids[$0] }, model: modelID) else {
            return Array(pool.prefix(k))
        }
        func timbre(_ row: Int) -> Double {
            guard let values = stored[catalog.ids[row]], let profile = TimbreProfile(packed: values) else {
                return .nan
            }
            let found = timbres.map { $0.similarity(to: profile) }.filter(\.isFinite)
            return found.isEmpty ? .nan : found.reduce(0, +) / Double(found.count)
        }
        let cosines = pool.map { Double($0.score) }
        let similarities = pool.map { timbre($0.index) }
        let modelSpread: TimbreSimilarity.Spread?
        let timbreSpread: TimbreSimilarity.Spread?
        if exhaustive {
            (modelSpread, timbreSpread) = (.init(cosines), .init(similarities))
        } else {
            let seed = Embedding(unchecked: query)
            modelSpread = .init(sample.map { Double(seed.cosine(embedding(row: $0))) })
            timbreSpread = .init(sample.map(timbre))
        }
        var ranked: [Neighbour] = []
        for i in pool.indices {
            let score = TimbreSimilarity.mixed(
                model: cosines[i], timbre: similarities[i], modelSpread: modelSpread, timbreSpread: timbreSpread,
                weight: timbreWeight)
            ranked.append(Neighbour(index: pool[i].index, score: Float(score)))
        }
        ranked.sort { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
        return Array(ranked.prefix(k))
    }
}
