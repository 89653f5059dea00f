-- fieldcrew phone store, schema version 1.
-- Times are INTEGER milliseconds since the Unix epoch (UTC); decimals are TEXT (exact);
-- nested values dispatch sends as a whole (appointment, registers, documents) are JSON TEXT.

-- Device identity, the signed-in member, the persisted HLC and the sync cursor.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- The crew's work orders as this device sees them: the server's copy with local edits on top.
CREATE TABLE work_orders (
    rid                INTEGER PRIMARY KEY,
    id                 TEXT NOT NULL UNIQUE,
    number             TEXT NOT NULL UNIQUE,
    kind               TEXT NOT NULL,
    status             TEXT NOT NULL,
    priority           INTEGER NOT NULL,
    customer_name      TEXT NOT NULL,
    customer_account   TEXT NOT NULL,
    customer_phone     TEXT NOT NULL,
    address            TEXT NOT NULL,
    area               TEXT NOT NULL,
    lat                REAL,
    lon                REAL,
    appointment        TEXT NOT NULL,
    accepted_at        INTEGER NOT NULL,
    due_at             INTEGER NOT NULL,
    agenda_at          INTEGER NOT NULL,
    required_documents TEXT NOT NULL,
    dispatch_notes     TEXT NOT NULL,
    crew_notes         TEXT NOT NULL,
    survey             TEXT,
    crew_id            TEXT NOT NULL,
    member_id          TEXT,
    version            INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX work_orders_agenda ON work_orders (agenda_at);
CREATE INDEX work_orders_open_due ON work_orders (due_at) WHERE status NOT IN ('completed', 'cancelled');
CREATE INDEX work_orders_status ON work_orders (status, due_at);
CREATE INDEX work_orders_account ON work_orders (customer_account);

-- Meters at an order's site: from dispatch, or installed by the crew.
CREATE TABLE meters (
    order_id           TEXT NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    asset_number       TEXT NOT NULL,
    phases             INTEGER NOT NULL,
    multiplier         TEXT NOT NULL,
    prepaid            INTEGER NOT NULL,
    expected_daily_kwh TEXT,
    registers          TEXT NOT NULL,
    PRIMARY KEY (order_id, asset_number)
) STRICT, WITHOUT ROWID;
CREATE INDEX meters_asset ON meters (asset_number);

-- Status changes: facts, appended, never edited.
CREATE TABLE status_events (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    reason      TEXT,
    note        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    lat         REAL,
    lon         REAL,
    accuracy_m  REAL,
    member_id   TEXT NOT NULL,
    hlc         TEXT NOT NULL
) STRICT;
CREATE INDEX status_events_order ON status_events (order_id, at);

-- Meter readings: facts. A correction is a new row whose `supersedes` names the old one; a
-- reading is superseded at most once, so the corrections of a reading form a chain.
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
) STRICT;
CREATE INDEX readings_meter ON readings (meter_asset, register, taken_at);
CREATE INDEX readings_order ON readings (order_id, meter_asset, register, purpose);
CREATE UNIQUE INDEX readings_superseded_once ON readings (supersedes) WHERE supersedes IS NOT NULL;

-- 换表 records.
CREATE TABLE replacements (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    old_meter   TEXT NOT NULL,
    old_balance TEXT,
    new_meter   TEXT NOT NULL,
    new_card    TEXT,
    at          INTEGER NOT NULL,
    member_id   TEXT NOT NULL,
    hlc         TEXT NOT NULL
) STRICT;
CREATE INDEX replacements_order ON replacements (order_id);

-- 服务评价: the customer's rating.
CREATE TABLE evaluations (
    id        TEXT PRIMARY KEY,
    order_id  TEXT NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    score     INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment   TEXT NOT NULL,
    at        INTEGER NOT NULL,
    member_id TEXT NOT NULL,
    hlc       TEXT NOT NULL
) STRICT;
CREATE INDEX evaluations_order ON evaluations (order_id);

-- Facts are immutable: only the removal of their whole order (local wipe after archiving) may
-- delete them, and nothing may update them.
CREATE TRIGGER readings_immutable BEFORE UPDATE ON readings
BEGIN SELECT RAISE(ABORT, 'readings are immutable'); END;
CREATE TRIGGER readings_kept BEFORE DELETE ON readings
WHEN EXISTS (SELECT 1 FROM work_orders WHERE id = OLD.order_id)
BEGIN SELECT RAISE(ABORT, 'readings are never deleted'); END;
CREATE TRIGGER status_events_immutable BEFORE UPDATE ON status_events
BEGIN SELECT RAISE(ABORT, 'status events are immutable'); END;

-- Changes waiting for the server, in the order they were made. Written in the same transaction
-- as the change itself. No foreign key: removing an order locally never drops pending work.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id        TEXT NOT NULL UNIQUE,
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
CREATE INDEX outbox_order ON outbox (order_id);

-- Substring search over order number, account, customer name, address and meter asset numbers.
-- The trigram tokenizer matches any 3+ character substring, Chinese included. Its rowid is the
-- order's `rid`, which (unlike an implicit rowid) VACUUM never renumbers.
CREATE VIRTUAL TABLE order_search USING fts5 (body, tokenize = 'trigram', detail = 'none');
