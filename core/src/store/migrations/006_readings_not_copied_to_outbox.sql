-- fieldcrew phone store, schema version 6: a reading's outbox entry no longer carries a copy of
-- the reading. The readings row is the payload: readings are immutable and kept as long as their
-- order, and an order with pending work is never removed (deferred_removals), so the row is there
-- until the server has the entry. `fields` is NULL for those entries (and only for readings);
-- entries queued before this version keep their copies. Each reading's commit then adds about
-- 150 bytes to the outbox instead of 565, which with 1 KiB encrypted pages was a new leaf, its
-- parent and the file header per reading (docs/data-model.md, "Pages per write").
CREATE TABLE outbox_v6 (
    seq          INTEGER PRIMARY KEY,
    op_id        TEXT NOT NULL,
    entity       TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    order_id     TEXT NOT NULL,
    op           TEXT NOT NULL,
    fields       TEXT CHECK (fields IS NOT NULL OR entity = 'reading'),
    base_version INTEGER NOT NULL,
    hlc          TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
) STRICT;
INSERT INTO outbox_v6 (seq, op_id, entity, entity_id, order_id, op, fields, base_version, hlc,
        created_at, attempts, last_error)
    SELECT seq, op_id, entity, entity_id, order_id, op, fields, base_version, hlc, created_at,
        attempts, last_error
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v6 RENAME TO outbox;
CREATE INDEX outbox_order ON outbox (order_id);
