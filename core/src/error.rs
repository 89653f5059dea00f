//! The core's detailed internal error. The bindings map it to a small public error the apps can
//! act on; messages here carry ids and numbers, never names, phone numbers or coordinates.

use crate::photo::PhotoError;
use crate::reading::ReadingError;
use crate::work_order::status::TransitionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("storage: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("schema migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("file system: {0}")]
    Io(#[from] std::io::Error),
    #[error("encoding: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "the database was written by a newer fieldcrew (schema version {found}, this build knows up to {supported})"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error(
        "the file is not a fieldcrew database, or it is corrupt (or encrypted and no key was given)"
    )]
    NotADatabase,
    /// The store is encrypted with another key. Nothing was read or written.
    #[error("the store key does not open this database")]
    WrongKey,
    /// A key was given but the file is a plain, unencrypted database.
    #[error("the database is not encrypted, but a key was given")]
    NotEncrypted,
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Reading(#[from] ReadingError),
    #[error("photo: {0}")]
    Photo(#[from] PhotoError),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("no crew member is signed in on this device")]
    NoSession,
    /// Wiping the device would lose work the server has not received.
    #[error("{} change(s) on {} order(s) are not synced yet", .0.pending_changes, .0.orders)]
    UnsyncedWork(crate::store::UnsyncedWork),
    /// A stored photo file is not what was stored (tampered with or damaged); it is not shown.
    #[error("photo {photo} failed its integrity check")]
    PhotoTampered { photo: uuid::Uuid },
    #[error("the operation was interrupted")]
    Interrupted,
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }

    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Error::NotFound {
            entity,
            id: id.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A text value that names no known variant of an enum (in a stored row or a payload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownName(pub String);
