//! The `fieldcrew` binary as a process, against the reference server running in-process on
//! loopback: a crew member's day from a terminal.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use chrono::{Duration, Utc};
use fieldcrew_core::reading::{HistoryPoint, Register, RegisterSpec};
use fieldcrew_core::store::AgendaGroup;
use fieldcrew_core::work_order::{
    Appointment, Customer, Meter, MeterRegister, Priority, Site, Status, WorkKind,
};
use fieldcrew_server::storage::OfficeDetail;
use fieldcrew_server::{
    Caller, Capacity, Crew, Member, NewOrder, Role, RunningServer, Storage, issue_token,
};
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

struct World {
    _dir: tempfile::TempDir,
    device: std::path::PathBuf,
    server: RunningServer,
    token: String,
    removal: Uuid,
    day: String,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = RunningServer::start(&dir.path().join("server")).expect("server starts");
    let s = server.storage();
    s.add_crew(&Crew {
        id: "crew-xihu".into(),
        name: "西湖供电所 装表接电一班".into(),
        capacity: Capacity {
            surveys: 5,
            installs: 8,
            checks: 8,
        },
    })
    .expect("crew");
    s.add_member(&Member {
        id: "m-wang".into(),
        name: "王建华".into(),
        crew_id: Some("crew-xihu".into()),
        role: Role::Crew,
    })
    .expect("member");
    let now = Utc::now();
    let start = now + Duration::hours(1);
    let day = (start + Duration::hours(8)).date_naive().to_string();
    let order = |number: &str, kind: WorkKind, meters: Vec<Meter>| NewOrder {
        id: None,
        number: number.into(),
        kind,
        priority: Priority::Normal,
        customer: Customer {
            name: "张秀英".into(),
            account_number: "3300012345".into(),
            phone: "13800000000".into(),
        },
        site: Site {
            address: "浙江省杭州市文三路88号3幢2单元".into(),
            area: "西湖供电所".into(),
            location: None,
        },
        meters,
        required_documents: None,
        appointment: Appointment::Slot {
            start,
            end: start + Duration::hours(2),
        },
        accepted_at: now - Duration::days(1),
        dispatch_notes: String::new(),
        crew_id: "crew-xihu".into(),
        member_id: None,
        fees: Vec::new(),
    };
    let meter = Meter {
        asset_number: "3310150000000042".into(),
        phases: 1,
        registers: vec![MeterRegister {
            spec: RegisterSpec {
                register: Register::Total,
                int_digits: 6,
                decimals: 2,
            },
            last: Some(HistoryPoint {
                value: Decimal::new(1_000_000, 2),
                at: now - Duration::days(30),
            }),
        }],
        multiplier: Decimal::ONE,
        prepaid: false,
        expected_daily_kwh: Some(Decimal::from(10)),
    };
    let dispatcher = Caller {
        member_id: "d1".into(),
        crew_id: None,
        role: Role::Dispatcher,
        device: "desk".into(),
    };
    let written = s
        .create_orders(
            &dispatcher,
            vec![
                order("GD1001", WorkKind::MeterRemoval, vec![meter]),
                order("GD1002", WorkKind::SiteSurvey, Vec::new()),
            ],
        )
        .expect("orders");
    let token = issue_token(s, "m-wang", "desktop", None)
        .expect("token")
        .token;
    World {
        device: dir.path().join("device"),
        _dir: dir,
        removal: written[0].order.id,
        server,
        token,
        day,
    }
}

