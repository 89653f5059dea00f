//! The whole normalisation (sniff, header budgets, every decoder, orientation, fit, encode) on
//! hostile bytes. The first byte picks a small long edge, so that JPEGs decode DCT-scaled and
//! the resize runs; the rest is the file. It must return a typed error or a photo, never panic.
#![no_main]

use fieldcrew_core::photo::{NormalizeOptions, normalize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let long_edge = 16 + u32::from(pick) * 4;
    let options = NormalizeOptions {
        max_long_edge: long_edge,
        thumbnail_long_edge: 16,
        ..NormalizeOptions::default()
    };
    if let Ok(photo) = normalize(bytes, &options) {
        assert!(photo.width.max(photo.height) <= long_edge);
        assert!(photo.thumbnail_width.max(photo.thumbnail_height) <= 16);
    }
});
