//! Fixtures for the photo tests, generated in code (no binary fixtures in the repository).
#![allow(dead_code)]

use std::io::Cursor;

use exif::experimental::Writer;
use exif::{Field, In, Rational, Tag, Value};
use jpeg_encoder::{ColorType, Encoder};

/// An RGB image where `f(x, y)` gives each pixel.
pub fn rgb(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            out.extend_from_slice(&f(x, y));
        }
    }
    out
}

/// Four flat quadrants: red top-left, green top-right, blue bottom-left, white bottom-right.
pub fn quadrants(w: u32, h: u32) -> Vec<u8> {
    rgb(w, h, |x, y| match (x < w / 2, y < h / 2) {
        (true, true) => RED,
        (false, true) => GREEN,
        (true, false) => BLUE,
        (false, false) => WHITE,
    })
}

pub const RED: [u8; 3] = [255, 0, 0];
pub const GREEN: [u8; 3] = [0, 255, 0];
pub const BLUE: [u8; 3] = [0, 0, 255];
pub const WHITE: [u8; 3] = [255, 255, 255];

/// What a phone camera writes: orientation, make and model, capture time, GPS.
pub struct Exif {
    pub orientation: u16,
    pub taken: Option<&'static str>,
    pub offset: Option<&'static str>,
    /// (lat, lon) in degrees; negative is south / west.
    pub gps: Option<(f64, f64)>,
}

impl Default for Exif {
    fn default() -> Self {
        Exif {
            orientation: 1,
            taken: None,
            offset: None,
            gps: None,
        }
    }
}

fn dms(v: f64) -> Vec<Rational> {
    let v = v.abs();
    let d = v.trunc();
    let m = ((v - d) * 60.0).trunc();
    let s = ((v - d) * 60.0 - m) * 60.0;
    vec![
        Rational::from((d as u32, 1)),
        Rational::from((m as u32, 1)),
        Rational::from(((s * 1000.0).round() as u32, 1000)),
    ]
}

/// The TIFF structure of an EXIF block.
pub fn exif_block(e: &Exif) -> Vec<u8> {
    let ascii = |tag, s: &str| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Ascii(vec![s.as_bytes().to_vec()]),
    };
    let mut fields = vec![
        Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![e.orientation]),
        },
        ascii(Tag::Make, "FieldcrewPhone"),
        ascii(Tag::Model, "SECRET-DEVICE-9"),
    ];
    if let Some(t) = e.taken {
        fields.push(ascii(Tag::DateTimeOriginal, t));
    }
    if let Some(o) = e.offset {
        fields.push(ascii(Tag::OffsetTimeOriginal, o));
    }
    if let Some((lat, lon)) = e.gps {
        fields.push(ascii(
            Tag::GPSLatitudeRef,
            if lat < 0.0 { "S" } else { "N" },
        ));
        fields.push(Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(dms(lat)),
        });
        fields.push(ascii(
            Tag::GPSLongitudeRef,
            if lon < 0.0 { "W" } else { "E" },
        ));
        fields.push(Field {
            tag: Tag::GPSLongitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(dms(lon)),
        });
    }
    let mut w = Writer::new();
    for f in &fields {
        w.push_field(f);
    }
    let mut out = Cursor::new(Vec::new());
    w.write(&mut out, false).expect("exif");
    out.into_inner()
}

pub struct JpegSpec<'a> {
    pub exif: Option<Exif>,
    pub progressive: bool,
    pub icc: Option<&'a [u8]>,
    pub color: ColorType,
    pub quality: u8,
}

impl Default for JpegSpec<'_> {
    fn default() -> Self {
        JpegSpec {
            exif: None,
            progressive: false,
            icc: None,
            color: ColorType::Rgb,
            quality: 90,
        }
    }
}

pub fn jpeg(w: u32, h: u32, pixels: &[u8], spec: JpegSpec<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, spec.quality);
    enc.set_progressive(spec.progressive);
    if let Some(e) = &spec.exif {
        enc.add_exif_metadata(&exif_block(e)).expect("exif segment");
    }
    if let Some(icc) = spec.icc {
        enc.add_icc_profile(icc).expect("icc segments");
    }
    enc.encode(pixels, w as u16, h as u16, spec.color)
        .expect("encode fixture");
    out
}