fn fieldcrew(device: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("fieldcrew")
        .expect("binary built")
        .arg("--data")
        .arg(device)
        .args(args)
        .output()
        .expect("runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).expect("stdout is JSON")
}

/// Fails with exactly one line on stderr and a non-zero code; returns the line.
fn one_line_failure(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.starts_with("fieldcrew: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn login(w: &World) {
    let out = ok(&fieldcrew(
        &w.device,
        &["login", "--server", &w.server.url(), "--token", &w.token],
    ));
    assert!(
        out.contains("signed in as m-wang of crew crew-xihu"),
        "{out}"
    );
}

#[test]
fn login_sync_agenda_a_reading_confirmed_complete_and_sync_back() {
    let w = world();
    login(&w);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(w.device.join("store.key"))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The store is encrypted: no plain SQLite header.
    let head = std::fs::read(w.device.join("phone.sqlite3")).expect("store");
    assert!(!head.starts_with(b"SQLite format 3"));

    let sync = json(&fieldcrew(&w.device, &["--json", "sync"]));
    assert_eq!(sync["orders_received"], 2);
    assert_eq!(sync["pushed"], 0);

    let groups: Vec<AgendaGroup> = serde_json::from_value(json(&fieldcrew(
        &w.device,
        &["--json", "agenda", "--day", &w.day],
    )))
    .expect("agenda parses");
    let numbers: Vec<&str> = groups
        .iter()
        .flat_map(|g| g.items.iter().map(|i| i.order.number.as_str()))
        .collect();
    assert_eq!(numbers.len(), 2);
    assert!(numbers.contains(&"GD1001") && numbers.contains(&"GD1002"));
    assert_eq!(groups[0].area, "西湖供电所");
    // The human table names the orders too.
    let table = ok(&fieldcrew(&w.device, &["agenda", "--day", &w.day]));
    assert!(
        table.contains("GD1001") && table.contains("2 order(s)"),
        "{table}"
    );

    let hits = json(&fieldcrew(&w.device, &["--json", "search", "文三路"]));
    assert_eq!(hits.as_array().map(Vec::len), Some(2));

    let arrived = json(&fieldcrew(
        &w.device,
        &["--json", "arrive", "GD1001", "--gps", "30.2741,120.1551,8"],
    ));
    assert_eq!(arrived["to"], "arrived");
    assert_eq!(arrived["fix"]["point"]["lat"], 30.2741);

    // 10000 kWh thirty days ago at about 10 a day: 13000 is far too much, a warning.
    let warned = fieldcrew(
        &w.device,
        &[
            "read",
            "GD1001",
            "--purpose",
            "removed_meter_final",
            "--value",
            "total=13000",
        ],
    );
    assert_eq!(warned.status.code(), Some(3));
    let line = one_line_failure(&warned);
    assert!(line.contains("1 warning(s) must be confirmed"), "{line}");
    let table = String::from_utf8_lossy(&warned.stdout);
    assert!(
        table.contains("high_consumption")
            && table.contains("--confirm 'high_consumption:total:REASON'"),
        "{table}"
    );
    // Nothing was saved.
    let pending = json(&fieldcrew(&w.device, &["--json", "pending"]));
    assert_eq!(pending.as_array().map(Vec::len), Some(1));

    // The same with --json: the warnings as data, still exit 3.
    let warned = fieldcrew(
        &w.device,
        &[
            "--json",
            "read",
            "GD1001",
            "--purpose",
            "removed_meter_final",
            "--value",
            "total=13000",
        ],
    );
    assert_eq!(warned.status.code(), Some(3));
    let body: Value = serde_json::from_slice(&warned.stdout).expect("warnings JSON");
    assert_eq!(body["needs_confirmation"][0]["code"], "high_consumption");

    let saved = json(&fieldcrew(
        &w.device,
        &[
            "--json",
            "read",
            "GD1001",
            "--purpose",
            "removed_meter_final",
            "--value",
            "total=13000",
            "--confirm",
            "high_consumption:total:新增空调，已与客户核实",
        ],
    ));
    assert_eq!(saved[0]["value"], "13000");
    assert_eq!(saved[0]["warnings"][0]["reason"], "新增空调，已与客户核实");

    let photo = w.device.join("licence.jpg");
    std::fs::write(
        &photo,
        fieldcrew_cli::demo::sample_photo(320, 1).expect("jpeg"),
    )
    .expect("file");
    let added = json(&fieldcrew(
        &w.device,
        &[
            "--json",
            "photo",
            "GD1001",
            "--kind",
            "property_certificate",
            photo.to_str().expect("utf-8 path"),
        ],
    ));
    assert_eq!(added["photo"]["kind"], "property_certificate");
    assert_eq!(added["photo"]["width"], 320);

    ok(&fieldcrew(&w.device, &["complete", "GD1001"]));
    ok(&fieldcrew(
        &w.device,
        &["evaluate", "GD1001", "5", "师傅很专业"],
    ));
    ok(&fieldcrew(&w.device, &["arrive", "GD1002"]));
    ok(&fieldcrew(
        &w.device,
        &[
            "survey",
            "GD1002",
            "--capacity-kva",
            "80",
            "--voltage",
            "v380",
            "--station",
            "110kV文三变",
            "--line",
            "10kV文三线",
            "--transformer",
            "文三3号公变",
        ],
    ));
    let detail = json(&fieldcrew(&w.device, &["--json", "show", "GD1001"]));
    assert_eq!(detail["detail"]["order"]["status"], "completed");
    assert_eq!(
        detail["detail"]["readings"].as_array().map(Vec::len),
        Some(1)
    );

    let sync = json(&fieldcrew(&w.device, &["--json", "sync"]));
    // arrive, reading, photo, complete, evaluation, arrive, survey.
    assert_eq!(sync["pushed"], 7);
    assert_eq!(sync["conflicts"], 0);
    let pending = json(&fieldcrew(&w.device, &["--json", "pending"]));
    assert_eq!(pending.as_array().map(Vec::len), Some(0));

    let server: OfficeDetail = w.server.storage().order_detail(w.removal).expect("detail");
    assert_eq!(server.order.status, Status::Completed);
    assert_eq!(server.readings.len(), 1);
    assert_eq!(server.readings[0].value, Decimal::from(13000));
    assert_eq!(server.evaluations[0].score, 5);

    let conflicts = json(&fieldcrew(&w.device, &["--json", "conflicts", "--all"]));
    assert_eq!(conflicts.as_array().map(Vec::len), Some(0));
}

#[test]
fn errors_are_one_line_and_non_zero() {
    let w = world();
    // Before login: the directory is no device.
    let line = one_line_failure(&fieldcrew(&w.device, &["agenda"]));
    assert!(line.contains("login"), "{line}");

    let line = one_line_failure(&fieldcrew(
        &w.device,
        &[
            "login",
            "--server",
            &w.server.url(),
            "--token",
            "not-a-token",
        ],
    ));
    assert!(line.contains("refused the token"), "{line}");

    login(&w);
    ok(&fieldcrew(&w.device, &["sync"]));

    let out = fieldcrew(&w.device, &["show", "GD9999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let line = one_line_failure(&out);
    assert_eq!(line.trim_end(), "fieldcrew: no order GD9999 on this device");

    let unknown_id = Uuid::now_v7().to_string();
    let line = one_line_failure(&fieldcrew(&w.device, &["arrive", &unknown_id]));
    assert!(line.contains("no order"), "{line}");

    // Completing before arriving breaks the status machine.
    let line = one_line_failure(&fieldcrew(&w.device, &["complete", "GD1001"]));
    assert!(
        line.contains("cannot go from dispatched to completed"),
        "{line}"
    );

    // Readings are taken on site.
    let line = one_line_failure(&fieldcrew(
        &w.device,
        &[
            "read",
            "GD1001",
            "--purpose",
            "check",
            "--value",
            "total=10100",
        ],
    ));
    assert!(line.contains("report arrival first"), "{line}");

    // Bad input is a usage error (exit 2), never a panic.
    for args in [
        &[
            "read",
            "GD1001",
            "--purpose",
            "check",
            "--value",
            "nonsense",
        ][..],
        &[
            "read",
            "GD1001",
            "--purpose",
            "sometimes",
            "--value",
            "total=1",
        ][..],
        &["arrive", "GD1001", "--gps", "91,200"][..],
        &["evaluate", "GD1001", "nine", "x"][..],
        &["conflicts", "--keep"][..],
    ] {
        let out = fieldcrew(&w.device, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let line = one_line_failure(&fieldcrew(
        &w.device,
        &["conflicts", "--ack", &Uuid::now_v7().to_string()],
    ));
    assert!(line.contains("no conflict"), "{line}");
    ok(&fieldcrew(&w.device, &["arrive", "GD1001"]));
    let line = one_line_failure(&fieldcrew(&w.device, &["evaluate", "GD1001", "9", "x"]));
    assert!(line.contains("1 to 5"), "{line}");
    let line = one_line_failure(&fieldcrew(
        &w.device,
        &[
            "photo",
            "GD1001",
            "--kind",
            "id_card",
            "/nonexistent/photo.jpg",
        ],
    ));
    assert!(line.contains("/nonexistent/photo.jpg"), "{line}");
    let not_a_photo = w.device.join("notes.txt");
    std::fs::write(&not_a_photo, "not an image").expect("file");
    one_line_failure(&fieldcrew(
        &w.device,
        &[
            "photo",
            "GD1001",
            "--kind",
            "id_card",
            not_a_photo.to_str().expect("utf-8 path"),
        ],
    ));
}
