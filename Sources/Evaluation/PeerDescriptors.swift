import Foundation
import LinearAlgebra
public import RetrieveCore
import SequenceEncoding
public import Training
import SimilaritySearch

/// Other tools' descriptions of an evaluation collection's items, made outside retrieve (`bench/quality`:
/// Musly, MusiCNN) and scored here by the same metrics as our model, on the same items.
///
/// A peers folder holds one `NAME.npy` per system and a `manifest.json`. A system is either an
/// **embedding** (`N × d` floats, one row per item; scored like the baselines: z-scored per dimension over the
/// items being scored, then cosine) or a **similarity** matrix (`N × N`, larger = more similar, used as it is).
/// The manifest's `systems.NAME.kind` says which (`"embedding"` or `"similarity"`); without it a square matrix
/// is taken as similarities. Rows are in the order of the collection's CSV; a row of NaN marks an item the
/// tool could not describe (Musly makes a NaN model of a near-silent clip): that item is left out of the
/// system's scoring, so its distances cannot poison the others, and the count is reported. The manifest's
/// `clips_sha256` and each system's `clips_csv_sha256`, where present, must be the SHA-256 of the collection's
/// CSV, so descriptors of another clip set are refused.
public struct PeerDescriptors: Sendable {
    /// What the report says of a peer system.
    public struct Note: Sendable, Codable, Equatable {
        public var name: String
        public var kind: String
        public var dimensions: Int
        /// Items the tool could not describe (NaN rows), left out of its scores.
        public var undescribed: Int
        /// The manifest's own entry for the system (tool, version, settings), as text.
        public var details: String
    }

    enum Values: Sendable {
        case embedding(Matrix)
        case similarity(Matrix)
    }

    /// Items per system (the collection's size).
    public let items: Int
    /// The systems, in name order.
    public let names: [String]
    public let notes: [Note]
    private let values: [String: Values]
    private let missing: [String: Set<Int>]

    /// Reads the peers folder `folder` for the collection whose CSV is `csv` with `items` rows.
    public init(folder: URL, csv: URL, items: Int) throws {
        func fail(_ reason: String) -> PeerDescriptorsError { PeerDescriptorsError(path: folder.path, reason: reason) }
        let manifestURL = folder.appendingPathComponent("manifest.json")
        guard let manifestData = try? Data(contentsOf: manifestURL),
              let manifest = try? JSONSerialization.jsonObject(with: manifestData) as? [String: Any]
        else { throw fail("has no readable manifest.json; run bench/quality to make it") }
        let csvBytes: Data
        do { csvBytes = try Data(contentsOf: csv) } catch { throw fail("cannot read \(csv.path) to check the manifest") }
        let digest = SHA256.hexDigest([UInt8](csvBytes))
        let systems = manifest["systems"] as? [String: Any] ?? [:]
        func checkDigest(_ expected: Any?, _ what: String) throws {
            guard let expected = expected as? String, expected != digest else { return }
            throw fail("\(what) was made for another version of \(csv.lastPathComponent) (sha256 "
                + "\(expected.prefix(12))…, this one \(digest.prefix(12))…); re-run bench/quality")
        }
        try checkDigest(manifest["clips_sha256"], "manifest.json")
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix(".npy") }.sorted()
        var values: [String: Values] = [:], missing: [String: Set<Int>] = [:], notes: [Note] = []
        for file in files {
            let name = String(file.dropLast(4))
            let array = try NumPyArray(contentsOf: folder.appendingPathComponent(file))
            guard array.shape.count == 2, array.shape[0] == items, let m = array.matrix else {
                throw fail("\(file) has shape \(array.shape); expected \(items) rows, one per item of \(csv.lastPathComponent)")
            }
            let entry = systems[name] as? [String: Any] ?? [:]
            try checkDigest(entry["clips_csv_sha256"], file)
            let kind = (entry["kind"] as? String) ?? (m.columns == items ? "similarity" : "embedding")
            guard kind == "similarity" || kind == "embedding" else {
                throw fail("manifest.json gives \(name) the kind '\(kind)'; expected 'embedding' or 'similarity'")
            }
            if kind == "similarity" && m.columns != items {
                throw fail("\(file) is a similarity matrix of \(m.columns) columns; expected \(items)")
            }
            // An embedding row with any non-finite value, or a similarity row with no finite value but its own.
            let undescribed = Set((0..<items).filter { r in
                kind == "embedding" ? (0..<m.columns).contains { !m[r, $0].isFinite }
                    : !(0..<m.columns).contains { $0 != r && m[r, $0].isFinite }
            })
            values[name] = kind == "similarity" ? .similarity(m) : .embedding(m)
            missing[name] = undescribed
            let details = (try? JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys]))
                .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            notes.append(Note(name: name, kind: kind, dimensions: kind == "similarity" ? 0 : m.columns,
                              undescribed: undescribed.count, details: details))
        }
        guard !values.isEmpty else { throw fail("holds no NAME.npy files; run bench/quality to make them") }
        self.items = items
        self.values = values
        self.missing = missing
        self.notes = notes
        self.names = notes.map(\.name)
    }

    /// The style scores of system `name` over the items `items` (indices into the collection), leaving out the
    /// ones it could not describe; nil when fewer than two remain.
    public func styleScores(_ name: String, items: [Int], labels: [String], groups: [String])
        -> (style: StyleScores, items: Int)?
    {
        guard let v = values[name] else { return nil }
        let keep = items.indices.filter { !(missing[name]?.contains(items[$0]) ?? false) }
        guard keep.count >= 2 else { return nil }
        let rows = keep.map { items[$0] }
        let scores: Matrix
        switch v {
        case .embedding(let m):
            let raw = Matrix(rowArrays: rows.map { m.row($0) })
            let z = Standardiser(fitting: raw).apply(raw)
            scores = BLAS.multiply(z, .none, z, .transposed)
        case .similarity(let m):
            var s = Matrix(rows: rows.count, columns: rows.count)
            // A stray non-finite pair (neither item undescribed) ranks last rather than poisoning the ranking.
            for (i, r) in rows.enumerated() {
                for (j, c) in rows.enumerated() { s[i, j] = m[r, c].isFinite ? m[r, c] : -.greatestFiniteMagnitude }
            }
            scores = s
        }
        let style = RetrievalMetrics.styleRetrieval(scores: scores, labels: keep.map { labels[$0] },
                                                    groups: keep.map { groups[$0] })
        return (style, keep.count)
    }
}

/// A peers folder could not be used.
public struct PeerDescriptorsError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}
