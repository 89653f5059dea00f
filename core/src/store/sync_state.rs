//! The store's side of sync: the pull cursor, applying a pulled page (server state, with the
//! device's pending edits put back on top), acknowledging pushed operations, and the device's
//! conflict list with its acknowledge / resolve actions (which queue in the outbox and sync).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::codec::{self, ms};
use super::orders::{SearchBatch, check_order, insert_meter, load_meters, write_order};
use super::outbox::{self, Change, Entity, Op, OutboxEntry, observe_hlc};
use super::{Store, WriteCtx, get_meta, require_session, set_meta};
use crate::error::{Error, Result};
use crate::sync::wire::{
    Conflict, ConflictAction, ConflictStatus, Outcome, PullResponse, PulledChange, Resolution,
    ResolveChoice,
};
use crate::work_order::Meter;

const CURSOR_KEY: &str = "sync_cursor";

/// What applying one pulled page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageStats {
    pub orders: u64,
    pub removed: u64,
    pub deferred_removals: u64,
    pub conflicts: u64,
}

/// A change the server refused (never retried).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedChange {
    pub op_id: Uuid,
    pub entity: Entity,
    pub entity_id: String,
    pub order_id: Uuid,
    pub fields: Value,
    pub code: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

fn pending_of_order(tx: &Transaction<'_>, order_id: &str) -> Result<Vec<(Entity, String, Value)>> {
    let mut stmt = tx.prepare_cached(
        "SELECT entity, entity_id, fields FROM outbox WHERE order_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([order_id], |r| {
        Ok((
            codec::parsed::<Entity>(r, 0)?,
            r.get::<_, String>(1)?,
            // NULL for readings (their row is the payload); nothing here reads a reading's.
            codec::opt_json::<Value>(r, 2)?.unwrap_or(Value::Null),
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Puts the device's unacknowledged edits of `order_id` back on top of the server's copy.
fn reapply_pending(tx: &Transaction<'_>, order_id: Uuid, search: &mut SearchBatch) -> Result<()> {
    let id = order_id.to_string();
    let pending = pending_of_order(tx, &id)?;
    if pending.is_empty() {
        return Ok(());
    }
    let mut meters_added = false;
    for (entity, _, fields) in pending {
        match entity {
            Entity::WorkOrder => {
                if let Value::Object(map) = fields {
                    for (k, v) in map {
                        let (col, val) = match k.as_str() {
                            "crew_notes" => ("crew_notes", v.as_str().map(str::to_owned)),
                            "customer_phone" => ("customer_phone", v.as_str().map(str::to_owned)),
                            "survey" => ("survey", (!v.is_null()).then(|| v.to_string())),
                            _ => continue,
                        };
                        let sql = format!("UPDATE work_orders SET {col} = ?2 WHERE id = ?1");
                        tx.prepare_cached(&sql)?.execute(params![id, val])?;
                    }
                }
            }
            Entity::StatusEvent => {
                if let Some(to) = fields.get("to").and_then(Value::as_str) {
                    tx.prepare_cached("UPDATE work_orders SET status = ?2 WHERE id = ?1")?
                        .execute(params![id, to])?;
                }
            }
            Entity::Meter => {
                let meter: Meter = serde_json::from_value(fields)?;
                if !load_meters(tx, order_id)?
                    .iter()
                    .any(|m| m.asset_number == meter.asset_number)
                {
                    insert_meter(tx, order_id, &meter)?;
                    meters_added = true;
                }
            }
            Entity::Reading
            | Entity::Replacement
            | Entity::Evaluation
            | Entity::Conflict
            | Entity::Photo => {}
        }
    }
    if meters_added {
        search.reindex_from_rows(tx, order_id)?;
    }
    Ok(())
}

fn upsert_conflict(tx: &Transaction<'_>, c: &Conflict, now: DateTime<Utc>) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO conflicts (id, order_id, order_number, field, rule, status, body, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, rule = excluded.rule,
             body = excluded.body, updated_at = excluded.updated_at",
    )?
    .execute(params![
        c.id.to_string(),
        c.order_id.to_string(),
        c.order_number,
        c.field,
        c.rule.as_str(),
        c.status.as_str(),
        serde_json::to_string(c)?,
        ms(now),
    ])?;
    Ok(())
}

fn load_conflict(tx: &rusqlite::Connection, id: Uuid) -> Result<Option<Conflict>> {
    let body: Option<String> = tx
        .prepare_cached("SELECT body FROM conflicts WHERE id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))
        .optional()?;
    Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
}

/// Applies a conflict action to the local copy (it stays on top until the server confirms).
fn apply_conflict_action(c: &mut Conflict, action: &ConflictAction, by: &str) {
    match action {
        ConflictAction::Acknowledge => {
            if c.status == ConflictStatus::Open {
                c.status = ConflictStatus::Acknowledged;
            }
        }
        ConflictAction::Resolve { choice, note } => {
            if c.status != ConflictStatus::Resolved {
                c.status = ConflictStatus::Resolved;
                c.resolution = Some(Resolution {
                    choice: *choice,
                    by: by.to_owned(),
                    note: note.clone(),
                });
            }
        }
    }
}

fn remove_order(tx: &Transaction<'_>, id: &str) -> Result<bool> {
    tx.prepare_cached(
        "DELETE FROM order_search WHERE rowid = (SELECT rid FROM work_orders WHERE id = ?1)",
    )?
    .execute([id])?;
    Ok(tx
        .prepare_cached("DELETE FROM work_orders WHERE id = ?1")?
        .execute([id])?
        > 0)
}

/// Drops orders whose removal waited for their outbox entries, once none is left.
pub(crate) fn flush_deferred_removals(tx: &Transaction<'_>) -> Result<u64> {
    let ids: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT order_id FROM deferred_removals d
             WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.order_id = d.order_id)
               AND NOT EXISTS (SELECT 1 FROM photos p JOIN photo_uploads u ON u.sha256 = p.sha256
                               WHERE p.order_id = d.order_id AND u.state <> 'uploaded')",
        )?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut n = 0;
    for id in ids {
        if remove_order(tx, &id)? {
            n += 1;
        }
        tx.prepare_cached("DELETE FROM deferred_removals WHERE order_id = ?1")?
            .execute([&id])?;
    }
    Ok(n)
}

fn insert_facts(tx: &Transaction<'_>, change: &PulledChange) -> Result<()> {
    let PulledChange::Order {
        timeline,
        readings,
        replacements,
        evaluations,
        ..
    } = change
    else {
        return Ok(());
    };
    for e in timeline {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO status_events (id, order_id, from_status, to_status, reason, note, at, lat, lon,
                 accuracy_m, member_id, hlc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            e.id.to_string(),
            e.order_id.to_string(),
            e.from.as_str(),
            e.to.as_str(),
            e.reason.map(|r| r.as_str()),
            e.note,
            ms(e.at),
            e.fix.map(|f| f.point.lat),
            e.fix.map(|f| f.point.lon),
            e.fix.and_then(|f| f.accuracy_m),
            e.member_id,
            e.hlc.to_string(),
        ])?;
    }
    for r in readings {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO readings (id, order_id, meter_asset, register, purpose, value, taken_at, photo_id,
                 member_id, warnings, supersedes, hlc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            r.id.to_string(),
            r.order_id.to_string(),
            r.meter_asset,
            r.register.as_str(),
            r.purpose.as_str(),
            r.value.to_string(),
            ms(r.taken_at),
            r.photo_id,
            r.member_id,
            serde_json::to_string(&r.warnings)?,
            r.supersedes.map(|s| s.to_string()),
            r.hlc.to_string(),
        ])?;
    }
    for r in replacements {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO replacements (id, order_id, old_meter, old_balance, new_meter, new_card, at, member_id, hlc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            r.id.to_string(),
            r.order_id.to_string(),
            r.old_meter,
            r.old_balance.map(|b| b.to_string()),
            r.new_meter,
            r.new_card,
            ms(r.at),
            r.member_id,
            r.hlc.to_string(),
        ])?;
    }
    for e in evaluations {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO evaluations (id, order_id, score, comment, at, member_id, hlc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            e.id.to_string(),
            e.order_id.to_string(),
            e.score,
            e.comment,
            ms(e.at),
            e.member_id,
            e.hlc.to_string(),
        ])?;
    }
    Ok(())
}

