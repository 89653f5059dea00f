//! Photo transfer under faults, one fault at a time (docs/sync-protocol.md, "Photo transfer"):
//! what the server refuses (bytes that do not hash to their address, a wrong offset), what a
//! failing photo does to the others in the same run, resumable downloads, the upload policy,
//! garbage and resets mid-upload, and a server restart mid-upload.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use fieldcrew_core::clock::{Clock, SystemClock};
use fieldcrew_core::store::{Photo, PhotoTransferState, RemotePhotoState};
use fieldcrew_core::sync::{
    NetworkKind, PhotoPolicy, RetryPolicy, SyncClient, SyncConfig, TransferReport, UploadStatus,
};
use fieldcrew_core::work_order::{DocumentKind, WorkKind, WorkOrder};
use fieldcrew_e2e::fault::{Fault, FaultProxy};
use fieldcrew_e2e::*;

fn one_order(world: &World) -> WorkOrder {
    world
        .create(vec![new_order("F1", "C1", WorkKind::MeterReplacement, 2)])
        .remove(0)
}

/// A phone of m1 talking to `url` (the server, or a proxy in front of it); its token too.
fn phone(world: &World, name: &str, url: &str, clock: Arc<dyn Clock>) -> (Device, String) {
    let token = world.token("m1", name);
    let d = Device::open(&world.dir.path().join(name), url, &token, "m1", "C1", clock);
    d.sync().expect("pull");
    (d, token)
}

fn transfer(d: &Device) -> TransferReport {
    d.store.retry_transfers_now().expect("due now");
    d.client
        .transfer_photos(&d.store, NetworkKind::Unmetered, &mut |_| {})
        .expect("transfer")
}

/// One request with a token, from a fresh runtime: the status and the body.
fn http(method: Method, url: &str, token: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .request(method, url)
            .bearer_auth(token)
            .header("content-type", "image/jpeg")
            .body(body)
            .send()
            .await
            .expect("sent");
        let status = resp.status();
        (status, resp.bytes().await.expect("body").to_vec())
    })
}

/// What the server says it holds of `sha`, asked directly (not through any proxy).
fn held(world: &World, token: &str, sha: &str) -> UploadStatus {
    let (status, body) = http(
        Method::GET,
        &format!("{}/v1/photos/{sha}/upload", world.server.url()),
        token,
        Vec::new(),
    );
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("upload status")
}

/// The photo's bytes as the office downloads them: verified against the content address.
fn assert_on_server(world: &World, photo: &Photo) {
    let (status, bytes) = world.office.photo(&photo.sha256);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sha256_hex(&bytes), photo.sha256, "the hash verifies");
    let detail = world.office.detail(photo.order_id);
    let on: Vec<_> = detail
        .photos
        .iter()
        .filter(|p| p.photo.id == photo.id)
        .collect();
    assert_eq!(on.len(), 1, "the record once");
    assert!(on[0].on_server, "visible to the office");
}

fn assert_not_visible(world: &World, photo: &Photo) {
    let (status, _) = world.office.photo(&photo.sha256);
    assert_eq!(status, StatusCode::NOT_FOUND, "no bytes served");
    let detail = world.office.detail(photo.order_id);
    assert!(
        detail
            .photos
            .iter()
            .all(|p| p.photo.id != photo.id || !p.on_server),
        "not on the server"
    );
}

#[test]
fn bytes_that_do_not_hash_to_the_address_are_refused_and_never_visible() {
    let world = World::new();
    let order = one_order(&world);
    let (d, token) = phone(&world, "a", &world.server.url(), Arc::new(SystemClock));
    let photo = d
        .store
        .add_photo(
            order.id,
            DocumentKind::MeterBefore,
            &camera_jpeg(320, 240, 1),
        )
        .expect("photo");
    d.sync().expect("metadata");
    let mut wrong = d.store.photo_bytes(&photo).expect("bytes");
    let middle = wrong.len() / 2;
    wrong[middle] ^= 0x55; // same size, one byte off
    let url = format!("{}/v1/photos/{}", world.server.url(), photo.sha256);
    let (status, body) = http(Method::PUT, &format!("{url}?offset=0"), &token, wrong);
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_not_visible(&world, &photo);
    let (status, _) = http(Method::GET, &url, &token, Vec::new());
    assert_eq!(status, StatusCode::NOT_FOUND, "the crew cannot download it");
    // The wrong bytes are gone: the phone starts again from 0.
    let s = held(&world, &token, &photo.sha256);
    assert_eq!((s.received, s.complete), (0, false));

    let r = transfer(&d);
    assert_eq!((r.uploaded, r.upload_failures), (1, 0));
    assert_on_server(&world, &photo);
}

