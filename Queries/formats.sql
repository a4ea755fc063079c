-- Tracks per format, sample rate and channel count.
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/formats.sql
SELECT
    format,
    sample_rate,
    channels,
    COUNT(*)                            AS tracks,
    ROUND(SUM(duration) / 3600.0, 2)    AS hours
FROM tracks
GROUP BY format, sample_rate, channels
ORDER BY tracks DESC;
