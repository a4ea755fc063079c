-- Artists by number of tracks, with albums and hours.
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/tracks_per_artist.sql
SELECT
    COALESCE(artist, '(unknown)')       AS artist,
    COUNT(*)                            AS tracks,
    COUNT(DISTINCT album)               AS albums,
    ROUND(SUM(duration) / 3600.0, 2)    AS hours
FROM tracks
GROUP BY artist
ORDER BY tracks DESC, artist
LIMIT 50;
