//! The back office, admin and customer views of the reference server, over HTTP.

use axum::http::{Method, StatusCode};
use fieldcrew_core::sync::SyncError;
use fieldcrew_core::work_order::{Status, WorkKind};
use fieldcrew_e2e::*;
use fieldcrew_server::storage::{CrewLoad, CustomerProgress, OfficeWrite, OrderListItem};
use serde_json::json;

#[test]
fn csv_import_lists_filters_and_capacity_warnings() {
    let w = World::new();
    let csv = "number,kind,priority,customer_name,account_number,phone,address,area,lat,lon,appointment,slot_start,slot_end,within_hours,deadline,accepted_at,crew_id,dispatch_notes,meter_asset,meter_phases,meter_multiplier,meter_prepaid,meter_digits\n\
        3001,meter_install,high,张三,A3001,13800000001,1 Renmin Rd,Keqiao,30.08,120.49,slot,2026-11-25T01:00:00Z,2026-11-25T03:00:00Z,,,2026-11-24T00:00:00Z,C1,,M3001,1,1,false,6\n\
        3002,meter_install,,李四,A3002,13800000002,2 Renmin Rd,Keqiao,,,slot,2026-11-25T02:00:00Z,2026-11-25T04:00:00Z,,,2026-11-24T00:00:00Z,C1,,,,,,\n\
        3003,meter_replacement,,王五,A3003,13800000003,3 Renmin Rd,Yuecheng,,,within,,,12,,2026-11-24T20:00:00Z,C1,bring seals,M3003,3,40,true,7\n\
        3004,meter_check,,赵六,A3004,13800000004,4 Renmin Rd,Keqiao,,,deadline,,,,2026-11-26T00:00:00Z,2026-11-24T00:00:00Z,C1,,,,,,\n";
    let (status, v) = w.office.raw(
        Method::POST,
        "/v1/office/orders/import",
        "text/csv",
        csv.into(),
    );
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let created: Vec<OfficeWrite> = serde_json::from_value(v).expect("reply");
    assert_eq!(created.len(), 4);
    // C1 declared 3 installs a day (installs, replacements and removals): the 3rd is fine...
    assert!(created[..3].iter().all(|c| c.warnings.is_empty()));
    assert_eq!(created[2].order.meters[0].multiplier.to_string(), "40");
    // ...a 4th install on the same day (Beijing time) is warned about, and still booked.
    let extra = w
        .office
        .create(vec![new_order("3005", "C1", WorkKind::MeterRemoval, 5)]);
    assert_eq!(extra[0].warnings.len(), 1);
    assert!(
        extra[0].warnings[0].contains("above its daily capacity of 3"),
        "{:?}",
        extra[0].warnings
    );
    let (_, load) = w
        .office
        .call(Method::GET, "/v1/office/crews/C1/load?day=2026-11-25", None);
    let load: CrewLoad = serde_json::from_value(load).expect("load");
    assert_eq!(
        (
            load.booked.installs,
            load.booked.checks,
            load.capacity.installs
        ),
        (4, 0, 3)
    );

    // A bad row is refused with its row number, and nothing of the file is imported.
    let bad = "number,kind,customer_name,account_number,phone,address,area,appointment,accepted_at,crew_id\n\
        3010,meter_check,A,A3010,138,x,Keqiao,within,2026-11-24T00:00:00Z,C1\n";
    let (status, v) = w.office.raw(
        Method::POST,
        "/v1/office/orders/import",
        "text/csv",
        bad.into(),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap_or("").contains("row 2"), "{v}");
    let dup = csv.lines().take(2).collect::<Vec<_>>().join("\n");
    let (status, _) = w
        .office
        .raw(Method::POST, "/v1/office/orders/import", "text/csv", dup);
    assert_eq!(status, StatusCode::CONFLICT);

    let list = |q: &str| -> Vec<String> {
        let (s, v) = w
            .office
            .call(Method::GET, &format!("/v1/office/orders{q}"), None);
        assert_eq!(s, StatusCode::OK, "{v}");
        serde_json::from_value::<Vec<OrderListItem>>(v)
            .expect("list")
            .into_iter()
            .map(|o| o.number)
            .collect()
    };
    assert_eq!(list("?area=Keqiao&kind=meter_install"), ["3001", "3002"]);
    assert_eq!(list("?q=A3003"), ["3003"]);
    assert_eq!(list("?crew_id=C2"), Vec::<String>::new());
    assert_eq!(list("?due_before=2026-11-25T03:30:00Z"), ["3001"]);
}

