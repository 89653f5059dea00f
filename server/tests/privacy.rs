//! Personal data never reaches an error text or a log line. Payloads carry a seeded name, phone
//! number, ID card number and position in wrongly typed fields (JSON bodies, push records, a
//! CSV import, query strings, a path); neither the replies nor the server's log output, captured
//! at trace level for every target, may contain any of them. Each reply still says where the
//! problem is.
//!
//! Its own test binary: the log capture is the process's global tracing subscriber.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, OnceLock};

mod common;

use fieldcrew_server::{RunningServer, issue_token};
use serde_json::{Value, json};
use uuid::Uuid;

const NAME: &str = "张三丰";
const PHONE: &str = "13912345678";
const ID_NUMBER: &str = "330602199001011234";
const LAT: &str = "30.2741563";
const LON: &str = "120.1551738";

/// Everything every thread of this process logs, at trace level.
fn log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .init();
        buf
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One HTTP/1.1 request on its own connection; the status and the body as text. No
/// `Accept-Encoding`: the reply is not compressed.
fn http(server: &RunningServer, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(server.addr()).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "{head}\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("head");
    s.write_all(body).expect("body");
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("reply");
    let reply = String::from_utf8(reply).expect("UTF-8 reply");
    let (head, body) = reply.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    (status, body.to_owned())
}

/// A refused request: the status, the error code and the message.
type Refusal = (u16, String, String);

/// The error body's code and message (the reply must be exactly the error body).
fn error_of(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).expect("JSON");
    let b: fieldcrew_core::sync::wire::ErrorBody = serde_json::from_value(v).expect("error body");
    (b.error, b.message)
}

