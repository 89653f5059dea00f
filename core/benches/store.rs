//! Store benchmark on a 50,000-order phone store: open and migrate, agenda for a day, search,
//! record a validated reading. Prints p50/p95 per operation.
//!
//! `cargo bench -p fieldcrew-core --bench store` (add `-- --orders N` for another size).
//! Targets on the 2-core CI machines: agenda p50 <= 5 ms, search p50 <= 10 ms, reading p50 <= 1 ms.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use fieldcrew_core::fixtures::CityDay;
use fieldcrew_core::geo::GeoPoint;
use fieldcrew_core::reading::{ReadingPurpose, Register};
use fieldcrew_core::store::{
    AgendaQuery, ReadingEntry, RegisterValue, Session, Store, StoreKey, StoreOptions,
};
use fieldcrew_core::work_order::Status;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let orders = args
        .iter()
        .position(|a| a == "--orders")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000usize);
    let plain = run(orders, None);
    let key = StoreKey::from_bytes(&[0x5a; 32]).expect("key");
    let encrypted = run(orders, Some(key));
    println!("encryption overhead (SQLCipher, AES-256), p50 encrypted / plain:");
    for ((name, a), (_, b)) in plain.iter().zip(&encrypted) {
        println!("  {name:<48} {:>+6.1} %", (b / a - 1.0) * 100.0);
    }
}

/// One full run; returns the p50 of each timed operation.
fn run(orders: usize, key: Option<StoreKey>) -> Vec<(String, f64)> {
    let mut figures = Vec::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
    let options = || StoreOptions {
        key: key.clone(),
        ..StoreOptions::default()
    };

    let mut city = CityDay::new(42, orders, day);
    city.spread_days = 30;
    let mut all = city.generate();
    // History: past days' work is done; today's is on site, so readings can be taken.
    for o in &mut all {
        let d = o.appointment.agenda_at(o.accepted_at);
        if d < fieldcrew_core::fixtures::local_midnight(day) {
            o.status = Status::Completed;
        } else if d < fieldcrew_core::fixtures::local_midnight(day.succ_opt().expect("day")) {
            o.status = Status::Arrived;
        }
    }

    let t = Instant::now();
    let store = Store::open(&path, options()).expect("open");
    let create = t.elapsed();
    store
        .sign_in(&Session {
            member_id: "m-bench".into(),
            crew_id: "crew-west".into(),
        })
        .expect("sign in");
    let t = Instant::now();
    for chunk in all.chunks(1000) {
        store.save_server_orders(chunk).expect("load");
    }
    let load = t.elapsed();
    drop(store);
    let t = Instant::now();
    let store = Store::open(&path, options()).expect("reopen");
    let reopen = t.elapsed();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

    println!(
        "fieldcrew store benchmark ({}): {orders} orders, file {:.1} MiB",
        if key.is_some() { "encrypted" } else { "plain" },
        size as f64 / 1048576.0
    );
    println!("  create + migrate        {:>9.2} ms", ms(create));
    println!(
        "  load {orders} orders    {:>9.2} ms ({:.1} µs/order)",
        ms(load),
        load.as_secs_f64() * 1e6 / orders as f64
    );
    println!("  reopen (migrated)       {:>9.2} ms", ms(reopen));

    let query = AgendaQuery::new(day);
    let n_today = store
        .agenda(&query)
        .expect("agenda")
        .iter()
        .map(|g| g.items.len())
        .sum::<usize>();
    figures.push(report(
        &format!("agenda for a day ({n_today} orders)"),
        200,
        |_| {
            std::hint::black_box(store.agenda(&query).expect("agenda"));
        },
    ));
    let mut near = AgendaQuery::new(day);
    near.position = GeoPoint::new(30.26, 120.13).ok();
    figures.push(report("agenda, nearest-next", 200, |_| {
        std::hint::black_box(store.agenda(&near).expect("agenda"));
    }));

    let probes: Vec<String> = all
        .iter()
        .step_by(all.len().max(200) / 200)
        .take(200)
        .enumerate()
        .map(|(i, o)| match i % 5 {
            0 => o.number.clone(),
            1 => o.customer.account_number.clone(),
            2 => o.customer.name.clone(),
            3 => o.site.address.chars().skip(6).take(6).collect(),
            _ => o
                .meters
                .first()
                .map(|m| m.asset_number[6..].to_owned())
                .unwrap_or_else(|| o.number.clone()),
        })
        .collect();
    figures.push(report(
        "search (number, account, name, address, asset)",
        probes.len(),
        |i| {
            std::hint::black_box(store.search(&probes[i], 50).expect("search"));
        },
    ));

    let on_site: Vec<_> = all
        .iter()
        .filter(|o| {
            o.status == Status::Arrived && o.meters.first().is_some_and(|m| m.registers.len() == 1)
        })
        .collect();
    figures.push(report(
        &format!("record a validated reading ({} orders)", on_site.len()),
        on_site.len().min(500),
        |i| {
            let o = on_site[i];
            let m = &o.meters[0];
            let last = m
                .register(Register::Total)
                .and_then(|r| r.last)
                .map(|h| h.value)
                .unwrap_or_default();
            let expected =
                m.expected_daily_kwh.unwrap_or_default() * rust_decimal::Decimal::from(30);
            let entry = ReadingEntry {
                order_id: o.id,
                meter_asset: m.asset_number.clone(),
                purpose: ReadingPurpose::Check,
                values: vec![RegisterValue {
                    register: Register::Total,
                    raw: (last + expected).round_dp(2).to_string(),
                }],
                photo_id: None,
                supersedes: vec![],
                confirmations: vec![],
            };
            store
                .record_readings(&entry)
                .expect("a plausible reading records");
        },
    ));
    println!(
        "  pending outbox entries  {:>9}",
        store.pending_count().expect("count")
    );
    figures
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(name: &str, n: usize, mut f: impl FnMut(usize)) -> (String, f64) {
    if n == 0 {
        println!("  {name:<48} (no samples)");
        return (name.to_owned(), f64::NAN);
    }
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect();
    times.sort();
    let p = |q: f64| ms(times[((n as f64 - 1.0) * q).round() as usize]);
    println!(
        "  {name:<48} p50 {:>7.3} ms  p95 {:>7.3} ms  (n={n})",
        p(0.5),
        p(0.95)
    );
    (name.split(" (").next().unwrap_or(name).to_owned(), p(0.5))
}