#[test]
fn reassign_archive_and_the_customers_progress_view() {
    let w = World::new();
    let mut n = new_order("4001", "C1", WorkKind::MeterRemoval, 1);
    n.fees = vec![fieldcrew_server::storage::Fee {
        item: "meter removal".into(),
        amount: "0".parse().expect("fee"),
    }];
    let o = w.office.create(vec![n]).remove(0).order;
    let phone = w.device("p1", "m1", "C1");
    phone.sync().expect("sync");
    phone
        .store
        .set_crew_notes(o.id, "guard dog; call first")
        .expect("notes");
    phone.complete(&o, "1022");
    phone.sync().expect("sync");

    let (s, v) = w.office.call_with(
        "",
        Method::GET,
        "/v1/public/progress/4001?account=A4001",
        None,
    );
    assert_eq!(s, StatusCode::OK);
    let p: CustomerProgress = serde_json::from_value(v.clone()).expect("progress");
    assert_eq!(p.status, Status::Completed);
    let steps: Vec<&str> = p.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            "application_accepted",
            "dispatched",
            "site_visit",
            "completed"
        ]
    );
    assert!(p.steps.iter().all(|s| s.finished_at.is_some()));
    assert_eq!(p.fees.len(), 1);
    assert_eq!(p.to_prepare.len(), 2, "ID card and property certificate");
    let text = v.to_string();
    for private in ["guard dog", "\"m1\"", "crew", "\"lat\"", "reading"] {
        assert!(!text.contains(private), "{private} leaks into {text}");
    }
    let (s, _) = w.office.call_with(
        "",
        Method::GET,
        "/v1/public/progress/4001?account=A9999",
        None,
    );
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Archiving a finished order removes it from the crew's phones.
    let (s, _) = w.office.call(
        Method::POST,
        &format!("/v1/office/orders/{}/archive", o.id),
        None,
    );
    assert_eq!(s, StatusCode::NO_CONTENT);
    phone.sync().expect("sync");
    assert!(phone.numbers().is_empty());
    // The detail keeps everything, with dispatch's history.
    let d = w.office.detail(o.id);
    assert!(d.archived);
    assert_eq!(d.readings.len(), 1);
    let actions: Vec<&str> = d.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["create", "archive"]);
}

