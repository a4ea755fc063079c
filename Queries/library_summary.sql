-- One row: how big the library is. Usage: sqlite3 -header -column Index/library.sqlite < Queries/library_summary.sql
SELECT
    COUNT(*)                                        AS tracks,
    ROUND(SUM(duration) / 3600.0, 2)                AS hours,
    ROUND(SUM(size) / 1048576.0, 1)                 AS mebibytes,
    (SELECT COUNT(*) FROM failures)                 AS failures,
    (SELECT COUNT(*) FROM models)                   AS models,
    datetime(MAX(updated_at), 'unixepoch')          AS last_update_utc
FROM tracks;
