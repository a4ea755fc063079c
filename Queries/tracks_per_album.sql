-- Albums by number of tracks (an album with a single track is often a tagging mistake).
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/tracks_per_album.sql
SELECT
    COALESCE(artist, '(unknown)')       AS artist,
    COALESCE(album, '(unknown)')        AS album,
    COUNT(*)                            AS tracks,
    ROUND(SUM(duration) / 60.0, 1)      AS minutes
FROM tracks
GROUP BY artist, album
ORDER BY tracks DESC, artist, album
LIMIT 100;
