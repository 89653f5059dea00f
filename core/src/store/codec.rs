//! Conversions between domain values and SQLite columns.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rusqlite::Row;
use rusqlite::types::Type;
use serde::de::DeserializeOwned;

use crate::work_order::Appointment;

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// `t` to the millisecond, as a timestamp column keeps it.
pub(crate) fn whole_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms(t)).unwrap_or(t)
}

fn conversion(
    idx: usize,
    ty: Type,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, Box::new(e))
}

#[derive(Debug, thiserror::Error)]
#[error("timestamp out of range")]
struct BadTime;

/// A millisecond timestamp column.
pub(crate) fn time(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let v: i64 = row.get(idx)?;
    DateTime::from_timestamp_millis(v).ok_or_else(|| conversion(idx, Type::Integer, BadTime))
}

/// A TEXT column holding anything with `FromStr`: enums, decimals, UUIDs, HLC stamps.
pub(crate) fn parsed<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text(row, idx)?
        .parse()
        .map_err(|e| conversion(idx, Type::Text, e))
}

/// A TEXT column borrowed from the row (no copy: the agenda decodes a few thousand a call).
fn text<'r>(row: &'r Row<'_>, idx: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(idx)?
        .as_str()
        .map_err(|e| conversion(idx, Type::Text, e))
}

pub(crate) fn opt_parsed<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match row.get_ref(idx)?.as_str_or_null() {
        Ok(None) => Ok(None),
        Ok(Some(s)) => s
            .parse()
            .map(Some)
            .map_err(|e| conversion(idx, Type::Text, e)),
        Err(e) => Err(conversion(idx, Type::Text, e)),
    }
}

/// A TEXT column holding JSON.
pub(crate) fn json<T: DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    serde_json::from_str(text(row, idx)?).map_err(|e| conversion(idx, Type::Text, e))
}

/// The appointment column: the JSON the store wrote (`{"mode":"slot","start":…,"end":…}`),
/// decoded without serde's buffering of internally tagged enums, with the store's own
/// timestamps (`2026-11-25T02:00:00Z`) parsed by a fixed-format fast path. The agenda decodes
/// one per order listed; the generic route was a fifth of its time. Anything else (older rows,
/// fractional seconds, offsets) goes through chrono.
pub(crate) fn appointment(row: &Row<'_>, idx: usize) -> rusqlite::Result<Appointment> {
    decode_appointment(text(row, idx)?).map_err(|e| conversion(idx, Type::Text, e))
}

#[derive(Debug, thiserror::Error)]
#[error("stored appointment: {0}")]
pub(crate) struct BadAppointment(String);

pub(crate) fn decode_appointment(s: &str) -> Result<Appointment, BadAppointment> {
    #[derive(serde::Deserialize)]
    struct Flat<'a> {
        #[serde(borrow)]
        mode: &'a str,
        #[serde(default, borrow)]
        start: Option<&'a str>,
        #[serde(default, borrow)]
        end: Option<&'a str>,
        #[serde(default)]
        hours: Option<u32>,
        #[serde(default, borrow)]
        by: Option<&'a str>,
    }
    let f: Flat<'_> = serde_json::from_str(s).map_err(|e| BadAppointment(e.to_string()))?;
    let at = |v: Option<&str>, name: &str| {
        let v = v.ok_or_else(|| BadAppointment(format!("{} without {name}", f.mode)))?;
        utc(v).ok_or_else(|| BadAppointment(format!("{name} is not a time")))
    };
    match f.mode {
        "slot" => Ok(Appointment::Slot {
            start: at(f.start, "start")?,
            end: at(f.end, "end")?,
        }),
        "within" => Ok(Appointment::Within {
            hours: f
                .hours
                .ok_or_else(|| BadAppointment("within without hours".into()))?,
        }),
        "deadline" => Ok(Appointment::Deadline {
            by: at(f.by, "by")?,
        }),
        other => Err(BadAppointment(format!("unknown mode {other:?}"))),
    }
}

/// An RFC 3339 time. `YYYY-MM-DDTHH:MM:SSZ`, as chrono writes whole-second UTC times, is read
/// digit by digit; anything else goes to chrono's parser.
pub(crate) fn utc(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
    {
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
        };
        let date = chrono::NaiveDate::from_ymd_opt(
            i32::try_from(num(0..4)?).ok()?,
            num(5..7)?,
            num(8..10)?,
        )?;
        let time = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
        return Some(time.and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(crate) fn opt_json<T: DeserializeOwned>(
    row: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<T>> {
    match row.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| conversion(idx, Type::Text, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).expect("in range")
    }

    proptest! {
        /// The fast decoder reads back exactly what serde wrote, for any appointment, with
        /// whole-second times (the fast path) and with milliseconds (chrono's path).
        #[test]
        fn appointments_round_trip(a in 0i64..4_102_444_800_000, len in 1i64..86_400_000, hours in 1u32..1000, whole in any::<bool>()) {
            let a = if whole { a / 1000 * 1000 } else { a };
            for appt in [
                Appointment::Slot { start: at(a), end: at(a + len) },
                Appointment::Within { hours },
                Appointment::Deadline { by: at(a) },
            ] {
                let json = serde_json::to_string(&appt).expect("json");
                prop_assert_eq!(decode_appointment(&json).expect("decodes"), appt);
            }
        }

        /// The fixed-format parser agrees with chrono on every whole-second UTC time, and on
        /// strings that only look like one.
        #[test]
        fn the_fast_time_parser_agrees_with_chrono(secs in -62_000_000_000i64..250_000_000_000, noise in "[0-9:TZ-]{20}") {
            let s = at(secs * 1000).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            prop_assert_eq!(utc(&s), Some(at(secs * 1000)));
            let chrono = DateTime::parse_from_rfc3339(&noise).ok().map(|t| t.with_timezone(&Utc));
            prop_assert_eq!(utc(&noise), chrono);
        }
    }

    #[test]
    fn bad_appointments_are_errors_not_guesses() {
        for bad in [
            r#"{"mode":"slot","start":"2026-11-25T02:00:00Z"}"#,
            r#"{"mode":"slot","start":"2026-11-25T02:00:00Z","end":"2026-13-25T02:00:00Z"}"#,
            r#"{"mode":"slot","start":"2026-11-25T25:00:00Z","end":"2026-11-25T02:00:00Z"}"#,
            r#"{"mode":"within"}"#,
            r#"{"mode":"deadline","by":"tomorrow"}"#,
            r#"{"mode":"soon"}"#,
            r#"{"start":"2026-11-25T02:00:00Z"}"#,
            r#"[1,2]"#,
            "",
        ] {
            assert!(decode_appointment(bad).is_err(), "{bad}");
        }
        // An offset other than Z is read as the instant it names.
        assert_eq!(
            utc("2026-11-25T10:00:00+08:00"),
            Some(at(1_795_572_000_000))
        );
    }
}
