//! The public error the apps act on, and the one place core errors are mapped to it.
//!
//! Each variant is something a shell does something different about: show a field's message,
//! ask for confirmations, sign the member in again, retry later. Messages carry ids and numbers
//! only (the core's errors never hold names, phones or coordinates).

use fieldcrew_core::Error as CoreError;
use fieldcrew_core::reading::ReadingError;
use fieldcrew_core::sync::SyncError;

use crate::types::ReadingWarning;

#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum FieldCrewError {
    /// Input the member can correct: `field` names what to fix, `detail` says how.
    /// (Fields are not called `message`: that name is taken by Kotlin's Throwable.)
    #[error("{field}: {detail}")]
    Validation { field: String, detail: String },
    /// The reading is plausible only with an explanation: confirm each warning with a reason.
    #[error("{} warning(s) to confirm", warnings.len())]
    NeedsConfirmation { warnings: Vec<ReadingWarning> },
    /// The record is not on this device (or not visible to this crew).
    #[error("not found: {detail}")]
    NotFound { detail: String },
    /// The store key does not open this database.
    #[error("wrong store key")]
    WrongKey,
    /// Nobody is signed in, or the server refused the token: sign in again.
    #[error("authentication: {detail}")]
    Auth { detail: String },
    /// The network or the server is unreachable or failed; retry later.
    #[error("network: {detail}")]
    Network { detail: String },
    /// The photo cannot be used; `detail` says why (e.g. hand over JPEG).
    #[error("photo: {detail}")]
    UnsupportedPhoto { detail: String },
    /// Wiping now would lose work the server has not received: changes, photos whose bytes
    /// are not uploaded, changes the server refused. [`crate::FieldCrew::unsynced_work`] has
    /// the details.
    #[error(
        "{pending_changes} unsynced change(s), {photos_not_uploaded} photo(s) not uploaded, {rejected_changes} refused change(s)"
    )]
    UnsyncedWork {
        pending_changes: u64,
        photos_not_uploaded: u64,
        rejected_changes: u64,
    },
    /// Cancelled from another thread.
    #[error("interrupted")]
    Interrupted,
    /// Storage failed or stored data is inconsistent; the message is for logs and support.
    #[error("storage: {detail}")]
    Storage { detail: String },
}

pub type Result<T> = std::result::Result<T, FieldCrewError>;

impl From<CoreError> for FieldCrewError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid { field, message } => FieldCrewError::Validation {
                field: field.into(),
                detail: message,
            },
            CoreError::Transition(t) => FieldCrewError::Validation {
                field: "status".into(),
                detail: t.to_string(),
            },
            CoreError::Reading(ReadingError::NeedsConfirmation(warnings)) => {
                FieldCrewError::NeedsConfirmation {
                    warnings: warnings.into_iter().map(Into::into).collect(),
                }
            }
            CoreError::Reading(r) => FieldCrewError::Validation {
                field: reading_field(&r).into(),
                detail: r.to_string(),
            },
            CoreError::NotFound { .. } => FieldCrewError::NotFound {
                detail: e.to_string(),
            },
            CoreError::WrongKey => FieldCrewError::WrongKey,
            CoreError::NoSession => FieldCrewError::Auth {
                detail: e.to_string(),
            },
            CoreError::UnsyncedWork(w) => w.into(),
            CoreError::Interrupted => FieldCrewError::Interrupted,
            CoreError::Photo(p) => FieldCrewError::UnsupportedPhoto {
                detail: p.to_string(),
            },
            CoreError::PhotoTampered { .. } => FieldCrewError::Storage {
                detail: e.to_string(),
            },
            other => {
                tracing::warn!(error = %other, "storage error");
                FieldCrewError::Storage {
                    detail: other.to_string(),
                }
            }
        }
    }
}

fn reading_field(e: &ReadingError) -> &'static str {
    match e {
        ReadingError::Parse { .. } | ReadingError::Invalid(_) => "value",
        ReadingError::EmptyReason { .. } => "reason",
        ReadingError::UnknownMeter(_) => "meter",
        ReadingError::UnknownRegister(_) | ReadingError::DuplicateRegister { .. } => "register",
        ReadingError::NoValues => "values",
        ReadingError::AlreadyRecorded { .. } | ReadingError::BadSupersede(_) => "supersedes",
        ReadingError::NeedsConfirmation(_) => "confirmations",
    }
}

pub(crate) fn bad_id(field: &str, raw: &str) -> FieldCrewError {
    FieldCrewError::Validation {
        field: field.into(),
        detail: format!("not an id: {raw:?}"),
    }
}

impl From<fieldcrew_core::store::UnsyncedWork> for FieldCrewError {
    fn from(w: fieldcrew_core::store::UnsyncedWork) -> Self {
        FieldCrewError::UnsyncedWork {
            pending_changes: w.pending_changes,
            photos_not_uploaded: w.photos_not_uploaded,
            rejected_changes: w.rejected_changes,
        }
    }
}

impl From<SyncError> for FieldCrewError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Unauthorized | SyncError::Forbidden | SyncError::NoSession => {
                FieldCrewError::Auth {
                    detail: e.to_string(),
                }
            }
            SyncError::Network(_) | SyncError::Server { .. } | SyncError::Malformed(_) => {
                FieldCrewError::Network {
                    detail: e.to_string(),
                }
            }
            SyncError::Cancelled => FieldCrewError::Interrupted,
            SyncError::Config(detail) => FieldCrewError::Validation {
                field: "server_url".into(),
                detail,
            },
            SyncError::Store(e) => e.into(),
        }
    }
}