#[test]
fn an_upload_at_another_offset_than_the_server_holds_gets_409() {
    let world = World::new();
    let order = one_order(&world);
    let (d, token) = phone(&world, "a", &world.server.url(), Arc::new(SystemClock));
    let photo = d
        .store
        .add_photo(
            order.id,
            DocumentKind::MeterAfter,
            &camera_jpeg(400, 300, 2),
        )
        .expect("photo");
    d.sync().expect("metadata");
    let bytes = d.store.photo_bytes(&photo).expect("bytes");
    let url = format!("{}/v1/photos/{}", world.server.url(), photo.sha256);
    let put = |offset: usize, part: &[u8]| {
        http(
            Method::PUT,
            &format!("{url}?offset={offset}"),
            &token,
            part.to_vec(),
        )
        .0
    };
    assert_eq!(put(100, &bytes[100..]), StatusCode::CONFLICT, "holds 0");
    let half = bytes.len() / 2;
    assert_eq!(put(0, &bytes[..half]), StatusCode::OK, "the first half");
    let s = held(&world, &token, &photo.sha256);
    assert_eq!((s.received, s.complete), (half as u64, false));
    assert_eq!(put(0, &bytes), StatusCode::CONFLICT, "from 0 again");
    assert_eq!(
        put(half + 1, &bytes[half + 1..]),
        StatusCode::CONFLICT,
        "past the end"
    );
    assert_eq!(put(half - 1, &bytes[half - 1..]), StatusCode::CONFLICT);
    assert_eq!(held(&world, &token, &photo.sha256).received, half as u64);
    assert_not_visible(&world, &photo);

    // The phone asks first, and sends the second half only.
    let r = transfer(&d);
    assert_eq!((r.uploaded, r.upload_failures), (1, 0));
    assert_eq!(
        r.bytes_sent,
        (bytes.len() - half) as u64 + photo.thumbnail_bytes
    );
    assert_on_server(&world, &photo);
}

/// A proxy to the server that answers `503` to every request about one content address (the
/// rest goes through), and counts those requests.
struct Blocker {
    loopback: Loopback,
    blocked: Arc<Mutex<Option<String>>>,
    refused: Arc<AtomicUsize>,
}

impl Blocker {
    fn start(target: &str) -> Blocker {
        let blocked: Arc<Mutex<Option<String>>> = Arc::default();
        let refused = Arc::new(AtomicUsize::new(0));
        let (b, n) = (blocked.clone(), refused.clone());
        let target = target.to_owned();
        let http = reqwest::Client::new();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (b, n, target, http) = (b.clone(), n.clone(), target.clone(), http.clone());
                async move {
                    let blocked = b.lock().expect("lock").clone();
                    if blocked.is_some_and(|sha| uri.path().contains(&sha)) {
                        n.fetch_add(1, Ordering::SeqCst);
                        return (
                            StatusCode::SERVICE_UNAVAILABLE,
                            HeaderMap::new(),
                            Bytes::new(),
                        );
                    }
                    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                    let mut req = http.request(method, format!("{target}{path}")).body(body);
                    for (k, v) in headers.iter() {
                        if k != "host" && k != "content-length" {
                            req = req.header(k, v);
                        }
                    }
                    let resp = req.send().await.expect("forwarded");
                    let status = resp.status();
                    let mut h = HeaderMap::new();
                    if let Some(ct) = resp.headers().get("content-type") {
                        h.insert("content-type", ct.clone());
                    }
                    (status, h, resp.bytes().await.expect("body"))
                }
            },
        );
        Blocker {
            loopback: Loopback::serve(app),
            blocked,
            refused,
        }
    }

    fn block(&self, sha: Option<&str>) {
        *self.blocked.lock().expect("lock") = sha.map(str::to_owned);
    }
}

