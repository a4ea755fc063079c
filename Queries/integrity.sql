-- may be empty: problems only. Vectors whose byte length does not match their model, embeddings of
-- unknown models, and segment rows without a pooled embedding. A healthy index returns no rows.
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/integrity.sql
SELECT 'vector length' AS problem, e.track_id, e.model_id, LENGTH(e.vector) AS bytes
FROM embeddings e JOIN models m ON m.id = e.model_id
WHERE LENGTH(e.vector) != m.dimensions * 4
UNION ALL
SELECT 'unknown model', e.track_id, e.model_id, NULL
FROM embeddings e LEFT JOIN models m ON m.id = e.model_id
WHERE m.id IS NULL
UNION ALL
SELECT 'orphan segment', s.track_id, s.model_id, NULL
FROM segment_embeddings s LEFT JOIN embeddings e ON e.track_id = s.track_id AND e.model_id = s.model_id
WHERE e.track_id IS NULL;
