#!/usr/bin/env bash
# Builds libfieldcrew_ffi.so for the Android ABIs with cargo-ndk into the library's jniLibs.
# Needs: rustup targets aarch64-linux-android armv7-linux-androideabi x86_64-linux-android,
# cargo install cargo-ndk, and ANDROID_NDK_HOME. SQLCipher's OpenSSL is vendored for Android
# (feature android-vendored-openssl), since the NDK ships no libcrypto.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -o android/fieldcrew/src/main/jniLibs \
    build --release -p fieldcrew-ffi --features vendored-openssl
# Regenerate the Kotlin bindings from the host build (unstripped) so they match.
scripts/generate-bindings
