-- Schema version 3: who has shown the server a photo's bytes. A photo record only claims a
-- content address; anyone who has read a hash can push a record naming it. A record is backed
-- (it lets its order's crew download the bytes, and counts as a document received) when its
-- author is listed here for its content address: a crew member once their upload of the bytes
-- hashed right, a dispatcher once the document they added was stored.
CREATE TABLE photo_owners (
    sha256    TEXT NOT NULL,
    member_id TEXT NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (sha256, member_id)
) STRICT, WITHOUT ROWID;

-- Records received before this version. Documents the office added: the server made their
-- bytes itself.
INSERT OR IGNORE INTO photo_owners (sha256, member_id, at)
SELECT json_extract(f.body, '$.sha256'), json_extract(f.body, '$.member_id'), f.received_at
FROM facts f JOIN members m ON m.id = json_extract(f.body, '$.member_id')
WHERE f.kind = 'photo' AND m.role IN ('dispatcher', 'admin');

-- And the first record of each content address: a hash can only be learnt from a record the
-- server already holds, so the first one is the photographer's, never a copy.
INSERT OR IGNORE INTO photo_owners (sha256, member_id, at)
SELECT sha256, member_id, received_at FROM (
    SELECT json_extract(body, '$.sha256') AS sha256, json_extract(body, '$.member_id') AS member_id,
           received_at,
           row_number() OVER (PARTITION BY json_extract(body, '$.sha256') ORDER BY received_at, rowid) AS n
    FROM facts WHERE kind = 'photo'
) WHERE n = 1;
