//! Orders as dispatch sends them: storing the server's copy, reading them back, listing them.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Store;
use super::codec::{self, ms};
use crate::error::{Error, Result};
use crate::geo::GeoPoint;
use crate::work_order::appointment::urgency;
use crate::work_order::{
    Appointment, Customer, DocumentKind, Meter, MeterRegister, Priority, Site, Status, Urgency,
    WorkKind, WorkOrder,
};

/// An order as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSummary {
    pub id: Uuid,
    pub number: String,
    pub kind: WorkKind,
    pub status: Status,
    pub priority: Priority,
    pub customer_name: String,
    pub address: String,
    pub area: String,
    pub location: Option<GeoPoint>,
    pub appointment: Appointment,
    pub due_at: DateTime<Utc>,
    pub agenda_at: DateTime<Utc>,
    /// None for completed and cancelled orders.
    pub urgency: Option<Urgency>,
}

pub(crate) const SUMMARY_COLUMNS: &str = "id, number, kind, status, priority, customer_name, address, area, lat, lon, appointment, due_at, agenda_at";

pub(crate) fn summary_from_row(row: &Row<'_>, store: &Store) -> rusqlite::Result<OrderSummary> {
    let status: Status = codec::parsed(row, 3)?;
    let due_at = codec::time(row, 11)?;
    Ok(OrderSummary {
        id: codec::parsed(row, 0)?,
        number: row.get(1)?,
        kind: codec::parsed(row, 2)?,
        status,
        priority: priority_at(row, 4)?,
        customer_name: row.get(5)?,
        address: row.get(6)?,
        area: row.get(7)?,
        location: location_at(row, 8)?,
        appointment: codec::appointment(row, 10)?,
        due_at,
        agenda_at: codec::time(row, 12)?,
        urgency: status
            .is_open()
            .then(|| urgency(due_at, store.now(), store.options.due_soon)),
    })
}

fn priority_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Priority> {
    let rank: i64 = row.get(idx)?;
    Priority::from_rank(rank).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Integer,
            "priority out of range".into(),
        )
    })
}

fn location_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<GeoPoint>> {
    Ok(
        match (
            row.get::<_, Option<f64>>(idx)?,
            row.get::<_, Option<f64>>(idx + 1)?,
        ) {
            (Some(lat), Some(lon)) => Some(GeoPoint { lat, lon }),
            _ => None,
        },
    )
}

const ORDER_COLUMNS: &str = "id, number, kind, status, priority, customer_name, customer_account, customer_phone, \
     address, area, lat, lon, appointment, accepted_at, required_documents, dispatch_notes, crew_notes, \
     crew_id, member_id, version, survey";

fn order_from_row(row: &Row<'_>, meters: Vec<Meter>) -> rusqlite::Result<WorkOrder> {
    Ok(WorkOrder {
        id: codec::parsed(row, 0)?,
        number: row.get(1)?,
        kind: codec::parsed(row, 2)?,
        status: codec::parsed(row, 3)?,
        priority: priority_at(row, 4)?,
        customer: Customer {
            name: row.get(5)?,
            account_number: row.get(6)?,
            phone: row.get(7)?,
        },
        site: Site {
            address: row.get(8)?,
            area: row.get(9)?,
            location: location_at(row, 10)?,
        },
        meters,
        appointment: codec::appointment(row, 12)?,
        accepted_at: codec::time(row, 13)?,
        required_documents: codec::json::<Vec<DocumentKind>>(row, 14)?,
        dispatch_notes: row.get(15)?,
        crew_notes: row.get(16)?,
        survey: codec::opt_json(row, 20)?,
        crew_id: row.get(17)?,
        member_id: row.get(18)?,
        version: row.get(19)?,
    })
}

