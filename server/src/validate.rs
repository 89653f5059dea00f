//! Validation of everything a client sends. The server trusts no payload: each operation is parsed
//! into the core's typed records (strictly), checked with the core's own rules, and checked for
//! consistency with the operation that carries it and with the caller's identity.

use chrono::{DateTime, Duration, Utc};
use fieldcrew_core::hlc::Hlc;
use fieldcrew_core::reading::MeterReading;
use fieldcrew_core::store::{Entity, Op, Photo, StatusEvent};
use fieldcrew_core::survey::{Evaluation, MeterReplacement, SiteSurvey, check_score};
use fieldcrew_core::sync::wire::{ConflictAction, PushOp, RejectCode};
use fieldcrew_core::work_order::Meter;
use fieldcrew_core::work_order::status::{Actor, check_transition};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::merge::CREW_WRITABLE;
use crate::storage::{Caller, NewOrder};

/// A rejection: the code and a reason the crew can read.
pub type Reject = (RejectCode, String);

fn invalid(msg: impl Into<String>) -> Reject {
    (RejectCode::Invalid, msg.into())
}

/// How far ahead of the server's clock a device's times may be (clocks drift; days do not).
/// The same bound holds for an operation's HLC stamp: the server moves its own clock past every
/// stamp it accepts and hands it to every phone as `server_hlc`, so one stamp from a phone whose
/// clock is years ahead (or from a hostile client) would drag every crew's clocks with it, and
/// phones refuse a `server_hlc` more than 30 days ahead of their own clock.
pub const MAX_AHEAD: Duration = Duration::hours(24);
pub const MAX_NOTES: usize = 2000;

/// A crew operation, parsed and checked on its own (the order-dependent checks come later).
#[derive(Debug, Clone)]
pub enum Checked {
    Fields(Vec<(String, Value)>),
    Event(StatusEvent),
    Reading(MeterReading),
    Replacement(MeterReplacement),
    Evaluation(Evaluation),
    Meter(Meter),
    Photo(Photo),
    Conflict(Uuid, ConflictAction),
}

/// Parses a record strictly; the reason names the field and the problem, never the value (it
/// goes back to the phone, is stored with the answer, and may be logged).
fn parse<T: DeserializeOwned>(v: &Value, what: &str) -> Result<T, Reject> {
    crate::error::from_value(v).map_err(|m| invalid(format!("malformed {what}: {m}")))
}

