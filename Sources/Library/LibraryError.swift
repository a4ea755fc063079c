import Foundation
import RetrieveCore

/// What can go wrong in the pipeline's own logic, with what to do about it.
public enum LibraryError: Error, CustomStringConvertible, Equatable {
    /// The index has no tracks embedded with the model in use.
    case emptyIndex(database: String)
    /// Some tracks are embedded only with another model; queries would mix two vector spaces.
    case mixedModels(database: String, current: String, others: [String], missing: Int)
    /// A query names neither a readable audio file, an indexed path, nor a track id.
    case unknownQuery(String)
    /// The query is an audio file that could not be analysed.
    case queryNotAnalysable(path: String, reason: String)
    /// A seeds list could not be read.
    case unreadableSeeds(path: String, reason: String)
    /// Identification needs segment embeddings, and the index holds none for this model.
    case noSegments(database: String)

    public var description: String {
        switch self {
        case .emptyIndex(let db):
            "the index \(db) has no tracks for this model; run `retrieve index DIR` first"
        case .mixedModels(let db, let current, let others, let missing):
            "\(missing) track(s) in \(db) are embedded only with \(others.joined(separator: ", ")), not with "
                + "\(current); run `retrieve index` on the collection to re-embed them with the current model"
        case .unknownQuery(let q):
            "\(q): no such file, indexed path or track id; give an audio file, or a path or id from `retrieve list`"
        case .queryNotAnalysable(let path, let reason):
            // Decoder errors already start with the path; do not say it twice.
            reason.hasPrefix(path) ? reason : "\(path): cannot be used as a query: \(reason)"
        case .unreadableSeeds(let path, let reason):
            "\(path): cannot read the seeds list: \(reason)"
        case .noSegments(let db):
            "the index \(db) keeps no segment embeddings for this model, which --identify needs; run "
                + "`retrieve index --segments DIR` on the collection (with the same --db): tracks already indexed "
                + "are re-analysed to add their segments"
        }
    }
}
