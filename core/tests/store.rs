//! The crew phone's store through its public API: the day's work from arrival to completion,
//! with every change queued for the server in the same transaction as the change itself.

mod common;

use chrono::Duration;
use common::*;
use fieldcrew_core::Error;
use fieldcrew_core::geo::Fix;
use fieldcrew_core::reading::{
    Confirmation, ParseError, ReadingError, ReadingPurpose, Register, WarningCode,
};
use fieldcrew_core::store::{
    Entity, Op, ReadingEntry, RegisterValue, ReplacementEntry, Session, StatusReport, Store,
};
use fieldcrew_core::survey::{ConnectionPoint, SiteSurvey, Voltage};
use fieldcrew_core::work_order::{Status, SuspendReason, WorkKind, WorkOrder};
use rusqlite::Connection;
use uuid::Uuid;

fn report(store: &Store, order: Uuid, to: Status) -> Result<(), Error> {
    store
        .report_status(&StatusReport {
            order_id: order,
            to,
            reason: None,
            note: String::new(),
            fix: Some(Fix::new(30.2701, 120.1302, Some(8.0)).unwrap()),
        })
        .map(|_| ())
}

/// Dispatched order brought on site (accepted, en route, arrived).
fn on_site(t: &TestStore, kind: WorkKind) -> WorkOrder {
    let o = order("GD20261125000001", kind, morning());
    t.store
        .save_server_orders(std::slice::from_ref(&o))
        .unwrap();
    for to in [Status::Accepted, Status::EnRoute, Status::Arrived] {
        report(&t.store, o.id, to).unwrap();
    }
    o
}

fn total(raw: &str) -> Vec<RegisterValue> {
    vec![RegisterValue {
        register: Register::Total,
        raw: raw.into(),
    }]
}

fn entry(order: &WorkOrder, purpose: ReadingPurpose, raw: &str) -> ReadingEntry {
    ReadingEntry {
        order_id: order.id,
        meter_asset: order.meters[0].asset_number.clone(),
        purpose,
        values: total(raw),
        photo_id: None,
        supersedes: vec![],
        confirmations: vec![],
    }
}

#[test]
fn a_crew_day_writes_each_change_with_its_outbox_entry() {
    let t = open_at(morning());
    let o = order("GD1", WorkKind::MeterRemoval, morning());
    t.store
        .save_server_orders(std::slice::from_ref(&o))
        .unwrap();
    assert_eq!(
        t.store.pending_count().unwrap(),
        0,
        "server state is not queued"
    );

    for to in [
        Status::Accepted,
        Status::EnRoute,
        Status::Arrived,
        Status::InProgress,
    ] {
        t.clock.advance(Duration::minutes(10));
        report(&t.store, o.id, to).unwrap();
    }
    // Thirty days at 10 kWh a day since 1000.00.
    let saved = t
        .store
        .record_readings(&entry(&o, ReadingPurpose::RemovedMeterFinal, " 1298,5 "))
        .unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].value, dec("1298.5"));
    assert_eq!(saved[0].member_id, "m-li");
    report(&t.store, o.id, Status::Completed).unwrap();

    let pending = t.store.pending(100).unwrap();
    let kinds: Vec<_> = pending.iter().map(|e| (e.entity, e.op)).collect();
    assert_eq!(
        kinds,
        [
            (Entity::StatusEvent, Op::Create),
            (Entity::StatusEvent, Op::Create),
            (Entity::StatusEvent, Op::Create),
            (Entity::StatusEvent, Op::Create),
            (Entity::Reading, Op::Create),
            (Entity::StatusEvent, Op::Create),
        ]
    );
    assert!(
        pending
            .iter()
            .all(|e| e.base_version == 3 && e.order_id == o.id)
    );
    assert!(
        pending.windows(2).all(|w| w[0].hlc < w[1].hlc),
        "HLC stamps increase"
    );
    assert_eq!(pending[4].entity_id, saved[0].id.to_string());
    assert_eq!(pending[4].fields["value"], "1298.5");
    assert_eq!(
        pending
            .iter()
            .map(|e| e.op_id)
            .collect::<std::collections::HashSet<_>>()
            .len(),
        6
    );

    let detail = t.store.order_detail(o.id).unwrap();
    assert_eq!(detail.order.status, Status::Completed);
    assert_eq!(detail.timeline.len(), 5);
    assert_eq!(detail.timeline[2].to, Status::Arrived);
    assert_eq!(detail.timeline[2].fix.unwrap().accuracy_m, Some(8.0));
    assert_eq!(detail.readings.len(), 1);
    assert_eq!(detail.pending_changes, 6);
}

