//! Photo normalisation: time in process, then wall time and peak RSS as a whole process next to
//! the Pillow peer (scripts/photo/pillow_normalize.py) on the same machine.
//!
//! usage: cargo bench -p fieldcrew-core --bench photo [-- IMAGE]
//! Default IMAGE: a 12 MP phone-like JPEG made by scripts/photo/make_fixture.py (needs Pillow)
//! under `<target>/photo-fixtures/`. The whole-process part needs GNU /usr/bin/time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fieldcrew_core::photo::{NormalizeOptions, PhotoFiles, normalize};

const RUNS: usize = 7;

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

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--bench"))
        .collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1], &args[2]);
    }
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
