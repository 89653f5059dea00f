//! The embedded SQLite backend: one file in the data directory, WAL, one writer and one reader
//! connection. A push batch runs in one IMMEDIATE transaction; the orders it touches are loaded
//! once, changed in memory and written back at commit, so a batch of a thousand operations costs
//! a few thousand indexed statements.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use fieldcrew_core::hlc::Hlc;
use fieldcrew_core::store::StatusEvent;
use fieldcrew_core::sync::wire::{
    Answer, Conflict, ConflictAction, ConflictRule, ConflictStatus, Outcome, PushOp, RejectCode,
    Resolution, ResolveChoice,
};
use fieldcrew_core::work_order::{Status, WorkOrder};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::merge::{self, FieldDecision, FieldStamp, Owner, Side, StatusEffect, Writer};
use crate::validate::{self, Checked, Reject};

const SCHEMA: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("schema_002_photos.sql"),
    include_str!("schema_003_photo_owners.sql"),
];
pub const DB_FILE: &str = "fieldcrew-server.sqlite3";

pub struct SqliteStorage {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    node: Uuid,
    tz: FixedOffset,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| ApiError::Corrupt("timestamp".into()))
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn open_conn(path: &Path) -> Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    c.pragma_update(None, "foreign_keys", true)?;
    c.set_prepared_statement_cache_capacity(64);
    Ok(c)
}

/// An order loaded into a write transaction.
struct OrderRow {
    order: WorkOrder,
    archived: bool,
    seq: i64,
    meta: BTreeMap<String, FieldStamp>,
    fees: Vec<Fee>,
    created_at: DateTime<Utc>,
    dirty: bool,
    new: bool,
}

/// A write transaction with the state a batch shares.
struct Tx<'c> {
    tx: Transaction<'c>,
    seq: i64,
    hlc: Hlc,
    node: Uuid,
    now: DateTime<Utc>,
    tz: FixedOffset,
    orders: HashMap<Uuid, OrderRow>,
}

fn who_crew(caller: &Caller) -> String {
    format!(
        "crew:{}/{}",
        caller.crew_id.as_deref().unwrap_or("-"),
        caller.member_id
    )
}

fn who_dispatch(caller: &Caller) -> String {
    format!("dispatcher:{}", caller.member_id)
}

impl<'c> Tx<'c> {
    fn begin(conn: &'c mut Connection, node: Uuid, tz: FixedOffset) -> Result<Self> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = get_meta(&tx, "seq")?
            .map(|s| s.parse::<i64>())
            .transpose()
            .map_err(|_| ApiError::Corrupt("seq".into()))?
            .unwrap_or(0);
        let hlc = get_meta(&tx, "hlc")?
            .map(|s| s.parse::<Hlc>())
            .transpose()
            .map_err(|_| ApiError::Corrupt("hlc".into()))?
            .unwrap_or(Hlc::ZERO);
        Ok(Tx {
            tx,
            seq,
            hlc,
            node,
            now: Utc::now(),
            tz,
            orders: HashMap::new(),
        })
    }

    fn next_seq(&mut self) -> i64 {
        self.seq += 1;
        self.seq
    }

    /// The server's own stamp, for dispatch writes.
    fn tick(&mut self) -> Hlc {
        self.hlc = Hlc::tick(self.hlc, ms(self.now), self.node);
        self.hlc
    }

    fn observe(&mut self, remote: Hlc) {
        if remote > self.hlc {
            self.hlc = Hlc::observe(self.hlc, remote, ms(self.now), self.node);
        }
    }

    fn commit(self) -> Result<Hlc> {
        let ids: Vec<Uuid> = self
            .orders
            .iter()
            .filter(|(_, r)| r.dirty)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(row) = self.orders.get(&id) {
                save_order(&self.tx, row, self.now, self.tz)?;
            }
        }
        set_meta(&self.tx, "seq", &self.seq.to_string())?;
        set_meta(&self.tx, "hlc", &self.hlc.to_string())?;
        self.tx.commit()?;
        Ok(self.hlc)
    }

    fn order(&mut self, id: Uuid) -> Result<Option<&mut OrderRow>> {
        if !self.orders.contains_key(&id) {
            let row = self
                .tx
                .prepare_cached(
                    "SELECT doc, archived, seq, field_meta, fees, created_at FROM orders WHERE id = ?1",
                )?
                .query_row([id.to_string()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                })
                .optional()?;
            let Some((doc, archived, seq, meta, fees, created)) = row else {
                return Ok(None);
            };
            self.orders.insert(
                id,
                OrderRow {
                    order: serde_json::from_str(&doc)?,
                    archived,
                    seq,
                    meta: serde_json::from_str(&meta)?,
                    fees: serde_json::from_str(&fees)?,
                    created_at: from_ms(created)?,
                    dirty: false,
                    new: false,
                },
            );
        }
        Ok(self.orders.get_mut(&id))
    }

    fn row(&mut self, id: Uuid) -> Result<&mut OrderRow> {
        self.order(id)?.ok_or(ApiError::NotFound)
    }

    /// Marks the order changed without a new version (a fact was appended): pulls deliver it.
    fn touch(&mut self, id: Uuid) -> Result<()> {
        let seq = self.next_seq();
        let row = self.row(id)?;
        row.seq = seq;
        row.dirty = true;
        Ok(())
    }

    /// A new version of the order, with the fields it changed stamped.
    fn bump(&mut self, id: Uuid, fields: &[&str], stamp: FieldStamp) -> Result<()> {
        self.touch(id)?;
        let row = self.row(id)?;
        row.order.version += 1;
        let v = row.order.version;
        for f in fields {
            row.meta
                .insert((*f).to_owned(), FieldStamp { v, ..stamp.clone() });
        }
        Ok(())
    }

    fn crew_held(&self, order_id: Uuid, crew: &str) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM order_crews WHERE order_id = ?1 AND crew_id = ?2")?
            .query_row(params![order_id.to_string(), crew], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn fact_order(&self, id: Uuid) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT order_id FROM facts WHERE id = ?1")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?)
    }

    fn insert_fact(
        &mut self,
        kind: &str,
        id: Uuid,
        order_id: Uuid,
        at: DateTime<Utc>,
        hlc: Hlc,
        body: &str,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO facts (id, order_id, kind, at, hlc, body, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                id.to_string(),
                order_id.to_string(),
                kind,
                ms(at),
                hlc.to_string(),
                body,
                ms(self.now)
            ])?;
        self.touch(order_id)
    }

    fn log(&self, order_id: Uuid, by: &str, action: &str, detail: Value) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO dispatch_log (order_id, at, by, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                order_id.to_string(),
                ms(self.now),
                by,
                action,
                detail.to_string()
            ])?;
        Ok(())
    }

    fn save_conflict(&mut self, c: &Conflict) -> Result<()> {
        let seq = self.next_seq();
        self.tx
            .prepare_cached(
                "INSERT INTO conflicts (id, order_id, crew_id, rule, status, seq, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET rule = excluded.rule, status = excluded.status, seq = excluded.seq, body = excluded.body",
            )?
            .execute(params![
                c.id.to_string(),
                c.order_id.to_string(),
                c.crew_id,
                c.rule.as_str(),
                c.status.as_str(),
                seq,
                serde_json::to_string(c)?
            ])?;
        Ok(())
    }

    fn conflict(&self, id: Uuid) -> Result<Option<Conflict>> {
        let body: Option<String> = self
            .tx
            .prepare_cached("SELECT body FROM conflicts WHERE id = ?1")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    /// The open status conflict of this crew on this order, if any (one per order and crew).
    /// A field conflict on a reassigned order shares the rule but not the field: it holds the
    /// crew's field value and must never be rewritten by a later status event.
    fn open_status_conflict(&self, order_id: Uuid, crew: &str) -> Result<Option<Conflict>> {
        let body: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT body FROM conflicts WHERE order_id = ?1 AND crew_id = ?2 AND status = 'open'
                 AND rule IN ('cancelled_but_completed', 'cancelled_during_visit', 'reassigned_while_offline')
                 AND json_extract(body, '$.field') IN ('status', 'assignment')
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row(params![order_id.to_string(), crew], |r| r.get(0))
            .optional()?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    #[allow(clippy::too_many_arguments)]
    fn new_conflict(
        &mut self,
        order_id: Uuid,
        crew: &str,
        field: &str,
        rule: ConflictRule,
        kept: (Value, String),
        lost: (Value, String),
    ) -> Result<Conflict> {
        let number = self.row(order_id)?.order.number.clone();
        let c = Conflict {
            id: Uuid::now_v7(),
            order_id,
            order_number: number,
            crew_id: crew.to_owned(),
            field: field.to_owned(),
            rule,
            kept_value: kept.0,
            kept_by: kept.1,
            lost_value: lost.0,
            lost_by: lost.1,
            status: ConflictStatus::Open,
            resolution: None,
            created_at: self.now,
            updated_at: self.now,
        };
        self.save_conflict(&c)?;
        Ok(c)
    }

    fn removal(&mut self, crew: &str, order_id: Uuid) -> Result<()> {
        let seq = self.next_seq();
        self.tx
            .prepare_cached("INSERT INTO removals (crew_id, seq, order_id) VALUES (?1, ?2, ?3)")?
            .execute(params![crew, seq, order_id.to_string()])?;
        Ok(())
    }

    fn hold(&self, order_id: Uuid, crew: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO order_crews (order_id, crew_id) VALUES (?1, ?2)",
            )?
            .execute(params![order_id.to_string(), crew])?;
        Ok(())
    }

    fn capacity_warnings(&self, order: &WorkOrder) -> Result<Vec<String>> {
        self.capacity_warnings_cached(order, &mut HashMap::new())
    }

    /// Capacity warnings for an order; `counts` caches the bookings per crew, day and class
    /// within one batch (all the batch's orders are written before it is asked).
    fn capacity_warnings_cached(
        &self,
        order: &WorkOrder,
        counts: &mut HashMap<(String, String, WorkClass), (u32, u32)>,
    ) -> Result<Vec<String>> {
        let day = agenda_day(order, self.tz);
        let class = WorkClass::of(order.kind);
        let key = (order.crew_id.clone(), day.clone(), class);
        let (booked, limit) = match counts.get(&key) {
            Some(v) => *v,
            None => {
                let crew = crew_row(&self.tx, &order.crew_id)?.ok_or_else(|| {
                    ApiError::invalid(format!("crew_id: no crew {}", order.crew_id))
                })?;
                let v = (
                    count_booked(&self.tx, &order.crew_id, &day, class)?,
                    class.limit(&crew.capacity),
                );
                counts.insert(key, v);
                v
            }
        };
        Ok(if booked > limit {
            vec![
                format!(
                    "crew {} has {} {:?} jobs booked on {}, above its daily capacity of {}",
                    order.crew_id, booked, class, day, limit
                )
                .to_lowercase(),
            ]
        } else {
            Vec::new()
        })
    }
}