#[test]
fn a_readings_outbox_entry_sends_its_row_without_storing_a_copy() {
    let t = open_at(morning() + Duration::nanoseconds(123_456_789));
    let o = on_site(&t, WorkKind::MeterRemoval);
    let saved = t
        .store
        .record_readings(&entry(&o, ReadingPurpose::RemovedMeterFinal, "1298.5"))
        .unwrap()
        .remove(0);
    // Kept to the millisecond, as the row keeps it, so all three copies agree.
    assert_eq!(saved.taken_at.timestamp_subsec_nanos(), 123_000_000);

    let pending = t.store.pending(100).unwrap();
    let sent = pending
        .iter()
        .find(|e| e.entity == Entity::Reading)
        .unwrap();
    assert_eq!(sent.fields, serde_json::to_value(&saved).unwrap());
    assert_eq!(
        t.store
            .pending_for_order(o.id)
            .unwrap()
            .last()
            .unwrap()
            .fields,
        sent.fields
    );

    let raw = Connection::open(t.dir.path().join("crew.db")).unwrap();
    let (fields, status_fields): (Option<String>, Option<String>) = raw
        .query_row(
            "SELECT (SELECT fields FROM outbox WHERE entity = 'reading'),
                    (SELECT fields FROM outbox WHERE entity = 'status_event' LIMIT 1)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(fields, None, "the reading is not copied into the outbox");
    assert!(status_fields.is_some(), "other entries keep their fields");
    // Only a reading's entry may leave its fields out.
    let err = raw
        .execute(
            "INSERT INTO outbox (op_id, entity, entity_id, order_id, op, fields, base_version, hlc, created_at)
             VALUES ('x', 'status_event', 's', 'o', 'create', NULL, 1, 'h', 0)",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("CHECK"), "{err}");

    // A store whose pending reading lost its row (corruption: the schema forbids it) fails to
    // list the entry rather than send it empty, and the entry stays queued.
    raw.execute_batch("DROP TRIGGER readings_kept; DELETE FROM readings;")
        .unwrap();
    assert!(t.store.pending(100).is_err());
    assert_eq!(t.store.pending_count().unwrap(), pending.len() as u64);
}

#[test]
fn illegal_transitions_and_missing_session_write_nothing() {
    let t = open_at(morning());
    let o = order("GD1", WorkKind::MeterCheck, morning());
    t.store
        .save_server_orders(std::slice::from_ref(&o))
        .unwrap();

    let err = report(&t.store, o.id, Status::Completed).unwrap_err();
    assert!(matches!(err, Error::Transition(_)), "{err:?}");
    let err = report(&t.store, o.id, Status::Cancelled).unwrap_err();
    assert!(
        matches!(err, Error::Transition(_)),
        "crews do not cancel: {err:?}"
    );
    // Suspending needs a reason.
    report(&t.store, o.id, Status::Accepted).unwrap();
    let err = t
        .store
        .report_status(&StatusReport {
            order_id: o.id,
            to: Status::Suspended,
            reason: None,
            note: String::new(),
            fix: None,
        })
        .unwrap_err();
    assert!(matches!(err, Error::Transition(_)), "{err:?}");
    t.store
        .report_status(&StatusReport {
            order_id: o.id,
            to: Status::Suspended,
            reason: Some(SuspendReason::CustomerAbsent),
            note: "客户不在家".into(),
            fix: None,
        })
        .unwrap();
    assert_eq!(t.store.pending_count().unwrap(), 2);
    assert_eq!(t.store.order(o.id).unwrap().status, Status::Suspended);

    let err = report(&t.store, Uuid::now_v7(), Status::Accepted).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");

    // A store nobody signed in to records nothing.
    let dir = tempfile::tempdir().unwrap();
    let fresh = Store::open(dir.path().join("x.db"), Default::default()).unwrap();
    fresh.save_server_orders(std::slice::from_ref(&o)).unwrap();
    let err = report(&fresh, o.id, Status::Accepted).unwrap_err();
    assert!(matches!(err, Error::NoSession), "{err:?}");
    assert_eq!(fresh.pending_count().unwrap(), 0);
}

#[test]
fn reading_input_errors_name_the_problem_and_store_nothing() {
    let t = open_at(morning());
    let o = on_site(&t, WorkKind::MeterRemoval);
    let before = t.store.pending_count().unwrap();

    let err = t
        .store
        .record_readings(&entry(&o, ReadingPurpose::RemovedMeterFinal, "12,3a"))
        .unwrap_err();
    match &err {
        Error::Reading(ReadingError::Parse { register, error }) => {
            assert_eq!(*register, Register::Total);
            assert!(
                matches!(error, ParseError::InvalidCharacter { ch: 'a', .. }),
                "{error:?}"
            );
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    assert!(err.to_string().contains('a'), "{err}");

    for raw in ["", "-5", "1234567.00", "12.345", "1.2.3"] {
        let err = t
            .store
            .record_readings(&entry(&o, ReadingPurpose::RemovedMeterFinal, raw))
            .unwrap_err();
        assert!(
            matches!(err, Error::Reading(ReadingError::Parse { .. })),
            "{raw:?}: {err:?}"
        );
    }
    // Lower than the last reading and not a plausible rollover: an error, not a warning.
    let err = t
        .store
        .record_readings(&entry(&o, ReadingPurpose::RemovedMeterFinal, "900"))
        .unwrap_err();
    assert!(
        matches!(err, Error::Reading(ReadingError::Invalid(_))),
        "{err:?}"
    );

    let mut wrong = entry(&o, ReadingPurpose::RemovedMeterFinal, "1200");
    wrong.meter_asset = "nope".into();
    assert!(matches!(
        t.store.record_readings(&wrong).unwrap_err(),
        Error::Reading(ReadingError::UnknownMeter(_))
    ));
    assert_eq!(t.store.pending_count().unwrap(), before);
    assert!(t.store.order_detail(o.id).unwrap().readings.is_empty());
}

#[test]
fn readings_are_taken_on_site_only() {
    let t = open_at(morning());
    let o = order("GD1", WorkKind::MeterRemoval, morning());
    t.store
        .save_server_orders(std::slice::from_ref(&o))
        .unwrap();
    let err = t
        .store
        .record_readings(&entry(&o, ReadingPurpose::RemovedMeterFinal, "1200"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                field: "status",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn warnings_block_until_confirmed_with_a_reason() {
    let t = open_at(morning());
    let o = on_site(&t, WorkKind::MeterRemoval);
    // 5000 kWh in 30 days against an expected 10 a day: far too high.
    let mut e = entry(&o, ReadingPurpose::RemovedMeterFinal, "6000");
    let warnings = t.store.check_readings(&e).unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].code, WarningCode::HighConsumption);

    let err = t.store.record_readings(&e).unwrap_err();
    match err {
        Error::Reading(ReadingError::NeedsConfirmation(open)) => assert_eq!(open, warnings),
        other => panic!("{other:?}"),
    }
    e.confirmations = vec![Confirmation {
        code: WarningCode::HighConsumption,
        register: Register::Total,
        reason: "  ".into(),
    }];
    assert!(matches!(
        t.store.record_readings(&e).unwrap_err(),
        Error::Reading(ReadingError::EmptyReason { .. })
    ));
    assert_eq!(
        t.store.pending_count().unwrap(),
        3,
        "only the three status events"
    );

    e.confirmations[0].reason = "客户开了烘干房".into();
    let saved = t.store.record_readings(&e).unwrap();
    assert_eq!(saved[0].warnings.len(), 1);
    assert_eq!(saved[0].warnings[0].reason, "客户开了烘干房");
    assert_eq!(saved[0].warnings[0].code, WarningCode::HighConsumption);
    let queued = t.store.pending(10).unwrap().pop().unwrap();
    assert_eq!(queued.fields["warnings"][0]["reason"], "客户开了烘干房");
}

#[test]
fn corrections_supersede_and_nothing_is_overwritten() {
    let t = open_at(morning());
    let o = on_site(&t, WorkKind::MeterRemoval);
    let first = t
        .store
        .record_readings(&entry(&o, ReadingPurpose::RemovedMeterFinal, "1290"))
        .unwrap()
        .remove(0);

    let err = t
        .store
        .record_readings(&entry(&o, ReadingPurpose::RemovedMeterFinal, "1295"))
        .unwrap_err();
    assert!(
        matches!(err, Error::Reading(ReadingError::AlreadyRecorded { existing, .. }) if existing == first.id),
        "{err:?}"
    );

    let mut fix = entry(&o, ReadingPurpose::RemovedMeterFinal, "1295");
    fix.supersedes = vec![first.id];
    let second = t.store.record_readings(&fix).unwrap().remove(0);
    assert_eq!(second.supersedes, Some(first.id));

    // The first reading is no longer current: superseding it again is refused.
    assert!(matches!(
        t.store.record_readings(&fix).unwrap_err(),
        Error::Reading(ReadingError::BadSupersede(id)) if id == first.id
    ));

    let detail = t.store.order_detail(o.id).unwrap();
    assert_eq!(detail.readings.len(), 2);
    let old = detail
        .readings
        .iter()
        .find(|r| r.reading.id == first.id)
        .unwrap();
    assert_eq!(old.superseded_by, Some(second.id));
    assert_eq!(old.reading.value, dec("1290"));

    // The database itself refuses edits and deletions of readings.
    let raw = Connection::open(t.store.path()).unwrap();
    let err = raw
        .execute(
            "UPDATE readings SET value = '1' WHERE id = ?1",
            [first.id.to_string()],
        )
        .unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
    let err = raw
        .execute("DELETE FROM readings WHERE id = ?1", [first.id.to_string()])
        .unwrap_err();
    assert!(err.to_string().contains("never deleted"), "{err}");
}

#[test]
fn a_new_meter_start_reading_above_the_threshold_warns() {
    let t = open_at(morning());
    let o = on_site(&t, WorkKind::MeterInstall);
    let mut m = meter("3310149999999");
    m.registers[0].last = None;
    t.store.install_meter(o.id, &m).unwrap();
    let mut e = entry(&o, ReadingPurpose::NewMeterStart, "25");
    e.meter_asset = m.asset_number.clone();
    let warnings = t.store.check_readings(&e).unwrap();
    assert_eq!(warnings[0].code, WarningCode::HighStartReading);
    e.values = total("0.5");
    assert!(t.store.check_readings(&e).unwrap().is_empty());
    t.store.record_readings(&e).unwrap();
    // The installed meter is searchable and queued.
    assert_eq!(t.store.search("3310149999999", 5).unwrap()[0].id, o.id);
    assert!(
        t.store
            .pending_for_order(o.id)
            .unwrap()
            .iter()
            .any(|e| e.entity == Entity::Meter)
    );
}

#[test]
fn replacement_records_both_meters_balance_and_card_in_one_transaction() {
    let t = open_at(morning());
    let mut o = order("GD9", WorkKind::MeterReplacement, morning());
    o.meters[0].prepaid = true;
    t.store
        .save_server_orders(std::slice::from_ref(&o))
        .unwrap();
    for to in [Status::Accepted, Status::EnRoute, Status::Arrived] {
        report(&t.store, o.id, to).unwrap();
    }
    let mut new_meter = meter("3310148888888");
    new_meter.prepaid = true;
    new_meter.registers[0].last = None;
    let mut e = ReplacementEntry {
        order_id: o.id,
        old_meter: o.meters[0].asset_number.clone(),
        old_final: total("1301.25"),
        old_balance: None,
        new_meter: new_meter.clone(),
        new_start: total("0.00"),
        new_card: Some("ICK20261125".into()),
        photo_id: None,
        confirmations: vec![],
    };
    let before = t.store.pending_count().unwrap();
    let err = t.store.record_replacement(&e).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                field: "balance",
                ..
            }
        ),
        "{err:?}"
    );
    e.old_balance = Some("12.3x".into());
    assert!(t.store.record_replacement(&e).is_err());
    e.old_balance = Some("35.60".into());
    e.new_card = None;
    let err = t.store.record_replacement(&e).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                field: "new_card",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        t.store.pending_count().unwrap(),
        before,
        "failed attempts leave nothing"
    );
    assert_eq!(t.store.order(o.id).unwrap().meters.len(), 1);

    e.new_card = Some("ICK20261125".into());
    let (rec, readings) = t.store.record_replacement(&e).unwrap();
    assert_eq!(rec.old_balance, Some(dec("35.60")));
    assert_eq!(rec.new_card.as_deref(), Some("ICK20261125"));
    assert_eq!(readings.len(), 2);
    assert_eq!(readings[0].purpose, ReadingPurpose::ReplacementOldFinal);
    assert_eq!(readings[1].purpose, ReadingPurpose::ReplacementNewStart);
    assert_eq!(readings[1].meter_asset, "3310148888888");
    let entities: Vec<_> = t.store.pending(100).unwrap()[before as usize..]
        .iter()
        .map(|e| e.entity)
        .collect();
    assert_eq!(
        entities,
        [
            Entity::Meter,
            Entity::Reading,
            Entity::Reading,
            Entity::Replacement
        ]
    );
    let detail = t.store.order_detail(o.id).unwrap();
    assert_eq!(detail.replacements.len(), 1);
    assert_eq!(detail.order.meters.len(), 2);
}

#[test]
fn time_of_use_parts_must_add_up_to_the_total() {
    let t = open_at(morning());
    let mut o = order("GD3", WorkKind::MeterRemoval, morning());
    let last = morning() - Duration::days(30);
    o.meters[0].registers = vec![
        register(Register::Total, Some(("1000.00", last))),
        register(Register::Peak, Some(("400.00", last))),
        register(Register::Flat, Some(("350.00", last))),
        register(Register::Valley, Some(("250.00", last))),
    ];
    t.store
        .save_server_orders(std::slice::from_ref(&o))
        .unwrap();
    for to in [Status::Accepted, Status::EnRoute, Status::Arrived] {
        report(&t.store, o.id, to).unwrap();
    }
    let values = |valley: &str| {
        [
            (Register::Total, "1300.00"),
            (Register::Peak, "520.00"),
            (Register::Flat, "455.00"),
            (Register::Valley, valley),
        ]
        .iter()
        .map(|(register, raw)| RegisterValue {
            register: *register,
            raw: (*raw).into(),
        })
        .collect::<Vec<_>>()
    };
    let mut e = entry(&o, ReadingPurpose::RemovedMeterFinal, "0");
    e.values = values("335.00");
    let err = t.store.record_readings(&e).unwrap_err();
    assert!(
        matches!(err, Error::Reading(ReadingError::Invalid(_))),
        "{err:?}"
    );
    e.values = values("325.00");
    assert_eq!(t.store.record_readings(&e).unwrap().len(), 4);
}

#[test]
fn the_hlc_survives_a_clock_jumping_back_and_a_restart() {
    let t = open_at(morning());
    let o = order("GD1", WorkKind::MeterCheck, morning());
    t.store
        .save_server_orders(std::slice::from_ref(&o))
        .unwrap();
    report(&t.store, o.id, Status::Accepted).unwrap();
    let first = t.store.last_hlc().unwrap();
    t.clock.set(morning() - Duration::hours(2));
    report(&t.store, o.id, Status::EnRoute).unwrap();
    let second = t.store.last_hlc().unwrap();
    assert!(second > first);
    assert_eq!(
        second.wall_ms, first.wall_ms,
        "the wall part never goes back"
    );

    let path = t.store.path().to_path_buf();
    let device = t.store.device_id();
    drop(t.store);
    let reopened = Store::open(&path, options(&t.clock)).unwrap();
    assert_eq!(reopened.device_id(), device);
    assert_eq!(reopened.last_hlc().unwrap(), second);
    report(&reopened, o.id, Status::Arrived).unwrap();
    assert!(reopened.last_hlc().unwrap() > second);
    assert_eq!(reopened.pending_count().unwrap(), 3);
    assert_eq!(
        reopened.session().unwrap(),
        Some(Session {
            member_id: "m-li".into(),
            crew_id: "crew-west".into()
        })
    );
}

#[test]
fn crew_fields_and_evaluation_are_queued() {
    let t = open_at(morning());
    let o = on_site(&t, WorkKind::SiteSurvey);
    let survey = SiteSurvey {
        capacity_kva: dec("50"),
        voltage: Voltage::V380,
        phases: 3,
        connection: ConnectionPoint {
            station: "110kV文三变".into(),
            line: "10kV文华线".into(),
            transformer: "文三路3号公变".into(),
            pole_or_box: "表箱B-12".into(),
        },
        load_notes: "冷库压缩机两台".into(),
    };
    t.store.save_survey(o.id, &survey).unwrap();
    t.store.set_crew_notes(o.id, "东门进，狗拴着").unwrap();
    let err = t.store.add_evaluation(o.id, 6, "").unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    report(&t.store, o.id, Status::InProgress).unwrap();
    report(&t.store, o.id, Status::Completed).unwrap();
    let ev = t.store.add_evaluation(o.id, 5, "师傅很专业").unwrap();
    assert_eq!(ev.score, 5);

    let order = t.store.order(o.id).unwrap();
    assert_eq!(order.survey, Some(survey));
    assert_eq!(order.crew_notes, "东门进，狗拴着");
    let pending = t.store.pending_for_order(o.id).unwrap();
    let updates: Vec<_> = pending
        .iter()
        .filter(|e| e.entity == Entity::WorkOrder)
        .map(|e| {
            e.fields
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        updates,
        [vec!["survey".to_owned()], vec!["crew_notes".to_owned()]]
    );
    assert_eq!(pending.last().unwrap().entity, Entity::Evaluation);
    assert_eq!(t.store.order_detail(o.id).unwrap().evaluations.len(), 1);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crew.db");
    let junk: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &junk).unwrap();
    let err = Store::open(&path, Default::default()).unwrap_err();
    assert!(matches!(err, Error::NotADatabase), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), junk);
}