fn check_time(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Reject> {
    if at > now + MAX_AHEAD {
        return Err(invalid(
            "the time is more than a day ahead of the server's clock",
        ));
    }
    if at.timestamp_millis() < 946_684_800_000 {
        return Err(invalid("the time is before the year 2000"));
    }
    Ok(())
}

fn check_text(field: &str, s: &str, max: usize) -> Result<(), Reject> {
    if s.chars().count() > max {
        return Err(invalid(format!("{field}: at most {max} characters")));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(invalid(format!("{field}: control characters")));
    }
    Ok(())
}

pub fn check_phone(s: &str) -> Result<(), Reject> {
    let t = s.trim();
    if t.is_empty()
        || t.len() > 32
        || !t
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '))
    {
        return Err(invalid(
            "customer_phone: digits, '+', '-' and spaces, at most 32",
        ));
    }
    Ok(())
}

/// Checks an operation's HLC stamp against the server's clock: at most [`MAX_AHEAD`] ahead. Runs
/// before the server observes the stamp, so a rejected stamp never reaches the server's clock.
pub fn check_hlc(hlc: Hlc, now: DateTime<Utc>) -> Result<(), Reject> {
    if hlc.wall_ms > (now + MAX_AHEAD).timestamp_millis() {
        return Err(invalid(
            "the operation's clock stamp is more than a day ahead of the server's clock; \
             check the phone's date and time",
        ));
    }
    Ok(())
}

/// Checks the order version an operation says it was based on against the server's version of
/// the order. A device only ever learns versions from the server, so a base above the server's
/// would make the three-way merge take the operation as if it had seen every change, and
/// overwrite a concurrent edit by dispatch without a conflict.
pub fn check_base_version(base_version: i64, server_version: i64) -> Result<(), Reject> {
    if base_version > server_version {
        return Err(invalid(format!(
            "the operation is based on version {base_version} of the order, but the server has \
             only version {server_version}"
        )));
    }
    Ok(())
}

/// Checks one crew operation against itself and its caller.
pub fn crew_op(op: &PushOp, caller: &Caller, now: DateTime<Utc>) -> Result<Checked, Reject> {
    check_hlc(op.hlc, now)?;
    if op.base_version < 0 {
        return Err(invalid("base_version: not negative"));
    }
    let same = |id: Uuid, order_id: Uuid, member: &str, hlc| -> Result<(), Reject> {
        if id.to_string() != op.entity_id {
            return Err(invalid(
                "the record's id differs from the operation's entity id",
            ));
        }
        if order_id != op.order_id {
            return Err(invalid("the record's order differs from the operation's"));
        }
        if member != caller.member_id {
            return Err(invalid("the record names another member than the token's"));
        }
        if hlc != op.hlc {
            return Err(invalid("the record's HLC differs from the operation's"));
        }
        Ok(())
    };
    match (op.entity, op.op) {
        (Entity::WorkOrder, Op::Update) => {
            if op.entity_id != op.order_id.to_string() {
                return Err(invalid("an order update names the order itself"));
            }
            let Value::Object(map) = &op.fields else {
                return Err(invalid("fields must be an object"));
            };
            if map.is_empty() {
                return Err(invalid("no fields"));
            }
            let mut out = Vec::with_capacity(map.len());
            for (k, v) in map {
                if !CREW_WRITABLE.contains(&k.as_str()) {
                    return Err(if crate::merge::owner_of(k).is_some() {
                        (
                            RejectCode::NotOwner,
                            format!("{k} belongs to dispatch; ask the dispatcher to change it"),
                        )
                    } else {
                        invalid(format!("unknown field {k}"))
                    });
                }
                match k.as_str() {
                    "crew_notes" => {
                        let s: String = parse(v, "crew notes")?;
                        check_text("crew_notes", &s, MAX_NOTES)?;
                    }
                    "survey" => {
                        let s: Option<SiteSurvey> = parse(v, "survey")?;
                        if let Some(s) = s {
                            s.check().map_err(|e| invalid(e.to_string()))?;
                            check_text("load_notes", &s.load_notes, MAX_NOTES)?;
                        }
                    }
                    "customer_phone" => {
                        let s: String = parse(v, "phone")?;
                        check_phone(&s)?;
                    }
                    _ => return Err(invalid(format!("unknown field {k}"))),
                }
                out.push((k.clone(), v.clone()));
            }
            Ok(Checked::Fields(out))
        }
        (Entity::StatusEvent, Op::Create) => {
            let mut e: StatusEvent = parse(&op.fields, "status event")?;
            same(e.id, e.order_id, &e.member_id, e.hlc)?;
            check_time(e.at, now)?;
            check_text("note", &e.note, MAX_NOTES)?;
            check_transition(Actor::Crew, e.from, e.to, e.reason, &e.note)
                .map_err(|t| (RejectCode::IllegalTransition, t.to_string()))?;
            if let Some(fix) = e.fix {
                // Kept at site level whatever the client sent (phones already round).
                e.fix = Some(
                    fieldcrew_core::geo::Fix::new(fix.point.lat, fix.point.lon, fix.accuracy_m)
                        .map_err(|x| invalid(x.to_string()))?
                        .site_level(),
                );
            }
            Ok(Checked::Event(e))
        }
        (Entity::Reading, Op::Create) => {
            let r: MeterReading = parse(&op.fields, "reading")?;
            same(r.id, r.order_id, &r.member_id, r.hlc)?;
            check_time(r.taken_at, now)?;
            if r.value < Decimal::ZERO || r.value >= Decimal::from(10_000_000_000_i64) {
                return Err(invalid("a reading is between 0 and 10^10"));
            }
            check_text("meter_asset", &r.meter_asset, 64)?;
            if r.warnings.iter().any(|w| w.reason.trim().is_empty()) {
                return Err(invalid("every confirmed warning needs its reason"));
            }
            if r.supersedes == Some(r.id) {
                return Err(invalid("a reading cannot supersede itself"));
            }
            Ok(Checked::Reading(r))
        }
        (Entity::Replacement, Op::Create) => {
            let r: MeterReplacement = parse(&op.fields, "replacement")?;
            same(r.id, r.order_id, &r.member_id, r.hlc)?;
            check_time(r.at, now)?;
            if r.old_meter == r.new_meter {
                return Err(invalid("the new meter must differ from the old one"));
            }
            if let Some(card) = &r.new_card
                && (card.is_empty()
                    || card.len() > 64
                    || !card.chars().all(|c| c.is_ascii_alphanumeric()))
            {
                return Err(invalid("a card number has only letters and digits"));
            }
            Ok(Checked::Replacement(r))
        }
        (Entity::Evaluation, Op::Create) => {
            let e: Evaluation = parse(&op.fields, "evaluation")?;
            same(e.id, e.order_id, &e.member_id, e.hlc)?;
            check_time(e.at, now)?;
            check_score(e.score).map_err(|x| invalid(x.to_string()))?;
            check_text("comment", &e.comment, 1000)?;
            Ok(Checked::Evaluation(e))
        }
        (Entity::Meter, Op::Create) => {
            let m: Meter = parse(&op.fields, "meter")?;
            if m.asset_number != op.entity_id {
                return Err(invalid(
                    "the meter's asset number differs from the entity id",
                ));
            }
            m.check().map_err(|x| invalid(x.to_string()))?;
            check_text("asset_number", &m.asset_number, 64)?;
            Ok(Checked::Meter(m))
        }
        (Entity::Photo, Op::Create) => {
            let mut p: Photo = parse(&op.fields, "photo")?;
            same(p.id, p.order_id, &p.member_id, p.hlc)?;
            check_photo(&p, now)?;
            p.location = p.location.map(fieldcrew_core::geo::GeoPoint::site_level);
            Ok(Checked::Photo(p))
        }
        (Entity::Conflict, Op::Update) => {
            let id = Uuid::try_parse(&op.entity_id)
                .map_err(|_| invalid("a conflict is named by its id"))?;
            let action: ConflictAction = parse(&op.fields, "conflict action")?;
            if let ConflictAction::Resolve { note, .. } = &action {
                check_text("note", note, MAX_NOTES)?;
            }
            Ok(Checked::Conflict(id, action))
        }
        (entity, kind) => Err(invalid(format!("{kind} of {entity} is not an operation"))),
    }
}

/// The prepaid balance a replaced meter may show, in yuan, either way (exclusive): nine integer
/// digits, as many as the phone takes (`fieldcrew_core::survey::parse_money`).
pub const MAX_BALANCE: i64 = 1_000_000_000;

/// Checks the prepaid balance read off a replaced meter (`old_balance`) as the phone does when
/// the crew types it (`Store::record_replacement`, `parse_money`): given for a prepaid meter and
/// only for one, exact yuan with at most two decimals and at most nine integer digits. It may be
/// negative, as the phone allows: meters with emergency credit run below zero. (A decimal is
/// never NaN or infinite: `"NaN"` does not parse, and is refused as malformed.)
pub fn check_old_balance(balance: Option<Decimal>, old_meter: &Meter) -> Result<(), Reject> {
    match (balance, old_meter.prepaid) {
        (None, false) => Ok(()),
        (None, true) => Err(invalid(
            "old_balance: the old meter is prepaid; the balance left on it is required",
        )),
        (Some(_), false) => Err(invalid(
            "old_balance: the old meter is not prepaid, so it has no balance",
        )),
        (Some(b), true) if b.scale() > 2 => Err(invalid(
            "old_balance: a money amount has at most two decimals",
        )),
        (Some(b), true) if b.abs() >= Decimal::from(MAX_BALANCE) => Err(invalid(
            "old_balance: at most 999999999.99 yuan, above or below zero",
        )),
        (Some(_), true) => Ok(()),
    }
}

/// Checks a photo's metadata: its content address, sizes within the server's limits, sane times.
pub fn check_photo(p: &Photo, now: DateTime<Utc>) -> Result<(), Reject> {
    p.check_record().map_err(invalid)?;
    check_time(p.added_at, now)?;
    if let Some(at) = p.captured_at {
        check_time(at, now)?;
    }
    Ok(())
}

/// Checks an order dispatch creates.
pub fn new_order(o: &NewOrder) -> Result<(), String> {
    if o.number.trim().is_empty() || o.number.len() > 64 {
        return Err("number: 1 to 64 characters".into());
    }
    if o.crew_id.trim().is_empty() {
        return Err("crew_id: an order is dispatched to a crew".into());
    }
    o.appointment.check().map_err(|e| e.to_string())?;
    if o.customer.name.trim().is_empty() || o.customer.account_number.trim().is_empty() {
        return Err("customer: name and account number are required".into());
    }
    check_phone(&o.customer.phone).map_err(|(_, m)| m)?;
    if let Some(p) = o.site.location {
        fieldcrew_core::geo::GeoPoint::new(p.lat, p.lon).map_err(|e| e.to_string())?;
    }
    for (i, m) in o.meters.iter().enumerate() {
        m.check().map_err(|e| e.to_string())?;
        if o.meters[..i]
            .iter()
            .any(|x| x.asset_number == m.asset_number)
        {
            return Err("meters: a meter is listed twice".into());
        }
    }
    check_text("dispatch_notes", &o.dispatch_notes, MAX_NOTES).map_err(|(_, m)| m)?;
    if o.fees
        .iter()
        .any(|f| f.amount < Decimal::ZERO || f.item.trim().is_empty())
    {
        return Err("fees: each fee names its item and is not negative".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(at: DateTime<Utc>) -> Hlc {
        Hlc {
            wall_ms: at.timestamp_millis(),
            counter: 7,
            node: Uuid::nil(),
        }
    }

    #[test]
    fn an_hlc_stamp_more_than_a_day_ahead_is_refused() {
        let now = Utc::now();
        assert!(check_hlc(stamp(now), now).is_ok());
        assert!(check_hlc(stamp(now - Duration::days(400)), now).is_ok());
        assert!(check_hlc(stamp(now + MAX_AHEAD), now).is_ok());
        let (code, reason) = check_hlc(stamp(now + MAX_AHEAD + Duration::milliseconds(1)), now)
            .expect_err("refused");
        assert_eq!(code, RejectCode::Invalid);
        assert!(reason.contains("ahead of the server's clock"), "{reason}");
    }

    #[test]
    fn positions_are_kept_at_site_level_whatever_the_client_sends() {
        use crate::storage::Role;
        use fieldcrew_core::geo::{Fix, GeoPoint};
        use fieldcrew_core::work_order::Status;
        let now = Utc::now();
        let hlc = stamp(now);
        let (id, order_id) = (Uuid::now_v7(), Uuid::now_v7());
        let event = StatusEvent {
            id,
            order_id,
            from: Status::EnRoute,
            to: Status::Arrived,
            reason: None,
            note: String::new(),
            at: now,
            fix: Some(Fix::new(30.274_156_3, 120.155_173_8, Some(2.6)).expect("fix")),
            member_id: "m1".into(),
            hlc,
        };
        let op = PushOp {
            op_id: Uuid::now_v7(),
            entity: Entity::StatusEvent,
            entity_id: id.to_string(),
            order_id,
            op: Op::Create,
            fields: serde_json::to_value(&event).expect("json"),
            base_version: 1,
            hlc,
        };
        let caller = Caller {
            member_id: "m1".into(),
            crew_id: Some("C1".into()),
            role: Role::Crew,
            device: "p1".into(),
        };
        match crew_op(&op, &caller, now) {
            Ok(Checked::Event(e)) => {
                let fix = e.fix.expect("fix");
                assert_eq!(fix.point, GeoPoint::new(30.2742, 120.1552).expect("point"));
                assert_eq!(fix.accuracy_m, Some(3.0));
            }
            other => panic!("expected the event, got {other:?}"),
        }
    }

    #[test]
    fn a_base_version_above_the_servers_is_refused() {
        assert!(check_base_version(0, 3).is_ok());
        assert!(check_base_version(3, 3).is_ok());
        let (code, reason) = check_base_version(4, 3).expect_err("refused");
        assert_eq!(code, RejectCode::Invalid);
        assert!(reason.contains("version 4"), "{reason}");
    }
}
