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
    /// hybrid's best `SharedNeighbours.members` are then re-ranked by the neighbours they share with the query
    /// (`SharedNeighbours`, unless `neighbourWeight` is 0), their hybrid with each other on the query's scale.
    /// The scores are the hybrid's, so moved. Should the profiles not be readable, the cosine ranking stands.
    ///
    /// `timbreShares`, when given (one per profile of `timbres`), weigh the profiles in a candidate's timbre
    /// similarity, which is then their weighted mean (over the finite ones); equal otherwise.
    ///
    /// - Complexity: one embedding scan, then about 2 · (pool + sample) · (seeds + 1) Cholesky factorisations of
    ///   24 × 24 (a few milliseconds), and 2 · 4 950 for the members' pairs, spread over the cores.
    func rankedWithTimbre(
        query: [Float], timbres: [TimbreProfile], timbreShares: [Double]? = nil, k: Int, seedRows: Set<Int>,
        where include: @escaping (Int) -> Bool
    ) throws -> [Neighbour] {
        let pool = try nearest(to: query, k: timbrePoolSize(k: k), where: include)
        return rankedWithTimbre(
            pool: pool, query: query, timbres: timbres, timbreShares: timbreShares, k: k, seedRows: seedRows)
    }

    /// How many of the embedding's nearest candidates `rankedWithTimbre` ranks for a query of `k` results.
    func timbrePoolSize(k: Int) -> Int { min(count, max(k, timbrePool)) }

    /// `rankedWithTimbre(query:timbres:timbreShares:k:seedRows:where:)` given the pool: the embedding's nearest
    /// `timbrePoolSize(k:)` candidates of `query` (fewer when the filter left no more), best first, their scores
    /// the cosines. An export finds a block of seeds' pools with one matrix product and ranks each here, one
    /// indexed seed (`pairs.seed`) at a time, remembering the timbre similarities in `pairs.cache` for the others
    /// and reading and decoding profiles only for the pairs not remembered there.
    func rankedWithTimbre(
        pool: [Neighbour], query: [Float], timbres: [TimbreProfile], timbreShares: [Double]? = nil, k: Int,
        seedRows: Set<Int>, pairs: (cache: TimbrePairs, seed: Int)? = nil
    ) -> [Neighbour] {
        precondition(timbreShares.map { $0.count == timbres.count } ?? true, "one share per timbre profile")
        // What the memory holds is a pair's similarity: a query's timbre is that only for one seed's profile.
        precondition(pairs == nil || (timbres.count == 1 && timbreShares == nil), "a memory of pairs needs one seed")
        let poolSize = timbrePoolSize(k: k)
        guard let modelID, !pool.isEmpty else { return Array(pool.prefix(k)) }
        // Fewer than asked means the filter left no more candidates: the pool is all of them.
        let exhaustive = pool.count < poolSize || poolSize == count
        let sample =
            exhaustive
            ? [] : stride(from: 0, to: count, by: max(1, count / Self.spreadSample)).filter { !seedRows.contains($0) }
        let rows = pool.map(\.index) + sample
        // With an export's memory, the similarities to the seed it holds now, and only the other rows' profiles read.
        var remembered: [Int: Double] = [:]
        if let pairs {
            for row in rows { if let known = pairs.cache.cached(pairs.seed, row) { remembered[row] = known } }
        }
        let unread = remembered.isEmpty ? rows : rows.filter { remembered[$0] == nil }
        guard
            var stored = unread.isEmpty
                ? [:] : try? view.timbres(tracks: unread.map { catalog.ids[$0] }, model: modelID)
        else {
            return Array(pool.prefix(k))
        }
        let read = Set(unread)
        func timbre(_ profile: TimbreProfile?) -> Double {
            guard let profile else { return .nan }
            if let timbreShares {
                let found = zip(timbres, timbreShares).map { ($0.similarity(to: profile), $1) }.filter(\.0.isFinite)
                let total = found.reduce(0) { $0 + $1.1 }
                return found.isEmpty || total <= 0 ? .nan : found.reduce(0) { $0 + $1.0 * $1.1 } / total
            }
            let found = timbres.map { $0.similarity(to: profile) }.filter(\.isFinite)
            return found.isEmpty ? .nan : found.reduce(0, +) / Double(found.count)
        }
        // Each profile decoded as it is scored (holding all of them decoded costs more than decoding again).
        func timbre(row: Int) -> Double {
            if let known = remembered[row] { return known }
            let value = timbre(profile(row: row, stored))
            pairs?.cache.remember(pairs!.seed, row, value)
            return value
        }
        let cosines = pool.map { Double($0.score) }
        let similarities = pool.map { timbre(row: $0.index) }
        let modelSpread: TimbreSimilarity.Spread?
        let timbreSpread: TimbreSimilarity.Spread?
        if exhaustive {
            (modelSpread, timbreSpread) = (.init(cosines), .init(similarities))
        } else {
            let seed = Embedding(unchecked: query)
            modelSpread = .init(sample.map { Double(seed.cosine(embedding(row: $0))) })
            timbreSpread = .init(sample.map { timbre(row: $0) })
        }
        let weight = timbreWeight
        let mix: @Sendable (Double, Double) -> Double = { cosine, timbre in
            TimbreSimilarity.mixed(
                model: cosine, timbre: timbre, modelSpread: modelSpread, timbreSpread: timbreSpread, weight: weight)
        }
        // Best first, ties by row.
        let before = { (a: Candidate, b: Candidate) in
            a.score > b.score || (a.score == b.score && pool[a.position].index < pool[b.position].index)
        }
        var ranked = pool.indices.map { Candidate(position: $0, score: mix(cosines[$0], similarities[$0])) }
        ranked.sort(by: before)
        if neighbourWeight != 0 {
            // The best members re-ranked by the neighbours they share with the query, the members' mutual hybrid
            // on the query's scale (its spreads).
            let members = Array(ranked.prefix(SharedNeighbours.members))
            let rows = members.map { pool[$0.position].index }
            let vectors = rows.map { embedding(row: $0) }
            let m = members.count
            // The members' timbre similarities, each pair once: remembered by an export, or computed (and then
            // remembered) from the profiles, which are read and decoded only for pairs not remembered.
            var known = [Double?](repeating: nil, count: m * m)
            if let cache = pairs?.cache {
                for i in 0..<m { for j in (i + 1)..<m { known[i * m + j] = cache.cached(rows[i], rows[j]) } }
            }
            // The profiles of members in a pair not remembered, read (if not yet) and decoded once each.
            var needed = Set<Int>()
            for i in 0..<m { for j in (i + 1)..<m where known[i * m + j] == nil { needed.formUnion([i, j]) } }
            let missing = needed.map { rows[$0] }.filter { !read.contains($0) }
            if !missing.isEmpty {
                guard let more = try? view.timbres(tracks: missing.map { catalog.ids[$0] }, model: modelID) else {
                    return Array(pool.prefix(k))
                }
                stored.merge(more) { a, _ in a }
            }
            let readable = stored
            let profiles = (0..<m).map { needed.contains($0) ? profile(row: rows[$0], readable) : nil }
            let (remembered, cache) = (known, pairs?.cache)
            let pairwise = Pairwise.matrix(rows: m, columns: m, symmetric: true) { i, j in
                let timbre: Double
                if let known = remembered[i * m + j] {
                    timbre = known
                } else {
                    timbre = profiles[i].flatMap { a in profiles[j].map { a.similarity(to: $0) } } ?? .nan
                    cache?.remember(rows[i], rows[j], timbre)
                }
                return mix(Double(vectors[i].cosine(vectors[j])), timbre)
            }
            let adjusted = SharedNeighbours.adjusted(
                scores: members.map(\.score), pairwise: pairwise, weight: neighbourWeight)
            for i in members.indices { ranked[i].score = adjusted[i] }
            ranked.sort(by: before)
        }
        return ranked.prefix(k).map { Neighbour(index: pool[$0.position].index, score: Float($0.score)) }
    }

    /// The next track of a radio (`Playlists.radio` through `playlistSource`): the best eligible track for the
    /// step by the mix `search` ranks with — the cosine with the step's direction `c + last` and the timbre
    /// similarity to the seeds' profiles and the last track's, half each as in the direction (the seeds' half
    /// shared equally among them), then shared neighbours. Without profiles (or with `timbreWeight` 0), or
    /// should the index not be readable, the eligible track with the highest cosine, as without a ranker.
    public func radioNext(_ step: RadioStep) -> Int? {
        let cosineBest = { self.collection.nearest(to: step.target, k: 1, where: step.eligible).first?.index }
        let direction = Embedding(normalising: step.target)
        guard timbreWeight != 0, direction.values.contains(where: { $0 != 0 }) else { return cosineBest() }
        let anchor = seedProfiles(rows: step.seeds)
        let last = seedProfiles(rows: [step.last])
        guard !anchor.isEmpty || !last.isEmpty else { return cosineBest() }
        let shares = anchor.map { _ in 0.5 / Double(anchor.count) } + last.map { _ in 0.5 }
        guard
            let ranked = try? rankedWithTimbre(
                query: direction.values, timbres: anchor + last, timbreShares: shares, k: 1,
                seedRows: Set(step.seeds + [step.last]), where: step.eligible)
        else { return cosineBest() }
        return ranked.first?.index
    }

    /// A candidate of the pool by its position there, with its score.
    private struct Candidate {
        var position: Int
        var score: Double
    }

    /// The stored timbre profile of the track at `row` among `stored`; nil when it has none or it does not decode.
    private func profile(row: Int, _ stored: [TrackID: [Float]]) -> TimbreProfile? {
        stored[catalog.ids[row]].flatMap(TimbreProfile.init(packed:))
    }
}
