//! Checking a set of register values against the meter's history and the utility's thresholds.
// PLACEHOLDER: the signatures are fixed; the bodies and tests are being written.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{HistoryPoint, ReadingPurpose, ReadingWarning, Register, RegisterSpec};

/// Thresholds, configurable per utility.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationConfig {
    pub high_factor: Decimal,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            high_factor: Decimal::from(3),
        }
    }
}

/// One register's value with its history (oldest first).
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterInput {
    pub spec: RegisterSpec,
    pub value: Decimal,
    pub history: Vec<HistoryPoint>,
}

/// A set of register values of one meter, taken together for one purpose.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadingSetInput<'a> {
    pub purpose: ReadingPurpose,
    pub taken_at: DateTime<Utc>,
    pub multiplier: Decimal,
    pub expected_daily_kwh: Option<Decimal>,
    pub registers: &'a [RegisterInput],
}

/// A reading set that cannot be saved even with a reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("{register} reading {value} is lower than the last reading {last}")]
    LowerThanLast {
        register: Register,
        value: Decimal,
        last: Decimal,
    },
}

/// Validates a reading set; returns the warnings the member must confirm.
pub fn validate(
    input: &ReadingSetInput<'_>,
    config: &ValidationConfig,
) -> Result<Vec<ReadingWarning>, ValidationError> {
    let _ = (input, config);
    Ok(Vec::new())
}
