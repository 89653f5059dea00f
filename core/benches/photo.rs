//! Photos: normalisation in process; a crew's capture into the phone's store and reading the
//! photo back, on a plain and on an encrypted store in turn; then wall time and peak RSS as a
//! whole process next to the Pillow peer (scripts/photo/pillow_normalize.py) on the same machine.
//!
//! usage: cargo bench -p fieldcrew-core --bench photo [-- [IMAGE] [--captures N] [--no-peer]]
//! Default IMAGE: a 12 MP phone-like JPEG made by scripts/photo/make_fixture.py (needs Pillow)
//! under `<target>/photo-fixtures/`. The whole-process part needs GNU /usr/bin/time;
//! `--no-peer` skips it.
//!
//! Capture is `Store::add_photo` of an ID card: normalise, content-address, write the photo and
//! thumbnail files durably, then the row and its outbox entry in one transaction. A plain store
//! (no key) keeps plain JPEG files in a plain database; an encrypted store (keyed) seals both
//! files with XChaCha20-Poly1305 and commits to the encrypted store (AEGIS-256 pages). The two stores take the captures in
//! turn, sample by sample (which goes first alternates), so a busy machine slows both alike.
//! Every sample is a different photo (the input with one quantisation-table entry changed: the
//! same size, EXIF and work, another content address), because the store keeps the same photo
//! once and would skip the files.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use fieldcrew_core::fixtures::CityDay;
use fieldcrew_core::photo::cipher::{PhotoCipher, Role};
use fieldcrew_core::photo::{NormalizeOptions, PhotoFiles, normalize};
use fieldcrew_core::store::{Photo, Session, Store, StoreKey, StoreOptions};
use fieldcrew_core::work_order::{DocumentKind, Status};
use uuid::Uuid;

const RUNS: usize = 7;
/// Captures per store (each about a tenth of a second).
const CAPTURES: usize = 50;
/// Reads back per store.
const READS: usize = 200;

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/photo")
}

fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

/// The example's whole job, run in a child process of this binary.
fn child(input: &str, outdir: &str) {
    let bytes = std::fs::read(input).expect("read input");
    let photo = normalize(&bytes, &NormalizeOptions::default()).expect("normalize");
    drop(bytes);
    let files = PhotoFiles::open(outdir).expect("open outdir");
    files
        .put(&photo.sha256, &photo.jpeg, &photo.thumbnail)
        .expect("store");
}

/// (wall seconds, peak RSS KiB) of one run under GNU time.
fn timed(cmd: &[&str]) -> Option<(f64, u64)> {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M"])
        .args(cmd)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "{} failed: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let mut it = err.lines().last()?.split_whitespace();
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn fixture() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("photo-fixtures");
    let path = dir.join("phone_12mp_baseline.jpg");
    if !path.exists() {
        let ok = Command::new("python3")
            .arg(scripts().join("make_fixture.py"))
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "could not make the fixture (pip install pillow), or pass an IMAGE"
        );
    }
    path
}

/// `input` with its quantisation tables changed by `n` (three entries of the 4 x 4 corner every
/// DCT-scaled decode keeps, in every 8-bit table): decodes to slightly different pixels, so the
/// stored photo has another content address; the same size, markers and EXIF, so the same work.
fn variant(input: &[u8], n: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    let mut i = 2;
    while i + 4 <= out.len() && out[i] == 0xFF {
        let marker = out[i + 1];
        let len = usize::from(out[i + 2]) << 8 | usize::from(out[i + 3]);
        if marker == 0xDA {
            break;
        }
        if marker == 0xDB {
            let (mut t, end) = (i + 4, i + 2 + len);
            while t < end {
                let wide = out[t] >> 4 != 0;
                if !wide {
                    // Zigzag 4, 12, 18: (1,1), (2,2), (3,2), each by 0..=7.
                    for (slot, step) in [(4, 1), (12, 8), (18, 64)] {
                        let q = &mut out[t + 1 + slot];
                        *q = q.saturating_add(((n / step) % 8) as u8);
                    }
                }
                t += 1 + if wide { 128 } else { 64 };
            }
        }
        i += 2 + len;
    }
    out
}