/// A server's clock stamp this device will adopt: one far ahead would drag the device's HLC
/// (and every stamp it makes afterwards) into the future, so it is refused.
pub(crate) fn check_server_hlc(
    hlc: crate::hlc::Hlc,
    now: DateTime<Utc>,
) -> std::result::Result<(), String> {
    if hlc.wall_ms > ms(now) + 30 * 86_400_000 {
        return Err("the server's clock stamp is more than 30 days ahead".into());
    }
    Ok(())
}

/// Checks a pulled page before anything of it is written: a malformed or hostile reply must
/// leave the store and the cursor as they were. Returns a description of the first problem.
pub(crate) fn check_page(
    page: &PullResponse,
    cursor: i64,
    crew_id: &str,
    now: DateTime<Utc>,
) -> std::result::Result<(), String> {
    if page.cursor < cursor {
        return Err(format!(
            "the cursor went backwards ({} after {cursor})",
            page.cursor
        ));
    }
    check_server_hlc(page.server_hlc, now)?;
    if page.more && page.changes.is_empty() {
        return Err("an empty page that says more follows".into());
    }
    if !page.more && page.remaining.is_some_and(|r| r > 0) {
        return Err("a last page that counts changes beyond it".into());
    }
    let mut last = cursor;
    let mut orders = HashSet::new();
    for change in &page.changes {
        let seq = change.seq();
        if seq <= last || seq > page.cursor {
            return Err(format!(
                "change {seq} is out of order or beyond the page's cursor"
            ));
        }
        last = seq;
        match change {
            PulledChange::Order {
                order,
                timeline,
                readings,
                replacements,
                evaluations,
                photos,
                ..
            } => {
                if order.crew_id != crew_id {
                    return Err(format!("order {} belongs to another crew", order.id));
                }
                if !orders.insert(order.id) {
                    return Err(format!("order {} appears twice in one page", order.id));
                }
                check_order(order).map_err(|e| format!("order {}: {e}", order.id))?;
                if order.version < 1 {
                    return Err(format!("order {} has no server version", order.id));
                }
                let foreign = timeline
                    .iter()
                    .map(|e| e.order_id)
                    .chain(readings.iter().map(|r| r.order_id))
                    .chain(replacements.iter().map(|r| r.order_id))
                    .chain(evaluations.iter().map(|e| e.order_id))
                    .chain(photos.iter().map(|p| p.order_id))
                    .any(|id| id != order.id);
                if foreign {
                    return Err(format!(
                        "order {} carries records of another order",
                        order.id
                    ));
                }
                if evaluations.iter().any(|e| !(1..=5).contains(&e.score)) {
                    return Err(format!(
                        "order {}: an evaluation score out of range",
                        order.id
                    ));
                }
                // A photo record names a file by its content address: a hostile one must not
                // name a path, nor promise a download no phone should attempt.
                for p in photos {
                    p.check_record()
                        .map_err(|e| format!("order {}: photo {}: {e}", order.id, p.id))?;
                }
            }
            PulledChange::Removal { .. } => {}
            PulledChange::Conflict { conflict, .. } => {
                if conflict.crew_id != crew_id {
                    return Err(format!("conflict {} belongs to another crew", conflict.id));
                }
            }
        }
    }
    if !page.more && page.changes.is_empty() && page.cursor != cursor {
        return Err("an empty last page moved the cursor".into());
    }
    Ok(())
}

