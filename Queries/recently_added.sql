-- The 30 most recently added tracks.
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/recently_added.sql
SELECT
    datetime(added_at, 'unixepoch')     AS added_utc,
    artist,
    title,
    path
FROM tracks
ORDER BY added_at DESC, id DESC
LIMIT 30;