/// A phone's store with a day's orders, signed in.
struct Phone {
    name: &'static str,
    store: Store,
    orders: Vec<Uuid>,
    _dir: tempfile::TempDir,
}

impl Phone {
    fn open(name: &'static str, key: Option<StoreKey>) -> Phone {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(
            dir.path().join("phone.db"),
            StoreOptions {
                key,
                ..StoreOptions::default()
            },
        )
        .expect("open");
        store
            .sign_in(&Session {
                member_id: "m-bench".into(),
                crew_id: "crew-west".into(),
            })
            .expect("sign in");
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let all = CityDay::new(7, 40, day).generate();
        store.save_server_orders(&all).expect("orders");
        let orders = all
            .iter()
            .filter(|o| o.status != Status::Cancelled)
            .map(|o| o.id)
            .collect();
        Phone {
            name,
            store,
            orders,
            _dir: dir,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Prints each store's p50/p95; returns the two p50s.
fn report(what: &str, names: [&str; 2], mut times: [Vec<Duration>; 2]) -> [f64; 2] {
    let mut p50 = [0.0; 2];
    for (k, t) in times.iter_mut().enumerate() {
        t.sort();
        let p = |q: f64| ms(t[((t.len() as f64 - 1.0) * q).round() as usize]);
        p50[k] = p(0.5);
        println!(
            "  {what:<40} {:<10} p50 {:>7.2} ms  p95 {:>7.2} ms  (n={})",
            names[k],
            p(0.5),
            p(0.95),
            t.len()
        );
    }
    println!(
        "  {what:<40} encryption overhead (p50) {:+.1} %",
        (p50[1] / p50[0] - 1.0) * 100.0
    );
    p50
}

/// Capture into a plain and an encrypted store in turn, then read the photos back.
fn capture(bytes: &[u8], captures: usize) {
    let key = StoreKey::from_bytes(&[0x5a; 32]).expect("key");
    let phones = [
        Phone::open("plain", None),
        Phone::open("encrypted", Some(key)),
    ];
    let names = [phones[0].name, phones[1].name];
    let mut seen = HashSet::new();
    let mut stored: [Vec<Photo>; 2] = [Vec::new(), Vec::new()];
    let mut times = [Vec::new(), Vec::new()];
    // One untimed capture each first: directories, statements, threads.
    for i in 0..=captures {
        for k in [i % 2, 1 - i % 2] {
            let input = variant(bytes, 2 * i + k);
            let phone = &phones[k];
            let order = phone.orders[i % phone.orders.len()];
            let t = Instant::now();
            let photo = phone
                .store
                .add_photo(order, DocumentKind::IdCard, &input)
                .expect("capture");
            let took = t.elapsed();
            assert!(
                seen.insert(photo.sha256.clone()),
                "sample {i} repeated a photo: the store would skip its files"
            );
            if i > 0 {
                times[k].push(took);
            }
            stored[k].push(photo);
        }
    }
    let head = |k: usize| {
        let file = std::fs::read(phones[k].store.photo_path(&stored[k][0])).expect("file");
        file[..4].to_vec()
    };
    assert_eq!(
        head(0)[..2],
        [0xFF, 0xD8],
        "a plain store keeps plain JPEG files"
    );
    assert_eq!(head(1), b"FCP1", "an encrypted store seals its files");
    let p = &stored[0][0];
    println!(
        "capture into the phone's store (ID card: normalise, files, row + outbox), {} x {} photo {} KB + thumbnail {} KB:",
        p.width,
        p.height,
        p.bytes / 1000,
        p.thumbnail_bytes / 1000
    );
    report("capture (add_photo)", names, times);

    let mut times = [Vec::new(), Vec::new()];
    for i in 0..READS {
        for k in [i % 2, 1 - i % 2] {
            let photo = &stored[k][i % stored[k].len()];
            let t = Instant::now();
            let jpeg = phones[k].store.photo_bytes(photo).expect("photo");
            let thumb = phones[k].store.thumbnail_bytes(photo).expect("thumbnail");
            times[k].push(t.elapsed());
            std::hint::black_box((jpeg, thumb));
        }
    }
    report("read back photo + thumbnail (verified)", names, times);

    // The file encryption's own share, on the same bytes.
    let cipher = PhotoCipher::from_data_key(&[0x33; 32]);
    let jpeg = phones[0].store.photo_bytes(p).expect("photo");
    let thumb = phones[0].store.thumbnail_bytes(p).expect("thumbnail");
    let (mut seal, mut open) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        let t = Instant::now();
        let a = cipher.seal(&p.sha256, Role::Photo, &jpeg);
        let b = cipher.seal(&p.sha256, Role::Thumbnail, &thumb);
        seal.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(cipher.open(&p.sha256, Role::Photo, &a).expect("open"));
        std::hint::black_box(cipher.open(&p.sha256, Role::Thumbnail, &b).expect("open"));
        open.push(t.elapsed());
    }
    println!(
        "  of which XChaCha20-Poly1305 on photo + thumbnail: seal {:.2} ms, open {:.2} ms (median of 50)",
        ms(median(seal)),
        ms(median(open))
    );
}

fn main() {
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--bench"))
        .collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1], &args[2]);
    }
    let mut captures = CAPTURES;
    if let Some(i) = args.iter().position(|a| a == "--captures") {
        captures = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .expect("--captures N");
        args.drain(i..i + 2);
    }
    let no_peer = args.iter().any(|a| a == "--no-peer");
    args.retain(|a| a != "--no-peer");
    let input = args.first().map(PathBuf::from).unwrap_or_else(fixture);
    let bytes = std::fs::read(&input).expect("read input");
    let options = NormalizeOptions::default();

    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        last = Some(normalize(&bytes, &options).expect("normalize"));
        times.push(start.elapsed());
    }
    let out = last.expect("ran");
    println!(
        "in process: {} ({} bytes) -> {}x{} + {}x{} thumb, median {:.1} ms of {RUNS}",
        input.display(),
        bytes.len(),
        out.width,
        out.height,
        out.thumbnail_width,
        out.thumbnail_height,
        median::<Duration>(times).as_secs_f64() * 1000.0,
    );

    capture(&bytes, captures);
    if no_peer {
        return;
    }

    let me = std::env::current_exe().expect("own path");
    let tmp = std::env::temp_dir().join(format!("fieldcrew-photo-bench-{}", std::process::id()));
    let (me, img, outdir) = (
        me.to_string_lossy().into_owned(),
        input.to_string_lossy().into_owned(),
        tmp.to_string_lossy().into_owned(),
    );
    let pillow = scripts()
        .join("pillow_normalize.py")
        .to_string_lossy()
        .into_owned();
    let (mut rust, mut peer) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let _ = std::fs::remove_dir_all(&tmp);
        rust.extend(timed(&[&me, "--child", &img, &outdir]));
        peer.extend(timed(&["python3", &pillow, &img, &outdir]));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    if rust.len() < RUNS || peer.len() < RUNS {
        println!("whole process: skipped (needs GNU /usr/bin/time and python3 with Pillow)");
        return;
    }
    let (rs, rk) = (
        median(rust.iter().map(|r| r.0).collect()),
        median(rust.iter().map(|r| r.1).collect()),
    );
    let (ps, pk) = (
        median(peer.iter().map(|r| r.0).collect()),
        median(peer.iter().map(|r| r.1).collect()),
    );
    println!(
        "whole process, median of {RUNS}: fieldcrew {rs:.3} s {:.1} MiB | Pillow {ps:.3} s {:.1} MiB | time x{:.2} (target <= 0.30), memory x{:.2} (target <= 0.35)",
        rk as f64 / 1024.0,
        pk as f64 / 1024.0,
        rs / ps,
        rk as f64 / pk as f64,
    );
}
