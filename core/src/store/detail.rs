//! An order's full detail, as its screen shows it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Store;
use super::progress::{StatusEvent, load_timeline};
use super::readings::{load_readings, load_replacements};
use super::records::load_evaluations;
use crate::error::Result;
use crate::reading::MeterReading;
use crate::survey::{Evaluation, MeterReplacement};
use crate::work_order::appointment::urgency;
use crate::work_order::{Urgency, WorkOrder};

/// A reading and, if it was corrected, the reading that superseded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingView {
    pub reading: MeterReading,
    pub superseded_by: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderDetail {
    pub order: WorkOrder,
    pub urgency: Option<Urgency>,
    pub timeline: Vec<StatusEvent>,
    pub readings: Vec<ReadingView>,
    pub replacements: Vec<MeterReplacement>,
    pub evaluations: Vec<Evaluation>,
    /// The photos taken on this device, by kind, oldest first.
    pub photos: Vec<super::photos::Photo>,
    /// What documents the order needs, captured and missing.
    pub documents: super::photos::DocumentChecklist,
    /// Changes of this order not yet acknowledged by the server.
    pub pending_changes: u64,
}

impl Store {
    /// Everything about one order, read in one snapshot. Cheap (a few indexed queries).
    pub fn order_detail(&self, id: Uuid) -> Result<OrderDetail> {
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let order = super::orders::load_order(&tx, id)?;
            let urgency = order
                .status
                .is_open()
                .then(|| urgency(order.due_at(), self.now(), self.options.due_soon));
            let detail = OrderDetail {
                urgency,
                timeline: load_timeline(&tx, id)?,
                readings: load_readings(&tx, id)?
                    .into_iter()
                    .map(|(reading, superseded_by)| ReadingView {
                        reading,
                        superseded_by,
                    })
                    .collect(),
                replacements: load_replacements(&tx, id)?,
                evaluations: load_evaluations(&tx, id)?,
                photos: super::photos::load_photos(&tx, id)?,
                documents: super::photos::checklist_of(&tx, &order)?,
                pending_changes: tx.query_row(
                    "SELECT count(*) FROM outbox WHERE order_id = ?1",
                    [id.to_string()],
                    |r| r.get::<_, i64>(0),
                )? as u64,
                order,
            };
            tx.finish()?;
            Ok(detail)
        })
    }
}
