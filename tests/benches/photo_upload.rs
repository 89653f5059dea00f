//! Uploads 20 photos of about 400 KB through the fault proxy cutting the connection every
//! 1 MB, and prints two figures against the photos' size: the bytes the client handed to the
//! network (`TransferReport::bytes_sent`: every PUT's body, whole, including what a cut
//! connection lost; the target ≤ 1.1× is computed on this one) and the bytes that reached the
//! server (what the proxy forwarded, request headers and status queries included), and the
//! time. `cargo bench -p fieldcrew-e2e --bench photo_upload`

use std::sync::Arc;
use std::time::Instant;

use fieldcrew_core::clock::SystemClock;
use fieldcrew_core::sync::NetworkKind;
use fieldcrew_core::work_order::{DocumentKind, WorkKind};
use fieldcrew_e2e::fault::{Fault, FaultProxy};
use fieldcrew_e2e::*;

fn main() {
    let world = World::new();
    let order = world.create(vec![new_order("B1", "C1", WorkKind::NewConnection, 1)]);
    let proxy = FaultProxy::start(&world.server.url(), Fault::None);
    let token = world.token("m1", "bench");
    let d = Device::open(
        &world.dir.path().join("phone"),
        &proxy.url,
        &token,
        "m1",
        "C1",
        Arc::new(SystemClock),
    );
    d.sync().expect("pull");
    let mut total = 0u64;
    let mut thumbs = 0u64;
    for i in 0..20 {
        let p = d
            .store
            .add_photo(order[0].id, DocumentKind::Site, &camera_jpeg(1000, 750, i))
            .expect("photo");
        total += p.bytes;
        thumbs += p.thumbnail_bytes;
    }
    d.sync().expect("metadata");
    proxy.set_fault(Fault::CutEvery(1024 * 1024));
    let before = proxy.upstream_bytes();
    let started = Instant::now();
    let mut runs = 0;
    let mut client_sent = 0u64;
    let mut failures = 0u64;
    while d.store.transfer_backlog().expect("backlog").uploads > 0 {
        runs += 1;
        assert!(runs < 20, "no progress");
        d.store.retry_transfers_now().expect("due");
        let r = d
            .client
            .transfer_photos(&d.store, NetworkKind::Unmetered, &mut |_| {})
            .expect("transfer");
        client_sent += r.bytes_sent;
        failures += r.upload_failures;
    }
    let elapsed = started.elapsed();
    let arrived = proxy.upstream_bytes() - before;
    let ratio = client_sent as f64 / total as f64;
    println!(
        "photo upload: 20 photos, {:.0} KB average, {} bytes (+ {} bytes of thumbnails)",
        total as f64 / 20.0 / 1024.0,
        total,
        thumbs
    );
    println!(
        "  through cuts every 1 MB ({} cuts, {} runs, {} photo failures), {:.2} s:",
        proxy.cuts(),
        runs,
        failures,
        elapsed.as_secs_f64()
    );
    println!(
        "  client sent (bytes_sent, cut bytes included): {} bytes = {:.3}x the photos ({:.3}x with thumbnails); target <= 1.1x: {}",
        client_sent,
        ratio,
        client_sent as f64 / (total + thumbs) as f64,
        if ratio <= 1.1 { "met" } else { "NOT met" }
    );
    println!(
        "  reached the server (proxy, headers included): {} bytes = {:.3}x the photos ({:.3}x with thumbnails)",
        arrived,
        arrived as f64 / total as f64,
        arrived as f64 / (total + thumbs) as f64
    );
}
