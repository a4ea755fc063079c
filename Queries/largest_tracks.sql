-- The 20 largest files, with duration and the bit rate they imply.
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/largest_tracks.sql
SELECT
    ROUND(size / 1048576.0, 1)                              AS mebibytes,
    ROUND(duration / 60.0, 1)                               AS minutes,
    CAST(size * 8 / MAX(duration, 0.001) / 1000 AS INTEGER) AS kbit_per_s,
    format,
    path
FROM tracks
ORDER BY size DESC
LIMIT 20;
