-- fieldcrew phone store, schema version 2: document and meter photos.
-- The files live beside the database, named by the SHA-256 of their content
-- (`<db>-photos/<aa>/<sha256>.jpg`); a row links one to an order. The same photo added to two
-- orders is one file and two rows; the same photo added twice to one order is one row.
-- What the camera recorded (capture time, GPS, original size) is kept here, never in the file.
CREATE TABLE photos (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    sha256          TEXT NOT NULL CHECK (length(sha256) = 64),
    bytes           INTEGER NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    thumb_bytes     INTEGER NOT NULL,
    thumb_width     INTEGER NOT NULL,
    thumb_height    INTEGER NOT NULL,
    source_format   TEXT NOT NULL,
    original_width  INTEGER NOT NULL,
    original_height INTEGER NOT NULL,
    captured_at     INTEGER,
    lat             REAL,
    lon             REAL,
    added_at        INTEGER NOT NULL,
    member_id       TEXT NOT NULL,
    hlc             TEXT NOT NULL,
    UNIQUE (order_id, sha256)
) STRICT;
CREATE INDEX photos_order ON photos (order_id, kind, added_at);
CREATE INDEX photos_sha ON photos (sha256);
