//! The merge rules, as pure functions of what the server knows about a field and what the
//! operation carries. Every storage backend calls these, so the rules live in one place and the
//! table in docs/sync-protocol.md maps one to one onto [`decide_field`] and [`status_effect`].

use fieldcrew_core::hlc::Hlc;
use fieldcrew_core::sync::wire::ConflictRule;
use fieldcrew_core::work_order::Status;
use serde::{Deserialize, Serialize};

/// Who may win a both-sides change of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Dispatch,
    Crew,
}

/// The fields the server tracks for the three-way merge, with their owners.
pub const FIELDS: &[(&str, Owner)] = &[
    ("appointment", Owner::Dispatch),
    ("assignment", Owner::Dispatch),
    ("priority", Owner::Dispatch),
    ("customer_name", Owner::Dispatch),
    ("customer_phone", Owner::Dispatch),
    ("required_documents", Owner::Dispatch),
    ("dispatch_notes", Owner::Dispatch),
    ("status", Owner::Crew),
    ("survey", Owner::Crew),
    ("crew_notes", Owner::Crew),
    ("meters", Owner::Crew),
];

pub fn owner_of(field: &str) -> Option<Owner> {
    FIELDS.iter().find(|(f, _)| *f == field).map(|(_, o)| *o)
}

/// The fields a crew device may send in a `work_order` update. Customer contact is dispatch's,
/// but a crew learns a changed phone number on site and may propose it.
pub const CREW_WRITABLE: &[&str] = &["crew_notes", "survey", "customer_phone"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Dispatch,
    Crew,
}

/// The last write of one field: at which order version, by whom, with which stamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldStamp {
    /// The order version this write produced.
    pub v: i64,
    pub by: Side,
    /// `dispatcher:<member>` or `crew:<crew>/<member>`: for conflict records.
    pub who: String,
    /// The device, for crew writes: a device never conflicts with itself. This is the device
    /// the caller's token was issued for, never a device id from the request body.
    pub device: Option<String>,
    pub hlc: Hlc,
}

/// A write that wants to change a field.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    pub side: Side,
    pub device: Option<&'a str>,
    pub hlc: Hlc,
    pub base_version: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldDecision {
    /// Nobody else changed the field since the writer's base: take the new value.
    Apply,
    /// Both changed it; the writer's value stands, the server's is kept in a conflict.
    WriterWins(ConflictRule),
    /// Both changed it; the server's value stands, the writer's is kept in a conflict.
    ServerWins(ConflictRule),
}

/// The three-way decision for one field. `same_value`: the writer sends what the server holds
/// (both sides made the same change: no conflict). The writer's `base_version` must not be above
/// the order's current version (storage rejects such an operation first, see
/// [`crate::validate::check_base_version`]): a base from the future would pass for having seen
/// every change.
pub fn decide_field(
    owner: Owner,
    last: Option<&FieldStamp>,
    writer: &Writer<'_>,
    same_value: bool,
) -> FieldDecision {
    let Some(last) = last else {
        return FieldDecision::Apply;
    };
    if last.v <= writer.base_version || same_value {
        return FieldDecision::Apply;
    }
    if last.by == Side::Crew
        && writer.side == Side::Crew
        && last.device.is_some()
        && last.device.as_deref() == writer.device
    {
        // The device's own earlier change, pushed before this one.
        return FieldDecision::Apply;
    }
    match (last.by, writer.side) {
        (Side::Crew, Side::Crew) => {
            if writer.hlc > last.hlc {
                FieldDecision::WriterWins(ConflictRule::LatestHlcWins)
            } else {
                FieldDecision::ServerWins(ConflictRule::LatestHlcWins)
            }
        }
        // Sides differ (or dispatch edits twice): the owner's value stands.
        (_, writer_side) => match (owner, writer_side) {
            (Owner::Crew, Side::Crew) | (Owner::Dispatch, Side::Dispatch) => {
                FieldDecision::WriterWins(rule_for(owner))
            }
            _ => FieldDecision::ServerWins(rule_for(owner)),
        },
    }
}

fn rule_for(owner: Owner) -> ConflictRule {
    match owner {
        Owner::Dispatch => ConflictRule::DispatchOwnsField,
        Owner::Crew => ConflictRule::CrewOwnsField,
    }
}

/// What a crew's status event does to the order, given where the server has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusEffect {
    /// The event continues from the server's status: the order moves to `to`.
    Move,
    /// Another device moved the order already; the event is kept in the timeline and the order
    /// moves only if the server's status can still go there.
    MergeMove,
    /// The event is kept in the timeline; the order stays where it is.
    Keep,
    /// A conflict for dispatch: the order moves (completed work is a fact) or stays.
    Conflict { rule: ConflictRule, moves: bool },
}

