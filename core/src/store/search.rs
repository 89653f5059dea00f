//! Search by order number, account number, customer name, address or meter asset number.

use rusqlite::params;

use super::Store;
use super::orders::{OrderSummary, SUMMARY_COLUMNS, summary_from_row};
use crate::error::Result;

impl Store {
    /// Orders whose number, account, customer name, address or meter asset number contains
    /// `query` (case-insensitive), open ones first, then the most recent. Queries of three or
    /// more characters use the trigram index (FTS5 serves LIKE); shorter ones (a two-character Chinese name) scan.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<OrderSummary>> {
        let q = query.trim();
        if q.is_empty() {
            return Ok(Vec::new());
        }
        // The trigram index answers LIKE '%q%' for 3+ characters. LIKE's own wildcards in the
        // query would change its meaning, so such (odd) queries take the scan instead.
        let by_index = q.chars().count() >= 3 && !q.contains(['%', '_']);
        let hits: Vec<OrderSummary> = self.read(|c| {
            let filter = if by_index {
                "SELECT rowid FROM order_search WHERE body LIKE ?1"
            } else {
                "SELECT rowid FROM order_search WHERE instr(lower(body), lower(?1)) > 0"
            };
            let sql = format!(
                "SELECT {SUMMARY_COLUMNS} FROM work_orders WHERE rid IN ({filter})
                 ORDER BY status IN ('completed', 'cancelled'), agenda_at DESC LIMIT ?2"
            );
            let pattern = if by_index {
                format!("%{q}%")
            } else {
                q.to_owned()
            };
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![pattern, limit], |r| summary_from_row(r, self))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        // The query itself may be a customer's name or phone: log its length only.
        tracing::debug!(
            chars = q.chars().count(),
            indexed = by_index,
            hits = hits.len(),
            "search"
        );
        Ok(hits)
    }
}
