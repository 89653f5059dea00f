//! The workspace's own uniffi-bindgen, so generated bindings always match the uniffi version in
//! Cargo.lock: `cargo run -p fieldcrew-ffi --features bindgen --bin uniffi-bindgen -- generate
//! --library target/debug/libfieldcrew_ffi.so --language kotlin --out-dir out`.
fn main() {
    uniffi::uniffi_bindgen_main()
}