#[test]
fn admin_issues_and_revokes_tokens_and_roles_are_enforced() {
    let w = World::new();
    let admin = |m: Method, p: &str, b| w.office.call_with(&w.admin_token, m, p, b);
    assert_eq!(admin(Method::POST, "/v1/admin/crews", Some(json!({ "id": "C9", "name": "night crew", "capacity": { "surveys": 1, "installs": 1, "checks": 1 } }))).0, StatusCode::CREATED);
    assert_eq!(admin(Method::POST, "/v1/admin/crews", Some(json!({ "id": "C9", "name": "again", "capacity": { "surveys": 1, "installs": 1, "checks": 1 } }))).0, StatusCode::CONFLICT);
    assert_eq!(
        admin(
            Method::POST,
            "/v1/admin/members",
            Some(json!({ "id": "m9", "name": "n", "crew_id": "C9", "role": "crew" }))
        )
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        admin(
            Method::POST,
            "/v1/admin/members",
            Some(json!({ "id": "m10", "name": "n", "role": "crew" }))
        )
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (s, t) = admin(
        Method::POST,
        "/v1/admin/tokens",
        Some(json!({ "member_id": "m9", "device": "phone-9" })),
    );
    assert_eq!(s, StatusCode::CREATED);
    let token = t["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("fc1."));
    // The secret is not stored: the database holds only its hash.
    let db =
        std::fs::read(w.dir.path().join("server").join("fieldcrew-server.sqlite3")).expect("db");
    let wal = std::fs::read(
        w.dir
            .path()
            .join("server")
            .join("fieldcrew-server.sqlite3-wal"),
    )
    .unwrap_or_default();
    let secret = token.rsplit('.').next().expect("secret").as_bytes();
    assert!(
        !db.windows(secret.len()).any(|x| x == secret)
            && !wal.windows(secret.len()).any(|x| x == secret)
    );

    w.create(vec![new_order("9001", "C9", WorkKind::MeterCheck, 1)]);
    let phone = Device::open(
        &w.dir.path().join("p9"),
        &w.server.url(),
        &token,
        "m9",
        "C9",
        std::sync::Arc::new(fieldcrew_core::clock::SystemClock),
    );
    phone.sync().expect("sync");
    assert_eq!(phone.numbers(), ["9001"]);
    // Roles: a dispatcher may not administer, a crew may not dispatch, nobody without a token.
    assert_eq!(
        w.office
            .call(
                Method::POST,
                "/v1/admin/members",
                Some(json!({ "id": "x", "name": "x", "role": "admin" }))
            )
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.office
            .call_with(&token, Method::GET, "/v1/office/orders", None)
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.office
            .call_with(
                "fc1.0000000000000000.00",
                Method::GET,
                "/v1/sync/pull",
                None
            )
            .0,
        StatusCode::UNAUTHORIZED
    );
    // A dispatcher's token on a phone is a typed error too.
    let office_phone = Device::open(
        &w.dir.path().join("px"),
        &w.server.url(),
        &w.token("d1", "px"),
        "d1",
        "C9",
        std::sync::Arc::new(fieldcrew_core::clock::SystemClock),
    );
    assert!(matches!(office_phone.sync(), Err(SyncError::Forbidden)));

    let id = t["token_id"].as_str().expect("id");
    assert_eq!(
        admin(Method::DELETE, &format!("/v1/admin/tokens/{id}"), None).0,
        StatusCode::NO_CONTENT
    );
    assert!(matches!(phone.sync(), Err(SyncError::Unauthorized)));
    assert_eq!(
        admin(Method::DELETE, "/v1/admin/tokens/ffffffffffffffff", None).0,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn a_wrong_secret_is_refused_and_an_expired_token_says_it_expired() {
    let w = World::new();
    let me = |token: &str| w.office.call_with(token, Method::GET, "/v1/sync/me", None);
    let token = w.token("m1", "p1");
    assert_eq!(me(&token).0, StatusCode::OK);
    // A real token id with another well-formed secret: refused like an unknown token.
    let id = token.split('.').nth(1).expect("id");
    let secret = token.rsplit('.').next().expect("secret");
    let flipped = if secret.starts_with('0') { "1" } else { "0" };
    let wrong = format!("fc1.{id}.{flipped}{}", &secret[1..]);
    assert_eq!((wrong.len(), wrong != token), (token.len(), true));
    let (s, v) = me(&wrong);
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (s, v) = me(&format!("fc1.{id}.{}", "f".repeat(64)));
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );

    // A token past its expiry is refused with the expired error, so the shell can say so...
    let admin = |body| {
        let (s, v) =
            w.office
                .call_with(&w.admin_token, Method::POST, "/v1/admin/tokens", Some(body));
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["token"].as_str().expect("token").to_owned()
    };
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    let expired = admin(json!({ "member_id": "m1", "device": "p2", "expires_at": past }));
    let (s, v) = me(&expired);
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "token_expired", "{v}");
    assert!(
        v["message"].as_str().unwrap_or("").contains("expired"),
        "{v}"
    );
    // ...and the phone gets the same typed error as for any refused token.
    let phone = Device::open(
        &w.dir.path().join("p2"),
        &w.server.url(),
        &expired,
        "m1",
        "C1",
        std::sync::Arc::new(fieldcrew_core::clock::SystemClock),
    );
    assert!(matches!(phone.sync(), Err(SyncError::Unauthorized)));
    // Only the holder of the secret learns that: with a wrong secret it is just refused.
    let id = expired.split('.').nth(1).expect("id");
    let (s, v) = me(&format!("fc1.{id}.{}", "0".repeat(64)));
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    // A token with an expiry still ahead works.
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    let valid = admin(json!({ "member_id": "m1", "device": "p3", "expires_at": later }));
    assert_eq!(me(&valid).0, StatusCode::OK);
}

fn progress_of(w: &World, number: &str, account: &str) -> CustomerProgress {
    let (s, v) = w.office.call_with(
        "",
        Method::GET,
        &format!("/v1/public/progress/{number}?account={account}"),
        None,
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    serde_json::from_value(v).expect("progress")
}

#[test]
fn the_customer_sees_a_cancelled_order_the_crew_completed_anyway_as_completed() {
    let w = World::new();
    let o = w
        .office
        .create(vec![new_order("5001", "C1", WorkKind::MeterCheck, 1)])
        .remove(0)
        .order;
    let phone = w.device("p1", "m1", "C1");
    phone.sync().expect("sync");
    // Offline, the crew does the work; meanwhile dispatch cancels the order.
    phone.complete(&o, "1010");
    w.office.cancel(o.id, "customer called to cancel");
    phone.sync().expect("sync");
    let d = w.office.detail(o.id);
    assert_eq!(d.order.status, Status::Completed);
    let at = |to: Status| {
        d.timeline
            .iter()
            .find(|e| e.to == to)
            .map(|e| e.at)
            .expect("event")
    };
    let (accepted, created) = (o.accepted_at, d.history[0].at);
    let (arrived, completed) = (at(Status::Arrived), at(Status::Completed));
    let p = progress_of(&w, "5001", "A5001");
    assert_eq!(p.status, Status::Completed);
    let steps: Vec<(&str, Option<_>, Option<_>)> = p
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.started_at, s.finished_at))
        .collect();
    assert_eq!(
        steps,
        [
            ("application_accepted", Some(accepted), Some(accepted)),
            ("dispatched", Some(created), Some(arrived)),
            ("site_visit", Some(arrived), Some(completed)),
            ("completed", Some(completed), Some(completed)),
        ]
    );

    // An order cancelled before anyone went shows the cancellation, and nothing done.
    let other = w
        .office
        .create(vec![new_order("5002", "C1", WorkKind::MeterCheck, 2)])
        .remove(0)
        .order;
    w.office.cancel(other.id, "duplicate");
    let cancelled_at = w.office.detail(other.id).timeline[0].at;
    let p = progress_of(&w, "5002", "A5002");
    assert_eq!(p.status, Status::Cancelled);
    let last = p.steps.last().expect("steps");
    assert_eq!(
        (last.step.as_str(), last.started_at, last.finished_at),
        ("cancelled", Some(cancelled_at), Some(cancelled_at))
    );
    assert_eq!(
        (p.steps[2].started_at, p.steps[2].finished_at),
        (None, None),
        "no site visit"
    );
}

#[test]
fn the_customer_is_asked_only_for_documents_not_yet_received() {
    use fieldcrew_core::sync::NetworkKind;
    use fieldcrew_core::work_order::DocumentKind::{self, IdCard, PropertyCertificate};
    let w = World::new();
    // A meter removal requires the ID card and the property certificate from the customer (and
    // the crew's meter photo and signature, which are not the customer's to prepare).
    let o = w
        .office
        .create(vec![new_order("6001", "C1", WorkKind::MeterRemoval, 1)])
        .remove(0)
        .order;
    let to_prepare = || progress_of(&w, "6001", "A6001").to_prepare;
    assert_eq!(to_prepare(), [IdCard, PropertyCertificate]);
    // The customer sends the property certificate online; the office adds it.
    let (s, body) = w.office.bytes(
        Method::POST,
        &format!(
            "/v1/office/orders/{}/documents?kind=property_certificate",
            o.id
        ),
        "image/jpeg",
        camera_jpeg(300, 200, 11),
    );
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    assert_eq!(to_prepare(), [IdCard]);
    // The crew photographs the ID card on site: the record alone is not the document, its
    // bytes on the server are.
    let phone = w.device("p1", "m1", "C1");
    phone.sync().expect("sync");
    phone
        .store
        .add_photo(o.id, DocumentKind::IdCard, &camera_jpeg(320, 240, 12))
        .expect("photo");
    phone
        .client
        .sync_with_photos(&phone.store, NetworkKind::Metered, &mut |_| {}, &mut |_| {})
        .expect("data only");
    assert_eq!(w.office.detail(o.id).photos.len(), 2);
    assert_eq!(to_prepare(), [IdCard]);
    let r = phone
        .client
        .transfer_photos(&phone.store, NetworkKind::Unmetered, &mut |_| {})
        .expect("upload");
    assert_eq!(r.uploaded, 1);
    assert_eq!(to_prepare(), Vec::<DocumentKind>::new());
}

/// A slot of two hours starting `hour` hours after `day_start` (08:00 Beijing time).
fn slot_at(hour: i64) -> fieldcrew_core::work_order::Appointment {
    let start = day_start() + chrono::Duration::hours(hour);
    fieldcrew_core::work_order::Appointment::Slot {
        start,
        end: start + chrono::Duration::hours(2),
    }
}

fn installs_booked(w: &World, crew: &str, day: &str) -> u32 {
    let (s, v) = w.office.call(
        Method::GET,
        &format!("/v1/office/crews/{crew}/load?day={day}"),
        None,
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    serde_json::from_value::<CrewLoad>(v)
        .expect("load")
        .booked
        .installs
}

#[test]
fn rescheduling_or_reassigning_onto_a_full_day_warns_and_moving_away_does_not() {
    let w = World::new();
    // C1 takes 3 installs a day: 26 November is full (at capacity, not above it, so no warning).
    let full: Vec<OfficeWrite> = w.office.create(
        (0..3)
            .map(|i| new_order(&format!("710{i}"), "C1", WorkKind::MeterInstall, 24 + i))
            .collect(),
    );
    assert!(full.iter().all(|c| c.warnings.is_empty()), "{full:?}");
    let moving = w
        .office
        .create(vec![new_order("7110", "C1", WorkKind::MeterReplacement, 1)])
        .remove(0);
    assert_eq!(moving.warnings, Vec::<String>::new());
    let id = moving.order.id;

    // Rescheduled onto the full day: the 4th install there, warned about, and still booked.
    let w1 = w.office.reschedule(id, slot_at(30));
    assert_eq!(
        w1.warnings,
        ["crew c1 has 4 install jobs booked on 2026-11-26, above its daily capacity of 3"]
    );
    assert_eq!(installs_booked(&w, "C1", "2026-11-26"), 4);
    // Moved within the same (over-full) day: still the 4th there.
    let w2 = w.office.reschedule(id, slot_at(32));
    assert_eq!(
        w2.warnings,
        ["crew c1 has 4 install jobs booked on 2026-11-26, above its daily capacity of 3"]
    );
    // Moved away to a day with room: no warning, and the full day is back at 3.
    let w3 = w.office.reschedule(id, slot_at(2));
    assert_eq!(w3.warnings, Vec::<String>::new());
    assert_eq!(installs_booked(&w, "C1", "2026-11-26"), 3);
    assert_eq!(installs_booked(&w, "C1", "2026-11-25"), 1);
    // A PATCH of the appointment is a reschedule too.
    let w4 = w.office.patch(id, json!({ "appointment": slot_at(26) }));
    assert_eq!(
        w4.warnings,
        ["crew c1 has 4 install jobs booked on 2026-11-26, above its daily capacity of 3"]
    );
    let w5 = w.office.patch(id, json!({ "appointment": slot_at(1) }));
    assert_eq!(w5.warnings, Vec::<String>::new());

    // C2 takes 8 installs a day: fill 25 November, then reassign C1's install of that day.
    let c2: Vec<OfficeWrite> = w.office.create(
        (0..8)
            .map(|i| new_order(&format!("720{i}"), "C2", WorkKind::MeterRemoval, i))
            .collect(),
    );
    assert!(c2.iter().all(|c| c.warnings.is_empty()), "{c2:?}");
    let r1 = w.office.reassign(id, "C2");
    assert_eq!(r1.order.crew_id, "C2");
    assert_eq!(
        r1.warnings,
        ["crew c2 has 9 install jobs booked on 2026-11-25, above its daily capacity of 8"]
    );
    assert_eq!(installs_booked(&w, "C2", "2026-11-25"), 9);
    assert_eq!(installs_booked(&w, "C1", "2026-11-25"), 0);
    // Reassigned back: C1 has room that day, no warning; C2 is back at capacity.
    let r2 = w.office.reassign(id, "C1");
    assert_eq!(r2.warnings, Vec::<String>::new());
    assert_eq!(installs_booked(&w, "C2", "2026-11-25"), 8);
    // Reassigned and rescheduled in one PATCH, onto C1's full day: warned.
    let r3 = w
        .office
        .patch(id, json!({ "crew_id": "C2", "appointment": slot_at(30) }));
    assert_eq!(
        r3.warnings,
        Vec::<String>::new(),
        "C2's 26 November is empty"
    );
    let r4 = w
        .office
        .patch(id, json!({ "crew_id": "C1", "appointment": slot_at(31) }));
    assert_eq!(
        r4.warnings,
        ["crew c1 has 4 install jobs booked on 2026-11-26, above its daily capacity of 3"]
    );
    // Edits that move nothing are not capacity questions.
    let r5 = w
        .office
        .patch(id, json!({ "dispatch_notes": "bring seals" }));
    assert_eq!(r5.warnings, Vec::<String>::new());
    // A cancelled order books nothing: moving it onto the full day does not warn.
    w.office.cancel(id, "customer moved away");
    assert_eq!(installs_booked(&w, "C1", "2026-11-26"), 3);
    let r6 = w.office.reschedule(id, slot_at(33));
    assert_eq!(r6.warnings, Vec::<String>::new());
    let r7 = w.office.reassign(full[0].order.id, "C2");
    assert_eq!(
        r7.warnings,
        Vec::<String>::new(),
        "C2's 26 November has room"
    );
    assert_eq!(installs_booked(&w, "C1", "2026-11-26"), 2);
}

/// A reply read off the wire.
struct Wire {
    status: u16,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The error body, checked to be JSON (`application/json`, exactly the two fields).
    fn error(&self) -> (u16, String, String) {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        let v: serde_json::Value = serde_json::from_slice(&self.body).expect("JSON body");
        let fields: Vec<&String> = v.as_object().expect("an object").keys().collect();
        assert_eq!(fields, ["error", "message"], "{v}");
        let body: fieldcrew_core::sync::wire::ErrorBody = serde_json::from_value(v).expect("body");
        (self.status, body.error, body.message)
    }
}

/// One request on its own connection, written as bytes: `head` is the request line and any
/// headers; `Host`, `Connection: close`, the body's length (unless the head says it is chunked)
/// are added. No `Accept-Encoding`, so the reply is not compressed. Reads exactly the reply
/// (by its `Content-Length` or chunks), not up to the connection's end.
fn wire(w: &World, head: &str, body: &[u8]) -> Wire {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(w.server.addr()).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!("{head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
        && !head.to_ascii_lowercase().contains("content-length:")
    {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("head");
    s.write_all(body).expect("body");
    read_reply(&mut s)
}

fn read_reply(s: &mut impl std::io::Read) -> Wire {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).expect("reply"),
            1,
            "the reply ended early"
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).expect("head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(len) = get("content-length") {
        body.resize(len.parse().expect("length"), 0);
        s.read_exact(&mut body).expect("body");
    } else if get("transfer-encoding").as_deref() == Some("chunked") {
        loop {
            let mut line = Vec::new();
            while !line.ends_with(b"\r\n") {
                s.read_exact(&mut byte).expect("chunk size");
                line.push(byte[0]);
            }
            let size = usize::from_str_radix(std::str::from_utf8(&line).expect("size").trim(), 16)
                .expect("hex size");
            let mut chunk = vec![0; size + 2];
            s.read_exact(&mut chunk).expect("chunk");
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Wire {
        status,
        headers,
        body,
    }
}

#[test]
fn every_error_reply_is_the_json_error_body_with_a_stable_code() {
    let w = World::new();
    let office = w.token("d1", "raw-http");
    let crew = w.token("m1", "raw-phone");
    let auth = |t: &str| format!("Authorization: Bearer {t}");
    let json = "Content-Type: application/json";
    let post = |path: &str, headers: &str, body: &str| {
        wire(
            &w,
            format!("POST {path} HTTP/1.1\r\n{}\r\n{headers}", auth(&office)).trim_end(),
            body.as_bytes(),
        )
        .error()
    };
    let get = |path: &str, token: &str| {
        wire(&w, &format!("GET {path} HTTP/1.1\r\n{}", auth(token)), b"").error()
    };
    let order = serde_json::to_value(new_order("9901", "C1", WorkKind::MeterCheck, 1))
        .expect("order")
        .to_string();

    // 404: an unknown route, with a token or without; an id in the path that is no UUID.
    let not_found = (404, "not_found".to_owned(), "not found".to_owned());
    assert_eq!(get("/v1/nowhere", &office), not_found);
    assert_eq!(
        wire(&w, "GET /v2/sync/pull HTTP/1.1", b"").error(),
        not_found
    );
    assert_eq!(get("/v1/office/orders/not-a-uuid", &office), not_found);
    assert_eq!(
        get(
            "/v1/office/orders/0190b6a8-55a4-7c4e-8c6b-3c7d1d9a6f01",
            &office
        ),
        not_found
    );

    // 405: a known path, another method; Allow lists the methods it has.
    for (head, allow) in [
        ("DELETE /v1/sync/push HTTP/1.1", "POST"),
        ("PUT /v1/office/orders HTTP/1.1", "POST,GET,HEAD"),
        ("POST /v1/public/progress/1 HTTP/1.1", "GET,HEAD"),
    ] {
        let r = wire(&w, head, b"");
        assert_eq!(
            r.error(),
            (
                405,
                "method_not_allowed".to_owned(),
                "this method is not allowed here; the Allow header lists those that are".to_owned()
            ),
            "{head}"
        );
        assert_eq!(r.header("allow"), Some(allow), "{head}");
    }

    // 415: a JSON endpoint needs a JSON Content-Type (parameters are fine); an import is CSV or
    // JSON; a Content-Encoding other than gzip is refused, the reply says which it takes.
    let needs_json = (
        415,
        "unsupported_media_type".to_owned(),
        "the body is JSON: send it with Content-Type: application/json".to_owned(),
    );
    assert_eq!(
        post("/v1/office/orders", "Content-Type: text/plain", &order),
        needs_json
    );
    assert_eq!(post("/v1/office/orders", "", &order), needs_json);
    assert_eq!(
        post(
            "/v1/sync/push",
            "Content-Type: application/x-www-form-urlencoded",
            "a=1"
        ),
        needs_json
    );
    assert_eq!(
        post(
            "/v1/office/orders/import",
            "Content-Type: application/xml",
            "<orders/>"
        ),
        (
            415,
            "unsupported_media_type".to_owned(),
            "an import is text/csv (with a header row) or application/json".to_owned()
        )
    );
    let brotli = wire(
        &w,
        &format!(
            "POST /v1/office/orders HTTP/1.1\r\n{}\r\n{json}\r\nContent-Encoding: br",
            auth(&office)
        ),
        b"\x0b\x02\x80{}\x03",
    );
    assert_eq!(
        brotli.error(),
        (
            415,
            "unsupported_media_type".to_owned(),
            "the body's Content-Encoding is not supported; Accept-Encoding lists those that are"
                .to_owned()
        )
    );
    assert_eq!(brotli.header("accept-encoding"), Some("zstd,gzip"));
    // With a charset the type is still JSON: this one is created.
    let r = wire(
        &w,
        &format!(
            "POST /v1/office/orders HTTP/1.1\r\n{}\r\nContent-Type: application/json; charset=utf-8",
            auth(&office)
        ),
        order.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created: Vec<OfficeWrite> = serde_json::from_slice(&r.body).expect("created");
    let id = created[0].order.id;

    // 400: not JSON at all, JSON cut short, a gzip body that does not decode.
    assert_eq!(
        post("/v1/office/orders", json, "{\"orders\": [}"),
        (
            400,
            "malformed".to_owned(),
            "not JSON: orders[0]: expected value at line 1 column 13".to_owned()
        )
    );
    assert_eq!(
        post("/v1/office/orders", json, "{\"orders\": ["),
        (
            400,
            "malformed".to_owned(),
            "not JSON: orders: EOF while parsing a list at line 1 column 12".to_owned()
        )
    );
    assert_eq!(
        post("/v1/office/orders", json, "{} {}"),
        (
            400,
            "malformed".to_owned(),
            "not JSON: trailing characters at line 1 column 4".to_owned()
        )
    );
    assert_eq!(
        post(
            "/v1/office/orders",
            &format!("{json}\r\nContent-Encoding: gzip"),
            "not gzip"
        ),
        (
            400,
            "malformed".to_owned(),
            "the body could not be read (cut short, or not valid gzip)".to_owned()
        )
    );
    // 422: JSON of the wrong shape names the field's path.
    let mut wrong: serde_json::Value = serde_json::from_str(&order).expect("order");
    wrong["appointment"] = json!({ "mode": "within", "hours": "soon" });
    assert_eq!(
        post(
            "/v1/office/orders",
            json,
            &json!({ "orders": [wrong] }).to_string()
        ),
        (
            422,
            "invalid".to_owned(),
            "orders[0].appointment.hours: wrong type, expected u32".to_owned()
        )
    );
    assert_eq!(
        post("/v1/office/orders", json, "{\"number\": 1}"),
        (
            422,
            "invalid".to_owned(),
            "number: wrong type, expected a string".to_owned()
        )
    );
    assert_eq!(
        post(
            &format!("/v1/office/orders/{id}"),
            json,
            "{\"priority\": \"urgent\"}"
        ),
        (
            405,
            "method_not_allowed".to_owned(),
            "this method is not allowed here; the Allow header lists those that are".to_owned()
        )
    );
    assert_eq!(
        post(
            &format!("/v1/office/orders/{id}/reassign"),
            json,
            "{\"crew\": \"C2\"}"
        ),
        (422, "invalid".to_owned(), "crew_id: missing".to_owned())
    );
    let r = wire(
        &w,
        &format!(
            "PATCH /v1/office/orders/{id} HTTP/1.1\r\n{}\r\n{json}",
            auth(&office)
        ),
        b"{\"priority\": \"whenever\", \"colour\": 1}",
    );
    assert_eq!(
        r.error(),
        (
            422,
            "invalid".to_owned(),
            "priority: unknown value, expected one of `low`, `normal`, `high`, `urgent`".to_owned()
        )
    );

    // 400: a query string parameter of the wrong form, or a required one missing.
    assert_eq!(
        get("/v1/office/orders?limit=lots", &office),
        (
            400,
            "malformed".to_owned(),
            "query string: limit: invalid value".to_owned()
        )
    );
    assert_eq!(
        get("/v1/office/orders?status=lost", &office),
        (
            400,
            "malformed".to_owned(),
            "query string: status: unknown value, expected one of `dispatched`, `accepted`, \
             `en_route`, `arrived`, `in_progress`, `completed`, `suspended`, `cancelled`"
                .to_owned()
        )
    );
    assert_eq!(
        get("/v1/office/crews/C1/load", &office),
        (
            400,
            "malformed".to_owned(),
            "query string: day: missing".to_owned()
        )
    );
    assert_eq!(
        get("/v1/sync/pull?cursor=-", &crew),
        (
            400,
            "malformed".to_owned(),
            "query string: cursor: invalid value".to_owned()
        )
    );

    // 413: a body announced larger than 64 MiB is refused before it is sent...
    let too_large = (
        413,
        "too_large".to_owned(),
        "the request body is larger than 67108864 bytes".to_owned(),
    );
    let r = wire(
        &w,
        &format!(
            "POST /v1/office/orders/import HTTP/1.1\r\n{}\r\nContent-Type: text/csv\r\nContent-Length: {}",
            auth(&office),
            64 * 1024 * 1024 + 1
        ),
        b"",
    );
    assert_eq!(r.error(), too_large);
    // ...and one that says nothing of its size (chunked) once the 64 MiB are in.
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(w.server.addr()).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("timeout");
        write!(
            s,
            "POST /v1/office/orders/import HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n\
             Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n",
            auth(&office)
        )
        .expect("head");
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..64 {
            write!(s, "{:x}\r\n", chunk.len()).expect("size");
            s.write_all(&chunk).expect("chunk");
            s.write_all(b"\r\n").expect("end");
        }
        s.write_all(b"1\r\nx\r\n0\r\n\r\n").expect("last");
        assert_eq!(read_reply(&mut s).error(), too_large);
    }

    // 416: a photo's range beyond its end; Content-Range still gives the size.
    let (s, body) = w.office.bytes(
        Method::POST,
        &format!("/v1/office/orders/{id}/documents?kind=property_certificate"),
        "image/jpeg",
        camera_jpeg(300, 200, 3),
    );
    assert_eq!(s, StatusCode::CREATED);
    let photo: fieldcrew_core::store::Photo = serde_json::from_slice(&body).expect("photo");
    let r = wire(
        &w,
        &format!(
            "GET /v1/photos/{} HTTP/1.1\r\n{}\r\nRange: bytes=99999999-",
            photo.sha256,
            auth(&office)
        ),
        b"",
    );
    assert_eq!(
        r.error(),
        (
            416,
            "range_not_satisfiable".to_owned(),
            "the range starts beyond the end of the file (Content-Range gives its size)".to_owned()
        )
    );
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{}", photo.bytes).as_str())
    );

    // The ones the handlers always answered in JSON stay so.
    assert_eq!(
        get("/v1/office/orders", "fc1.0000000000000000.00"),
        (
            401,
            "unauthorized".to_owned(),
            "missing, unknown or revoked token".to_owned()
        )
    );
    assert_eq!(
        get("/v1/office/orders", &crew),
        (
            403,
            "forbidden".to_owned(),
            "this token may not do that".to_owned()
        )
    );
}
