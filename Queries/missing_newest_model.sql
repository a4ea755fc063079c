-- Tracks without an embedding from the newest registered model: what `retrieve index` will re-embed.
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/missing_newest_model.sql
SELECT t.id, t.path
FROM tracks t
WHERE NOT EXISTS (
    SELECT 1 FROM embeddings e
    WHERE e.track_id = t.id AND e.model_id = (SELECT MAX(id) FROM models)
)
ORDER BY t.path;
