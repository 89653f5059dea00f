//! The demo end to end (a smaller city day and small photos, so it stays quick in a debug
//! build), run as `fieldcrew --json demo`: the story's readings, warnings, replacement, survey,
//! photos, reschedule and conflicts checked with their exact values in the JSON report, then
//! again in the data it leaves behind (every photo the phones took is on the server, verified).

use std::path::Path;

use assert_cmd::Command;
use chrono::Duration;
use fieldcrew_cli::demo::{DemoReport, render};
use fieldcrew_cli::device::{DeviceDir, resolve_order};
use fieldcrew_core::fixtures::local_midnight;
use fieldcrew_core::sync::wire::{ConflictRule, ConflictStatus};
use fieldcrew_core::work_order::{Appointment, Status};
use fieldcrew_server::photos::PhotoBlobs;
use fieldcrew_server::storage::ConflictFilter;
use fieldcrew_server::{SqliteStorage, Storage};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// `fieldcrew --json demo` into `dir`: the report as JSON, exactly as printed, and typed.
fn demo_json(dir: &Path) -> (Value, DemoReport) {
    let out = Command::cargo_bin("fieldcrew")
        .expect("binary built")
        .args(["--json", "demo", "--orders", "160", "--photo-edge", "240"])
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let value: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let report: DemoReport = serde_json::from_value(value.clone()).expect("the report parses");
    (value, report)
}

/// The story order whose outcome reads `what`.
fn outcome<'a>(v: &'a Value, what: &str) -> &'a Value {
    v["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .find(|o| o["what"].as_str().is_some_and(|w| w.contains(what)))
        .unwrap_or_else(|| panic!("no outcome {what:?} in {:#}", v["outcomes"]))
}

/// The kinds of an outcome's photos, sorted, after checking each is on the server.
fn photo_kinds(o: &Value) -> Vec<String> {
    let mut kinds: Vec<String> = o["photos"]
        .as_array()
        .expect("photos")
        .iter()
        .map(|p| {
            assert_eq!(p["on_server"], true, "{p} of {}", o["order_number"]);
            p["kind"].as_str().expect("kind").to_owned()
        })
        .collect();
    kinds.sort();
    kinds
}

