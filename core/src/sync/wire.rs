//! The sync protocol's messages (`/v1`), shared by the client here and the reference server, so
//! both sides read and write exactly the same JSON. docs/sync-protocol.md explains each field.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::hlc::Hlc;
use crate::reading::MeterReading;
use crate::store::{Entity, Op, Photo, StatusEvent};
use crate::survey::{Evaluation, MeterReplacement};
use crate::work_order::WorkOrder;

/// The protocol version, the first segment of every path.
pub const PROTOCOL_PATH: &str = "/v1";
/// The largest page a client may ask for, and the largest push batch a server accepts.
pub const MAX_PAGE: u32 = 2000;
pub const MAX_PUSH_BATCH: usize = 2000;

/// `GET /v1/sync/pull?cursor=N&limit=M`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullResponse {
    /// Changes with `cursor < seq <= next cursor`, in `seq` order.
    pub changes: Vec<PulledChange>,
    /// The cursor to send next time: the last change's `seq` (or the request's cursor when empty).
    pub cursor: i64,
    /// Whether more changes wait beyond this page.
    pub more: bool,
    /// How many changes wait beyond this page, as the server counted them when it wrote the
    /// page: the pull's progress total. Absent from a server that does not count (the total is
    /// then unknown); zero when `more` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
    /// The latest HLC the server has seen or made; devices move their clock past it.
    pub server_hlc: Hlc,
}

/// One change in a pulled page: a JSON object whose `kind` names the variant.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every pulled change is an order: boxing it would add an allocation to each \
              and save memory only on the rare removal or conflict"
)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PulledChange {
    /// The order as the server holds it now, with every fact recorded on it.
    Order {
        seq: i64,
        order: WorkOrder,
        #[serde(default)]
        timeline: Vec<StatusEvent>,
        #[serde(default)]
        readings: Vec<MeterReading>,
        #[serde(default)]
        replacements: Vec<MeterReplacement>,
        #[serde(default)]
        evaluations: Vec<Evaluation>,
        /// The order's photo records (the crew's and documents the customer supplied); the
        /// bytes are downloaded separately by content address.
        #[serde(default)]
        photos: Vec<Photo>,
    },
    /// The order left the crew's scope (reassigned, archived): the device drops it once nothing
    /// of it waits in the outbox.
    Removal { seq: i64, order_id: Uuid },
    /// A conflict raised on, acknowledged or resolved for one of the crew's orders.
    Conflict { seq: i64, conflict: Conflict },
}

/// The variants' fields, for [`PulledChange`]'s deserializer.
#[derive(Deserialize)]
struct OrderChange {
    seq: i64,
    order: WorkOrder,
    #[serde(default)]
    timeline: Vec<StatusEvent>,
    #[serde(default)]
    readings: Vec<MeterReading>,
    #[serde(default)]
    replacements: Vec<MeterReplacement>,
    #[serde(default)]
    evaluations: Vec<Evaluation>,
    #[serde(default)]
    photos: Vec<Photo>,
}

#[derive(Deserialize)]
struct RemovalChange {
    seq: i64,
    order_id: Uuid,
}

#[derive(Deserialize)]
struct ConflictChange {
    seq: i64,
    conflict: Conflict,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ChangeKind {
    Order,
    Removal,
    Conflict,
}

/// serde's derive for an internally tagged enum first buffers every change into a generic tree
/// (the tag may come last), then reads the variant from it: a pulled page of 10,000 orders
/// spent most of its parse time there. The server writes `kind` first, so this reads the rest
/// of the object straight into the variant; an object whose `kind` comes later still parses,
/// through a JSON tree.
impl<'de> Deserialize<'de> for PulledChange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ChangeVisitor)
    }
}

struct ChangeVisitor;