fn agenda_day(order: &WorkOrder, tz: FixedOffset) -> String {
    order
        .appointment
        .agenda_at(order.accepted_at)
        .with_timezone(&tz)
        .date_naive()
        .to_string()
}

fn count_booked(conn: &Connection, crew: &str, day: &str, class: WorkClass) -> Result<u32> {
    let kinds: Vec<String> = class
        .kinds()
        .iter()
        .map(|k| format!("'{}'", k.as_str()))
        .collect();
    let sql = format!(
        "SELECT count(*) FROM orders WHERE crew_id = ?1 AND agenda_day = ?2 AND archived = 0
         AND status != 'cancelled' AND kind IN ({})",
        kinds.join(",")
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![crew, day], |r| r.get::<_, u32>(0))?)
}

fn crew_row(conn: &Connection, id: &str) -> Result<Option<Crew>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, surveys_per_day, installs_per_day, checks_per_day FROM crews WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(Crew {
                id: r.get(0)?,
                name: r.get(1)?,
                capacity: Capacity {
                    surveys: r.get(2)?,
                    installs: r.get(3)?,
                    checks: r.get(4)?,
                },
            })
        })
        .optional()?)
}

fn save_order(
    tx: &Transaction<'_>,
    row: &OrderRow,
    now: DateTime<Utc>,
    tz: FixedOffset,
) -> Result<()> {
    let o = &row.order;
    let doc = serde_json::to_string(o)?;
    let meta = serde_json::to_string(&row.meta)?;
    let fees = serde_json::to_string(&row.fees)?;
    if row.new {
        tx.prepare_cached(
            "INSERT INTO orders (id, number, crew_id, kind, status, area, account, customer, due_at, agenda_day,
                 archived, version, seq, doc, field_meta, fees, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        )?
        .execute(params![
            o.id.to_string(),
            o.number,
            o.crew_id,
            o.kind.as_str(),
            o.status.as_str(),
            o.site.area,
            o.customer.account_number,
            o.customer.name,
            ms(o.due_at()),
            agenda_day(o, tz),
            row.archived,
            o.version,
            row.seq,
            doc,
            meta,
            fees,
            ms(row.created_at),
            ms(now),
        ])?;
    } else {
        tx.prepare_cached(
            "UPDATE orders SET crew_id = ?2, status = ?3, customer = ?4, due_at = ?5, agenda_day = ?6, archived = ?7,
                 version = ?8, seq = ?9, doc = ?10, field_meta = ?11, fees = ?12, updated_at = ?13 WHERE id = ?1",
        )?
        .execute(params![
            o.id.to_string(),
            o.crew_id,
            o.status.as_str(),
            o.customer.name,
            ms(o.due_at()),
            agenda_day(o, tz),
            row.archived,
            o.version,
            row.seq,
            doc,
            meta,
            fees,
            ms(now),
        ])?;
    }
    Ok(())
}

fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

/// The current value of a tracked field, as JSON.
fn field_value(o: &WorkOrder, field: &str) -> Value {
    match field {
        "appointment" => json!(o.appointment),
        "assignment" => json!({ "crew_id": o.crew_id, "member_id": o.member_id }),
        "priority" => json!(o.priority),
        "customer_name" => json!(o.customer.name),
        "customer_phone" => json!(o.customer.phone),
        "required_documents" => json!(o.required_documents),
        "dispatch_notes" => json!(o.dispatch_notes),
        "status" => json!(o.status),
        "survey" => json!(o.survey),
        "crew_notes" => json!(o.crew_notes),
        "meters" => json!(o.meters),
        _ => Value::Null,
    }
}

/// Sets a field from JSON (already validated for crew writes; checked here for the rest).
fn set_field(o: &mut WorkOrder, field: &str, v: &Value) -> Result<(), String> {
    fn p<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, String> {
        crate::error::from_value(v)
    }
    match field {
        "appointment" => {
            let a: fieldcrew_core::work_order::Appointment = p(v)?;
            a.check().map_err(|e| e.to_string())?;
            o.appointment = a;
        }
        "priority" => o.priority = p(v)?,
        "customer_name" => o.customer.name = p(v)?,
        "customer_phone" => {
            let s: String = p(v)?;
            validate::check_phone(&s).map_err(|(_, m)| m)?;
            o.customer.phone = s;
        }
        "required_documents" => o.required_documents = p(v)?,
        "dispatch_notes" => o.dispatch_notes = p(v)?,
        "survey" => {
            let s: Option<fieldcrew_core::survey::SiteSurvey> = p(v)?;
            if let Some(s) = &s {
                s.check().map_err(|e| e.to_string())?;
            }
            o.survey = s;
        }
        "crew_notes" => {
            let s: String = p(v)?;
            if s.chars().count() > validate::MAX_NOTES {
                return Err("crew_notes: too long".into());
            }
            o.crew_notes = s;
        }
        other => return Err(format!("{other} cannot be set this way")),
    }
    Ok(())
}

fn rejected(r: Reject) -> Outcome {
    Outcome::Rejected {
        code: r.0,
        reason: r.1,
    }
}

fn not_found() -> Outcome {
    rejected((
        RejectCode::NotFound,
        "no such order for this crew".to_owned(),
    ))
}