#[test]
fn a_photo_that_keeps_failing_gives_way_to_the_others() {
    let world = World::new();
    let order = one_order(&world);
    let blocker = Blocker::start(&world.server.url());
    let clock = clock_at(day_start());
    let (mut d, token) = phone(&world, "a", &blocker.loopback.url, clock.clone());
    // Retries as a phone does them (pauses doubling up to 30 s), a little quicker. Before a
    // failing photo gave way, it was tried 12 times here, with up to 111 s of pauses.
    let mut cfg = SyncConfig::new(blocker.loopback.url.as_str(), token.as_str());
    cfg.retry = RetryPolicy {
        max_attempts: 3,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(30),
    };
    d.client = SyncClient::new(cfg).expect("client");
    // The failing photo is the oldest: the first in the queue.
    let photos: Vec<Photo> = (0..3)
        .map(|i| {
            clock.advance(chrono::Duration::seconds(1));
            d.store
                .add_photo(order.id, DocumentKind::Site, &camera_jpeg(240, 180, 10 + i))
                .expect("photo")
        })
        .collect();
    d.sync().expect("metadata");
    let stuck = &photos[0];
    blocker.block(Some(&stuck.sha256));

    let started = Instant::now();
    let r = d
        .client
        .transfer_photos(&d.store, NetworkKind::Unmetered, &mut |_| {})
        .expect("transfer");
    let took = started.elapsed();
    assert_eq!((r.uploaded, r.upload_failures), (2, 1), "{r:?}");
    assert_eq!(
        blocker.refused.load(Ordering::SeqCst),
        3,
        "max_attempts attempts, then the others go"
    );
    // Two pauses of at most 0.1 s and 0.2 s: far from the old minutes (a loose bound).
    assert!(took < Duration::from_secs(20), "{took:?}");
    for p in &photos[1..] {
        assert_on_server(&world, p);
    }
    // The failure is kept on the photo, with a delay the next runs respect.
    let t = d.store.photo_transfer(stuck.id).expect("state");
    assert_eq!(t.state, PhotoTransferState::LocalOnly);
    assert_eq!(t.attempts, 1);
    assert!(
        t.last_error.as_deref().is_some_and(|e| e.contains("503")),
        "{t:?}"
    );
    assert_eq!(d.store.transfer_backlog().expect("backlog").uploads, 1);
    let again = d
        .client
        .transfer_photos(&d.store, NetworkKind::Unmetered, &mut |_| {})
        .expect("transfer");
    assert_eq!((again.uploaded, again.upload_failures), (0, 0));
    assert_eq!(
        blocker.refused.load(Ordering::SeqCst),
        3,
        "it waits its delay"
    );
    // A second failure doubles the delay (1 s, then 2 s).
    clock.advance(chrono::Duration::milliseconds(1001));
    let r = d
        .client
        .transfer_photos(&d.store, NetworkKind::Unmetered, &mut |_| {})
        .expect("transfer");
    assert_eq!((r.uploaded, r.upload_failures), (0, 1));
    assert_eq!(d.store.photo_transfer(stuck.id).expect("state").attempts, 2);
    clock.advance(chrono::Duration::milliseconds(1500));
    let r = d
        .client
        .transfer_photos(&d.store, NetworkKind::Unmetered, &mut |_| {})
        .expect("transfer");
    assert_eq!((r.uploaded, r.upload_failures), (0, 0), "still waiting");
    assert_eq!(blocker.refused.load(Ordering::SeqCst), 6);

    // The server answers again: once the delay is over, it goes up.
    blocker.block(None);
    clock.advance(chrono::Duration::milliseconds(600));
    let r = d
        .client
        .transfer_photos(&d.store, NetworkKind::Unmetered, &mut |_| {})
        .expect("transfer");
    assert_eq!((r.uploaded, r.upload_failures), (1, 0));
    assert_on_server(&world, stuck);
    assert_eq!(d.store.transfer_backlog().expect("backlog").uploads, 0);
}

