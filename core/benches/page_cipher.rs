//! What SQLCipher's page crypto costs per page, through the store's own provider
//! (`store::page_cipher`) driven as SQLCipher's codec drives it: a page written is encrypted
//! under a fresh IV and MACed; a page read is checked and decrypted.
//!
//! `cargo bench -p fieldcrew-core --bench page_cipher`. Prints µs per page for the page sizes
//! and MACs stores have used, and what the pages of one reading's commit cost at this
//! version's settings (page counts from docs/data-model.md, "Pages per write").

use std::hint::black_box;
use std::time::Instant;

use fieldcrew_core::store::PageCodec;

/// Pages an encrypted reading's commit encrypts and MACs, and pages it checks and decrypts
/// (counted with gdb on the store bench, 50,000 orders, schema 6: docs/data-model.md).
const WRITTEN_PER_READING: f64 = 10.7;
const READ_PER_READING: f64 = 5.9;

/// Median over `rounds` of the mean µs per call over `calls` calls.
fn per_call(rounds: usize, calls: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..calls {
        f();
    }
    let mut means: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / calls as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    means[rounds / 2]
}

fn main() {
    println!("fieldcrew page cipher benchmark: µs per page, median of 15 rounds");
    println!(
        "  {:<34} {:>10} {:>10} {:>10} {:>10}",
        "page", "encrypt", "+ MAC", "write", "read"
    );
    let mut current = None;
    for (size, sha512, label) in [
        (1024, false, "1 KiB, HMAC-SHA256 (this version)"),
        (4096, false, "4 KiB, HMAC-SHA256"),
        (4096, true, "4 KiB, HMAC-SHA512 (SQLCipher 4)"),
    ] {
        let Some(codec) = PageCodec::new(size, sha512) else {
            eprintln!("page size {size} refused");
            std::process::exit(1);
        };
        let plain: Vec<u8> = (0..size - codec.reserve())
            .map(|i| (i % 251) as u8)
            .collect();
        let mut page = vec![0u8; size];
        let mut back = vec![0u8; plain.len()];
        let calls = 4_000_000 / size;
        let encrypt = per_call(15, calls, || {
            assert!(codec.write(black_box(&plain), &mut page, 3, false));
        });
        let write = per_call(15, calls, || {
            assert!(codec.write(black_box(&plain), &mut page, 3, true));
        });
        assert!(codec.write(&plain, &mut page, 3, true));
        let read = per_call(15, calls, || {
            assert!(codec.read(black_box(&page), &mut back, 3));
        });
        assert_eq!(back, plain, "round trip");
        println!(
            "  {label:<34} {encrypt:>10.3} {:>10.3} {write:>10.3} {read:>10.3}",
            write - encrypt
        );
        if current.is_none() {
            current = Some((encrypt, write, read));
        }
    }
    if let Some((encrypt, write, read)) = current {
        let total = WRITTEN_PER_READING * write + READ_PER_READING * read;
        println!(
            "a reading's commit, this version ({WRITTEN_PER_READING} pages written, \
             {READ_PER_READING} read): {total:.1} µs of page crypto, of which CBC encryption \
             {:.1} µs",
            WRITTEN_PER_READING * encrypt
        );
    }
}
