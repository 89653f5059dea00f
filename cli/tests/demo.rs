//! The demo end to end (a smaller city day and small photos, so it stays quick in a debug
//! build): the story's conflicts, counts and end states, checked in the report and again in
//! the data it leaves behind.

use fieldcrew_cli::demo::{DemoOptions, render, run};
use fieldcrew_cli::device::{DeviceDir, resolve_order};
use fieldcrew_core::sync::wire::{ConflictRule, ConflictStatus};
use fieldcrew_core::work_order::{Appointment, Status};
use fieldcrew_server::storage::ConflictFilter;
use fieldcrew_server::{SqliteStorage, Storage};
use rust_decimal::Decimal;
use serde_json::json;

#[test]
fn the_demo_tells_the_story_with_real_figures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = DemoOptions {
        orders: 160,
        dir: Some(dir.path().join("demo")),
        photo_edge: 240,
        ..DemoOptions::default()
    };
    let mut lines = Vec::new();
    let report = run(&options, &mut |l| lines.push(l.to_owned())).expect("demo runs");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("both phones lose the network"))
    );

    // Seeded: the city's orders plus dispatch's urgent repair.
    assert_eq!(report.orders_seeded, 161);
    assert_eq!(report.crews.len(), 4);
    assert_eq!(report.orders_by_kind.len(), 8, "every kind of work");

    // Exactly the two conflicts of the story, each decided by its rule.
    assert_eq!(report.conflicts.len(), 2);
    let cancelled = report
        .conflicts
        .iter()
        .find(|c| c.rule == ConflictRule::CancelledButCompleted)
        .expect("cancel vs completed");
    assert_eq!(cancelled.field, "status");
    assert_eq!(
        (cancelled.kept_value.clone(), cancelled.lost_value.clone()),
        (json!("completed"), json!("cancelled"))
    );
    assert_eq!(cancelled.kept_by, "crew:crew-xihu/m-wangjh");
    assert_eq!(cancelled.lost_by, "dispatcher:d-chenj");
    let notes = report
        .conflicts
        .iter()
        .find(|c| c.rule == ConflictRule::CrewOwnsField)
        .expect("notes edited on both sides");
    assert_eq!(notes.field, "crew_notes");
    assert_eq!(
        (notes.kept_value.clone(), notes.lost_value.clone()),
        (
            json!("表箱在地下室，钥匙在物业值班室"),
            json!("客户来电：请从北门进入小区")
        )
    );

    let [a, b] = &report.phones[..] else {
        panic!("two phones")
    };
    // Phone A: nine visits, one suspended; six readings (install, rollover, replacement's two,
    // two checks); the rollover confirmed with its reason.
    assert_eq!(
        (
            a.offline.arrivals,
            a.offline.completions,
            a.offline.suspensions
        ),
        (9, 8, 1)
    );
    assert_eq!(a.offline.readings, 6);
    assert_eq!(
        (a.offline.replacements, a.offline.surveys, a.offline.notes),
        (1, 1, 1)
    );
    assert_eq!(a.offline.photos, 8);
    assert_eq!(a.offline.warnings_confirmed.len(), 1);
    assert!(a.offline.warnings_confirmed[0].contains("rollover"));
    // Phone B: five visits; the high consumption confirmed.
    assert_eq!((b.offline.arrivals, b.offline.completions), (5, 5));
    assert_eq!(b.offline.readings, 3);
    assert_eq!(b.offline.warnings_confirmed.len(), 1);
    assert!(b.offline.warnings_confirmed[0].contains("high_consumption"));

    for p in [a, b] {
        // Everything queued went up, and every change got an answer.
        let queued: u64 = p.offline.outbox.values().sum();
        assert_eq!(p.evening.pushed, queued, "{}", p.name);
        assert_eq!(
            p.evening.applied + p.evening.merged + p.evening.conflicts + p.evening.rejected,
            p.evening.pushed,
            "{}",
            p.name
        );
        // Only photos may be refused (while the server has no photo transfer).
        assert!(
            p.rejected.iter().all(|r| r.contains("photo")),
            "{:?}",
            p.rejected
        );
        assert!(p.evening.rejected <= p.offline.photos);
        // After the sync the phone and the server agree on every order.
        assert_eq!(p.orders_in_agreement, p.orders_on_phone, "{}", p.name);
        assert!(p.morning.orders_received > 10);
        assert!(p.morning.bytes_down > 0 && p.evening.bytes_up > 0);
    }
    // A: 2 status events + reading + ... on the cancelled order and the notes edit met
    // conflicts; the suspension merged with the reschedule.
    assert_eq!(a.evening.conflicts, 4);
    assert_eq!(a.evening.merged, 1);
    assert_eq!(a.evening.conflicts_received, 2);
    assert_eq!((b.evening.conflicts, b.evening.merged), (0, 0));
    assert_eq!(
        a.offline.outbox.get("status_event").copied(),
        Some(18),
        "{:?}",
        a.offline.outbox
    );
    assert_eq!(b.offline.outbox.get("status_event").copied(), Some(10));
    assert_eq!(
        report.totals.ops_pushed,
        a.evening.pushed + b.evening.pushed
    );

    // End states on the server, from the report...
    let status_of = |what: &str| {
        report
            .outcomes
            .iter()
            .find(|(_, w, _)| w.contains(what))
            .map(|(n, _, s)| (n.clone(), *s))
            .expect(what)
    };
    assert_eq!(status_of("dispatch cancelled it").1, Status::Completed);
    let (suspended, status) = status_of("suspended");
    assert_eq!(status, Status::Suspended);
    assert_eq!(
        status_of("new urgent repair, on phone-li after sync: yes").1,
        Status::Dispatched
    );

    // ...and from the data left behind.
    let server = SqliteStorage::open(&report.server_dir).expect("server data");
    let all = server
        .conflicts(&ConflictFilter::default())
        .expect("conflicts");
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|c| c.status == ConflictStatus::Open));
    let phone_a = DeviceDir::new(&a.dir).open_store().expect("phone A opens");
    let id = resolve_order(&phone_a, &suspended).expect("on phone A");
    let order = phone_a.order(id).expect("order");
    assert_eq!(order.status, Status::Suspended);
    assert!(matches!(order.appointment, Appointment::Slot { .. }));
    assert_eq!(
        server.order_detail(id).expect("detail").order.appointment,
        order.appointment
    );
    assert_eq!(phone_a.conflicts(true).expect("conflicts").len(), 2);
    assert_eq!(phone_a.pending_count().expect("pending"), 0);
    let replaced = report
        .outcomes
        .iter()
        .find(|(_, w, _)| w.contains("prepaid meter replaced"))
        .map(|(n, _, _)| n.clone())
        .expect("replacement");
    let rid = resolve_order(&phone_a, &replaced).expect("on phone A");
    let detail = server.order_detail(rid).expect("detail");
    assert_eq!(detail.replacements.len(), 1);
    assert_eq!(
        detail.replacements[0].old_balance,
        Some(Decimal::new(3520, 2))
    );
    assert_eq!(
        detail.replacements[0].new_card.as_deref(),
        Some("6217001234567890")
    );
    assert_eq!(detail.readings.len(), 2);

    // The narrated report names the rules, the figures and where the data is.
    let text = render(&report);
    for needle in [
        "rule cancelled_but_completed",
        "rule crew_owns_field",
        "changes pushed",
        "bytes up",
        "whole demo",
        "Data left for inspection",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(text.contains(&a.dir.display().to_string()));
}