/// Giving way counts attempts that move no bytes: a link that cuts every 48 KB costs a photo
/// of 400 KB about nine attempts, each of which gets the server further, and the photo goes up
/// in one run though only three attempts are allowed per request.
#[test]
fn a_photo_that_gets_further_on_every_attempt_does_not_give_way() {
    let world = World::new();
    let order = one_order(&world);
    let proxy = FaultProxy::start(&world.server.url(), Fault::None);
    let (mut d, token) = phone(&world, "a", &proxy.url, Arc::new(SystemClock));
    let photo = d
        .store
        .add_photo(order.id, DocumentKind::Site, &camera_jpeg(1000, 750, 30))
        .expect("photo");
    d.sync().expect("metadata");
    proxy.set_fault(Fault::CutEvery(48 * 1024));
    // A new client after the fault changed: the proxy closes connections from before the
    // change, and a kept-alive one failing would spend an attempt that has nothing to do with
    // the cuts.
    let mut cfg = SyncConfig::new(proxy.url.as_str(), token.as_str());
    cfg.retry = RetryPolicy {
        max_attempts: 3,
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    d.client = SyncClient::new(cfg).expect("client");
    let r = d
        .client
        .transfer_photos(&d.store, NetworkKind::Unmetered, &mut |_| {})
        .expect("transfer");
    assert_eq!((r.uploaded, r.upload_failures), (1, 0), "{r:?}");
    assert!(
        proxy.cuts() >= 6,
        "more cuts than attempts allowed: {}",
        proxy.cuts()
    );
    assert_on_server(&world, &photo);
}

#[test]
fn a_damaged_local_file_fails_alone_and_never_leaves_the_phone() {
    let world = World::new();
    let order = one_order(&world);
    let (d, token) = phone(&world, "a", &world.server.url(), Arc::new(SystemClock));
    let photos: Vec<Photo> = (0..3)
        .map(|i| {
            d.store
                .add_photo(order.id, DocumentKind::Site, &camera_jpeg(240, 180, 20 + i))
                .expect("photo")
        })
        .collect();
    d.sync().expect("metadata");
    let damaged = &photos[1];
    let path = d.store.photo_path(damaged);
    let mut file = std::fs::read(&path).expect("photo file");
    let at = file.len() / 2;
    file[at] ^= 0xff;
    std::fs::write(&path, file).expect("damage it");

    let r = transfer(&d);
    assert_eq!((r.uploaded, r.upload_failures), (2, 1), "{r:?}");
    for p in [&photos[0], &photos[2]] {
        assert_on_server(&world, p);
    }
    assert_eq!(
        held(&world, &token, &damaged.sha256).received,
        0,
        "not a byte of it was sent"
    );
    assert_not_visible(&world, damaged);
    let t = d.store.photo_transfer(damaged.id).expect("state");
    assert_eq!((t.state, t.attempts), (PhotoTransferState::LocalOnly, 1));
    assert!(t.last_error.is_some());
}

/// A loopback HTTP proxy for downloads (GET only, one request per connection): it cuts the
/// first download of the photo's bytes after `cut_at` bytes of the body and then closes every
/// connection at once while `down` holds, and records the `Range` of each download of the
/// photo.
struct Cutter {
    url: String,
    down: Arc<AtomicBool>,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

impl Cutter {
    fn start(target: String, sha: String, cut_at: usize) -> Cutter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let down = Arc::new(AtomicBool::new(false));
        let ranges: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let cuts_left = Arc::new(AtomicU32::new(1));
        let (d, r) = (down.clone(), ranges.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                let (d, r, c) = (d.clone(), r.clone(), cuts_left.clone());
                let (target, sha) = (target.clone(), sha.clone());
                std::thread::spawn(move || {
                    let _ = cut_one(client, &target, &sha, cut_at, &d, &r, &c);
                });
            }
        });
        Cutter { url, down, ranges }
    }
}

