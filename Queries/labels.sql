-- Evaluation labels: tracks per class label (tracks without a label are left out).
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/labels.sql
SELECT label, COUNT(*) AS tracks, ROUND(AVG(duration), 1) AS mean_seconds
FROM tracks
WHERE label IS NOT NULL
GROUP BY label
ORDER BY tracks DESC, label;