impl SqliteStorage {
    /// Opens (creating) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let mut writer = open_conn(&path)?;
        Migrations::new(SCHEMA.iter().map(|s| M::up(s)).collect()).to_latest(&mut writer)?;
        let node = match get_meta(&writer, "node")? {
            Some(s) => Uuid::try_parse(&s).map_err(|_| ApiError::Corrupt("node".into()))?,
            None => {
                let n = Uuid::now_v7();
                set_meta(&writer, "node", &n.to_string())?;
                n
            }
        };
        let reader = open_conn(&path)?;
        Ok(SqliteStorage {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            node,
            tz: FixedOffset::east_opt(8 * 3600).ok_or_else(|| ApiError::Internal("tz".into()))?,
        })
    }

    fn write<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<(T, Hlc)> {
        let mut conn = lock(&self.writer);
        let mut tx = Tx::begin(&mut conn, self.node, self.tz)?;
        let out = f(&mut tx)?;
        let hlc = tx.commit()?;
        Ok((out, hlc))
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.reader);
        f(&conn)
    }

    fn crew_op(
        &self,
        tx: &mut Tx<'_>,
        caller: &Caller,
        device: &str,
        op: &PushOp,
    ) -> Result<Outcome> {
        let crew = caller.crew_id.clone().unwrap_or_default();
        let checked = match validate::crew_op(op, caller, tx.now) {
            Ok(c) => c,
            Err(r) => return Ok(rejected(r)),
        };
        if let Checked::Conflict(id, action) = &checked {
            return self.conflict_action(tx, caller, *id, action, Some(op.order_id));
        }
        // Scope: the crew holds the order, or held it (its offline work still counts).
        let Some(row) = tx.order(op.order_id)? else {
            return Ok(not_found());
        };
        let in_scope = row.order.crew_id == crew && !row.archived;
        let server_version = row.order.version;
        if !in_scope && !tx.crew_held(op.order_id, &crew)? {
            return Ok(not_found());
        }
        // A base the server never handed out would pass for having seen every change
        // (merge::decide_field) and overwrite dispatch's concurrent edits without a conflict.
        if let Err(r) = validate::check_base_version(op.base_version, server_version) {
            return Ok(rejected(r));
        }
        tx.observe(op.hlc);
        let writer_who = who_crew(caller);
        match checked {
            Checked::Fields(fields) => {
                let row = tx.row(op.order_id)?;
                if !in_scope {
                    // The order is someone else's now: keep the crew's values in a conflict.
                    let current = json!({ "crew_id": row.order.crew_id });
                    let mut last = None;
                    for (f, v) in &fields {
                        let kept = field_value(&tx.row(op.order_id)?.order, f);
                        let c = tx.new_conflict(
                            op.order_id,
                            &crew,
                            f,
                            ConflictRule::ReassignedWhileOffline,
                            (kept, format!("assignment:{current}")),
                            (v.clone(), writer_who.clone()),
                        )?;
                        last = Some(c.id);
                    }
                    return Ok(
                        last.map_or(Outcome::Merged, |conflict_id| Outcome::Conflict {
                            conflict_id,
                        }),
                    );
                }
                let concurrent = row.order.version > op.base_version;
                let writer = Writer {
                    side: Side::Crew,
                    device: Some(device),
                    hlc: op.hlc,
                    base_version: op.base_version,
                };
                let mut changed: Vec<&str> = Vec::new();
                let mut conflict_id = None;
                for (f, v) in &fields {
                    let row = tx.row(op.order_id)?;
                    let owner = merge::owner_of(f).unwrap_or(Owner::Crew);
                    let current = field_value(&row.order, f);
                    let same = current == *v;
                    let last = row.meta.get(f.as_str()).cloned();
                    match merge::decide_field(owner, last.as_ref(), &writer, same) {
                        FieldDecision::Apply => {
                            if !same {
                                set_field(&mut row.order, f, v).map_err(ApiError::Invalid)?;
                                changed.push(f);
                            }
                        }
                        FieldDecision::WriterWins(rule) => {
                            set_field(&mut row.order, f, v).map_err(ApiError::Invalid)?;
                            changed.push(f);
                            let by = last.map(|l| l.who).unwrap_or_default();
                            let c = tx.new_conflict(
                                op.order_id,
                                &crew,
                                f,
                                rule,
                                (v.clone(), writer_who.clone()),
                                (current, by),
                            )?;
                            conflict_id = Some(c.id);
                        }
                        FieldDecision::ServerWins(rule) => {
                            let by = last.map(|l| l.who).unwrap_or_default();
                            let c = tx.new_conflict(
                                op.order_id,
                                &crew,
                                f,
                                rule,
                                (current, by),
                                (v.clone(), writer_who.clone()),
                            )?;
                            conflict_id = Some(c.id);
                        }
                    }
                }
                if !changed.is_empty() {
                    let stamp = FieldStamp {
                        v: 0,
                        by: Side::Crew,
                        who: writer_who.clone(),
                        device: Some(device.to_owned()),
                        hlc: op.hlc,
                    };
                    tx.bump(op.order_id, &changed, stamp)?;
                } else if conflict_id.is_some() {
                    tx.touch(op.order_id)?;
                }
                Ok(match conflict_id {
                    Some(conflict_id) => Outcome::Conflict { conflict_id },
                    None if concurrent => Outcome::Merged,
                    None => Outcome::Applied,
                })
            }
            Checked::Event(e) => self.status_event(tx, caller, device, op, e, in_scope),
            Checked::Reading(r) => {
                if let Some(found) = tx.fact_order(r.id)? {
                    return Ok(dedup(found, op.order_id));
                }
                let row = tx.row(op.order_id)?;
                if row.order.meter(&r.meter_asset).is_none() {
                    return Ok(rejected((
                        RejectCode::Invalid,
                        format!("meter {} is not on this order", r.meter_asset),
                    )));
                }
                if let Some(prev) = r.supersedes {
                    let ok: Option<String> = tx
                        .tx
                        .prepare_cached(
                            "SELECT order_id FROM facts WHERE id = ?1 AND kind = 'reading'",
                        )?
                        .query_row([prev.to_string()], |x| x.get(0))
                        .optional()?;
                    if ok.as_deref() != Some(op.order_id.to_string().as_str()) {
                        return Ok(rejected((
                            RejectCode::Invalid,
                            "the corrected reading is not on this order".into(),
                        )));
                    }
                }
                let body = serde_json::to_string(&r)?;
                tx.insert_fact("reading", r.id, op.order_id, r.taken_at, r.hlc, &body)?;
                self.fact_outcome(tx, caller, op.order_id, in_scope)
            }
            Checked::Replacement(r) => {
                if let Some(found) = tx.fact_order(r.id)? {
                    return Ok(dedup(found, op.order_id));
                }
                let order = &tx.row(op.order_id)?.order;
                let Some(old) = order.meter(&r.old_meter) else {
                    return Ok(rejected((
                        RejectCode::Invalid,
                        format!("meter {} is not on this order", r.old_meter),
                    )));
                };
                if let Err(reject) = validate::check_old_balance(r.old_balance, old) {
                    return Ok(rejected(reject));
                }
                // The new meter is on the order (dispatch listed it, or the phone's install of it
                // came earlier in the outbox), and a prepaid one comes with its card, as the
                // phone requires.
                match order.meter(&r.new_meter) {
                    None => {
                        return Ok(rejected((
                            RejectCode::Invalid,
                            format!(
                                "new_meter: meter {} is not on this order; it is installed before it replaces one",
                                r.new_meter
                            ),
                        )));
                    }
                    Some(new) if new.prepaid && r.new_card.is_none() => {
                        return Ok(rejected((
                            RejectCode::Invalid,
                            "new_card: the new meter is prepaid; its card's number is required"
                                .into(),
                        )));
                    }
                    Some(_) => {}
                }
                let body = serde_json::to_string(&r)?;
                tx.insert_fact("replacement", r.id, op.order_id, r.at, r.hlc, &body)?;
                self.fact_outcome(tx, caller, op.order_id, in_scope)
            }
            Checked::Evaluation(e) => {
                if let Some(found) = tx.fact_order(e.id)? {
                    return Ok(dedup(found, op.order_id));
                }
                let body = serde_json::to_string(&e)?;
                tx.insert_fact("evaluation", e.id, op.order_id, e.at, e.hlc, &body)?;
                self.fact_outcome(tx, caller, op.order_id, in_scope)
            }
            Checked::Meter(m) => {
                let row = tx.row(op.order_id)?;
                if let Some(existing) = row.order.meter(&m.asset_number) {
                    return Ok(if *existing == m {
                        Outcome::Merged
                    } else {
                        rejected((
                            RejectCode::Invalid,
                            format!("meter {} is already on the order", m.asset_number),
                        ))
                    });
                }
                row.order.meters.push(m);
                let stamp = FieldStamp {
                    v: 0,
                    by: Side::Crew,
                    who: writer_who,
                    device: Some(device.to_owned()),
                    hlc: op.hlc,
                };
                tx.bump(op.order_id, &["meters"], stamp)?;
                self.fact_outcome(tx, caller, op.order_id, in_scope)
            }
            Checked::Photo(p) => {
                if let Some(found) = tx.fact_order(p.id)? {
                    return Ok(dedup(found, op.order_id));
                }
                let body = serde_json::to_string(&p)?;
                tx.insert_fact("photo", p.id, op.order_id, p.added_at, p.hlc, &body)?;
                self.fact_outcome(tx, caller, op.order_id, in_scope)
            }
            Checked::Conflict(..) => Err(ApiError::Internal("unreachable".into())),
        }
    }

    /// A fact on an order: applied, or tied to the order's open status conflict when the order
    /// was cancelled or moved away meanwhile.
    fn fact_outcome(
        &self,
        tx: &mut Tx<'_>,
        caller: &Caller,
        order_id: Uuid,
        in_scope: bool,
    ) -> Result<Outcome> {
        let crew = caller.crew_id.clone().unwrap_or_default();
        let status = tx.row(order_id)?.order.status;
        if in_scope && status != Status::Cancelled {
            return Ok(Outcome::Applied);
        }
        let c = match tx.open_status_conflict(order_id, &crew)? {
            Some(c) => c,
            None => self.status_conflict(tx, caller, order_id, in_scope, None)?,
        };
        Ok(Outcome::Conflict { conflict_id: c.id })
    }

    /// Raises the conflict for dispatch when crew work meets a cancelled or moved order.
    fn status_conflict(
        &self,
        tx: &mut Tx<'_>,
        caller: &Caller,
        order_id: Uuid,
        in_scope: bool,
        crew_status: Option<Status>,
    ) -> Result<Conflict> {
        let crew = caller.crew_id.clone().unwrap_or_default();
        let row = tx.row(order_id)?;
        let server_who = row
            .meta
            .get(if in_scope { "status" } else { "assignment" })
            .map(|s| s.who.clone())
            .unwrap_or_default();
        let crew_value = json!(crew_status.unwrap_or(row.order.status));
        if in_scope {
            tx.new_conflict(
                order_id,
                &crew,
                "status",
                ConflictRule::CancelledDuringVisit,
                (json!(Status::Cancelled), server_who),
                (crew_value, who_crew(caller)),
            )
        } else {
            let kept = json!({ "crew_id": row.order.crew_id, "archived": row.archived });
            tx.new_conflict(
                order_id,
                &crew,
                "assignment",
                ConflictRule::ReassignedWhileOffline,
                (kept, server_who),
                (json!({ "crew_id": crew }), who_crew(caller)),
            )
        }
    }

    fn status_event(
        &self,
        tx: &mut Tx<'_>,
        caller: &Caller,
        device: &str,
        op: &PushOp,
        e: StatusEvent,
        in_scope: bool,
    ) -> Result<Outcome> {
        if let Some(found) = tx.fact_order(e.id)? {
            return Ok(dedup(found, op.order_id));
        }
        let body = serde_json::to_string(&e)?;
        tx.insert_fact("status_event", e.id, op.order_id, e.at, e.hlc, &body)?;
        let server = tx.row(op.order_id)?.order.status;
        let effect = merge::status_effect(server, e.from, e.to, in_scope);
        let stamp = FieldStamp {
            v: 0,
            by: Side::Crew,
            who: who_crew(caller),
            device: Some(device.to_owned()),
            hlc: e.hlc,
        };
        let set_status = |tx: &mut Tx<'_>| -> Result<()> {
            tx.row(op.order_id)?.order.status = e.to;
            tx.bump(op.order_id, &["status"], stamp.clone())
        };
        match effect {
            StatusEffect::Move => {
                set_status(tx)?;
                Ok(Outcome::Applied)
            }
            StatusEffect::MergeMove => {
                set_status(tx)?;
                Ok(Outcome::Merged)
            }
            StatusEffect::Keep => Ok(Outcome::Merged),
            StatusEffect::Conflict { rule, moves } => {
                let crew = caller.crew_id.clone().unwrap_or_default();
                let existing = tx.open_status_conflict(op.order_id, &crew)?;
                let mut c = match existing {
                    Some(c) => c,
                    None => self.status_conflict(tx, caller, op.order_id, in_scope, Some(e.to))?,
                };
                if moves {
                    set_status(tx)?;
                }
                // Keep the conflict telling the latest of what happened.
                let dispatch_value = if rule == ConflictRule::ReassignedWhileOffline {
                    c.kept_value.clone()
                } else {
                    json!(Status::Cancelled)
                };
                if rule == ConflictRule::CancelledButCompleted {
                    let dispatch_who = c.kept_by.clone();
                    c.rule = rule;
                    c.kept_value = json!(Status::Completed);
                    c.kept_by = who_crew(caller);
                    c.lost_value = dispatch_value;
                    c.lost_by = dispatch_who;
                } else if rule == ConflictRule::ReassignedWhileOffline {
                    c.lost_value = json!({ "crew_id": crew, "status": e.to });
                } else {
                    c.lost_value = json!(e.to);
                }
                c.updated_at = tx.now;
                tx.save_conflict(&c)?;
                if !moves {
                    tx.touch(op.order_id)?;
                }
                Ok(Outcome::Conflict { conflict_id: c.id })
            }
        }
    }

    /// Acknowledges or resolves a conflict, for a crew device (`order`: the op's order, checked
    /// against the conflict's) or a dispatcher.
    fn conflict_action(
        &self,
        tx: &mut Tx<'_>,
        caller: &Caller,
        id: Uuid,
        action: &ConflictAction,
        order: Option<Uuid>,
    ) -> Result<Outcome> {
        let Some(mut c) = tx.conflict(id)? else {
            return Ok(rejected((RejectCode::NotFound, "no such conflict".into())));
        };
        let is_crew = caller.role == Role::Crew;
        if is_crew
            && (Some(c.crew_id.as_str()) != caller.crew_id.as_deref() || order != Some(c.order_id))
        {
            return Ok(rejected((RejectCode::NotFound, "no such conflict".into())));
        }
        let by = if is_crew {
            who_crew(caller)
        } else {
            who_dispatch(caller)
        };
        match action {
            ConflictAction::Acknowledge => {
                if c.status != ConflictStatus::Open {
                    return Ok(Outcome::Merged);
                }
                c.status = ConflictStatus::Acknowledged;
            }
            ConflictAction::Resolve { choice, note } => {
                if c.status == ConflictStatus::Resolved {
                    return Ok(Outcome::Merged);
                }
                if *choice == ResolveChoice::Lost {
                    let owner = merge::owner_of(&c.field);
                    let settable = matches!(
                        c.rule,
                        ConflictRule::CrewOwnsField
                            | ConflictRule::DispatchOwnsField
                            | ConflictRule::LatestHlcWins
                    );
                    if !settable {
                        return Ok(rejected((
                            RejectCode::Invalid,
                            "only a field conflict can take the losing value; resolve with 'kept'"
                                .into(),
                        )));
                    }
                    if is_crew && owner != Some(Owner::Crew) {
                        return Ok(rejected((
                            RejectCode::NotOwner,
                            format!("{} belongs to dispatch", c.field),
                        )));
                    }
                    let row = tx.row(c.order_id)?;
                    if let Err(m) = set_field(&mut row.order, &c.field, &c.lost_value) {
                        return Ok(rejected((RejectCode::Invalid, m)));
                    }
                    let hlc = tx.tick();
                    let stamp = FieldStamp {
                        v: 0,
                        by: if is_crew { Side::Crew } else { Side::Dispatch },
                        who: by.clone(),
                        device: is_crew.then(|| caller.device.clone()),
                        hlc,
                    };
                    tx.bump(c.order_id, &[c.field.as_str()], stamp)?;
                    std::mem::swap(&mut c.kept_value, &mut c.lost_value);
                    std::mem::swap(&mut c.kept_by, &mut c.lost_by);
                }
                c.status = ConflictStatus::Resolved;
                c.resolution = Some(Resolution {
                    choice: *choice,
                    by,
                    note: note.trim().to_owned(),
                });
            }
        }
        c.updated_at = tx.now;
        tx.save_conflict(&c)?;
        Ok(Outcome::Applied)
    }

    fn office_patch(
        &self,
        tx: &mut Tx<'_>,
        caller: &Caller,
        id: Uuid,
        patch: OrderPatch,
    ) -> Result<OfficeWrite> {
        let who = who_dispatch(caller);
        let hlc = tx.tick();
        let row = tx.row(id)?;
        if row.archived {
            return Err(ApiError::Conflict("the order is archived".into()));
        }
        let before = row.order.clone();
        let mut changed: Vec<&'static str> = Vec::new();
        let mut set = |row: &mut OrderRow, field: &'static str, v: Value| -> Result<()> {
            if field_value(&row.order, field) != v {
                set_field(&mut row.order, field, &v).map_err(ApiError::Invalid)?;
                changed.push(field);
            }
            Ok(())
        };
        if let Some(a) = patch.appointment {
            set(row, "appointment", json!(a))?;
        }
        if let Some(p) = patch.priority {
            set(row, "priority", json!(p))?;
        }
        if let Some(n) = patch.customer_name {
            if n.trim().is_empty() {
                return Err(ApiError::invalid("customer_name: required"));
            }
            set(row, "customer_name", json!(n))?;
        }
        if let Some(p) = patch.customer_phone {
            set(row, "customer_phone", json!(p))?;
        }
        if let Some(d) = patch.required_documents {
            set(row, "required_documents", json!(d))?;
        }
        if let Some(n) = patch.dispatch_notes {
            if n.chars().count() > validate::MAX_NOTES {
                return Err(ApiError::invalid("dispatch_notes: too long"));
            }
            set(row, "dispatch_notes", json!(n))?;
        }
        if let Some(n) = patch.crew_notes {
            set(row, "crew_notes", json!(n))?;
        }
        if let Some(s) = patch.survey {
            set(row, "survey", json!(s))?;
        }
        if let Some(f) = patch.fees {
            if f.iter().any(|x| x.amount < rust_decimal::Decimal::ZERO) {
                return Err(ApiError::invalid("fees: not negative"));
            }
            row.fees = f;
            row.dirty = true;
        }
        let mut reassigned_from = None;
        if patch.crew_id.is_some() || patch.member_id.is_some() {
            let crew = patch
                .crew_id
                .clone()
                .unwrap_or_else(|| row.order.crew_id.clone());
            let member = match &patch.member_id {
                Some(m) => m.clone(),
                None if crew != row.order.crew_id => None,
                None => row.order.member_id.clone(),
            };
            if crew != row.order.crew_id || member != row.order.member_id {
                if crew != row.order.crew_id {
                    reassigned_from = Some(row.order.crew_id.clone());
                }
                row.order.crew_id = crew;
                row.order.member_id = member;
                changed.push("assignment");
            }
        }
        let order_crew = tx.row(id)?.order.crew_id.clone();
        if let Some(old) = &reassigned_from {
            if crew_row(&tx.tx, &order_crew)?.is_none() {
                return Err(ApiError::invalid(format!("crew_id: no crew {order_crew}")));
            }
            tx.removal(old, id)?;
            tx.hold(id, &order_crew)?;
        }
        if !changed.is_empty() {
            let stamp = FieldStamp {
                v: 0,
                by: Side::Dispatch,
                who: who.clone(),
                device: None,
                hlc,
            };
            tx.bump(id, &changed, stamp)?;
            let after = tx.row(id)?.order.clone();
            let detail: serde_json::Map<String, Value> = changed
                .iter()
                .map(|f| {
                    (
                        (*f).to_owned(),
                        json!({ "from": field_value(&before, f), "to": field_value(&after, f) }),
                    )
                })
                .collect();
            let action = if reassigned_from.is_some() {
                "reassign"
            } else if changed == ["appointment"] {
                "reschedule"
            } else {
                "edit"
            };
            tx.log(id, &who, action, Value::Object(detail))?;
        } else if tx.row(id)?.dirty {
            tx.touch(id)?;
        }
        let order = tx.row(id)?.order.clone();
        let moved = changed
            .iter()
            .any(|f| *f == "appointment" || *f == "assignment");
        let warnings = if moved {
            // The count reads the orders table: write the moved order first (as creating
            // does), or it would still count on its old crew and day and not on the new one.
            if let Some(row) = tx.orders.get_mut(&id) {
                save_order(&tx.tx, row, tx.now, tx.tz)?;
                row.dirty = false;
            }
            tx.capacity_warnings(&order)?
        } else {
            Vec::new()
        };
        Ok(OfficeWrite { order, warnings })
    }
}

