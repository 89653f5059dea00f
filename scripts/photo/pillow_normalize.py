#!/usr/bin/env python3
"""The Pillow peer: the same job as fieldcrew's normalize, done well in Pillow.

Draft-mode (DCT-scaled) JPEG decode at exactly the scale fieldcrew picks, EXIF transpose,
LANCZOS fit to the long edge, q82 without metadata, 320 px thumbnail, both files written
durably as fieldcrew's example does (temporary file, fsync, rename, fsync the directory).
Both tools therefore decode the same number of pixels and write files of the same dimensions
(compare.sh prints both).

usage: pillow_normalize.py IN OUTDIR [LONG_EDGE]     (default 2048)
"""
import os
import sys

from PIL import Image, ImageOps

# fieldcrew's rule (core/src/photo/decode.rs, dct_eighths): the smallest DCT scale, 1/8, 1/4 or
# 1/2, whose result still reaches 90% of the long edge; otherwise full size.
DCT_SLACK = 0.9
THUMB = 320
QUALITY = 82


def dct_scale(long_side, target):
    for eighths in (1, 2, 4):
        if -(-long_side * eighths // 8) >= DCT_SLACK * target:
            return 8 // eighths
    return 1


def draft_size(size, target):
    """The size to ask draft() for so that libjpeg scales by exactly dct_scale.

    Pillow picks the largest scale s in 8, 4, 2, 1 with s <= min(w // dw, h // dh); asking for
    (w // s, h // s) gives exactly s (for any image larger than a few pixels)."""
    w, h = size
    s = dct_scale(max(w, h), target)
    return s, (max(1, w // s), max(1, h // s))


def save_durably(img, path):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        img.save(f, "JPEG", quality=QUALITY)  # no exif=, icc_profile=: no metadata
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    src, out = sys.argv[1], sys.argv[2]
    long_edge = int(sys.argv[3]) if len(sys.argv) > 3 else 2048
    img = Image.open(src)
    orig = img.size
    scale = 1
    if img.format == "JPEG":
        scale, ask = draft_size(img.size, long_edge)
        if scale > 1:
            img.draft("RGB", ask)  # DCT-scaled decode in libjpeg
    img = ImageOps.exif_transpose(img)  # loads (decodes) at the draft size
    if img.mode != "RGB":
        img = img.convert("RGB")
    img.thumbnail((long_edge, long_edge), Image.LANCZOS)  # no-op when the draft already fits
    os.makedirs(out, exist_ok=True)
    thumb = img.copy()
    thumb.thumbnail((THUMB, THUMB), Image.LANCZOS)
    save_durably(thumb, os.path.join(out, "thumb.jpg"))
    save_durably(img, os.path.join(out, "photo.jpg"))
    fd = os.open(out, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    print(
        f"{orig[0]}x{orig[1]} draft 1/{scale} -> {img.size[0]}x{img.size[1]}"
        f" thumb {thumb.size[0]}x{thumb.size[1]}"
    )


if __name__ == "__main__":
    main()
