//! Work orders: what dispatch sends a crew, and what the crew does with it.

pub mod appointment;
pub mod document;
pub mod status;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::geo::GeoPoint;
use crate::reading::{HistoryPoint, Register, RegisterSpec};
pub use appointment::{Appointment, Urgency};
pub use document::DocumentKind;
pub use status::{Status, SuspendReason, TransitionError};

/// The kinds of field work (业务类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// 业扩报装 new connection.
    NewConnection,
    /// 增容 capacity increase.
    CapacityIncrease,
    /// 装表接电 meter install and power-on.
    MeterInstall,
    /// 换表 meter replacement.
    MeterReplacement,
    /// 销户拆表 meter removal on account closure.
    MeterRemoval,
    /// 现场勘查 site survey.
    SiteSurvey,
    /// 现场校验 on-site meter accuracy check.
    MeterCheck,
    /// 故障抢修 fault repair.
    FaultRepair,
}

crate::text_enum!(WorkKind {
    NewConnection => "new_connection",
    CapacityIncrease => "capacity_increase",
    MeterInstall => "meter_install",
    MeterReplacement => "meter_replacement",
    MeterRemoval => "meter_removal",
    SiteSurvey => "site_survey",
    MeterCheck => "meter_check",
    FaultRepair => "fault_repair",
});

/// Dispatch priority; higher sorts first where times tie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

crate::text_enum!(Priority { Low => "low", Normal => "normal", High => "high", Urgent => "urgent" });

impl Priority {
    pub fn rank(self) -> i64 {
        self as i64
    }
    pub fn from_rank(rank: i64) -> Option<Self> {
        Self::ALL.get(usize::try_from(rank).ok()?).copied()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub name: String,
    pub account_number: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub address: String,
    /// The dispatch area (供电所/台区) used to group work so a crew moves between neighbours.
    pub area: String,
    pub location: Option<GeoPoint>,
}

/// One register of a meter at the site, with the last reading the back office knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterRegister {
    pub spec: RegisterSpec,
    pub last: Option<HistoryPoint>,
}

/// A meter at the site (表计).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meter {
    /// 表计资产编号.
    pub asset_number: String,
    pub phases: u8,
    pub registers: Vec<MeterRegister>,
    /// CT/PT multiplier (倍率): consumption = register delta × multiplier.
    pub multiplier: Decimal,
    pub prepaid: bool,
    /// Typical consumption per day from billing history, when the back office sends it.
    pub expected_daily_kwh: Option<Decimal>,
}

impl Meter {
    pub fn register(&self, register: Register) -> Option<&MeterRegister> {
        self.registers.iter().find(|r| r.spec.register == register)
    }

    /// Structural checks: applies to meters from dispatch and meters the crew installs.
    pub fn check(&self) -> crate::Result<()> {
        use crate::Error;
        if self.asset_number.trim().is_empty() {
            return Err(Error::invalid(
                "asset_number",
                "a meter needs its asset number",
            ));
        }
        if !matches!(self.phases, 1 | 3) {
            return Err(Error::invalid(
                "phases",
                "a meter is single-phase or three-phase",
            ));
        }
        if self.multiplier <= Decimal::ZERO {
            return Err(Error::invalid(
                "multiplier",
                "the multiplier must be positive",
            ));
        }
        if self.register(Register::Total).is_none() {
            return Err(Error::invalid(
                "registers",
                "a meter needs a total register",
            ));
        }
        for (i, r) in self.registers.iter().enumerate() {
            if self.registers[..i]
                .iter()
                .any(|o| o.spec.register == r.spec.register)
            {
                return Err(Error::invalid(
                    "registers",
                    format!("the {} register is listed twice", r.spec.register),
                ));
            }
            if !(1..=10).contains(&r.spec.int_digits) || r.spec.decimals > 4 {
                return Err(Error::invalid(
                    "registers",
                    "a register shows 1 to 10 integer digits and 0 to 4 decimals",
                ));
            }
        }
        Ok(())
    }
}

/// A dispatched work order as the crew phone holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkOrder {
    /// UUID v7, assigned where the order is created (the back office).
    pub id: Uuid,
    /// The human order number dispatch and customers quote (工单号).
    pub number: String,
    pub kind: WorkKind,
    pub status: Status,
    pub priority: Priority,
    pub customer: Customer,
    pub site: Site,
    pub meters: Vec<Meter>,
    pub required_documents: Vec<DocumentKind>,
    pub appointment: Appointment,
    /// When the application was accepted (业务受理): the start of a time-limit appointment.
    pub accepted_at: DateTime<Utc>,
    pub dispatch_notes: String,
    pub crew_notes: String,
    pub crew_id: String,
    pub member_id: Option<String>,
    /// The server's version of the order this copy is based on (0: never synced).
    pub version: i64,
}

impl WorkOrder {
    pub fn due_at(&self) -> DateTime<Utc> {
        self.appointment.due_at(self.accepted_at)
    }

    pub fn meter(&self, asset_number: &str) -> Option<&Meter> {
        self.meters.iter().find(|m| m.asset_number == asset_number)
    }
}
