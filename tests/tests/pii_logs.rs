//! Logs and errors carry ids, never personal data, end to end: a crew day against the real
//! server in this process, with every log line of every thread captured at TRACE (the server's
//! request handling, the sync client, the photo queues both ways, the phones' stores, the
//! back office, refusals; `log` records of the dependencies too), then scanned for the seeded
//! customers' names, phone numbers, ID numbers, addresses and account numbers, a crew member's
//! name, and the coordinates of the sites, of the crew and of a photo's EXIF GPS, at full
//! precision and at site level. The error texts the day produced (replies, push rejections,
//! the core's errors) are scanned for the same.
//!
//! Its own test binary: the subscriber is process-global, because the server and the sync
//! client log on their own threads.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use chrono::Duration;
use fieldcrew_core::geo::{Fix, GeoPoint};
use fieldcrew_core::reading::{Confirmation, ReadingPurpose, Register};
use fieldcrew_core::store::{ReadingEntry, RegisterValue, StatusReport};
use fieldcrew_core::sync::NetworkKind;
use fieldcrew_core::sync::wire::{Outcome, PushResponse, ResolveChoice};
use fieldcrew_core::work_order::{
    Appointment, Customer, DocumentKind, Site, Status, WorkKind, WorkOrder,
};
use fieldcrew_e2e::*;
use fieldcrew_server::NewOrder;
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Everything at TRACE, from every thread, without timestamps (a time such as `01:02:30.2741`
/// would pose as a latitude).
fn capture_all() -> Captured {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_thread_names(true)
        .with_writer(move || sink.clone())
        .try_init()
        .expect("the only subscriber of this process");
    captured
}

/// A seeded customer: what dispatch knows of them.
struct Person {
    name: &'static str,
    phone: &'static str,
    id_number: &'static str,
    account: &'static str,
    address: &'static str,
    /// A distinctive part of the address, caught if the address is cut.
    street: &'static str,
    site: (f64, f64),
}

const OUYANG: Person = Person {
    name: "欧阳秀英",
    phone: "13957112468",
    id_number: "330106198807153829",
    account: "3301987654321",
    address: "杭州市西湖区文三路478号华星时代广场3幢1702室",
    street: "文三路478号",
    site: (30.2741529, 120.1551763),
};
const SIMA: Person = Person {
    name: "司马长风",
    phone: "15867543210",
    id_number: "33060219751224001X",
    account: "3306115500077",
    address: "绍兴市越城区解放北路1186号2单元501",
    street: "解放北路1186号",
    site: (30.0061437, 120.5814296),
};
/// Another crew's customer: the phone's refused push names the order.
const ZHUGE: Person = Person {
    name: "诸葛明月",
    phone: "18657109988",
    id_number: "330203196912300047",
    account: "3302006600123",
    address: "宁波市海曙区中山西路203号",
    street: "中山西路203号",
    site: (29.8713466, 121.5438827),
};
/// Sima's phone as dispatch corrects it, and as the crew heard it on site.
const SIMA_NEW_PHONE: &str = "13700461357";
const SIMA_CREW_PHONE: &str = "17855203146";
/// A crew member's name (the admin adds them).
const MEMBER_NAME: &str = "林美华";
/// Where the crew stood (the phone's fix), and where the ID card photo's EXIF says it was taken.
const CREW_FIX: (f64, f64) = (30.2743871, 120.1549217);
const PHOTO_GPS: (f64, f64) = (30.2742688, 120.1550412);

/// Every way a seeded value could be written: as is, a URL's percent-encoding of it, and each
/// coordinate at full precision, at 6 and 5 decimals, and at site level (4 decimals, and the
/// rounded value as printed).
fn secrets() -> Vec<String> {
    let mut out: Vec<String> = vec![
        SIMA_NEW_PHONE.into(),
        SIMA_CREW_PHONE.into(),
        MEMBER_NAME.into(),
    ];
    let mut coordinates = vec![CREW_FIX, PHOTO_GPS];
    for p in [&OUYANG, &SIMA, &ZHUGE] {
        out.extend(
            [p.name, p.phone, p.id_number, p.account, p.address, p.street].map(String::from),
        );
        coordinates.push(p.site);
    }
    for (lat, lon) in coordinates {
        let site = GeoPoint::new(lat, lon).expect("point").site_level();
        for (v, kept) in [(lat, site.lat), (lon, site.lon)] {
            out.extend([
                format!("{v}"),
                format!("{v:.6}"),
                format!("{v:.5}"),
                format!("{v:.4}"),
                format!("{kept}"),
            ]);
        }
    }
    let encoded: Vec<String> = out
        .iter()
        .filter(|s| !s.is_ascii())
        .map(|s| {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        })
        .collect();
    out.extend(encoded);
    out.sort();
    out.dedup();
    out
}

/// An order for `p`, with their ID number and phone in dispatch's notes.
fn order_for(p: &Person, number: &str, crew: &str, kind: WorkKind, hour: i64) -> NewOrder {
    let mut o = new_order(number, crew, kind, hour);
    o.customer = Customer {
        name: p.name.into(),
        account_number: p.account.into(),
        phone: p.phone.into(),
    };
    o.site = Site {
        address: p.address.into(),
        area: "Xihu".into(),
        location: Some(GeoPoint::new(p.site.0, p.site.1).expect("site")),
    };
    // Ten kWh a day usually, so a month's reading of 90,000 kWh more warns.
    o.meters[0].expected_daily_kwh = Some(rust_decimal::Decimal::from(10));
    o.dispatch_notes = format!("客户{} 身份证{} 电话{}", p.name, p.id_number, p.phone);
    o
}

/// A JPEG of noise with the camera's EXIF GPS, like a phone's photo of an ID card.
fn id_card_photo(lat: f64, lon: f64) -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value};
    let dms = |v: f64| {
        let d = v.trunc();
        let m = ((v - d) * 60.0).trunc();
        let s = ((v - d) * 60.0 - m) * 60.0;
        Value::Rational(vec![
            Rational::from((d as u32, 1)),
            Rational::from((m as u32, 1)),
            Rational::from(((s * 10_000.0).round() as u32, 10_000)),
        ])
    };
    let ascii = |tag, s: &str| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Ascii(vec![s.as_bytes().to_vec()]),
    };
    let fields = [
        ascii(Tag::GPSLatitudeRef, "N"),
        Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: dms(lat),
        },
        ascii(Tag::GPSLongitudeRef, "E"),
        Field {
            tag: Tag::GPSLongitude,
            ifd_num: In::PRIMARY,
            value: dms(lon),
        },
        ascii(Tag::DateTimeOriginal, "2026:11:25 10:12:00"),
    ];
    let mut w = exif::experimental::Writer::new();
    for f in &fields {
        w.push_field(f);
    }
    let mut tiff = std::io::Cursor::new(Vec::new());
    w.write(&mut tiff, false).expect("exif");
    let (width, height) = (640u16, 400u16);
    let px: Vec<u8> = (0..usize::from(width) * usize::from(height) * 3)
        .map(|i| (i % 251) as u8 ^ (i / 1913) as u8)
        .collect();
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
    enc.add_exif_metadata(&tiff.into_inner())
        .expect("exif segment");
    enc.encode(&px, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encode");
    out
}

