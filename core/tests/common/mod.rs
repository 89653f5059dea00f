//! Shared set-up for the store tests: a store on a temp dir with a settable clock, and orders
//! built field by field so each test states what it depends on.
#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use fieldcrew_core::clock::ManualClock;
use fieldcrew_core::geo::GeoPoint;
use fieldcrew_core::reading::{HistoryPoint, Register, RegisterSpec};
use fieldcrew_core::store::{Session, Store, StoreOptions};
use fieldcrew_core::work_order::{
    Appointment, Customer, Meter, MeterRegister, Priority, Site, Status, WorkKind, WorkOrder,
};
use rust_decimal::Decimal;
use tempfile::TempDir;
use uuid::Uuid;

pub struct TestStore {
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub dir: TempDir,
}

/// 2026-11-25 09:00 China time.
pub fn morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 1, 0, 0).unwrap()
}

pub fn open_at(now: DateTime<Utc>) -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let store = Store::open(dir.path().join("crew.db"), options(&clock)).unwrap();
    store
        .sign_in(&Session {
            member_id: "m-li".into(),
            crew_id: "crew-west".into(),
        })
        .unwrap();
    TestStore { store, clock, dir }
}

pub fn options(clock: &Arc<ManualClock>) -> StoreOptions {
    StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    }
}

pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn register(register: Register, last: Option<(&str, DateTime<Utc>)>) -> MeterRegister {
    MeterRegister {
        spec: RegisterSpec {
            register,
            int_digits: 6,
            decimals: 2,
        },
        last: last.map(|(v, at)| HistoryPoint { value: dec(v), at }),
    }
}

/// A single-rate meter last read at 1000.00 thirty days before `morning()`, using ~10 kWh a day.
pub fn meter(asset: &str) -> Meter {
    Meter {
        asset_number: asset.into(),
        phases: 1,
        registers: vec![register(
            Register::Total,
            Some(("1000.00", morning() - Duration::days(30))),
        )],
        multiplier: Decimal::ONE,
        prepaid: false,
        expected_daily_kwh: Some(dec("10")),
    }
}

pub fn order(number: &str, kind: WorkKind, start: DateTime<Utc>) -> WorkOrder {
    WorkOrder {
        id: Uuid::now_v7(),
        number: number.into(),
        kind,
        status: Status::Dispatched,
        priority: Priority::Normal,
        customer: Customer {
            name: "王秀英".into(),
            account_number: "3300001234".into(),
            phone: "13800138000".into(),
        },
        site: Site {
            address: "杭州市西湖区文三路90号".into(),
            area: "西湖供电所".into(),
            location: Some(GeoPoint::new(30.27, 120.13).unwrap()),
        },
        meters: vec![meter("3310140000001")],
        required_documents: kind.default_documents().to_vec(),
        appointment: Appointment::Slot {
            start,
            end: start + Duration::hours(2),
        },
        accepted_at: start - Duration::days(1),
        dispatch_notes: String::new(),
        crew_notes: String::new(),
        survey: None,
        crew_id: "crew-west".into(),
        member_id: None,
        version: 3,
    }
}
