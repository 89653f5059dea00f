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

sizes() { # DIR -> "photo WxH (bytes) thumb WxH (bytes)" of the JPEGs written under DIR
  "$py" - "$1" <<'PY'
import os, sys
from PIL import Image
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs if f.endswith(".jpg"))
files.sort(key=lambda f: "thumb" in os.path.basename(f))
parts = []
for f in files:
    with Image.open(f) as im:
        kind = "thumb" if "thumb" in os.path.basename(f) else "photo"
        parts.append(f"{kind} {im.size[0]}x{im.size[1]} ({os.path.getsize(f)} B)")
print("  ".join(parts))
PY
}

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
  # One run of each first (warms the page cache), then the dimensions of what each wrote, read
  # back from the files: the fair peer decodes at the same DCT scale, so they must match.
  rm -rf "$work/out" && "$bin" "$img" "$work/out" >/dev/null
  rust_sizes="$(sizes "$work/out")"
  rm -rf "$work/out" && "$py" "$here/pillow_normalize.py" "$img" "$work/out" >/dev/null
  pil_sizes="$(sizes "$work/out")"
  for _ in $(seq "$runs"); do
    measure rust "$bin" "$img" "$work/out"
    measure pillow "$py" "$here/pillow_normalize.py" "$img" "$work/out"
  done
  rs=$(cut -d' ' -f1 "$work/rust" | median); rk=$(cut -d' ' -f2 "$work/rust" | median)
  ps=$(cut -d' ' -f1 "$work/pillow" | median); pk=$(cut -d' ' -f2 "$work/pillow" | median)
  awk -v n="$(basename "$img")" -v rs="$rs" -v rk="$rk" -v ps="$ps" -v pk="$pk" 'BEGIN {
    printf "%-28s %8.3f %9.1f %8.3f %9.1f %7.2f %7.2f\n", n, rs, rk/1024, ps, pk/1024, rs/ps, rk/pk }'
  printf '    fieldcrew wrote %s\n    Pillow    wrote %s\n' "$rust_sizes" "$pil_sizes"
done
echo "(median of $runs runs each; time = wall seconds, memory = peak RSS; $(nproc) cores)"
