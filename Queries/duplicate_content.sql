-- Files with identical content fingerprints at several paths (copies, or the same rip in two folders).
-- Usage: sqlite3 -header -column Index/library.sqlite < Queries/duplicate_content.sql
SELECT
    content_hash,
    COUNT(*)                    AS copies,
    GROUP_CONCAT(path, ' | ')   AS paths
FROM tracks
GROUP BY content_hash
HAVING COUNT(*) > 1
ORDER BY copies DESC;
