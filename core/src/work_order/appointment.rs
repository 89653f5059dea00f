//! The three appointment modes dispatchers book (预约方式): an agreed slot 约时, a time limit 限时,
//! and a deadline 限期. Each gives a due time against which the crew's work is tracked (时限管控).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// On the wire an object tagged by `mode`: `{"mode": "slot", "start": …, "end": …}`,
/// `{"mode": "within", "hours": 24}`, `{"mode": "deadline", "by": …}`. Deserialised by hand
/// (below) rather than as serde's internally tagged enum, which buffers the object and so hides
/// which field failed: a bad time is reported as `appointment.start`, not `appointment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Appointment {
    /// 约时: the customer expects the crew between `start` and `end`.
    Slot {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// 限时: within `hours` of the application's acceptance.
    Within { hours: u32 },
    /// 限期: by a date and time.
    Deadline { by: DateTime<Utc> },
}

/// How an open order stands against its due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    OnTrack,
    DueSoon,
    Overdue,
}

crate::text_enum!(Urgency { OnTrack => "on_track", DueSoon => "due_soon", Overdue => "overdue" });

impl Appointment {
    pub fn check(&self) -> Result<()> {
        match *self {
            Appointment::Slot { start, end } if end <= start => Err(Error::invalid(
                "appointment",
                "a slot must end after it starts",
            )),
            Appointment::Within { hours: 0 } => Err(Error::invalid(
                "appointment",
                "a time limit must be at least one hour",
            )),
            _ => Ok(()),
        }
    }

    /// The time the work must be done by.
    pub fn due_at(&self, accepted_at: DateTime<Utc>) -> DateTime<Utc> {
        match *self {
            Appointment::Slot { end, .. } => end,
            Appointment::Within { hours } => accepted_at + Duration::hours(i64::from(hours)),
            Appointment::Deadline { by } => by,
        }
    }

    /// The time the order sits at in a day's agenda: a slot's start, otherwise the due time.
    pub fn agenda_at(&self, accepted_at: DateTime<Utc>) -> DateTime<Utc> {
        match *self {
            Appointment::Slot { start, .. } => start,
            _ => self.due_at(accepted_at),
        }
    }

    pub fn mode(&self) -> &'static str {
        match self {
            Appointment::Slot { .. } => "slot",
            Appointment::Within { .. } => "within",
            Appointment::Deadline { .. } => "deadline",
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Slot,
    Within,
    Deadline,
}

impl<'de> Deserialize<'de> for Appointment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_struct("Appointment", FIELDS, AppointmentVisitor)
    }
}

const FIELDS: &[&str] = &["mode", "start", "end", "hours", "by"];

/// A key of the object (no allocation per key, as a string key would need).
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Mode,
    Start,
    End,
    Hours,
    By,
    #[serde(other)]
    Other,
}

struct AppointmentVisitor;

impl<'de> serde::de::Visitor<'de> for AppointmentVisitor {
    type Value = Appointment;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an appointment: an object with a mode of slot, within or deadline")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Appointment, A::Error> {
        use serde::de::Error as _;
        fn once<T, E: serde::de::Error>(
            slot: &mut Option<T>,
            name: &'static str,
            v: T,
        ) -> std::result::Result<(), E> {
            if slot.replace(v).is_some() {
                return Err(E::duplicate_field(name));
            }
            Ok(())
        }
        let (mut mode, mut start, mut end, mut hours, mut by) = (None, None, None, None, None);
        // Each value is read where its key is, so a path tracker sees the field that failed.
        // Fields of another mode are read too (and so must be well-formed); unknown keys are
        // skipped, as they were when this was serde's tagged enum.
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Mode => once(&mut mode, "mode", map.next_value::<Mode>()?)?,
                Field::Start => once(&mut start, "start", map.next_value::<DateTime<Utc>>()?)?,
                Field::End => once(&mut end, "end", map.next_value::<DateTime<Utc>>()?)?,
                Field::Hours => once(&mut hours, "hours", map.next_value::<u32>()?)?,
                Field::By => once(&mut by, "by", map.next_value::<DateTime<Utc>>()?)?,
                Field::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        match mode.ok_or_else(|| A::Error::missing_field("mode"))? {
            Mode::Slot => Ok(Appointment::Slot {
                start: start.ok_or_else(|| A::Error::missing_field("start"))?,
                end: end.ok_or_else(|| A::Error::missing_field("end"))?,
            }),
            Mode::Within => Ok(Appointment::Within {
                hours: hours.ok_or_else(|| A::Error::missing_field("hours"))?,
            }),
            Mode::Deadline => Ok(Appointment::Deadline {
                by: by.ok_or_else(|| A::Error::missing_field("by"))?,
            }),
        }
    }
}

