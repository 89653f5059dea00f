//! The order's status machine. Every change is an event with a time, an optional GPS fix and the
//! member who made it; arrival (到达现场) and completion (工作结束) are the two mandatory reports.
//!
//! ```text
//! dispatched ─► accepted ─► en_route ─► arrived ─► in_progress ─► completed
//!     │            │           │           │  └──────────────────────►┘
//!     └────────────┴───────────┴───────────┴────► suspended ─► (accepted | en_route | arrived)
//! any open state ─► cancelled (dispatch only)
//! ```
//! A crew may skip steps before arrival (arrive straight from dispatched), never the arrival
//! itself: completion is only reachable from `arrived` or `in_progress`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Dispatched,
    Accepted,
    EnRoute,
    Arrived,
    InProgress,
    Completed,
    Suspended,
    Cancelled,
}

crate::text_enum!(Status {
    Dispatched => "dispatched",
    Accepted => "accepted",
    EnRoute => "en_route",
    Arrived => "arrived",
    InProgress => "in_progress",
    Completed => "completed",
    Suspended => "suspended",
    Cancelled => "cancelled",
});

/// Why a visit could not go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspendReason {
    CustomerAbsent,
    DocumentsMissing,
    SiteNotReady,
    Unsafe,
    Other,
}

crate::text_enum!(SuspendReason {
    CustomerAbsent => "customer_absent",
    DocumentsMissing => "documents_missing",
    SiteNotReady => "site_not_ready",
    Unsafe => "unsafe",
    Other => "other",
});

/// Who asks for a transition: crews report progress; only dispatch cancels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Crew,
    Dispatch,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("an order cannot go from {from} to {to}")]
    Illegal { from: Status, to: Status },
    #[error("only dispatch can cancel an order")]
    CrewCannotCancel,
    #[error("a suspension needs a reason")]
    MissingReason,
    #[error("the reason 'other' needs a note")]
    MissingNote,
    #[error("a reason is only given when suspending")]
    UnexpectedReason,
}

impl Status {
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Cancelled)
    }

    pub fn is_open(self) -> bool {
        !self.is_terminal()
    }

    /// The statuses this one may move to.
    pub fn successors(self) -> &'static [Status] {
        use Status::*;
        match self {
            Dispatched => &[Accepted, EnRoute, Arrived, Suspended, Cancelled],
            Accepted => &[EnRoute, Arrived, Suspended, Cancelled],
            EnRoute => &[Arrived, Suspended, Cancelled],
            Arrived => &[InProgress, Completed, Suspended, Cancelled],
            InProgress => &[Completed, Suspended, Cancelled],
            Suspended => &[Accepted, EnRoute, Arrived, Cancelled],
            Completed | Cancelled => &[],
        }
    }

    pub fn can_become(self, to: Status) -> bool {
        self.successors().contains(&to)
    }
}

/// Checks one transition with its reason and note.
pub fn check_transition(
    actor: Actor,
    from: Status,
    to: Status,
    reason: Option<SuspendReason>,
    note: &str,
) -> Result<(), TransitionError> {
    if to == Status::Cancelled && actor == Actor::Crew {
        return Err(TransitionError::CrewCannotCancel);
    }
    if !from.can_become(to) {
        return Err(TransitionError::Illegal { from, to });
    }
    match (to, reason) {
        (Status::Suspended, None) => Err(TransitionError::MissingReason),
        (Status::Suspended, Some(SuspendReason::Other)) if note.trim().is_empty() => {
            Err(TransitionError::MissingNote)
        }
        (Status::Suspended, Some(_)) => Ok(()),
        (_, Some(_)) => Err(TransitionError::UnexpectedReason),
        (_, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_status() -> impl Strategy<Value = Status> {
        proptest::sample::select(Status::ALL)
    }

    #[test]
    fn the_day_of_a_meter_install() {
        use Status::*;
        let path = [
            Dispatched, Accepted, EnRoute, Arrived, InProgress, Completed,
        ];
        for w in path.windows(2) {
            assert_eq!(
                check_transition(Actor::Crew, w[0], w[1], None, ""),
                Ok(()),
                "{} -> {}",
                w[0],
                w[1]
            );
        }
    }

    #[test]
    fn completion_requires_arrival() {
        for from in [
            Status::Dispatched,
            Status::Accepted,
            Status::EnRoute,
            Status::Suspended,
        ] {
            assert_eq!(
                check_transition(Actor::Crew, from, Status::Completed, None, ""),
                Err(TransitionError::Illegal {
                    from,
                    to: Status::Completed
                })
            );
        }
    }

    #[test]
    fn suspension_needs_a_reason_and_other_needs_a_note() {
        let s = |r, n| check_transition(Actor::Crew, Status::Arrived, Status::Suspended, r, n);
        assert_eq!(s(None, ""), Err(TransitionError::MissingReason));
        assert_eq!(
            s(Some(SuspendReason::Other), "  "),
            Err(TransitionError::MissingNote)
        );
        assert_eq!(s(Some(SuspendReason::Other), "gate locked"), Ok(()));
        assert_eq!(s(Some(SuspendReason::CustomerAbsent), ""), Ok(()));
        assert_eq!(
            check_transition(
                Actor::Crew,
                Status::Arrived,
                Status::Completed,
                Some(SuspendReason::Unsafe),
                ""
            ),
            Err(TransitionError::UnexpectedReason)
        );
    }

    #[test]
    fn only_dispatch_cancels() {
        assert_eq!(
            check_transition(Actor::Crew, Status::Accepted, Status::Cancelled, None, ""),
            Err(TransitionError::CrewCannotCancel)
        );
        assert_eq!(
            check_transition(
                Actor::Dispatch,
                Status::Accepted,
                Status::Cancelled,
                None,
                ""
            ),
            Ok(())
        );
    }

    proptest! {
        #[test]
        fn terminal_states_are_final_and_self_loops_illegal(from in any_status(), to in any_status()) {
            if from.is_terminal() || from == to {
                prop_assert!(check_transition(Actor::Dispatch, from, to, Some(SuspendReason::Unsafe), "x").is_err());
            }
        }

        #[test]
        fn every_walk_reaching_completed_passed_through_arrived(
            steps in proptest::collection::vec(any_status(), 0..30)
        ) {
            let mut at = Status::Dispatched;
            let mut arrived = false;
            for to in steps {
                let reason = (to == Status::Suspended).then_some(SuspendReason::CustomerAbsent);
                if check_transition(Actor::Crew, at, to, reason, "").is_ok() {
                    arrived |= to == Status::Arrived;
                    at = to;
                }
            }
            if at == Status::Completed { prop_assert!(arrived); }
            prop_assert_ne!(at, Status::Cancelled);
        }
    }
}
