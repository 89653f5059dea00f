//! Storage behind a narrow interface. The server's handlers only see [`Storage`]; the default
//! backend is an embedded SQLite file in the data directory ([`sqlite::SqliteStorage`]).
//!
//! The interface is shaped by the protocol, not by SQL: a push batch goes in as one call (so a
//! backend can run it in one transaction and lock the orders it touches), a pull page comes out
//! as ready-to-send JSON, and the merge rules are the pure functions of [`crate::merge`], which
//! any backend calls. A PostgreSQL backend would implement the same trait with
//! `SELECT ... FOR UPDATE` on the touched orders and a sequence for the cursor (see
//! docs/sync-protocol.md, "Storage").

pub mod sqlite;

use chrono::{DateTime, Utc};
use fieldcrew_core::hlc::Hlc;
use fieldcrew_core::reading::MeterReading;
use fieldcrew_core::store::{Photo, StatusEvent};
use fieldcrew_core::survey::{Evaluation, MeterReplacement, SiteSurvey};
use fieldcrew_core::sync::wire::{Answer, Conflict, ConflictAction, ConflictStatus, PushOp};
use fieldcrew_core::work_order::{
    Appointment, Customer, DocumentKind, Meter, Priority, Site, Status, WorkKind, WorkOrder,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A crew member: syncs the crew's orders.
    Crew,
    /// A dispatcher: the back-office API.
    Dispatcher,
    /// Manages crews, members and tokens.
    Admin,
}

fieldcrew_core::text_enum!(Role { Crew => "crew", Dispatcher => "dispatcher", Admin => "admin" });

/// A crew with its declared daily capacity (承载力).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crew {
    pub id: String,
    pub name: String,
    pub capacity: Capacity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capacity {
    pub surveys: u32,
    pub installs: u32,
    pub checks: u32,
}

/// Which capacity a kind of work uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkClass {
    Survey,
    Install,
    Check,
}

impl WorkClass {
    pub fn of(kind: WorkKind) -> WorkClass {
        match kind {
            WorkKind::NewConnection | WorkKind::CapacityIncrease | WorkKind::SiteSurvey => {
                WorkClass::Survey
            }
            WorkKind::MeterInstall | WorkKind::MeterReplacement | WorkKind::MeterRemoval => {
                WorkClass::Install
            }
            WorkKind::MeterCheck | WorkKind::FaultRepair => WorkClass::Check,
        }
    }

    pub fn kinds(self) -> Vec<WorkKind> {
        [
            WorkKind::NewConnection,
            WorkKind::CapacityIncrease,
            WorkKind::SiteSurvey,
            WorkKind::MeterInstall,
            WorkKind::MeterReplacement,
            WorkKind::MeterRemoval,
            WorkKind::MeterCheck,
            WorkKind::FaultRepair,
        ]
        .into_iter()
        .filter(|k| WorkClass::of(*k) == self)
        .collect()
    }

    pub fn limit(self, c: &Capacity) -> u32 {
        match self {
            WorkClass::Survey => c.surveys,
            WorkClass::Install => c.installs,
            WorkClass::Check => c.checks,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub crew_id: Option<String>,
    pub role: Role,
}

/// A token as stored: never the secret, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub member_id: String,
    pub device: String,
    pub hash: [u8; 32],
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub member_id: String,
    pub crew_id: Option<String>,
    pub role: Role,
    pub device: String,
}

/// A fee the customer pays for the work (shown in the customer's progress view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fee {
    pub item: String,
    pub amount: Decimal,
}

/// An order as dispatch creates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub number: String,
    pub kind: WorkKind,
    #[serde(default = "normal")]
    pub priority: Priority,
    pub customer: Customer,
    pub site: Site,
    #[serde(default)]
    pub meters: Vec<Meter>,
    /// Defaults to the kind's documents.
    #[serde(default)]
    pub required_documents: Option<Vec<DocumentKind>>,
    pub appointment: Appointment,
    pub accepted_at: DateTime<Utc>,
    #[serde(default)]
    pub dispatch_notes: String,
    pub crew_id: String,
    #[serde(default)]
    pub member_id: Option<String>,
    #[serde(default)]
    pub fees: Vec<Fee>,
}

