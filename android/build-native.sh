#!/usr/bin/env bash
# Builds libfieldcrew_ffi.so for the Android ABIs with cargo-ndk into the library's jniLibs, with
# the `mobile` profile the phones ship (Cargo.toml: fat LTO, one codegen unit, size-optimised but
# the photo and core crates; output under target/<triple>/mobile/).
# Needs: rustup targets aarch64-linux-android armv7-linux-androideabi x86_64-linux-android,
# cargo install cargo-ndk (2.12 or later for --profile), and ANDROID_NDK_HOME. The store's cipher
# (SQLite3 Multiple Ciphers, vendor/libsqlite3-sys) carries its own crypto: no OpenSSL to build.
# The Android Gradle plugin strips the libraries' symbols when it packages the app.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -o android/fieldcrew/src/main/jniLibs \
    build --locked --profile mobile -p fieldcrew-ffi
# Regenerate the Kotlin bindings from the host build (unstripped) so they match.
scripts/generate-bindings