#[test]
fn a_store_from_a_newer_app_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crew.db");
    drop(Store::open(&path, Default::default()).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path, Default::default()).unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { found: 99, .. }),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn search_finds_orders_by_every_key() {
    let t = open_at(morning());
    let mut a = order("GD20261125000101", WorkKind::MeterRemoval, morning());
    a.customer.name = "欧阳建华".into();
    a.customer.account_number = "3301987654".into();
    a.site.address = "杭州市拱墅区莫干山路188号".into();
    a.meters[0].asset_number = "3310140000777".into();
    let b = order("GD20261125000102", WorkKind::SiteSurvey, morning());
    t.store.save_server_orders(&[a.clone(), b.clone()]).unwrap();

    for q in [
        "000101",
        "3301987654",
        "欧阳建华",
        "欧阳",
        "莫干山路",
        "0000777",
        "gd20261125000101",
    ] {
        let hits = t.store.search(q, 10).unwrap();
        assert_eq!(
            hits.iter().map(|h| h.id).collect::<Vec<_>>(),
            [a.id],
            "query {q:?}"
        );
    }
    assert_eq!(t.store.search("GD2026112500010", 10).unwrap().len(), 2);
    assert!(t.store.search("不存在的地址", 10).unwrap().is_empty());
    assert!(t.store.search("  ", 10).unwrap().is_empty());
    assert!(
        t.store.search("\"'%_*", 10).unwrap().is_empty(),
        "quotes are literal"
    );

    // An update re-indexes: the old name no longer matches.
    let mut renamed = a.clone();
    renamed.customer.name = "欧阳娜".into();
    t.store.save_server_orders(&[renamed.clone()]).unwrap();
    assert!(t.store.search("欧阳建华", 10).unwrap().is_empty());
    assert_eq!(t.store.search("欧阳娜", 10).unwrap().len(), 1);

    // Search rows are written after a batch's orders: an order twice in one batch (renamed
    // again, a meter swapped) is found by its last text only, once.
    let mut again = renamed.clone();
    again.customer.name = "欧阳雪".into();
    again.meters[0].asset_number = "3310140000888".into();
    let c = order("GD20261125000103", WorkKind::MeterCheck, morning());
    t.store
        .save_server_orders(&[renamed, c.clone(), again])
        .unwrap();
    for (q, want) in [
        ("欧阳娜", vec![]),
        ("0000777", vec![]),
        ("欧阳雪", vec![a.id]),
        ("0000888", vec![a.id]),
        ("000103", vec![c.id]),
    ] {
        let hits: Vec<_> = t
            .store
            .search(q, 10)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(hits, want, "query {q:?}");
    }
}