impl ChangeVisitor {
    fn variant<'de, D: serde::Deserializer<'de>>(
        kind: ChangeKind,
        rest: D,
    ) -> Result<PulledChange, D::Error> {
        Ok(match kind {
            ChangeKind::Order => {
                let c = OrderChange::deserialize(rest)?;
                PulledChange::Order {
                    seq: c.seq,
                    order: c.order,
                    timeline: c.timeline,
                    readings: c.readings,
                    replacements: c.replacements,
                    evaluations: c.evaluations,
                    photos: c.photos,
                }
            }
            ChangeKind::Removal => {
                let c = RemovalChange::deserialize(rest)?;
                PulledChange::Removal {
                    seq: c.seq,
                    order_id: c.order_id,
                }
            }
            ChangeKind::Conflict => {
                let c = ConflictChange::deserialize(rest)?;
                PulledChange::Conflict {
                    seq: c.seq,
                    conflict: c.conflict,
                }
            }
        })
    }
}

impl<'de> serde::de::Visitor<'de> for ChangeVisitor {
    type Value = PulledChange;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a change object with a kind")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<PulledChange, A::Error> {
        use serde::de::Error as _;
        let first: Option<String> = map.next_key()?;
        if first.as_deref() == Some("kind") {
            let kind: ChangeKind = map.next_value()?;
            return Self::variant(kind, serde::de::value::MapAccessDeserializer::new(map));
        }
        let mut object = serde_json::Map::new();
        if let Some(key) = first {
            object.insert(key, map.next_value()?);
        }
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            object.insert(key, value);
        }
        let kind = object
            .remove("kind")
            .ok_or_else(|| A::Error::missing_field("kind"))?;
        let kind = ChangeKind::deserialize(kind).map_err(A::Error::custom)?;
        Self::variant(kind, serde_json::Value::Object(object)).map_err(A::Error::custom)
    }
}

impl PulledChange {
    pub fn seq(&self) -> i64 {
        match self {
            PulledChange::Order { seq, .. }
            | PulledChange::Removal { seq, .. }
            | PulledChange::Conflict { seq, .. } => *seq,
        }
    }
}

/// `POST /v1/sync/push`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    pub device_id: Uuid,
    pub ops: Vec<PushOp>,
}

/// One outbox entry on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushOp {
    pub op_id: Uuid,
    pub entity: Entity,
    pub entity_id: String,
    pub order_id: Uuid,
    pub op: Op,
    pub fields: serde_json::Value,
    pub base_version: i64,
    pub hlc: Hlc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    /// One answer per operation, in the request's order.
    pub answers: Vec<Answer>,
    pub server_hlc: Hlc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub op_id: Uuid,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What the server did with one operation. Every outcome but a transport failure acknowledges
/// the operation: the device removes it from its outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Applied as sent; nothing else had changed the same thing.
    Applied,
    /// Applied next to concurrent changes of other fields, or deduplicated (already known).
    Merged,
    /// Both sides changed the same thing; the rules decided and the losing value is kept in the
    /// conflict record.
    Conflict { conflict_id: Uuid },
    /// Not applied, ever. `reason` is for the crew member; `code` for the program.
    Rejected { code: RejectCode, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// The payload failed validation.
    Invalid,
    /// No such order (or not one this crew may see: the server does not say which).
    NotFound,
    /// The field belongs to dispatch.
    NotOwner,
    /// The status change breaks the order's status machine.
    IllegalTransition,
    /// The operation id was already used for a different operation.
    DuplicateOpId,
}

crate::text_enum!(RejectCode {
    Invalid => "invalid",
    NotFound => "not_found",
    NotOwner => "not_owner",
    IllegalTransition => "illegal_transition",
    DuplicateOpId => "duplicate_op_id",
});

/// Which rule decided a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictRule {
    /// Both sides changed a dispatch-owned field: dispatch's value stands.
    DispatchOwnsField,
    /// Both sides changed a crew-owned field: the crew's value stands.
    CrewOwnsField,
    /// Two devices of the crew changed the same crew-owned field: the later HLC stands.
    LatestHlcWins,
    /// Dispatch cancelled the order while the crew completed it offline: the work stands, the
    /// order is completed, dispatch must follow up (refund, callback).
    CancelledButCompleted,
    /// Dispatch cancelled the order while the crew was working on it: the crew's records stand,
    /// the order stays cancelled.
    CancelledDuringVisit,
    /// Dispatch moved the order to another crew (or archived it) while this crew worked on it
    /// offline: the records stand, the order stays where dispatch put it.
    ReassignedWhileOffline,
}

