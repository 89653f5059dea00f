//! The CLI's one error type: a message for one line on stderr, an exit code, and, for `--json`,
//! an optional machine-readable body printed on stdout.

use fieldcrew_core::reading::{ReadingError, ReadingWarning};

/// Exit codes: 1 for any failure, 3 when readings wait for confirmation (clap uses 2 for usage).
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_NEEDS_CONFIRMATION: u8 = 3;

#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub exit: u8,
    /// Warnings that must be confirmed (`read`, `replace`).
    pub warnings: Vec<ReadingWarning>,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            exit: EXIT_FAILURE,
            warnings: Vec::new(),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // One line, whatever the source said.
        let one_line: String = self
            .message
            .split(['\n', '\r'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        f.write_str(&one_line)
    }
}

impl std::error::Error for CliError {}

pub type CliResult<T> = Result<T, CliError>;

impl From<fieldcrew_core::Error> for CliError {
    fn from(e: fieldcrew_core::Error) -> Self {
        match e {
            fieldcrew_core::Error::Reading(ReadingError::NeedsConfirmation(warnings)) => CliError {
                message: format!(
                    "{} warning(s) must be confirmed: repeat with --confirm CODE:REGISTER:REASON for each",
                    warnings.len()
                ),
                exit: EXIT_NEEDS_CONFIRMATION,
                warnings,
            },
            other => CliError::new(other.to_string()),
        }
    }
}

impl From<fieldcrew_core::sync::SyncError> for CliError {
    fn from(e: fieldcrew_core::sync::SyncError) -> Self {
        match e {
            fieldcrew_core::sync::SyncError::Store(inner) => inner.into(),
            other => CliError::new(format!("sync: {other}")),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::new(format!("file system: {e}"))
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::new(format!("encoding: {e}"))
    }
}

impl From<fieldcrew_server::ApiError> for CliError {
    fn from(e: fieldcrew_server::ApiError) -> Self {
        CliError::new(format!("server: {e}"))
    }
}
