import Foundation
import GRDB
public import RetrieveCore

// Registered models.
extension IndexStore {
    /// Registers `model` (or finds it by digest) and returns its row id.
    ///
    /// The digest identifies a model: registering the same digest again returns the same id, and throws
    /// `modelConflict` if the name or size differ. `configurationJSON` is the model's configuration (front end
    /// and layer sizes, e.g. `EncoderConfiguration` encoded as JSON), kept for reports and audits; a model
    /// registered before its configuration was stored (`{}`) gets it filled in when registered again with one.
    public func register(model: ModelVersion, configurationJSON: String = "{}") throws -> Int64 {
        try write("registering model \(model.name)") { db in
            if var stored = try ModelRow.filter(ModelRow.Columns.digest == model.digest).fetchOne(db) {
                guard stored.version == model else {
                    throw IndexError.modelConflict(
                        digest: model.digest, stored: stored.version.description, offered: model.description)
                }
                if stored.configuration == "{}" && configurationJSON != "{}" {
                    stored.configuration = configurationJSON
                    try stored.update(db, columns: [ModelRow.Columns.configuration])
                }
                return stored.id!
            }
            var row = ModelRow(model, configuration: configurationJSON, createdAt: Date().timeIntervalSince1970)
            try row.insert(db)
            return row.id!
        }
    }

    /// The model with row id `id`, if registered.
    public func model(id: Int64) throws -> ModelRecord? {
        try read { db in try ModelRow.fetchOne(db, key: id)?.record }
    }

    /// Every registered model with its embedding count, oldest first: a query uses one model only and can
    /// tell the user which tracks lack its embeddings (and that `retrieve index` fixes it).
    public func embeddingModels() throws -> [ModelUsage] {
        try read { db in
            let counts = try Dictionary(
                uniqueKeysWithValues: Row.fetchAll(
                    db, sql: "SELECT model_id, COUNT(*) AS n FROM embeddings GROUP BY model_id"
                ).map { (row: Row) -> (Int64, Int) in (row["model_id"], row["n"]) })
            return try ModelRow.order(ModelRow.Columns.id).fetchAll(db).map {
                ModelUsage(model: $0.record, embeddingCount: counts[$0.id!] ?? 0)
            }
        }
    }

    /// Deletes a model and all its embeddings (to reclaim space after an upgrade), in one transaction. Returns
    /// whether it existed.
    @discardableResult
    public func removeModel(id: Int64) throws -> Bool {
        try write("removing model \(id)") { db in
            try EmbeddingRow.filter(EmbeddingRow.Columns.modelID == id).deleteAll(db)
            return try ModelRow.deleteOne(db, key: id)
        }
    }
}