fn read_head(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

fn cut_one(
    mut client: TcpStream,
    target: &str,
    sha: &str,
    cut_at: usize,
    down: &AtomicBool,
    ranges: &Mutex<Vec<Option<String>>>,
    cuts_left: &AtomicU32,
) -> std::io::Result<()> {
    let head = String::from_utf8_lossy(&read_head(&mut client)?).into_owned();
    if down.load(Ordering::SeqCst) {
        return client.shutdown(Shutdown::Both);
    }
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let request_line = lines.next().unwrap_or_default().to_owned();
    let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
    let headers: Vec<&str> = lines
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("host:") && !l.starts_with("connection:")
        })
        .collect();
    let is_photo = path == format!("/v1/photos/{sha}");
    if is_photo {
        let range = headers
            .iter()
            .find(|l| l.to_ascii_lowercase().starts_with("range:"))
            .map(|l| l[6..].trim().to_owned());
        ranges.lock().expect("lock").push(range);
    }
    // Forward the request, ask the server to close, read the whole reply.
    let host = target.trim_start_matches("http://");
    let mut server = TcpStream::connect(host)?;
    write!(
        server,
        "{request_line}\r\nhost: {host}\r\nconnection: close\r\n"
    )?;
    for h in &headers {
        write!(server, "{h}\r\n")?;
    }
    server.write_all(b"\r\n")?;
    let mut reply = Vec::new();
    server.read_to_end(&mut reply)?;
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(reply.len(), |i| i + 4);
    let (reply_head, body) = reply.split_at(split);
    // The same reply, saying it closes the connection (one request per connection).
    let reply_head = String::from_utf8_lossy(reply_head);
    let mut out = String::new();
    for l in reply_head.split("\r\n").filter(|l| !l.is_empty()) {
        if !l.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out.push_str("connection: close\r\n\r\n");
    client.write_all(out.as_bytes())?;
    let cut = is_photo
        && body.len() > cut_at
        && cuts_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if cut {
        // The reply promised the whole photo; the connection ends a part of the way in.
        client.write_all(&body[..cut_at])?;
        client.flush()?;
        down.store(true, Ordering::SeqCst);
    } else {
        client.write_all(body)?;
    }
    client.shutdown(Shutdown::Both)
}

#[test]
fn a_download_cut_midway_resumes_with_a_range_and_verifies() {
    let world = World::new();
    let order = one_order(&world);
    let (a, _) = phone(&world, "a", &world.server.url(), Arc::new(SystemClock));
    let photo = a
        .store
        .add_photo(
            order.id,
            DocumentKind::MeterAfter,
            &camera_jpeg(900, 700, 3),
        )
        .expect("photo");
    a.sync().expect("metadata");
    assert_eq!(transfer(&a).uploaded, 1);
    assert!(photo.bytes > 200_000, "big enough to cut: {}", photo.bytes);

    // A crew-mate's phone pulls the record directly, and downloads through the cutter.
    let token = world.token("m2", "b");
    let b = Device::open(
        &world.dir.path().join("b"),
        &world.server.url(),
        &token,
        "m2",
        "C1",
        Arc::new(SystemClock),
    );
    b.sync().expect("pull");
    // Not a multiple of the 64 KiB slices the phone keeps: the tail before the cut counts.
    let cut_at = 150_001;
    let cutter = Cutter::start(world.server.url(), photo.sha256.clone(), cut_at);
    let via_cutter = client(&cutter.url, &token);
    let r = via_cutter
        .transfer_photos(&b.store, NetworkKind::Unmetered, &mut |_| {})
        .expect("transfer");
    // Cut, then nothing answers: the photo gives way with what it has kept.
    assert_eq!((r.downloaded, r.download_failures), (0, 1), "{r:?}");
    assert_eq!(r.bytes_received, cut_at as u64);
    let remote = b.store.remote_photos(order.id).expect("remote");
    assert_eq!(
        remote[0].state,
        RemotePhotoState::Downloading {
            received: cut_at as u64,
            total: photo.bytes
        }
    );

    cutter.down.store(false, Ordering::SeqCst);
    b.store.retry_transfers_now().expect("due");
    let r = via_cutter
        .transfer_photos(&b.store, NetworkKind::Unmetered, &mut |_| {})
        .expect("transfer");
    assert_eq!((r.downloaded, r.download_failures), (1, 0), "{r:?}");
    assert_eq!(
        r.bytes_received,
        photo.bytes - cut_at as u64,
        "only the rest"
    );
    assert_eq!(
        *cutter.ranges.lock().expect("lock"),
        vec![None, Some(format!("bytes={cut_at}-"))]
    );
    let remote = b.store.remote_photos(order.id).expect("remote");
    assert_eq!(remote[0].state, RemotePhotoState::Cached);
    let bytes = b.store.remote_photo_bytes(&remote[0]).expect("cached");
    assert_eq!(sha256_hex(&bytes), photo.sha256, "the cached bytes verify");
    assert_eq!(
        b.store
            .remote_thumbnail_bytes(&remote[0])
            .expect("thumb")
            .len() as u64,
        photo.thumbnail_bytes
    );
    assert_eq!(b.store.transfer_backlog().expect("backlog").downloads, 0);
}