/// A push of raw operations with a crew member's token, as a phone sends it: the reply.
fn push(w: &World, token: &str, ops: Vec<Value>) -> (StatusCode, Value) {
    let body = json!({ "device_id": Uuid::now_v7(), "ops": ops });
    w.office
        .call_with(token, Method::POST, "/v1/sync/push", Some(body))
}

fn update_op(order: Uuid, fields: Value, base_version: i64) -> Value {
    json!({
        "op_id": Uuid::now_v7(), "entity": "work_order", "entity_id": order, "order_id": order,
        "op": "update", "fields": fields, "base_version": base_version,
        "hlc": format!("{:016}-00000001-{}", chrono::Utc::now().timestamp_millis(), Uuid::now_v7().simple()),
    })
}

fn outcome(reply: (StatusCode, Value)) -> Outcome {
    assert_eq!(reply.0, StatusCode::OK, "{}", reply.1);
    serde_json::from_value::<PushResponse>(reply.1)
        .expect("push reply")
        .answers
        .remove(0)
        .outcome
}

fn fix((lat, lon): (f64, f64)) -> Option<Fix> {
    Some(Fix::new(lat, lon, Some(4.0)).expect("fix"))
}

/// The crew's visit on `phone`, offline: on the way, arrival with GPS, a refused and a
/// confirmed reading, photos of the ID card, the meter and the customer's signature, the
/// evaluation, notes, completion.
fn visit(phone: &Device, o: &WorkOrder, p: &Person, errors: &mut Vec<String>) {
    for to in [Status::Accepted, Status::EnRoute, Status::Arrived] {
        phone
            .store
            .report_status(&StatusReport {
                order_id: o.id,
                to,
                reason: None,
                note: format!("到达{}家 {}", p.name, p.address),
                fix: fix(CREW_FIX),
            })
            .expect("status");
    }
    let meter = &o.meters[0];
    let mut entry = ReadingEntry {
        order_id: o.id,
        meter_asset: meter.asset_number.clone(),
        purpose: ReadingPurpose::Check,
        values: vec![RegisterValue {
            register: Register::Total,
            raw: format!("{}a", p.phone),
        }],
        photo_id: None,
        supersedes: vec![],
        confirmations: vec![],
    };
    errors.push(
        phone
            .store
            .record_readings(&entry)
            .expect_err("not a number")
            .to_string(),
    );
    entry.values[0].raw = "91000.00".into();
    let warnings = phone.store.check_readings(&entry).expect("checked");
    assert!(
        !warnings.is_empty(),
        "a jump of 90,000 kWh in a month warns"
    );
    errors.push(
        phone
            .store
            .record_readings(&entry)
            .expect_err("needs confirmation")
            .to_string(),
    );
    entry.confirmations = warnings
        .iter()
        .map(|w| Confirmation {
            code: w.code,
            register: w.register,
            reason: format!("{}说家里开了厂，身份证{}", p.name, p.id_number),
        })
        .collect();
    phone.store.record_readings(&entry).expect("confirmed");
    phone
        .store
        .add_photo(
            o.id,
            DocumentKind::IdCard,
            &id_card_photo(PHOTO_GPS.0, PHOTO_GPS.1),
        )
        .expect("ID card");
    phone
        .store
        .add_photo(o.id, DocumentKind::MeterAfter, &camera_jpeg(480, 360, 7))
        .expect("meter photo");
    phone
        .store
        .add_photo(o.id, DocumentKind::Signature, &camera_jpeg(400, 160, 8))
        .expect("signature");
    errors.push(
        phone
            .store
            .add_photo(o.id, DocumentKind::Other, p.name.as_bytes())
            .expect_err("not an image")
            .to_string(),
    );
    phone
        .store
        .add_evaluation(o.id, 5, &format!("{}很满意，电话{}", p.name, p.phone))
        .expect("evaluation");
    errors.push(
        phone
            .store
            .add_evaluation(o.id, 9, p.name)
            .expect_err("score 1 to 5")
            .to_string(),
    );
    phone
        .store
        .set_crew_notes(
            o.id,
            &format!("联系{} {}，身份证{}", p.name, p.phone, p.id_number),
        )
        .expect("notes");
    phone
        .store
        .report_status(&StatusReport {
            order_id: o.id,
            to: Status::Completed,
            reason: None,
            note: format!("{}签字确认", p.name),
            fix: fix(CREW_FIX),
        })
        .expect("completed");
}

