-- Failures per file extension (e.g. many .m4a failures mean an unsupported container, not broken files).
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/failures_by_extension.sql
SELECT
    LOWER(REPLACE(path, RTRIM(path, REPLACE(path, '.', '')), '')) AS extension,
    COUNT(*)                                                      AS files,
    GROUP_CONCAT(DISTINCT kind)                                   AS kinds
FROM failures
GROUP BY extension
ORDER BY files DESC;