#[test]
fn the_always_policy_uploads_on_mobile_data() {
    let world = World::new();
    let order = one_order(&world);
    let (mut d, token) = phone(&world, "a", &world.server.url(), Arc::new(SystemClock));
    let photo = d
        .store
        .add_photo(order.id, DocumentKind::Seal, &camera_jpeg(320, 240, 4))
        .expect("photo");
    // The default waits for Wi-Fi.
    let (_, r) = d
        .client
        .sync_with_photos(&d.store, NetworkKind::Metered, &mut |_| {}, &mut |_| {})
        .expect("sync");
    assert!(r.uploads_deferred);
    assert_eq!((r.uploaded, r.bytes_sent), (0, 0));
    assert_not_visible(&world, &photo);

    let mut cfg = SyncConfig::new(world.server.url(), token.as_str());
    cfg.photo_policy = PhotoPolicy::Always;
    d.client = SyncClient::new(cfg).expect("client");
    let (_, r) = d
        .client
        .sync_with_photos(&d.store, NetworkKind::Metered, &mut |_| {}, &mut |_| {})
        .expect("sync");
    assert!(!r.uploads_deferred);
    assert_eq!((r.uploaded, r.upload_failures), (1, 0));
    assert_on_server(&world, &photo);
    assert_eq!(
        d.store.photo_transfer(photo.id).expect("state").state,
        PhotoTransferState::OnServer
    );
}

