//! Recording meter readings and meter replacements.
//!
//! A reading set is checked in the same transaction that stores it, so what was validated is
//! exactly what is saved: parse each value, refuse a second reading of the same meter, register
//! and purpose unless it explicitly supersedes the first, gather the register's history (the back
//! office's last reading and the device's own earlier readings), validate, require a reason for
//! every warning, then append the readings and their outbox entries.

use std::collections::HashSet;

use rusqlite::{Connection, Transaction, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codec::{self, ms};
use super::orders::{insert_meter, load_meters, reindex};
use super::outbox::{self, Change, Entity, Op};
use super::progress::status_and_version;
use super::{Store, WriteCtx, require_session};
use crate::error::{Error, Result};
use crate::reading::validate::{ReadingSetInput, RegisterInput};
use crate::reading::{
    Confirmation, ConfirmedWarning, HistoryPoint, MeterReading, ReadingError, ReadingPurpose,
    ReadingWarning, Register, apply_confirmations, parse_value, validate,
};
use crate::survey::{MeterReplacement, parse_money};
use crate::work_order::{Meter, Status};

/// One register's value as the member typed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterValue {
    pub register: Register,
    pub raw: String,
}

/// The registers of one meter read for one purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingEntry {
    pub order_id: Uuid,
    pub meter_asset: String,
    pub purpose: ReadingPurpose,
    pub values: Vec<RegisterValue>,
    pub photo_id: Option<String>,
    /// Readings this set corrects; each must be the current reading of one of its registers.
    pub supersedes: Vec<Uuid>,
    pub confirmations: Vec<Confirmation>,
}

/// A meter replacement (换表) as the member enters it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplacementEntry {
    pub order_id: Uuid,
    pub old_meter: String,
    pub old_final: Vec<RegisterValue>,
    /// The prepaid balance left on the old meter, as typed; required when it is prepaid.
    pub old_balance: Option<String>,
    /// The new meter; if dispatch already listed it on the order, its stored spec is used.
    pub new_meter: Meter,
    pub new_start: Vec<RegisterValue>,
    /// The new prepaid card's number; required when the new meter is prepaid.
    pub new_card: Option<String>,
    pub photo_id: Option<String>,
    pub confirmations: Vec<Confirmation>,
}

/// A reading set parsed and validated, ready to insert.
struct Checked {
    meter: String,
    purpose: ReadingPurpose,
    values: Vec<(Register, Decimal)>,
    warnings: Vec<ReadingWarning>,
    supersedes: Vec<(Register, Uuid)>,
}

fn require_on_site(status: Status) -> Result<()> {
    if matches!(status, Status::Arrived | Status::InProgress) {
        Ok(())
    } else {
        Err(Error::invalid(
            "status",
            format!("readings are taken on site; the order is {status} (report arrival first)"),
        ))
    }
}

/// The current (not superseded) reading of each register of a meter for a purpose on an order.
fn current_readings(
    conn: &Connection,
    order_id: Uuid,
    meter: &str,
    purpose: ReadingPurpose,
) -> Result<Vec<(Register, Uuid)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT register, id FROM readings r
         WHERE order_id = ?1 AND meter_asset = ?2 AND purpose = ?3
           AND NOT EXISTS (SELECT 1 FROM readings s WHERE s.supersedes = r.id)",
    )?;
    let rows = stmt.query_map(
        params![order_id.to_string(), meter, purpose.as_str()],
        |r| Ok((codec::parsed(r, 0)?, codec::parsed(r, 1)?)),
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Earlier readings of the physical register on this device, excluding `skip` (being corrected)
/// and start readings (they are where the history begins, and are included as such).
fn local_history(
    conn: &Connection,
    meter: &str,
    register: Register,
    skip: &HashSet<Uuid>,
) -> Result<Vec<HistoryPoint>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, value, taken_at FROM readings r
         WHERE meter_asset = ?1 AND register = ?2
           AND NOT EXISTS (SELECT 1 FROM readings s WHERE s.supersedes = r.id)
         ORDER BY taken_at",
    )?;
    let mut out = Vec::new();
    for row in stmt.query_map(params![meter, register.as_str()], |r| {
        Ok((
            codec::parsed::<Uuid>(r, 0)?,
            codec::parsed::<Decimal>(r, 1)?,
            codec::time(r, 2)?,
        ))
    })? {
        let (id, value, at) = row?;
        if !skip.contains(&id) {
            out.push(HistoryPoint { value, at });
        }
    }
    Ok(out)
}

