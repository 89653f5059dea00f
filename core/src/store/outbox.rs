//! The outbox: every change that must reach the server, queued in the transaction that made it.
//!
//! An entry carries its operation id (UUID v7, so the server can apply it at most once), the
//! entity it touches, the changed fields (or the whole fact, for appended records), the server
//! version of the order it was based on (for the three-way merge) and its HLC stamp.
//!
//! A reading is not copied into its entry: its immutable `readings` row is the payload, read
//! back with the entry (schema 6). Every other entry stores its fields.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codec::{self, ms};
use super::{Store, WriteCtx, get_meta, set_meta};
use crate::error::{Error, Result};
use crate::hlc::Hlc;

/// What an outbox entry changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// Fields of the order itself (crew notes, survey).
    WorkOrder,
    StatusEvent,
    Reading,
    Replacement,
    Evaluation,
    /// A meter the crew installed at the site.
    Meter,
    /// A photo linked to the order; the file itself is uploaded by its content address.
    Photo,
    /// An acknowledgement or resolution of a sync conflict (see `crate::sync`).
    Conflict,
}

crate::text_enum!(Entity {
    WorkOrder => "work_order",
    StatusEvent => "status_event",
    Reading => "reading",
    Replacement => "replacement",
    Evaluation => "evaluation",
    Meter => "meter",
    Photo => "photo",
    Conflict => "conflict",
});

/// `Create` appends a fact; `Update` changes fields of an existing entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Create,
    Update,
}

crate::text_enum!(Op { Create => "create", Update => "update" });

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub seq: i64,
    pub op_id: Uuid,
    pub entity: Entity,
    pub entity_id: String,
    pub order_id: Uuid,
    pub op: Op,
    pub fields: serde_json::Value,
    pub base_version: i64,
    pub hlc: Hlc,
    pub created_at: DateTime<Utc>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// A change to queue. `fields` null means "the entity's own row is the payload", which only
/// readings use (the schema's CHECK refuses it for anything else).
pub(crate) struct Change<'a> {
    pub entity: Entity,
    pub entity_id: &'a str,
    pub order_id: Uuid,
    pub op: Op,
    pub fields: serde_json::Value,
    pub base_version: i64,
}

/// Hands out the next HLC stamp and persists it in the caller's transaction.
pub(crate) fn next_hlc(tx: &Transaction<'_>, ctx: &WriteCtx<'_>) -> Result<Hlc> {
    let last = last_hlc(tx)?;
    let next = Hlc::tick(last, ms(ctx.now), ctx.device_id);
    set_meta(tx, "hlc", &next.to_string())?;
    Ok(next)
}

/// Moves the local HLC past a stamp seen from the server.
pub(crate) fn observe_hlc(tx: &Transaction<'_>, ctx: &WriteCtx<'_>, remote: Hlc) -> Result<Hlc> {
    let next = Hlc::observe(last_hlc(tx)?, remote, ms(ctx.now), ctx.device_id);
    set_meta(tx, "hlc", &next.to_string())?;
    Ok(next)
}

fn last_hlc(conn: &Connection) -> Result<Hlc> {
    match get_meta(conn, "hlc")? {
        None => Ok(Hlc::ZERO),
        Some(s) => s.parse().map_err(|_| Error::Corrupt("stored HLC".into())),
    }
}

/// Queues `change`, stamped `hlc`, in the caller's transaction. Returns the operation id.
pub(crate) fn push(
    tx: &Transaction<'_>,
    ctx: &WriteCtx<'_>,
    change: Change<'_>,
    hlc: Hlc,
) -> Result<Uuid> {
    let op_id = Uuid::now_v7();
    tx.prepare_cached(
        "INSERT INTO outbox (op_id, entity, entity_id, order_id, op, fields, base_version, hlc, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        op_id.to_string(),
        change.entity.as_str(),
        change.entity_id,
        change.order_id.to_string(),
        change.op.as_str(),
        (!change.fields.is_null()).then(|| change.fields.to_string()),
        change.base_version,
        hlc.to_string(),
        ms(ctx.now),
    ])?;
    Ok(op_id)
}

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    let fields = match codec::opt_json(row, 6)? {
        Some(fields) => fields,
        // No copy: the reading joined in from column 12 on. A pending reading whose row is gone
        // is a corrupt store, not an entry to send empty.
        None => {
            let bad = |e: Box<dyn std::error::Error + Send + Sync>| {
                rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Null, e)
            };
            if row.get_ref(12)? == rusqlite::types::ValueRef::Null {
                return Err(bad(
                    "the reading of a pending outbox entry is missing".into()
                ));
            }
            serde_json::to_value(super::readings::reading_from_row(row, 12)?)
                .map_err(|e| bad(Box::new(e)))?
        }
    };
    Ok(OutboxEntry {
        seq: row.get(0)?,
        op_id: codec::parsed(row, 1)?,
        entity: codec::parsed(row, 2)?,
        entity_id: row.get(3)?,
        order_id: codec::parsed(row, 4)?,
        op: codec::parsed(row, 5)?,
        fields,
        base_version: row.get(7)?,
        hlc: codec::parsed(row, 8)?,
        created_at: codec::time(row, 9)?,
        attempts: row.get(10)?,
        last_error: row.get(11)?,
    })
}

/// Outbox entries with, for a reading's entry that stores no copy, the reading's row (columns 12
/// on, see `readings::reading_from_row`). Callers add WHERE / ORDER BY on `o`.
const ENTRY_SELECT: &str =
    "SELECT o.seq, o.op_id, o.entity, o.entity_id, o.order_id, o.op, o.fields,
        o.base_version, o.hlc, o.created_at, o.attempts, o.last_error,
        r.id, r.order_id, r.meter_asset, r.register, r.purpose, r.value, r.taken_at, r.photo_id,
        r.member_id, r.warnings, r.supersedes, r.hlc
    FROM outbox o LEFT JOIN readings r ON o.fields IS NULL AND r.id = o.entity_id";

impl Store {
    /// How many changes wait for the server. Cheap: fine on the main thread.
    pub fn pending_count(&self) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    /// The oldest `limit` pending changes, in the order they were made.
    pub fn pending(&self, limit: u32) -> Result<Vec<OutboxEntry>> {
        self.read(|c| {
            let sql = format!("{ENTRY_SELECT} ORDER BY o.seq LIMIT ?1");
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([limit], entry_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Pending changes of one order.
    pub fn pending_for_order(&self, order_id: Uuid) -> Result<Vec<OutboxEntry>> {
        self.read(|c| {
            let sql = format!("{ENTRY_SELECT} WHERE o.order_id = ?1 ORDER BY o.seq");
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([order_id.to_string()], entry_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The last HLC stamp this device handed out.
    pub fn last_hlc(&self) -> Result<Hlc> {
        self.read(last_hlc)
    }

    /// Moves the local HLC past a stamp from the server (called by sync on every pulled page).
    pub fn observe_remote_hlc(&self, remote: Hlc) -> Result<Hlc> {
        self.write(|tx, ctx| observe_hlc(tx, ctx, remote))
    }
}
