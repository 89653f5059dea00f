//! Records a crew makes on site besides readings: the site survey for the supply plan, the meter
//! replacement record, and the customer's evaluation.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::hlc::Hlc;

/// Supply voltage of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Voltage {
    V220,
    V380,
    Kv10,
}

crate::text_enum!(Voltage { V220 => "v220", V380 => "v380", Kv10 => "kv10" });

/// Where the customer connects to the grid: station—line—transformer—customer (站—线—变—户).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConnectionPoint {
    pub station: String,
    pub line: String,
    pub transformer: String,
    /// The pole (杆) or distribution box (表箱) the service drop leaves from.
    pub pole_or_box: String,
}

/// 现场勘查 data for the supply plan. Crew-owned: it merges field by field with dispatch's edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSurvey {
    pub capacity_kva: Decimal,
    pub voltage: Voltage,
    pub phases: u8,
    pub connection: ConnectionPoint,
    pub load_notes: String,
}

impl SiteSurvey {
    pub fn check(&self) -> Result<()> {
        if self.capacity_kva <= Decimal::ZERO || self.capacity_kva > Decimal::from(100_000) {
            return Err(Error::invalid(
                "capacity_kva",
                "capacity must be above 0 and at most 100000 kVA",
            ));
        }
        if !matches!(self.phases, 1 | 3) {
            return Err(Error::invalid("phases", "single-phase or three-phase"));
        }
        if self.voltage == Voltage::V220 && self.phases != 1 {
            return Err(Error::invalid(
                "phases",
                "a 220 V connection is single-phase",
            ));
        }
        if self.voltage != Voltage::V220 && self.phases != 3 {
            return Err(Error::invalid(
                "phases",
                "380 V and 10 kV connections are three-phase",
            ));
        }
        Ok(())
    }
}

/// 换表 record: the old meter's final state and the new meter's start. The readings themselves are
/// stored as [`crate::reading::MeterReading`]s with the replacement purposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterReplacement {
    pub id: Uuid,
    pub order_id: Uuid,
    pub old_meter: String,
    /// 换表前的余额: prepaid balance left on the old meter, exact money in yuan (may be negative
    /// on meters that allow emergency credit).
    pub old_balance: Option<Decimal>,
    pub new_meter: String,
    /// 换发电卡信息: the new prepaid card's number.
    pub new_card: Option<String>,
    pub at: DateTime<Utc>,
    pub member_id: String,
    pub hlc: Hlc,
}

/// 服务评价: the customer's rating of the visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    pub id: Uuid,
    pub order_id: Uuid,
    pub score: u8,
    pub comment: String,
    pub at: DateTime<Utc>,
    pub member_id: String,
    pub hlc: Hlc,
}

pub fn check_score(score: u8) -> Result<()> {
    if (1..=5).contains(&score) {
        Ok(())
    } else {
        Err(Error::invalid("score", "the score is 1 to 5"))
    }
}

/// Parses a money amount in yuan: optional minus sign, at most two decimals.
pub fn parse_money(raw: &str) -> Result<Decimal> {
    let t = raw.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    let valid = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
        && !digits.starts_with('.')
        && !digits.ends_with('.')
        && digits.split('.').nth(1).is_none_or(|d| d.len() <= 2)
        && digits.split('.').next().is_some_and(|i| i.len() <= 9);
    if !valid {
        return Err(Error::invalid(
            "balance",
            "a money amount like 123.45 (at most two decimals)",
        ));
    }
    t.parse()
        .map_err(|_| Error::invalid("balance", "a money amount like 123.45"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact_and_strict() {
        assert_eq!(parse_money(" 35.20 ").unwrap().to_string(), "35.20");
        assert_eq!(parse_money("-2.5").unwrap(), Decimal::new(-25, 1));
        for bad in [
            "", "-", "1.234", "1,5", "abc", ".5", "5.", "1.2.3", "+4", "1e3",
        ] {
            assert!(parse_money(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn survey_checks_voltage_against_phases() {
        let mut s = SiteSurvey {
            capacity_kva: Decimal::from(630),
            voltage: Voltage::Kv10,
            phases: 3,
            connection: ConnectionPoint::default(),
            load_notes: String::new(),
        };
        assert!(s.check().is_ok());
        s.phases = 1;
        assert!(s.check().is_err());
        s.voltage = Voltage::V220;
        assert!(s.check().is_ok());
        s.capacity_kva = Decimal::ZERO;
        assert!(s.check().is_err());
    }

    #[test]
    fn scores_are_one_to_five() {
        assert!(check_score(0).is_err());
        assert!(check_score(6).is_err());
        assert!((1..=5).all(|s| check_score(s).is_ok()));
    }
}
