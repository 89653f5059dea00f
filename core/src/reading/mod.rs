//! Meter readings: what a crew member types in front of a meter, and how it is checked.
//!
//! Readings are immutable facts. A correction is a new reading that supersedes an earlier one;
//! nothing is edited or deleted, because a reading is the basis of a customer's bill and of the
//! final settlement at account closure.
//!
//! - [`parse`] turns the typed text into an exact decimal for one register (never `f64`).
//! - [`validate`] checks a set of register values taken together against the meter's history and
//!   the utility's thresholds, and returns warnings the member must confirm with a reason.

pub mod parse;
pub mod validate;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::hlc::Hlc;
pub use parse::{ParseError, parse_value};
pub use validate::{ValidationConfig, ValidationError, validate};

/// A meter register. Single-rate meters have only `Total`; time-of-use meters add peak 峰, flat 平,
/// valley 谷 and on some tariffs sharp 尖.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Register {
    Total,
    Sharp,
    Peak,
    Flat,
    Valley,
}

/// Why a reading was taken. The purpose decides which checks apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadingPurpose {
    /// 新表起始度数: the start reading of a newly installed meter.
    NewMeterStart,
    /// 拆回表计底数: the final reading of a meter removed at account closure.
    RemovedMeterFinal,
    /// The old meter's final reading at a replacement.
    ReplacementOldFinal,
    /// The new meter's start reading at a replacement.
    ReplacementNewStart,
    /// A reading taken during an on-site accuracy check 现场校验.
    Check,
}

impl ReadingPurpose {
    /// Start readings are of a meter with no consumption history yet.
    pub fn is_start(self) -> bool {
        matches!(self, Self::NewMeterStart | Self::ReplacementNewStart)
    }
}

/// How a register is displayed: the number of integer digits (it rolls over at 10^digits) and
/// of decimals shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterSpec {
    pub register: Register,
    pub int_digits: u8,
    pub decimals: u8,
}

/// An earlier reading of the same physical register: from the back office (the last billed
/// reading) or taken on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub value: Decimal,
    pub at: DateTime<Utc>,
}

/// Why a reading needs a second look. Warnings never block for good: the member confirms each
/// with a reason, and the warning and reason are stored with the reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    /// Lower than the last reading, explained by the register wrapping at 10^digits.
    Rollover,
    /// Consumption per day far above what the history implies.
    HighConsumption,
    /// Consumption per day far below what the history implies.
    LowConsumption,
    /// No consumption at all over a long period.
    ZeroConsumption,
    /// A new meter's start reading above the small value a new meter should show.
    HighStartReading,
    /// Time-of-use registers do not add up to the total (only a warning during a meter check,
    /// where a faulty meter is the finding).
    TouMismatch,
}

/// A warning on one register. `message` is for the member and carries numbers, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadingWarning {
    pub code: WarningCode,
    pub register: Register,
    pub message: String,
}

/// The member's confirmation of one warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub code: WarningCode,
    pub register: Register,
    pub reason: String,
}

/// A warning as stored with the reading, with the member's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmedWarning {
    pub code: WarningCode,
    pub register: Register,
    pub message: String,
    pub reason: String,
}

/// A stored reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterReading {
    pub id: Uuid,
    pub order_id: Uuid,
    pub meter_asset: String,
    pub register: Register,
    pub purpose: ReadingPurpose,
    pub value: Decimal,
    pub taken_at: DateTime<Utc>,
    pub photo_id: Option<String>,
    pub member_id: String,
    pub warnings: Vec<ConfirmedWarning>,
    pub supersedes: Option<Uuid>,
    pub hlc: Hlc,
}

/// Why a reading set was not saved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadingError {
    #[error("{register} register: {error}")]
    Parse {
        register: Register,
        error: ParseError,
    },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{} warning(s) must be confirmed with a reason before saving", .0.len())]
    NeedsConfirmation(Vec<ReadingWarning>),
    #[error("a confirmation needs a reason ({code:?} on {register})")]
    EmptyReason {
        code: WarningCode,
        register: Register,
    },
    #[error("meter {0} is not on this order")]
    UnknownMeter(String),
    #[error("meter has no {0} register")]
    UnknownRegister(Register),
    #[error("the {register} register was given twice")]
    DuplicateRegister { register: Register },
    #[error("no register values given")]
    NoValues,
    #[error(
        "a {purpose:?} reading of the {register} register already exists ({existing}); supersede it to correct it"
    )]
    AlreadyRecorded {
        register: Register,
        purpose: ReadingPurpose,
        existing: Uuid,
    },
    #[error(
        "reading {0} cannot be superseded by this set (wrong register, purpose or meter, or already superseded)"
    )]
    BadSupersede(Uuid),
}

/// Splits `warnings` into those confirmed by `confirmations` (paired with the reason) and those
/// still open. A confirmation with a blank reason is an error: the reason is the point.
pub fn apply_confirmations(
    warnings: &[ReadingWarning],
    confirmations: &[Confirmation],
) -> Result<Vec<ConfirmedWarning>, ReadingError> {
    let mut confirmed = Vec::with_capacity(warnings.len());
    let mut open = Vec::new();
    for w in warnings {
        match confirmations
            .iter()
            .find(|c| c.code == w.code && c.register == w.register)
        {
            Some(c) if c.reason.trim().is_empty() => {
                return Err(ReadingError::EmptyReason {
                    code: c.code,
                    register: c.register,
                });
            }
            Some(c) => confirmed.push(ConfirmedWarning {
                code: w.code,
                register: w.register,
                message: w.message.clone(),
                reason: c.reason.trim().to_owned(),
            }),
            None => open.push(w.clone()),
        }
    }
    if open.is_empty() {
        Ok(confirmed)
    } else {
        Err(ReadingError::NeedsConfirmation(open))
    }
}

crate::text_enum!(Register { Total => "total", Sharp => "sharp", Peak => "peak", Flat => "flat", Valley => "valley" });
crate::text_enum!(ReadingPurpose {
    NewMeterStart => "new_meter_start",
    RemovedMeterFinal => "removed_meter_final",
    ReplacementOldFinal => "replacement_old_final",
    ReplacementNewStart => "replacement_new_start",
    Check => "check",
});
crate::text_enum!(WarningCode {
    Rollover => "rollover",
    HighConsumption => "high_consumption",
    LowConsumption => "low_consumption",
    ZeroConsumption => "zero_consumption",
    HighStartReading => "high_start_reading",
    TouMismatch => "tou_mismatch",
});
