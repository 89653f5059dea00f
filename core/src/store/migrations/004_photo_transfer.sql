-- fieldcrew phone store, schema version 4: moving photo bytes (docs/sync-protocol.md,
-- "Photo transfer"). The photo's metadata travels in the outbox with the order's data; the bytes
-- travel on this separate queue, so order data never waits for a photo.

-- The upload queue: one row per content address (a photo on two orders uploads once).
-- state: 'local' (only on this device), 'uploading' (the server has `sent` of `bytes`),
-- 'uploaded' (verified on the server, thumbnail too). A failing photo is retried after
-- `next_attempt_at` and never holds up the others.
CREATE TABLE photo_uploads (
    sha256          TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    bytes           INTEGER NOT NULL,
    state           TEXT NOT NULL DEFAULT 'local' CHECK (state IN ('local', 'uploading', 'uploaded')),
    sent            INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX photo_uploads_due ON photo_uploads (state, next_attempt_at);

-- Every photo added on this device joins the queue, in the transaction that adds it.
CREATE TRIGGER photos_queue_upload AFTER INSERT ON photos
BEGIN
    INSERT OR IGNORE INTO photo_uploads (sha256, bytes, updated_at)
    VALUES (NEW.sha256, NEW.bytes, NEW.added_at);
END;

INSERT OR IGNORE INTO photo_uploads (sha256, bytes, updated_at)
    SELECT sha256, bytes, added_at FROM photos;

-- Photos of the crew's orders that other devices took or the back office added (documents the
-- customer supplied online), as pulled. The bytes are downloaded into the app-private cache
-- (`<db>-documents/`, encrypted like local photos); `partial` holds a download in progress
-- (inside the database, so encrypted with it) and `thumb` the thumbnail until the photo is in.
-- state: 'remote' (not here), 'downloading', 'cached'.
CREATE TABLE remote_photos (
    id         TEXT PRIMARY KEY,
    order_id   TEXT NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    sha256     TEXT NOT NULL CHECK (length(sha256) = 64),
    body       TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'remote' CHECK (state IN ('remote', 'downloading', 'cached')),
    received   INTEGER NOT NULL DEFAULT 0,
    partial    BLOB,
    thumb      BLOB,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX remote_photos_order ON remote_photos (order_id);
CREATE INDEX remote_photos_sha ON remote_photos (sha256);
