//! Normalises one photo the way `Store::add_photo` does, as a whole process, so it can be timed
//! and its peak memory measured against the Pillow peer (scripts/photo/compare.sh).
//!
//! usage: cargo run --release -p fieldcrew-core --example normalize_photo -- IN OUTDIR [KIND]
//!
//! Reads IN, normalises it with the defaults for KIND (default business_licence: 2048 px, q82,
//! 320 px thumbnail), and stores photo and thumbnail atomically under OUTDIR by content address.
//! Prints one line of facts; on bad input prints the typed error and exits with status 2.
//! On Linux the line ends with the process's peak resident memory (VmHWM).

use std::process::ExitCode;
use std::time::Instant;

use fieldcrew_core::photo::{NormalizeOptions, PhotoFiles, normalize};
use fieldcrew_core::work_order::DocumentKind;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(outdir)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: normalize_photo IN OUTDIR [KIND]");
        return ExitCode::from(64);
    };
    let kind = match args.get(3).map(|k| k.parse::<DocumentKind>()) {
        None => DocumentKind::BusinessLicence,
        Some(Ok(k)) => k,
        Some(Err(e)) => {
            eprintln!("unknown kind: {e}");
            return ExitCode::from(64);
        }
    };
    let start = Instant::now();
    let bytes = match std::fs::read(input) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {input}: {e}");
            return ExitCode::from(66);
        }
    };
    let rss = || peak_rss_kib().map_or(String::new(), |k| format!(" peak_rss_kib={k}"));
    let photo = match normalize(&bytes, &NormalizeOptions::for_kind(kind)) {
        Ok(p) => p,
        Err(e) => {
            println!("refused: {e} ({e:?}){}", rss());
            return ExitCode::from(2);
        }
    };
    drop(bytes);
    let stored = PhotoFiles::open(outdir).and_then(|files| {
        files.put(&photo.sha256, &photo.jpeg, &photo.thumbnail)?;
        Ok(files.photo_path(&photo.sha256))
    });
    match stored {
        Ok(path) => {
            println!(
                "{}x{} {:?} orientation {} -> {}x{} ({} bytes) thumb {}x{} ({} bytes) sha256 {} at {} in {:.3}s{}",
                photo.source.width,
                photo.source.height,
                photo.source.format,
                photo.source.orientation,
                photo.width,
                photo.height,
                photo.jpeg.len(),
                photo.thumbnail_width,
                photo.thumbnail_height,
                photo.thumbnail.len(),
                photo.sha256,
                path.display(),
                start.elapsed().as_secs_f64(),
                rss(),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot store under {outdir}: {e}");
            ExitCode::from(73)
        }
    }
}