fn check_set(
    conn: &Connection,
    ctx: &WriteCtx<'_>,
    order_id: Uuid,
    meter: &Meter,
    purpose: ReadingPurpose,
    values: &[RegisterValue],
    supersedes: &[Uuid],
) -> Result<Checked> {
    if values.is_empty() {
        return Err(ReadingError::NoValues.into());
    }
    let mut parsed = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        if values[..i].iter().any(|o| o.register == v.register) {
            return Err(ReadingError::DuplicateRegister {
                register: v.register,
            }
            .into());
        }
        let reg = meter
            .register(v.register)
            .ok_or(ReadingError::UnknownRegister(v.register))?;
        let value = parse_value(&v.raw, &reg.spec).map_err(|error| ReadingError::Parse {
            register: v.register,
            error,
        })?;
        parsed.push((reg, value));
    }

    // A second reading for the same meter, register and purpose must say what it corrects.
    let current = current_readings(conn, order_id, &meter.asset_number, purpose)?;
    let mut superseded = Vec::new();
    for id in supersedes {
        match current
            .iter()
            .find(|(reg, cur)| cur == id && parsed.iter().any(|(r, _)| r.spec.register == *reg))
        {
            Some(&(reg, id)) => superseded.push((reg, id)),
            None => return Err(ReadingError::BadSupersede(*id).into()),
        }
    }
    for (reg, existing) in &current {
        let in_set = parsed.iter().any(|(r, _)| r.spec.register == *reg);
        if in_set && !superseded.iter().any(|(_, s)| s == existing) {
            return Err(ReadingError::AlreadyRecorded {
                register: *reg,
                purpose,
                existing: *existing,
            }
            .into());
        }
    }

    let skip: HashSet<Uuid> = superseded.iter().map(|(_, id)| *id).collect();
    let mut inputs = Vec::with_capacity(parsed.len());
    for (reg, value) in &parsed {
        let mut history = if purpose.is_start() {
            Vec::new()
        } else {
            local_history(conn, &meter.asset_number, reg.spec.register, &skip)?
        };
        if !purpose.is_start()
            && let Some(last) = reg.last
        {
            history.push(last);
        }
        history.sort_by_key(|h| h.at);
        history.dedup();
        inputs.push(RegisterInput {
            spec: reg.spec,
            value: *value,
            history,
        });
    }
    let input = ReadingSetInput {
        purpose,
        taken_at: ctx.now,
        multiplier: meter.multiplier,
        expected_daily_kwh: meter.expected_daily_kwh,
        registers: &inputs,
    };
    let warnings = validate(&input, &ctx.options.validation).map_err(ReadingError::from)?;
    Ok(Checked {
        meter: meter.asset_number.clone(),
        purpose,
        values: parsed.iter().map(|(r, v)| (r.spec.register, *v)).collect(),
        warnings,
        supersedes: superseded,
    })
}

/// What every reading of one entry shares: the order (at the version the crew saw), who took
/// them and the photo of the meter's display.
struct Taken<'a> {
    order_id: Uuid,
    base_version: i64,
    member_id: &'a str,
    photo_id: Option<&'a str>,
}