/// Starts a transfer through `proxy` (slowed down) and, once `after` bytes of it went up,
/// calls `then` while the upload is in flight. The transfer's report.
fn mid_upload(d: &Device, proxy: &FaultProxy, after: u64, then: impl FnOnce()) -> TransferReport {
    proxy.set_fault(Fault::Delay(Duration::from_millis(20)));
    std::thread::scope(|s| {
        let up = s.spawn(|| {
            d.client
                .transfer_photos(&d.store, NetworkKind::Unmetered, &mut |_| {})
                .expect("transfer")
        });
        let start = proxy.upstream_bytes();
        while proxy.upstream_bytes() < start + after && !up.is_finished() {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(!up.is_finished(), "the upload was still under way");
        then();
        up.join().expect("transfer thread")
    })
}

#[test]
fn garbage_and_resets_mid_upload_leave_the_photo_queued_and_it_goes_later() {
    let world = World::new();
    let order = one_order(&world);
    let proxy = FaultProxy::start(&world.server.url(), Fault::None);
    let (d, token) = phone(&world, "a", &proxy.url, Arc::new(SystemClock));
    let photo = d
        .store
        .add_photo(order.id, DocumentKind::Site, &camera_jpeg(1000, 750, 5))
        .expect("photo");
    d.sync().expect("metadata");

    // Garbage from a "gateway" once the upload is under way.
    let r = mid_upload(&d, &proxy, photo.bytes / 3, || {
        proxy.set_fault(Fault::Garbage)
    });
    assert_eq!((r.uploaded, r.upload_failures), (0, 1), "{r:?}");
    let t = d.store.photo_transfer(photo.id).expect("state");
    assert_ne!(t.state, PhotoTransferState::OnServer);
    assert_eq!(t.attempts, 1);
    assert_eq!(d.store.transfer_backlog().expect("backlog").uploads, 1);
    let kept = held(&world, &token, &photo.sha256);
    assert!(
        kept.received > 0 && !kept.complete,
        "the server kept what arrived: {kept:?}"
    );
    assert_not_visible(&world, &photo);

    // Resets: still queued, nothing lost on the server.
    proxy.set_fault(Fault::Reset);
    let r = transfer(&d);
    assert_eq!((r.uploaded, r.upload_failures), (0, 1), "{r:?}");
    assert_eq!(d.store.photo_transfer(photo.id).expect("state").attempts, 2);
    assert_eq!(held(&world, &token, &photo.sha256), kept);

    proxy.set_fault(Fault::None);
    let r = transfer(&d);
    assert_eq!((r.uploaded, r.upload_failures), (1, 0), "{r:?}");
    assert_eq!(
        r.bytes_sent,
        photo.bytes - kept.received + photo.thumbnail_bytes,
        "from where the server stopped"
    );
    assert_on_server(&world, &photo);
    let t = d.store.photo_transfer(photo.id).expect("state");
    assert_eq!(
        (t.state, t.last_error),
        (PhotoTransferState::OnServer, None)
    );
}

#[test]
fn a_server_restart_mid_upload_keeps_the_partial_bytes() {
    let mut world = World::new();
    let order = one_order(&world);
    let proxy = FaultProxy::start(&world.server.url(), Fault::None);
    let (d, token) = phone(&world, "a", &proxy.url, Arc::new(SystemClock));
    // A big one that is under way when the server restarts, and a small one queued behind it.
    let photos: Vec<Photo> = [(1000, 750), (320, 240)]
        .into_iter()
        .enumerate()
        .map(|(i, (w, h))| {
            d.store
                .add_photo(
                    order.id,
                    DocumentKind::Site,
                    &camera_jpeg(w, h, 6 + i as u64),
                )
                .expect("photo")
        })
        .collect();
    let photo = &photos[0];
    d.sync().expect("metadata");
    // Nothing listens here: while the server restarts, the phone's retries find no one, so
    // this run ends and the next one shows what the restarted server kept.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let url = world.server.url();
    let r = mid_upload(&d, &proxy, photo.bytes / 3, || {
        proxy.retarget(&dead);
        world.restart_server();
    });
    assert_eq!((r.uploaded, r.upload_failures), (0, 2), "{r:?}");
    assert_eq!(world.server.url(), url, "same address after the restart");
    let kept = held(&world, &token, &photo.sha256);
    assert!(
        kept.received > 0 && kept.received < photo.bytes && !kept.complete,
        "the restarted server kept the partial bytes: {kept:?}"
    );
    assert_eq!(held(&world, &token, &photos[1].sha256).received, 0);

    proxy.retarget(&url);
    proxy.set_fault(Fault::None);
    let before = proxy.upstream_bytes();
    let r = transfer(&d);
    assert_eq!((r.uploaded, r.upload_failures), (2, 0), "{r:?}");
    let second = photos[1].bytes + photos[1].thumbnail_bytes;
    assert_eq!(
        r.bytes_sent - second,
        photo.bytes - kept.received + photo.thumbnail_bytes,
        "the first photo resumed where the server stopped"
    );
    assert!(
        proxy.upstream_bytes() - before - second < photo.bytes,
        "fewer bytes than the photo's size went up for it"
    );
    let shas: BTreeSet<&str> = photos.iter().map(|p| p.sha256.as_str()).collect();
    assert_eq!(shas.len(), 2);
    for p in &photos {
        assert_on_server(&world, p);
    }
}

/// One request the [`Recorder`] forwarded: method, path and query, body length, the status the
/// phone got.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    len: usize,
    status: StatusCode,
}

/// A proxy in front of `target` that records every request and forwards it whole; a request
/// the next hop cuts is answered `502` (or with the server's own reply, should it get back).
struct Recorder {
    loopback: Loopback,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn start(target: &str) -> Recorder {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        let target = target.to_owned();
        let http = reqwest::Client::new();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (log, target, http) = (log.clone(), target.clone(), http.clone());
                async move {
                    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                    let len = body.len();
                    let mut req = http
                        .request(method.clone(), format!("{target}{path}"))
                        .body(body);
                    for (k, v) in headers.iter() {
                        if k != "host" && k != "content-length" {
                            req = req.header(k, v);
                        }
                    }
                    let (status, h, bytes) = match req.send().await {
                        Ok(resp) => {
                            let status = resp.status();
                            let mut h = HeaderMap::new();
                            if let Some(ct) = resp.headers().get("content-type") {
                                h.insert("content-type", ct.clone());
                            }
                            match resp.bytes().await {
                                Ok(b) => (status, h, b),
                                Err(_) => (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::new()),
                            }
                        }
                        Err(_) => (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::new()),
                    };
                    log.lock().expect("lock").push(Seen {
                        method,
                        path: path.to_owned(),
                        len,
                        status,
                    });
                    (status, h, bytes)
                }
            },
        );
        Recorder {
            loopback: Loopback::serve(app),
            seen,
        }
    }
}

