//! The sync scenarios of issue 4, each against the real server on loopback, each asserting the
//! end state on the server and on every device.

use std::sync::atomic::Ordering;

use axum::http::{Method, StatusCode};
use chrono::Duration;
use fieldcrew_core::store::Entity;
use fieldcrew_core::survey::{ConnectionPoint, SiteSurvey, Voltage};
use fieldcrew_core::sync::wire::{
    ConflictRule, ConflictStatus, Outcome, PushResponse, RejectCode, ResolveChoice,
};
use fieldcrew_core::sync::{NetworkKind, SyncError, SyncPhase};
use fieldcrew_core::work_order::{Appointment, Status, WorkKind, WorkOrder};
use fieldcrew_e2e::*;
use rust_decimal::Decimal;
use serde_json::json;

fn survey() -> SiteSurvey {
    SiteSurvey {
        capacity_kva: Decimal::from(80),
        voltage: Voltage::V380,
        phases: 3,
        connection: ConnectionPoint {
            station: "Yuecheng 110kV".into(),
            line: "10kV Line 7".into(),
            transformer: "T12".into(),
            pole_or_box: "P3".into(),
        },
        load_notes: "workshop".into(),
    }
}

#[test]
fn initial_sync_brings_the_crews_orders_and_nothing_of_other_crews() {
    let w = World::new();
    w.create(vec![
        new_order("1001", "C1", WorkKind::MeterInstall, 1),
        new_order("1002", "C1", WorkKind::MeterCheck, 2),
        new_order("1003", "C1", WorkKind::SiteSurvey, 3),
        new_order("2001", "C2", WorkKind::MeterInstall, 1),
        new_order("2002", "C2", WorkKind::FaultRepair, 2),
    ]);
    let phone = w.device("p1", "m1", "C1");
    let mut phases = Vec::new();
    let report = phone
        .client
        .sync(&phone.store, &mut |p| phases.push((p.phase, p.done)))
        .expect("sync");
    assert_eq!(phone.numbers(), ["1001", "1002", "1003"]);
    assert_eq!(report.orders_received, 3);
    assert_eq!(report.pushed, 0);
    assert!(phases.contains(&(SyncPhase::Push, 0)));
    assert_eq!(phases.last(), Some(&(SyncPhase::Pull, 3)));
    let cursor = phone.store.sync_cursor().expect("cursor");
    assert!(cursor > 0);
    // Nothing new: the next sync pulls nothing and keeps the cursor.
    let again = phone.sync().expect("sync");
    assert_eq!((again.orders_received, again.cursor), (0, cursor));
    assert_eq!(phone.store.sync_cursor().expect("cursor"), cursor);

    let other = w.device("p3", "m3", "C2");
    other.sync().expect("sync");
    assert_eq!(other.numbers(), ["2001", "2002"]);
    // The copies carry the server version and the crew.
    let o = phone
        .store
        .order(phone.store.orders_by_status(&[], 10).expect("list")[0].id)
        .expect("order");
    assert_eq!((o.version, o.crew_id.as_str()), (1, "C1"));
}

#[test]
fn offline_work_on_several_orders_while_dispatch_reschedules_another() {
    let w = World::new();
    let orders = w.create(vec![
        new_order("1001", "C1", WorkKind::MeterReplacement, 1),
        new_order("1002", "C1", WorkKind::MeterCheck, 2),
        new_order("1003", "C1", WorkKind::MeterCheck, 4),
    ]);
    let phone = w.device("p1", "m1", "C1");
    phone.sync().expect("first sync");
    // Offline: two orders done.
    let ra = phone.complete(&orders[0], "1050.5");
    let rb = phone.complete(&orders[1], "1020");
    // Meanwhile dispatch moves the third order to the afternoon.
    let start = day_start() + Duration::hours(6);
    let new_slot = Appointment::Slot {
        start,
        end: start + Duration::hours(2),
    };
    w.office.reschedule(orders[2].id, new_slot);

    let report = phone.sync().expect("sync");
    assert_eq!(
        (
            report.pushed,
            report.applied,
            report.conflicts,
            report.rejected
        ),
        (6, 6, 0, 0)
    );
    assert_eq!(phone.store.pending_count().expect("pending"), 0);
    for (o, r) in [(&orders[0], &ra), (&orders[1], &rb)] {
        let d = w.office.detail(o.id);
        assert_eq!(d.order.status, Status::Completed);
        assert_eq!(d.readings.len(), 1);
        assert_eq!(d.readings[0], r[0]);
        let path: Vec<Status> = d.timeline.iter().map(|e| e.to).collect();
        assert_eq!(path, [Status::Arrived, Status::Completed]);
        assert!(d.conflicts.is_empty());
        let local = phone.store.order_detail(o.id).expect("detail");
        assert_eq!(local.order.status, Status::Completed);
        assert_eq!(local.order.version, d.order.version);
        assert_eq!(local.timeline.len(), 2);
    }
    assert_eq!(
        phone.store.order(orders[2].id).expect("order").appointment,
        new_slot
    );
    assert_eq!(w.office.detail(orders[2].id).order.appointment, new_slot);
    assert!(phone.store.conflicts(false).expect("conflicts").is_empty());
    assert!(w.office.conflicts("").is_empty());
}

#[test]
fn dispatch_edits_the_appointment_while_the_crew_edits_the_survey_merged_without_conflict() {
    let w = World::new();
    let o = w
        .create(vec![new_order("1001", "C1", WorkKind::NewConnection, 1)])
        .remove(0);
    let phone = w.device("p1", "m1", "C1");
    phone.sync().expect("sync");
    phone.store.save_survey(o.id, &survey()).expect("survey");
    phone
        .store
        .set_crew_notes(o.id, "dog in the yard")
        .expect("notes");
    let deadline = Appointment::Deadline {
        by: day_start() + Duration::days(2),
    };
    w.office.reschedule(o.id, deadline);

    let report = phone.sync().expect("sync");
    assert_eq!((report.merged, report.conflicts), (2, 0));
    let server = w.office.detail(o.id).order;
    assert_eq!(server.appointment, deadline);
    assert_eq!(server.survey, Some(survey()));
    assert_eq!(server.crew_notes, "dog in the yard");
    let local = phone.store.order(o.id).expect("order");
    assert_eq!(local.appointment, deadline);
    assert_eq!(local.survey, Some(survey()));
    assert_eq!(local.crew_notes, "dog in the yard");
    assert_eq!(local.version, server.version);
    assert!(w.office.conflicts("").is_empty());
    assert!(phone.store.conflicts(false).expect("c").is_empty());
}

