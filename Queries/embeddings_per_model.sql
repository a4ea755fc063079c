-- Every registered model with how many tracks it has embedded and how many it still lacks.
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/embeddings_per_model.sql
SELECT
    m.id,
    m.name,
    SUBSTR(m.digest, 1, 12)                                         AS digest,
    m.dimensions,
    (SELECT COUNT(*) FROM embeddings e WHERE e.model_id = m.id)     AS embedded,
    (SELECT COUNT(*) FROM tracks) -
        (SELECT COUNT(*) FROM embeddings e WHERE e.model_id = m.id) AS missing,
    datetime(m.created_at, 'unixepoch')                             AS registered_utc
FROM models m
ORDER BY m.id;
