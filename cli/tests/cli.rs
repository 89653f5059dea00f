//! The `fieldcrew` binary as a process, against the reference server running in-process on
//! loopback: a crew member's day from a terminal.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use chrono::{Duration, Utc};
use fieldcrew_core::reading::{HistoryPoint, Register, RegisterSpec};
use fieldcrew_core::store::AgendaGroup;
use fieldcrew_core::sync::wire::{ConflictStatus, ResolveChoice};
use fieldcrew_core::work_order::{
    Appointment, Customer, Meter, MeterRegister, Priority, Site, Status, SuspendReason, WorkKind,
};
use fieldcrew_server::storage::{ConflictFilter, OfficeDetail, OrderPatch};
use fieldcrew_server::{
    Caller, Capacity, Crew, Member, NewOrder, Role, RunningServer, ServerTls, Storage, issue_token,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

struct World {
    _dir: tempfile::TempDir,
    device: std::path::PathBuf,
    server: RunningServer,
    token: String,
    removal: Uuid,
    survey: Uuid,
    day: String,
}

fn dispatcher() -> Caller {
    Caller {
        member_id: "d1".into(),
        crew_id: None,
        role: Role::Dispatcher,
        device: "desk".into(),
    }
}

/// An order for crew-xihu with an agreed slot an hour from now.
fn new_order(number: &str, kind: WorkKind, meters: Vec<Meter>) -> NewOrder {
    let now = Utc::now();
    let start = now + Duration::hours(1);
    NewOrder {
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
    }
}

/// A single-register meter last read `last` thirty days ago, about `daily` kWh a day.
fn meter(asset: &str, last: Decimal, daily: i64, prepaid: bool) -> Meter {
    Meter {
        asset_number: asset.into(),
        phases: 1,
        registers: vec![MeterRegister {
            spec: RegisterSpec {
                register: Register::Total,
                int_digits: 6,
                decimals: 2,
            },
            last: Some(HistoryPoint {
                value: last,
                at: Utc::now() - Duration::days(30),
            }),
        }],
        multiplier: Decimal::ONE,
        prepaid,
        expected_daily_kwh: Some(Decimal::from(daily)),
    }
}

fn world() -> World {
    world_with(None)
}

/// [`world`] with the server over HTTPS when `tls` is given.
fn world_with(tls: Option<ServerTls>) -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = match tls {
        None => RunningServer::start(&dir.path().join("server")),
        Some(tls) => RunningServer::start_tls(&dir.path().join("server"), tls),
    }
    .expect("server starts");
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
    let day = (Utc::now() + Duration::hours(9)).date_naive().to_string();
    let written = s
        .create_orders(
            &dispatcher(),
            vec![
                new_order(
                    "GD1001",
                    WorkKind::MeterRemoval,
                    vec![meter(
                        "3310150000000042",
                        Decimal::new(1_000_000, 2),
                        10,
                        false,
                    )],
                ),
                new_order("GD1002", WorkKind::SiteSurvey, Vec::new()),
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
        survey: written[1].order.id,
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
    // The photo's bytes follow the data: uploaded and verified in the same command.
    assert_eq!(sync["photos_uploaded"], 1);
    assert_eq!(sync["photo_upload_failures"], 0);
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

/// A server whose certificate comes from a utility's own CA: refused without `--ca-cert`, and
/// with a file that is not a certificate; signed in with the CA, which later syncs use too.
#[test]
fn login_over_https_with_the_utilitys_own_ca() {
    let pki = fieldcrew_e2e::pki::pki(&["127.0.0.1"]);
    let tls = ServerTls::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).expect("tls");
    let w = world_with(Some(tls));
    let url = w.server.url();
    assert!(url.starts_with("https://"), "{url}");
    let files = tempfile::tempdir().expect("temp dir");
    let ca = files.path().join("utility-ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("write CA");
    let not_a_cert = files.path().join("key.pem");
    std::fs::write(&not_a_cert, &pki.key_pem).expect("write key");
    let ca = ca.to_str().expect("utf-8 path");

    // `fieldcrew login` to the HTTPS server, with `--ca-cert FILE` when given.
    let sign_in = |ca_cert: Option<&str>| {
        let mut args = vec!["login", "--server", &url, "--token", &w.token];
        if let Some(file) = ca_cert {
            args.extend(["--ca-cert", file]);
        }
        fieldcrew(&w.device, &args)
    };

    let untrusted = one_line_failure(&sign_in(None));
    assert!(
        untrusted.contains("cannot sign in")
            && untrusted.contains("TLS: ")
            && untrusted.contains("--ca-cert"),
        "{untrusted}"
    );
    let garbage = one_line_failure(&sign_in(Some(not_a_cert.to_str().expect("utf-8 path"))));
    assert!(
        garbage.contains("cannot sign in") && garbage.contains("BEGIN CERTIFICATE"),
        "{garbage}"
    );
    let missing = one_line_failure(&sign_in(Some("/nonexistent/ca.pem")));
    assert!(missing.contains("cannot read --ca-cert"), "{missing}");
    assert!(
        !w.device.join("device.json").exists(),
        "nothing kept from a failed login"
    );

    ok(&sign_in(Some(ca)));
    let out = ok(&fieldcrew(&w.device, &["--json", "sync"]));
    let summary: Value = serde_json::from_str(&out).expect("sync JSON");
    assert!(summary["orders_received"].as_u64() >= Some(1), "{summary}");
    let agenda = ok(&fieldcrew(&w.device, &["agenda", "--day", &w.day]));
    assert!(agenda.contains("GD1001"), "{agenda}");
}

#[test]
fn login_refuses_plain_http_to_another_machine() {
    let w = world();
    for url in [
        "http://sync.example.com",
        "http://10.0.0.5:8080",
        "http://0.0.0.0:8080/",
        "http://localhost.example.com",
    ] {
        for json in [false, true] {
            let mut args = vec!["login", "--server", url, "--token", &w.token];
            if json {
                args.insert(0, "--json");
            }
            let out = fieldcrew(&w.device, &args);
            assert_eq!(out.status.code(), Some(1), "{url}");
            assert!(out.stdout.is_empty(), "{url}");
            let line = one_line_failure(&out);
            assert!(
                line.contains(&format!(
                    "cannot sign in to {}: the server URL must start with https://",
                    url.trim_end_matches('/')
                )) && line.contains("http:// only to this machine"),
                "{line}"
            );
        }
    }
    // Refused before anything is created or sent: no key, no settings, no store.
    assert!(!w.device.join("store.key").exists());
    assert!(!w.device.join("device.json").exists());
    assert!(!w.device.join("phone.sqlite3").exists());
    // A URL without a scheme is refused too; loopback over http:// still signs in.
    let line = one_line_failure(&fieldcrew(
        &w.device,
        &["login", "--server", "sync.example.com", "--token", &w.token],
    ));
    assert!(line.contains("http:// or https://"), "{line}");
    let me = json(&fieldcrew(
        &w.device,
        &[
            "--json",
            "login",
            "--server",
            &w.server.url(),
            "--token",
            &w.token,
        ],
    ));
    assert_eq!(me["member_id"], "m-wang");
    assert_eq!(me["server_url"], w.server.url());
}

#[test]
fn suspend_start_replace_photos_and_sync_reports_the_uploads() {
    let w = world();
    let s = w.server.storage();
    let replacement = s
        .create_orders(
            &dispatcher(),
            vec![new_order(
                "GD1003",
                WorkKind::MeterReplacement,
                vec![meter("3310150000000077", Decimal::new(563_025, 2), 9, true)],
            )],
        )
        .expect("order")[0]
        .order
        .id;
    login(&w);
    let sync = json(&fieldcrew(&w.device, &["--json", "sync"]));
    assert_eq!(sync["orders_received"], 3);
    assert_eq!(sync["photos_uploaded"], 0);

    // Suspend: the reason travels; `other` needs a note.
    ok(&fieldcrew(&w.device, &["arrive", "GD1002"]));
    let line = one_line_failure(&fieldcrew(
        &w.device,
        &["suspend", "GD1002", "--reason", "other"],
    ));
    assert!(line.contains("note"), "{line}");
    let suspended = json(&fieldcrew(
        &w.device,
        &["--json", "suspend", "GD1002", "--reason", "customer_absent"],
    ));
    assert_eq!(
        (&suspended["from"], &suspended["to"], &suspended["reason"]),
        (
            &json!("arrived"),
            &json!("suspended"),
            &json!("customer_absent")
        )
    );
    let out = fieldcrew(&w.device, &["suspend", "GD1002", "--reason", "unsafe"]);
    assert_eq!(out.status.code(), Some(1));
    let line = one_line_failure(&out);
    assert!(line.contains("suspended"), "{line}");

    // Start: arrived → in progress, with the fix given.
    ok(&fieldcrew(&w.device, &["arrive", "GD1003"]));
    let started = json(&fieldcrew(
        &w.device,
        &["--json", "start", "GD1003", "--gps", "30.2741,120.1551,6"],
    ));
    assert_eq!(
        (&started["from"], &started["to"]),
        (&json!("arrived"), &json!("in_progress"))
    );

    // Replace: the old meter is prepaid, so its balance is required; then the new card.
    let old = ["--old", "total=5881.60"];
    let new = [
        "--new-meter",
        "3310150888000001",
        "--new",
        "total=0",
        "--new-prepaid",
    ];
    let line = one_line_failure(&fieldcrew(
        &w.device,
        &[
            &["replace", "GD1003"][..],
            &old,
            &new,
            &["--new-card", "6217001234567890"],
        ]
        .concat(),
    ));
    assert!(line.contains("balance"), "{line}");
    let line = one_line_failure(&fieldcrew(
        &w.device,
        &[
            &["replace", "GD1003"][..],
            &old,
            &["--old-balance", "35.20"],
            &new,
        ]
        .concat(),
    ));
    assert!(line.contains("card"), "{line}");
    let replaced = json(&fieldcrew(
        &w.device,
        &[
            &["--json", "replace", "GD1003"][..],
            &old,
            &["--old-balance", "35.20"],
            &new,
            &["--new-card", "6217001234567890"],
        ]
        .concat(),
    ));
    assert_eq!(replaced["replacement"]["old_meter"], "3310150000000077");
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
            ("replacement_new_start", "0")
        ]
    );

    // Two photos of the meters, then the work ends and the crew notes say where the box is.
    let mut photo_bytes = 0;
    for (kind, variant) in [("meter_before", 11), ("meter_after", 12)] {
        let file = w.device.join(format!("{kind}.jpg"));
        std::fs::write(
            &file,
            fieldcrew_cli::demo::sample_photo(320, variant).expect("jpeg"),
        )
        .expect("file");
        let added = json(&fieldcrew(
            &w.device,
            &[
                "--json",
                "photo",
                "GD1003",
                "--kind",
                kind,
                file.to_str().expect("utf-8 path"),
            ],
        ));
        assert_eq!(added["photo"]["kind"], kind);
        photo_bytes += added["photo"]["bytes"].as_u64().expect("bytes");
    }
    ok(&fieldcrew(&w.device, &["complete", "GD1003"]));
    let noted = json(&fieldcrew(
        &w.device,
        &["--json", "notes", "GD1003", "新表装在楼道东侧表箱"],
    ));
    assert_eq!(noted["crew_notes"], "新表装在楼道东侧表箱");
    assert_eq!(noted["order_id"], replacement.to_string());

    let sync = json(&fieldcrew(&w.device, &["--json", "sync"]));
    assert_eq!(sync["rejected"], 0, "{sync}");
    assert_eq!(sync["conflicts"], 0, "{sync}");
    assert_eq!(sync["photos_uploaded"], 2, "{sync}");
    assert_eq!(sync["photo_upload_failures"], 0, "{sync}");
    assert_eq!(sync["photos_downloaded"], 0, "{sync}");
    assert!(
        sync["photo_bytes_sent"].as_u64().expect("bytes") >= photo_bytes,
        "{sync}"
    );
    let pending = json(&fieldcrew(&w.device, &["--json", "pending"]));
    assert_eq!(pending.as_array().map(Vec::len), Some(0));

    // The server holds it all: the replacement, both readings, both photos' verified bytes.
    let detail = s.order_detail(replacement).expect("detail");
    assert_eq!(detail.order.status, Status::Completed);
    assert_eq!(detail.order.crew_notes, "新表装在楼道东侧表箱");
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
    assert_eq!(detail.photos.len(), 2);
    let blobs = fieldcrew_server::photos::PhotoBlobs::open(&w._dir.path().join("server"))
        .expect("server photos");
    for p in &detail.photos {
        assert!(p.on_server, "{:?}", p.photo.kind);
        assert!(blobs.photo_file(&p.photo.sha256, false).is_some());
    }
    let survey = s.order_detail(w.survey).expect("detail");
    assert_eq!(survey.order.status, Status::Suspended);
    assert_eq!(
        survey.timeline.last().and_then(|e| e.reason),
        Some(SuspendReason::CustomerAbsent)
    );

    // Nothing left to send: a second sync moves no changes and no photos.
    let sync = json(&fieldcrew(&w.device, &["--json", "sync"]));
    assert_eq!(
        (&sync["pushed"], &sync["photos_uploaded"]),
        (&json!(0), &json!(0))
    );
    let human = ok(&fieldcrew(&w.device, &["sync"]));
    assert!(
        human.contains("photos: 0 uploaded (0 bytes), 0 failed"),
        "{human}"
    );
}

#[test]
fn conflicts_acknowledged_and_resolved_from_the_terminal() {
    let w = world();
    login(&w);
    ok(&fieldcrew(&w.device, &["sync"]));
    // The crew writes notes offline while the office edits the same notes.
    for (order, text) in [("GD1001", "表箱在地下室"), ("GD1002", "请走北门")] {
        let noted = json(&fieldcrew(&w.device, &["--json", "notes", order, text]));
        assert_eq!(noted["crew_notes"], text);
    }
    let office_notes = "客户来电：下午两点后在家";
    for id in [w.removal, w.survey] {
        w.server
            .storage()
            .update_order(
                &dispatcher(),
                id,
                OrderPatch {
                    crew_notes: Some(office_notes.into()),
                    ..Default::default()
                },
            )
            .expect("office edit");
    }
    let sync = json(&fieldcrew(&w.device, &["--json", "sync"]));
    assert_eq!(
        (
            &sync["pushed"],
            &sync["conflicts"],
            &sync["conflicts_received"]
        ),
        (&json!(2), &json!(2), &json!(2)),
        "{sync}"
    );
    assert_eq!(sync["rejected"], 0);

    let open = json(&fieldcrew(&w.device, &["--json", "conflicts"]));
    let open = open.as_array().expect("list");
    assert_eq!(open.len(), 2);
    let of = |number: &str| {
        open.iter()
            .find(|c| c["order_number"] == number)
            .unwrap_or_else(|| panic!("no conflict on {number}"))
            .clone()
    };
    let (removal, survey) = (of("GD1001"), of("GD1002"));
    for (c, crew_text) in [(&removal, "表箱在地下室"), (&survey, "请走北门")] {
        assert_eq!(c["field"], "crew_notes");
        assert_eq!(c["rule"], "crew_owns_field");
        assert_eq!(c["status"], "open");
        assert_eq!(c["kept_value"], crew_text);
        assert_eq!(c["kept_by"], "crew:crew-xihu/m-wang");
        assert_eq!(c["lost_value"], office_notes);
        assert_eq!(c["lost_by"], "dispatcher:d1");
    }
    let table = ok(&fieldcrew(&w.device, &["conflicts"]));
    assert!(
        table.contains("crew_owns_field") && table.contains("2 conflict(s) open"),
        "{table}"
    );
    let (ack_id, resolve_id) = (
        removal["id"].as_str().expect("id").to_owned(),
        survey["id"].as_str().expect("id").to_owned(),
    );

    // Acknowledge one; put the office's value back on the other.
    let acked = json(&fieldcrew(
        &w.device,
        &["--json", "conflicts", "--ack", &ack_id],
    ));
    assert_eq!(acked["id"], ack_id.as_str());
    assert_eq!(acked["status"], "acknowledged");
    let resolved = json(&fieldcrew(
        &w.device,
        &[
            "--json",
            "conflicts",
            "--resolve",
            &resolve_id,
            "--lose",
            "--note",
            "以调度为准",
        ],
    ));
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["resolution"]["choice"], "lost");
    assert_eq!(resolved["resolution"]["note"], "以调度为准");
    assert_eq!(resolved["resolution"]["by"], "m-wang");
    // --keep and --lose together is a usage error.
    let out = fieldcrew(
        &w.device,
        &["conflicts", "--resolve", &resolve_id, "--keep", "--lose"],
    );
    assert_eq!(out.status.code(), Some(2));

    let open = json(&fieldcrew(&w.device, &["--json", "conflicts"]));
    assert_eq!(open.as_array().map(Vec::len), Some(0));
    let all = json(&fieldcrew(&w.device, &["--json", "conflicts", "--all"]));
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    let pending = json(&fieldcrew(&w.device, &["--json", "pending"]));
    let entities: Vec<&str> = pending
        .as_array()
        .expect("pending")
        .iter()
        .map(|e| e["entity"].as_str().expect("entity"))
        .collect();
    assert_eq!(entities, ["conflict", "conflict"]);

    let sync = json(&fieldcrew(&w.device, &["--json", "sync"]));
    assert_eq!(
        (&sync["pushed"], &sync["applied"], &sync["rejected"]),
        (&json!(2), &json!(2), &json!(0)),
        "{sync}"
    );
    // The server has both actions; the office's notes stand on GD1002, the crew's on GD1001.
    let s = w.server.storage();
    let on_server = s.conflicts(&ConflictFilter::default()).expect("conflicts");
    let find = |id: &str| {
        on_server
            .iter()
            .find(|c| c.id.to_string() == id)
            .expect("conflict on the server")
    };
    assert_eq!(find(&ack_id).status, ConflictStatus::Acknowledged);
    let r = find(&resolve_id);
    assert_eq!(r.status, ConflictStatus::Resolved);
    assert_eq!(
        r.resolution.as_ref().map(|x| (x.choice, x.note.as_str())),
        Some((ResolveChoice::Lost, "以调度为准"))
    );
    assert_eq!(
        s.order_detail(w.survey).expect("detail").order.crew_notes,
        office_notes
    );
    assert_eq!(
        s.order_detail(w.removal).expect("detail").order.crew_notes,
        "表箱在地下室"
    );
    let shown = json(&fieldcrew(&w.device, &["--json", "show", "GD1002"]));
    assert_eq!(shown["detail"]["order"]["crew_notes"], office_notes);
}
