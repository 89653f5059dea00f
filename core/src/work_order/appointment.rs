//! The three appointment modes dispatchers book (预约方式): an agreed slot 约时, a time limit 限时,
//! and a deadline 限期. Each gives a due time against which the crew's work is tracked (时限管控).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