#[test]
fn cancel_versus_completed_offline() {
    let w = World::new();
    let orders = w.create(vec![
        new_order("1001", "C1", WorkKind::MeterRemoval, 1),
        new_order("1002", "C1", WorkKind::MeterCheck, 2),
    ]);
    let phone = w.device("p1", "m1", "C1");
    phone.sync().expect("sync");
    // Offline: the first order is completed, the second only reached.
    let readings = phone.complete(&orders[0], "1042");
    phone.report(orders[1].id, Status::Arrived);
    w.office.cancel(orders[0].id, "customer withdrew");
    w.office.cancel(orders[1].id, "duplicate order");

    let report = phone.sync().expect("sync");
    assert_eq!(report.rejected, 0);
    // Completed work is a fact: the order ends completed, the readings are kept.
    let d = w.office.detail(orders[0].id);
    assert_eq!(d.order.status, Status::Completed);
    assert_eq!(d.readings, readings);
    let path: Vec<Status> = d.timeline.iter().map(|e| e.to).collect();
    assert_eq!(
        path,
        [Status::Arrived, Status::Completed, Status::Cancelled]
    );
    assert_eq!(d.conflicts.len(), 1);
    let c = &d.conflicts[0];
    assert_eq!(
        (c.rule, c.status),
        (ConflictRule::CancelledButCompleted, ConflictStatus::Open)
    );
    assert_eq!(
        (c.kept_value.clone(), c.lost_value.clone()),
        (json!("completed"), json!("cancelled"))
    );
    // A visit cut short stays cancelled, with the crew's arrival on record.
    let d2 = w.office.detail(orders[1].id);
    assert_eq!(d2.order.status, Status::Cancelled);
    assert_eq!(d2.timeline.len(), 2);
    assert_eq!(d2.conflicts.len(), 1);
    assert_eq!(d2.conflicts[0].rule, ConflictRule::CancelledDuringVisit);
    assert_eq!(d2.conflicts[0].lost_value, json!("arrived"));
    // The device shows the same end state and both conflicts.
    assert_eq!(
        phone.store.order(orders[0].id).expect("o").status,
        Status::Completed
    );
    assert_eq!(
        phone.store.order(orders[1].id).expect("o").status,
        Status::Cancelled
    );
    assert_eq!(
        phone
            .store
            .order_detail(orders[0].id)
            .expect("d")
            .timeline
            .len(),
        3
    );
    let mut rules: Vec<ConflictRule> = phone
        .store
        .conflicts(true)
        .expect("c")
        .iter()
        .map(|c| c.rule)
        .collect();
    rules.sort_by_key(|r| r.as_str());
    assert_eq!(
        rules,
        [
            ConflictRule::CancelledButCompleted,
            ConflictRule::CancelledDuringVisit
        ]
    );

    // The dispatcher resolves one; the resolution syncs to the device.
    w.office
        .resolve(c.id, ResolveChoice::Kept, "refund the fee");
    phone.sync().expect("sync");
    let local: Vec<_> = phone
        .store
        .conflicts(false)
        .expect("c")
        .into_iter()
        .filter(|x| x.id == c.id)
        .collect();
    assert_eq!(local[0].status, ConflictStatus::Resolved);
    assert_eq!(
        local[0].resolution.as_ref().map(|r| r.note.as_str()),
        Some("refund the fee")
    );
    assert_eq!(phone.store.conflicts(true).expect("c").len(), 1);
}

/// Two devices of crew C1 (b's clock 30 s ahead) both edit one order's crew notes offline; a
/// pushes first (applied), then b, whose later HLC wins and raises a conflict.
fn crew_notes_conflict(a_note: &str, b_note: &str) -> (World, WorkOrder, Device, Device) {
    let w = World::new();
    let o = w
        .create(vec![new_order("1001", "C1", WorkKind::SiteSurvey, 1)])
        .remove(0);
    let base = chrono::Utc::now();
    let a = w.device_with_clock("pa", "m1", "C1", clock_at(base));
    let b = w.device_with_clock("pb", "m2", "C1", clock_at(base + Duration::seconds(30)));
    a.sync().expect("sync a");
    b.sync().expect("sync b");
    a.store.set_crew_notes(o.id, a_note).expect("a edits");
    b.store.set_crew_notes(o.id, b_note).expect("b edits");
    assert_eq!(a.sync().expect("a").applied, 1);
    assert_eq!(b.sync().expect("b").conflicts, 1);
    (w, o, a, b)
}

#[test]
fn two_devices_edit_the_same_crew_field() {
    // a pushes first; b's edit has the later HLC and wins; a's value is kept in the conflict.
    let (w, o, a, b) = crew_notes_conflict("meter room key at the guard", "meter room open");
    a.sync().expect("a pulls");
    let server = w.office.detail(o.id);
    assert_eq!(server.order.crew_notes, "meter room open");
    assert_eq!(server.conflicts.len(), 1);
    let c = &server.conflicts[0];
    assert_eq!(c.rule, ConflictRule::LatestHlcWins);
    assert_eq!(c.kept_value, json!("meter room open"));
    assert_eq!(c.lost_value, json!("meter room key at the guard"));
    assert_eq!(c.field, "crew_notes");
    for d in [&a, &b] {
        assert_eq!(
            d.store.order(o.id).expect("o").crew_notes,
            "meter room open"
        );
        let list = d.store.conflicts(true).expect("c");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].id, c.id);
    }
    // a takes its value back through the conflict: it syncs to the server and to b.
    a.store
        .resolve_conflict(c.id, ResolveChoice::Lost, "key is with the guard")
        .expect("resolve");
    assert!(a.store.conflicts(true).expect("c").is_empty());
    a.sync().expect("a");
    b.sync().expect("b");
    let server = w.office.detail(o.id);
    assert_eq!(server.order.crew_notes, "meter room key at the guard");
    assert_eq!(server.conflicts[0].status, ConflictStatus::Resolved);
    assert_eq!(
        b.store.order(o.id).expect("o").crew_notes,
        "meter room key at the guard"
    );
    assert_eq!(
        b.store.conflicts(false).expect("c")[0].status,
        ConflictStatus::Resolved
    );
    assert_eq!(
        a.store.order(o.id).expect("o").crew_notes,
        "meter room key at the guard"
    );
}

