//! Checking a set of register values against the meter's history and the utility's thresholds.
//!
//! [`validate`] returns either a [`ValidationError`] (the set cannot be saved, even with a reason)
//! or the [`ReadingWarning`]s the member must confirm with a reason. The checks, in order:
//!
//! 1. Structure: at least one register, no register twice, a positive multiplier, every value
//!    within its register spec (non-negative, below 10^int_digits, at most `decimals` decimals
//!    once trailing zeros are dropped: `12.30` is the value 12.3 and fits a 1-decimal register).
//! 2. Time of use: with `Total` and at least two of sharp/peak/flat/valley in the set, the parts
//!    must add up to the total within the tolerance. An error, except for a [`ReadingPurpose::Check`]
//!    where a mismatch is a warning (a faulty meter is the finding of a check).
//! 3. Start readings ([`ReadingPurpose::is_start`]): no history comparison; a value above
//!    [`ValidationConfig::new_meter_start_max`] warns [`WarningCode::HighStartReading`].
//! 4. Other readings, per register against its latest history point (the one with the greatest
//!    `at`, whatever the order of the history):
//!    - a history point strictly after `taken_at` is an error ([`ValidationError::TakenBeforeLastReading`]);
//!      a point at exactly `taken_at` is compared like any other (with no elapsed time, so no
//!      rate checks);
//!    - a value below the last is a plausible rollover (warning) or an error, see [`rollover`];
//!    - consumption per day (x multiplier) is compared with the expected rate; see
//!      [`ValidationConfig`] for the thresholds. These rate checks apply to `Total` when the set
//!      has it, else to every register.
//!
//! Warnings come back sorted by register, then by code (in [`WarningCode::ALL`] order).
//! Messages carry numbers only.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{HistoryPoint, ReadingPurpose, ReadingWarning, Register, RegisterSpec, WarningCode};

/// Thresholds, configurable per utility.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationConfig {
    /// Consumption per day above `high_factor` x the expected rate warns
    /// [`WarningCode::HighConsumption`]. Default 3.
    pub high_factor: Decimal,
    /// Consumption per day below `low_factor` x the expected rate (when that rate is above zero)
    /// warns [`WarningCode::LowConsumption`]. Default 0.2.
    pub low_factor: Decimal,
    /// Days that must have passed since the last reading for the per-day checks, and that a
    /// history must span to derive an expected rate from it. Fractional. Default 1.
    pub min_days_for_rate: Decimal,
    /// No consumption at all over at least this many days warns [`WarningCode::ZeroConsumption`]
    /// (even when no expected rate is known). Default 30.
    pub zero_consumption_days: Decimal,
    /// A start reading above this (register units) warns [`WarningCode::HighStartReading`].
    /// Default 10.
    pub new_meter_start_max: Decimal,
    /// A value below the last reading is a plausible rollover only when the wrapped consumption
    /// is at most this fraction of the register range 10^int_digits. Default 0.1.
    pub rollover_max_fraction: Decimal,
    /// How far the time-of-use parts may be from the total (register units). `None`: the
    /// display rounding, i.e. number of parts x 10^-decimals of the total register.
    pub tou_tolerance: Option<Decimal>,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            high_factor: Decimal::from(3),
            low_factor: Decimal::new(2, 1),
            min_days_for_rate: Decimal::ONE,
            zero_consumption_days: Decimal::from(30),
            new_meter_start_max: Decimal::from(10),
            rollover_max_fraction: Decimal::new(1, 1),
            tou_tolerance: None,
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
    /// Lower than the last reading, and not explainable as a rollover.
    #[error("{register} reading {value} is lower than the last reading {last}")]
    LowerThanLast {
        register: Register,
        value: Decimal,
        last: Decimal,
    },
    #[error("no register values given")]
    NoRegisters,
    #[error("the {register} register was given twice")]
    DuplicateRegister { register: Register },
    /// The value does not fit the register (negative, too many integer digits or decimals).
    #[error(
        "{register} value {value} does not fit the register ({int_digits} integer digits, {decimals} decimals)"
    )]
    OutOfSpec {
        register: Register,
        value: Decimal,
        int_digits: u8,
        decimals: u8,
    },
    /// The meter multiplier (CT/PT ratio) must be above zero.
    #[error("the meter multiplier {multiplier} must be above zero")]
    InvalidMultiplier { multiplier: Decimal },
    /// The register's history has a reading strictly after this one.
    #[error("{register} reading is taken at {taken_at}, before the last reading at {last_at}")]
    TakenBeforeLastReading {
        register: Register,
        taken_at: DateTime<Utc>,
        last_at: DateTime<Utc>,
    },
    /// The time-of-use parts do not add up to the total (outside a meter check).
    #[error(
        "time-of-use registers add up to {sum}, the total shows {total} (tolerance {tolerance})"
    )]
    TouMismatch {
        total: Decimal,
        sum: Decimal,
        tolerance: Decimal,
    },
}

