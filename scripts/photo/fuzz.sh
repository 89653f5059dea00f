#!/usr/bin/env bash
# Fuzzes the photo decoders (core/fuzz, cargo-fuzz on the nightly toolchain), seeded with small
# images of every kind the pipeline meets (scripts/photo/fuzz_seeds.py).
#
# usage: scripts/photo/fuzz.sh [TARGET [SECONDS]]   TARGET: baseline (default) or normalize
# env:   PYTHON (default python3, with Pillow), FUZZ_ARGS (more libFuzzer flags)
# needs: rustup's nightly toolchain, cargo-fuzz (cargo install cargo-fuzz)
#
# One job, for SECONDS of fuzzing (default 600). Inputs up to 16 KiB; an allocation over
# 512 MiB, 2 GiB of memory or 10 s on one input counts as a crash, like a panic. A crash leaves
# its input under core/fuzz/artifacts/TARGET/: minimise it with
#   (cd core/fuzz && target/<host>/release/TARGET -minimize_crash=1 -runs=20000 artifacts/TARGET/crash-...)
# and keep it as a regression test (core/src/photo/testdata/).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fuzz="$here/../../core/fuzz"
target="${1:-baseline}"
seconds="${2:-600}"
py="${PYTHON:-python3}"

[ -d "$fuzz/corpus/$target" ] || "$py" "$here/fuzz_seeds.py" "$fuzz/corpus" >/dev/null
cd "$fuzz"
# Release with debug assertions and AddressSanitizer (cargo-fuzz's defaults): an overflow is a
# crash too. The first build compiles the whole core with the sanitizer (20 minutes on 2 cores).
CARGO_INCREMENTAL=0 cargo +nightly fuzz build "$target"
host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
mkdir -p "artifacts/$target"
"target/$host/release/$target" "corpus/$target" -artifact_prefix="artifacts/$target/" \
  -max_total_time="$seconds" -max_len=16384 -malloc_limit_mb=512 -rss_limit_mb=2048 \
  -timeout=10 -print_final_stats=1 ${FUZZ_ARGS:-}