#[test]
fn a_crew_day_end_to_end_logs_no_personal_data() {
    let captured = capture_all();
    let mut errors: Vec<String> = Vec::new();
    let w = World::new();
    let admin = |m: Method, path: &str, body: Option<Value>| {
        w.office.call_with(&w.admin_token, m, path, body)
    };

    // The admin adds a member with a name; the office creates one order as JSON and imports
    // another as CSV, and books one for the other crew.
    let (s, v) = admin(
        Method::POST,
        "/v1/admin/members",
        Some(json!({ "id": "m7", "name": MEMBER_NAME, "crew_id": "C1", "role": "crew" })),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let a = w
        .create(vec![order_for(
            &OUYANG,
            "GD20261125000101",
            "C1",
            WorkKind::MeterReplacement,
            1,
        )])
        .remove(0);
    let theirs = w
        .create(vec![order_for(
            &ZHUGE,
            "GD20261125000103",
            "C2",
            WorkKind::MeterCheck,
            2,
        )])
        .remove(0);
    let csv = format!(
        "number,kind,customer_name,account_number,phone,address,area,lat,lon,appointment,slot_start,slot_end,accepted_at,crew_id,dispatch_notes,meter_asset,meter_phases,meter_multiplier,meter_prepaid,meter_digits\n\
         GD20261125000102,meter_check,{},{},{},{},Yuecheng,{},{},slot,2026-11-25T03:00:00Z,2026-11-25T05:00:00Z,2026-11-24T00:00:00Z,C1,身份证{} 电话{},M-SIMA-1,1,1,false,6\n",
        SIMA.name,
        SIMA.account,
        SIMA.phone,
        SIMA.address,
        SIMA.site.0,
        SIMA.site.1,
        SIMA.id_number,
        SIMA.phone,
    );
    let (s, v) = w
        .office
        .raw(Method::POST, "/v1/office/orders/import", "text/csv", csv);
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let b: WorkOrder = serde_json::from_value(v[0]["order"].clone()).expect("imported");

    // The office looks customers up by name, account and phone; the customer checks progress.
    for q in [OUYANG.name, SIMA.account, SIMA.phone] {
        let (s, v) = w
            .office
            .call(Method::GET, &format!("/v1/office/orders?q={q}"), None);
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v) = w.office.call_with(
        "",
        Method::GET,
        &format!(
            "/v1/public/progress/{}?account={}",
            a.number, OUYANG.account
        ),
        None,
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = w.office.call_with(
        "",
        Method::GET,
        &format!("/v1/public/progress/{}?account={}", a.number, SIMA.account),
        None,
    );
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another customer's account opens nothing"
    );
    errors.push(v.to_string());

    // Two phones of crew C1 take the day's work.
    let pa = w.device("phone-a", "m1", "C1");
    let pb = w.device("phone-b", "m2", "C1");
    pa.sync().expect("a pulls");
    pb.sync().expect("b pulls");
    assert_eq!(pa.numbers(), [a.number.clone(), b.number.clone()]);
    assert!(!pa.store.search(OUYANG.name, 5).expect("search").is_empty());
    for q in [SIMA.phone, OUYANG.street] {
        pa.store.search(q, 5).expect("search");
    }

    // Dispatch reschedules A and corrects B's phone while the crew works offline.
    let later = day_start() + Duration::hours(6);
    w.office.reschedule(
        a.id,
        Appointment::Slot {
            start: later,
            end: later + Duration::hours(2),
        },
    );
    w.office.patch(
        b.id,
        json!({ "customer_phone": SIMA_NEW_PHONE, "dispatch_notes": format!("{}改号{}", SIMA.name, SIMA_NEW_PHONE) }),
    );

    visit(&pa, &a, &OUYANG, &mut errors);
    // b writes A's notes too, later: the same crew-owned field on two devices.
    pb.store
        .set_crew_notes(
            a.id,
            &format!("{}家有狗，先打{}", OUYANG.name, OUYANG.phone),
        )
        .expect("b's notes");
    // b cannot evaluate B before arriving (the write rolls back).
    errors.push(
        pb.store
            .add_evaluation(b.id, 4, SIMA.name)
            .expect_err("not on site")
            .to_string(),
    );

    // Sync both ways: a pushes and uploads its photos, b meets the conflict, both pull.
    let (report, photos) = pa
        .client
        .sync_with_photos(&pa.store, NetworkKind::Unmetered, &mut |_| {}, &mut |_| {})
        .expect("a syncs");
    assert!(report.pushed >= 10, "{report:?}");
    assert_eq!((photos.uploaded, photos.upload_failures), (3, 0));
    let report = pb.sync().expect("b syncs");
    assert_eq!(report.conflicts, 1, "{report:?}");
    pa.sync().expect("a pulls b's notes");
    let got = pb
        .client
        .transfer_photos(&pb.store, NetworkKind::Unmetered, &mut |_| {})
        .expect("b downloads a's photos");
    assert_eq!(got.download_failures, 0);
    assert!(got.downloaded >= 3, "{got:?}");
    for r in pb.store.remote_photos(a.id).expect("remote photos") {
        pb.store.remote_photo_bytes(&r).expect("verified bytes");
    }

    // Raw pushes with a crew token: the customer's phone against dispatch's correction (a
    // conflict), another crew's order (refused as not found), a malformed status event
    // carrying the phone number (refused as invalid).
    let token = w.token("m1", "phone-raw");
    let c = outcome(push(
        &w,
        &token,
        vec![update_op(
            b.id,
            json!({ "customer_phone": SIMA_CREW_PHONE }),
            1,
        )],
    ));
    assert!(matches!(c, Outcome::Conflict { .. }), "{c:?}");
    for op in [
        update_op(
            theirs.id,
            json!({ "crew_notes": format!("{} {}", ZHUGE.name, ZHUGE.phone) }),
            1,
        ),
        json!({
            "op_id": Uuid::now_v7(), "entity": "status_event", "entity_id": Uuid::now_v7(),
            "order_id": b.id, "op": "create", "base_version": 1,
            "hlc": format!("{:016}-00000001-{}", chrono::Utc::now().timestamp_millis(), Uuid::now_v7().simple()),
            "fields": { "note": 13957112468u64, "customer": SIMA.name, "lat": SIMA.site.0 },
        }),
    ] {
        let o = outcome(push(&w, &token, vec![op]));
        let Outcome::Rejected { reason, .. } = &o else {
            panic!("refused: {o:?}")
        };
        errors.push(reason.clone());
    }

    // The office: the order's detail, the conflicts, a resolution with a note, a document the
    // customer sent afterwards.
    let detail = w.office.detail(a.id);
    assert_eq!(detail.order.status, Status::Completed);
    assert_eq!(detail.photos.len(), 3);
    let conflicts = w.office.conflicts("");
    assert_eq!(conflicts.len(), 2, "crew notes on two devices; B's phone");
    let notes = conflicts
        .iter()
        .find(|c| c.order_id == a.id)
        .expect("A's notes conflict");
    w.office.resolve(
        notes.id,
        ResolveChoice::Kept,
        &format!("已电话{}确认", OUYANG.phone),
    );
    let (s, body) = w.office.bytes(
        Method::POST,
        &format!(
            "/v1/office/orders/{}/documents?kind=property_certificate",
            a.id
        ),
        "image/jpeg",
        camera_jpeg(300, 200, 9),
    );
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    pa.sync().expect("a pulls the resolution");
    pb.sync().expect("b pulls the resolution");

    // Refused requests: wrong types and bad cells carrying personal data, a bad token, a crew
    // token in the back office, a phone with a revoked token.
    let bad = order_for(&SIMA, "GD20261125000109", "C1", WorkKind::MeterCheck, 3);
    let mut bad = serde_json::to_value(bad).expect("order");
    bad["customer"]["phone"] = json!(15867543210u64);
    bad["site"]["location"] = json!({ "lat": SIMA.name, "lon": SIMA.site.1 });
    let refused = [
        w.office.call(
            Method::POST,
            "/v1/office/orders",
            Some(json!({ "orders": [bad] })),
        ),
        w.office.raw(
            Method::POST,
            "/v1/office/orders/import",
            "text/csv",
            format!(
                "number,kind,customer_name,account_number,phone,address,area,lat,lon,appointment,accepted_at,crew_id\n\
                 GD20261125000110,meter_check,{},{},{},{},Keqiao,北纬{},{},within,2026-11-24T00:00:00Z,C1\n",
                ZHUGE.name, ZHUGE.account, ZHUGE.phone, ZHUGE.address, ZHUGE.site.0, ZHUGE.site.1
            ),
        ),
        w.office.call(
            Method::PATCH,
            &format!("/v1/office/orders/{}", b.id),
            Some(json!({ "customer_phone": 17855203146u64, "customer_name": SIMA.name })),
        ),
        w.office.call_with(
            "fc1.not-a-token.secret",
            Method::GET,
            &format!("/v1/office/orders?q={}", OUYANG.name),
            None,
        ),
        w.office.call_with(
            &token,
            Method::POST,
            &format!("/v1/office/orders/{}/reschedule", a.id),
            Some(json!({ "appointment": { "mode": "slot", "start": SIMA.phone } })),
        ),
    ];
    for (s, v) in refused {
        assert!(s.is_client_error(), "{s} {v}");
        errors.push(v.to_string());
    }
    let revoked = client(&w.server.url(), &token);
    let (s, _) = admin(
        Method::DELETE,
        &format!("/v1/admin/tokens/{}", token.split('.').nth(1).unwrap_or("")),
        None,
    );
    assert_eq!(s, StatusCode::NO_CONTENT);
    errors.push(
        revoked
            .sync(&pb.store, &mut |_| {})
            .expect_err("revoked")
            .to_string(),
    );
    for r in pa
        .store
        .rejected_changes()
        .expect("rejected")
        .into_iter()
        .chain(pb.store.rejected_changes().expect("rejected"))
    {
        errors.push(format!("{} {}: {}", r.code, r.entity_id, r.reason));
    }
    drop((pa, pb, w));

    let logs = captured.text();
    // The day really was logged, with ids: the phones' stores, and the server's threads (its
    // accept loop; its refusals where the server logs them).
    for expected in [
        "status reported",
        "readings recorded",
        "search",
        "write rolled back",
        "axum::serve",
        &a.id.to_string(),
    ] {
        assert!(
            logs.contains(expected),
            "the day is logged ({expected:?} missing) in {} bytes:\n{logs}",
            logs.len()
        );
    }
    let mut leaks = Vec::new();
    for secret in secrets() {
        for line in logs.lines().filter(|l| l.contains(&secret)) {
            leaks.push(format!("log: {secret:?} in {line}"));
        }
        for e in errors.iter().filter(|e| e.contains(&secret)) {
            leaks.push(format!("error text: {secret:?} in {e}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "personal data in the logs or errors:\n{}",
        leaks.join("\n")
    );
}