/// `in_scope`: the order is still assigned to the event's crew and not archived.
pub fn status_effect(server: Status, from: Status, to: Status, in_scope: bool) -> StatusEffect {
    // A completion on an order dispatch cancelled overrides the cancellation whether or not the
    // order also moved to another crew meanwhile: that is what dispatch must hear about.
    if server == Status::Cancelled && to == Status::Completed {
        return StatusEffect::Conflict {
            rule: ConflictRule::CancelledButCompleted,
            moves: true,
        };
    }
    if !in_scope {
        return StatusEffect::Conflict {
            rule: ConflictRule::ReassignedWhileOffline,
            moves: to == Status::Completed && server != Status::Completed,
        };
    }
    if server == Status::Cancelled {
        return StatusEffect::Conflict {
            rule: ConflictRule::CancelledDuringVisit,
            moves: false,
        };
    }
    if server == from {
        StatusEffect::Move
    } else if server.can_become(to) {
        StatusEffect::MergeMove
    } else {
        StatusEffect::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn stamp(v: i64, by: Side, device: Option<&str>, wall: i64) -> FieldStamp {
        FieldStamp {
            v,
            by,
            who: "x".into(),
            device: device.map(str::to_owned),
            hlc: Hlc {
                wall_ms: wall,
                counter: 0,
                node: Uuid::nil(),
            },
        }
    }

    fn crew(device: &'static str, base: i64, wall: i64) -> Writer<'static> {
        Writer {
            side: Side::Crew,
            device: Some(device),
            hlc: Hlc {
                wall_ms: wall,
                counter: 0,
                node: Uuid::nil(),
            },
            base_version: base,
        }
    }

    #[test]
    fn one_side_changed_takes_that_side() {
        let last = stamp(3, Side::Dispatch, None, 10);
        assert_eq!(
            decide_field(Owner::Crew, Some(&last), &crew("a", 3, 5), false),
            FieldDecision::Apply
        );
        assert_eq!(
            decide_field(Owner::Crew, None, &crew("a", 0, 5), false),
            FieldDecision::Apply
        );
    }

    #[test]
    fn both_changed_goes_to_the_owner() {
        let by_dispatch = stamp(4, Side::Dispatch, None, 10);
        assert_eq!(
            decide_field(Owner::Crew, Some(&by_dispatch), &crew("a", 3, 5), false),
            FieldDecision::WriterWins(ConflictRule::CrewOwnsField)
        );
        assert_eq!(
            decide_field(
                Owner::Dispatch,
                Some(&by_dispatch),
                &crew("a", 3, 50),
                false
            ),
            FieldDecision::ServerWins(ConflictRule::DispatchOwnsField)
        );
        assert_eq!(
            decide_field(Owner::Dispatch, Some(&by_dispatch), &crew("a", 3, 50), true),
            FieldDecision::Apply
        );
    }

    #[test]
    fn two_devices_latest_hlc_wins_and_a_device_never_conflicts_with_itself() {
        let by_b = stamp(4, Side::Crew, Some("b"), 10);
        assert_eq!(
            decide_field(Owner::Crew, Some(&by_b), &crew("a", 3, 11), false),
            FieldDecision::WriterWins(ConflictRule::LatestHlcWins)
        );
        assert_eq!(
            decide_field(Owner::Crew, Some(&by_b), &crew("a", 3, 9), false),
            FieldDecision::ServerWins(ConflictRule::LatestHlcWins)
        );
        assert_eq!(
            decide_field(Owner::Crew, Some(&by_b), &crew("b", 3, 1), false),
            FieldDecision::Apply
        );
    }

    #[test]
    fn status_rules() {
        use Status::*;
        assert_eq!(
            status_effect(Arrived, Arrived, Completed, true),
            StatusEffect::Move
        );
        assert_eq!(
            status_effect(Cancelled, Arrived, Completed, true),
            StatusEffect::Conflict {
                rule: ConflictRule::CancelledButCompleted,
                moves: true
            }
        );
        assert_eq!(
            status_effect(Cancelled, Dispatched, Arrived, true),
            StatusEffect::Conflict {
                rule: ConflictRule::CancelledDuringVisit,
                moves: false
            }
        );
        assert_eq!(
            status_effect(Dispatched, Dispatched, Arrived, false),
            StatusEffect::Conflict {
                rule: ConflictRule::ReassignedWhileOffline,
                moves: false
            }
        );
        assert_eq!(
            status_effect(Arrived, Dispatched, EnRoute, true),
            StatusEffect::Keep
        );
        assert_eq!(
            status_effect(Accepted, Dispatched, Arrived, true),
            StatusEffect::MergeMove
        );
    }
}
