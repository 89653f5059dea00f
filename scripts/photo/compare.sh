#!/usr/bin/env bash
# Whole-process comparison of fieldcrew's photo normalisation against the Pillow peer, side by
# side on this machine: wall time and peak RSS (from /usr/bin/time), median of RUNS alternating
# runs each. Prints the ratios the issue sets (time <= 0.30, memory <= 0.35 of Pillow's).
#
# usage: scripts/photo/compare.sh [IMAGE...]     (default: a generated 12 MP phone JPEG)
# env:   RUNS (default 7), CARGO_TARGET_DIR (default target), PYTHON (default python3)
# needs: /usr/bin/time (GNU), python3 with Pillow (pip install pillow)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
runs="${RUNS:-7}"
py="${PYTHON:-python3}"
target="${CARGO_TARGET_DIR:-$repo/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$repo" && cargo build --quiet --release -p fieldcrew-core --example normalize_photo)
bin="$target/release/examples/normalize_photo"

if [ "$#" -eq 0 ]; then
  fixtures="$target/photo-fixtures"
  [ -f "$fixtures/phone_12mp_baseline.jpg" ] || "$py" "$here/make_fixture.py" "$fixtures" >/dev/null
  set -- "$fixtures/phone_12mp_baseline.jpg" "$fixtures/phone_12mp_progressive.jpg"
fi

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() { # label command...  -> appends "seconds kib" lines to $work/label
  local label="$1"; shift
  rm -rf "$work/out"
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null
  cat "$work/time" >>"$work/$label"
}

printf '%-28s %8s %9s %8s %9s %7s %7s\n' image rust_s rust_MiB pil_s pil_MiB time× mem×
for img in "$@"; do
  rm -f "$work/rust" "$work/pillow"
  "$bin" "$img" "$work/out" >/dev/null  # warm the page cache
  for _ in $(seq "$runs"); do
    measure rust "$bin" "$img" "$work/out"
    measure pillow "$py" "$here/pillow_normalize.py" "$img" "$work/out"
  done
  rs=$(cut -d' ' -f1 "$work/rust" | median); rk=$(cut -d' ' -f2 "$work/rust" | median)
  ps=$(cut -d' ' -f1 "$work/pillow" | median); pk=$(cut -d' ' -f2 "$work/pillow" | median)
  awk -v n="$(basename "$img")" -v rs="$rs" -v rk="$rk" -v ps="$ps" -v pk="$pk" 'BEGIN {
    printf "%-28s %8.3f %9.1f %8.3f %9.1f %7.2f %7.2f\n", n, rs, rk/1024, ps, pk/1024, rs/ps, rk/pk }'
done
echo "(median of $runs runs each; time = wall seconds, memory = peak RSS; $(nproc) cores)"