/// Acknowledging a conflict (the crew saw it, the winning value stands) syncs like resolving:
/// the server records it, the value is unchanged, and the other device sees it acknowledged.
#[test]
fn acknowledging_a_conflict_reaches_the_server_and_the_other_device() {
    let (w, o, a, b) = crew_notes_conflict("gate code 1234", "gate open");
    let c = w.office.detail(o.id).conflicts.remove(0);
    assert_eq!(c.status, ConflictStatus::Open);

    let acked = b.store.acknowledge_conflict(c.id).expect("acknowledge");
    assert_eq!(acked.status, ConflictStatus::Acknowledged);
    assert!(b.store.conflicts(true).expect("open").is_empty());
    assert_eq!(
        b.store.pending_count().expect("pending"),
        1,
        "the acknowledgement is queued"
    );
    b.sync().expect("b sends it");
    assert_eq!(b.store.pending_count().expect("pending"), 0);
    a.sync().expect("a pulls");

    let server = w.office.detail(o.id);
    assert_eq!(server.conflicts.len(), 1);
    assert_eq!(server.conflicts[0].id, c.id);
    assert_eq!(server.conflicts[0].status, ConflictStatus::Acknowledged);
    assert_eq!(
        server.order.crew_notes, "gate open",
        "acknowledging keeps the winner"
    );
    for d in [&a, &b] {
        assert_eq!(d.store.order(o.id).expect("o").crew_notes, "gate open");
        assert!(d.store.conflicts(true).expect("open").is_empty());
        let all = d.store.conflicts(false).expect("all");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].status, ConflictStatus::Acknowledged);
    }
}

#[test]
fn a_lost_push_response_is_replayed_and_applied_once() {
    let w = World::new();
    let o = w
        .create(vec![new_order("1001", "C1", WorkKind::MeterCheck, 1)])
        .remove(0);
    let proxy = LossyProxy::start(&w.server.url(), 1);
    let token = w.token("m1", "p1");
    let phone = Device::open(
        &w.dir.path().join("p1"),
        &proxy.loopback.url,
        &token,
        "m1",
        "C1",
        std::sync::Arc::new(fieldcrew_core::clock::SystemClock),
    );
    phone.sync().expect("sync");
    let readings = phone.complete(&o, "1011");
    let ops = phone.store.pending(100).expect("pending");
    let report = phone.sync().expect("sync survives the lost reply");
    // The first push was processed but its reply lost; the retry got the first answers.
    assert_eq!(proxy.pushes_seen.load(Ordering::SeqCst), 2);
    assert_eq!((report.pushed, report.applied), (3, 3));
    assert_eq!(phone.store.pending_count().expect("p"), 0);
    let d = w.office.detail(o.id);
    assert_eq!(d.order.status, Status::Completed);
    assert_eq!(d.readings, readings);
    assert_eq!(d.timeline.len(), 2);
    // A third replay of the same batch, by hand, answers exactly as the first time.
    let body = json!({
        "device_id": phone.store.device_id(),
        "ops": ops.iter().map(|e| json!({
            "op_id": e.op_id, "entity": e.entity, "entity_id": e.entity_id, "order_id": e.order_id,
            "op": e.op, "fields": e.fields, "base_version": e.base_version, "hlc": e.hlc,
        })).collect::<Vec<_>>(),
    });
    let (status, v) = w
        .office
        .call_with(&token, Method::POST, "/v1/sync/push", Some(body));
    assert_eq!(status, StatusCode::OK);
    let replay: PushResponse = serde_json::from_value(v).expect("push reply");
    assert!(replay.answers.iter().all(|a| a.outcome == Outcome::Applied));
    assert_eq!(w.office.detail(o.id).timeline.len(), 2);
    assert_eq!(w.office.detail(o.id).readings.len(), 1);
}

#[test]
fn reassignment_while_readings_are_pending() {
    let w = World::new();
    let o = w
        .create(vec![new_order("1001", "C1", WorkKind::MeterCheck, 1)])
        .remove(0);
    let phone = w.device("p1", "m1", "C1");
    phone.sync().expect("sync");
    phone.report(o.id, Status::Arrived);
    let readings = phone.read(o.id, &o.meters[0].asset_number, "1033");
    w.office.reassign(o.id, "C2");

    let report = phone.sync().expect("sync");
    assert_eq!((report.conflicts, report.rejected), (2, 0));
    // The readings are on the server; the order stays with C2; dispatch has a conflict.
    let d = w.office.detail(o.id);
    assert_eq!(d.order.crew_id, "C2");
    assert_eq!(d.order.status, Status::Dispatched);
    assert_eq!(d.readings, readings);
    assert_eq!(d.timeline.len(), 1);
    assert_eq!(d.conflicts.len(), 1);
    assert_eq!(d.conflicts[0].rule, ConflictRule::ReassignedWhileOffline);
    assert_eq!(d.conflicts[0].crew_id, "C1");
    // The order left C1's phone once its pending work was acknowledged; the conflict stays.
    assert!(phone.numbers().is_empty());
    assert_eq!(phone.store.pending_count().expect("p"), 0);
    assert_eq!(phone.store.conflicts(true).expect("c").len(), 1);
    // C2 sees the order with C1's records.
    let other = w.device("p3", "m3", "C2");
    other.sync().expect("sync");
    assert_eq!(other.numbers(), ["1001"]);
    let local = other.store.order_detail(o.id).expect("detail");
    assert_eq!(local.readings.len(), 1);
    // (The phone stores times to the millisecond; the server keeps what was sent.)
    let (l, r) = (&local.readings[0].reading, &d.readings[0]);
    assert_eq!(
        (l.id, l.value, l.hlc, &l.member_id),
        (r.id, r.value, r.hlc, &r.member_id)
    );
    assert_eq!(l.taken_at.timestamp_millis(), r.taken_at.timestamp_millis());
    assert!(other.store.conflicts(false).expect("c").is_empty());
}