/// The photo goes up in pieces of `UPLOAD_PIECE` bytes, each at the offset the server holds;
/// a cut in the middle of one makes the phone ask what the server kept and go on from there in
/// the same attempt: the pieces the server acknowledged are never sent again, and the cut costs
/// less than a piece.
#[test]
fn an_upload_goes_in_pieces_and_resumes_after_a_cut_without_resending_acknowledged_pieces() {
    use fieldcrew_core::sync::photos::UPLOAD_PIECE;
    let world = World::new();
    let order = one_order(&world);
    let (mut d, token) = phone(&world, "a", &world.server.url(), Arc::new(SystemClock));
    let photo = d
        .store
        .add_photo(order.id, DocumentKind::Site, &camera_jpeg(1000, 750, 40))
        .expect("photo");
    d.sync().expect("metadata");
    let piece = UPLOAD_PIECE as u64;
    assert!(
        photo.bytes > 3 * piece,
        "four pieces at least: {}",
        photo.bytes
    );
    // Phone → recorder → fault proxy → server; the proxy cuts once, inside the third piece
    // (its count starts with this run: the status query's and the pieces' headers, then bytes).
    let proxy = FaultProxy::start(&world.server.url(), Fault::None);
    let recorder = Recorder::start(&proxy.url);
    proxy.set_fault(Fault::CutEvery(2 * piece + piece / 3));
    d.client = client(&recorder.loopback.url, &token);
    let r = d
        .client
        .transfer_photos(&d.store, NetworkKind::Unmetered, &mut |_| {})
        .expect("transfer");
    assert_eq!((r.uploaded, r.upload_failures), (1, 0), "{r:?}");
    assert_eq!(proxy.cuts(), 1);
    assert_on_server(&world, &photo);

    let seen = recorder.seen.lock().expect("lock").clone();
    let photo_path = format!("/v1/photos/{}", photo.sha256);
    let puts: Vec<(u64, &Seen)> = seen
        .iter()
        .filter(|s| s.method == Method::PUT && s.path.starts_with(&format!("{photo_path}?")))
        .map(|s| {
            let offset = s.path.rsplit("offset=").next().expect("offset");
            (offset.parse().expect("a number"), s)
        })
        .collect();
    assert!(
        puts.iter().all(|(_, s)| s.len as u64 <= piece),
        "no piece is larger than UPLOAD_PIECE: {puts:?}"
    );
    let offsets: Vec<u64> = puts.iter().map(|(o, _)| *o).collect();
    assert_eq!(offsets[..3], [0, piece, 2 * piece], "{puts:?}");
    let failed: Vec<usize> = (0..puts.len())
        .filter(|&i| puts[i].1.status != StatusCode::OK)
        .collect();
    assert_eq!(failed, vec![2], "the third piece was cut: {puts:?}");
    assert!(
        [StatusCode::BAD_GATEWAY, StatusCode::REQUEST_TIMEOUT].contains(&puts[2].1.status),
        "a cut is a retryable status: {:?}",
        puts[2].1.status
    );
    // After the cut: a status query, then on from what the server kept of the cut piece.
    let cut_at = seen
        .iter()
        .position(|s| s.status != StatusCode::OK)
        .expect("the cut");
    assert_eq!(
        (
            seen[cut_at + 1].method.clone(),
            seen[cut_at + 1].path.clone()
        ),
        (Method::GET, format!("{photo_path}/upload"))
    );
    let resumed = offsets[3];
    assert!(
        2 * piece < resumed && resumed < 3 * piece,
        "resumed inside the cut piece, from what the server kept: {resumed}"
    );
    // From there on, piece after piece, each from where the previous one ended, to the end.
    let mut next = resumed;
    for (o, s) in &puts[3..] {
        assert_eq!(*o, next, "{puts:?}");
        next += s.len as u64;
    }
    assert_eq!(next, photo.bytes);
    // Only the part of the cut piece past the cut was sent twice.
    let lost = 3 * piece - resumed;
    assert_eq!(r.bytes_sent, photo.bytes + lost + photo.thumbnail_bytes);
    assert!(lost < piece);
}
