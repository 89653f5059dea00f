//! Logs carry ids, never personal data: a crew day runs with every log level captured, and the
//! output is scanned for the customers' names, phone numbers, account numbers, addresses and the
//! coordinates of their sites and of the crew.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use common::*;
use fieldcrew_core::fixtures::CityDay;
use fieldcrew_core::geo::Fix;
use fieldcrew_core::reading::{Confirmation, ReadingPurpose, Register};
use fieldcrew_core::store::{AgendaQuery, ReadingEntry, RegisterValue, StatusReport};
use fieldcrew_core::work_order::{Status, WorkKind};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_crew_day_logs_no_personal_data() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();

    let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let mut orders = CityDay::new(11, 60, day).generate();
    for o in &mut orders {
        o.crew_id = "crew-west".into();
    }

    tracing::subscriber::with_default(subscriber, || {
        let t = open_at(morning());
        t.store.save_server_orders(&orders).unwrap();
        let agenda = t.store.agenda(&AgendaQuery::new(day)).unwrap();
        assert!(!agenda.is_empty());
        // The member searches by a customer's name and phone: the queries are personal data.
        assert!(
            !t.store
                .search(&orders[0].customer.name, 5)
                .unwrap()
                .is_empty()
        );
        t.store.search(&orders[1].customer.phone, 5).unwrap();

        let with_meter: Vec<_> = orders
            .iter()
            .filter(|o| {
                o.kind != WorkKind::SiteSurvey
                    && o.meters.first().is_some_and(|m| m.registers.len() == 1)
            })
            .take(5)
            .collect();
        assert!(with_meter.len() >= 3);
        for o in &with_meter {
            let site = o.site.location.unwrap();
            for to in [Status::Accepted, Status::EnRoute, Status::Arrived] {
                if o.status == Status::Accepted && to == Status::Accepted {
                    continue;
                }
                t.store
                    .report_status(&StatusReport {
                        order_id: o.id,
                        to,
                        reason: None,
                        note: format!("到达{}家", o.customer.name),
                        fix: Some(Fix::new(site.lat, site.lon, Some(6.0)).unwrap()),
                    })
                    .unwrap();
            }
            let m = &o.meters[0];
            let mut entry = ReadingEntry {
                order_id: o.id,
                meter_asset: m.asset_number.clone(),
                purpose: ReadingPurpose::Check,
                values: vec![RegisterValue {
                    register: Register::Total,
                    raw: "12,3a".into(),
                }],
                photo_id: None,
                supersedes: vec![],
                confirmations: vec![],
            };
            assert!(t.store.record_readings(&entry).is_err());
            let last = m.registers[0].last.unwrap().value;
            entry.values[0].raw = (last + rust_decimal::Decimal::from(90_000)).to_string();
            let warnings = t.store.check_readings(&entry).unwrap();
            assert!(t.store.record_readings(&entry).is_err());
            entry.confirmations = warnings
                .iter()
                .map(|w| Confirmation {
                    code: w.code,
                    register: w.register,
                    reason: format!("{}说家里开了厂", o.customer.name),
                })
                .collect();
            t.store.record_readings(&entry).unwrap();
            t.store
                .set_crew_notes(
                    o.id,
                    &format!("联系{} {}", o.customer.name, o.customer.phone),
                )
                .unwrap();
            // A failing write logs its error.
            assert!(t.store.add_evaluation(o.id, 9, &o.customer.name).is_err());
        }
    });

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for expected in [
        "status reported",
        "readings recorded",
        "search",
        "agenda",
        "write rolled back",
    ] {
        assert!(
            logs.contains(expected),
            "the day is logged ({expected} missing):\n{logs}"
        );
    }
    for o in &orders {
        let mut personal = vec![
            o.customer.name.clone(),
            o.customer.phone.clone(),
            o.customer.account_number.clone(),
            o.site.address.clone(),
        ];
        if let Some(p) = o.site.location {
            personal.push(format!("{:.4}", p.lat));
            personal.push(format!("{:.4}", p.lon));
        }
        for secret in personal {
            assert!(
                !logs.contains(&secret),
                "personal data {secret:?} in the logs"
            );
        }
    }
}