fn insert_set(
    tx: &Transaction<'_>,
    ctx: &WriteCtx<'_>,
    taken: &Taken<'_>,
    checked: Checked,
    confirmed: &[ConfirmedWarning],
) -> Result<Vec<MeterReading>> {
    let Taken {
        order_id,
        base_version,
        member_id,
        photo_id,
    } = *taken;
    let mut out = Vec::with_capacity(checked.values.len());
    for (register, value) in checked.values {
        let hlc = outbox::next_hlc(tx, ctx)?;
        let reading = MeterReading {
            id: Uuid::now_v7(),
            order_id,
            meter_asset: checked.meter.clone(),
            register,
            purpose: checked.purpose,
            value,
            // As stored (milliseconds), so what this returns, the row and what sync sends agree.
            taken_at: codec::whole_ms(ctx.now),
            photo_id: photo_id.map(str::to_owned),
            member_id: member_id.to_owned(),
            warnings: confirmed
                .iter()
                .filter(|w| w.register == register)
                .cloned()
                .collect(),
            supersedes: checked
                .supersedes
                .iter()
                .find(|(r, _)| *r == register)
                .map(|(_, id)| *id),
            hlc,
        };
        tx.prepare_cached(
            "INSERT INTO readings (id, order_id, meter_asset, register, purpose, value, taken_at, photo_id,
                 member_id, warnings, supersedes, hlc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            reading.id.to_string(),
            order_id.to_string(),
            reading.meter_asset,
            register.as_str(),
            checked.purpose.as_str(),
            value.to_string(),
            ms(reading.taken_at),
            reading.photo_id,
            reading.member_id,
            serde_json::to_string(&reading.warnings)?,
            reading.supersedes.map(|s| s.to_string()),
            hlc.to_string(),
        ])?;
        let id = reading.id.to_string();
        let change = Change {
            entity: Entity::Reading,
            entity_id: &id,
            order_id,
            op: Op::Create,
            // The readings row is the payload (`outbox::READING_PAYLOAD`): no copy.
            fields: serde_json::Value::Null,
            base_version,
        };
        outbox::push(tx, ctx, change, hlc)?;
        out.push(reading);
    }
    Ok(out)
}

fn find_meter(meters: &[Meter], asset: &str) -> Result<Meter> {
    meters
        .iter()
        .find(|m| m.asset_number == asset)
        .cloned()
        .ok_or_else(|| ReadingError::UnknownMeter(asset.to_owned()).into())
}

fn install_meter_tx(
    tx: &Transaction<'_>,
    ctx: &WriteCtx<'_>,
    order_id: Uuid,
    version: i64,
    meter: &Meter,
) -> Result<()> {
    meter.check()?;
    insert_meter(tx, order_id, meter)?;
    reindex(tx, order_id)?;
    let hlc = outbox::next_hlc(tx, ctx)?;
    let change = Change {
        entity: Entity::Meter,
        entity_id: &meter.asset_number,
        order_id,
        op: Op::Create,
        fields: serde_json::to_value(meter)?,
        base_version: version,
    };
    outbox::push(tx, ctx, change, hlc)?;
    Ok(())
}

impl Store {
    /// Checks a reading set without saving it: the warnings to show the member before they
    /// confirm. Errors are the same as [`Store::record_readings`] would give. Cheap.
    pub fn check_readings(&self, entry: &ReadingEntry) -> Result<Vec<ReadingWarning>> {
        // Runs on the writer so it sees exactly what a save would, and rolls back.
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        let ctx = WriteCtx {
            now: self.now(),
            device_id: self.device_id,
            options: &self.options,
        };
        let (status, _) = status_and_version(&tx, entry.order_id)?;
        require_on_site(status)?;
        let meter = find_meter(&load_meters(&tx, entry.order_id)?, &entry.meter_asset)?;
        let checked = check_set(
            &tx,
            &ctx,
            entry.order_id,
            &meter,
            entry.purpose,
            &entry.values,
            &entry.supersedes,
        )?;
        Ok(checked.warnings)
    }