/// Validates a reading set; returns the warnings the member must confirm.
pub fn validate(
    input: &ReadingSetInput<'_>,
    config: &ValidationConfig,
) -> Result<Vec<ReadingWarning>, ValidationError> {
    check_structure(input)?;

    // Work in register order so that errors, too, are deterministic.
    let mut registers: Vec<&RegisterInput> = input.registers.iter().collect();
    registers.sort_by_key(|r| r.spec.register);

    let mut warnings = Vec::new();
    check_tou(input.purpose, &registers, config, &mut warnings)?;

    if input.purpose.is_start() {
        for r in &registers {
            if r.value > config.new_meter_start_max {
                warnings.push(ReadingWarning {
                    code: WarningCode::HighStartReading,
                    register: r.spec.register,
                    message: format!(
                        "start reading {} is above {}, the most a new meter should show",
                        r.value, config.new_meter_start_max
                    ),
                });
            }
        }
    } else {
        let has_total = registers.iter().any(|r| r.spec.register == Register::Total);
        for r in &registers {
            let rate_checked = !has_total || r.spec.register == Register::Total;
            check_against_history(input, r, rate_checked, config, &mut warnings)?;
        }
    }

    warnings.sort_by_key(|w| (w.register, code_rank(w.code)));
    Ok(warnings)
}

fn code_rank(code: WarningCode) -> usize {
    WarningCode::ALL
        .iter()
        .position(|&c| c == code)
        .unwrap_or(usize::MAX)
}

fn check_structure(input: &ReadingSetInput<'_>) -> Result<(), ValidationError> {
    if input.registers.is_empty() {
        return Err(ValidationError::NoRegisters);
    }
    for (i, r) in input.registers.iter().enumerate() {
        if input.registers[..i]
            .iter()
            .any(|o| o.spec.register == r.spec.register)
        {
            return Err(ValidationError::DuplicateRegister {
                register: r.spec.register,
            });
        }
    }
    if input.multiplier <= Decimal::ZERO {
        return Err(ValidationError::InvalidMultiplier {
            multiplier: input.multiplier,
        });
    }
    for r in input.registers {
        if !fits_spec(r.value, &r.spec) {
            return Err(ValidationError::OutOfSpec {
                register: r.spec.register,
                value: r.value,
                int_digits: r.spec.int_digits,
                decimals: r.spec.decimals,
            });
        }
    }
    Ok(())
}

/// 10^int_digits, or `None` when that exceeds what a `Decimal` holds (more than 28 digits).
fn register_range(int_digits: u8) -> Option<Decimal> {
    let mut range = Decimal::ONE;
    for _ in 0..int_digits {
        range = range.checked_mul(Decimal::TEN)?;
    }
    Some(range)
}

fn fits_spec(value: Decimal, spec: &RegisterSpec) -> bool {
    if value.is_sign_negative() && !value.is_zero() {
        return false;
    }
    if value.normalize().scale() > u32::from(spec.decimals) {
        return false;
    }
    // With no representable range (more than 28 digits) every Decimal fits.
    register_range(spec.int_digits).is_none_or(|range| value < range)
}

fn check_tou(
    purpose: ReadingPurpose,
    registers: &[&RegisterInput],
    config: &ValidationConfig,
    warnings: &mut Vec<ReadingWarning>,
) -> Result<(), ValidationError> {
    let Some(total) = registers
        .iter()
        .find(|r| r.spec.register == Register::Total)
    else {
        return Ok(());
    };
    let parts: Vec<&&RegisterInput> = registers
        .iter()
        .filter(|r| r.spec.register != Register::Total)
        .collect();
    if parts.len() < 2 {
        return Ok(());
    }
    // Values fit their specs, so the sum of at most four of them cannot overflow unless a spec
    // is absurd (more than 28 digits); an overflow is a mismatch, reported with the largest sum.
    let sum = parts
        .iter()
        .try_fold(Decimal::ZERO, |acc, r| acc.checked_add(r.value));
    let tolerance = match config.tou_tolerance {
        Some(t) => t.abs(),
        None => {
            let step = Decimal::try_new(1, u32::from(total.spec.decimals)).unwrap_or(Decimal::ZERO);
            Decimal::from(parts.len())
                .checked_mul(step)
                .unwrap_or(Decimal::ZERO)
        }
    };
    let diff = sum
        .and_then(|sum| sum.checked_sub(total.value))
        .map(|d| d.abs());
    if diff.is_some_and(|diff| diff <= tolerance) {
        return Ok(());
    }
    let sum = sum.unwrap_or(Decimal::MAX);
    if purpose == ReadingPurpose::Check {
        warnings.push(ReadingWarning {
            code: WarningCode::TouMismatch,
            register: Register::Total,
            message: format!(
                "time-of-use registers add up to {sum}, the total shows {} (tolerance {tolerance})",
                total.value
            ),
        });
        Ok(())
    } else {
        Err(ValidationError::TouMismatch {
            total: total.value,
            sum,
            tolerance,
        })
    }
}

/// Fractional days from `from` to `to` (negative if `to` is earlier).
fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Decimal {
    let ms = to.signed_duration_since(from).num_milliseconds();
    Decimal::from(ms)
        .checked_div(Decimal::from(86_400_000))
        .unwrap_or(Decimal::ZERO)
}

/// Rounds for a message: one decimal.
fn show(value: Decimal) -> String {
    format!("{:.1}", value.round_dp(1))
}