fn dedup(found_order: String, op_order: Uuid) -> Outcome {
    if found_order == op_order.to_string() {
        Outcome::Merged
    } else {
        rejected((
            RejectCode::Invalid,
            "a record with this id exists on another order".into(),
        ))
    }
}

fn add_owner(conn: &Connection, sha256: &str, member_id: &str, at: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO photo_owners (sha256, member_id, at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![sha256, member_id, ms(at)])?;
    Ok(())
}

fn is_owner(conn: &Connection, sha256: &str, member_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM photo_owners WHERE sha256 = ?1 AND member_id = ?2")?
        .query_row(params![sha256, member_id], |_| Ok(()))
        .optional()?
        .is_some())
}

fn check_caller_crew(caller: &Caller) -> Result<&str> {
    match (caller.role, caller.crew_id.as_deref()) {
        (Role::Crew, Some(c)) => Ok(c),
        _ => Err(ApiError::Forbidden),
    }
}

fn facts_json(conn: &Connection, order_id: &str) -> Result<[String; 5]> {
    let mut stmt =
        conn.prepare_cached("SELECT kind, body FROM facts WHERE order_id = ?1 ORDER BY at, hlc")?;
    let mut out: [String; 5] = Default::default();
    for s in out.iter_mut() {
        s.push('[');
    }
    let mut rows = stmt.query([order_id])?;
    while let Some(r) = rows.next()? {
        let kind: String = r.get(0)?;
        let i = match kind.as_str() {
            "status_event" => 0,
            "reading" => 1,
            "replacement" => 2,
            "evaluation" => 3,
            "photo" => 4,
            _ => continue,
        };
        let body = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
        if out[i].len() > 1 {
            out[i].push(',');
        }
        out[i].push_str(body);
    }
    for s in out.iter_mut() {
        s.push(']');
    }
    Ok(out)
}

