-- Files that could not be analysed, grouped by kind, with one example reason and the latest failure time.
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/failures_by_kind.sql
SELECT
    kind,
    COUNT(*)                                    AS files,
    ROUND(SUM(size) / 1048576.0, 1)             AS mebibytes,
    MIN(reason)                                 AS example_reason,
    datetime(MAX(failed_at), 'unixepoch')       AS last_failed_utc
FROM failures
GROUP BY kind
ORDER BY files DESC;
