//! Transport security (docs/sync-protocol.md, "Transport security"): the server over HTTPS with
//! a certificate from a private CA made at test time, phones that trust that CA syncing for
//! real, phones that do not failing with a typed error and storing nothing, and the client's
//! refusal of plain HTTP to anything but this machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldcrew_core::clock::SystemClock;
use fieldcrew_core::sync::{RetryPolicy, SyncClient, SyncConfig, SyncError};
use fieldcrew_core::work_order::{Status, WorkKind};
use fieldcrew_e2e::pki::{Pki, pki};
use fieldcrew_e2e::{Device, new_order};
use fieldcrew_server::{
    Caller, Capacity, Crew, Member, Role, RunningServer, ServerTls, Storage, TlsSetupError,
};

/// A server over HTTPS with crew C1 (member m1), a dispatcher, and three orders for C1.
struct TlsWorld {
    dir: tempfile::TempDir,
    server: RunningServer,
    pki: Pki,
    orders: Vec<fieldcrew_core::work_order::WorkOrder>,
}

impl TlsWorld {
    /// The server's certificate names `names`.
    fn new(names: &[&str]) -> TlsWorld {
        let pki = pki(names);
        let tls = ServerTls::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes())
            .expect("certificate and key load");
        let dir = tempfile::tempdir().expect("temp dir");
        let server =
            RunningServer::start_tls(&dir.path().join("server"), tls).expect("server starts");
        assert!(
            server.url().starts_with("https://127.0.0.1:"),
            "{}",
            server.url()
        );
        let s = server.storage();
        s.add_crew(&Crew {
            id: "C1".into(),
            name: "crew C1".into(),
            capacity: Capacity {
                surveys: 4,
                installs: 8,
                checks: 6,
            },
        })
        .expect("crew");
        s.add_member(&Member {
            id: "m1".into(),
            name: "m1".into(),
            crew_id: Some("C1".into()),
            role: Role::Crew,
        })
        .expect("member");
        s.add_member(&Member {
            id: "d1".into(),
            name: "dispatcher".into(),
            crew_id: None,
            role: Role::Dispatcher,
        })
        .expect("dispatcher");
        let dispatcher = Caller {
            member_id: "d1".into(),
            crew_id: None,
            role: Role::Dispatcher,
            device: "office-pc".into(),
        };
        let orders = s
            .create_orders(
                &dispatcher,
                vec![
                    new_order("GD-TLS-1", "C1", WorkKind::MeterInstall, 1),
                    new_order("GD-TLS-2", "C1", WorkKind::MeterInstall, 2),
                    new_order("GD-TLS-3", "C1", WorkKind::MeterInstall, 3),
                ],
            )
            .expect("orders")
            .into_iter()
            .map(|w| w.order)
            .collect();
        TlsWorld {
            dir,
            server,
            pki,
            orders,
        }
    }

    /// A signed-in phone for m1 whose client trusts `root` (PEM) in addition to the web roots.
    fn phone(&self, name: &str, root: Option<&str>) -> Device {
        let token = fieldcrew_server::issue_token(self.server.storage(), "m1", name, None)
            .expect("token")
            .token;
        let mut device = Device::open(
            &self.dir.path().join(name),
            &self.server.url(),
            &token,
            "m1",
            "C1",
            Arc::new(SystemClock),
        );
        let mut config = SyncConfig::new(self.server.url(), token);
        config.retry = RetryPolicy {
            max_attempts: 4,
            initial_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        };
        config.extra_root_certs_pem = root.map(|pem| pem.as_bytes().to_vec());
        device.client = SyncClient::new(config).expect("client");
        device
    }
}

#[test]
fn a_phone_trusting_the_utility_ca_syncs_orders_over_https() {
    let w = TlsWorld::new(&["127.0.0.1", "localhost"]);
    let phone = w.phone("p1", Some(&w.pki.ca_pem));

    let first = phone.sync().expect("first sync over https");
    assert_eq!(first.orders_received, 3);
    assert_eq!(phone.numbers(), ["GD-TLS-1", "GD-TLS-2", "GD-TLS-3"]);

    // Work done on the phone goes up over the same TLS connection.
    let readings = phone.complete(&w.orders[0], "1012.5");
    let report = phone.sync().expect("second sync over https");
    assert_eq!((report.pushed, report.applied, report.rejected), (3, 3, 0));
    assert_eq!(phone.store.pending_count().expect("pending"), 0);
    let d = w
        .server
        .storage()
        .order_detail(w.orders[0].id)
        .expect("detail");
    assert_eq!(d.order.status, Status::Completed);
    assert_eq!(d.readings, readings);
}