impl Store {
    /// The server sequence number up to which this device has pulled. Cheap.
    pub fn sync_cursor(&self) -> Result<i64> {
        self.read(|c| {
            get_meta(c, CURSOR_KEY)?
                .map(|s| {
                    s.parse::<i64>()
                        .map_err(|_| Error::Corrupt("sync cursor".into()))
                })
                .transpose()
                .map(|v| v.unwrap_or(0))
        })
    }

    /// Applies one checked page and its cursor in one transaction. Fails (and writes nothing)
    /// if the cursor moved since `from_cursor` was read.
    pub(crate) fn apply_pull_page(
        &self,
        from_cursor: i64,
        page: &PullResponse,
    ) -> Result<PageStats> {
        self.write(|tx, ctx| {
            let now_cursor = get_meta(tx, CURSOR_KEY)?
                .map(|s| s.parse::<i64>().map_err(|_| Error::Corrupt("sync cursor".into())))
                .transpose()?
                .unwrap_or(0);
            if now_cursor != from_cursor {
                return Err(Error::invalid("sync", "another sync moved the cursor"));
            }
            let mut stats = PageStats::default();
            let mut pending_conflicts: Vec<(Uuid, ConflictAction)> = Vec::new();
            // Nothing waits to be sent or removed (an initial pull, or most pulls after a
            // push): no order of the page needs its pending edits laid on top again.
            let (outbox_empty, mut deferred_empty): (bool, bool) = tx.query_row(
                "SELECT NOT EXISTS (SELECT 1 FROM outbox), NOT EXISTS (SELECT 1 FROM deferred_removals)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let mut search = SearchBatch::default();
            for change in &page.changes {
                match change {
                    PulledChange::Order { order, photos, .. } => {
                        write_order(tx, order, ctx.now, &mut search)?;
                        insert_facts(tx, change)?;
                        super::transfer::note_remote_photos(tx, photos)?;
                        if !outbox_empty {
                            reapply_pending(tx, order.id, &mut search)?;
                        }
                        if !deferred_empty {
                            tx.prepare_cached(
                                "DELETE FROM deferred_removals WHERE order_id = ?1",
                            )?
                            .execute([order.id.to_string()])?;
                        }
                        stats.orders += 1;
                    }
                    PulledChange::Removal { order_id, .. } => {
                        // Search rows of orders written so far go in first: this may remove one.
                        std::mem::take(&mut search).flush(tx)?;
                        let id = order_id.to_string();
                        let pending: i64 = tx
                            .prepare_cached("SELECT count(*) FROM outbox WHERE order_id = ?1")?
                            .query_row([&id], |r| r.get(0))?;
                        // Photos the server does not have yet keep the order here too.
                        let pending = pending + super::transfer::unsent_photos(tx, &id)?;
                        if pending > 0 {
                            tx.prepare_cached(
                                "INSERT OR IGNORE INTO deferred_removals (order_id) VALUES (?1)",
                            )?
                            .execute([&id])?;
                            deferred_empty = false;
                            stats.deferred_removals += 1;
                        } else if remove_order(tx, &id)? {
                            stats.removed += 1;
                        }
                    }
                    PulledChange::Conflict { conflict, .. } => {
                        upsert_conflict(tx, conflict, ctx.now)?;
                        stats.conflicts += 1;
                        let mut stmt = tx.prepare_cached(
                            "SELECT fields FROM outbox WHERE entity = 'conflict' AND entity_id = ?1 ORDER BY seq",
                        )?;
                        for f in stmt.query_map([conflict.id.to_string()], |r| codec::json::<ConflictAction>(r, 0))? {
                            pending_conflicts.push((conflict.id, f?));
                        }
                    }
                }
            }
            search.flush(tx)?;
            if !pending_conflicts.is_empty() {
                let by = require_session(tx).map(|s| s.member_id).unwrap_or_default();
                for (id, action) in pending_conflicts {
                    if let Some(mut c) = load_conflict(tx, id)? {
                        apply_conflict_action(&mut c, &action, &by);
                        upsert_conflict(tx, &c, ctx.now)?;
                    }
                }
            }
            set_meta(tx, CURSOR_KEY, &page.cursor.to_string())?;
            observe_hlc(tx, ctx, page.server_hlc)?;
            Ok(stats)
        })
    }

    /// Removes answered operations from the outbox in one transaction: every outcome
    /// acknowledges; rejections are kept in [`Store::rejected_changes`]. Then drops orders whose
    /// removal waited for them.
    pub(crate) fn acknowledge_pushed(
        &self,
        answered: &[(&OutboxEntry, &Outcome)],
        server_hlc: crate::hlc::Hlc,
    ) -> Result<u64> {
        self.write(|tx, ctx| {
            for (entry, outcome) in answered {
                if let Outcome::Rejected { code, reason } = outcome {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO sync_rejections (op_id, entity, entity_id, order_id, fields, code, reason, at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )?
                    .execute(params![
                        entry.op_id.to_string(),
                        entry.entity.as_str(),
                        entry.entity_id,
                        entry.order_id.to_string(),
                        entry.fields.to_string(),
                        code.as_str(),
                        reason,
                        ms(ctx.now),
                    ])?;
                }
                tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1 AND op_id = ?2")?
                    .execute(params![entry.seq, entry.op_id.to_string()])?;
            }
            observe_hlc(tx, ctx, server_hlc)?;
            flush_deferred_removals(tx)
        })
    }

    /// Notes a failed push attempt on the entries (for the shell's "waiting to send" view).
    pub(crate) fn note_push_failure(&self, entries: &[OutboxEntry], error: &str) -> Result<()> {
        self.write(|tx, _| {
            for e in entries {
                tx.prepare_cached(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?3 WHERE seq = ?1 AND op_id = ?2",
                )?
                .execute(params![e.seq, e.op_id.to_string(), error])?;
            }
            Ok(())
        })
    }

    /// Conflicts on the crew's orders, newest first; `open_only` leaves out acknowledged and
    /// resolved ones. Cheap.
    pub fn conflicts(&self, open_only: bool) -> Result<Vec<Conflict>> {
        self.read(|c| {
            let sql = if open_only {
                "SELECT body FROM conflicts WHERE status = 'open' ORDER BY updated_at DESC, id"
            } else {
                "SELECT body FROM conflicts ORDER BY updated_at DESC, id"
            };
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map([], |r| codec::json::<Conflict>(r, 0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Acknowledges a conflict: seen, nothing to change. Syncs to the server.
    pub fn acknowledge_conflict(&self, id: Uuid) -> Result<Conflict> {
        self.conflict_action(id, ConflictAction::Acknowledge)
    }

    /// Resolves a conflict: keep the value that stands, or put the losing value back (a
    /// crew-owned field only; the server checks). Syncs to the server.
    pub fn resolve_conflict(
        &self,
        id: Uuid,
        choice: ResolveChoice,
        note: &str,
    ) -> Result<Conflict> {
        if note.chars().count() > 2000 {
            return Err(Error::invalid("note", "at most 2000 characters"));
        }
        self.conflict_action(
            id,
            ConflictAction::Resolve {
                choice,
                note: note.trim().to_owned(),
            },
        )
    }

    fn conflict_action(&self, id: Uuid, action: ConflictAction) -> Result<Conflict> {
        self.write(|tx, ctx: &WriteCtx<'_>| {
            let session = require_session(tx)?;
            let mut c = load_conflict(tx, id)?.ok_or_else(|| Error::not_found("conflict", id))?;
            apply_conflict_action(&mut c, &action, &session.member_id);
            upsert_conflict(tx, &c, ctx.now)?;
            let version: i64 = tx
                .prepare_cached("SELECT version FROM work_orders WHERE id = ?1")?
                .query_row([c.order_id.to_string()], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            let hlc = outbox::next_hlc(tx, ctx)?;
            let entity_id = id.to_string();
            outbox::push(
                tx,
                ctx,
                Change {
                    entity: Entity::Conflict,
                    entity_id: &entity_id,
                    order_id: c.order_id,
                    op: Op::Update,
                    fields: serde_json::to_value(&action)?,
                    base_version: version,
                },
                hlc,
            )?;
            Ok(c)
        })
    }

    /// Changes the server refused, newest first. Cheap.
    pub fn rejected_changes(&self) -> Result<Vec<RejectedChange>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT op_id, entity, entity_id, order_id, fields, code, reason, at FROM sync_rejections ORDER BY at DESC, op_id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(RejectedChange {
                    op_id: codec::parsed(r, 0)?,
                    entity: codec::parsed(r, 1)?,
                    entity_id: r.get(2)?,
                    order_id: codec::parsed(r, 3)?,
                    fields: codec::json(r, 4)?,
                    code: r.get(5)?,
                    reason: r.get(6)?,
                    at: codec::time(r, 7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}
