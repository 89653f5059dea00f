-- fieldcrew reference server, SQLite backend, schema version 1.
-- Times are INTEGER milliseconds since the Unix epoch (UTC). Records the protocol carries whole
-- (orders, facts, conflicts) are stored as their wire JSON next to the columns queries need.

-- The cursor sequence, the server's HLC and its node id.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE crews (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    surveys_per_day  INTEGER NOT NULL,
    installs_per_day INTEGER NOT NULL,
    checks_per_day   INTEGER NOT NULL
) STRICT;

CREATE TABLE members (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    crew_id TEXT REFERENCES crews (id),
    role    TEXT NOT NULL CHECK (role IN ('crew', 'dispatcher', 'admin')),
    CHECK ((role = 'crew') = (crew_id IS NOT NULL))
) STRICT;

-- Only the SHA-256 of each token's secret is kept.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    member_id  TEXT NOT NULL REFERENCES members (id),
    device     TEXT NOT NULL,
    hash       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
) STRICT;

-- Orders: the current copy as wire JSON (`doc`), the per-field stamps for the three-way merge,
-- and the columns lists filter on. `seq` is the cursor value of the order's last change.
CREATE TABLE orders (
    id         TEXT PRIMARY KEY,
    number     TEXT NOT NULL UNIQUE,
    crew_id    TEXT NOT NULL REFERENCES crews (id),
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    area       TEXT NOT NULL,
    account    TEXT NOT NULL,
    customer   TEXT NOT NULL,
    due_at     INTEGER NOT NULL,
    agenda_day TEXT NOT NULL,
    archived   INTEGER NOT NULL DEFAULT 0,
    version    INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    doc        TEXT NOT NULL,
    field_meta TEXT NOT NULL,
    fees       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX orders_crew_seq ON orders (crew_id, seq) WHERE archived = 0;
CREATE INDEX orders_crew_day ON orders (crew_id, agenda_day, kind, status, archived);
CREATE INDEX orders_due ON orders (due_at);

-- Every crew that ever held an order: such a crew may still push its offline work on it.
CREATE TABLE order_crews (
    order_id TEXT NOT NULL REFERENCES orders (id),
    crew_id  TEXT NOT NULL,
    PRIMARY KEY (order_id, crew_id)
) STRICT, WITHOUT ROWID;

-- Orders that left a crew's scope; pulled as removals.
CREATE TABLE removals (
    crew_id  TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    order_id TEXT NOT NULL,
    PRIMARY KEY (crew_id, seq)
) STRICT, WITHOUT ROWID;

-- Immutable facts keyed by their client ids: status events, readings, replacements, evaluations.
CREATE TABLE facts (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    kind        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    hlc         TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX facts_order ON facts (order_id, kind, at, hlc);

CREATE TABLE conflicts (
    id       TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    crew_id  TEXT NOT NULL,
    rule     TEXT NOT NULL,
    status   TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    body     TEXT NOT NULL
) STRICT;
CREATE INDEX conflicts_crew_seq ON conflicts (crew_id, seq);
CREATE INDEX conflicts_order ON conflicts (order_id, rule, status);

-- Answers to every operation, for idempotent replays.
CREATE TABLE ops (
    op_id       TEXT PRIMARY KEY,
    crew_id     TEXT NOT NULL,
    answer      TEXT NOT NULL,
    received_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- What dispatch did to each order.
CREATE TABLE dispatch_log (
    id       INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    at       INTEGER NOT NULL,
    by       TEXT NOT NULL,
    action   TEXT NOT NULL,
    detail   TEXT NOT NULL
) STRICT;
CREATE INDEX dispatch_log_order ON dispatch_log (order_id, at);