#[test]
fn one_crews_token_against_another_crews_order() {
    let w = World::new();
    let mine = w
        .create(vec![new_order("1001", "C1", WorkKind::MeterCheck, 1)])
        .remove(0);
    let theirs = w
        .create(vec![new_order("2001", "C2", WorkKind::MeterCheck, 1)])
        .remove(0);
    let token = w.token("m1", "p1");
    let hlc = "0001764000000000-00000001-00000000000000000000000000000001";
    let op = |order: uuid::Uuid| {
        json!({ "device_id": uuid::Uuid::now_v7(), "ops": [{
            "op_id": uuid::Uuid::now_v7(), "entity": "work_order", "entity_id": order, "order_id": order,
            "op": "update", "fields": { "crew_notes": "x" }, "base_version": 1, "hlc": hlc,
        }]})
    };
    let answer = |order| {
        let (status, v) =
            w.office
                .call_with(&token, Method::POST, "/v1/sync/push", Some(op(order)));
        assert_eq!(status, StatusCode::OK);
        serde_json::from_value::<PushResponse>(v)
            .expect("reply")
            .answers
            .remove(0)
            .outcome
    };
    // Another crew's order answers exactly like an order that does not exist.
    let foreign = answer(theirs.id);
    let missing = answer(uuid::Uuid::now_v7());
    assert_eq!(foreign, missing);
    assert!(matches!(
        foreign,
        Outcome::Rejected {
            code: RejectCode::NotFound,
            ..
        }
    ));
    assert_eq!(answer(mine.id), Outcome::Applied);
    assert_eq!(w.office.detail(theirs.id).order.crew_notes, "");
    assert_eq!(w.office.detail(theirs.id).order.version, 1);
    // A crew token has no back office, and a phone never pulls the other crew's order.
    let (status, _) = w.office.call_with(
        &token,
        Method::GET,
        &format!("/v1/office/orders/{}", theirs.id),
        None,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    let phone = Device::open(
        &w.dir.path().join("p1"),
        &w.server.url(),
        &token,
        "m1",
        "C1",
        std::sync::Arc::new(fieldcrew_core::clock::SystemClock),
    );
    phone.sync().expect("sync");
    assert_eq!(phone.numbers(), ["1001"]);
    // A revoked token is a typed error for the shell, and nothing changes locally.
    let (status, _) = w.office.call_with(
        &w.admin_token,
        Method::DELETE,
        &format!("/v1/admin/tokens/{}", token.split('.').nth(1).unwrap_or("")),
        None,
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    phone
        .store
        .set_crew_notes(mine.id, "after revoke")
        .expect("notes");
    assert!(matches!(phone.sync(), Err(SyncError::Unauthorized)));
    assert_eq!(phone.store.pending_count().expect("p"), 1);
}

#[test]
fn a_malformed_or_hostile_reply_leaves_the_store_and_cursor_untouched() {
    let w = World::new();
    w.create(vec![
        new_order("1001", "C1", WorkKind::MeterCheck, 1),
        new_order("1002", "C1", WorkKind::MeterCheck, 2),
    ]);
    let token = w.token("m1", "p1");
    let dir = w.dir.path().join("p1");
    let clock = std::sync::Arc::new(fieldcrew_core::clock::SystemClock);
    let phone = Device::open(&dir, &w.server.url(), &token, "m1", "C1", clock);
    phone.sync().expect("sync");
    let cursor = phone.store.sync_cursor().expect("cursor");
    let snapshot = |d: &Device| {
        let list = d.store.orders_by_status(&[], 100).expect("list");
        let details: Vec<_> = list
            .iter()
            .map(|o| d.store.order_detail(o.id).expect("detail"))
            .collect();
        (
            details,
            d.store.sync_cursor().expect("cursor"),
            d.store.pending_count().expect("p"),
        )
    };
    let before = snapshot(&phone);
    let order = serde_json::to_value(&before.0[0].order).expect("json");
    let mut other_crew = order.clone();
    other_crew["crew_id"] = json!("C2");
    other_crew["number"] = json!("9999");
    let mut bad_slot = order.clone();
    bad_slot["appointment"] =
        json!({ "mode": "slot", "start": "2026-11-25T04:00:00Z", "end": "2026-11-25T03:00:00Z" });
    let page = |changes: serde_json::Value, cursor: i64| {
        json!({ "changes": changes, "cursor": cursor, "more": false,
                "server_hlc": "0001764000000000-00000001-00000000000000000000000000000001" })
        .to_string()
    };
    let photo = |sha: &str, bytes: u64| {
        json!({ "id": uuid::Uuid::now_v7(), "order_id": order["id"], "kind": "meter_before",
                "sha256": sha, "bytes": bytes, "width": 800, "height": 600,
                "thumbnail_bytes": 9000, "thumbnail_width": 320, "thumbnail_height": 240,
                "source_format": "jpeg", "original_width": 800, "original_height": 600,
                "captured_at": null, "location": null, "added_at": "2026-11-25T01:00:00Z",
                "member_id": "m1",
                "hlc": "0001764000000000-00000001-00000000000000000000000000000001",
                "sensitive": false })
    };
    let with_photo = |p: serde_json::Value| {
        page(
            json!([{ "kind": "order", "seq": cursor + 1, "order": order, "photos": [p] }]),
            cursor + 1,
        )
    };
    // Well-formed JSON whose photo records are hostile: the check must name them (a parse
    // error would also be Malformed and prove nothing).
    for (record, why) in [
        (photo("../../../../data/evil", 1000), "sha256"),
        (photo(&"a".repeat(64), 40 << 30), "bytes"),
    ] {
        let server = hostile(Box::leak(with_photo(record).into_boxed_str()));
        let evil = Device {
            store: fieldcrew_core::store::Store::open(
                dir.join("phone.sqlite3"),
                Default::default(),
            )
            .expect("store"),
            client: client(&server.url, &token),
            member: "m1".into(),
        };
        match evil.sync() {
            Err(SyncError::Malformed(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("expected Malformed({why}), got {other:?}"),
        }
        assert_eq!(snapshot(&evil), before);
    }
    let bodies: Vec<String> = vec![
        "{\"changes\": [".into(),
        "<html>gateway</html>".into(),
        page(
            json!([{ "kind": "order", "seq": cursor + 1, "order": other_crew }]),
            cursor + 1,
        ),
        page(
            json!([{ "kind": "order", "seq": cursor + 1, "order": bad_slot }]),
            cursor + 1,
        ),
        page(json!([]), cursor - 1),
        page(
            json!([{ "kind": "removal", "seq": cursor + 5, "order_id": before.0[0].order.id }]),
            cursor + 2,
        ),
        page(
            json!([{ "kind": "teleport", "seq": cursor + 1 }]),
            cursor + 1,
        ),
        // An empty page that says more follows, with a cursor far ahead: applying its cursor
        // would skip every change in between.
        json!({ "changes": [], "cursor": cursor + 100, "more": true,
                "server_hlc": "0001764000000000-00000001-00000000000000000000000000000001" })
        .to_string(),
        // A last page that counts changes beyond it contradicts itself.
        json!({ "changes": [], "cursor": cursor, "more": false, "remaining": 7,
                "server_hlc": "0001764000000000-00000001-00000000000000000000000000000001" })
        .to_string(),
        // A count that is not a count.
        json!({ "changes": [], "cursor": cursor, "more": false, "remaining": -1,
                "server_hlc": "0001764000000000-00000001-00000000000000000000000000000001" })
        .to_string(),
        // A clock stamp in the year 2100 would drag the phone's HLC decades ahead.
        json!({ "changes": [], "cursor": cursor, "more": false,
                "server_hlc": "0004102444800000-00000001-00000000000000000000000000000001" })
        .to_string(),
    ];
    for body in bodies {
        let body: &'static str = Box::leak(body.into_boxed_str());
        let server = hostile(body);
        let evil = Device {
            store: fieldcrew_core::store::Store::open(
                dir.join("phone.sqlite3"),
                Default::default(),
            )
            .expect("store"),
            client: client(&server.url, &token),
            member: "m1".into(),
        };
        match evil.sync() {
            Err(SyncError::Malformed(_)) => {}
            other => panic!("{body}: expected Malformed, got {other:?}"),
        }
        assert_eq!(snapshot(&evil), before, "{body}");
    }
    // The real server still syncs the untouched store.
    assert!(phone.sync().is_ok());
    assert_eq!(phone.store.sync_cursor().expect("c"), cursor);
}

#[test]
fn a_device_clock_two_hours_behind() {
    let w = World::new();
    let o = w
        .create(vec![new_order("1001", "C1", WorkKind::MeterCheck, 1)])
        .remove(0);
    let now = chrono::Utc::now();
    let right_clock = clock_at(now);
    let right = w.device_with_clock("pa", "m1", "C1", right_clock.clone());
    let behind_clock = clock_at(now - Duration::hours(2));
    let behind = w.device_with_clock("pb", "m2", "C1", behind_clock.clone());
    right.sync().expect("sync");
    behind.sync().expect("sync");
    // The pull moved the lagging device's HLC past the server's stamps.
    assert!(behind.store.last_hlc().expect("hlc").wall_ms >= now.timestamp_millis() - 1000);

    // The lagging phone reports arrival with its own (wrong) time: accepted as recorded.
    behind.report(o.id, Status::Arrived);
    let readings = behind.read(o.id, &o.meters[0].asset_number, "1005");
    behind.sync().expect("sync");
    let d = w.office.detail(o.id);
    assert_eq!(d.order.status, Status::Arrived);
    assert_eq!(d.timeline[0].at, now - Duration::hours(2));
    assert_eq!(d.readings, readings);

    // Both edit the notes offline, the lagging phone a minute later in real time. It has not
    // seen the other edit, and its wall clock is two hours behind, so its stamp orders first:
    // the decision is deterministic (the same on every device and the server) and the losing
    // value is kept in the conflict, never dropped.
    right.sync().expect("sync");
    right_clock.set(chrono::Utc::now() + Duration::seconds(1));
    right.store.set_crew_notes(o.id, "first").expect("notes");
    behind_clock.advance(Duration::minutes(1));
    behind.store.set_crew_notes(o.id, "second").expect("notes");
    right.sync().expect("sync");
    let report = behind.sync().expect("sync");
    assert_eq!(report.conflicts, 1);
    right.sync().expect("sync");
    let d = w.office.detail(o.id);
    let c = &d.conflicts[0];
    assert_eq!(d.order.crew_notes, "first");
    assert_eq!(
        (c.rule, c.lost_value.clone()),
        (ConflictRule::LatestHlcWins, json!("second"))
    );
    assert_eq!(right.store.order(o.id).expect("o").crew_notes, "first");
    assert_eq!(behind.store.order(o.id).expect("o").crew_notes, "first");
    // After syncing, the lagging phone's clock has moved past every stamp it has seen,
    // including the winning edit, so its next edit orders after it.
    let winning = right.store.last_hlc().expect("hlc");
    behind.sync().expect("sync");
    assert!(behind.store.last_hlc().expect("hlc") > winning);
    behind.store.set_crew_notes(o.id, "third").expect("notes");
    let report = behind.sync().expect("sync");
    assert_eq!((report.applied, report.conflicts), (1, 0));
    assert_eq!(w.office.detail(o.id).order.crew_notes, "third");
}

/// A cancel stops the sync in progress mid-request and a sync already called and waiting for
/// it, leaving nothing applied; a cancel while nothing runs is not left armed for a later sync.
#[test]
fn cancellation_from_another_thread() {
    let w = World::new();
    w.create(vec![new_order("1001", "C1", WorkKind::MeterCheck, 1)]);
    // A server that accepts the request and never answers, behind a proxy that can later point
    // at the real server.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(tx));
    let app = axum::Router::new().fallback(move || {
        let _ = tx.lock().map(|t| t.send(()));
        std::future::pending::<&'static str>()
    });
    let stuck = Loopback::serve(app);
    let proxy =
        fieldcrew_e2e::fault::FaultProxy::start(&stuck.url, fieldcrew_e2e::fault::Fault::None);
    let token = w.token("m1", "p1");
    let phone = Device::open(
        &w.dir.path().join("p1"),
        &proxy.url,
        &token,
        "m1",
        "C1",
        std::sync::Arc::new(fieldcrew_core::clock::SystemClock),
    );
    let cancel = phone.client.cancel_handle();
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| phone.sync());
        rx.recv().expect("the first sync's request arrived");
        // A second sync asked for now (its ticket taken here) queues behind the first (one run
        // per client), or has not reached the core yet when the cancel comes: stopped either way.
        let ticket = phone.client.ticket();
        let p = &phone;
        let second = s.spawn(move || p.client.sync_from(ticket, &p.store, &mut |_| {}));
        cancel.cancel();
        proxy.retarget(&w.server.url());
        (
            first.join().expect("first joined"),
            second.join().expect("second joined"),
        )
    });
    assert!(matches!(first, Err(SyncError::Cancelled)), "{first:?}");
    assert!(matches!(second, Err(SyncError::Cancelled)), "{second:?}");
    assert!(rx.try_recv().is_err(), "the waiting sync sent nothing");
    assert_eq!(phone.store.sync_cursor().expect("c"), 0);
    assert!(phone.numbers().is_empty());

    // A cancel tapped while nothing runs does not stop the next sync, nor a login.
    cancel.cancel();
    assert_eq!(phone.client.whoami().expect("whoami").member_id, "m1");
    let report = phone.sync().expect("a sync called after the cancel runs");
    assert_eq!(report.orders_received, 1);
    assert_eq!(phone.numbers(), ["1001"]);

    // A run asked for before a cancel (its ticket taken, the call handed to another thread
    // that has not got to it yet) is stopped by it, without a request.
    let ticket = phone.client.ticket();
    cancel.cancel();
    let r = phone.client.sync_from(ticket, &phone.store, &mut |_| {});
    assert!(matches!(r, Err(SyncError::Cancelled)), "{r:?}");
    assert!(rx.try_recv().is_err());
    let r = phone.client.transfer_photos_from(
        ticket,
        &phone.store,
        NetworkKind::Unmetered,
        &mut |_| {},
    );
    assert!(matches!(r, Err(SyncError::Cancelled)), "{r:?}");
    // A fresh ticket runs.
    let fresh = phone.client.ticket();
    assert!(fresh > ticket);
    phone
        .client
        .sync_from(fresh, &phone.store, &mut |_| {})
        .expect("a run asked for after the cancel");
}

#[test]
fn merge_rules_on_the_wire_ownership_and_validation() {
    let w = World::new();
    let o = w
        .create(vec![new_order("1001", "C1", WorkKind::MeterCheck, 1)])
        .remove(0);
    let token = w.token("m1", "p1");
    let push = |fields: serde_json::Value, entity: &str, base: i64| {
        let body = json!({ "device_id": uuid::Uuid::now_v7(), "ops": [{
            "op_id": uuid::Uuid::now_v7(), "entity": entity, "entity_id": o.id, "order_id": o.id,
            "op": "update", "fields": fields, "base_version": base,
            "hlc": "0001764000000000-00000001-00000000000000000000000000000001",
        }]});
        let (status, v) = w
            .office
            .call_with(&token, Method::POST, "/v1/sync/push", Some(body));
        assert_eq!(status, StatusCode::OK, "{v}");
        serde_json::from_value::<PushResponse>(v)
            .expect("reply")
            .answers
            .remove(0)
            .outcome
    };
    // Dispatch-owned fields other than the customer's phone are not the crew's to write.
    assert!(matches!(
        push(json!({ "priority": "urgent" }), "work_order", 1),
        Outcome::Rejected {
            code: RejectCode::NotOwner,
            ..
        }
    ));
    assert!(matches!(
        push(json!({ "crew_notes": 5 }), "work_order", 1),
        Outcome::Rejected {
            code: RejectCode::Invalid,
            ..
        }
    ));
    assert!(matches!(
        push(
            json!({ "survey": { "capacity_kva": "0", "voltage": "v220", "phases": 1, "connection": { "station": "", "line": "", "transformer": "", "pole_or_box": "" }, "load_notes": "" } }),
            "work_order",
            1
        ),
        Outcome::Rejected {
            code: RejectCode::Invalid,
            ..
        }
    ));
    // Customer contact: dispatch changed it too, so dispatch's value stands.
    w.office
        .patch(o.id, json!({ "customer_phone": "13911112222" }));
    let c = push(json!({ "customer_phone": "13700000000" }), "work_order", 1);
    let Outcome::Conflict { conflict_id } = c else {
        panic!("expected conflict, got {c:?}")
    };
    let d = w.office.detail(o.id);
    assert_eq!(d.order.customer.phone, "13911112222");
    let k = d
        .conflicts
        .iter()
        .find(|k| k.id == conflict_id)
        .expect("conflict listed");
    assert_eq!(
        (k.rule, k.lost_value.clone()),
        (ConflictRule::DispatchOwnsField, json!("13700000000"))
    );
    // Crew notes: dispatch corrected them, the crew's concurrent edit stands (crew owns them).
    w.office
        .patch(o.id, json!({ "crew_notes": "from the office" }));
    let c = push(json!({ "crew_notes": "from the field" }), "work_order", 1);
    assert!(matches!(c, Outcome::Conflict { .. }));
    let d = w.office.detail(o.id);
    assert_eq!(d.order.crew_notes, "from the field");
    assert!(
        d.conflicts
            .iter()
            .any(|k| k.rule == ConflictRule::CrewOwnsField
                && k.lost_value == json!("from the office"))
    );
    // An unknown entity never reaches storage.
    let (status, _) = w.office.call_with(&token, Method::POST, "/v1/sync/push", Some(json!({ "device_id": uuid::Uuid::now_v7(), "ops": [{ "op_id": uuid::Uuid::now_v7(), "entity": "photo_blob", "entity_id": "x", "order_id": o.id, "op": "create", "fields": {}, "base_version": 0, "hlc": "0001764000000000-00000001-00000000000000000000000000000001" }] })));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let _ = Entity::Conflict;
}

/// A push's answers: (pushed, applied, merged, conflicts, rejected).
fn answers(r: &fieldcrew_core::sync::SyncReport) -> (u64, u64, u64, u64, u64) {
    (r.pushed, r.applied, r.merged, r.conflicts, r.rejected)
}

/// An HLC stamp as a phone would send it, at `at`.
fn stamp_at(at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{:016}-00000001-{}",
        at.timestamp_millis(),
        uuid::Uuid::now_v7().simple()
    )
}