crate::text_enum!(ConflictRule {
    DispatchOwnsField => "dispatch_owns_field",
    CrewOwnsField => "crew_owns_field",
    LatestHlcWins => "latest_hlc_wins",
    CancelledButCompleted => "cancelled_but_completed",
    CancelledDuringVisit => "cancelled_during_visit",
    ReassignedWhileOffline => "reassigned_while_offline",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    Open,
    Acknowledged,
    Resolved,
}

crate::text_enum!(ConflictStatus { Open => "open", Acknowledged => "acknowledged", Resolved => "resolved" });

/// A conflict: both values, who made them, the rule that decided, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub id: Uuid,
    pub order_id: Uuid,
    pub order_number: String,
    /// The crew whose change lost or met the conflict; the conflict is visible to its devices.
    pub crew_id: String,
    /// The field in question, or `status` / `assignment` for the status rules.
    pub field: String,
    pub rule: ConflictRule,
    /// The value that stands.
    pub kept_value: serde_json::Value,
    pub kept_by: String,
    /// The value that lost, kept here so nothing is silently discarded.
    pub lost_value: serde_json::Value,
    pub lost_by: String,
    pub status: ConflictStatus,
    pub resolution: Option<Resolution>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a resolver settled a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub choice: ResolveChoice,
    pub by: String,
    pub note: String,
}

/// Keep the value that stands, or put the losing value in its place (field conflicts only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveChoice {
    Kept,
    Lost,
}

crate::text_enum!(ResolveChoice { Kept => "kept", Lost => "lost" });

/// The `fields` of an outbox entry of entity `conflict`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ConflictAction {
    Acknowledge,
    Resolve {
        choice: ResolveChoice,
        #[serde(default)]
        note: String,
    },
}

/// An error body: every non-2xx reply carries one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> Vec<WorkOrder> {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("day");
        crate::fixtures::CityDay::new(7, 3, day).generate()
    }

    #[test]
    fn changes_read_back_as_written_whatever_the_key_order() {
        let changes = vec![
            PulledChange::Order {
                seq: 4,
                order: orders().remove(0),
                timeline: vec![],
                readings: vec![],
                replacements: vec![],
                evaluations: vec![],
                photos: vec![],
            },
            PulledChange::Removal {
                seq: 5,
                order_id: Uuid::now_v7(),
            },
        ];
        for change in &changes {
            let text = serde_json::to_string(change).expect("json");
            assert!(text.starts_with("{\"kind\":"), "{text}");
            let back: PulledChange = serde_json::from_str(&text).expect("parse");
            assert_eq!(&back, change);

            // The same object with `kind` last (another server's serializer) parses the same.
            let mut object = serde_json::to_value(change).expect("value");
            let map = object.as_object_mut().expect("object");
            let kind = map.remove("kind").expect("kind");
            let mut text = serde_json::to_string(map).expect("json");
            text.pop();
            text.push_str(&format!(",\"kind\":{kind}}}"));
            let back: PulledChange = serde_json::from_str(&text).expect("parse");
            assert_eq!(&back, change);
        }
    }

    #[test]
    fn a_change_without_a_known_kind_is_an_error() {
        for text in [
            r#"{"seq": 1, "order_id": "0192a7c0-0000-7000-8000-000000000000"}"#,
            r#"{"kind": "teleport", "seq": 1}"#,
            r#"{"seq": 1, "kind": "teleport"}"#,
            r#"{"kind": "removal", "seq": "one", "order_id": "0192a7c0-0000-7000-8000-000000000000"}"#,
            r#"[1, 2]"#,
        ] {
            assert!(
                serde_json::from_str::<PulledChange>(text).is_err(),
                "{text}"
            );
        }
    }
}
