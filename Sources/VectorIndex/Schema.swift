import GRDB

/// The index's schema: an ordered list of migrations plus two markers in the SQLite header.
///
/// `application_id` marks the file as a retrieve index; `user_version` is the number of the newest
/// migration applied. Both sit in the first 100 bytes of the file, so a newer or foreign file is refused
/// by reading bytes, before SQLite opens it. The GRDB migration identifiers are the second line of defence
/// (a file migrated by a newer build lists identifiers this build does not know). Migrations are append-only:
/// never edit a shipped one, add the next.
enum Schema {
    /// 'RTRV' as a big-endian 32-bit integer.
    static let applicationID: Int32 = 0x5254_5256
    /// `user_version` after the newest migration of this build.
    static var version: Int { migrations.count }

    /// Each migration's SQL, then (for v3) Swift that fills what SQL cannot build; both in one transaction.
    static let migrations: [(identifier: String, sql: String, then: (@Sendable (Database) throws -> Void)?)] = [
        ("v1-initial", v1, nil),
        ("v2-analysis-version", v2, nil),
        ("v3-vector-chunks", v3, VectorChunks.fold),
        ("v4-timbre", v4, nil),
        ("v5-segment-version", v5, nil),
    ]

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for (number, migration) in migrations.enumerated() {
            migrator.registerMigration(migration.identifier) { db in
                try db.execute(sql: migration.sql)
                try migration.then?(db)
                try db.execute(sql: "PRAGMA application_id = \(applicationID)")
                try db.execute(sql: "PRAGMA user_version = \(number + 1)")
            }
        }
        return migrator
    }

    /// Times are seconds since 1970-01-01 UTC (REAL), sizes bytes, durations seconds, rates Hz;
    /// vectors float32 little-endian. `models.configuration` holds the model's `EncoderConfiguration` as JSON
    /// (front end, layer sizes; `{}` for models registered before it was stored). See Index/README.md for what
    /// each table is for.
    static let v1 = """
        CREATE TABLE tracks (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL CHECK (size >= 0),
            mtime REAL NOT NULL,
            content_hash TEXT NOT NULL,
            duration REAL NOT NULL CHECK (duration >= 0),
            sample_rate INTEGER NOT NULL,
            channels INTEGER NOT NULL,
            format TEXT NOT NULL,
            title TEXT,
            artist TEXT,
            album TEXT,
            genre TEXT,
            label TEXT,
            added_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX tracks_by_content_hash ON tracks(content_hash);
        CREATE INDEX tracks_by_artist_album ON tracks(artist, album);

        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            digest TEXT NOT NULL UNIQUE,
            dimensions INTEGER NOT NULL CHECK (dimensions > 0),
            configuration TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(configuration)),
            created_at REAL NOT NULL
        );

        CREATE TABLE embeddings (
            track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
            model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE RESTRICT,
            vector BLOB NOT NULL,
            segment_count INTEGER NOT NULL CHECK (segment_count >= 0),
            created_at REAL NOT NULL,
            PRIMARY KEY (track_id, model_id)
        );
        CREATE INDEX embeddings_by_model ON embeddings(model_id, track_id);

        CREATE TABLE segment_embeddings (
            track_id INTEGER NOT NULL,
            model_id INTEGER NOT NULL,
            idx INTEGER NOT NULL CHECK (idx >= 0),
            vector BLOB NOT NULL,
            PRIMARY KEY (track_id, model_id, idx),
            FOREIGN KEY (track_id, model_id) REFERENCES embeddings(track_id, model_id) ON DELETE CASCADE
        );

        CREATE TABLE failures (
            path TEXT NOT NULL PRIMARY KEY,
            kind TEXT NOT NULL,
            reason TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime REAL NOT NULL,
            failed_at REAL NOT NULL
        );
        """

    /// Each embedding records the version of the analysis (decoding, resampling, front end) that made it,
    /// `FeatureConfiguration.analysisVersion`, so that a change there marks older vectors stale as a new model
    /// does. Rows written before this migration were made by analysis version 1 — the version current when this
    /// column was introduced — so they take 1, a literal: were it the build's constant, a later build (version 2,
    /// say) upgrading an old file would stamp vectors of version-1 analysis as current and never re-embed them.
    static let v2 = """
        ALTER TABLE embeddings ADD COLUMN analysis_version INTEGER NOT NULL DEFAULT 1 CHECK (analysis_version >= 1);
        """

    /// Each embedding may carry the track's timbre profile (`SimilaritySearch.TimbreProfile.packed`, float32
    /// little-endian), made with the same model (whose file holds the timbre reference set) and analysis; NULL
    /// where the model has no reference set or the row was written before this migration. An upgraded index is
    /// not re-analysed by the upgrade: a model with a reference set has another digest, so its next
    /// `retrieve index` re-embeds every track anyway.
    static let v4 = """
        ALTER TABLE embeddings ADD COLUMN timbre BLOB;
        """

    /// Each embedding records the kind of its track's segment rows (`segment_embeddings`, kept by `retrieve index
    /// --segments`): the identification front end's version (`Analysis.IdentificationFrontEnd`), 1 for segments of
    /// the robust, band-limited windows, 2 for the model's own windows. Rows written before this migration take
    /// 1, a literal, as every segment stored until then was of that kind; a model whose current kind differs has
    /// those segments remade by its next `retrieve index --segments`, and identification never matches a query
    /// against segments of another kind.
    static let v5 = """
        ALTER TABLE embeddings ADD COLUMN segment_version INTEGER NOT NULL DEFAULT 1 CHECK (segment_version >= 1);
        """

    /// Vectors packed many per BLOB for searches that read a whole model in one pass (`VectorChunks`), kept in
    /// step with `embeddings` in the same transactions: the triggers log every touched (model, track) in
    /// `vector_changes`, which `VectorChunks.fold` (run by every write of `IndexStore`, and by this migration
    /// after logging every existing embedding) turns into rewritten chunks. The per-track rows are untouched, so
    /// an index of an older build is upgraded without re-analysis. `count`, `first_track_id` and `last_track_id`
    /// come before the BLOBs so that a chunk's extent is read without its overflow pages. The triggers test for an
    /// existing log row instead of `INSERT OR IGNORE`, whose conflict policy the firing statement would override
    /// (an upsert's update would abort on a track logged twice in one transaction).
    static let v3 = """
        CREATE TABLE vector_chunks (
            model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
            first_track_id INTEGER NOT NULL,
            last_track_id INTEGER NOT NULL CHECK (last_track_id >= first_track_id),
            count INTEGER NOT NULL CHECK (count > 0),
            track_ids BLOB NOT NULL,
            vectors BLOB NOT NULL,
            PRIMARY KEY (model_id, first_track_id)
        );
        CREATE TABLE vector_changes (
            model_id INTEGER NOT NULL,
            track_id INTEGER NOT NULL,
            PRIMARY KEY (model_id, track_id)
        ) WITHOUT ROWID;
        CREATE TRIGGER embeddings_logged_insert AFTER INSERT ON embeddings BEGIN
            INSERT INTO vector_changes (model_id, track_id) SELECT NEW.model_id, NEW.track_id
                WHERE NOT EXISTS (
                    SELECT 1 FROM vector_changes WHERE model_id = NEW.model_id AND track_id = NEW.track_id);
        END;
        CREATE TRIGGER embeddings_logged_update AFTER UPDATE OF vector, track_id, model_id ON embeddings BEGIN
            INSERT INTO vector_changes (model_id, track_id) SELECT OLD.model_id, OLD.track_id
                WHERE NOT EXISTS (
                    SELECT 1 FROM vector_changes WHERE model_id = OLD.model_id AND track_id = OLD.track_id);
            INSERT INTO vector_changes (model_id, track_id) SELECT NEW.model_id, NEW.track_id
                WHERE NOT EXISTS (
                    SELECT 1 FROM vector_changes WHERE model_id = NEW.model_id AND track_id = NEW.track_id);
        END;
        CREATE TRIGGER embeddings_logged_delete AFTER DELETE ON embeddings BEGIN
            INSERT INTO vector_changes (model_id, track_id) SELECT OLD.model_id, OLD.track_id
                WHERE NOT EXISTS (
                    SELECT 1 FROM vector_changes WHERE model_id = OLD.model_id AND track_id = OLD.track_id);
        END;
        INSERT INTO vector_changes (model_id, track_id) SELECT model_id, track_id FROM embeddings;
        """
}