/// A plain RGB JPEG with the quadrant pattern.
pub fn plain_jpeg(w: u32, h: u32) -> Vec<u8> {
    jpeg(w, h, &quadrants(w, h), JpegSpec::default())
}

pub fn png(img: image::DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// Decodes a stored JPEG back to (width, height, RGB) to check what was written.
pub fn decode(jpeg: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut d = jpeg_decoder::Decoder::new(jpeg);
    let px = d.decode().expect("stored JPEG decodes");
    let info = d.info().unwrap();
    assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
    (u32::from(info.width), u32::from(info.height), px)
}

pub fn pixel(img: &(u32, u32, Vec<u8>), x: u32, y: u32) -> [u8; 3] {
    let i = ((y * img.0 + x) * 3) as usize;
    [img.2[i], img.2[i + 1], img.2[i + 2]]
}

/// True when the colours differ by at most `tol` per channel.
pub fn near(a: [u8; 3], b: [u8; 3], tol: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tol)
}

/// The markers of a JPEG up to its first scan, e.g. [0xE0, 0xDB, 0xC0, 0xC4, 0xDA].
pub fn markers(jpeg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 4 <= jpeg.len() && jpeg[pos] == 0xFF {
        let m = jpeg[pos + 1];
        out.push(m);
        if m == 0xDA {
            break;
        }
        let len = u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]) as usize;
        pos += 2 + len;
    }
    out
}

/// A PNG header declaring `w` x `h`, followed by a tiny IDAT (a decompression bomb's shape).
pub fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&[0, 0, 0, 0]); // CRC: never reached
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9C, 0x03, 0x00]);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A valid JPEG with its frame header rewritten to declare `w` x `h`.
pub fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut j = plain_jpeg(16, 16);
    let sof = j
        .windows(2)
        .position(|p| p == [0xFF, 0xC0])
        .expect("baseline frame header");
    j[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    j[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    j
}

/// A lossless WebP (image crate's encoder) of `w` x `h` pixels of one colour but the first few.
pub fn webp(w: u32, h: u32) -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::ImageBuffer::from_fn(w, h, |x, y| {
        if x + y < 8 {
            image::Rgb([x as u8 * 30, 0, 0])
        } else {
            image::Rgb([240, 240, 230])
        }
    }));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::WebP)
        .expect("webp");
    out.into_inner()
}

/// A valid small lossless WebP with its VP8L header rewritten to declare `w` x `h` (each at
/// most 16384): a WebP bomb's shape.
pub fn webp_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut b = webp(24, 16);
    let at = b
        .windows(4)
        .position(|c| c == b"VP8L")
        .expect("lossless chunk")
        + 8;
    assert_eq!(b[at], 0x2F, "VP8L signature");
    let old = u32::from_le_bytes(b[at + 1..at + 5].try_into().unwrap());
    let bits = (old & !((1 << 28) - 1)) | (w - 1) | ((h - 1) << 14);
    b[at + 1..at + 5].copy_from_slice(&bits.to_le_bytes());
    b
}

/// A progressive JPEG of noise (105 KB: enough data for a bit per 8x8 block of a 49 MP image)
/// with its frame header rewritten to declare `w` x `h`.
pub fn progressive_jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let noise = rgb(176, 144, |x, y| {
        let v =
            (x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77)).wrapping_mul(0xC2B2_AE3D);
        let v = (v ^ (v >> 15)).to_le_bytes();
        [v[0], v[1], v[2]]
    });
    let mut j = jpeg(
        176,
        144,
        &noise,
        JpegSpec {
            progressive: true,
            quality: 100,
            ..Default::default()
        },
    );
    let sof = j
        .windows(2)
        .position(|p| p == [0xFF, 0xC2])
        .expect("progressive frame header");
    j[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    j[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    j
}
