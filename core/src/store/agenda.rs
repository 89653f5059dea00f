//! A day's agenda: the orders booked for the day plus open work carried over from earlier days,
//! grouped by area so a crew moves between neighbouring sites (区域派工), and, when the phone's
//! position is known, ordered nearest-next among orders whose times lie within a window.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::Store;
use super::codec::ms;
use super::orders::{OrderSummary, SUMMARY_COLUMNS, summary_from_row};
use crate::error::{Error, Result};
use crate::geo::GeoPoint;

#[derive(Debug, Clone, PartialEq)]
pub struct AgendaQuery {
    /// The day, in the store's time zone.
    pub day: NaiveDate,
    /// The phone's position; when given, each area's open orders are ordered nearest-next.
    pub position: Option<GeoPoint>,
    /// Orders whose times lie within this window of the earliest remaining one are treated as
    /// interchangeable and taken nearest first.
    pub window: Duration,
}

impl AgendaQuery {
    pub fn new(day: NaiveDate) -> Self {
        Self {
            day,
            position: None,
            window: Duration::hours(2),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgendaItem {
    pub order: OrderSummary,
    /// Metres from the position the ordering started from (the phone, or the previous site).
    pub distance_m: Option<f64>,
    /// Open work from an earlier day.
    pub carried_over: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgendaGroup {
    pub area: String,
    pub items: Vec<AgendaItem>,
}

impl Store {
    /// The agenda for a day. Cheap enough for the main thread on a store of tens of thousands
    /// of orders (see the store benchmark), but a background thread is better.
    pub fn agenda(&self, query: &AgendaQuery) -> Result<Vec<AgendaGroup>> {
        let tz = self.options.timezone;
        let start = query
            .day
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).single())
            .ok_or_else(|| Error::invalid("day", "not a representable day"))?
            .with_timezone(&Utc);
        let end = start + Duration::days(1);
        let summaries = self.read(|c| {
            let sql = format!(
                "SELECT {SUMMARY_COLUMNS} FROM work_orders WHERE agenda_at >= ?1 AND agenda_at < ?2
                 UNION ALL
                 SELECT {SUMMARY_COLUMNS} FROM work_orders
                 WHERE status NOT IN ('completed', 'cancelled') AND due_at < ?2 AND agenda_at < ?1"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows =
                stmt.query_map(params![ms(start), ms(end)], |r| summary_from_row(r, self))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let groups = arrange(summaries, start, query);
        tracing::debug!(
            day = %query.day,
            areas = groups.len(),
            orders = groups.iter().map(|g| g.items.len()).sum::<usize>(),
            "agenda"
        );
        Ok(groups)
    }
}

/// Groups and orders the day's orders. Pure, so it is tested without a database.
pub(crate) fn arrange(
    summaries: Vec<OrderSummary>,
    day_start: DateTime<Utc>,
    query: &AgendaQuery,
) -> Vec<AgendaGroup> {
    let mut groups: Vec<AgendaGroup> = Vec::new();
    for order in summaries {
        let carried_over = order.agenda_at < day_start;
        let item = AgendaItem {
            order,
            distance_m: None,
            carried_over,
        };
        match groups.iter_mut().find(|g| g.area == item.order.area) {
            Some(g) => g.items.push(item),
            None => groups.push(AgendaGroup {
                area: item.order.area.clone(),
                items: vec![item],
            }),
        }
    }
    for group in &mut groups {
        let (open, done): (Vec<_>, Vec<_>) = group
            .items
            .drain(..)
            .partition(|i| i.order.status.is_open());
        let mut open = open;
        open.sort_by(by_time);
        let mut ordered = match query.position {
            Some(from) => nearest_next(open, from, query.window),
            None => open,
        };
        let mut done = done;
        done.sort_by(by_time);
        ordered.extend(done);
        group.items = ordered;
    }
    // Areas with open work first, earliest first; finished areas last.
    groups.sort_by_key(|g| {
        let first_open = g
            .items
            .iter()
            .filter(|i| i.order.status.is_open())
            .map(|i| i.order.agenda_at)
            .min();
        (
            first_open.is_none(),
            first_open,
            g.items.first().map(|i| i.order.agenda_at),
            g.area.clone(),
        )
    });
    groups
}

fn by_time(a: &AgendaItem, b: &AgendaItem) -> std::cmp::Ordering {
    a.order
        .agenda_at
        .cmp(&b.order.agenda_at)
        .then(b.order.priority.cmp(&a.order.priority))
        .then_with(|| a.order.number.cmp(&b.order.number))
}

/// Greedy nearest-next: from the current position, among the remaining orders whose time is
/// within `window` of the earliest remaining one, go to the nearest; orders without a position
/// keep their time order.
///
/// Candidates are compared by the straight-line (chord) distance between points on the unit
/// sphere, which orders them exactly as the great-circle distance does (it grows with the angle)
/// at a few multiplications a pair instead of haversine's trigonometry: a crew's day compares
/// every open order of an area with every other. The picked order's distance is haversine.
fn nearest_next(
    mut remaining: Vec<AgendaItem>,
    from: GeoPoint,
    window: Duration,
) -> Vec<AgendaItem> {
    let mut out = Vec::with_capacity(remaining.len());
    let mut points: Vec<Option<[f64; 3]>> = remaining
        .iter()
        .map(|i| i.order.location.map(unit_vector))
        .collect();
    let mut here = from;
    let mut here_v = unit_vector(from);
    while !remaining.is_empty() {
        let horizon = remaining[0].order.agenda_at + window;
        let pick = remaining
            .iter()
            .zip(&points)
            .enumerate()
            .take_while(|(_, (i, _))| i.order.agenda_at <= horizon)
            .filter_map(|(idx, (_, p))| p.map(|p| (idx, chord2(here_v, p))))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let idx = pick.map_or(0, |(idx, _)| idx);
        let mut item = remaining.remove(idx);
        let point = points.remove(idx);
        if let (Some(loc), Some(v)) = (item.order.location, point) {
            item.distance_m = pick.is_some().then(|| here.distance_m(&loc));
            here = loc;
            here_v = v;
        }
        out.push(item);
    }
    out
}

fn unit_vector(p: GeoPoint) -> [f64; 3] {
    let (lat, lon) = (p.lat.to_radians(), p.lon.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// The squared chord between two unit vectors.
fn chord2(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    x * x + y * y + z * z
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work_order::{Appointment, Priority, Status, WorkKind};
    use chrono::TimeZone;
    use uuid::Uuid;

    fn item(
        number: &str,
        area: &str,
        hour: u32,
        loc: Option<(f64, f64)>,
        status: Status,
    ) -> OrderSummary {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, hour, 0, 0).unwrap();
        OrderSummary {
            id: Uuid::now_v7(),
            number: number.into(),
            kind: WorkKind::MeterInstall,
            status,
            priority: Priority::Normal,
            customer_name: String::new(),
            address: String::new(),
            area: area.into(),
            location: loc.map(|(lat, lon)| GeoPoint { lat, lon }),
            appointment: Appointment::Slot {
                start: at,
                end: at + Duration::hours(1),
            },
            due_at: at + Duration::hours(1),
            agenda_at: at,
            urgency: None,
        }
    }

    fn numbers(groups: &[AgendaGroup]) -> Vec<Vec<&str>> {
        groups
            .iter()
            .map(|g| g.items.iter().map(|i| i.order.number.as_str()).collect())
            .collect()
    }

    #[test]
    fn groups_by_area_and_orders_by_time_without_position() {
        let start = Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, 0).unwrap();
        let orders = vec![
            item("B2", "north", 5, None, Status::Dispatched),
            item("A1", "south", 1, None, Status::Dispatched),
            item("B1", "north", 2, None, Status::Accepted),
            item("A0", "south", 0, None, Status::Completed),
        ];
        let groups = arrange(
            orders,
            start,
            &AgendaQuery::new(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()),
        );
        assert_eq!(numbers(&groups), vec![vec!["A1", "A0"], vec!["B1", "B2"]]);
    }

    #[test]
    fn nearest_next_within_the_window_but_time_beyond_it() {
        let start = Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, 0).unwrap();
        // All at 01:00-02:00 (within the 2 h window) except FAR_LATE at 06:00.
        let orders = vec![
            item("FAR", "a", 1, Some((30.10, 120.60)), Status::Dispatched),
            item("NEAR", "a", 2, Some((30.001, 120.501)), Status::Dispatched),
            item("MID", "a", 1, Some((30.02, 120.52)), Status::Dispatched),
            item("LATE_NEAR", "a", 6, Some((30.0, 120.5)), Status::Dispatched),
        ];
        let mut q = AgendaQuery::new(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
        q.position = Some(GeoPoint {
            lat: 30.0,
            lon: 120.5,
        });
        let groups = arrange(orders, start, &q);
        assert_eq!(
            numbers(&groups),
            vec![vec!["NEAR", "MID", "FAR", "LATE_NEAR"]]
        );
        let d = groups[0].items[0].distance_m.unwrap();
        assert!(d > 100.0 && d < 200.0, "{d}");
    }

    /// The route the chord comparison picks is the one haversine picks, with the same
    /// distances, for any day of orders around a city (some without a position).
    mod routes {
        use super::*;
        use proptest::prelude::*;

        fn by_haversine(
            mut remaining: Vec<AgendaItem>,
            from: GeoPoint,
            window: Duration,
        ) -> Vec<(String, Option<f64>)> {
            let mut out = Vec::new();
            let mut here = from;
            while !remaining.is_empty() {
                let horizon = remaining[0].order.agenda_at + window;
                let pick = remaining
                    .iter()
                    .enumerate()
                    .take_while(|(_, i)| i.order.agenda_at <= horizon)
                    .filter_map(|(idx, i)| i.order.location.map(|l| (idx, here.distance_m(&l))))
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                let (idx, d) = pick.map_or((0, None), |(i, d)| (i, Some(d)));
                let item = remaining.remove(idx);
                if let Some(l) = item.order.location {
                    here = l;
                }
                out.push((item.order.number, d));
            }
            out
        }

        proptest! {
            #[test]
            fn chord_and_haversine_pick_the_same_route(
                stops in proptest::collection::vec(
                    (0u32..10, proptest::option::weighted(0.9, (30.0f64..30.5, 120.0f64..120.5))),
                    1..40,
                ),
                window_h in 0i64..4,
            ) {
                let items: Vec<AgendaItem> = stops
                    .iter()
                    .enumerate()
                    .map(|(n, (hour, loc))| AgendaItem {
                        order: item(&format!("{n:03}"), "a", *hour, *loc, Status::Dispatched),
                        distance_m: None,
                        carried_over: false,
                    })
                    .collect();
                let mut items = items;
                items.sort_by(by_time);
                let from = GeoPoint { lat: 30.25, lon: 120.25 };
                let window = Duration::hours(window_h);
                let expected = by_haversine(items.clone(), from, window);
                let got: Vec<(String, Option<f64>)> = nearest_next(items, from, window)
                    .into_iter()
                    .map(|i| (i.order.number, i.distance_m))
                    .collect();
                prop_assert_eq!(got, expected);
            }
        }
    }
}
