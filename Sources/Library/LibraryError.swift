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
    /// The index's segment embeddings for this model are all of a kind this build no longer makes.
    case staleSegments(database: String)
    /// A root given to `retrieve index` cannot be read (missing, unmounted, no permission).
    case unreadableRoot(path: String, reason: String)
    /// A prune would remove more than half of a root's tracks; `examples` are their paths (the first few shown).
    case pruneRefused(root: String, removing: Int, indexed: Int, examples: [String])

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
        case .unreadableRoot(let path, let reason):
            "\(path): cannot be read (\(reason)), so nothing was indexed or pruned; mount the drive or correct the "
                + "path, or leave it out of the command"
        case .pruneRefused(let root, let removing, let indexed, let examples):
            "refusing to prune \(removing) of the \(indexed) tracks indexed under \(root): their files are gone, "
                + "but so many vanishing at once usually means a drive that is not mounted or a folder that was "
                + "moved; check \(root), then run again with --force to remove them"
                + examples.prefix(5).map { "\n  \($0.escapingControlCharacters)" }.joined()
                + (examples.count > 5 ? "\n  … and \(examples.count - 5) more" : "")
        case .noSegments(let db):
            "the index \(db) keeps no segment embeddings for this model, which --identify needs; run "
                + "`retrieve index --segments DIR` on the collection (with the same --db): tracks already indexed "
                + "are re-analysed to add their segments"
        case .staleSegments(let db):
            "the index \(db) keeps segment embeddings for this model made by an earlier identification front end, "
                + "which cannot be matched against this build's; run `retrieve index --segments DIR` on the "
                + "collection (with the same --db) to remake them (tracks are re-analysed once)"
        }
    }
}