fn normal() -> Priority {
    Priority::Normal
}

/// A dispatcher's edit of an order. Absent fields are left alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPatch {
    pub appointment: Option<Appointment>,
    pub crew_id: Option<String>,
    /// `Some(None)` clears the member.
    #[serde(default, with = "double_option")]
    pub member_id: Option<Option<String>>,
    pub priority: Option<Priority>,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    pub required_documents: Option<Vec<DocumentKind>>,
    pub dispatch_notes: Option<String>,
    /// A dispatcher's correction of crew-owned fields (the crew's concurrent edit wins).
    pub crew_notes: Option<String>,
    pub survey: Option<SiteSurvey>,
    pub fees: Option<Vec<Fee>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(inner) => inner.serialize(s),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Ok(Some(Option::deserialize(d)?))
    }
}

/// The result of a dispatcher's write: the order as it now stands, and capacity warnings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficeWrite {
    pub order: WorkOrder,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderFilter {
    pub crew_id: Option<String>,
    pub status: Option<Status>,
    pub kind: Option<WorkKind>,
    pub area: Option<String>,
    pub due_before: Option<DateTime<Utc>>,
    pub due_after: Option<DateTime<Utc>>,
    /// Substring of number, account or customer name.
    pub q: Option<String>,
    pub include_archived: Option<bool>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderListItem {
    pub id: Uuid,
    pub number: String,
    pub kind: WorkKind,
    pub status: Status,
    pub priority: Priority,
    pub crew_id: String,
    pub area: String,
    pub due_at: DateTime<Utc>,
    pub version: i64,
    pub archived: bool,
    pub open_conflicts: u32,
}

/// A dispatcher's action in the order's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchAction {
    pub at: DateTime<Utc>,
    pub by: String,
    pub action: String,
    pub detail: serde_json::Value,
}

/// Everything about an order, for the back office.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficeDetail {
    pub order: WorkOrder,
    pub archived: bool,
    pub fees: Vec<Fee>,
    pub timeline: Vec<StatusEvent>,
    pub readings: Vec<MeterReading>,
    pub replacements: Vec<MeterReplacement>,
    pub evaluations: Vec<Evaluation>,
    /// Documents required, and which of them the crew has photographed (photo sync fills this).
    pub documents: Vec<DocumentState>,
    pub conflicts: Vec<Conflict>,
    pub history: Vec<DispatchAction>,
    /// The order's photos (crew photos and documents the customer supplied), with whether the
    /// server holds their verified bytes for this record (see [`OfficePhoto::on_server`]).
    #[serde(default)]
    pub photos: Vec<OfficePhoto>,
}

/// A photo of an order as the back office sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficePhoto {
    #[serde(flatten)]
    pub photo: Photo,
    /// The bytes are on the server, verified, and the record is backed by them: its author
    /// uploaded them or the office added them (false while the crew's upload is under way, and
    /// for a record that only names the hash of someone else's photo).
    pub on_server: bool,
}

/// One order's reference to a content address.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoRef {
    pub order_id: Uuid,
    /// The crew holding the order now.
    pub crew_id: String,
    pub archived: bool,
    pub photo: Photo,
    /// The record's author has shown the server the bytes (uploaded them, hash checked, or
    /// added the document in the office). Only a backed record lets its order's crew download
    /// the photo: anyone who read a hash can push a record naming it.
    pub backed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentState {
    pub kind: DocumentKind,
    pub received: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConflictFilter {
    pub status: Option<ConflictStatus>,
    pub crew_id: Option<String>,
    pub order_id: Option<Uuid>,
}

/// Booked work against capacity for one crew on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrewLoad {
    pub crew_id: String,
    pub day: chrono::NaiveDate,
    pub capacity: Capacity,
    pub booked: Capacity,
}

