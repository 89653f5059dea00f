#!/usr/bin/env bash
# Builds FieldCrewCore.xcframework (device + simulator static libraries) on macOS with Xcode.
# Needs: rustup targets aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
    cargo build --release -p fieldcrew-ffi --features vendored-openssl --target "$t"
done
mkdir -p target/ios-sim
lipo -create target/aarch64-apple-ios-sim/release/libfieldcrew_ffi.a \
    target/x86_64-apple-ios/release/libfieldcrew_ffi.a -output target/ios-sim/libfieldcrew_ffi.a
rm -rf ios/FieldCrewCore.xcframework
xcodebuild -create-xcframework \
    -library target/aarch64-apple-ios/release/libfieldcrew_ffi.a -headers ios/Sources/fieldcrew_ffiFFI/include \
    -library target/ios-sim/libfieldcrew_ffi.a -headers ios/Sources/fieldcrew_ffiFFI/include \
    -output ios/FieldCrewCore.xcframework
# The Swift bindings are generated on Linux or macOS by scripts/generate-bindings.