/// The expected consumption in kWh per day for a register: the caller's estimate if given (a
/// negative estimate is ignored as meaningless), else from the register's history when it has at
/// least two points spanning at least `min_days_for_rate`. `None` when it cannot be known, also
/// when the history goes down (a rollover in the history is not worth untangling here).
fn expected_rate(
    input: &ReadingSetInput<'_>,
    r: &RegisterInput,
    config: &ValidationConfig,
) -> Option<Decimal> {
    if let Some(rate) = input.expected_daily_kwh {
        return (rate >= Decimal::ZERO).then_some(rate);
    }
    if r.history.len() < 2 {
        return None;
    }
    let first = r.history.iter().min_by_key(|p| p.at)?;
    let last = r.history.iter().max_by_key(|p| p.at)?;
    let days = days_between(first.at, last.at);
    if days <= Decimal::ZERO || days < config.min_days_for_rate {
        return None;
    }
    let used = last.value.checked_sub(first.value)?;
    if used < Decimal::ZERO {
        return None;
    }
    used.checked_mul(input.multiplier)?.checked_div(days)
}

/// Decides whether `value` below `last` is the register wrapping at 10^int_digits. It is when:
/// - `last` fits the register (a wrap from beyond the range is meaningless);
/// - the wrapped consumption `10^int_digits - last + value` is at most `rollover_max_fraction`
///   of the range;
/// - and, when an expected rate is known, the wrapped consumption per day (x multiplier) is at
///   most `high_factor` x that rate. The days are at least `min_days_for_rate`, so a wrap of a few
///   hours is judged as if a minimum period had passed rather than divided by almost nothing.
///
/// Returns the wrapped consumption (register units) when plausible.
fn rollover(
    input: &ReadingSetInput<'_>,
    r: &RegisterInput,
    last: Decimal,
    elapsed_days: Decimal,
    rate: Option<Decimal>,
    config: &ValidationConfig,
) -> Option<Decimal> {
    let range = register_range(r.spec.int_digits)?;
    if last >= range {
        return None;
    }
    let wrapped = range.checked_sub(last)?.checked_add(r.value)?;
    if wrapped > config.rollover_max_fraction.checked_mul(range)? {
        return None;
    }
    if let Some(rate) = rate {
        let days = elapsed_days.max(config.min_days_for_rate);
        if days > Decimal::ZERO {
            let per_day = wrapped.checked_mul(input.multiplier)?.checked_div(days)?;
            if per_day > config.high_factor.checked_mul(rate)? {
                return None;
            }
        }
    }
    Some(wrapped)
}

