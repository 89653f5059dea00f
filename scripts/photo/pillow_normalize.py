#!/usr/bin/env python3
"""The Pillow peer: the same job as fieldcrew's normalize, done well in Pillow.

usage: pillow_normalize.py IN OUTDIR [draft_w draft_h]
"""
import os
import sys

from PIL import Image, ImageOps


def main():
    src, out = sys.argv[1], sys.argv[2]
    draft = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (2048, 2048)
    img = Image.open(src)
    orig = img.size
    img.draft("RGB", draft)  # DCT-scaled decode where libjpeg can keep >= draft size
    img = ImageOps.exif_transpose(img)
    if img.mode != "RGB":
        img = img.convert("RGB")
    img.thumbnail((2048, 2048), Image.LANCZOS)
    os.makedirs(out, exist_ok=True)
    img.save(os.path.join(out, "photo.jpg"), quality=82)  # no exif=, no icc_profile=: no metadata
    thumb = img.copy()
    thumb.thumbnail((320, 320), Image.LANCZOS)
    thumb.save(os.path.join(out, "thumb.jpg"), quality=82)
    print(f"{orig[0]}x{orig[1]} -> {img.size[0]}x{img.size[1]} thumb {thumb.size[0]}x{thumb.size[1]}")


if __name__ == "__main__":
    main()
