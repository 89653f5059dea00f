#!/usr/bin/env python3
"""Generate a realistic 12 MP phone-like JPEG (4032x3024) for benchmarking.

Photographic-ish content (gradients + gaussian sensor noise + shapes) with printed text,
EXIF orientation 6, GPS and DateTimeOriginal, like a phone held upright. Writes a baseline
and a progressive variant. Deterministic (fixed seed) so runs are comparable.

usage: make_fixture.py OUTDIR [WIDTH HEIGHT]
"""
import os
import random
import sys

from PIL import Image, ImageDraw, ImageFilter, ImageFont


def make_image(w, h):
    random.seed(42)
    # smooth colour field: three scaled gradients as R, G, B
    r = Image.linear_gradient("L").resize((w, h), Image.BILINEAR)
    g = Image.radial_gradient("L").resize((w, h), Image.BILINEAR)
    b = Image.linear_gradient("L").rotate(90).resize((w, h), Image.BILINEAR)
    img = Image.merge("RGB", (r, g, b))
    d = ImageDraw.Draw(img)
    # some objects: a "meter", a "licence" card, random blobs
    for _ in range(60):
        x0, y0 = random.randrange(w), random.randrange(h)
        x1, y1 = x0 + random.randrange(50, 600), y0 + random.randrange(50, 600)
        col = tuple(random.randrange(256) for _ in range(3))
        if random.random() < 0.5:
            d.ellipse([x0, y0, x1, y1], fill=col)
        else:
            d.rectangle([x0, y0, x1, y1], fill=col)
    img = img.filter(ImageFilter.GaussianBlur(6))
    d = ImageDraw.Draw(img)
    d.rectangle([w // 8, h // 6, w * 7 // 8, h * 5 // 6], fill=(236, 232, 220), outline=(120, 20, 20), width=12)
    try:
        font = ImageFont.load_default(size=56)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    lines = [
        "BUSINESS LICENCE  No. 91110108MA01ABCDEF",
        "Name: Fieldcrew Test Electric Co., Ltd.",
        "Address: 100 Example Road, Haidian, Beijing",
        "Meter 0123456789   Reading 004521.7 kWh",
        "Valid 2024-01-01 to 2044-12-31",
    ]
    for i in range(14):
        d.text((w // 8 + 60, h // 6 + 60 + i * 120), lines[i % len(lines)], fill=(20, 20, 20), font=font)
    # sensor noise, per channel
    noise = [Image.effect_noise((w, h), 18) for _ in range(3)]
    noise_rgb = Image.merge("RGB", noise)
    img = Image.blend(img, noise_rgb, 0.22)
    return img


def exif_bytes():
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    exif[0x010F] = "FieldcrewPhone"
    exif[0x0110] = "FC-1"
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = "2024:05:17 09:41:23"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (39.0, 57.0, 32.4)
    gps[3] = "E"
    gps[4] = (116.0, 19.0, 8.1)
    return exif.tobytes()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    w = int(sys.argv[2]) if len(sys.argv) > 2 else 4032
    h = int(sys.argv[3]) if len(sys.argv) > 3 else 3024
    os.makedirs(out, exist_ok=True)
    img = make_image(w, h)
    ex = exif_bytes()
    base = os.path.join(out, "phone_12mp_baseline.jpg")
    prog = os.path.join(out, "phone_12mp_progressive.jpg")
    img.save(base, quality=92, subsampling="4:2:0", exif=ex)
    img.save(prog, quality=92, subsampling="4:2:0", exif=ex, progressive=True)
    for p in (base, prog):
        print(p, os.path.getsize(p))


if __name__ == "__main__":
    main()