/// The customer's view of an order: steps with times, fees and what to prepare. Nothing a crew
/// records for itself (notes, positions, member names, readings) appears here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerProgress {
    pub number: String,
    pub kind: WorkKind,
    pub status: Status,
    pub steps: Vec<ProgressStep>,
    pub appointment: Appointment,
    pub fees: Vec<Fee>,
    /// Documents the customer must still prepare: those the customer supplies (business
    /// licence, property certificate, ID card) that the order requires and the server has not
    /// received yet (a backed photo of that kind whose bytes are on the server).
    pub to_prepare: Vec<DocumentKind>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressStep {
    pub step: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The storage interface. Calls are blocking; handlers run them on tokio's blocking pool.
pub trait Storage: Send + Sync + 'static {
    // Admin.
    fn add_crew(&self, crew: &Crew) -> Result<()>;
    fn crews(&self) -> Result<Vec<Crew>>;
    fn add_member(&self, member: &Member) -> Result<()>;
    fn save_token(&self, token: &TokenRecord) -> Result<()>;
    /// Marks the token revoked; false when there is no such token.
    fn revoke_token(&self, token_id: &str, at: DateTime<Utc>) -> Result<bool>;
    fn token(&self, token_id: &str) -> Result<Option<(TokenRecord, Member)>>;

    // Sync.
    /// A page of the crew's changes after `cursor`, as the JSON body of a pull reply.
    fn pull(&self, crew_id: &str, cursor: i64, limit: u32) -> Result<String>;
    /// Applies a batch atomically; one answer per operation. The writing device is the caller's
    /// token's device ([`Caller::device`]), never anything the request body says.
    fn push(&self, caller: &Caller, ops: &[PushOp]) -> Result<(Vec<Answer>, Hlc)>;

    // Back office.
    fn create_orders(&self, caller: &Caller, orders: Vec<NewOrder>) -> Result<Vec<OfficeWrite>>;
    fn update_order(&self, caller: &Caller, id: Uuid, patch: OrderPatch) -> Result<OfficeWrite>;
    fn cancel_order(&self, caller: &Caller, id: Uuid, note: &str) -> Result<OfficeWrite>;
    fn archive_order(&self, caller: &Caller, id: Uuid) -> Result<()>;
    fn list_orders(&self, filter: &OrderFilter) -> Result<Vec<OrderListItem>>;
    fn order_detail(&self, id: Uuid) -> Result<OfficeDetail>;
    fn conflicts(&self, filter: &ConflictFilter) -> Result<Vec<Conflict>>;
    fn act_on_conflict(
        &self,
        caller: &Caller,
        id: Uuid,
        action: &ConflictAction,
    ) -> Result<Conflict>;
    fn crew_load(&self, crew_id: &str, day: chrono::NaiveDate) -> Result<CrewLoad>;
    /// The customer's view. `on_server`: whether the verified bytes of a content address are in
    /// place (they live in [`crate::photos::PhotoBlobs`]), for the documents already received.
    fn progress(
        &self,
        number: &str,
        account: &str,
        on_server: &dyn Fn(&str) -> bool,
    ) -> Result<CustomerProgress>;

    // Photos (the bytes live in [`crate::photos::PhotoBlobs`]).
    /// Every photo record with this content address, with its order's crew.
    fn photo_refs(&self, sha256: &str) -> Result<Vec<PhotoRef>>;
    /// Records that `member_id` has shown the server the bytes of `sha256` (their upload hashed
    /// right). Idempotent.
    fn add_photo_owner(&self, sha256: &str, member_id: &str) -> Result<()>;
    /// Whether `member_id` has shown the server the bytes of `sha256`.
    fn is_photo_owner(&self, sha256: &str, member_id: &str) -> Result<bool>;
    /// Links a photo made on the server (a document the customer supplied online) to an order,
    /// so the crew's devices pull it.
    fn add_office_photo(&self, caller: &Caller, photo: Photo) -> Result<Photo>;
}