/// Pushes one crew-notes edit of `order` with a raw HLC stamp and base version.
fn push_notes(
    w: &World,
    token: &str,
    device_id: uuid::Uuid,
    order: uuid::Uuid,
    notes: &str,
    base_version: i64,
    hlc: &str,
) -> PushResponse {
    let body = json!({ "device_id": device_id, "ops": [{
        "op_id": uuid::Uuid::now_v7(), "entity": "work_order", "entity_id": order,
        "order_id": order, "op": "update", "fields": { "crew_notes": notes },
        "base_version": base_version, "hlc": hlc,
    }]});
    let (status, v) = w
        .office
        .call_with(token, Method::POST, "/v1/sync/push", Some(body));
    assert_eq!(status, StatusCode::OK, "{v}");
    serde_json::from_value(v).expect("push reply")
}

#[test]
fn an_hlc_stamp_far_ahead_is_rejected_and_never_reaches_the_servers_clock() {
    let w = World::new();
    let o = w
        .create(vec![new_order("1001", "C1", WorkKind::MeterCheck, 1)])
        .remove(0);
    let token = w.token("m1", "p1");
    let device = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    // A phone whose clock is 40 days ahead (or a hostile client): refused, with a reason the
    // crew can act on, before the server's clock moves.
    let far = push_notes(
        &w,
        &token,
        device,
        o.id,
        "from the future",
        1,
        &stamp_at(now + Duration::days(40)),
    );
    match &far.answers[0].outcome {
        Outcome::Rejected { code, reason } => {
            assert_eq!(*code, RejectCode::Invalid);
            assert!(reason.contains("ahead of the server's clock"), "{reason}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let bound = chrono::Utc::now() + Duration::minutes(1);
    assert!(far.server_hlc.wall_ms <= bound.timestamp_millis());
    assert_eq!(w.office.detail(o.id).order.crew_notes, "");
    // Every other phone keeps syncing: the server's stamp it pulls is not poisoned (a phone
    // refuses a server_hlc more than 30 days ahead of its clock as malformed).
    let phone = w.device("p2", "m2", "C1");
    phone.sync().expect("a crew-mate's phone syncs");
    assert!(phone.store.last_hlc().expect("hlc").wall_ms <= bound.timestamp_millis());
    assert_eq!(phone.numbers(), ["1001"]);
    // Clock drift within the day is accepted as before.
    let near = push_notes(
        &w,
        &token,
        device,
        o.id,
        "an hour ahead",
        1,
        &stamp_at(now + Duration::hours(1)),
    );
    assert_eq!(near.answers[0].outcome, Outcome::Applied);
    assert_eq!(w.office.detail(o.id).order.crew_notes, "an hour ahead");
    phone.sync().expect("sync");
    assert_eq!(
        phone.store.order(o.id).expect("order").crew_notes,
        "an hour ahead"
    );
}

#[test]
fn a_device_is_the_tokens_device_not_the_device_id_in_the_body() {
    let w = World::new();
    let o = w
        .create(vec![new_order("1001", "C1", WorkKind::SiteSurvey, 1)])
        .remove(0);
    let a = w.device("pa", "m1", "C1");
    a.sync().expect("sync");
    a.store.set_crew_notes(o.id, "A's notes").expect("notes");
    assert_eq!(a.sync().expect("sync").applied, 1);
    let a_token = w.token("m1", "pa");
    let b_token = w.token("m2", "pb");
    let now = chrono::Utc::now();
    // The same token's device, with another store id in the body (the app was reinstalled):
    // still the same device, so its stale-based edit follows its own without a conflict.
    let same = push_notes(
        &w,
        &a_token,
        uuid::Uuid::now_v7(),
        o.id,
        "A, reinstalled",
        1,
        &stamp_at(now + Duration::seconds(1)),
    );
    assert_eq!(same.answers[0].outcome, Outcome::Merged);
    assert!(w.office.detail(o.id).conflicts.is_empty());
    // Another device naming A's store id in the body is not A: its concurrent edit of the same
    // field is a conflict (the later stamp wins, the other value is kept), not a silent
    // overwrite of A's value.
    let other = push_notes(
        &w,
        &b_token,
        a.store.device_id(),
        o.id,
        "B's notes",
        1,
        &stamp_at(now + Duration::seconds(2)),
    );
    let Outcome::Conflict { conflict_id } = other.answers[0].outcome else {
        panic!("expected a conflict, got {:?}", other.answers[0].outcome)
    };
    let d = w.office.detail(o.id);
    assert_eq!(d.order.crew_notes, "B's notes");
    assert_eq!(d.conflicts.len(), 1);
    let c = &d.conflicts[0];
    assert_eq!(c.id, conflict_id);
    assert_eq!(
        (c.rule, c.kept_value.clone(), c.lost_value.clone()),
        (
            ConflictRule::LatestHlcWins,
            json!("B's notes"),
            json!("A, reinstalled")
        )
    );
}

#[test]
fn a_base_version_above_the_servers_is_rejected_and_overwrites_nothing() {
    let w = World::new();
    let o = w
        .create(vec![new_order("1001", "C1", WorkKind::MeterCheck, 1)])
        .remove(0);
    let token = w.token("m1", "p1");
    // Dispatch changes the customer's phone (dispatch owns it): version 2.
    let v2 = w
        .office
        .patch(o.id, json!({ "customer_phone": "13911112222" }))
        .order
        .version;
    assert_eq!(v2, 2);
    let push = |base: i64| {
        let body = json!({ "device_id": uuid::Uuid::now_v7(), "ops": [{
            "op_id": uuid::Uuid::now_v7(), "entity": "work_order", "entity_id": o.id,
            "order_id": o.id, "op": "update", "fields": { "customer_phone": "13700000000" },
            "base_version": base, "hlc": stamp_at(chrono::Utc::now()),
        }]});
        let (status, v) = w
            .office
            .call_with(&token, Method::POST, "/v1/sync/push", Some(body));
        assert_eq!(status, StatusCode::OK, "{v}");
        serde_json::from_value::<PushResponse>(v)
            .expect("reply")
            .answers
            .remove(0)
            .outcome
    };
    // A client claiming to have seen versions the server never made (99, or just one ahead)
    // would pass for having seen dispatch's edit: refused, and dispatch's value stands.
    for base in [99, 3] {
        match push(base) {
            Outcome::Rejected { code, reason } => {
                assert_eq!(code, RejectCode::Invalid);
                assert!(
                    reason.contains(&format!("version {base}")) && reason.contains("version 2"),
                    "{reason}"
                );
            }
            other => panic!("base {base}: expected a rejection, got {other:?}"),
        }
        let d = w.office.detail(o.id);
        assert_eq!(d.order.customer.phone, "13911112222");
        assert_eq!(d.order.version, 2);
        assert!(d.conflicts.is_empty());
    }
    // Based on the version that has dispatch's edit, the crew's proposal is a plain update.
    assert_eq!(push(2), Outcome::Applied);
    let d = w.office.detail(o.id);
    assert_eq!(
        (d.order.customer.phone.as_str(), d.order.version),
        ("13700000000", 3)
    );
    assert!(d.conflicts.is_empty());
}

/// A push reply that does not answer the operations sent (here: none of them) is Malformed,
/// and every change stays queued, to go through intact to the real server afterwards.
#[test]
fn a_push_reply_that_answers_nothing_leaves_the_outbox_queued() {
    let w = World::new();
    let o = w
        .create(vec![new_order("1001", "C1", WorkKind::MeterCheck, 1)])
        .remove(0);
    let phone = w.device("p1", "m1", "C1");
    phone.sync().expect("sync");
    phone.report(o.id, Status::Accepted);
    phone
        .store
        .set_crew_notes(o.id, "dog in the yard")
        .expect("edit");
    let queued = |d: &Device| {
        d.store
            .pending(10)
            .expect("pending")
            .into_iter()
            .map(|e| (e.seq, e.op_id, e.fields))
            .collect::<Vec<_>>()
    };
    let before = queued(&phone);
    assert_eq!(before.len(), 2);
    let cursor = phone.store.sync_cursor().expect("cursor");

    let server = hostile("{}");
    let liar = client(&server.url, &w.token("m1", "p1-liar"));
    let r = liar.sync(&phone.store, &mut |_| {});
    assert!(matches!(r, Err(SyncError::Malformed(_))), "{r:?}");
    assert_eq!(queued(&phone), before, "nothing acknowledged, nothing lost");
    assert_eq!(phone.store.sync_cursor().expect("cursor"), cursor);

    let report = phone.sync().expect("the real server");
    // The note is based on the version before the status change went in: merged, no conflict.
    assert_eq!(answers(&report), (2, 1, 1, 0, 0));
    assert!(queued(&phone).is_empty());
    let server = w.office.detail(o.id);
    assert_eq!(server.order.status, Status::Accepted);
    assert_eq!(server.order.crew_notes, "dog in the yard");
}

/// Edits made while a sync is pulling (here: from the progress callback, at the pull's start)
/// are not overwritten by the server's copy of the order, which dispatch changed meanwhile:
/// they stay on top, still queued, and the next sync sends them; the server ends with both.
#[test]
fn edits_made_during_a_pull_stay_on_top_until_sent() {
    let w = World::new();
    let o = w
        .create(vec![new_order("1001", "C1", WorkKind::SiteSurvey, 1)])
        .remove(0);
    let phone = w.device("p1", "m1", "C1");
    phone.sync().expect("first sync");
    let start = day_start() + Duration::hours(5);
    let moved = Appointment::Slot {
        start,
        end: start + Duration::hours(2),
    };
    w.office.reschedule(o.id, moved);

    let mut edited = false;
    let report = phone
        .client
        .sync(&phone.store, &mut |p| {
            if p.phase == SyncPhase::Pull && !edited {
                edited = true;
                phone.report(o.id, Status::Arrived);
                phone
                    .store
                    .set_crew_notes(o.id, "dog in the yard")
                    .expect("notes");
                phone.store.save_survey(o.id, &survey()).expect("survey");
            }
        })
        .expect("sync");
    assert!(edited);
    assert_eq!((report.pushed, report.orders_received), (0, 1));
    // The pulled copy brought dispatch's appointment; the phone's edits are still on top.
    let local = phone.store.order(o.id).expect("order");
    assert_eq!(local.appointment, moved);
    assert_eq!(local.status, Status::Arrived);
    assert_eq!(local.crew_notes, "dog in the yard");
    assert_eq!(local.survey, Some(survey()));
    assert_eq!(phone.store.pending_count().expect("pending"), 3);
    let server = w.office.detail(o.id).order;
    assert_eq!(
        (server.status, server.crew_notes.as_str()),
        (Status::Dispatched, "")
    );

    // The notes and survey were based on the order's version before the reschedule: merged
    // (other fields), not conflicting; the arrival is a fact, applied.
    let report = phone.sync().expect("second sync");
    assert_eq!(answers(&report), (3, 1, 2, 0, 0));
    let d = w.office.detail(o.id);
    assert_eq!(d.order.appointment, moved);
    assert_eq!(d.order.status, Status::Arrived);
    assert_eq!(d.order.crew_notes, "dog in the yard");
    assert_eq!(d.order.survey, Some(survey()));
    assert!(d.conflicts.is_empty());
    let local = phone.store.order(o.id).expect("order");
    assert_eq!(local.version, d.order.version);
    assert_eq!(local.crew_notes, "dog in the yard");
    assert_eq!(phone.store.pending_count().expect("pending"), 0);
}

/// A crew member tries to put back the value they lost on a dispatch-owned field. The phone
/// shows the conflict resolved at once (offline), the server rejects it (`not_owner`), the
/// rejection is listed on the phone, the server's copy of the conflict (still open) replaces
/// the phone's, and nothing is retried; the crew can then resolve it the allowed way.
#[test]
fn a_rejected_conflict_resolution_is_undone_on_the_phone() {
    let w = World::new();
    let o = w
        .create(vec![new_order("1001", "C1", WorkKind::MeterCheck, 1)])
        .remove(0);
    let phone = w.device("p1", "m1", "C1");
    phone.sync().expect("first sync");
    // Dispatch corrects the customer's phone while another device of the crew proposes another.
    w.office
        .patch(o.id, json!({ "customer_phone": "13911112222" }));
    let token = w.token("m2", "p2");
    let body = json!({ "device_id": uuid::Uuid::now_v7(), "ops": [{
        "op_id": uuid::Uuid::now_v7(), "entity": "work_order", "entity_id": o.id,
        "order_id": o.id, "op": "update", "fields": { "customer_phone": "13700000000" },
        "base_version": 1, "hlc": stamp_at(chrono::Utc::now()),
    }]});
    let (status, v) = w
        .office
        .call_with(&token, Method::POST, "/v1/sync/push", Some(body));
    assert_eq!(status, StatusCode::OK, "{v}");
    let report = phone.sync().expect("sync brings the conflict");
    assert_eq!(report.conflicts_received, 1);
    let c = phone.store.conflicts(true).expect("open").remove(0);
    assert_eq!(c.rule, ConflictRule::DispatchOwnsField);
    assert_eq!(c.lost_value, json!("13700000000"));

    let local = phone
        .store
        .resolve_conflict(c.id, ResolveChoice::Lost, "the customer gave me this one")
        .expect("resolved locally");
    assert_eq!(local.status, ConflictStatus::Resolved);
    let report = phone.sync().expect("sync");
    assert_eq!((report.pushed, report.rejected, report.applied), (1, 1, 0));

    let rejected = phone.store.rejected_changes().expect("rejections");
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (
            rejected[0].entity,
            rejected[0].entity_id.as_str(),
            rejected[0].code.as_str()
        ),
        (Entity::Conflict, c.id.to_string().as_str(), "not_owner")
    );
    assert!(
        rejected[0].reason.contains("customer_phone"),
        "{}",
        rejected[0].reason
    );
    // The server's copy came back: open, no resolution; the dispatcher's value stands.
    let server = w.office.detail(o.id);
    assert_eq!(server.conflicts[0].status, ConflictStatus::Open);
    assert_eq!(server.order.customer.phone, "13911112222");
    let back = phone.store.conflicts(true).expect("open");
    assert_eq!(back.len(), 1, "the phone shows the conflict open again");
    assert_eq!(back[0].id, c.id);
    assert!(back[0].resolution.is_none());
    assert_eq!(
        phone.store.order(o.id).expect("order").customer.phone,
        "13911112222"
    );
    // No blind retry.
    assert_eq!(phone.sync().expect("sync").pushed, 0);
    assert_eq!(phone.store.pending_count().expect("pending"), 0);

    // Keeping dispatch's value is allowed.
    phone
        .store
        .resolve_conflict(c.id, ResolveChoice::Kept, "ok")
        .expect("resolve");
    let report = phone.sync().expect("sync");
    assert_eq!((report.pushed, report.applied, report.rejected), (1, 1, 0));
    assert_eq!(
        w.office.detail(o.id).conflicts[0].status,
        ConflictStatus::Resolved
    );
    assert_eq!(
        phone.store.conflicts(false).expect("all")[0].status,
        ConflictStatus::Resolved
    );
}

/// The pull reports its progress against the server's count of what is left: the shell can
/// show "120 of 300 orders" on a slow network, not a spinner.
#[test]
fn the_pull_reports_progress_against_the_servers_count() {
    let w = World::new();
    w.create(
        (0..25)
            .map(|i| new_order(&format!("{}", 2000 + i), "C1", WorkKind::MeterCheck, i % 8))
            .collect(),
    );
    // Another crew's orders are not counted.
    w.create(vec![new_order("9001", "C2", WorkKind::MeterCheck, 1)]);
    let phone = w.device("p1", "m1", "C1");
    let token = w.token("m1", "p1");
    let mut config = fieldcrew_core::sync::SyncConfig::new(w.server.url(), token);
    config.page_size = 10;
    let client = fieldcrew_core::sync::SyncClient::new(config).expect("client");
    let mut seen = Vec::new();
    let report = client
        .sync(&phone.store, &mut |p| {
            if p.phase == SyncPhase::Pull {
                seen.push((p.done, p.total));
            }
        })
        .expect("sync");
    assert_eq!(report.orders_received, 25);
    assert_eq!(
        seen,
        [(0, None), (10, Some(25)), (20, Some(25)), (25, Some(25))]
    );
}