fn load_facts<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    id: Uuid,
    kind: &str,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(
        "SELECT body FROM facts WHERE order_id = ?1 AND kind = ?2 ORDER BY at, hlc",
    )?;
    let rows = stmt.query_map(params![id.to_string(), kind], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for b in rows {
        out.push(serde_json::from_str(&b?)?);
    }
    Ok(out)
}

fn load_conflicts(
    conn: &Connection,
    sql_where: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Conflict>> {
    let sql = format!("SELECT body FROM conflicts WHERE {sql_where} ORDER BY seq");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(args, |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for b in rows {
        out.push(serde_json::from_str(&b?)?);
    }
    Ok(out)
}

impl Storage for SqliteStorage {
    fn add_crew(&self, crew: &Crew) -> Result<()> {
        if crew.id.trim().is_empty() || crew.id.len() > 64 {
            return Err(ApiError::invalid("id: 1 to 64 characters"));
        }
        self.write(|tx| {
            let n = tx.tx.execute(
                "INSERT OR IGNORE INTO crews (id, name, surveys_per_day, installs_per_day, checks_per_day) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![crew.id, crew.name, crew.capacity.surveys, crew.capacity.installs, crew.capacity.checks],
            )?;
            if n == 0 {
                return Err(ApiError::Conflict(format!("crew {} exists", crew.id)));
            }
            Ok(())
        })
        .map(|_| ())
    }

    fn crews(&self) -> Result<Vec<Crew>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT id FROM crews ORDER BY id")?;
            let ids: Vec<String> = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::new();
            for id in ids {
                if let Some(crew) = crew_row(c, &id)? {
                    out.push(crew);
                }
            }
            Ok(out)
        })
    }

    fn add_member(&self, m: &Member) -> Result<()> {
        if m.id.trim().is_empty() || m.id.len() > 64 {
            return Err(ApiError::invalid("id: 1 to 64 characters"));
        }
        if (m.role == Role::Crew) != m.crew_id.is_some() {
            return Err(ApiError::invalid(
                "crew members, and only they, belong to a crew",
            ));
        }
        self.write(|tx| {
            if let Some(crew) = &m.crew_id
                && crew_row(&tx.tx, crew)?.is_none()
            {
                return Err(ApiError::invalid(format!("no crew {crew}")));
            }
            let n = tx.tx.execute(
                "INSERT OR IGNORE INTO members (id, name, crew_id, role) VALUES (?1, ?2, ?3, ?4)",
                params![m.id, m.name, m.crew_id, m.role.as_str()],
            )?;
            if n == 0 {
                return Err(ApiError::Conflict(format!("member {} exists", m.id)));
            }
            Ok(())
        })
        .map(|_| ())
    }

    fn save_token(&self, t: &TokenRecord) -> Result<()> {
        self.write(|tx| {
            tx.tx.execute(
                "INSERT INTO tokens (id, member_id, device, hash, created_at, expires_at, revoked_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, NULL WHERE EXISTS (SELECT 1 FROM members WHERE id = ?2)",
                params![t.id, t.member_id, t.device, &t.hash[..], ms(t.created_at), t.expires_at.map(ms)],
            )
            .map_err(ApiError::from)
            .and_then(|n| if n == 1 { Ok(()) } else { Err(ApiError::invalid(format!("no member {}", t.member_id))) })
        })
        .map(|_| ())
    }

    fn revoke_token(&self, token_id: &str, at: DateTime<Utc>) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.tx.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                params![token_id, ms(at)],
            )? == 1)
        })
        .map(|(b, _)| b)
    }

    fn token(&self, token_id: &str) -> Result<Option<(TokenRecord, Member)>> {
        self.read(|c| {
            let row = c
                .prepare_cached(
                    "SELECT t.id, t.member_id, t.device, t.hash, t.created_at, t.expires_at, t.revoked_at,
                            m.name, m.crew_id, m.role
                     FROM tokens t JOIN members m ON m.id = t.member_id WHERE t.id = ?1",
                )?
                .query_row([token_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, String>(9)?,
                    ))
                })
                .optional()?;
            let Some((id, member_id, device, hash, created, expires, revoked, name, crew, role)) = row else {
                return Ok(None);
            };
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| ApiError::Corrupt("token hash".into()))?;
            let role: Role = role.parse().map_err(|_| ApiError::Corrupt("role".into()))?;
            Ok(Some((
                TokenRecord {
                    id,
                    member_id: member_id.clone(),
                    device,
                    hash,
                    created_at: from_ms(created)?,
                    expires_at: expires.map(from_ms).transpose()?,
                    revoked_at: revoked.map(from_ms).transpose()?,
                },
                Member {
                    id: member_id,
                    name,
                    crew_id: crew,
                    role,
                },
            )))
        })
    }

    fn pull(&self, crew_id: &str, cursor: i64, limit: u32) -> Result<String> {
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let mut items: Vec<(i64, String)> = Vec::new();
            let lim = i64::from(limit);
            let mut full = false;
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT seq, id, doc FROM orders WHERE crew_id = ?1 AND archived = 0 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )?;
                let mut rows = stmt.query(params![crew_id, cursor, lim])?;
                let mut n = 0;
                while let Some(r) = rows.next()? {
                    n += 1;
                    let seq: i64 = r.get(0)?;
                    let id = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?.to_owned();
                    let doc = r.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
                    let [timeline, readings, replacements, evaluations, photos] = facts_json(&tx, &id)?;
                    items.push((
                        seq,
                        format!(
                            "{{\"kind\":\"order\",\"seq\":{seq},\"order\":{doc},\"timeline\":{timeline},\"readings\":{readings},\"replacements\":{replacements},\"evaluations\":{evaluations},\"photos\":{photos}}}"
                        ),
                    ));
                }
                full |= n == lim;
            }
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT seq, order_id FROM removals WHERE crew_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![crew_id, cursor, lim], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?;
                let mut n = 0;
                for row in rows {
                    let (seq, id) = row?;
                    n += 1;
                    items.push((seq, format!("{{\"kind\":\"removal\",\"seq\":{seq},\"order_id\":\"{id}\"}}")));
                }
                full |= n == lim;
            }
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT seq, body FROM conflicts WHERE crew_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![crew_id, cursor, lim], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?;
                let mut n = 0;
                for row in rows {
                    let (seq, body) = row?;
                    n += 1;
                    items.push((seq, format!("{{\"kind\":\"conflict\",\"seq\":{seq},\"conflict\":{body}}}")));
                }
                full |= n == lim;
            }
            items.sort_by_key(|(s, _)| *s);
            let more = items.len() > limit as usize || full;
            items.truncate(limit as usize);
            let next = items.last().map_or(cursor, |(s, _)| *s);
            // What follows this page, for the device's progress bar: three index range counts
            // (orders by crew and seq, removals' and conflicts' keys), in the same snapshot.
            let remaining: i64 = if more {
                tx.prepare_cached(
                    "SELECT (SELECT count(*) FROM orders WHERE crew_id = ?1 AND archived = 0 AND seq > ?2)
                          + (SELECT count(*) FROM removals WHERE crew_id = ?1 AND seq > ?2)
                          + (SELECT count(*) FROM conflicts WHERE crew_id = ?1 AND seq > ?2)",
                )?
                .query_row(params![crew_id, next], |r| r.get(0))?
            } else {
                0
            };
            let hlc = get_meta(&tx, "hlc")?.unwrap_or_else(|| Hlc::ZERO.to_string());
            let mut body = String::with_capacity(items.iter().map(|(_, s)| s.len() + 1).sum::<usize>() + 128);
            body.push_str("{\"changes\":[");
            for (i, (_, s)) in items.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(s);
            }
            body.push_str(&format!(
                "],\"cursor\":{next},\"more\":{more},\"remaining\":{remaining},\"server_hlc\":\"{hlc}\"}}"
            ));
            tx.finish()?;
            Ok(body)
        })
    }

    fn push(&self, caller: &Caller, ops: &[PushOp]) -> Result<(Vec<Answer>, Hlc)> {
        let crew = check_caller_crew(caller)?.to_owned();
        // The token's device: what "a device never conflicts with itself" compares.
        let device = caller.device.clone();
        self.write(|tx| {
            let mut answers = Vec::with_capacity(ops.len());
            for op in ops {
                let stored: Option<(String, String)> = tx
                    .tx
                    .prepare_cached("SELECT crew_id, answer FROM ops WHERE op_id = ?1")?
                    .query_row([op.op_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let outcome = match stored {
                    Some((c, answer)) if c == crew => serde_json::from_str(&answer)?,
                    Some(_) => rejected((RejectCode::DuplicateOpId, "operation id already used".into())),
                    None => {
                        let outcome = self.crew_op(tx, caller, &device, op)?;
                        if let Outcome::Rejected { .. } = outcome
                            && let Ok(Some(row)) = tx.order(op.order_id)
                            && row.order.crew_id == crew
                        {
                            // Send the device the server's copy again, to replace its rejected edit:
                            // the order, and the conflict a refused acknowledge or resolve was about
                            // (the phone shows its own action until the server's copy replaces it).
                            tx.touch(op.order_id)?;
                            if op.entity == fieldcrew_core::store::Entity::Conflict
                                && let Ok(id) = op.entity_id.parse::<Uuid>()
                                && let Some(c) = tx.conflict(id)?
                                && c.crew_id == crew
                            {
                                tx.save_conflict(&c)?;
                            }
                        }
                        tx.tx
                            .prepare_cached(
                                "INSERT INTO ops (op_id, crew_id, answer, received_at) VALUES (?1, ?2, ?3, ?4)",
                            )?
                            .execute(params![
                                op.op_id.to_string(),
                                crew,
                                serde_json::to_string(&outcome)?,
                                ms(tx.now)
                            ])?;
                        outcome
                    }
                };
                answers.push(Answer {
                    op_id: op.op_id,
                    outcome,
                });
            }
            Ok(answers)
        })
    }

    fn create_orders(&self, caller: &Caller, orders: Vec<NewOrder>) -> Result<Vec<OfficeWrite>> {
        for (i, o) in orders.iter().enumerate() {
            validate::new_order(o).map_err(|m| ApiError::invalid(format!("order {i}: {m}")))?;
        }
        let who = who_dispatch(caller);
        self.write(|tx| {
            let mut out = Vec::with_capacity(orders.len());
            for n in orders {
                if crew_row(&tx.tx, &n.crew_id)?.is_none() {
                    return Err(ApiError::invalid(format!("crew_id: no crew {}", n.crew_id)));
                }
                let exists: Option<i64> = tx
                    .tx
                    .prepare_cached("SELECT 1 FROM orders WHERE number = ?1")?
                    .query_row([&n.number], |r| r.get(0))
                    .optional()?;
                if exists.is_some() {
                    return Err(ApiError::Conflict(format!(
                        "order number {} exists",
                        n.number
                    )));
                }
                let id = n.id.unwrap_or_else(Uuid::now_v7);
                if tx.order(id)?.is_some() {
                    return Err(ApiError::Conflict(format!("order {id} exists")));
                }
                let hlc = tx.tick();
                let order = WorkOrder {
                    id,
                    number: n.number,
                    kind: n.kind,
                    status: Status::Dispatched,
                    priority: n.priority,
                    customer: n.customer,
                    site: n.site,
                    meters: n.meters,
                    required_documents: n
                        .required_documents
                        .unwrap_or_else(|| n.kind.default_documents().to_vec()),
                    appointment: n.appointment,
                    accepted_at: n.accepted_at,
                    dispatch_notes: n.dispatch_notes,
                    crew_notes: String::new(),
                    survey: None,
                    crew_id: n.crew_id,
                    member_id: n.member_id,
                    version: 1,
                };
                let seq = tx.next_seq();
                let mut meta = BTreeMap::new();
                for (f, _) in merge::FIELDS {
                    meta.insert(
                        (*f).to_owned(),
                        FieldStamp {
                            v: 1,
                            by: Side::Dispatch,
                            who: who.clone(),
                            device: None,
                            hlc,
                        },
                    );
                }
                tx.orders.insert(
                    id,
                    OrderRow {
                        order: order.clone(),
                        archived: false,
                        seq,
                        meta,
                        fees: n.fees,
                        created_at: tx.now,
                        dirty: true,
                        new: true,
                    },
                );
                // Written now so the capacity count and the log's foreign key see it.
                if let Some(row) = tx.orders.get_mut(&id) {
                    save_order(&tx.tx, row, tx.now, tx.tz)?;
                    row.new = false;
                    row.dirty = false;
                }
                tx.hold(id, &order.crew_id)?;
                tx.log(id, &who, "create", json!({ "crew_id": order.crew_id }))?;
                out.push(OfficeWrite {
                    order,
                    warnings: Vec::new(),
                });
            }
            // Counted once per crew, day and class, after the whole batch is booked.
            let mut counts = HashMap::new();
            for w in out.iter_mut() {
                w.warnings = tx.capacity_warnings_cached(&w.order, &mut counts)?;
            }
            Ok(out)
        })
        .map(|(o, _)| o)
    }

    fn update_order(&self, caller: &Caller, id: Uuid, patch: OrderPatch) -> Result<OfficeWrite> {
        self.write(|tx| self.office_patch(tx, caller, id, patch))
            .map(|(o, _)| o)
    }

    fn cancel_order(&self, caller: &Caller, id: Uuid, note: &str) -> Result<OfficeWrite> {
        let who = who_dispatch(caller);
        self.write(|tx| {
            let hlc = tx.tick();
            let row = tx.row(id)?;
            let from = row.order.status;
            fieldcrew_core::work_order::status::check_transition(
                fieldcrew_core::work_order::status::Actor::Dispatch,
                from,
                Status::Cancelled,
                None,
                note,
            )
            .map_err(|e| ApiError::Conflict(e.to_string()))?;
            row.order.status = Status::Cancelled;
            let event = StatusEvent {
                id: Uuid::now_v7(),
                order_id: id,
                from,
                to: Status::Cancelled,
                reason: None,
                note: note.trim().to_owned(),
                at: tx.now,
                fix: None,
                member_id: caller.member_id.clone(),
                hlc,
            };
            tx.insert_fact(
                "status_event",
                event.id,
                id,
                event.at,
                hlc,
                &serde_json::to_string(&event)?,
            )?;
            tx.bump(
                id,
                &["status"],
                FieldStamp {
                    v: 0,
                    by: Side::Dispatch,
                    who: who.clone(),
                    device: None,
                    hlc,
                },
            )?;
            tx.log(
                id,
                &who,
                "cancel",
                json!({ "from": from, "note": note.trim() }),
            )?;
            Ok(OfficeWrite {
                order: tx.row(id)?.order.clone(),
                warnings: Vec::new(),
            })
        })
        .map(|(o, _)| o)
    }

    fn archive_order(&self, caller: &Caller, id: Uuid) -> Result<()> {
        let who = who_dispatch(caller);
        self.write(|tx| {
            let row = tx.row(id)?;
            if row.archived {
                return Ok(());
            }
            if row.order.status.is_open() {
                return Err(ApiError::Conflict(
                    "only completed or cancelled orders are archived".into(),
                ));
            }
            row.archived = true;
            let crew = row.order.crew_id.clone();
            tx.touch(id)?;
            tx.removal(&crew, id)?;
            tx.log(id, &who, "archive", json!({}))
        })
        .map(|_| ())
    }

    fn list_orders(&self, f: &OrderFilter) -> Result<Vec<OrderListItem>> {
        self.read(|c| {
            let mut sql = String::from(
                "SELECT doc, archived, (SELECT count(*) FROM conflicts k WHERE k.order_id = o.id AND k.status = 'open')
                 FROM orders o WHERE 1 = 1",
            );
            let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
            fn arg(args: &mut Vec<Box<dyn rusqlite::ToSql>>, sql: &mut String, clause: &str, v: Box<dyn rusqlite::ToSql>) {
                args.push(v);
                sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
            }
            if let Some(v) = &f.crew_id {
                arg(&mut args, &mut sql, " AND crew_id = ?", Box::new(v.clone()));
            }
            if let Some(v) = f.status {
                arg(&mut args, &mut sql, " AND status = ?", Box::new(v.as_str()));
            }
            if let Some(v) = f.kind {
                arg(&mut args, &mut sql, " AND kind = ?", Box::new(v.as_str()));
            }
            if let Some(v) = &f.area {
                arg(&mut args, &mut sql, " AND area = ?", Box::new(v.clone()));
            }
            if let Some(v) = f.due_before {
                arg(&mut args, &mut sql, " AND due_at < ?", Box::new(ms(v)));
            }
            if let Some(v) = f.due_after {
                arg(&mut args, &mut sql, " AND due_at >= ?", Box::new(ms(v)));
            }
            if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
                // All three placeholders name the same argument.
                arg(
                    &mut args,
                    &mut sql,
                    " AND (instr(number, ?) > 0 OR instr(account, ?) > 0 OR instr(customer, ?) > 0)",
                    Box::new(q.to_owned()),
                );
            }
            if !f.include_archived.unwrap_or(false) {
                sql.push_str(" AND archived = 0");
            }
            let limit = f.limit.unwrap_or(100).min(1000);
            sql.push_str(&format!(" ORDER BY due_at, number LIMIT {limit} OFFSET {}", f.offset.unwrap_or(0)));
            let mut stmt = c.prepare(&sql)?;
            let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|b| b.as_ref()).collect();
            let rows = stmt.query_map(refs.as_slice(), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?, r.get::<_, u32>(2)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (doc, archived, open_conflicts) = row?;
                let o: WorkOrder = serde_json::from_str(&doc)?;
                out.push(OrderListItem {
                    id: o.id,
                    due_at: o.due_at(),
                    number: o.number,
                    kind: o.kind,
                    status: o.status,
                    priority: o.priority,
                    crew_id: o.crew_id,
                    area: o.site.area,
                    version: o.version,
                    archived,
                    open_conflicts,
                });
            }
            Ok(out)
        })
    }

    fn order_detail(&self, id: Uuid) -> Result<OfficeDetail> {
        self.read(|c| {
            let row: Option<(String, bool, String)> = c
                .prepare_cached("SELECT doc, archived, fees FROM orders WHERE id = ?1")?
                .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let (doc, archived, fees) = row.ok_or(ApiError::NotFound)?;
            let order: WorkOrder = serde_json::from_str(&doc)?;
            let mut stmt = c.prepare_cached(
                "SELECT at, by, action, detail FROM dispatch_log WHERE order_id = ?1 ORDER BY id",
            )?;
            let history = stmt
                .query_map([id.to_string()], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })?
                .map(|row| -> Result<DispatchAction> {
                    let (at, by, action, detail) = row?;
                    Ok(DispatchAction {
                        at: from_ms(at)?,
                        by,
                        action,
                        detail: serde_json::from_str(&detail)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let photos: Vec<fieldcrew_core::store::Photo> = load_facts(c, id, "photo")?;
            // Backed records only; the handler also checks that the bytes are in place.
            let photos = photos
                .into_iter()
                .map(|photo| {
                    Ok(OfficePhoto {
                        on_server: is_owner(c, &photo.sha256, &photo.member_id)?,
                        photo,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let documents = order
                .required_documents
                .iter()
                .map(|k| DocumentState {
                    kind: *k,
                    received: photos.iter().any(|p| p.on_server && p.photo.kind == *k),
                })
                .collect();
            Ok(OfficeDetail {
                archived,
                fees: serde_json::from_str(&fees)?,
                timeline: load_facts(c, id, "status_event")?,
                readings: load_facts(c, id, "reading")?,
                replacements: load_facts(c, id, "replacement")?,
                evaluations: load_facts(c, id, "evaluation")?,
                documents,
                conflicts: load_conflicts(c, "order_id = ?1", &[&id.to_string()])?,
                history,
                photos,
                order,
            })
        })
    }

    fn conflicts(&self, f: &ConflictFilter) -> Result<Vec<Conflict>> {
        self.read(|c| {
            let status = f.status.map(|s| s.as_str().to_owned());
            let order = f.order_id.map(|o| o.to_string());
            load_conflicts(
                c,
                "(?1 IS NULL OR status = ?1) AND (?2 IS NULL OR crew_id = ?2) AND (?3 IS NULL OR order_id = ?3)",
                &[&status, &f.crew_id, &order],
            )
        })
    }

    fn act_on_conflict(
        &self,
        caller: &Caller,
        id: Uuid,
        action: &ConflictAction,
    ) -> Result<Conflict> {
        self.write(|tx| {
            match self.conflict_action(tx, caller, id, action, None)? {
                Outcome::Rejected {
                    code: RejectCode::NotFound,
                    ..
                } => return Err(ApiError::NotFound),
                Outcome::Rejected { reason, .. } => return Err(ApiError::Invalid(reason)),
                _ => {}
            }
            if let Some(c) = tx.conflict(id)? {
                tx.log(
                    c.order_id,
                    &who_dispatch(caller),
                    "conflict",
                    json!({ "conflict": id, "action": action }),
                )?;
            }
            tx.conflict(id)?.ok_or(ApiError::NotFound)
        })
        .map(|(c, _)| c)
    }

    fn crew_load(&self, crew_id: &str, day: NaiveDate) -> Result<CrewLoad> {
        self.read(|c| {
            let crew = crew_row(c, crew_id)?.ok_or(ApiError::NotFound)?;
            let d = day.to_string();
            Ok(CrewLoad {
                crew_id: crew.id,
                day,
                capacity: crew.capacity,
                booked: Capacity {
                    surveys: count_booked(c, crew_id, &d, WorkClass::Survey)?,
                    installs: count_booked(c, crew_id, &d, WorkClass::Install)?,
                    checks: count_booked(c, crew_id, &d, WorkClass::Check)?,
                },
            })
        })
    }

    fn photo_refs(&self, sha256: &str) -> Result<Vec<PhotoRef>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT f.body, o.crew_id, o.archived,
                        EXISTS (SELECT 1 FROM photo_owners w WHERE w.sha256 = ?1
                                AND w.member_id = json_extract(f.body, '$.member_id'))
                 FROM facts f JOIN orders o ON o.id = f.order_id
                 WHERE f.kind = 'photo' AND json_extract(f.body, '$.sha256') = ?1",
            )?;
            let rows = stmt.query_map([sha256], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, bool>(3)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (body, crew_id, archived, backed) = row?;
                let photo: fieldcrew_core::store::Photo = serde_json::from_str(&body)?;
                // The index finds the content address in the JSON; the record must say it too.
                if photo.sha256 != sha256 {
                    continue;
                }
                out.push(PhotoRef {
                    order_id: photo.order_id,
                    crew_id,
                    archived,
                    photo,
                    backed,
                });
            }
            Ok(out)
        })
    }

    fn add_photo_owner(&self, sha256: &str, member_id: &str) -> Result<()> {
        self.write(|tx| add_owner(&tx.tx, sha256, member_id, tx.now))
            .map(|_| ())
    }

    fn is_photo_owner(&self, sha256: &str, member_id: &str) -> Result<bool> {
        self.read(|c| is_owner(c, sha256, member_id))
    }

    fn add_office_photo(
        &self,
        caller: &Caller,
        mut photo: fieldcrew_core::store::Photo,
    ) -> Result<fieldcrew_core::store::Photo> {
        if !matches!(caller.role, Role::Dispatcher | Role::Admin) {
            return Err(ApiError::Forbidden);
        }
        self.write(|tx| {
            if tx.order(photo.order_id)?.is_none() {
                return Err(ApiError::NotFound);
            }
            if tx.fact_order(photo.id)?.is_some() {
                return Ok(photo);
            }
            photo.hlc = tx.tick();
            photo.added_at = tx.now;
            // The office made the bytes itself: its record is backed.
            add_owner(&tx.tx, &photo.sha256, &photo.member_id, tx.now)?;
            let body = serde_json::to_string(&photo)?;
            tx.insert_fact(
                "photo",
                photo.id,
                photo.order_id,
                photo.added_at,
                photo.hlc,
                &body,
            )?;
            tx.log(
                photo.order_id,
                &who_dispatch(caller),
                "document_added",
                json!({"photo_id": photo.id, "kind": photo.kind, "sha256": photo.sha256}),
            )?;
            Ok(photo)
        })
        .map(|(p, _)| p)
    }

    fn progress(
        &self,
        number: &str,
        account: &str,
        on_server: &dyn Fn(&str) -> bool,
    ) -> Result<CustomerProgress> {
        self.read(|c| {
            let row: Option<(String, String, String, i64)> = c
                .prepare_cached("SELECT id, doc, fees, created_at FROM orders WHERE number = ?1 AND account = ?2")?
                .query_row(params![number, account], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            let (id, doc, fees, created) = row.ok_or(ApiError::NotFound)?;
            let order: WorkOrder = serde_json::from_str(&doc)?;
            let id = Uuid::try_parse(&id).map_err(|_| ApiError::Corrupt("id".into()))?;
            let events: Vec<StatusEvent> = load_facts(c, id, "status_event")?;
            let first = |to: &[Status]| events.iter().find(|e| to.contains(&e.to)).map(|e| e.at);
            let dispatched_at = from_ms(created)?;
            let visit_started = first(&[Status::Arrived]);
            let finished = first(&[Status::Completed]);
            let mut steps = vec![
                ProgressStep {
                    step: "application_accepted".into(),
                    started_at: Some(order.accepted_at),
                    finished_at: Some(order.accepted_at),
                },
                ProgressStep {
                    step: "dispatched".into(),
                    started_at: Some(dispatched_at),
                    finished_at: first(&[Status::Accepted, Status::EnRoute, Status::Arrived]),
                },
                ProgressStep {
                    step: "site_visit".into(),
                    started_at: visit_started,
                    finished_at: finished,
                },
            ];
            // The order's status decides the last step, not whether it was ever cancelled: work
            // the crew completed on an order dispatch had cancelled stands (the order ends
            // completed, with a conflict for dispatch), and the customer sees it done.
            if order.status == Status::Cancelled {
                let at = first(&[Status::Cancelled]);
                steps.push(ProgressStep { step: "cancelled".into(), started_at: at, finished_at: at });
            } else {
                steps.push(ProgressStep { step: "completed".into(), started_at: finished, finished_at: finished });
            }
            // A document is received once a backed photo of its kind is on the server.
            let photos: Vec<fieldcrew_core::store::Photo> = load_facts(c, id, "photo")?;
            let mut received = Vec::new();
            for p in &photos {
                if !received.contains(&p.kind) && on_server(&p.sha256) && is_owner(c, &p.sha256, &p.member_id)? {
                    received.push(p.kind);
                }
            }
            use fieldcrew_core::work_order::DocumentKind as D;
            Ok(CustomerProgress {
                number: order.number,
                kind: order.kind,
                status: order.status,
                steps,
                appointment: order.appointment,
                fees: serde_json::from_str(&fees)?,
                to_prepare: order
                    .required_documents
                    .iter()
                    .copied()
                    .filter(|d| matches!(d, D::BusinessLicence | D::PropertyCertificate | D::IdCard))
                    .filter(|d| !received.contains(d))
                    .collect(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_3_backs_office_documents_and_the_first_record_of_each_photo() {
        let dir = tempfile::tempdir().expect("dir");
        let mut c = open_conn(&dir.path().join(DB_FILE)).expect("open");
        let migrations = Migrations::new(SCHEMA.iter().map(|s| M::up(s)).collect());
        migrations.to_version(&mut c, 2).expect("version 2");
        c.execute_batch(
            "INSERT INTO crews VALUES ('C1', 'c', 1, 1, 1), ('C2', 'c', 1, 1, 1);
             INSERT INTO members VALUES ('m1', 'm', 'C1', 'crew'), ('m3', 'm', 'C2', 'crew'),
                 ('d1', 'd', NULL, 'dispatcher');
             INSERT INTO orders VALUES ('o1', '1', 'C1', 'meter_check', 'dispatched', 'a', 'A1',
                 'x', 0, '2026-11-25', 0, 1, 1, '{}', '{}', '[]', 0, 0);",
        )
        .expect("seed");
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        // m1's photo a, then m3's copy naming it; m3's own photo b; a document d1 added as b.
        for (id, member, sha, received) in [
            ("f1", "m1", &a, 10),
            ("f2", "m3", &a, 20),
            ("f3", "m3", &b, 30),
            ("f4", "d1", &b, 40),
        ] {
            let body = json!({ "sha256": sha, "member_id": member }).to_string();
            c.execute(
                "INSERT INTO facts VALUES (?1, 'o1', 'photo', 0, '', ?2, ?3)",
                params![id, body, received],
            )
            .expect("fact");
        }
        migrations.to_latest(&mut c).expect("version 3");
        let mut owners: Vec<(String, String)> = c
            .prepare("SELECT sha256, member_id FROM photo_owners ORDER BY sha256, member_id")
            .expect("query")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .collect::<rusqlite::Result<_>>()
            .expect("owners");
        owners.sort();
        assert_eq!(
            owners,
            [
                (a.clone(), "m1".to_owned()),
                (b.clone(), "d1".to_owned()),
                (b.clone(), "m3".to_owned()),
            ]
        );
    }
}