#[test]
fn a_phone_without_the_ca_gets_a_typed_tls_error_and_stores_nothing() {
    let w = TlsWorld::new(&["127.0.0.1", "localhost"]);
    let phone = w.phone("p1", None);

    let started = Instant::now();
    let err = phone
        .sync()
        .expect_err("an untrusted certificate must fail");
    let SyncError::Network(message) = &err else {
        panic!("expected SyncError::Network, got {err:?}");
    };
    assert!(message.starts_with("TLS: "), "{message}");
    assert!(message.contains("certificate"), "{message}");
    // A certificate problem is not retried with backoff.
    assert!(started.elapsed() < Duration::from_secs(5));

    assert!(phone.numbers().is_empty());
    assert_eq!(phone.store.pending_count().expect("pending"), 0);

    // The same phone, once it trusts the CA, syncs everything: nothing was half applied.
    let trusting = w.phone("p2", Some(&w.pki.ca_pem));
    assert_eq!(trusting.sync().expect("sync").orders_received, 3);
}

#[test]
fn a_certificate_for_another_host_is_refused_even_from_a_trusted_ca() {
    let w = TlsWorld::new(&["sync.utility.example"]);
    let phone = w.phone("p1", Some(&w.pki.ca_pem));
    let err = phone
        .sync()
        .expect_err("the certificate does not name 127.0.0.1");
    assert!(
        matches!(&err, SyncError::Network(m) if m.starts_with("TLS: ")),
        "{err:?}"
    );
    assert!(phone.numbers().is_empty());
}

#[test]
fn plain_http_is_refused_except_to_loopback() {
    for url in [
        "http://sync.utility.example",
        "http://sync.utility.example:8080",
        "http://10.20.30.40:8080",
        "http://0.0.0.0:8080",
        "http://[2001:db8::1]:8080",
    ] {
        let r = SyncClient::new(SyncConfig::new(url, "fc1.x.y"));
        assert!(
            matches!(&r, Err(SyncError::Config(m)) if m.contains("https://")),
            "{url}: {r:?}"
        );
    }
    for url in [
        "http://127.0.0.1:8080",
        "http://127.8.9.10:8080",
        "http://[::1]:8080",
        "http://localhost:8080",
        "https://sync.utility.example",
    ] {
        assert!(
            SyncClient::new(SyncConfig::new(url, "fc1.x.y")).is_ok(),
            "{url}"
        );
    }
    // A trusted root that is not a certificate is a settings error, not a silent no-op.
    let mut config = SyncConfig::new("https://sync.utility.example", "fc1.x.y");
    config.extra_root_certs_pem = Some(b"-----BEGIN PRIVATE KEY-----\n".to_vec());
    assert!(matches!(SyncClient::new(config), Err(SyncError::Config(_))));
}

#[test]
fn the_server_refuses_an_unusable_certificate_or_key_at_start_up() {
    let a = pki(&["localhost"]);
    let b = pki(&["localhost"]);
    let dir = tempfile::tempdir().expect("temp dir");

    let missing = ServerTls::from_pem_files(
        &dir.path().join("missing.pem"),
        &dir.path().join("missing.key"),
    )
    .expect_err("missing files");
    assert!(matches!(missing, TlsSetupError::Read { .. }), "{missing}");
    assert!(missing.to_string().contains("missing.pem"), "{missing}");

    let no_cert = ServerTls::from_pem(b"not pem", a.key_pem.as_bytes()).expect_err("garbage");
    assert!(
        matches!(no_cert, TlsSetupError::NoCertificate { .. }),
        "{no_cert}"
    );
    let key_as_cert =
        ServerTls::from_pem(a.key_pem.as_bytes(), a.key_pem.as_bytes()).expect_err("a key");
    assert!(
        matches!(key_as_cert, TlsSetupError::NoCertificate { .. }),
        "{key_as_cert}"
    );
    let no_key =
        ServerTls::from_pem(a.cert_pem.as_bytes(), a.cert_pem.as_bytes()).expect_err("no key");
    assert!(matches!(no_key, TlsSetupError::NoKey { .. }), "{no_key}");
    let mismatched = ServerTls::from_pem(a.cert_pem.as_bytes(), b.key_pem.as_bytes())
        .expect_err("another certificate's key");
    assert!(
        matches!(mismatched, TlsSetupError::Rustls(_)),
        "{mismatched}"
    );

    let cert = dir.path().join("server.pem");
    let key = dir.path().join("server.key");
    std::fs::write(&cert, &a.cert_pem).expect("write");
    std::fs::write(&key, &a.key_pem).expect("write");
    ServerTls::from_pem_files(&cert, &key).expect("a good pair loads");
}

/// `check_root_certs` (what the bindings' `open` checks) counts a CA bundle's certificates.
#[test]
fn check_root_certs_counts_a_bundle() {
    let (a, b) = (pki(&["localhost"]), pki(&["localhost"]));
    assert_eq!(
        fieldcrew_core::sync::check_root_certs(a.ca_pem.as_bytes()).expect("one CA"),
        1
    );
    let bundle = format!("{}{}", a.ca_pem, b.ca_pem);
    assert_eq!(
        fieldcrew_core::sync::check_root_certs(bundle.as_bytes()).expect("two CAs"),
        2
    );
    assert!(fieldcrew_core::sync::check_root_certs(a.key_pem.as_bytes()).is_err());
}
