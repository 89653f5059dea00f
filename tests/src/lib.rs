//! Support for the end-to-end tests and benchmarks: a real server on loopback with crews,
//! members and a dispatcher; crew phones (a store, a sync client); a back-office client over
//! HTTP; a proxy that loses replies; a hostile server.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use chrono::{DateTime, TimeZone, Utc};
use fieldcrew_core::clock::{Clock, ManualClock};
use fieldcrew_core::reading::{ReadingPurpose, Register, RegisterSpec};
use fieldcrew_core::store::{
    ReadingEntry, RegisterValue, Session, StatusReport, Store, StoreOptions,
};
use fieldcrew_core::sync::wire::{Conflict, ResolveChoice};
use fieldcrew_core::sync::{RetryPolicy, SyncClient, SyncConfig, SyncError, SyncReport};
use fieldcrew_core::work_order::{
    Appointment, Customer, Meter, MeterRegister, Site, Status, WorkKind, WorkOrder,
};
use fieldcrew_server::storage::{OfficeDetail, OfficeWrite};
use fieldcrew_server::{Capacity, Crew, Member, NewOrder, Role, RunningServer, Storage};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

pub use fieldcrew_server;

pub mod fault;
pub mod pki;

/// A camera-like JPEG of noise (compresses badly, like a real photo): `w`×`h`, from `seed`.
pub fn camera_jpeg(w: u16, h: u16, seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut px = vec![0u8; usize::from(w) * usize::from(h) * 3];
    // Smooth gradients plus noise: big enough to matter, realistic enough to decode.
    for (i, p) in px.iter_mut().enumerate() {
        let x = (i / 3) % usize::from(w);
        *p = (x as u8).wrapping_add(rng.random_range(0..96));
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 92)
        .encode(&px, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("encode");
    out
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 2026-11-25 08:00 Beijing time.
pub fn day_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// A server with two crews (C1: m1, m2; C2: m3), a dispatcher d1 and an admin a1.
pub struct World {
    pub dir: tempfile::TempDir,
    pub server: RunningServer,
    pub office: Office,
    pub admin_token: String,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = RunningServer::start(&dir.path().join("server")).expect("server starts");
        let s = server.storage();
        for (id, installs) in [("C1", 3), ("C2", 8)] {
            s.add_crew(&Crew {
                id: id.into(),
                name: format!("crew {id}"),
                capacity: Capacity {
                    surveys: 4,
                    installs,
                    checks: 6,
                },
            })
            .expect("crew");
        }
        for (id, crew) in [("m1", "C1"), ("m2", "C1"), ("m3", "C2")] {
            s.add_member(&Member {
                id: id.into(),
                name: id.into(),
                crew_id: Some(crew.into()),
                role: Role::Crew,
            })
            .expect("member");
        }
        s.add_member(&Member {
            id: "d1".into(),
            name: "dispatcher".into(),
            crew_id: None,
            role: Role::Dispatcher,
        })
        .expect("dispatcher");
        s.add_member(&Member {
            id: "a1".into(),
            name: "admin".into(),
            crew_id: None,
            role: Role::Admin,
        })
        .expect("admin");
        let token = fieldcrew_server::issue_token(s, "d1", "office-pc", None)
            .expect("token")
            .token;
        let admin_token = fieldcrew_server::issue_token(s, "a1", "admin-pc", None)
            .expect("token")
            .token;
        let office = Office::new(&server.url(), &token);
        World {
            dir,
            server,
            office,
            admin_token,
        }
    }

    /// Stops the server (cutting requests in flight) and starts it again on the same port and
    /// data directory, as a deploy would.
    pub fn restart_server(&mut self) {
        let addr = self.server.addr();
        let scratch = RunningServer::start(&self.dir.path().join("scratch")).expect("scratch");
        drop(std::mem::replace(&mut self.server, scratch));
        let mut tries = 0;
        let server = loop {
            match RunningServer::start_on(&self.dir.path().join("server"), addr) {
                Ok(s) => break s,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("restart: {e}"),
            }
        };
        self.server = server;
        // The office's keep-alive connection died with the old server.
        self.office = Office::new(&self.server.url(), &self.office.token.clone());
    }

    pub fn token(&self, member: &str, device: &str) -> String {
        fieldcrew_server::issue_token(self.server.storage(), member, device, None)
            .expect("token")
            .token
    }

    /// A crew phone for `member` of `crew`, with the system clock.
    pub fn device(&self, name: &str, member: &str, crew: &str) -> Device {
        self.device_with_clock(
            name,
            member,
            crew,
            Arc::new(fieldcrew_core::clock::SystemClock),
        )
    }

    pub fn device_with_clock(
        &self,
        name: &str,
        member: &str,
        crew: &str,
        clock: Arc<dyn Clock>,
    ) -> Device {
        let token = self.token(member, name);
        Device::open(
            &self.dir.path().join(name),
            &self.server.url(),
            &token,
            member,
            crew,
            clock,
        )
    }

    /// Creates orders through the back-office API.
    pub fn create(&self, orders: Vec<NewOrder>) -> Vec<WorkOrder> {
        self.office
            .create(orders)
            .into_iter()
            .map(|w| w.order)
            .collect()
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

/// A meter with a total register last read at 1000.00 thirty days before `day_start`.
pub fn meter(asset: &str) -> Meter {
    Meter {
        asset_number: asset.into(),
        phases: 1,
        registers: vec![MeterRegister {
            spec: RegisterSpec {
                register: Register::Total,
                int_digits: 6,
                decimals: 2,
            },
            last: Some(fieldcrew_core::reading::HistoryPoint {
                value: Decimal::new(100_000, 2),
                at: day_start() - chrono::Duration::days(30),
            }),
        }],
        multiplier: Decimal::ONE,
        prepaid: false,
        expected_daily_kwh: None,
    }
}

/// An order of `kind` for `crew`, in a slot on `day_start` at `hour` Beijing time.
pub fn new_order(number: &str, crew: &str, kind: WorkKind, hour: i64) -> NewOrder {
    let start = day_start() + chrono::Duration::hours(hour);
    NewOrder {
        id: None,
        number: number.into(),
        kind,
        priority: fieldcrew_core::work_order::Priority::Normal,
        customer: Customer {
            name: format!("customer {number}"),
            account_number: format!("A{number}"),
            phone: "13800000000".into(),
        },
        site: Site {
            address: format!("{number} Jiefang Rd"),
            area: "Yuecheng".into(),
            location: None,
        },
        meters: vec![meter(&format!("M{number}"))],
        required_documents: None,
        appointment: Appointment::Slot {
            start,
            end: start + chrono::Duration::hours(2),
        },
        accepted_at: day_start() - chrono::Duration::days(1),
        dispatch_notes: String::new(),
        crew_id: crew.into(),
        member_id: None,
        fees: Vec::new(),
    }
}

/// A crew phone.
pub struct Device {
    pub store: Store,
    pub client: SyncClient,
    pub member: String,
}

impl Device {
    pub fn open(
        dir: &Path,
        url: &str,
        token: &str,
        member: &str,
        crew: &str,
        clock: Arc<dyn Clock>,
    ) -> Device {
        std::fs::create_dir_all(dir).expect("device dir");
        let store = Store::open(
            dir.join("phone.sqlite3"),
            StoreOptions {
                clock,
                ..StoreOptions::default()
            },
        )
        .expect("store opens");
        store
            .sign_in(&Session {
                member_id: member.into(),
                crew_id: crew.into(),
            })
            .expect("sign in");
        Device {
            client: client(url, token),
            store,
            member: member.into(),
        }
    }

    pub fn sync(&self) -> Result<SyncReport, SyncError> {
        self.client.sync(&self.store, &mut |_| {})
    }

    pub fn report(&self, order: Uuid, to: Status) {
        self.store
            .report_status(&StatusReport {
                order_id: order,
                to,
                reason: None,
                note: String::new(),
                fix: None,
            })
            .expect("status report");
    }

    /// Reads the order's meter's total register.
    pub fn read(
        &self,
        order: Uuid,
        meter: &str,
        raw: &str,
    ) -> Vec<fieldcrew_core::reading::MeterReading> {
        self.store
            .record_readings(&ReadingEntry {
                order_id: order,
                meter_asset: meter.into(),
                purpose: ReadingPurpose::Check,
                values: vec![RegisterValue {
                    register: Register::Total,
                    raw: raw.into(),
                }],
                photo_id: None,
                supersedes: Vec::new(),
                confirmations: Vec::new(),
            })
            .expect("reading recorded")
    }

    /// Arrives, reads the meter and completes the order.
    pub fn complete(
        &self,
        order: &WorkOrder,
        raw: &str,
    ) -> Vec<fieldcrew_core::reading::MeterReading> {
        self.report(order.id, Status::Arrived);
        let r = self.read(order.id, &order.meters[0].asset_number, raw);
        self.report(order.id, Status::Completed);
        r
    }

    pub fn numbers(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .store
            .orders_by_status(&[], 100_000)
            .expect("orders")
            .into_iter()
            .map(|o| o.number)
            .collect();
        v.sort();
        v
    }
}

/// A sync client with quick retries, for tests.
pub fn client(url: &str, token: &str) -> SyncClient {
    let mut cfg = SyncConfig::new(url, token);
    cfg.retry = RetryPolicy {
        max_attempts: 4,
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    cfg.timeout = Duration::from_secs(30);
    SyncClient::new(cfg).expect("client")
}

/// The back office over HTTP.
pub struct Office {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Office {
    pub fn new(url: &str, token: &str) -> Office {
        Office {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            http: reqwest::Client::new(),
            url: url.into(),
            token: token.into(),
        }
    }

    /// Any request, with this office's token: (status, JSON body or Null).
    pub fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_with(&self.token, method, path, body)
    }

    pub fn call_with(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.rt.block_on(async {
            let mut req = self
                .http
                .request(method, format!("{}{path}", self.url))
                .bearer_auth(token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.expect("request sent");
            let status = resp.status();
            let bytes = resp.bytes().await.expect("body");
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }

    pub fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: String,
    ) -> (StatusCode, Value) {
        self.rt.block_on(async {
            let resp = self
                .http
                .request(method, format!("{}{path}", self.url))
                .bearer_auth(&self.token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("request sent");
            let status = resp.status();
            let bytes = resp.bytes().await.expect("body");
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }

    /// A request with a binary body; the reply's raw bytes.
    pub fn bytes(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        self.rt.block_on(async {
            let resp = self
                .http
                .request(method, format!("{}{path}", self.url))
                .bearer_auth(&self.token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("request sent");
            let status = resp.status();
            (status, resp.bytes().await.expect("body").to_vec())
        })
    }

    /// `GET /v1/photos/{sha256}` as the office: the status and the bytes served.
    pub fn photo(&self, sha256: &str) -> (StatusCode, Vec<u8>) {
        self.bytes(
            Method::GET,
            &format!("/v1/photos/{sha256}"),
            "image/jpeg",
            Vec::new(),
        )
    }

    fn ok<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> T {
        let (status, v) = self.call(method, path, body);
        assert!(status.is_success(), "{path}: {status} {v}");
        serde_json::from_value(v).expect("reply parses")
    }

    pub fn create(&self, orders: Vec<NewOrder>) -> Vec<OfficeWrite> {
        self.ok(
            Method::POST,
            "/v1/office/orders",
            Some(json!({ "orders": orders })),
        )
    }

    pub fn reschedule(&self, id: Uuid, appointment: Appointment) -> OfficeWrite {
        self.ok(
            Method::POST,
            &format!("/v1/office/orders/{id}/reschedule"),
            Some(json!({ "appointment": appointment })),
        )
    }

    pub fn reassign(&self, id: Uuid, crew: &str) -> OfficeWrite {
        self.ok(
            Method::POST,
            &format!("/v1/office/orders/{id}/reassign"),
            Some(json!({ "crew_id": crew })),
        )
    }

    pub fn cancel(&self, id: Uuid, note: &str) -> OfficeWrite {
        self.ok(
            Method::POST,
            &format!("/v1/office/orders/{id}/cancel"),
            Some(json!({ "note": note })),
        )
    }

    pub fn patch(&self, id: Uuid, patch: Value) -> OfficeWrite {
        self.ok(
            Method::PATCH,
            &format!("/v1/office/orders/{id}"),
            Some(patch),
        )
    }

    pub fn detail(&self, id: Uuid) -> OfficeDetail {
        self.ok(Method::GET, &format!("/v1/office/orders/{id}"), None)
    }

    pub fn conflicts(&self, query: &str) -> Vec<Conflict> {
        self.ok(Method::GET, &format!("/v1/office/conflicts{query}"), None)
    }

    pub fn resolve(&self, id: Uuid, choice: ResolveChoice, note: &str) -> Conflict {
        self.ok(
            Method::POST,
            &format!("/v1/office/conflicts/{id}/resolve"),
            Some(json!({ "choice": choice, "note": note })),
        )
    }
}

/// An HTTP server on loopback with its own runtime, serving `app`. Dropping it stops it (and
/// cuts requests in flight).
pub struct Loopback {
    pub url: String,
    rt: Option<tokio::runtime::Runtime>,
}

impl Loopback {
    pub fn serve(app: axum::Router) -> Loopback {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Loopback { url, rt: Some(rt) }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A proxy to the real server that forwards everything, but answers the first `lose` pushes
/// with 502 after the server has processed them: the reply is lost on the way back.
pub struct LossyProxy {
    pub loopback: Loopback,
    pub pushes_seen: Arc<AtomicUsize>,
}

impl LossyProxy {
    pub fn start(target: &str, lose: usize) -> LossyProxy {
        let pushes_seen = Arc::new(AtomicUsize::new(0));
        let seen = pushes_seen.clone();
        let target = target.to_owned();
        let http = reqwest::Client::new();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (seen, target, http) = (seen.clone(), target.clone(), http.clone());
                async move {
                    let path = uri
                        .path_and_query()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_default();
                    let mut req = http.request(method, format!("{target}{path}")).body(body);
                    for (k, v) in headers.iter() {
                        if k != "host" && k != "content-length" {
                            req = req.header(k, v);
                        }
                    }
                    let resp = req.send().await.expect("forwarded");
                    let status = resp.status();
                    let ct = resp.headers().get("content-type").cloned();
                    let bytes = resp.bytes().await.expect("body");
                    if uri.path() == "/v1/sync/push" && seen.fetch_add(1, Ordering::SeqCst) < lose {
                        return (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::new());
                    }
                    let mut h = HeaderMap::new();
                    if let Some(ct) = ct {
                        h.insert("content-type", ct);
                    }
                    (status, h, bytes)
                }
            },
        );
        LossyProxy {
            loopback: Loopback::serve(app),
            pushes_seen,
        }
    }
}

/// A hostile server: every pull gets `body`; pushes get an empty answer list.
pub fn hostile(body: &'static str) -> Loopback {
    let app = axum::Router::new()
        .route(
            "/v1/sync/pull",
            axum::routing::get(
                move || async move { ([("content-type", "application/json")], body) },
            ),
        )
        .route(
            "/v1/sync/push",
            axum::routing::post(|| async {
                ([("content-type", "application/json")], "{\"answers\":[]}")
            }),
        );
    Loopback::serve(app)
}

/// A manual clock at `at`, shared.
pub fn clock_at(at: DateTime<Utc>) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(at))
}
