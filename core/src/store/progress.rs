//! Status reports from the field: arrival, start, suspension, completion. Each is an event with
//! time, optional GPS fix and member, queued for the server in the same transaction.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codec::{self, ms};
use super::outbox::{self, Change, Entity, Op};
use super::{Store, require_session};
use crate::error::{Error, Result};
use crate::geo::{Fix, GeoPoint};
use crate::hlc::Hlc;
use crate::work_order::status::{Actor, check_transition};
use crate::work_order::{Status, SuspendReason};

/// What the member reports.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    pub order_id: Uuid,
    pub to: Status,
    pub reason: Option<SuspendReason>,
    pub note: String,
    pub fix: Option<Fix>,
}

/// A recorded status change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub id: Uuid,
    pub order_id: Uuid,
    pub from: Status,
    pub to: Status,
    pub reason: Option<SuspendReason>,
    pub note: String,
    pub at: DateTime<Utc>,
    pub fix: Option<Fix>,
    pub member_id: String,
    pub hlc: Hlc,
}

/// The order's status and server version, for checks inside a write.
pub(crate) fn status_and_version(conn: &Connection, order_id: Uuid) -> Result<(Status, i64)> {
    conn.prepare_cached("SELECT status, version FROM work_orders WHERE id = ?1")?
        .query_row([order_id.to_string()], |r| {
            Ok((codec::parsed(r, 0)?, r.get(1)?))
        })
        .optional()?
        .ok_or_else(|| Error::not_found("work order", order_id))
}

pub(crate) fn load_timeline(conn: &Connection, order_id: Uuid) -> Result<Vec<StatusEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, order_id, from_status, to_status, reason, note, at, lat, lon, accuracy_m, member_id, hlc
         FROM status_events WHERE order_id = ?1 ORDER BY at, hlc",
    )?;
    let rows = stmt.query_map([order_id.to_string()], |r| {
        let fix = match (r.get::<_, Option<f64>>(7)?, r.get::<_, Option<f64>>(8)?) {
            (Some(lat), Some(lon)) => Some(Fix {
                point: GeoPoint { lat, lon },
                accuracy_m: r.get(9)?,
            }),
            _ => None,
        };
        Ok(StatusEvent {
            id: codec::parsed(r, 0)?,
            order_id: codec::parsed(r, 1)?,
            from: codec::parsed(r, 2)?,
            to: codec::parsed(r, 3)?,
            reason: codec::opt_parsed(r, 4)?,
            note: r.get(5)?,
            at: codec::time(r, 6)?,
            fix,
            member_id: r.get(10)?,
            hlc: codec::parsed(r, 11)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl Store {
    /// Records a status change made in the field. Illegal transitions (completing before
    /// arriving, a crew cancelling, a suspension without reason) are typed errors and nothing is
    /// written. Cheap (one short transaction).
    pub fn report_status(&self, report: &StatusReport) -> Result<StatusEvent> {
        self.write(|tx, ctx| {
            let session = require_session(tx)?;
            let (from, version) = status_and_version(tx, report.order_id)?;
            check_transition(Actor::Crew, from, report.to, report.reason, &report.note)?;
            let hlc = outbox::next_hlc(tx, ctx)?;
            let event = StatusEvent {
                id: Uuid::now_v7(),
                order_id: report.order_id,
                from,
                to: report.to,
                reason: report.reason,
                note: report.note.trim().to_owned(),
                at: ctx.now,
                // Site-level precision only: where the crew was, not the phone's exact trail.
                fix: report.fix.map(Fix::site_level),
                member_id: session.member_id,
                hlc,
            };
            tx.prepare_cached(
                "INSERT INTO status_events (id, order_id, from_status, to_status, reason, note, at, lat, lon,
                     accuracy_m, member_id, hlc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                event.id.to_string(),
                event.order_id.to_string(),
                event.from.as_str(),
                event.to.as_str(),
                event.reason.map(|r| r.as_str()),
                event.note,
                ms(event.at),
                event.fix.map(|f| f.point.lat),
                event.fix.map(|f| f.point.lon),
                event.fix.and_then(|f| f.accuracy_m),
                event.member_id,
                event.hlc.to_string(),
            ])?;
            tx.prepare_cached("UPDATE work_orders SET status = ?2, updated_at = ?3 WHERE id = ?1")?.execute(params![
                report.order_id.to_string(),
                report.to.as_str(),
                ms(ctx.now)
            ])?;
            let id = event.id.to_string();
            let change = Change {
                entity: Entity::StatusEvent,
                entity_id: &id,
                order_id: report.order_id,
                op: Op::Create,
                fields: serde_json::to_value(&event)?,
                base_version: version,
            };
            outbox::push(tx, ctx, change, hlc)?;
            tracing::debug!(order = %event.order_id, from = %event.from, to = %event.to, "status reported");
            Ok(event)
        })
    }

    /// The order's status events, oldest first.
    pub fn timeline(&self, order_id: Uuid) -> Result<Vec<StatusEvent>> {
        self.read(|c| load_timeline(c, order_id))
    }
}
