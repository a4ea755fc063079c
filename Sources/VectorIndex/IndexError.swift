/// Why an index operation failed; `description` is one line saying what went wrong and what to do.
public enum IndexError: Error, CustomStringConvertible, Equatable {
    /// The file exists but is not an SQLite database; it was left untouched.
    case notADatabase(path: String)
    /// The file is an SQLite database written by another application.
    case notAnIndex(path: String, applicationID: Int32)
    /// The index was written by a newer `retrieve`; it was left untouched.
    case newerSchema(path: String, found: String, known: String)
    /// A read-only open of an index that does not exist.
    case missing(path: String)
    /// A read-only open of an index whose schema still needs migrating.
    case outdatedSchema(path: String)
    /// A model id that is not registered in this index.
    case unknownModel(id: Int64)
    /// The same weights digest registered again with a different name or size.
    case modelConflict(digest: String, stored: String, offered: String)
    /// An embedding whose length differs from its model's.
    case dimensionMismatch(path: String, model: String, expected: Int, found: Int)
    /// A stored vector whose byte length does not match its model.
    case corruptVector(trackID: Int64, bytes: Int, expected: Int)
    /// A move onto a path that another track already has.
    case pathTaken(path: String)
    /// Any other SQLite failure, with GRDB's message.
    case database(path: String, message: String)

    public var description: String {
        switch self {
        case .notADatabase(let path):
            return "\(path) is not an SQLite database; left it untouched — pass another --db path or move the file away"
        case .notAnIndex(let path, let id):
            return "\(path) is an SQLite database of another application (application_id \(id)); left it untouched — pass another --db path"
        case .newerSchema(let path, let found, let known):
            return "\(path) was written by a newer retrieve (schema \(found), this build knows \(known)); left it untouched — upgrade retrieve or use another --db path"
        case .missing(let path):
            return "no index at \(path) — run `retrieve index <music folder>` first or pass --db"
        case .outdatedSchema(let path):
            return "\(path) uses an older schema — run `retrieve index` once to upgrade it"
        case .unknownModel(let id):
            return
                "model id \(id) is not registered in this index — register the model before committing its embeddings"
        case .modelConflict(let digest, let stored, let offered):
            return
                "model digest \(digest.prefix(12)) is registered as \(stored) but offered as \(offered) — the weights file is the same, so fix the model's name or size"
        case .dimensionMismatch(let path, let model, let expected, let found):
            return
                "embedding of \(path) has \(found) dimensions but model \(model) has \(expected) — the encoder and registered model disagree"
        case .corruptVector(let trackID, let bytes, let expected):
            return
                "stored vector of track \(trackID) has \(bytes) bytes, expected \(expected) — remove that track from the index and run `retrieve index` again"
        case .pathTaken(let path):
            return "cannot move a track to \(path): another track already has that path — remove it first"
        case .database(let path, let message):
            return "index \(path): \(message)"
        }
    }
}
