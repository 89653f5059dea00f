//! `fieldcrew-server` admin commands as a process: a crew, a member, a token, and orders
//! imported from a JSON file and a CSV file.

use std::path::Path;
use std::process::{Command, Output};

use fieldcrew_server::storage::OrderFilter;
use fieldcrew_server::{SqliteStorage, Storage};

fn server(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fieldcrew-server"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("runs")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn import_orders_from_json_and_csv() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    ok(server(
        &data,
        &["add-crew", "C1", "--name", "西湖供电所 装表接电一班"],
    ));
    ok(server(
        &data,
        &["add-member", "m1", "--name", "王建华", "--crew", "C1"],
    ));
    let token = ok(server(&data, &["issue-token", "m1", "--device", "phone-1"]));
    assert!(token.contains("token:"), "{token}");

    let json_file = dir.path().join("orders.json");
    std::fs::write(
        &json_file,
        r#"{"orders": [{
            "number": "GD2001", "kind": "meter_check",
            "customer": {"name": "张秀英", "account_number": "3300012345", "phone": "13800000000"},
            "site": {"address": "浙江省杭州市文三路88号", "area": "西湖供电所", "location": null},
            "appointment": {"mode": "within", "hours": 24},
            "accepted_at": "2026-11-24T00:00:00Z", "crew_id": "C1"
        }]}"#,
    )
    .expect("file");
    let out = ok(server(
        &data,
        &["import-orders", json_file.to_str().expect("utf-8")],
    ));
    assert!(out.contains("imported 1 order(s)"), "{out}");

    let csv_file = dir.path().join("orders.csv");
    std::fs::write(
        &csv_file,
        "number,kind,customer_name,account_number,phone,address,area,appointment,slot_start,slot_end,accepted_at,crew_id,meter_asset\n\
         GD2002,meter_install,李四,3300012346,13800000002,文三路90号,西湖供电所,slot,2026-11-25T01:00:00Z,2026-11-25T03:00:00Z,2026-11-24T00:00:00Z,C1,M2002\n\
         GD2003,site_survey,王五,3300012347,13800000003,文三路92号,西湖供电所,slot,2026-11-25T02:00:00Z,2026-11-25T04:00:00Z,2026-11-24T00:00:00Z,C1,\n",
    )
    .expect("file");
    let out = ok(server(
        &data,
        &["import-orders", csv_file.to_str().expect("utf-8")],
    ));
    assert!(out.contains("imported 2 order(s)"), "{out}");

    // A bad row names its line; nothing of the file is imported.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "number,kind,customer_name,account_number,phone,address,area,appointment,accepted_at,crew_id\n\
         GD2004,meter_check,赵六,3300012348,13800000004,文三路94号,西湖供电所,sometime,2026-11-24T00:00:00Z,C1\n",
    )
    .expect("file");
    let out = server(&data, &["import-orders", bad.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("row 2"), "{stderr}");

    let storage = SqliteStorage::open(&data).expect("opens");
    let mut numbers: Vec<String> = storage
        .list_orders(&OrderFilter::default())
        .expect("list")
        .into_iter()
        .map(|o| o.number)
        .collect();
    numbers.sort();
    assert_eq!(numbers, ["GD2001", "GD2002", "GD2003"]);
}
