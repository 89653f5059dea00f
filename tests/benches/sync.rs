//! Sync benchmark over loopback with the real server (run: `cargo bench -p fieldcrew-e2e`).
//!
//! 1. A crew's initial pull of 10,000 orders into an empty phone store, plain and encrypted.
//! 2. A push of 1,000 completed orders, each with its arrival, a reading and its completion
//!    (3,000 operations), and the pull of the 1,000 updated orders that follows it.
//!
//! `FIELDCREW_BENCH_DETAIL=1` also prints the server-side page building and the JSON parse alone.
//!
//! The peer (PouchDB/CouchDB replication on LevelDB) takes about 3 s for each on these
//! 2-core machines; the target is a tenth of that.

use std::time::Instant;

use fieldcrew_core::store::{Session, Store, StoreKey, StoreOptions};
use fieldcrew_core::sync::SyncPhase;
use fieldcrew_core::work_order::{Status, WorkKind};
use fieldcrew_e2e::{World, new_order};
use fieldcrew_server::{Caller, Role, Storage};

fn dispatcher() -> Caller {
    Caller {
        member_id: "d1".into(),
        crew_id: None,
        role: Role::Dispatcher,
        device: "bench".into(),
    }
}

fn seed(w: &World, crew: &str, prefix: &str, n: usize) {
    let orders: Vec<_> = (0..n)
        .map(|i| {
            let mut o = new_order(
                &format!("{prefix}{i:06}"),
                crew,
                WorkKind::MeterCheck,
                (i % 10) as i64,
            );
            o.customer.name = format!("客户{i}");
            o
        })
        .collect();
    for chunk in orders.chunks(2000) {
        w.server
            .storage()
            .create_orders(&dispatcher(), chunk.to_vec())
            .expect("seeded");
    }
}

fn main() {
    let runs = 3;
    let mut pulls = Vec::new();
    let mut encrypted_pulls = Vec::new();
    let mut pushes = Vec::new();
    let mut push_only = Vec::new();
    for _ in 0..runs {
        let w = World::new();
        seed(&w, "C1", "P", 10_000);
        if std::env::var_os("FIELDCREW_BENCH_DETAIL").is_some() {
            let t = Instant::now();
            let mut cursor = 0;
            let mut bodies = Vec::new();
            loop {
                let body = w.server.storage().pull("C1", cursor, 1000).expect("pull");
                let page: fieldcrew_core::sync::wire::PullResponse =
                    serde_json::from_str(&body).expect("page");
                cursor = page.cursor;
                bodies.push(body);
                if !page.more {
                    break;
                }
            }
            let server_and_parse = t.elapsed();
            let t = Instant::now();
            for b in &bodies {
                let _: fieldcrew_core::sync::wire::PullResponse =
                    serde_json::from_str(b).expect("page");
            }
            println!(
                "  detail: storage pages + parse {:?}, parse alone {:?}, {} bytes",
                server_and_parse,
                t.elapsed(),
                bodies.iter().map(|b| b.len()).sum::<usize>()
            );
        }
        let phone = w.device("bench-pull", "m1", "C1");
        let t = Instant::now();
        let report = phone.sync().expect("pull");
        pulls.push(t.elapsed());
        assert_eq!(report.orders_received, 10_000);
        assert_eq!(phone.store.count_by_status().expect("count")[0].1, 10_000);

        // The same into an encrypted store, as phones run (the bindings always give a key).
        let dir = w.dir.path().join("bench-pull-encrypted");
        std::fs::create_dir_all(&dir).expect("dir");
        let store = Store::open(
            dir.join("phone.sqlite3"),
            StoreOptions {
                key: Some(StoreKey::from_bytes(&[0x5a; 32]).expect("key")),
                ..StoreOptions::default()
            },
        )
        .expect("encrypted store");
        store
            .sign_in(&Session {
                member_id: "m2".into(),
                crew_id: "C1".into(),
            })
            .expect("sign in");
        let client = fieldcrew_e2e::client(&w.server.url(), &w.token("m2", "bench-pull-encrypted"));
        let t = Instant::now();
        let report = client.sync(&store, &mut |_| {}).expect("pull");
        encrypted_pulls.push(t.elapsed());
        assert_eq!(report.orders_received, 10_000);

        seed(&w, "C2", "Q", 1_000);
        let crew2 = w.device("bench-push", "m3", "C2");
        crew2.sync().expect("initial pull");
        let ids: Vec<_> = crew2
            .store
            .orders_by_status(&[], 2_000)
            .expect("list")
            .into_iter()
            .map(|o| o.id)
            .collect();
        for id in &ids {
            let order = crew2.store.order(*id).expect("order");
            crew2.complete(&order, "1012.5");
        }
        assert_eq!(crew2.store.pending_count().expect("pending"), 3_000);
        let t = Instant::now();
        let mut pushed_at = None;
        let report = crew2
            .client
            .sync(&crew2.store, &mut |p| {
                if p.phase == SyncPhase::Pull && pushed_at.is_none() {
                    pushed_at = Some(t.elapsed());
                }
            })
            .expect("push");
        pushes.push(t.elapsed());
        push_only.push(pushed_at.unwrap_or_default());
        assert_eq!((report.pushed, report.applied), (3_000, 3_000));
        assert_eq!(report.orders_received, 1_000);
        let done = w
            .server
            .storage()
            .list_orders(&fieldcrew_server::storage::OrderFilter {
                crew_id: Some("C2".into()),
                status: Some(Status::Completed),
                limit: Some(1000),
                ..Default::default()
            })
            .expect("list");
        assert_eq!(done.len(), 1_000);
    }
    let best = |v: &[std::time::Duration]| v.iter().min().copied().unwrap_or_default();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!("sync benchmark, loopback, best of {runs}:");
    println!(
        "  initial pull of 10,000 orders into an empty store: {:8.1} ms  (runs: {:?})",
        ms(best(&pulls)),
        pulls.iter().map(|d| ms(*d).round()).collect::<Vec<_>>()
    );
    println!(
        "  the same into an encrypted store (AEGIS-256, as on phones): {:8.1} ms  (runs: {:?})",
        ms(best(&encrypted_pulls)),
        encrypted_pulls
            .iter()
            .map(|d| ms(*d).round())
            .collect::<Vec<_>>()
    );
    println!(
        "  push of 1,000 completed orders with readings (3,000 ops): {:8.1} ms  (runs: {:?})",
        ms(best(&push_only)),
        push_only.iter().map(|d| ms(*d).round()).collect::<Vec<_>>()
    );
    println!(
        "  the same sync including the pull of the 1,000 updated orders: {:8.1} ms",
        ms(best(&pushes))
    );
}
