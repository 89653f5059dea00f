//! Parsing what the member typed into an exact register value.
// PLACEHOLDER: the signatures are fixed; the bodies and tests are being written.

use rust_decimal::Decimal;

use super::RegisterSpec;

/// Why typed text is not a reading. Each variant names the problem so the shell can show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the reading is empty")]
    Empty,
}

/// Parses `raw` as a value of the register described by `spec`.
pub fn parse_value(raw: &str, spec: &RegisterSpec) -> Result<Decimal, ParseError> {
    let _ = spec;
    raw.trim().parse().map_err(|_| ParseError::Empty)
}