#[test]
fn orders_by_status_and_counts() {
    let t = open_at(morning());
    let a = order("GD1", WorkKind::MeterCheck, morning());
    let b = order("GD2", WorkKind::MeterCheck, morning() + Duration::hours(1));
    t.store.save_server_orders(&[a.clone(), b.clone()]).unwrap();
    report(&t.store, b.id, Status::Accepted).unwrap();
    let accepted = t.store.orders_by_status(&[Status::Accepted], 10).unwrap();
    assert_eq!(accepted.iter().map(|o| o.id).collect::<Vec<_>>(), [b.id]);
    let counts = t.store.count_by_status().unwrap();
    assert!(counts.contains(&(Status::Dispatched, 1)));
    assert!(counts.contains(&(Status::Accepted, 1)));
}

#[test]
fn the_agenda_flags_groups_and_orders_the_day() {
    use fieldcrew_core::geo::GeoPoint;
    use fieldcrew_core::store::AgendaQuery;
    use fieldcrew_core::work_order::{Appointment, Urgency};

    // morning() is 09:00 local; slots are two hours long.
    let t = open_at(morning());
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let at = |h: i64| morning() + Duration::hours(h - 9);
    let place = |o: &mut WorkOrder, area: &str, lat: f64, lon: f64| {
        o.site.area = area.into();
        o.site.location = Some(GeoPoint::new(lat, lon).unwrap());
    };
    // West area: two slots at 10:00 within the window, one far and one near the phone.
    let mut far = order("W-far", WorkKind::MeterCheck, at(10));
    place(&mut far, "西湖供电所", 30.30, 120.10);
    let mut near = order(
        "W-near",
        WorkKind::MeterCheck,
        at(10) + Duration::minutes(30),
    );
    place(&mut near, "西湖供电所", 30.2702, 120.1301);
    let mut late = order("W-late", WorkKind::MeterCheck, at(16));
    place(&mut late, "西湖供电所", 30.2700, 120.1300);
    // Yesterday's open order, overdue, carried over.
    let mut carried = order(
        "W-carried",
        WorkKind::FaultRepair,
        at(10) - Duration::days(1),
    );
    place(&mut carried, "西湖供电所", 30.27, 120.16);
    // East area: a slot ending at 10:30 (due soon at 09:00 with a 2 h margin), and a deadline.
    let mut soon = order(
        "E-soon",
        WorkKind::MeterCheck,
        at(8) + Duration::minutes(30),
    );
    place(&mut soon, "滨江供电所", 30.21, 120.21);
    let mut deadline = order("E-deadline", WorkKind::SiteSurvey, at(8));
    deadline.appointment = Appointment::Deadline { by: at(18) };
    place(&mut deadline, "滨江供电所", 30.20, 120.22);
    // Tomorrow's order and a completed order from yesterday stay out.
    let tomorrow = order(
        "X-tomorrow",
        WorkKind::MeterCheck,
        at(10) + Duration::days(1),
    );
    let mut done = order("X-done", WorkKind::MeterCheck, at(10) - Duration::days(1));
    done.status = Status::Completed;
    t.store
        .save_server_orders(&[far, near, late, carried, soon, deadline, tomorrow, done])
        .unwrap();

    let mut query = AgendaQuery::new(day);
    let groups = t.store.agenda(&query).unwrap();
    let numbers = |g: &fieldcrew_core::store::AgendaGroup| {
        g.items
            .iter()
            .map(|i| i.order.number.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(groups.len(), 2);
    assert_eq!(
        groups[0].area, "西湖供电所",
        "the area with the earliest open work first"
    );
    assert_eq!(
        numbers(&groups[0]),
        ["W-carried", "W-far", "W-near", "W-late"]
    );
    assert!(groups[0].items[0].carried_over);
    assert_eq!(groups[0].items[0].order.urgency, Some(Urgency::Overdue));
    assert_eq!(groups[0].items[3].order.urgency, Some(Urgency::OnTrack));
    assert_eq!(numbers(&groups[1]), ["E-soon", "E-deadline"]);
    assert_eq!(groups[1].items[0].order.urgency, Some(Urgency::DueSoon));

    // From the phone's position the overdue order still comes first (nothing else is within
    // its window), then the near 10:30 slot before the far 10:00 one.
    query.position = Some(GeoPoint::new(30.2701, 120.1302).unwrap());
    let groups = t.store.agenda(&query).unwrap();
    let west = &groups[0];
    assert_eq!(numbers(west), ["W-carried", "W-near", "W-far", "W-late"]);
    assert!(west.items[0].distance_m.unwrap() > 2000.0);
    assert!(
        west.items[1].distance_m.unwrap() > 2000.0,
        "measured from the previous site"
    );

    // The clock moves on: at 11:00 the east slot is overdue.
    t.clock.set(at(11));
    let groups = t.store.agenda(&AgendaQuery::new(day)).unwrap();
    let east = groups.iter().find(|g| g.area == "滨江供电所").unwrap();
    assert_eq!(east.items[0].order.urgency, Some(Urgency::Overdue));
}

#[test]
fn wiping_refuses_to_lose_unsynced_work_unless_told() {
    use fieldcrew_core::store::WipeMode;
    let t = open_at(morning());
    let o = on_site(&t, WorkKind::MeterRemoval);
    t.store
        .record_readings(&entry(&o, ReadingPurpose::RemovedMeterFinal, "1290"))
        .unwrap();
    let unsynced = t.store.unsynced_work().unwrap();
    assert_eq!(unsynced.pending_changes, 4);
    assert_eq!(unsynced.orders, 1);
    assert!(unsynced.by_entity.contains(&(Entity::Reading, 1)));
    assert!(unsynced.by_entity.contains(&(Entity::StatusEvent, 3)));

    let path = t.store.path().to_path_buf();
    let clock = t.clock.clone();
    match t.store.wipe(WipeMode::OnlyIfSynced).unwrap_err() {
        Error::UnsyncedWork(w) => assert_eq!(w, unsynced),
        other => panic!("{other:?}"),
    }
    // Refused: the store is untouched and reopens with everything.
    let store = Store::open(&path, options(&clock)).unwrap();
    assert_eq!(store.pending_count().unwrap(), 4);
    store.wipe(WipeMode::DiscardUnsynced).unwrap();
    assert!(!path.exists());
    assert!(!path.with_extension("db-wal").exists());
    let fresh = Store::open(&path, options(&clock)).unwrap();
    assert_eq!(fresh.pending_count().unwrap(), 0);
    assert_eq!(fresh.session().unwrap(), None);
}

#[test]
fn positions_are_stored_and_queued_at_site_level_only() {
    let t = open_at(morning());
    let o = order("GD-GPS-1", WorkKind::MeterCheck, morning());
    t.store
        .save_server_orders(std::slice::from_ref(&o))
        .unwrap();
    // What a phone's GPS hands over: seven decimals (about a centimetre) and a fine accuracy.
    let precise = Fix::new(30.274_156_3, 120.155_173_8, Some(3.27)).unwrap();
    t.store
        .report_status(&StatusReport {
            order_id: o.id,
            to: Status::Accepted,
            reason: None,
            note: String::new(),
            fix: Some(precise),
        })
        .unwrap();
    let event = &t.store.order_detail(o.id).unwrap().timeline[0];
    let fix = event.fix.expect("fix kept");
    assert_eq!((fix.point.lat, fix.point.lon), (30.2742, 120.1552));
    assert_eq!(fix.accuracy_m, Some(3.0));
    // What goes to the server is the same coarse position, and the precise one is nowhere in
    // the outbox.
    let queued = t.store.pending(10).unwrap()[0].fields.to_string();
    assert!(
        queued.contains("30.2742") && queued.contains("120.1552"),
        "{queued}"
    );
    assert!(!queued.contains("30.274156") && !queued.contains("120.155173"));
}
