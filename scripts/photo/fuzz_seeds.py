#!/usr/bin/env python3
"""Seeds for the photo fuzz targets (core/fuzz): small images of every kind the pipeline meets.

Phone-like JPEGs (the fixture generator's picture, made small): baseline 4:2:0, 4:2:2, 4:4:4
and grayscale, with and without restart markers, with an EXIF orientation; progressive; CMYK;
PNG (RGB, RGBA, 16-bit, palette) and WebP. Each file is written with a few leading "pick"
bytes, the targets' first byte (scale, orientation, threads, long edge).

usage: fuzz_seeds.py OUTDIR
"""
import io
import os
import sys

from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from make_fixture import exif_bytes, make_image  # noqa: E402


def jpegs(img):
    out = {}
    for sub, name in (("4:2:0", "420"), ("4:2:2", "422"), ("4:4:4", "444")):
        b = io.BytesIO()
        img.save(b, "JPEG", quality=90, subsampling=sub)
        out[f"baseline_{name}.jpg"] = b.getvalue()
    b = io.BytesIO()
    img.save(b, "JPEG", quality=85, subsampling="4:2:0", exif=exif_bytes())
    out["baseline_exif6.jpg"] = b.getvalue()
    b = io.BytesIO()
    img.save(b, "JPEG", quality=80, subsampling="4:2:0", restart_marker_blocks=1)
    out["baseline_restarts.jpg"] = b.getvalue()
    b = io.BytesIO()
    img.convert("L").save(b, "JPEG", quality=80)
    out["baseline_gray.jpg"] = b.getvalue()
    b = io.BytesIO()
    img.save(b, "JPEG", quality=80, progressive=True)
    out["progressive.jpg"] = b.getvalue()
    b = io.BytesIO()
    img.convert("CMYK").save(b, "JPEG", quality=80)
    out["cmyk.jpg"] = b.getvalue()
    return out


def others(img):
    out = {}
    for mode, name in (("RGB", "rgb"), ("RGBA", "rgba"), ("P", "palette")):
        b = io.BytesIO()
        img.convert(mode).save(b, "PNG")
        out[f"{name}.png"] = b.getvalue()
    b = io.BytesIO()
    img.convert("I;16").save(b, "PNG")
    out["gray16.png"] = b.getvalue()
    for lossless in (False, True):
        b = io.BytesIO()
        img.save(b, "WEBP", quality=60, lossless=lossless)
        out[f"{'lossless' if lossless else 'lossy'}.webp"] = b.getvalue()
    return out


def main():
    out = sys.argv[1]
    small = make_image(48, 40)
    tiny = make_image(17, 9)
    files = {}
    for tag, img in (("48x40", small), ("17x9", tiny)):
        for name, data in {**jpegs(img), **others(img)}.items():
            files[f"{tag}_{name}"] = data
    for target, picks in (("baseline", (0x00, 0x15, 0x2A, 0x3F)), ("normalize", (0x00, 0x03, 0x40))):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            if target == "baseline" and not name.endswith(".jpg"):
                continue
            for pick in picks:
                with open(os.path.join(d, f"{name}.{pick:02x}"), "wb") as f:
                    f.write(bytes([pick]) + data)
    print(out, len(files), "files")


if __name__ == "__main__":
    main()