/// Urgency of an open order due at `due_at`, seen at `now`, with `soon` as the warning window.
pub fn urgency(due_at: DateTime<Utc>, now: DateTime<Utc>, soon: Duration) -> Urgency {
    if now > due_at {
        Urgency::Overdue
    } else if due_at - now <= soon {
        Urgency::DueSoon
    } else {
        Urgency::OnTrack
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, 0).unwrap()
    }

    #[test]
    fn the_wire_form_round_trips_in_any_key_order() {
        for a in [
            Appointment::Slot {
                start: t(2, 0),
                end: t(4, 0),
            },
            Appointment::Within { hours: 24 },
            Appointment::Deadline { by: t(9, 30) },
        ] {
            let json = serde_json::to_value(a).unwrap();
            assert_eq!(json["mode"], a.mode());
            assert_eq!(serde_json::from_value::<Appointment>(json).unwrap(), a);
        }
        let late_mode: Appointment = serde_json::from_str(
            r#"{"end": "2026-11-25T04:00:00Z", "note": [1], "start": "2026-11-25T02:00:00Z", "mode": "slot"}"#,
        )
        .unwrap();
        assert_eq!(
            late_mode,
            Appointment::Slot {
                start: t(2, 0),
                end: t(4, 0)
            }
        );
    }

    #[test]
    fn wire_errors_say_which_field() {
        for (json, want) in [
            (
                r#"{"mode": "slot", "start": "2026-11-25T02:00:00Z"}"#,
                "missing field `end`",
            ),
            (
                r#"{"start": "2026-11-25T02:00:00Z"}"#,
                "missing field `mode`",
            ),
            (r#"{"mode": "weekly"}"#, "unknown variant `weekly`"),
            (
                r#"{"mode": "within", "hours": -1}"#,
                "invalid value: integer `-1`",
            ),
            (
                r#"{"mode": "within", "hours": 2, "hours": 3}"#,
                "duplicate field `hours`",
            ),
            (r#""slot""#, "expected an appointment"),
        ] {
            let e = serde_json::from_str::<Appointment>(json)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn due_times_of_the_three_modes() {
        let accepted = t(1, 0);
        assert_eq!(
            Appointment::Slot {
                start: t(2, 0),
                end: t(4, 0)
            }
            .due_at(accepted),
            t(4, 0)
        );
        assert_eq!(
            Appointment::Within { hours: 24 }.due_at(accepted),
            t(1, 0) + Duration::hours(24)
        );
        assert_eq!(
            Appointment::Deadline { by: t(9, 30) }.due_at(accepted),
            t(9, 30)
        );
        assert_eq!(
            Appointment::Slot {
                start: t(2, 0),
                end: t(4, 0)
            }
            .agenda_at(accepted),
            t(2, 0)
        );
    }

    #[test]
    fn urgency_against_a_settable_clock() {
        let soon = Duration::hours(2);
        assert_eq!(urgency(t(12, 0), t(9, 0), soon), Urgency::OnTrack);
        assert_eq!(urgency(t(12, 0), t(10, 0), soon), Urgency::DueSoon);
        assert_eq!(urgency(t(12, 0), t(12, 0), soon), Urgency::DueSoon);
        assert_eq!(urgency(t(12, 0), t(12, 1), soon), Urgency::Overdue);
    }

    #[test]
    fn refuses_empty_slots_and_zero_limits() {
        assert!(
            Appointment::Slot {
                start: t(2, 0),
                end: t(2, 0)
            }
            .check()
            .is_err()
        );
        assert!(Appointment::Within { hours: 0 }.check().is_err());
        assert!(Appointment::Deadline { by: t(2, 0) }.check().is_ok());
    }
}
