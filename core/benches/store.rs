//! Store benchmark on a 50,000-order phone store: open and migrate, agenda for a day, search,
//! record a validated reading, each on a plain and on an encrypted store. Prints p50/p95 per
//! operation and what encryption costs.
//!
//! `cargo bench -p fieldcrew-core --bench store` (add `-- --orders N` for another size).
//! Targets on the 2-core CI machines: agenda p50 <= 5 ms, search p50 <= 10 ms, reading p50 <= 1 ms;
//! encryption at most +15 % on reading entry and agenda queries.
//!
//! The two stores hold the same orders and take the same operations in turn, sample by sample
//! (plain, encrypted, plain, ...), so a busy machine slows both alike and the overhead figure
//! compares like with like. The first sample of each pair alternates too. `--only plain` or
//! `--only encrypted` runs two stores of one kind instead, for profiling one of them.
//! `--warm` keeps each store open after loading it (caches as a sync left them) instead of
//! reopening it as after a restart, where every order's pages are first read from the file.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use fieldcrew_core::fixtures::CityDay;
use fieldcrew_core::geo::GeoPoint;
use fieldcrew_core::reading::{ReadingPurpose, Register};
use fieldcrew_core::store::{
    AgendaQuery, ReadingEntry, RegisterValue, Session, Store, StoreKey, StoreOptions,
};
use fieldcrew_core::work_order::{Status, WorkOrder};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let orders = args
        .iter()
        .position(|a| a == "--orders")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000usize);
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
    let all = city(orders, day);
    let key = StoreKey::from_bytes(&[0x5a; 32]).expect("key");
    // `--only plain|encrypted` runs the operations on one kind of store twice (for profiling).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let kind = |name: &'static str| match only {
        None => name,
        Some("encrypted") => "encrypted",
        Some(_) => "plain",
    };
    let open = |name: &'static str| {
        let key = (kind(name) == "encrypted").then(|| key.clone());
        Loaded::new(kind(name), &all, key)
    };
    let stores = [open("plain"), open("encrypted")];
    println!("fieldcrew store benchmark: {orders} orders, plain and encrypted in turn");

    let query = AgendaQuery::new(day);
    let n_today = stores[0]
        .store
        .agenda(&query)
        .expect("agenda")
        .iter()
        .map(|g| g.items.len())
        .sum::<usize>();
    let mut figures = Vec::new();
    figures.push(paired(
        &format!("agenda for a day ({n_today} orders)"),
        &stores,
        200,
        |s, _| {
            std::hint::black_box(s.agenda(&query).expect("agenda"));
        },
    ));
    let mut near = AgendaQuery::new(day);
    near.position = GeoPoint::new(30.26, 120.13).ok();
    figures.push(paired("agenda, nearest-next", &stores, 200, |s, _| {
        std::hint::black_box(s.agenda(&near).expect("agenda"));
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
    figures.push(paired(
        "search (number, account, name, address, asset)",
        &stores,
        probes.len(),
        |s, i| {
            std::hint::black_box(s.search(&probes[i], 50).expect("search"));
        },
    ));

    let on_site: Vec<_> = all
        .iter()
        .filter(|o| {
            o.status == Status::Arrived && o.meters.first().is_some_and(|m| m.registers.len() == 1)
        })
        .collect();
    figures.push(paired(
        &format!("record a validated reading ({} orders)", on_site.len()),
        &stores,
        on_site.len().min(500),
        |s, i| {
            s.record_readings(&reading_for(on_site[i]))
                .expect("a plausible reading records");
        },
    ));
    for s in &stores {
        println!(
            "  {:<10} pending outbox entries {}",
            s.name,
            s.store.pending_count().expect("count")
        );
    }
    println!(
        "encryption overhead (SQLite3 Multiple Ciphers, AEGIS-256 pages), p50 encrypted / plain:"
    );
    for (name, plain, encrypted) in figures {
        println!("  {name:<48} {:>+6.1} %", (encrypted / plain - 1.0) * 100.0);
    }
}

/// `orders` orders over 30 days around `day`: past days' work is done; today's is on site, so
/// readings can be taken.
fn city(orders: usize, day: NaiveDate) -> Vec<WorkOrder> {
    let mut city = CityDay::new(42, orders, day);
    city.spread_days = 30;
    let mut all = city.generate();
    let today = fieldcrew_core::fixtures::local_midnight(day);
    let tomorrow = fieldcrew_core::fixtures::local_midnight(day.succ_opt().expect("day"));
    for o in &mut all {
        let d = o.appointment.agenda_at(o.accepted_at);
        if d < today {
            o.status = Status::Completed;
        } else if d < tomorrow {
            o.status = Status::Arrived;
        }
    }
    all
}

/// A check reading 30 days of usual consumption above the meter's last one.
fn reading_for(o: &WorkOrder) -> ReadingEntry {
    let m = &o.meters[0];
    let last = m
        .register(Register::Total)
        .and_then(|r| r.last)
        .map(|h| h.value)
        .unwrap_or_default();
    let expected = m.expected_daily_kwh.unwrap_or_default() * rust_decimal::Decimal::from(30);
    ReadingEntry {
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
    }
}

/// A store loaded with the orders, reopened as a shell would after a restart.
struct Loaded {
    name: &'static str,
    store: Store,
    _dir: tempfile::TempDir,
}

impl Loaded {
    fn new(name: &'static str, all: &[WorkOrder], key: Option<StoreKey>) -> Loaded {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bench.db");
        let options = || StoreOptions {
            key: key.clone(),
            ..StoreOptions::default()
        };
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
        // `--warm`: keep the store the load filled, caches and all (a session that synced and
        // then works), instead of reopening it as after a restart.
        let keep = std::env::args().any(|a| a == "--warm");
        let mut reopen = Duration::ZERO;
        let store = if keep {
            store
        } else {
            drop(store);
            let t = Instant::now();
            let s = Store::open(&path, options()).expect("reopen");
            reopen = t.elapsed();
            s
        };
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "{name} store: {} orders, file {:.1} MiB; create + migrate {:.2} ms, load {:.0} ms ({:.1} µs/order), {}",
            all.len(),
            size as f64 / 1048576.0,
            ms(create),
            ms(load),
            load.as_secs_f64() * 1e6 / all.len().max(1) as f64,
            if keep {
                "kept open (--warm)".to_owned()
            } else {
                format!("reopen {:.2} ms", ms(reopen))
            }
        );
        Loaded {
            name,
            store,
            _dir: dir,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `f` `n` times on each store, alternating; prints each store's p50/p95 and returns the
/// operation's name with the plain and encrypted p50.
fn paired(
    name: &str,
    stores: &[Loaded; 2],
    n: usize,
    mut f: impl FnMut(&Store, usize),
) -> (String, f64, f64) {
    let short = name.split(" (").next().unwrap_or(name).to_owned();
    if n == 0 {
        println!("  {name:<48} (no samples)");
        return (short, f64::NAN, f64::NAN);
    }
    let mut times = [Vec::with_capacity(n), Vec::with_capacity(n)];
    for i in 0..n {
        for k in [i % 2, 1 - i % 2] {
            let t = Instant::now();
            f(&stores[k].store, i);
            times[k].push(t.elapsed());
        }
    }
    let mut p50 = [0.0; 2];
    for (k, t) in times.iter_mut().enumerate() {
        t.sort();
        let p = |q: f64| ms(t[((n as f64 - 1.0) * q).round() as usize]);
        p50[k] = p(0.5);
        println!(
            "  {name:<48} {:<10} p50 {:>7.3} ms  p95 {:>7.3} ms  (n={n})",
            stores[k].name,
            p(0.5),
            p(0.95)
        );
    }
    (short, p50[0], p50[1])
}
