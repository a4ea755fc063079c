-- The 20 longest and the 20 shortest tracks (very short ones are often intros, jingles or broken rips).
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/longest_tracks.sql
SELECT * FROM (
    SELECT 'longest' AS which, ROUND(duration, 1) AS seconds, artist, title, path
    FROM tracks ORDER BY duration DESC LIMIT 20
)
UNION ALL
SELECT * FROM (
    SELECT 'shortest', ROUND(duration, 1), artist, title, path
    FROM tracks ORDER BY duration ASC LIMIT 20
);