#[test]
fn the_demo_tells_the_story_with_real_figures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (v, report) = demo_json(&dir.path().join("demo"));

    // Seeded: the city's orders plus dispatch's urgent repair.
    assert_eq!(v["orders_seeded"], 161);
    assert_eq!(v["crews"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        v["orders_by_kind"].as_object().map(|m| m.len()),
        Some(8),
        "every kind of work"
    );
    let day = report.day;
    let [a, b] = &v["phones"].as_array().expect("phones")[..] else {
        panic!("two phones")
    };
    assert_eq!(
        (&a["name"], &b["name"]),
        (&json!("phone-wang"), &json!("phone-li"))
    );

    // One rollover, confirmed with its reason; on the server with the confirmation.
    let rollover = outcome(&v, "rollover confirmed");
    let number = rollover["order_number"].clone();
    assert_eq!(
        a["offline"]["warnings_confirmed"],
        json!([{
            "order_number": number,
            "code": "rollover",
            "register": "total",
            "value": "68.20",
            "message": "reading 68.20 is below the last reading 9871.40: taken as the register wrapping past 10000, consumption 196.80",
            "reason": "旧式机械表，四位计度器已走满翻转",
        }])
    );
    assert_eq!(rollover["kind"], "meter_removal");
    assert_eq!(rollover["status"], "completed");
    assert_eq!(rollover["readings"].as_array().map(Vec::len), Some(1));
    assert_eq!(rollover["readings"][0]["purpose"], "removed_meter_final");
    assert_eq!(rollover["readings"][0]["value"], "68.20");
    assert_eq!(
        rollover["readings"][0]["confirmed"],
        json!([{
            "code": "rollover",
            "register": "total",
            "message": "reading 68.20 is below the last reading 9871.40: taken as the register wrapping past 10000, consumption 196.80",
            "reason": "旧式机械表，四位计度器已走满翻转",
        }])
    );
    assert_eq!(photo_kinds(rollover), ["id_card", "property_certificate"]);

    // One high-consumption warning, confirmed with its reason.
    let high = outcome(&v, "high consumption confirmed");
    assert_eq!(
        b["offline"]["warnings_confirmed"],
        json!([{
            "order_number": high["order_number"],
            "code": "high_consumption",
            "register": "total",
            "value": "24980.00",
            "message": "consumption 48.4 kWh/day is above 3x the usual 12.0 kWh/day",
            "reason": "客户经营餐馆，近月新增空调及冷柜，已与客户核实",
        }])
    );
    assert_eq!(high["readings"][0]["value"], "24980.00");
    assert_eq!(
        high["readings"][0]["confirmed"][0]["code"],
        "high_consumption"
    );
    assert_eq!(
        high["readings"][0]["confirmed"][0]["reason"],
        "客户经营餐馆，近月新增空调及冷柜，已与客户核实"
    );
    assert_eq!(photo_kinds(high), ["id_card", "property_certificate"]);

    // The prepaid meter replaced: final reading, balance carried over, new meter and card.
    let replaced = outcome(&v, "prepaid meter replaced");
    assert_eq!(replaced["kind"], "meter_replacement");
    assert_eq!(replaced["status"], "completed");
    assert_eq!(replaced["replacement"]["old_balance"], "35.20");
    assert_eq!(replaced["replacement"]["new_meter"], "3310150888000001");
    assert_eq!(replaced["replacement"]["new_card"], "6217001234567890");
    let readings: Vec<(&str, &str)> = replaced["readings"]
        .as_array()
        .expect("readings")
        .iter()
        .map(|r| {
            (
                r["purpose"].as_str().expect("purpose"),
                r["value"].as_str().expect("value"),
            )
        })
        .collect();
    assert_eq!(
        readings,
        [
            ("replacement_old_final", "5881.60"),
            ("replacement_new_start", "0.00")
        ]
    );
    assert_eq!(photo_kinds(replaced), ["meter_after", "meter_before"]);

    // The site survey, as the office holds it.
    let surveyed = outcome(&v, "site surveyed");
    assert_eq!(surveyed["kind"], "site_survey");
    assert_eq!(
        surveyed["survey"],
        json!({
            "capacity_kva": "80",
            "voltage": "v380",
            "phases": 3,
            "connection": {
                "station": "110kV文三变",
                "line": "10kV文三线",
                "transformer": "文三3号公变",
                "pole_or_box": "12号杆",
            },
            "load_notes": "餐饮店，厨房设备为主，需三相供电",
        })
    );
    assert_eq!(photo_kinds(surveyed), ["site"]);

    // The new meters' start readings and the other document photos.
    let install_a = outcome(&v, "start reading 0.52");
    assert_eq!(install_a["readings"][0]["purpose"], "new_meter_start");
    assert_eq!(install_a["readings"][0]["value"], "0.52");
    assert_eq!(photo_kinds(install_a), ["meter_after", "seal"]);
    let install_b = outcome(&v, "start reading 1.05");
    assert_eq!(install_b["readings"][0]["value"], "1.05");
    assert_eq!(photo_kinds(install_b), ["meter_after"]);

    // Dispatch's reschedule of the suspended visit: tomorrow 14:00-16:00 Beijing time.
    let suspended = outcome(&v, "suspended (customer absent)");
    assert_eq!(suspended["status"], "suspended");
    let at = local_midnight(day + Duration::days(1)) + Duration::hours(14);
    assert_eq!(
        suspended["appointment"],
        serde_json::to_value(Appointment::Slot {
            start: at,
            end: at + Duration::hours(2),
        })
        .expect("appointment")
    );
    assert!(
        v["dispatch"][0].as_str().is_some_and(|d| d
            .starts_with(suspended["order_number"].as_str().expect("number"))
            && d.contains("rescheduled to tomorrow 14:00-16:00")),
        "{}",
        v["dispatch"]
    );

    // Exactly the two conflicts of the story, each decided by its rule, both values kept.
    let cancelled = outcome(&v, "dispatch cancelled it meanwhile");
    assert_eq!(cancelled["status"], "completed");
    let notes = outcome(&v, "dispatch edited them too");
    assert_eq!(notes["crew_notes"], "表箱在地下室，钥匙在物业值班室");
    assert_eq!(photo_kinds(notes), ["business_licence"]);
    let mut conflicts = v["conflicts"].as_array().expect("conflicts").clone();
    for c in &mut conflicts {
        c.as_object_mut().expect("object").remove("explanation");
    }
    assert_eq!(conflicts.len(), 2, "{conflicts:#?}");
    assert!(
        conflicts.contains(&json!({
            "order_number": cancelled["order_number"],
            "field": "status",
            "rule": "cancelled_but_completed",
            "kept_value": "completed",
            "kept_by": "crew:crew-xihu/m-wangjh",
            "lost_value": "cancelled",
            "lost_by": "dispatcher:d-chenj",
        })),
        "{conflicts:#?}"
    );
    assert!(
        conflicts.contains(&json!({
            "order_number": notes["order_number"],
            "field": "crew_notes",
            "rule": "crew_owns_field",
            "kept_value": "表箱在地下室，钥匙在物业值班室",
            "kept_by": "crew:crew-xihu/m-wangjh",
            "lost_value": "客户来电：请从北门进入小区",
            "lost_by": "dispatcher:d-chenj",
        })),
        "{conflicts:#?}"
    );
    assert_eq!(
        outcome(&v, "new urgent repair, on phone-li after sync: yes")["status"],
        "dispatched"
    );

    let [pa, pb] = &report.phones[..] else {
        panic!("two phones")
    };
    // Phone A: nine visits, one suspended; six readings (install, rollover, replacement's two,
    // two checks); eight photos. Phone B: five visits, three readings, three photos.
    assert_eq!(
        (
            pa.offline.arrivals,
            pa.offline.completions,
            pa.offline.suspensions
        ),
        (9, 8, 1)
    );
    assert_eq!(pa.offline.readings, 6);
    assert_eq!(
        (
            pa.offline.replacements,
            pa.offline.surveys,
            pa.offline.notes
        ),
        (1, 1, 1)
    );
    assert_eq!((pb.offline.arrivals, pb.offline.completions), (5, 5));
    assert_eq!(pb.offline.readings, 3);
    for (p, photos) in [(pa, 8), (pb, 3)] {
        assert_eq!(p.offline.photos, photos, "{}", p.name);
        // Every photo went up in the evening sync, none failed, and the office shows each with
        // its verified bytes.
        assert_eq!(p.evening.photos_uploaded, photos, "{}", p.name);
        assert_eq!(p.evening.photo_upload_failures, 0, "{}", p.name);
        assert!(p.evening.photo_bytes_sent >= p.offline.photo_bytes);
        assert!(p.evening.photo_bytes_up >= p.evening.photo_bytes_sent);
        assert_eq!(p.morning.photos_uploaded, 0);
        assert_eq!(
            (p.photos_on_phone, p.photos_on_server),
            (photos, photos),
            "{}",
            p.name
        );
        // Everything queued went up, every change got an answer, nothing was refused.
        let queued: u64 = p.offline.outbox.values().sum();
        assert_eq!(p.evening.pushed, queued, "{}", p.name);
        assert_eq!(p.offline.outbox.get("photo").copied(), Some(photos));
        assert_eq!(
            p.evening.applied + p.evening.merged + p.evening.conflicts,
            p.evening.pushed,
            "{}",
            p.name
        );
        assert_eq!(p.evening.rejected, 0, "{}", p.name);
        assert!(p.rejected.is_empty(), "{}: {:?}", p.name, p.rejected);
        // After the sync the phone and the server agree on every order.
        assert_eq!(p.orders_in_agreement, p.orders_on_phone, "{}", p.name);
        assert!(p.morning.orders_received > 10);
        assert!(p.morning.bytes_down > 0 && p.evening.bytes_up > 0);
    }
    // A: 2 status events + reading + ... on the cancelled order and the notes edit met
    // conflicts; the suspension merged with the reschedule.
    assert_eq!(pa.evening.conflicts, 4);
    assert_eq!(pa.evening.merged, 1);
    assert_eq!(pa.evening.conflicts_received, 2);
    assert_eq!((pb.evening.conflicts, pb.evening.merged), (0, 0));
    assert_eq!(pa.offline.outbox.get("status_event").copied(), Some(18));
    assert_eq!(pb.offline.outbox.get("status_event").copied(), Some(10));
    let t = &report.totals;
    assert_eq!(t.ops_pushed, pa.evening.pushed + pb.evening.pushed);
    assert_eq!((t.photos_uploaded, t.photo_upload_failures), (11, 0));
    assert_eq!(t.rejected, 0);

    // The data left behind: the server's conflicts, the phones' orders, and every photo the
    // phones took on the server with the same bytes.
    let server = SqliteStorage::open(&report.server_dir).expect("server data");
    let all = server
        .conflicts(&ConflictFilter::default())
        .expect("conflicts");
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|c| c.status == ConflictStatus::Open));
    assert!(
        all.iter()
            .any(|c| c.rule == ConflictRule::CancelledButCompleted)
    );
    let blobs = PhotoBlobs::open(&report.server_dir).expect("server photos");
    for p in [pa, pb] {
        let phone = DeviceDir::new(&p.dir).open_store().expect("phone opens");
        let mut checked = 0;
        for summary in phone.orders_by_status(&[], 100_000).expect("orders") {
            let photos = phone.photos(summary.id).expect("photos");
            if photos.is_empty() {
                continue;
            }
            let detail = server.order_detail(summary.id).expect("detail");
            for photo in photos {
                let office = detail
                    .photos
                    .iter()
                    .find(|o| o.photo.id == photo.id)
                    .unwrap_or_else(|| panic!("photo {} not on the server", photo.id));
                assert!(office.on_server, "photo {} is not backed", photo.id);
                assert_eq!(office.photo.sha256, photo.sha256);
                let file = blobs
                    .photo_file(&photo.sha256, false)
                    .unwrap_or_else(|| panic!("no bytes for photo {}", photo.id));
                assert_eq!(
                    std::fs::read(file).expect("server file"),
                    phone.photo_bytes(&photo).expect("phone bytes"),
                    "photo {}",
                    photo.id
                );
                assert!(blobs.photo_file(&photo.sha256, true).is_some(), "thumbnail");
                checked += 1;
            }
        }
        assert_eq!(checked, p.offline.photos, "{}", p.name);
        assert_eq!(phone.pending_count().expect("pending"), 0);
        assert!(phone.rejected_changes().expect("rejected").is_empty());
    }
    let phone_a = DeviceDir::new(&pa.dir).open_store().expect("phone A opens");
    let id = resolve_order(
        &phone_a,
        suspended["order_number"].as_str().expect("number"),
    )
    .expect("on phone A");
    let order = phone_a.order(id).expect("order");
    assert_eq!(order.status, Status::Suspended);
    assert_eq!(
        server.order_detail(id).expect("detail").order.appointment,
        order.appointment
    );
    assert_eq!(phone_a.conflicts(true).expect("conflicts").len(), 2);
    let rid = resolve_order(&phone_a, replaced["order_number"].as_str().expect("number"))
        .expect("on phone A");
    let detail = server.order_detail(rid).expect("detail");
    assert_eq!(
        detail.replacements[0].old_balance,
        Some(Decimal::new(3520, 2))
    );

    // The narrated report names the warnings, the photos, the rules, the figures and where
    // the data is.
    let text = render(&report);
    for needle in [
        "rollover on total (68.20): \"旧式机械表，四位计度器已走满翻转\"",
        "high_consumption on total (24980.00)",
        "Evening, photos up: 8 uploaded",
        "0 failed; 8 of the phone's 8 photos are on the server, verified.",
        "Evening, photos up: 3 uploaded",
        "0 failed; 3 of the phone's 3 photos are on the server, verified.",
        "rule cancelled_but_completed",
        "rule crew_owns_field",
        "changes pushed",
        "photos uploaded / failed",
        "11 / 0",
        "order data up",
        "photo bytes up",
        "whole demo",
        "Data left for inspection",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(text.contains(&pa.dir.display().to_string()));
}

#[test]
fn the_demo_refuses_a_directory_that_is_not_empty() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("keep.txt"), "mine").expect("file");
    let out = Command::cargo_bin("fieldcrew")
        .expect("binary built")
        .args(["demo", "--orders", "40", "--dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.txt")).expect("untouched"),
        "mine"
    );
}
