//! A decompression bomb is refused from its header with almost no memory. A counting allocator
//! measures the peak heap of the refusal exactly (no timing, no process-wide RSS noise); this
//! file holds one test so nothing else allocates meanwhile.

mod photo_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use fieldcrew_core::photo::{NormalizeOptions, PhotoError, normalize};
use photo_support::*;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap growth while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst) - base)
}

#[test]
fn bombs_are_refused_with_little_memory_and_real_photos_stay_bounded() {
    let options = NormalizeOptions::default();

    let png_bomb = png_claiming(60_000, 60_000);
    let (result, peak) = peak_during(|| normalize(&png_bomb, &options));
    assert!(matches!(result, Err(PhotoError::TooManyPixels { .. })));
    assert!(peak < 64 * 1024, "PNG bomb refused using {peak} bytes");

    let jpeg_bomb = jpeg_claiming(65_000, 65_000);
    let (result, peak) = peak_during(|| normalize(&jpeg_bomb, &options));
    assert!(matches!(result, Err(PhotoError::TooManyPixels { .. })));
    assert!(peak < 64 * 1024, "JPEG bomb refused using {peak} bytes");

    // Within the pixel budget, but a 49 MP header on 16 x 16 worth of data: refused from the
    // header too (each 8x8 block costs at least a bit), not decoded into a gray image.
    let (result, peak) = peak_during(|| normalize(&jpeg_claiming(7000, 7000), &options));
    assert_eq!(result.unwrap_err(), PhotoError::Truncated);
    assert!(
        peak < 64 * 1024,
        "49 MP JPEG claim refused using {peak} bytes"
    );
    let (result, peak) = peak_during(|| normalize(&png_claiming(7000, 7000), &options));
    assert_eq!(result.unwrap_err(), PhotoError::Truncated);
    assert!(
        peak < 64 * 1024,
        "49 MP PNG claim refused using {peak} bytes"
    );

    // A 1 KB WebP declaring 7000 x 7000 (lossless WebP has no per-pixel floor, so only a
    // plausibility rule tells it from a real image): refused from the header. Without it the
    // image crate allocated the whole 147 MB canvas before failing.
    let webp_bomb = webp_claiming(7000, 7000);
    let (result, peak) = peak_during(|| normalize(&webp_bomb, &options));
    assert!(matches!(result, Err(PhotoError::ImplausibleSize { .. })));
    assert!(peak < 64 * 1024, "WebP bomb refused using {peak} bytes");

    // A 105 KB progressive JPEG declaring 49 MP (a bit per block: passes the baseline rule):
    // refused from the header instead of holding 150 MB of coefficients.
    let progressive_bomb = progressive_jpeg_claiming(7000, 7000);
    let (result, peak) = peak_during(|| normalize(&progressive_bomb, &options));
    assert!(matches!(result, Err(PhotoError::ImplausibleSize { .. })));
    assert!(
        peak < 64 * 1024,
        "progressive JPEG bomb refused using {peak} bytes"
    );

    // A real 1600 x 1200 photo bound for 640 px is decoded at 1/2 (800 x 600), never at full
    // size: its whole normalisation peaks under what the full-size RGB alone would take.
    let photo = plain_jpeg(1600, 1200);
    let options = NormalizeOptions {
        max_long_edge: 640,
        ..NormalizeOptions::default()
    };
    let (result, peak) = peak_during(|| normalize(&photo, &options));
    assert_eq!(result.unwrap().width, 640);
    let full_rgb = 1600 * 1200 * 3;
    eprintln!("1600x1200 photo: peak heap {peak} bytes (full-size RGB would be {full_rgb})");
    assert!(
        peak < full_rgb,
        "peak {peak} bytes: was it decoded at full size?"
    );
}
