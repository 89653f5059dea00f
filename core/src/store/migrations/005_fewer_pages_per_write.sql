-- fieldcrew phone store, schema version 5: fewer B-trees touched by each recorded fact.
-- Every commit writes each page it changed (with encryption: encrypts and MACs it), so a
-- reading's commit costs about one page per table or index it touches. Before: nine (reading
-- row, its id index, two reading indexes, outbox row, op_id index, order index,
-- sqlite_sequence, meta). After: six. And what an initial pull writes per order: two indexes and
-- the search index's size table fewer.

-- Readings are keyed by their id (UUIDv7, time-ordered: new ones append), with no separate
-- rowid table behind the key.
ALTER TABLE readings RENAME TO readings_v4;
CREATE TABLE readings (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    meter_asset TEXT NOT NULL,
    register    TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    value       TEXT NOT NULL,
    taken_at    INTEGER NOT NULL,
    photo_id    TEXT,
    member_id   TEXT NOT NULL,
    warnings    TEXT NOT NULL,
    supersedes  TEXT REFERENCES readings (id),
    hlc         TEXT NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO readings (id, order_id, meter_asset, register, purpose, value, taken_at, photo_id,
        member_id, warnings, supersedes, hlc)
    SELECT id, order_id, meter_asset, register, purpose, value, taken_at, photo_id,
        member_id, warnings, supersedes, hlc
    FROM readings_v4;
-- The old table's indexes and triggers go with it.
DROP TABLE readings_v4;
CREATE INDEX readings_meter ON readings (meter_asset, register, taken_at);
CREATE INDEX readings_order ON readings (order_id, meter_asset, register, purpose);
CREATE UNIQUE INDEX readings_superseded_once ON readings (supersedes) WHERE supersedes IS NOT NULL;
CREATE TRIGGER readings_immutable BEFORE UPDATE ON readings
BEGIN SELECT RAISE(ABORT, 'readings are immutable'); END;
CREATE TRIGGER readings_kept BEFORE DELETE ON readings
WHEN EXISTS (SELECT 1 FROM work_orders WHERE id = OLD.order_id)
BEGIN SELECT RAISE(ABORT, 'readings are never deleted'); END;

-- The outbox without AUTOINCREMENT (its counter lived in sqlite_sequence, one more page per
-- commit) and without an index on op_id: entries are acknowledged by seq and op_id together,
-- so a seq reused after the newest entry was acknowledged can never match an old answer.
-- op_ids are UUIDv7 made on this device.
CREATE TABLE outbox_v5 (
    seq          INTEGER PRIMARY KEY,
    op_id        TEXT NOT NULL,
    entity       TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    order_id     TEXT NOT NULL,
    op           TEXT NOT NULL,
    fields       TEXT NOT NULL,
    base_version INTEGER NOT NULL,
    hlc          TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
) STRICT;
INSERT INTO outbox_v5 SELECT seq, op_id, entity, entity_id, order_id, op, fields, base_version,
    hlc, created_at, attempts, last_error FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v5 RENAME TO outbox;
CREATE INDEX outbox_order ON outbox (order_id);

-- Indexes no query uses: orders and meters are found by account or asset number through the
-- search index. Each cost a B-tree insert per order or meter written (an initial pull writes
-- thousands).
DROP INDEX work_orders_account;
DROP INDEX meters_asset;

-- The search index without its per-row size table (`columnsize=0`: only ranking functions,
-- which search does not use, read it): one B-tree insert less per order written.
DROP TABLE order_search;
CREATE VIRTUAL TABLE order_search USING fts5 (body, tokenize = 'trigram', detail = 'none', columnsize = 0);
INSERT INTO order_search (rowid, body)
    SELECT rid, number || char(10) || customer_account || char(10) || customer_name || char(10) || address
        || coalesce(char(10) || (SELECT group_concat(asset_number, char(10)) FROM meters WHERE order_id = w.id), '')
    FROM work_orders w;
