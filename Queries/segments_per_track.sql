-- How many segments were pooled per track, per model (distribution), and how many segment vectors are stored.
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/segments_per_track.sql
SELECT
    e.model_id,
    e.segment_count,
    COUNT(*)                                                        AS tracks,
    (SELECT COUNT(*) FROM segment_embeddings s WHERE s.model_id = e.model_id) AS stored_segment_vectors
FROM embeddings e
GROUP BY e.model_id, e.segment_count
ORDER BY e.model_id, e.segment_count;