pub(crate) fn load_meters(conn: &Connection, order_id: Uuid) -> Result<Vec<Meter>> {
    let mut stmt = conn.prepare_cached(
        "SELECT asset_number, phases, multiplier, prepaid, expected_daily_kwh, registers
         FROM meters WHERE order_id = ?1 ORDER BY asset_number",
    )?;
    let rows = stmt.query_map([order_id.to_string()], |r| {
        Ok(Meter {
            asset_number: r.get(0)?,
            phases: r.get(1)?,
            multiplier: codec::parsed(r, 2)?,
            prepaid: r.get(3)?,
            expected_daily_kwh: codec::opt_parsed(r, 4)?,
            registers: codec::json::<Vec<MeterRegister>>(r, 5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn load_order(conn: &Connection, id: Uuid) -> Result<WorkOrder> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM work_orders WHERE id = ?1");
    let meters = load_meters(conn, id)?;
    conn.prepare_cached(&sql)?
        .query_row([id.to_string()], |r| order_from_row(r, meters))
        .optional()?
        .ok_or_else(|| Error::not_found("work order", id))
}

/// Checks an order from outside (the server, an import) before it is stored.
pub(crate) fn check_order(order: &WorkOrder) -> Result<()> {
    if order.number.trim().is_empty() {
        return Err(Error::invalid("number", "an order needs its number"));
    }
    if order.crew_id.trim().is_empty() {
        return Err(Error::invalid(
            "crew_id",
            "an order is dispatched to a crew",
        ));
    }
    order.appointment.check()?;
    if let Some(survey) = &order.survey {
        survey.check()?;
    }
    for (i, m) in order.meters.iter().enumerate() {
        m.check()?;
        if order.meters[..i]
            .iter()
            .any(|o| o.asset_number == m.asset_number)
        {
            return Err(Error::invalid("meters", "a meter is listed twice"));
        }
    }
    Ok(())
}

/// Search rows waiting to be written at the end of a batch of orders.
///
/// FTS5 keeps what it is told in memory and writes it as one index segment when the
/// transaction commits, but any statement that opens a statement savepoint (an upsert, a
/// foreign-key check) makes it flush what it holds first. Indexing each order as it is written
/// made one tiny segment per order and merge work on every one of them: perf put 44 % of an
/// initial pull in those flushes. So the search rows of a page are written together, after its
/// orders.
#[derive(Default)]
pub(crate) struct SearchBatch {
    /// (rid, the text to index or None to build it from the rows, an old row to replace)
    rows: Vec<(i64, Option<String>, bool)>,
}

impl SearchBatch {
    /// The order's search text is rebuilt from its rows (its meters changed after it was
    /// written in this batch).
    pub(crate) fn reindex_from_rows(&mut self, tx: &Transaction<'_>, order_id: Uuid) -> Result<()> {
        let rid: i64 = tx
            .prepare_cached("SELECT rid FROM work_orders WHERE id = ?1")?
            .query_row([order_id.to_string()], |r| r.get(0))?;
        match self.rows.iter_mut().find(|(r, _, _)| *r == rid) {
            Some(entry) => entry.1 = None,
            None => self.rows.push((rid, None, true)),
        }
        Ok(())
    }

    pub(crate) fn flush(self, tx: &Transaction<'_>) -> Result<()> {
        for (rid, body, existed) in self.rows {
            if existed {
                tx.prepare_cached("DELETE FROM order_search WHERE rowid = ?1")?
                    .execute([rid])?;
            }
            match body {
                Some(body) => tx
                    .prepare_cached("INSERT INTO order_search (rowid, body) VALUES (?1, ?2)")?
                    .execute(params![rid, body])?,
                None => tx.prepare_cached(REINDEX_FROM_ROWS)?.execute([rid])?,
            };
        }
        Ok(())
    }
}

/// The search text of order `rid` from its rows: number, account, customer name, address,
/// meter assets (`write_order` builds the same text from the order in hand).
const REINDEX_FROM_ROWS: &str = "INSERT INTO order_search (rowid, body)
     SELECT rid, number || char(10) || customer_account || char(10) || customer_name || char(10) || address
            || coalesce(char(10) || (SELECT group_concat(asset_number, char(10)) FROM meters WHERE order_id = w.id), '')
     FROM work_orders w WHERE rid = ?1";

/// Stores an order exactly as given (the server's copy), replacing its meters. Its search row
/// goes into `search`, to be written with the batch's.
pub(crate) fn write_order(
    tx: &Transaction<'_>,
    order: &WorkOrder,
    now: DateTime<Utc>,
    search: &mut SearchBatch,
) -> Result<()> {
    check_order(order)?;
    let loc = order.site.location;
    let id = order.id.to_string();
    // A new order (every one of an initial pull) has no meters or search row to replace, and
    // is a plain INSERT: an upsert (or RETURNING) makes SQLite journal every page the
    // statement touches in case it must undo it, which cost a third of an initial pull.
    let old_rid: Option<i64> = tx
        .prepare_cached("SELECT rid FROM work_orders WHERE id = ?1")?
        .query_row([&id], |r| r.get(0))
        .optional()?;
    let existed = old_rid.is_some();
    let appointment = serde_json::to_string(&order.appointment)?;
    let documents = serde_json::to_string(&order.required_documents)?;
    let survey = order
        .survey
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let values = params![
        id,
        order.number,
        order.kind.as_str(),
        order.status.as_str(),
        order.priority.rank(),
        order.customer.name,
        order.customer.account_number,
        order.customer.phone,
        order.site.address,
        order.site.area,
        loc.map(|p| p.lat),
        loc.map(|p| p.lon),
        appointment,
        ms(order.accepted_at),
        ms(order.due_at()),
        ms(order.appointment.agenda_at(order.accepted_at)),
        documents,
        order.dispatch_notes,
        order.crew_notes,
        order.crew_id,
        order.member_id,
        order.version,
        ms(now),
        survey,
    ];
    let rid = match old_rid {
        Some(rid) => {
            tx.prepare_cached(
                "UPDATE work_orders SET number = ?2, kind = ?3, status = ?4, priority = ?5,
                     customer_name = ?6, customer_account = ?7, customer_phone = ?8, address = ?9,
                     area = ?10, lat = ?11, lon = ?12, appointment = ?13, accepted_at = ?14,
                     due_at = ?15, agenda_at = ?16, required_documents = ?17, dispatch_notes = ?18,
                     crew_notes = ?19, crew_id = ?20, member_id = ?21, version = ?22,
                     updated_at = ?23, survey = ?24
                 WHERE id = ?1",
            )?
            .execute(values)?;
            rid
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO work_orders (id, number, kind, status, priority, customer_name,
                     customer_account, customer_phone, address, area, lat, lon, appointment,
                     accepted_at, due_at, agenda_at, required_documents, dispatch_notes,
                     crew_notes, crew_id, member_id, version, updated_at, survey)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
            )?
            .execute(values)?;
            tx.last_insert_rowid()
        }
    };
    if existed {
        tx.prepare_cached("DELETE FROM meters WHERE order_id = ?1")?
            .execute([&id])?;
    }
    for meter in &order.meters {
        insert_meter(tx, order.id, meter)?;
    }
    // The search text from the order in hand, the same text `reindex` reads back from the rows.
    let mut body = format!(
        "{}\n{}\n{}\n{}",
        order.number, order.customer.account_number, order.customer.name, order.site.address
    );
    for m in &order.meters {
        body.push('\n');
        body.push_str(&m.asset_number);
    }
    search.rows.push((rid, Some(body), existed));
    Ok(())
}

pub(crate) fn insert_meter(tx: &Transaction<'_>, order_id: Uuid, meter: &Meter) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO meters (order_id, asset_number, phases, multiplier, prepaid, expected_daily_kwh, registers)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        order_id.to_string(),
        meter.asset_number,
        meter.phases,
        meter.multiplier.to_string(),
        meter.prepaid,
        meter.expected_daily_kwh.map(|d| d.to_string()),
        serde_json::to_string(&meter.registers)?,
    ])?;
    Ok(())
}

/// Rebuilds the order's search text: number, account, customer name, address, meter assets.
pub(crate) fn reindex(tx: &Transaction<'_>, order_id: Uuid) -> Result<()> {
    let rid: i64 = tx
        .prepare_cached("SELECT rid FROM work_orders WHERE id = ?1")?
        .query_row([order_id.to_string()], |r| r.get(0))?;
    tx.prepare_cached("DELETE FROM order_search WHERE rowid = ?1")?
        .execute([rid])?;
    tx.prepare_cached(REINDEX_FROM_ROWS)?.execute([rid])?;
    Ok(())
}

impl Store {
    /// Stores orders as the server (or an import) sends them, in one transaction. Nothing is
    /// queued for upload: this is the server's state. Sync uses it for pulled pages.
    pub fn save_server_orders(&self, orders: &[WorkOrder]) -> Result<()> {
        self.write(|tx, ctx| {
            let mut search = SearchBatch::default();
            for order in orders {
                write_order(tx, order, ctx.now, &mut search)?;
            }
            search.flush(tx)
        })?;
        tracing::debug!(orders = orders.len(), "server orders saved");
        Ok(())
    }

    /// One order with its meters. Cheap.
    pub fn order(&self, id: Uuid) -> Result<WorkOrder> {
        self.read(|c| load_order(c, id))
    }

    /// Orders in the given statuses (all when empty), soonest due first, at most `limit`.
    pub fn orders_by_status(&self, statuses: &[Status], limit: u32) -> Result<Vec<OrderSummary>> {
        self.read(|c| {
            let mut out = Vec::new();
            let wanted: Vec<Status> = if statuses.is_empty() { Status::ALL.to_vec() } else { statuses.to_vec() };
            for status in wanted {
                let sql = format!(
                    "SELECT {SUMMARY_COLUMNS} FROM work_orders WHERE status = ?1 ORDER BY due_at, priority DESC LIMIT ?2"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                for row in stmt.query_map(params![status.as_str(), limit], |r| summary_from_row(r, self))? {
                    out.push(row?);
                }
            }
            out.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(b.priority.cmp(&a.priority)));
            out.truncate(limit as usize);
            Ok(out)
        })
    }

    /// How many orders the device holds, by status. Cheap.
    pub fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT status, count(*) FROM work_orders GROUP BY status")?;
            let rows = stmt.query_map([], |r| {
                Ok((codec::parsed::<Status>(r, 0)?, r.get::<_, i64>(1)? as u64))
            })?;
            let mut out: Vec<(Status, u64)> = rows.collect::<rusqlite::Result<_>>()?;
            out.sort_by_key(|(s, _)| Status::ALL.iter().position(|x| x == s));
            Ok(out)
        })
    }
}