fn percent(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn stamp() -> String {
    format!(
        "{:016}-00000001-{}",
        chrono::Utc::now().timestamp_millis(),
        Uuid::now_v7().simple()
    )
}

/// A push of one operation on `order` of `entity` with these `fields`.
fn push_body(entity: &str, op: &str, entity_id: &str, order: Uuid, fields: Value) -> String {
    json!({
        "device_id": Uuid::now_v7(),
        "ops": [{
            "op_id": Uuid::now_v7(),
            "entity": entity,
            "entity_id": entity_id,
            "order_id": order,
            "op": op,
            "fields": fields,
            "base_version": 1,
            "hlc": stamp(),
        }]
    })
    .to_string()
}

#[test]
fn personal_data_in_wrongly_typed_fields_reaches_neither_replies_nor_logs() {
    let log = log();
    let dir = tempfile::tempdir().expect("dir");
    let server = RunningServer::start(dir.path()).expect("server");
    let s = server.storage();
    common::crew_c1_and_dispatcher(s);
    let office = issue_token(s, "d1", "desk", None).expect("token").token;
    let crew = issue_token(s, "m1", "p1", None).expect("token").token;
    let as_office = |line: &str| format!("{line}\r\nAuthorization: Bearer {office}");
    let json_from = |line: &str, token: &str| {
        format!("{line}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json")
    };

    // A valid order, then the same with personal data where numbers, enums and times belong.
    let order = json!({
        "number": "9001", "kind": "meter_check",
        "customer": { "name": "customer", "account_number": "A9001", "phone": "13800000000" },
        "site": { "address": "1 Jiefang Rd", "area": "Yuecheng" },
        "appointment": { "mode": "within", "hours": 24 },
        "accepted_at": "2026-11-24T00:00:00Z", "crew_id": "C1"
    });
    let (status, body) = http(
        &server,
        &json_from("POST /v1/office/orders HTTP/1.1", &office),
        order.to_string().as_bytes(),
    );
    assert_eq!(status, 201, "{body}");
    let order_id: Uuid = serde_json::from_str::<Value>(&body).expect("created")[0]["order"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let with = |path: &[&str], v: Value| {
        let mut o = order.clone();
        let mut at = &mut o;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = v;
        json!({ "orders": [o] }).to_string()
    };
    let create = |body: String| {
        http(
            &server,
            &json_from("POST /v1/office/orders HTTP/1.1", &office),
            body.as_bytes(),
        )
    };
    let push = |body: String| {
        http(
            &server,
            &json_from("POST /v1/sync/push HTTP/1.1", &crew),
            body.as_bytes(),
        )
    };
    let rejected = |(status, body): (u16, String)| -> String {
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("answers");
        assert_eq!(v["answers"][0]["result"], "rejected", "{v}");
        assert_eq!(v["answers"][0]["code"], "invalid", "{v}");
        v["answers"][0]["reason"]
            .as_str()
            .expect("reason")
            .to_owned()
    };
    let refused = |(status, body): (u16, String)| -> Refusal {
        let (code, message) = error_of(&body);
        (status, code, message)
    };
    let invalid = |m: &str| (422, "invalid".to_owned(), m.to_owned());
    let malformed = |m: &str| (400, "malformed".to_owned(), m.to_owned());

    let fix = json!({ "point": { "lat": format!("{LAT},{LON}"), "lon": 0 }, "accuracy_m": 5 });
    let event = json!({
        "id": Uuid::now_v7(), "order_id": order_id, "from": "arrived", "to": "in_progress",
        "reason": null, "note": "", "at": chrono::Utc::now(), "fix": fix,
        "member_id": "m1", "hlc": stamp()
    });
    let replacement = json!({
        "id": Uuid::now_v7(), "order_id": order_id, "old_meter": "M1", "old_balance": NAME,
        "new_meter": "M2", "new_card": null, "at": chrono::Utc::now(), "member_id": "m1",
        "hlc": stamp()
    });
    let csv = format!(
        "number,kind,customer_name,account_number,phone,address,area,lat,lon,appointment,within_hours,accepted_at,crew_id\n\
         9002,{PHONE},a,A9002,138,x,Keqiao,,,within,12,2026-11-24T00:00:00Z,C1\n"
    );
    let csv_lat = format!(
        "number,kind,customer_name,account_number,phone,address,area,lat,lon,appointment,within_hours,accepted_at,crew_id\n\
         9003,meter_check,a,A9003,138,x,Keqiao,{NAME},{LON},within,12,2026-11-24T00:00:00Z,C1\n"
    );
    let oid = order_id.to_string();

    let checks: Vec<(Refusal, Refusal)> = vec![
        (
            refused(create(with(&["appointment", "hours"], json!(NAME)))),
            invalid("orders[0].appointment.hours: wrong type, expected u32"),
        ),
        (
            refused(create(with(&["priority"], json!(PHONE)))),
            invalid(
                "orders[0].priority: unknown value, expected one of `low`, `normal`, `high`, `urgent`",
            ),
        ),
        (
            refused(create(with(&["accepted_at"], json!(ID_NUMBER)))),
            invalid("orders[0].accepted_at: invalid value"),
        ),
        (
            refused(create(with(
                &["site", "location"],
                json!({ "lat": LAT, "lon": LON }),
            ))),
            invalid("orders[0].site.location.lat: wrong type, expected f64"),
        ),
        (
            refused(create(with(&["customer", "name"], json!([NAME, PHONE])))),
            invalid("orders[0].customer.name: wrong type, expected a string"),
        ),
        (
            refused(create(with(&["customer", NAME], json!(PHONE)))),
            // An unknown key is ignored: the order is fine but its number is taken.
            (
                409,
                "conflict".to_owned(),
                "order number 9001 exists".to_owned(),
            ),
        ),
        (
            refused(http(
                &server,
                &json_from(&format!("PATCH /v1/office/orders/{oid} HTTP/1.1"), &office),
                json!({ "customer_phone": [PHONE], "crew_notes": NAME })
                    .to_string()
                    .as_bytes(),
            )),
            invalid("customer_phone: wrong type, expected a string"),
        ),
        (
            refused(http(
                &server,
                &json_from(&format!("PATCH /v1/office/orders/{oid} HTTP/1.1"), &office),
                json!({ NAME: ID_NUMBER }).to_string().as_bytes(),
            )),
            invalid(
                "?: unknown field, expected one of `appointment`, `crew_id`, `member_id`, `priority`, `customer_name`, `customer_phone`, `required_documents`, `dispatch_notes`, `crew_notes`, `survey`, `fees`",
            ),
        ),
        (
            refused(http(
                &server,
                &json_from(
                    &format!("POST /v1/office/orders/{oid}/reassign HTTP/1.1"),
                    &office,
                ),
                json!({ "crew_id": { "name": NAME } })
                    .to_string()
                    .as_bytes(),
            )),
            invalid("crew_id: wrong type, expected a string"),
        ),
        (
            refused(http(
                &server,
                &format!(
                    "{}\r\nContent-Type: text/csv",
                    as_office("POST /v1/office/orders/import HTTP/1.1")
                ),
                csv.as_bytes(),
            )),
            invalid(
                "row 2: kind: unknown value, expected one of `new_connection`, `capacity_increase`, `meter_install`, `meter_replacement`, `meter_removal`, `site_survey`, `meter_check`, `fault_repair`",
            ),
        ),
        (
            refused(http(
                &server,
                &format!(
                    "{}\r\nContent-Type: text/csv",
                    as_office("POST /v1/office/orders/import HTTP/1.1")
                ),
                csv_lat.as_bytes(),
            )),
            invalid("row 2: lat: invalid value"),
        ),
        (
            refused(http(
                &server,
                &as_office(&format!(
                    "GET /v1/office/orders?status={}&q=x HTTP/1.1",
                    percent(NAME)
                )),
                b"",
            )),
            malformed(
                "query string: status: unknown value, expected one of `dispatched`, `accepted`, `en_route`, `arrived`, `in_progress`, `completed`, `suspended`, `cancelled`",
            ),
        ),
        (
            refused(http(
                &server,
                &as_office(&format!(
                    "GET /v1/office/orders?due_before={ID_NUMBER} HTTP/1.1"
                )),
                b"",
            )),
            malformed("query string: due_before: invalid value"),
        ),
        (
            refused(http(
                &server,
                &as_office(&format!(
                    "GET /v1/office/crews/C1/load?day={PHONE} HTTP/1.1"
                )),
                b"",
            )),
            malformed("query string: day: invalid value"),
        ),
        (
            refused(http(
                &server,
                &as_office(&format!("GET /v1/office/orders/{} HTTP/1.1", percent(NAME))),
                b"",
            )),
            (404, "not_found".to_owned(), "not found".to_owned()),
        ),
        (
            refused(http(
                &server,
                &as_office(&format!("GET /v1/office/orders?limit={PHONE} HTTP/1.1")),
                b"",
            )),
            malformed("query string: limit: invalid value"),
        ),
        (
            refused(push(push_body(
                "work_order",
                ID_NUMBER,
                &oid,
                order_id,
                json!({}),
            ))),
            invalid("ops[0].op: unknown value, expected `create` or `update`"),
        ),
        (
            refused(http(
                &server,
                &json_from("POST /v1/sync/push HTTP/1.1", &crew),
                format!("{{\"ops\": [], \"{NAME}\" {PHONE}}}").as_bytes(),
            )),
            malformed("not JSON: expected `:` at line 1 column 25"),
        ),
    ];
    for (got, want) in &checks {
        assert_eq!(got, want);
    }

    // Push records: the rejection's reason (sent back, stored with the answer, kept on the
    // phone) names the field.
    let reasons = [
        (
            rejected(push(push_body(
                "work_order",
                "update",
                &oid,
                order_id,
                json!({ "crew_notes": PHONE.parse::<u64>().expect("number") }),
            ))),
            "malformed crew notes: wrong type, expected a string",
        ),
        (
            rejected(push(push_body(
                "work_order",
                "update",
                &oid,
                order_id,
                json!({ "survey": ID_NUMBER }),
            ))),
            "malformed survey: wrong type, expected struct SiteSurvey",
        ),
        (
            rejected(push(push_body(
                "work_order",
                "update",
                &oid,
                order_id,
                json!({ "customer_phone": { "phone": PHONE } }),
            ))),
            "malformed phone: wrong type, expected a string",
        ),
        (
            rejected(push(push_body(
                "status_event",
                "create",
                event["id"].as_str().expect("id"),
                order_id,
                event.clone(),
            ))),
            "malformed status event: fix.point.lat: wrong type, expected f64",
        ),
        (
            rejected(push(push_body(
                "replacement",
                "create",
                replacement["id"].as_str().expect("id"),
                order_id,
                replacement.clone(),
            ))),
            "malformed replacement: old_balance: invalid value, expected a Decimal type representing a fixed-point number",
        ),
        (
            rejected(push(push_body(
                "conflict",
                "update",
                &Uuid::now_v7().to_string(),
                order_id,
                json!({ "action": NAME }),
            ))),
            "malformed conflict action: action: unknown value, expected `acknowledge` or `resolve`",
        ),
    ];
    for (got, want) in &reasons {
        assert_eq!(got, want);
    }
    // What the server stored as the answers says the same.
    let stored = std::fs::read(dir.path().join("fieldcrew-server.sqlite3")).expect("db");
    let wal = std::fs::read(dir.path().join("fieldcrew-server.sqlite3-wal")).unwrap_or_default();

    drop(server);
    let log = String::from_utf8(log.lock().expect("log").clone()).expect("UTF-8 log");
    // The log has the refusals, by code and message...
    assert!(
        log.contains("request refused") && log.contains("orders[0].site.location.lat: wrong type"),
        "{log}"
    );
    // ...and nothing of the values, in any form, anywhere.
    let replies: String = checks
        .iter()
        .map(|(got, _)| format!("{got:?}"))
        .chain(reasons.iter().map(|(got, _)| got.clone()))
        .collect();
    for secret in [NAME, PHONE, ID_NUMBER, LAT, LON] {
        for form in [secret.to_owned(), percent(secret), format!("{secret:?}")] {
            assert!(!replies.contains(&form), "{form} in a reply: {replies}");
            assert!(!log.contains(&form), "{form} in the log:\n{log}");
        }
    }
    // The database keeps the answers' reasons, and no value either (the customer's own data,
    // seeded above, is not among the secrets).
    for secret in [NAME, ID_NUMBER, LAT, LON] {
        let b = secret.as_bytes();
        assert!(
            !stored.windows(b.len()).any(|w| w == b) && !wal.windows(b.len()).any(|w| w == b),
            "{secret} stored"
        );
    }
}
