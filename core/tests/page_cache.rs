//! The page-cache wrapper (`store::page_cache`): installed by the first store a process opens,
//! it skips the truncates that would drop nothing (those after a balance parked a page at the
//! lock page would walk the whole cache), and the store reads back everything it wrote.
//! Its own test binary, so no other test starts SQLite first.

use chrono::NaiveDate;
use fieldcrew_core::fixtures::CityDay;
use fieldcrew_core::store::{Session, Store, StoreKey, StoreOptions, page_cache_stats};

#[test]
fn balances_skip_the_cache_scan_and_every_order_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let options = || StoreOptions {
        key: Some(StoreKey::from_bytes(&[7; 32]).unwrap()),
        ..StoreOptions::default()
    };
    let store = Store::open(&path, options()).unwrap();
    let (installed, before) = page_cache_stats();
    assert!(
        installed,
        "the first store of the process installs the wrapper"
    );
    store
        .sign_in(&Session {
            member_id: "m-1".into(),
            crew_id: "crew-west".into(),
        })
        .unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let orders = CityDay::new(7, 3000, day).generate();
    for chunk in orders.chunks(250) {
        store.save_server_orders(chunk).unwrap();
    }
    let (_, after) = page_cache_stats();
    // Inserting 3,000 orders into 1 KiB pages balances B-trees hundreds of times; in some
    // commits a balance parks a page at the lock page, and the commit's truncate to the file's
    // size, which the default cache would have answered by walking all its pages, is skipped.
    assert!(after > before, "no cache walk saved");

    // Reopened (fresh caches) and read through the wrapped cache: every order as written.
    drop(store);
    let store = Store::open(&path, options()).unwrap();
    for o in &orders {
        let back = store.order(o.id).unwrap();
        assert_eq!(back.number, o.number);
        assert_eq!(back.meters.len(), o.meters.len());
        assert_eq!(back.customer.name, o.customer.name);
    }
}
