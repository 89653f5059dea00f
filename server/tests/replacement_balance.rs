//! The prepaid balance read off a replaced meter (`old_balance`) is checked on the server as the
//! phone checks it when the crew types it: a push carrying a balance the phone would refuse is
//! rejected with a reason the crew can read, and nothing of it is stored.

mod common;

use chrono::{Duration, TimeZone, Utc};
use fieldcrew_core::hlc::Hlc;
use fieldcrew_core::reading::{Register, RegisterSpec};
use fieldcrew_core::store::{Entity, Op};
use fieldcrew_core::survey::MeterReplacement;
use fieldcrew_core::sync::wire::{Outcome, PushOp, RejectCode};
use fieldcrew_core::work_order::{
    Appointment, Customer, Meter, MeterRegister, Priority, Site, WorkKind,
};
use fieldcrew_server::storage::NewOrder;
use fieldcrew_server::{Caller, Role, SqliteStorage, Storage};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

fn meter(asset: &str, prepaid: bool) -> Meter {
    Meter {
        asset_number: asset.into(),
        phases: 1,
        registers: vec![MeterRegister {
            spec: RegisterSpec {
                register: Register::Total,
                int_digits: 6,
                decimals: 2,
            },
            last: None,
        }],
        multiplier: Decimal::ONE,
        prepaid,
        expected_daily_kwh: None,
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    storage: SqliteStorage,
    crew: Caller,
    order: Uuid,
}

/// Crew C1 with member m1, and one meter replacement order with a prepaid meter `P1` and an
/// ordinary one `N1` to replace, and the new meters `NEW-1` (ordinary) and `NEW-P` (prepaid).
fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("dir");
    let storage = SqliteStorage::open(dir.path()).expect("storage");
    common::crew_c1_and_dispatcher(&storage);
    let office = Caller {
        member_id: "d1".into(),
        crew_id: None,
        role: Role::Dispatcher,
        device: "office".into(),
    };
    let start = Utc
        .with_ymd_and_hms(2026, 11, 25, 1, 0, 0)
        .single()
        .expect("date");
    let order = storage
        .create_orders(
            &office,
            vec![NewOrder {
                id: None,
                number: "8001".into(),
                kind: WorkKind::MeterReplacement,
                priority: Priority::Normal,
                customer: Customer {
                    name: "customer".into(),
                    account_number: "A8001".into(),
                    phone: "13800000000".into(),
                },
                site: Site {
                    address: "1 Jiefang Rd".into(),
                    area: "Yuecheng".into(),
                    location: None,
                },
                // Dispatch lists the meters to fit too: an ordinary and a prepaid one.
                meters: vec![
                    meter("P1", true),
                    meter("N1", false),
                    meter("NEW-1", false),
                    meter("NEW-P", true),
                ],
                required_documents: None,
                appointment: Appointment::Slot {
                    start,
                    end: start + Duration::hours(2),
                },
                accepted_at: start - Duration::days(1),
                dispatch_notes: String::new(),
                crew_id: "C1".into(),
                member_id: None,
                fees: Vec::new(),
            }],
        )
        .expect("order")
        .remove(0)
        .order
        .id;
    let crew = Caller {
        member_id: "m1".into(),
        crew_id: Some("C1".into()),
        role: Role::Crew,
        device: "p1".into(),
    };
    Setup {
        _dir: dir,
        storage,
        crew,
        order,
    }
}

/// Pushes a replacement of `old_meter` whose `old_balance` is `balance` as raw JSON (absent when
/// `None`); the answer.
fn push(s: &Setup, old_meter: &str, balance: Option<Value>) -> Outcome {
    push_new(s, old_meter, balance, "NEW-1", None)
}

/// The same, fitting `new_meter` with the card `new_card`.
fn push_new(
    s: &Setup,
    old_meter: &str,
    balance: Option<Value>,
    new_meter: &str,
    new_card: Option<&str>,
) -> Outcome {
    let hlc = Hlc {
        wall_ms: Utc::now().timestamp_millis(),
        counter: 1,
        node: Uuid::now_v7(),
    };
    let record = MeterReplacement {
        id: Uuid::now_v7(),
        order_id: s.order,
        old_meter: old_meter.into(),
        old_balance: None,
        new_meter: new_meter.into(),
        new_card: new_card.map(Into::into),
        at: Utc::now(),
        member_id: "m1".into(),
        hlc,
    };
    let mut fields = serde_json::to_value(&record).expect("json");
    match balance {
        Some(b) => fields["old_balance"] = b,
        None => {
            fields
                .as_object_mut()
                .expect("object")
                .remove("old_balance");
        }
    }
    let op = PushOp {
        op_id: Uuid::now_v7(),
        entity: Entity::Replacement,
        entity_id: record.id.to_string(),
        order_id: s.order,
        op: Op::Create,
        fields,
        base_version: 1,
        hlc,
    };
    let (mut answers, _) = s.storage.push(&s.crew, &[op]).expect("push");
    assert_eq!(answers.len(), 1);
    answers.remove(0).outcome
}

