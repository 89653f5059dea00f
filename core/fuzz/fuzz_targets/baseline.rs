//! The baseline JPEG decoder (core/src/photo/baseline.rs) and the header checks before it, as
//! `normalize` reaches them. The first byte picks the DCT scale, the orientation and one or two
//! threads; the rest is the file. Any panic, hang or huge allocation is a bug: the decoder runs
//! behind the FFI on whatever the camera (or an attacker) hands over.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let eighths = [1, 2, 4, 8][usize::from(pick & 3)];
    let orientation = 1 + (pick >> 2) % 8;
    let threads = 1 + usize::from(pick >> 5 & 1);
    let _ = fieldcrew_core::photo::fuzzing::baseline(bytes, eighths, orientation, threads);
});
