//! Records and enums that cross the FFI, and their conversions from and to the core's types.
//!
//! Exact numbers (readings, money, capacities) cross as strings so no language turns them into
//! floating point; times cross as timestamps (java.time.Instant, Swift Date, Python datetime);
//! ids as UUID strings.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use fieldcrew_core::{geo, reading, store, survey, work_order};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::{FieldCrewError, Result, bad_id};

/// Declares an FFI enum mirroring a core enum variant for variant, with conversions both ways.
macro_rules! mirror_enum {
    ($name:ident = $module:ident :: $core:ident { $($v:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
        pub enum $name { $($v),+ }
        impl From<$module::$core> for $name {
            fn from(x: $module::$core) -> Self {
                match x { $($module::$core::$v => Self::$v),+ }
            }
        }
        impl From<$name> for $module::$core {
            fn from(x: $name) -> Self {
                match x { $($name::$v => $module::$core::$v),+ }
            }
        }
    };
}

mirror_enum!(
    WorkKind = work_order::WorkKind {
        NewConnection,
        CapacityIncrease,
        MeterInstall,
        MeterReplacement,
        MeterRemoval,
        SiteSurvey,
        MeterCheck,
        FaultRepair,
    }
);
mirror_enum!(
    Status = work_order::Status {
        Dispatched,
        Accepted,
        EnRoute,
        Arrived,
        InProgress,
        Completed,
        Suspended,
        Cancelled,
    }
);
mirror_enum!(
    Priority = work_order::Priority {
        Low,
        Normal,
        High,
        Urgent
    }
);
mirror_enum!(
    SuspendReason = work_order::SuspendReason {
        CustomerAbsent,
        DocumentsMissing,
        SiteNotReady,
        Unsafe,
        Other,
    }
);
mirror_enum!(
    DocumentKind = work_order::DocumentKind {
        BusinessLicence,
        PropertyCertificate,
        IdCard,
        MeterBefore,
        MeterAfter,
        Seal,
        Site,
        Signature,
        Other,
    }
);
mirror_enum!(
    Urgency = work_order::Urgency {
        OnTrack,
        DueSoon,
        Overdue
    }
);
mirror_enum!(
    Register = reading::Register {
        Total,
        Sharp,
        Peak,
        Flat,
        Valley
    }
);
mirror_enum!(
    ReadingPurpose = reading::ReadingPurpose {
        NewMeterStart,
        RemovedMeterFinal,
        ReplacementOldFinal,
        ReplacementNewStart,
        Check,
    }
);
mirror_enum!(
    WarningCode = reading::WarningCode {
        Rollover,
        HighConsumption,
        LowConsumption,
        ZeroConsumption,
        HighStartReading,
        TouMismatch,
    }
);
mirror_enum!(Voltage = survey::Voltage { V220, V380, Kv10 });

pub(crate) fn time(t: DateTime<Utc>) -> SystemTime {
    t.into()
}

pub(crate) fn from_time(t: SystemTime) -> DateTime<Utc> {
    t.into()
}

pub(crate) fn uuid(field: &str, raw: &str) -> Result<Uuid> {
    Uuid::try_parse(raw.trim()).map_err(|_| bad_id(field, raw))
}

fn decimal(field: &str, raw: &str) -> Result<Decimal> {
    raw.trim().parse().map_err(|_| FieldCrewError::Validation {
        field: field.into(),
        detail: format!("not a number: {raw:?}"),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl From<geo::GeoPoint> for GeoPoint {
    fn from(p: geo::GeoPoint) -> Self {
        GeoPoint {
            lat: p.lat,
            lon: p.lon,
        }
    }
}

impl TryFrom<GeoPoint> for geo::GeoPoint {
    type Error = FieldCrewError;
    fn try_from(p: GeoPoint) -> Result<Self> {
        Ok(geo::GeoPoint::new(p.lat, p.lon)?)
    }
}

/// A GPS fix from the phone; stored at site-level precision.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct Fix {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
}

impl From<geo::Fix> for Fix {
    fn from(f: geo::Fix) -> Self {
        Fix {
            lat: f.point.lat,
            lon: f.point.lon,
            accuracy_m: f.accuracy_m,
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum Appointment {
    /// 约时: an agreed slot.
    Slot { start: SystemTime, end: SystemTime },
    /// 限时: within `hours` of acceptance.
    Within { hours: u32 },
    /// 限期: by a date and time.
    Deadline { by: SystemTime },
}

impl From<work_order::Appointment> for Appointment {
    fn from(a: work_order::Appointment) -> Self {
        match a {
            work_order::Appointment::Slot { start, end } => Appointment::Slot {
                start: time(start),
                end: time(end),
            },
            work_order::Appointment::Within { hours } => Appointment::Within { hours },
            work_order::Appointment::Deadline { by } => Appointment::Deadline { by: time(by) },
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OrderSummary {
    pub id: String,
    pub number: String,
    pub kind: WorkKind,
    pub status: Status,
    pub priority: Priority,
    pub customer_name: String,
    pub address: String,
    pub area: String,
    pub location: Option<GeoPoint>,
    pub appointment: Appointment,
    pub due_at: SystemTime,
    /// `None` for completed and cancelled orders.
    pub urgency: Option<Urgency>,
}

impl From<store::OrderSummary> for OrderSummary {
    fn from(o: store::OrderSummary) -> Self {
        OrderSummary {
            id: o.id.to_string(),
            number: o.number,
            kind: o.kind.into(),
            status: o.status.into(),
            priority: o.priority.into(),
            customer_name: o.customer_name,
            address: o.address,
            area: o.area,
            location: o.location.map(Into::into),
            appointment: o.appointment.into(),
            due_at: time(o.due_at),
            urgency: o.urgency.map(Into::into),
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AgendaItem {
    pub order: OrderSummary,
    /// Metres from the previous stop (the phone's position for the first).
    pub distance_m: Option<f64>,
    /// Open work from an earlier day.
    pub carried_over: bool,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AgendaGroup {
    pub area: String,
    pub items: Vec<AgendaItem>,
}

impl From<store::AgendaGroup> for AgendaGroup {
    fn from(g: store::AgendaGroup) -> Self {
        AgendaGroup {
            area: g.area,
            items: g
                .items
                .into_iter()
                .map(|i| AgendaItem {
                    order: i.order.into(),
                    distance_m: i.distance_m,
                    carried_over: i.carried_over,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MeterRegister {
    pub register: Register,
    pub int_digits: u8,
    pub decimals: u8,
    /// The last reading the back office knows, as an exact decimal string.
    pub last_value: Option<String>,
    pub last_at: Option<SystemTime>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Meter {
    pub asset_number: String,
    pub phases: u8,
    pub registers: Vec<MeterRegister>,
    /// CT/PT multiplier, exact decimal string.
    pub multiplier: String,
    pub prepaid: bool,
    pub expected_daily_kwh: Option<String>,
}

impl From<work_order::Meter> for Meter {
    fn from(m: work_order::Meter) -> Self {
        Meter {
            asset_number: m.asset_number,
            phases: m.phases,
            registers: m
                .registers
                .into_iter()
                .map(|r| MeterRegister {
                    register: r.spec.register.into(),
                    int_digits: r.spec.int_digits,
                    decimals: r.spec.decimals,
                    last_value: r.last.map(|h| h.value.to_string()),
                    last_at: r.last.map(|h| time(h.at)),
                })
                .collect(),
            multiplier: m.multiplier.to_string(),
            prepaid: m.prepaid,
            expected_daily_kwh: m.expected_daily_kwh.map(|d| d.to_string()),
        }
    }
}

impl TryFrom<Meter> for work_order::Meter {
    type Error = FieldCrewError;
    fn try_from(m: Meter) -> Result<Self> {
        let mut registers = Vec::with_capacity(m.registers.len());
        for r in m.registers {
            let last = match (r.last_value, r.last_at) {
                (Some(v), Some(at)) => Some(reading::HistoryPoint {
                    value: decimal("last_value", &v)?,
                    at: from_time(at),
                }),
                _ => None,
            };
            registers.push(work_order::MeterRegister {
                spec: reading::RegisterSpec {
                    register: r.register.into(),
                    int_digits: r.int_digits,
                    decimals: r.decimals,
                },
                last,
            });
        }
        Ok(work_order::Meter {
            asset_number: m.asset_number,
            phases: m.phases,
            registers,
            multiplier: decimal("multiplier", &m.multiplier)?,
            prepaid: m.prepaid,
            expected_daily_kwh: m
                .expected_daily_kwh
                .map(|d| decimal("expected_daily_kwh", &d))
                .transpose()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SiteSurvey {
    /// Capacity in kVA, exact decimal string.
    pub capacity_kva: String,
    pub voltage: Voltage,
    pub phases: u8,
    /// 站—线—变—户: the station, line, transformer and pole or box the customer connects to.
    pub station: String,
    pub line: String,
    pub transformer: String,
    pub pole_or_box: String,
    pub load_notes: String,
}

impl From<survey::SiteSurvey> for SiteSurvey {
    fn from(s: survey::SiteSurvey) -> Self {
        SiteSurvey {
            capacity_kva: s.capacity_kva.to_string(),
            voltage: s.voltage.into(),
            phases: s.phases,
            station: s.connection.station,
            line: s.connection.line,
            transformer: s.connection.transformer,
            pole_or_box: s.connection.pole_or_box,
            load_notes: s.load_notes,
        }
    }
}

impl TryFrom<SiteSurvey> for survey::SiteSurvey {
    type Error = FieldCrewError;
    fn try_from(s: SiteSurvey) -> Result<Self> {
        Ok(survey::SiteSurvey {
            capacity_kva: decimal("capacity_kva", &s.capacity_kva)?,
            voltage: s.voltage.into(),
            phases: s.phases,
            connection: survey::ConnectionPoint {
                station: s.station,
                line: s.line,
                transformer: s.transformer,
                pole_or_box: s.pole_or_box,
            },
            load_notes: s.load_notes,
        })
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct WorkOrder {
    pub id: String,
    pub number: String,
    pub kind: WorkKind,
    pub status: Status,
    pub priority: Priority,
    pub customer_name: String,
    pub customer_account: String,
    pub customer_phone: String,
    pub address: String,
    pub area: String,
    pub location: Option<GeoPoint>,
    pub meters: Vec<Meter>,
    pub required_documents: Vec<DocumentKind>,
    pub appointment: Appointment,
    pub due_at: SystemTime,
    pub dispatch_notes: String,
    pub crew_notes: String,
    pub survey: Option<SiteSurvey>,
}

impl From<work_order::WorkOrder> for WorkOrder {
    fn from(o: work_order::WorkOrder) -> Self {
        let due_at = time(o.due_at());
        WorkOrder {
            id: o.id.to_string(),
            number: o.number,
            kind: o.kind.into(),
            status: o.status.into(),
            priority: o.priority.into(),
            customer_name: o.customer.name,
            customer_account: o.customer.account_number,
            customer_phone: o.customer.phone,
            address: o.site.address,
            area: o.site.area,
            location: o.site.location.map(Into::into),
            meters: o.meters.into_iter().map(Into::into).collect(),
            required_documents: o.required_documents.into_iter().map(Into::into).collect(),
            appointment: o.appointment.into(),
            due_at,
            dispatch_notes: o.dispatch_notes,
            crew_notes: o.crew_notes,
            survey: o.survey.map(Into::into),
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct StatusReport {
    pub order_id: String,
    pub to: Status,
    pub reason: Option<SuspendReason>,
    pub note: String,
    pub fix: Option<Fix>,
}

impl TryFrom<StatusReport> for store::StatusReport {
    type Error = FieldCrewError;
    fn try_from(r: StatusReport) -> Result<Self> {
        Ok(store::StatusReport {
            order_id: uuid("order_id", &r.order_id)?,
            to: r.to.into(),
            reason: r.reason.map(Into::into),
            note: r.note,
            fix: r
                .fix
                .map(|f| geo::Fix::new(f.lat, f.lon, f.accuracy_m))
                .transpose()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct StatusEvent {
    pub id: String,
    pub from: Status,
    pub to: Status,
    pub reason: Option<SuspendReason>,
    pub note: String,
    pub at: SystemTime,
    pub fix: Option<Fix>,
    pub member_id: String,
}

impl From<store::StatusEvent> for StatusEvent {
    fn from(e: store::StatusEvent) -> Self {
        StatusEvent {
            id: e.id.to_string(),
            from: e.from.into(),
            to: e.to.into(),
            reason: e.reason.map(Into::into),
            note: e.note,
            at: time(e.at),
            fix: e.fix.map(Into::into),
            member_id: e.member_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReadingWarning {
    pub code: WarningCode,
    pub register: Register,
    /// For the member; numbers only.
    pub message: String,
}

impl From<reading::ReadingWarning> for ReadingWarning {
    fn from(w: reading::ReadingWarning) -> Self {
        ReadingWarning {
            code: w.code.into(),
            register: w.register.into(),
            message: w.message,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Confirmation {
    pub code: WarningCode,
    pub register: Register,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConfirmedWarning {
    pub code: WarningCode,
    pub register: Register,
    pub message: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegisterValue {
    pub register: Register,
    /// What the member typed, e.g. "12345,6".
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ReadingEntry {
    pub order_id: String,
    pub meter_asset: String,
    pub purpose: ReadingPurpose,
    pub values: Vec<RegisterValue>,
    pub photo_id: Option<String>,
    /// Ids of the readings this set corrects.
    pub supersedes: Vec<String>,
    pub confirmations: Vec<Confirmation>,
}

fn values(v: Vec<RegisterValue>) -> Vec<store::RegisterValue> {
    v.into_iter()
        .map(|v| store::RegisterValue {
            register: v.register.into(),
            raw: v.raw,
        })
        .collect()
}

fn confirmations(c: Vec<Confirmation>) -> Vec<reading::Confirmation> {
    c.into_iter()
        .map(|c| reading::Confirmation {
            code: c.code.into(),
            register: c.register.into(),
            reason: c.reason,
        })
        .collect()
}

impl TryFrom<ReadingEntry> for store::ReadingEntry {
    type Error = FieldCrewError;
    fn try_from(e: ReadingEntry) -> Result<Self> {
        Ok(store::ReadingEntry {
            order_id: uuid("order_id", &e.order_id)?,
            meter_asset: e.meter_asset,
            purpose: e.purpose.into(),
            values: values(e.values),
            photo_id: e.photo_id,
            supersedes: e
                .supersedes
                .iter()
                .map(|s| uuid("supersedes", s))
                .collect::<Result<_>>()?,
            confirmations: confirmations(e.confirmations),
        })
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ReplacementEntry {
    pub order_id: String,
    pub old_meter: String,
    pub old_final: Vec<RegisterValue>,
    /// Prepaid balance left on the old meter in yuan, as typed.
    pub old_balance: Option<String>,
    pub new_meter: Meter,
    pub new_start: Vec<RegisterValue>,
    pub new_card: Option<String>,
    pub photo_id: Option<String>,
    pub confirmations: Vec<Confirmation>,
}

impl TryFrom<ReplacementEntry> for store::ReplacementEntry {
    type Error = FieldCrewError;
    fn try_from(e: ReplacementEntry) -> Result<Self> {
        Ok(store::ReplacementEntry {
            order_id: uuid("order_id", &e.order_id)?,
            old_meter: e.old_meter,
            old_final: values(e.old_final),
            old_balance: e.old_balance,
            new_meter: e.new_meter.try_into()?,
            new_start: values(e.new_start),
            new_card: e.new_card,
            photo_id: e.photo_id,
            confirmations: confirmations(e.confirmations),
        })
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MeterReading {
    pub id: String,
    pub meter_asset: String,
    pub register: Register,
    pub purpose: ReadingPurpose,
    /// Exact decimal string.
    pub value: String,
    pub taken_at: SystemTime,
    pub photo_id: Option<String>,
    pub member_id: String,
    pub warnings: Vec<ConfirmedWarning>,
    pub supersedes: Option<String>,
    /// Set when a later reading corrected this one.
    pub superseded_by: Option<String>,
}

impl From<reading::MeterReading> for MeterReading {
    fn from(r: reading::MeterReading) -> Self {
        MeterReading {
            id: r.id.to_string(),
            meter_asset: r.meter_asset,
            register: r.register.into(),
            purpose: r.purpose.into(),
            value: r.value.to_string(),
            taken_at: time(r.taken_at),
            photo_id: r.photo_id,
            member_id: r.member_id,
            warnings: r
                .warnings
                .into_iter()
                .map(|w| ConfirmedWarning {
                    code: w.code.into(),
                    register: w.register.into(),
                    message: w.message,
                    reason: w.reason,
                })
                .collect(),
            supersedes: r.supersedes.map(|s| s.to_string()),
            superseded_by: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MeterReplacement {
    pub id: String,
    pub old_meter: String,
    pub old_balance: Option<String>,
    pub new_meter: String,
    pub new_card: Option<String>,
    pub at: SystemTime,
}

impl From<survey::MeterReplacement> for MeterReplacement {
    fn from(r: survey::MeterReplacement) -> Self {
        MeterReplacement {
            id: r.id.to_string(),
            old_meter: r.old_meter,
            old_balance: r.old_balance.map(|b| b.to_string()),
            new_meter: r.new_meter,
            new_card: r.new_card,
            at: time(r.at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Evaluation {
    pub id: String,
    pub score: u8,
    pub comment: String,
    pub at: SystemTime,
}

impl From<survey::Evaluation> for Evaluation {
    fn from(e: survey::Evaluation) -> Self {
        Evaluation {
            id: e.id.to_string(),
            score: e.score,
            comment: e.comment,
            at: time(e.at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OrderDetail {
    pub order: WorkOrder,
    pub urgency: Option<Urgency>,
    pub timeline: Vec<StatusEvent>,
    pub readings: Vec<MeterReading>,
    pub replacements: Vec<MeterReplacement>,
    pub evaluations: Vec<Evaluation>,
    /// The photos taken on this device.
    pub photos: Vec<Photo>,
    /// What documents the order needs, captured and missing.
    pub documents: DocumentChecklist,
    /// Changes of this order not yet on the server.
    pub pending_changes: u64,
}

impl From<store::OrderDetail> for OrderDetail {
    fn from(d: store::OrderDetail) -> Self {
        OrderDetail {
            order: d.order.into(),
            urgency: d.urgency.map(Into::into),
            timeline: d.timeline.into_iter().map(Into::into).collect(),
            readings: d
                .readings
                .into_iter()
                .map(|v| {
                    let mut r = MeterReading::from(v.reading);
                    r.superseded_by = v.superseded_by.map(|s| s.to_string());
                    r
                })
                .collect(),
            replacements: d.replacements.into_iter().map(Into::into).collect(),
            evaluations: d.evaluations.into_iter().map(Into::into).collect(),
            photos: d.photos.into_iter().map(Into::into).collect(),
            documents: d.documents.into(),
            pending_changes: d.pending_changes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UnsyncedWork {
    pub pending_changes: u64,
    pub orders: u64,
    /// Photos whose bytes the server does not have yet (they wait for an unmetered network).
    pub photos_not_uploaded: u64,
    pub photo_bytes_not_uploaded: u64,
    /// Changes the server refused ([`crate::FieldCrew::rejected_changes`] lists them).
    pub rejected_changes: u64,
    /// Per kind of record: "reading", "status_event", ...
    pub by_entity: Vec<EntityCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EntityCount {
    pub entity: String,
    pub count: u64,
}

impl From<store::UnsyncedWork> for UnsyncedWork {
    fn from(w: store::UnsyncedWork) -> Self {
        UnsyncedWork {
            pending_changes: w.pending_changes,
            orders: w.orders,
            photos_not_uploaded: w.photos_not_uploaded,
            photo_bytes_not_uploaded: w.photo_bytes_not_uploaded,
            rejected_changes: w.rejected_changes,
            by_entity: w
                .by_entity
                .into_iter()
                .map(|(e, n)| EntityCount {
                    entity: e.as_str().to_owned(),
                    count: n,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Photo {
    pub id: String,
    pub order_id: String,
    pub kind: DocumentKind,
    /// Content address: SHA-256 of the stored JPEG.
    pub sha256: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub captured_at: Option<SystemTime>,
    pub added_at: SystemTime,
    /// ID cards, property certificates, business licences.
    pub sensitive: bool,
}

impl From<store::Photo> for Photo {
    fn from(p: store::Photo) -> Self {
        Photo {
            id: p.id.to_string(),
            order_id: p.order_id.to_string(),
            kind: p.kind.into(),
            sha256: p.sha256,
            bytes: p.bytes,
            width: p.width,
            height: p.height,
            captured_at: p.captured_at.map(time),
            added_at: time(p.added_at),
            sensitive: p.sensitive,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChecklistItem {
    pub kind: DocumentKind,
    pub required: bool,
    pub photos: u32,
    pub latest_photo_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DocumentChecklist {
    pub items: Vec<ChecklistItem>,
    pub missing: Vec<DocumentKind>,
    pub complete: bool,
}

impl From<store::DocumentChecklist> for DocumentChecklist {
    fn from(c: store::DocumentChecklist) -> Self {
        DocumentChecklist {
            complete: c.is_complete(),
            missing: c.missing.into_iter().map(Into::into).collect(),
            items: c
                .items
                .into_iter()
                .map(|i| ChecklistItem {
                    kind: i.kind.into(),
                    required: i.required,
                    photos: i.photos,
                    latest_photo_id: i.latest.map(|l| l.to_string()),
                })
                .collect(),
        }
    }
}