    /// Validates and saves a reading set with its outbox entries, in one transaction.
    ///
    /// Fails with [`ReadingError::NeedsConfirmation`] listing the warnings still to confirm;
    /// call again with a [`Confirmation`] and reason for each. Cheap (well under a millisecond).
    pub fn record_readings(&self, entry: &ReadingEntry) -> Result<Vec<MeterReading>> {
        let saved = self.write(|tx, ctx| {
            let session = require_session(tx)?;
            let (status, version) = status_and_version(tx, entry.order_id)?;
            require_on_site(status)?;
            let meter = find_meter(&load_meters(tx, entry.order_id)?, &entry.meter_asset)?;
            let checked = check_set(
                tx,
                ctx,
                entry.order_id,
                &meter,
                entry.purpose,
                &entry.values,
                &entry.supersedes,
            )?;
            let confirmed = apply_confirmations(&checked.warnings, &entry.confirmations)?;
            let taken = Taken {
                order_id: entry.order_id,
                base_version: version,
                member_id: &session.member_id,
                photo_id: entry.photo_id.as_deref(),
            };
            insert_set(tx, ctx, &taken, checked, &confirmed)
        })?;
        tracing::debug!(
            order = %entry.order_id,
            readings = saved.len(),
            confirmed_warnings = saved.iter().map(|r| r.warnings.len()).sum::<usize>(),
            "readings recorded"
        );
        Ok(saved)
    }

    /// Adds a meter the crew installed at the site (new connection, meter install).
    pub fn install_meter(&self, order_id: Uuid, meter: &Meter) -> Result<()> {
        self.write(|tx, ctx| {
            require_session(tx)?;
            let (status, version) = status_and_version(tx, order_id)?;
            require_on_site(status)?;
            if load_meters(tx, order_id)?
                .iter()
                .any(|m| m.asset_number == meter.asset_number)
            {
                return Err(Error::invalid(
                    "asset_number",
                    "this meter is already on the order",
                ));
            }
            install_meter_tx(tx, ctx, order_id, version, meter)
        })
    }

    /// Records a meter replacement in one transaction: the old meter's final readings and
    /// prepaid balance, the new meter and its start readings, the new card. Warnings of both
    /// reading sets must be confirmed, as for [`Store::record_readings`].
    pub fn record_replacement(
        &self,
        entry: &ReplacementEntry,
    ) -> Result<(MeterReplacement, Vec<MeterReading>)> {
        self.write(|tx, ctx| {
            let session = require_session(tx)?;
            let (status, version) = status_and_version(tx, entry.order_id)?;
            require_on_site(status)?;
            let meters = load_meters(tx, entry.order_id)?;
            let old = find_meter(&meters, &entry.old_meter)?;
            if entry.new_meter.asset_number == old.asset_number {
                return Err(Error::invalid("new_meter", "the new meter must differ from the old one"));
            }
            let old_balance = match (&entry.old_balance, old.prepaid) {
                (Some(raw), true) => Some(parse_money(raw)?),
                (None, true) => return Err(Error::invalid("balance", "the old meter is prepaid: enter the balance left on it")),
                (Some(_), false) => return Err(Error::invalid("balance", "the old meter is not prepaid")),
                (None, false) => None,
            };
            let new_meter = match meters.iter().find(|m| m.asset_number == entry.new_meter.asset_number) {
                Some(listed) => listed.clone(),
                None => {
                    install_meter_tx(tx, ctx, entry.order_id, version, &entry.new_meter)?;
                    entry.new_meter.clone()
                }
            };
            let new_card = entry.new_card.as_deref().map(str::trim).filter(|c| !c.is_empty());
            if new_meter.prepaid && new_card.is_none() {
                return Err(Error::invalid("new_card", "the new meter is prepaid: enter the new card's number"));
            }
            if let Some(card) = new_card
                && !card.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(Error::invalid("new_card", "a card number has only letters and digits"));
            }

            let old_set = check_set(tx, ctx, entry.order_id, &old, ReadingPurpose::ReplacementOldFinal, &entry.old_final, &[])?;
            let new_set =
                check_set(tx, ctx, entry.order_id, &new_meter, ReadingPurpose::ReplacementNewStart, &entry.new_start, &[])?;
            let all: Vec<ReadingWarning> = old_set.warnings.iter().chain(&new_set.warnings).cloned().collect();
            apply_confirmations(&all, &entry.confirmations)?;
            let old_confirmed = apply_confirmations(&old_set.warnings, &entry.confirmations)?;
            let new_confirmed = apply_confirmations(&new_set.warnings, &entry.confirmations)?;
            let taken = Taken {
                order_id: entry.order_id,
                base_version: version,
                member_id: &session.member_id,
                photo_id: entry.photo_id.as_deref(),
            };
            let mut readings = insert_set(tx, ctx, &taken, old_set, &old_confirmed)?;
            readings.extend(insert_set(tx, ctx, &taken, new_set, &new_confirmed)?);

            let hlc = outbox::next_hlc(tx, ctx)?;
            let record = MeterReplacement {
                id: Uuid::now_v7(),
                order_id: entry.order_id,
                old_meter: old.asset_number.clone(),
                old_balance,
                new_meter: new_meter.asset_number.clone(),
                new_card: new_card.map(str::to_owned),
                at: ctx.now,
                member_id: session.member_id.clone(),
                hlc,
            };
            tx.prepare_cached(
                "INSERT INTO replacements (id, order_id, old_meter, old_balance, new_meter, new_card, at, member_id, hlc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                record.id.to_string(),
                record.order_id.to_string(),
                record.old_meter,
                record.old_balance.map(|b| b.to_string()),
                record.new_meter,
                record.new_card,
                ms(record.at),
                record.member_id,
                hlc.to_string(),
            ])?;
            let id = record.id.to_string();
            let change = Change {
                entity: Entity::Replacement,
                entity_id: &id,
                order_id: entry.order_id,
                op: Op::Create,
                fields: serde_json::to_value(&record)?,
                base_version: version,
            };
            outbox::push(tx, ctx, change, hlc)?;
            Ok((record, readings))
        })
    }
}

