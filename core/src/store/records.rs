//! Crew-owned fields of an order (survey, crew notes) and the customer's evaluation.

use rusqlite::params;
use serde_json::json;
use uuid::Uuid;

use super::codec::{self, ms};
use super::outbox::{self, Change, Entity, Op};
use super::progress::status_and_version;
use super::{Store, require_session};
use crate::error::{Error, Result};
use crate::survey::{Evaluation, SiteSurvey, check_score};
use crate::work_order::Status;

impl Store {
    /// Saves the site survey (crew-owned; merges field by field with dispatch's edits on sync).
    pub fn save_survey(&self, order_id: Uuid, survey: &SiteSurvey) -> Result<()> {
        survey.check()?;
        self.update_order_field(order_id, "survey", serde_json::to_value(survey)?, |tx| {
            tx.prepare_cached("UPDATE work_orders SET survey = ?2 WHERE id = ?1")?
                .execute(params![
                    order_id.to_string(),
                    serde_json::to_string(survey)?
                ])?;
            Ok(())
        })
    }

    /// Replaces the crew's notes on the order (crew-owned).
    pub fn set_crew_notes(&self, order_id: Uuid, notes: &str) -> Result<()> {
        if notes.chars().count() > 2000 {
            return Err(Error::invalid("crew_notes", "at most 2000 characters"));
        }
        self.update_order_field(order_id, "crew_notes", json!(notes), |tx| {
            tx.prepare_cached("UPDATE work_orders SET crew_notes = ?2 WHERE id = ?1")?
                .execute(params![order_id.to_string(), notes])?;
            Ok(())
        })
    }

    fn update_order_field(
        &self,
        order_id: Uuid,
        field: &str,
        value: serde_json::Value,
        apply: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<()>,
    ) -> Result<()> {
        self.write(|tx, ctx| {
            require_session(tx)?;
            let (_, version) = status_and_version(tx, order_id)?;
            apply(tx)?;
            tx.prepare_cached("UPDATE work_orders SET updated_at = ?2 WHERE id = ?1")?
                .execute(params![order_id.to_string(), ms(ctx.now)])?;
            let hlc = outbox::next_hlc(tx, ctx)?;
            let id = order_id.to_string();
            let change = Change {
                entity: Entity::WorkOrder,
                entity_id: &id,
                order_id,
                op: Op::Update,
                fields: json!({ field: value }),
                base_version: version,
            };
            outbox::push(tx, ctx, change, hlc)?;
            Ok(())
        })
    }

    /// Records the customer's evaluation (服务评价) of a visit the crew has arrived at.
    pub fn add_evaluation(&self, order_id: Uuid, score: u8, comment: &str) -> Result<Evaluation> {
        check_score(score)?;
        if comment.chars().count() > 1000 {
            return Err(Error::invalid("comment", "at most 1000 characters"));
        }
        self.write(|tx, ctx| {
            let session = require_session(tx)?;
            let (status, version) = status_and_version(tx, order_id)?;
            if !matches!(
                status,
                Status::Arrived | Status::InProgress | Status::Completed
            ) {
                return Err(Error::invalid(
                    "status",
                    "the customer evaluates a visit that took place",
                ));
            }
            let hlc = outbox::next_hlc(tx, ctx)?;
            let eval = Evaluation {
                id: Uuid::now_v7(),
                order_id,
                score,
                comment: comment.trim().to_owned(),
                at: ctx.now,
                member_id: session.member_id,
                hlc,
            };
            tx.prepare_cached(
                "INSERT INTO evaluations (id, order_id, score, comment, at, member_id, hlc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                eval.id.to_string(),
                order_id.to_string(),
                score,
                eval.comment,
                ms(eval.at),
                eval.member_id,
                hlc.to_string()
            ])?;
            let id = eval.id.to_string();
            let change = Change {
                entity: Entity::Evaluation,
                entity_id: &id,
                order_id,
                op: Op::Create,
                fields: serde_json::to_value(&eval)?,
                base_version: version,
            };
            outbox::push(tx, ctx, change, hlc)?;
            Ok(eval)
        })
    }
}

pub(crate) fn load_evaluations(
    conn: &rusqlite::Connection,
    order_id: Uuid,
) -> Result<Vec<Evaluation>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, order_id, score, comment, at, member_id, hlc FROM evaluations WHERE order_id = ?1 ORDER BY at",
    )?;
    let rows = stmt.query_map([order_id.to_string()], |r| {
        Ok(Evaluation {
            id: codec::parsed(r, 0)?,
            order_id: codec::parsed(r, 1)?,
            score: r.get(2)?,
            comment: r.get(3)?,
            at: codec::time(r, 4)?,
            member_id: r.get(5)?,
            hlc: codec::parsed(r, 6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
