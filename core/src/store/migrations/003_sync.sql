-- Sync state on the device. The cursor and the HLC live in `meta` (keys sync_cursor, hlc).

-- Conflicts the server raised on the crew's orders, as it last sent them (`body` is the wire
-- JSON), with any local acknowledgement or resolution applied on top until the server confirms.
-- No foreign key: a conflict outlives the order's removal from the device.
CREATE TABLE conflicts (
    id           TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL,
    order_number TEXT NOT NULL,
    field        TEXT NOT NULL,
    rule         TEXT NOT NULL,
    status       TEXT NOT NULL,
    body         TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX conflicts_status ON conflicts (status, updated_at);
CREATE INDEX conflicts_order ON conflicts (order_id);

-- Changes the server refused, with its reason, so the crew can see what did not go through.
CREATE TABLE sync_rejections (
    op_id     TEXT PRIMARY KEY,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    order_id  TEXT NOT NULL,
    fields    TEXT NOT NULL,
    code      TEXT NOT NULL,
    reason    TEXT NOT NULL,
    at        INTEGER NOT NULL
) STRICT;

-- Orders the server removed from the crew's scope while changes of them still waited in the
-- outbox: dropped once those changes are acknowledged.
CREATE TABLE deferred_removals (
    order_id TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;