pub(crate) fn load_readings(
    conn: &Connection,
    order_id: Uuid,
) -> Result<Vec<(MeterReading, Option<Uuid>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.order_id, r.meter_asset, r.register, r.purpose, r.value, r.taken_at, r.photo_id, r.member_id,
                r.warnings, r.supersedes, r.hlc, (SELECT s.id FROM readings s WHERE s.supersedes = r.id)
         FROM readings r WHERE r.order_id = ?1 ORDER BY r.taken_at, r.hlc",
    )?;
    let rows = stmt.query_map([order_id.to_string()], |r| {
        Ok((reading_from_row(r, 0)?, codec::opt_parsed(r, 12)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A reading from the twelve columns `id, order_id, meter_asset, register, purpose, value,
/// taken_at, photo_id, member_id, warnings, supersedes, hlc` starting at column `at`.
pub(crate) fn reading_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<MeterReading> {
    Ok(MeterReading {
        id: codec::parsed(r, at)?,
        order_id: codec::parsed(r, at + 1)?,
        meter_asset: r.get(at + 2)?,
        register: codec::parsed(r, at + 3)?,
        purpose: codec::parsed(r, at + 4)?,
        value: codec::parsed(r, at + 5)?,
        taken_at: codec::time(r, at + 6)?,
        photo_id: r.get(at + 7)?,
        member_id: r.get(at + 8)?,
        warnings: codec::json(r, at + 9)?,
        supersedes: codec::opt_parsed(r, at + 10)?,
        hlc: codec::parsed(r, at + 11)?,
    })
}

pub(crate) fn load_replacements(
    conn: &Connection,
    order_id: Uuid,
) -> Result<Vec<MeterReplacement>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, order_id, old_meter, old_balance, new_meter, new_card, at, member_id, hlc
         FROM replacements WHERE order_id = ?1 ORDER BY at",
    )?;
    let rows = stmt.query_map([order_id.to_string()], |r| {
        Ok(MeterReplacement {
            id: codec::parsed(r, 0)?,
            order_id: codec::parsed(r, 1)?,
            old_meter: r.get(2)?,
            old_balance: codec::opt_parsed(r, 3)?,
            new_meter: r.get(4)?,
            new_card: r.get(5)?,
            at: codec::time(r, 6)?,
            member_id: r.get(7)?,
            hlc: codec::parsed(r, 8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