fn stored_balances(s: &Setup) -> Vec<Option<String>> {
    s.storage
        .order_detail(s.order)
        .expect("detail")
        .replacements
        .iter()
        .map(|r| r.old_balance.map(|b| b.to_string()))
        .collect()
}

#[test]
fn a_balance_the_phone_would_refuse_is_rejected_and_not_stored() {
    let s = setup();
    let invalid = |reason: &str| Outcome::Rejected {
        code: RejectCode::Invalid,
        reason: reason.into(),
    };
    let not_a_decimal = invalid(
        "malformed replacement: old_balance: invalid value, expected a Decimal type representing \
         a fixed-point number",
    );
    let cases: Vec<(&str, Option<Value>, Outcome)> = vec![
        (
            "P1",
            Some(json!("1e20")),
            invalid("old_balance: at most 999999999.99 yuan, above or below zero"),
        ),
        (
            "P1",
            Some(json!("-1000000000")),
            invalid("old_balance: at most 999999999.99 yuan, above or below zero"),
        ),
        (
            "P1",
            Some(json!("35.205")),
            invalid("old_balance: a money amount has at most two decimals"),
        ),
        ("P1", Some(json!("NaN")), not_a_decimal.clone()),
        ("P1", Some(json!("Infinity")), not_a_decimal.clone()),
        ("P1", Some(json!("-inf")), not_a_decimal),
        (
            "P1",
            Some(json!(35.2)),
            invalid(
                "malformed replacement: old_balance: wrong type, expected a Decimal type \
                 representing a fixed-point number",
            ),
        ),
        (
            "P1",
            None,
            invalid("old_balance: the old meter is prepaid; the balance left on it is required"),
        ),
        (
            "P1",
            Some(Value::Null),
            invalid("old_balance: the old meter is prepaid; the balance left on it is required"),
        ),
        (
            "N1",
            Some(json!("35.20")),
            invalid("old_balance: the old meter is not prepaid, so it has no balance"),
        ),
        (
            "N1",
            Some(json!("0")),
            invalid("old_balance: the old meter is not prepaid, so it has no balance"),
        ),
    ];
    for (meter, balance, want) in cases {
        let got = push(&s, meter, balance.clone());
        assert_eq!(got, want, "{meter} {balance:?}");
    }
    assert_eq!(stored_balances(&s), Vec::<Option<String>>::new());

    // What the phone takes is taken: a balance on the prepaid meter (negative too, as on meters
    // with emergency credit), none on the ordinary one.
    for (meter, balance) in [
        ("P1", Some(json!("35.20"))),
        ("P1", Some(json!("-12.5"))),
        ("P1", Some(json!("999999999.99"))),
        ("N1", None),
        ("N1", Some(Value::Null)),
    ] {
        assert_eq!(
            push(&s, meter, balance.clone()),
            Outcome::Applied,
            "{meter} {balance:?}"
        );
    }
    let mut stored = stored_balances(&s);
    stored.sort();
    assert_eq!(
        stored,
        [
            None,
            None,
            Some("-12.5".to_owned()),
            Some("35.20".to_owned()),
            Some("999999999.99".to_owned())
        ]
    );
}

/// The new meter must be on the order (dispatch listed it or the phone installed it first), and
/// a prepaid one needs its card, as on the phone; refused ones leave nothing stored.
#[test]
fn the_new_meter_is_on_the_order_and_a_prepaid_one_has_its_card() {
    let s = setup();
    let invalid = |reason: &str| Outcome::Rejected {
        code: RejectCode::Invalid,
        reason: reason.into(),
    };
    assert_eq!(
        push_new(&s, "N1", None, "GHOST-9", None),
        invalid(
            "new_meter: meter GHOST-9 is not on this order; it is installed before it replaces one"
        )
    );
    assert_eq!(
        push_new(&s, "N1", None, "NEW-P", None),
        invalid("new_card: the new meter is prepaid; its card's number is required")
    );
    assert!(stored_balances(&s).is_empty(), "nothing refused was stored");
    assert_eq!(
        push_new(&s, "N1", None, "NEW-P", Some("CARD7788")),
        Outcome::Applied
    );
    let stored = s
        .storage
        .order_detail(s.order)
        .expect("detail")
        .replacements;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].new_meter.as_str(), stored[0].new_card.as_deref()),
        ("NEW-P", Some("CARD7788"))
    );
}