fn check_against_history(
    input: &ReadingSetInput<'_>,
    r: &RegisterInput,
    rate_checked: bool,
    config: &ValidationConfig,
    warnings: &mut Vec<ReadingWarning>,
) -> Result<(), ValidationError> {
    let register = r.spec.register;
    let Some(last) = r.history.iter().max_by_key(|p| p.at) else {
        return Ok(());
    };
    if last.at > input.taken_at {
        return Err(ValidationError::TakenBeforeLastReading {
            register,
            taken_at: input.taken_at,
            last_at: last.at,
        });
    }
    let elapsed = days_between(last.at, input.taken_at);
    let rate = expected_rate(input, r, config);

    let consumption = if r.value >= last.value {
        // Both values are small enough (value fits its spec) for the subtraction; be safe anyway.
        r.value.checked_sub(last.value)
    } else {
        match rollover(input, r, last.value, elapsed, rate, config) {
            Some(wrapped) => {
                warnings.push(ReadingWarning {
                    code: WarningCode::Rollover,
                    register,
                    message: format!(
                        "reading {} is below the last reading {}: taken as the register wrapping past {}, consumption {}",
                        r.value,
                        last.value,
                        register_range(r.spec.int_digits).unwrap_or(Decimal::MAX),
                        wrapped
                    ),
                });
                Some(wrapped)
            }
            None => {
                return Err(ValidationError::LowerThanLast {
                    register,
                    value: r.value,
                    last: last.value,
                });
            }
        }
    };
    let Some(consumption) = consumption else {
        return Ok(());
    };
    if !rate_checked {
        return Ok(());
    }

    if consumption.is_zero() && elapsed >= config.zero_consumption_days {
        warnings.push(ReadingWarning {
            code: WarningCode::ZeroConsumption,
            register,
            message: format!("no consumption in {} days", show(elapsed)),
        });
        return Ok(());
    }

    let Some(rate) = rate else {
        return Ok(());
    };
    if elapsed <= Decimal::ZERO || elapsed < config.min_days_for_rate {
        return Ok(());
    }
    let Some(per_day) = consumption
        .checked_mul(input.multiplier)
        .and_then(|c| c.checked_div(elapsed))
    else {
        return Ok(());
    };
    let high = config.high_factor.checked_mul(rate);
    let low = config.low_factor.checked_mul(rate);
    if high.is_some_and(|high| per_day > high) {
        warnings.push(ReadingWarning {
            code: WarningCode::HighConsumption,
            register,
            message: format!(
                "consumption {} kWh/day is above {}x the usual {} kWh/day",
                show(per_day),
                config.high_factor.normalize(),
                show(rate)
            ),
        });
    } else if rate > Decimal::ZERO && low.is_some_and(|low| per_day < low) {
        warnings.push(ReadingWarning {
            code: WarningCode::LowConsumption,
            register,
            message: format!(
                "consumption {} kWh/day is below {}x the usual {} kWh/day",
                show(per_day),
                config.low_factor.normalize(),
                show(rate)
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 30, 10, 0, 0)
            .single()
            .expect("valid time")
    }

    fn days_ago(days: i64) -> DateTime<Utc> {
        now() - Duration::days(days)
    }

    fn point(value: &str, days: i64) -> HistoryPoint {
        HistoryPoint {
            value: dec(value),
            at: days_ago(days),
        }
    }

    fn reg(register: Register, value: &str, history: Vec<HistoryPoint>) -> RegisterInput {
        RegisterInput {
            spec: RegisterSpec {
                register,
                int_digits: 6,
                decimals: 2,
            },
            value: dec(value),
            history,
        }
    }

    fn set<'a>(
        purpose: ReadingPurpose,
        multiplier: &str,
        expected: Option<&str>,
        registers: &'a [RegisterInput],
    ) -> ReadingSetInput<'a> {
        ReadingSetInput {
            purpose,
            taken_at: now(),
            multiplier: dec(multiplier),
            expected_daily_kwh: expected.map(dec),
            registers,
        }
    }

    fn run(input: &ReadingSetInput<'_>) -> Result<Vec<ReadingWarning>, ValidationError> {
        validate(input, &ValidationConfig::default())
    }

    fn codes(result: Result<Vec<ReadingWarning>, ValidationError>) -> Vec<(Register, WarningCode)> {
        result
            .expect("should validate")
            .into_iter()
            .map(|w| (w.register, w.code))
            .collect()
    }

    use ReadingPurpose::*;
    use Register::*;
    use WarningCode::*;

    #[test]
    fn plain_reading_has_no_warnings() {
        // 10 kWh/day over 30 days, history says 10 kWh/day.
        let regs = [reg(
            Total,
            "1300",
            vec![point("700", 90), point("1000", 30)],
        )];
        assert_eq!(
            codes(run(&set(RemovedMeterFinal, "1", None, &regs))),
            vec![]
        );
    }

    #[test]
    fn structural_errors() {
        let regs = [
            reg(Total, "1", vec![]),
            reg(Peak, "1", vec![]),
            reg(Total, "2", vec![]),
        ];
        assert_eq!(
            run(&set(Check, "1", None, &regs)),
            Err(ValidationError::DuplicateRegister { register: Total })
        );
        assert_eq!(
            run(&set(Check, "1", None, &[])),
            Err(ValidationError::NoRegisters)
        );

        let too_big = [reg(Total, "1000000", vec![])];
        assert!(matches!(
            run(&set(NewMeterStart, "1", None, &too_big)),
            Err(ValidationError::OutOfSpec {
                register: Total,
                int_digits: 6,
                decimals: 2,
                ..
            })
        ));
        let too_precise = [reg(Total, "1.234", vec![])];
        assert!(matches!(
            run(&set(Check, "1", None, &too_precise)),
            Err(ValidationError::OutOfSpec { .. })
        ));
        let negative = [reg(Total, "-1", vec![])];
        assert!(matches!(
            run(&set(Check, "1", None, &negative)),
            Err(ValidationError::OutOfSpec { .. })
        ));
        // Trailing zeros beyond the register's decimals do not change the value: it fits.
        let trailing = [reg(Total, "1.2300", vec![])];
        assert_eq!(run(&set(Check, "1", None, &trailing)), Ok(vec![]));
        let largest = [reg(Total, "999999.99", vec![])];
        assert_eq!(run(&set(Check, "1", None, &largest)), Ok(vec![]));

        let ok = [reg(Total, "1", vec![])];
        assert_eq!(
            run(&set(Check, "0", None, &ok)),
            Err(ValidationError::InvalidMultiplier {
                multiplier: dec("0")
            })
        );
        assert_eq!(
            run(&set(Check, "-40", None, &ok)),
            Err(ValidationError::InvalidMultiplier {
                multiplier: dec("-40")
            })
        );
    }

    #[test]
    fn start_reading_threshold() {
        let regs = [
            reg(Total, "10", vec![]),
            reg(Peak, "10.01", vec![]),
            reg(Valley, "0", vec![]),
        ];
        for purpose in [NewMeterStart, ReplacementNewStart] {
            let warnings = run(&set(purpose, "1", None, &regs)).expect("valid");
            assert_eq!(warnings.len(), 1);
            assert_eq!(
                (warnings[0].register, warnings[0].code),
                (Peak, HighStartReading)
            );
            assert_eq!(
                warnings[0].message,
                "start reading 10.01 is above 10, the most a new meter should show"
            );
        }
        // Start readings are not compared with history, even one that is higher.
        let regs = [reg(Total, "5", vec![point("90000", 10)])];
        assert_eq!(run(&set(NewMeterStart, "1", None, &regs)), Ok(vec![]));
        // The threshold is configurable.
        let config = ValidationConfig {
            new_meter_start_max: dec("2"),
            ..ValidationConfig::default()
        };
        assert_eq!(
            validate(&set(NewMeterStart, "1", None, &regs), &config).map(|w| w.len()),
            Ok(1)
        );
    }

    #[test]
    fn rollover_plausible_is_a_warning() {
        // 6-digit register wrapped from 999950 to 30: 80 units in 10 days.
        let regs = [reg(Total, "30", vec![point("999950", 10)])];
        let warnings = run(&set(ReplacementOldFinal, "1", Some("10"), &regs)).expect("valid");
        assert_eq!(
            warnings.iter().map(|w| w.code).collect::<Vec<_>>(),
            vec![Rollover]
        );
        assert_eq!(
            warnings[0].message,
            "reading 30 is below the last reading 999950: taken as the register wrapping past 1000000, consumption 80"
        );
        // Without a known rate, the fraction of the range alone decides.
        let regs = [reg(Total, "30", vec![point("999950", 10)])];
        assert_eq!(
            codes(run(&set(Check, "1", None, &regs))),
            vec![(Total, Rollover)]
        );
        // Up to 10% of the range (100000) is plausible.
        let regs = [reg(Total, "99950", vec![point("999950", 400)])];
        assert_eq!(
            codes(run(&set(Check, "1", None, &regs))),
            vec![(Total, Rollover)]
        );
    }

    #[test]
    fn rollover_implausible_is_an_error() {
        // Wrapped consumption 100001 > 10% of 1000000.
        let regs = [reg(Total, "99951", vec![point("999950", 400)])];
        assert_eq!(
            run(&set(Check, "1", None, &regs)),
            Err(ValidationError::LowerThanLast {
                register: Total,
                value: dec("99951"),
                last: dec("999950")
            })
        );
        // A typo: 1200 after 1300 would wrap through ~999900 units.
        let regs = [reg(Total, "1200", vec![point("1300", 10)])];
        assert!(matches!(
            run(&set(Check, "1", None, &regs)),
            Err(ValidationError::LowerThanLast { .. })
        ));
        // Within 10% of the range, but 80 units x 40 over 10 days = 320 kWh/day > 3 x 10 kWh/day.
        let regs = [reg(Total, "30", vec![point("999950", 10)])];
        assert!(matches!(
            run(&set(Check, "40", Some("10"), &regs)),
            Err(ValidationError::LowerThanLast { .. })
        ));
        // The same with a usual rate of 110 kWh/day: 320 <= 330, a rollover, and no HighConsumption.
        assert_eq!(
            codes(run(&set(Check, "40", Some("110"), &regs))),
            vec![(Total, Rollover)]
        );
    }

    #[test]
    fn high_consumption_with_multiplier() {
        // CT meter x40: 103 units in 10 days = 412 kWh/day; usual 35.2 kWh/day.
        let regs = [reg(Total, "1103", vec![point("1000", 10)])];
        let warnings = run(&set(RemovedMeterFinal, "40", Some("35.2"), &regs)).expect("valid");
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, HighConsumption);
        assert_eq!(
            warnings[0].message,
            "consumption 412.0 kWh/day is above 3x the usual 35.2 kWh/day"
        );
        // Without the multiplier the same reading is 10.3 kWh/day: within range.
        assert_eq!(
            run(&set(RemovedMeterFinal, "1", Some("35.2"), &regs)),
            Ok(vec![])
        );
    }

    #[test]
    fn low_consumption_with_multiplier() {
        // x40: 1 unit in 10 days = 4 kWh/day < 0.2 x 35.2 = 7.04.
        let regs = [reg(Total, "1001", vec![point("1000", 10)])];
        let warnings = run(&set(ReplacementOldFinal, "40", Some("35.2"), &regs)).expect("valid");
        assert_eq!(
            warnings.iter().map(|w| w.code).collect::<Vec<_>>(),
            vec![LowConsumption]
        );
        assert_eq!(
            warnings[0].message,
            "consumption 4.0 kWh/day is below 0.2x the usual 35.2 kWh/day"
        );
        // x100: 10 kWh/day, not low.
        assert_eq!(
            run(&set(ReplacementOldFinal, "100", Some("35.2"), &regs)),
            Ok(vec![])
        );
        // A zero usual rate never makes anything low.
        assert_eq!(
            run(&set(ReplacementOldFinal, "40", Some("0"), &regs)).map(|w| w.len()),
            Ok(1)
        );
        assert_eq!(
            codes(run(&set(ReplacementOldFinal, "40", Some("0"), &regs))),
            vec![(Total, HighConsumption)]
        );
    }

    #[test]
    fn zero_consumption() {
        // 30 days without consumption: ZeroConsumption, even without any known rate.
        let regs = [reg(Total, "1000", vec![point("1000", 30)])];
        let warnings = run(&set(Check, "1", None, &regs)).expect("valid");
        assert_eq!(
            warnings.iter().map(|w| w.code).collect::<Vec<_>>(),
            vec![ZeroConsumption]
        );
        assert_eq!(warnings[0].message, "no consumption in 30.0 days");
        // With a known rate, ZeroConsumption replaces LowConsumption.
        assert_eq!(
            codes(run(&set(Check, "1", Some("10"), &regs))),
            vec![(Total, ZeroConsumption)]
        );
        // Under 30 days, zero consumption is merely low (when a rate is known) ...
        let regs = [reg(Total, "1000", vec![point("1000", 29)])];
        assert_eq!(
            codes(run(&set(Check, "1", Some("10"), &regs))),
            vec![(Total, LowConsumption)]
        );
        // ... and nothing at all without one.
        assert_eq!(run(&set(Check, "1", None, &regs)), Ok(vec![]));
    }

    #[test]
    fn rate_from_history_vs_expected() {
        // History: 100 units over 10 days = 10 units/day; x40 = 400 kWh/day.
        let history = vec![point("900", 20), point("950", 15), point("1000", 10)];
        // Now 1100 after 10 days: 400 kWh/day x40; same as history, fine.
        let regs = [reg(Total, "1100", history.clone())];
        assert_eq!(run(&set(Check, "40", None, &regs)), Ok(vec![]));
        // But against a back-office estimate of 100 kWh/day it is high: the estimate wins.
        assert_eq!(
            codes(run(&set(Check, "40", Some("100"), &regs))),
            vec![(Total, HighConsumption)]
        );
        // 1400 after 10 days is 1600 kWh/day: above 3 x 400 derived from history.
        let regs = [reg(Total, "1400", history.clone())];
        let warnings = run(&set(Check, "40", None, &regs)).expect("valid");
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            warnings[0].message,
            "consumption 1600.0 kWh/day is above 3x the usual 400.0 kWh/day"
        );
        // History order does not matter: the latest `at` is the last reading.
        let mut shuffled = history.clone();
        shuffled.reverse();
        let regs = [reg(Total, "1400", shuffled)];
        assert_eq!(
            codes(run(&set(Check, "40", None, &regs))),
            vec![(Total, HighConsumption)]
        );
        // Fractional days: 100 units over 12 hours of history is 200 units/day.
        let half_day = vec![
            HistoryPoint {
                value: dec("900"),
                at: days_ago(10) - Duration::hours(12),
            },
            point("1000", 10),
        ];
        let config = ValidationConfig {
            min_days_for_rate: dec("0.5"),
            ..ValidationConfig::default()
        };
        let regs = [reg(Total, "1300", half_day.clone())]; // 30/day, < 0.2 x 200
        assert_eq!(
            codes(validate(&set(Check, "1", None, &regs), &config)),
            vec![(Total, LowConsumption)]
        );
        // With the default minimum of 1 day, half a day of history gives no rate.
        assert_eq!(run(&set(Check, "1", None, &regs)), Ok(vec![]));
    }

    #[test]
    fn no_rate_known_means_no_rate_warnings() {
        // Huge consumption, but a single history point and no estimate: no rate to compare.
        let regs = [reg(Total, "90000", vec![point("1000", 10)])];
        assert_eq!(run(&set(Check, "40", None, &regs)), Ok(vec![]));
        // No history at all: nothing to compare.
        let regs = [reg(Total, "90000", vec![])];
        assert_eq!(run(&set(Check, "40", Some("1"), &regs)), Ok(vec![]));
        // A history going down (a past rollover) yields no rate either.
        let regs = [reg(
            Total,
            "90000",
            vec![point("999000", 40), point("1000", 10)],
        )];
        assert_eq!(run(&set(Check, "1", None, &regs)), Ok(vec![]));
        // A negative estimate is meaningless and ignored.
        let regs = [reg(Total, "90000", vec![point("1000", 10)])];
        assert_eq!(run(&set(Check, "1", Some("-5"), &regs)), Ok(vec![]));
    }

    #[test]
    fn elapsed_below_minimum_skips_rate_checks() {
        let regs = [RegisterInput {
            spec: RegisterSpec {
                register: Total,
                int_digits: 6,
                decimals: 2,
            },
            value: dec("1500"),
            history: vec![HistoryPoint {
                value: dec("1000"),
                at: now() - Duration::hours(23),
            }],
        }];
        assert_eq!(run(&set(Check, "1", Some("1"), &regs)), Ok(vec![]));
        // A history point at exactly taken_at is compared (not an error) with no rate checks.
        let regs = [RegisterInput {
            spec: RegisterSpec {
                register: Total,
                int_digits: 6,
                decimals: 2,
            },
            value: dec("1500"),
            history: vec![HistoryPoint {
                value: dec("1000"),
                at: now(),
            }],
        }];
        assert_eq!(run(&set(Check, "1", Some("1"), &regs)), Ok(vec![]));
    }

    #[test]
    fn history_after_the_reading_is_an_error() {
        let later = now() + Duration::minutes(1);
        let regs = [reg(
            Total,
            "1500",
            vec![
                point("1000", 10),
                HistoryPoint {
                    value: dec("1001"),
                    at: later,
                },
            ],
        )];
        assert_eq!(
            run(&set(Check, "1", None, &regs)),
            Err(ValidationError::TakenBeforeLastReading {
                register: Total,
                taken_at: now(),
                last_at: later
            })
        );
    }

    #[test]
    fn rate_checks_on_total_only_when_present() {
        // The peak register alone would be "high" (x40, 100 units in 10 days = 400 vs 3 x 10),
        // but the total is the one checked when present.
        let history = |v: &str| vec![point(v, 10)];
        let with_total = [
            reg(Total, "1010", history("1000")),
            reg(Peak, "600", history("500")),
            reg(Valley, "410", history("400")),
        ];
        // (TOU sum 1010 = total.)
        assert_eq!(run(&set(Check, "1", Some("1"), &with_total)), Ok(vec![]));
        // Without a total, each register is checked.
        let without_total = [
            reg(Peak, "600", history("500")),
            reg(Valley, "500", history("500")),
        ];
        assert_eq!(
            codes(run(&set(Check, "1", Some("1"), &without_total))),
            vec![(Peak, HighConsumption), (Valley, LowConsumption)]
        );
    }

    fn tou(total: &str, parts: &[(Register, &str)]) -> Vec<RegisterInput> {
        let mut regs = vec![reg(Total, total, vec![])];
        regs.extend(parts.iter().map(|&(r, v)| reg(r, v, vec![])));
        regs
    }

    #[test]
    fn tou_mismatch_is_an_error_outside_checks() {
        let regs = tou("8", &[(Peak, "3.00"), (Flat, "3.00"), (Valley, "3.00")]);
        for purpose in [
            NewMeterStart,
            RemovedMeterFinal,
            ReplacementOldFinal,
            ReplacementNewStart,
        ] {
            assert_eq!(
                run(&set(purpose, "1", None, &regs)),
                Err(ValidationError::TouMismatch {
                    total: dec("8"),
                    sum: dec("9"),
                    tolerance: dec("0.03")
                }),
                "{purpose:?}"
            );
        }
        let warnings = run(&set(Check, "1", None, &regs)).expect("a check only warns");
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            (warnings[0].register, warnings[0].code),
            (Total, TouMismatch)
        );
        assert_eq!(
            warnings[0].message,
            "time-of-use registers add up to 9.00, the total shows 8 (tolerance 0.03)"
        );
    }

    #[test]
    fn tou_within_tolerance_is_fine() {
        // Four parts each rounded on the display: up to 4 x 0.01 off.
        let regs = tou(
            "100.00",
            &[
                (Sharp, "10.01"),
                (Peak, "30.01"),
                (Flat, "30.01"),
                (Valley, "30.01"),
            ],
        );
        assert_eq!(run(&set(ReplacementOldFinal, "1", None, &regs)), Ok(vec![]));
        let regs = tou(
            "100.00",
            &[
                (Sharp, "10.02"),
                (Peak, "30.01"),
                (Flat, "30.01"),
                (Valley, "30.01"),
            ],
        );
        assert!(matches!(
            run(&set(ReplacementOldFinal, "1", None, &regs)),
            Err(ValidationError::TouMismatch { .. })
        ));
        // A configured tolerance replaces the display rounding.
        let config = ValidationConfig {
            tou_tolerance: Some(dec("0.5")),
            ..ValidationConfig::default()
        };
        assert_eq!(
            validate(&set(ReplacementOldFinal, "1", None, &regs), &config),
            Ok(vec![])
        );
        // A single part is not checked against the total.
        let regs = tou("100", &[(Peak, "3")]);
        assert_eq!(run(&set(ReplacementOldFinal, "1", None, &regs)), Ok(vec![]));
        // Neither are parts without a total.
        let regs = [reg(Peak, "3", vec![]), reg(Valley, "4", vec![])];
        assert_eq!(run(&set(ReplacementOldFinal, "1", None, &regs)), Ok(vec![]));
    }

    #[test]
    fn warnings_are_sorted_by_register_then_code() {
        // Given out of order; TOU mismatch (Check), rollover on valley, and high total.
        let regs = [
            reg(Valley, "20", vec![point("999990", 10)]),
            reg(Peak, "700", vec![point("600", 10)]),
            reg(Total, "1800", vec![point("600", 10)]),
        ];
        let want = vec![
            (Total, HighConsumption),
            (Total, TouMismatch),
            (Valley, Rollover),
        ];
        assert_eq!(codes(run(&set(Check, "1", Some("10"), &regs))), want);
        let mut reversed = regs.to_vec();
        reversed.reverse();
        assert_eq!(codes(run(&set(Check, "1", Some("10"), &reversed))), want);
        // Start readings, several registers over the threshold.
        let regs = [
            reg(Valley, "20", vec![]),
            reg(Total, "50", vec![]),
            reg(Peak, "30", vec![]),
        ];
        assert_eq!(
            codes(validate(
                &set(NewMeterStart, "1", None, &regs),
                &ValidationConfig {
                    tou_tolerance: Some(dec("100")),
                    ..Default::default()
                }
            )),
            vec![
                (Total, HighStartReading),
                (Peak, HighStartReading),
                (Valley, HighStartReading)
            ]
        );
    }

    #[test]
    fn absurd_inputs_do_not_panic() {
        let big = RegisterSpec {
            register: Total,
            int_digits: u8::MAX,
            decimals: u8::MAX,
        };
        let regs = [
            RegisterInput {
                spec: big,
                value: Decimal::MAX,
                history: vec![
                    HistoryPoint {
                        value: Decimal::MIN,
                        at: days_ago(100),
                    },
                    HistoryPoint {
                        value: Decimal::MAX,
                        at: days_ago(1),
                    },
                ],
            },
            RegisterInput {
                spec: RegisterSpec {
                    register: Peak,
                    ..big
                },
                value: Decimal::MAX,
                history: vec![],
            },
            RegisterInput {
                spec: RegisterSpec {
                    register: Flat,
                    ..big
                },
                value: Decimal::MAX,
                history: vec![],
            },
        ];
        // The parts overflow when added: a mismatch, not a pass.
        assert!(matches!(
            validate(
                &set(RemovedMeterFinal, "1", None, &regs),
                &ValidationConfig::default()
            ),
            Err(ValidationError::TouMismatch { .. })
        ));
        for purpose in [NewMeterStart, Check, RemovedMeterFinal] {
            let _ = validate(
                &set(
                    purpose,
                    "79228162514264337593543950335",
                    Some("0.0000000000000000000000000001"),
                    &regs,
                ),
                &ValidationConfig::default(),
            );
        }
        let regs = [RegisterInput {
            spec: big,
            value: Decimal::ZERO,
            history: vec![HistoryPoint {
                value: Decimal::MAX,
                at: days_ago(100),
            }],
        }];
        assert!(matches!(
            run(&set(Check, "1", None, &regs)),
            Err(ValidationError::LowerThanLast { .. })
        ));
        let far = [RegisterInput {
            spec: RegisterSpec {
                register: Total,
                int_digits: 6,
                decimals: 2,
            },
            value: dec("5"),
            history: vec![
                HistoryPoint {
                    value: dec("1"),
                    at: DateTime::<Utc>::MIN_UTC,
                },
                HistoryPoint {
                    value: dec("2"),
                    at: DateTime::<Utc>::MIN_UTC + Duration::days(1),
                },
            ],
        }];
        let _ = run(&set(Check, "1", None, &far));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn cents(c: i64) -> Decimal {
            Decimal::new(c, 2)
        }

        proptest! {
            /// Consumption within the configured band of the expected rate never warns, and a
            /// value at or above the last reading is never an error.
            #[test]
            fn consumption_within_the_band_is_clean(
                last in 0i64..50_000_000,
                days in 2i64..90,
                rate_tenths in 10i64..500,
                // 0.25x .. 2.9x the expected daily use: inside the default 0.2x..3x band.
                factor_pct in 25i64..290,
            ) {
                let rate = Decimal::new(rate_tenths, 1);
                let used = (rate * Decimal::from(days) * Decimal::new(factor_pct, 2)).round_dp(2);
                let value = cents(last) + used;
                prop_assume!(value < Decimal::from(1_000_000));
                let regs = [RegisterInput {
                    spec: RegisterSpec { register: Total, int_digits: 6, decimals: 2 },
                    value,
                    history: vec![HistoryPoint { value: cents(last), at: days_ago(days) }],
                }];
                let input = set(RemovedMeterFinal, "1", None, &regs);
                let input = ReadingSetInput { expected_daily_kwh: Some(rate), ..input };
                prop_assert_eq!(run(&input), Ok(vec![]));
            }

            /// Below the last reading: either a rollover warning (wrapped use within the
            /// plausible fraction of the register range) or an error, never silently accepted.
            #[test]
            fn lower_than_last_is_never_silent(last in 1i64..99_999_999, drop in 1i64..99_999_999) {
                prop_assume!(drop <= last);
                let regs = [RegisterInput {
                    spec: RegisterSpec { register: Total, int_digits: 6, decimals: 2 },
                    value: cents(last - drop),
                    history: vec![HistoryPoint { value: cents(last), at: days_ago(30) }],
                }];
                match run(&set(Check, "1", None, &regs)) {
                    Ok(w) => {
                        prop_assert!(w.iter().any(|w| w.code == Rollover));
                        // Wrapped consumption = 10^6 - drop: plausible only when small.
                        let wrapped = Decimal::from(1_000_000) - cents(drop);
                        prop_assert!(wrapped <= Decimal::from(100_000));
                    }
                    Err(e) => {
                        let is_lower = matches!(e, ValidationError::LowerThanLast { .. });
                        prop_assert!(is_lower, "{:?}", e);
                    }
                }
            }

            /// The same input always gives the same answer, in the same order.
            #[test]
            fn validation_is_deterministic(
                values in proptest::collection::vec(0i64..100_000_000, 4),
                last in proptest::collection::vec(0i64..100_000_000, 4),
            ) {
                let regs: Vec<_> = [Total, Peak, Flat, Valley]
                    .iter()
                    .zip(values.iter().zip(&last))
                    .map(|(r, (v, l))| RegisterInput {
                        spec: RegisterSpec { register: *r, int_digits: 6, decimals: 2 },
                        value: cents(*v),
                        history: vec![HistoryPoint { value: cents(*l), at: days_ago(40) }],
                    })
                    .collect();
                let input = set(Check, "1", Some("10"), &regs);
                prop_assert_eq!(run(&input), run(&input));
            }
        }
    }
}
