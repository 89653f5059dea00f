//! The normalisation pipeline on good input: sizes, orientation, colour, metadata, determinism.

mod photo_support;

use chrono::NaiveDate;
use fieldcrew_core::photo::{NormalizeOptions, SourceFormat, normalize, probe, sha256_hex};
use fieldcrew_core::work_order::DocumentKind;
use image::{DynamicImage, ImageBuffer, Rgb, Rgba};
use jpeg_encoder::ColorType;
use photo_support::*;

fn small(max_long_edge: u32, thumb: u32) -> NormalizeOptions {
    NormalizeOptions {
        max_long_edge,
        thumbnail_long_edge: thumb,
        ..NormalizeOptions::default()
    }
}

#[test]
fn a_phone_jpeg_is_fitted_thumbnailed_and_stripped_of_all_metadata() {
    let exif = Exif {
        orientation: 1,
        taken: Some("2024:05:17 09:41:23"),
        offset: None,
        gps: Some((39.9590, 116.3189)),
    };
    let input = jpeg(
        600,
        400,
        &quadrants(600, 400),
        JpegSpec {
            exif: Some(exif),
            icc: Some(&[7u8; 3000]),
            ..Default::default()
        },
    );
    let out = normalize(&input, &small(256, 64)).unwrap();

    // 600 px decodes DCT-scaled to 300 px, then Lanczos fits it to 256.
    assert_eq!((out.width, out.height), (256, 171));
    assert_eq!((out.thumbnail_width, out.thumbnail_height), (64, 43));
    assert_eq!((out.source.width, out.source.height), (600, 400));
    assert_eq!(out.source.format, SourceFormat::Jpeg);
    let decoded = decode(&out.jpeg);
    assert_eq!((decoded.0, decoded.1), (256, 171));
    assert!(near(pixel(&decoded, 30, 30), RED, 12));
    assert!(near(pixel(&decoded, 220, 150), WHITE, 12));
    assert_eq!(decode(&out.thumbnail).0, 64);

    // Nothing but JFIF, tables, frame and scan: no EXIF, no ICC, no comment.
    for file in [&out.jpeg, &out.thumbnail] {
        let m = markers(file);
        assert!(
            m.iter()
                .all(|&m| matches!(m, 0xE0 | 0xDB | 0xC0 | 0xC4 | 0xDA | 0xDD)),
            "{m:x?}"
        );
        for secret in [
            &b"Exif"[..],
            b"FieldcrewPhone",
            b"SECRET-DEVICE-9",
            b"ICC_PROFILE",
            b"2024:05:17",
        ] {
            assert!(!file.windows(secret.len()).any(|w| w == secret));
        }
    }
    // ... while the capture facts come back for the database.
    assert_eq!(
        out.capture.taken_at,
        NaiveDate::from_ymd_opt(2024, 5, 17)
            .unwrap()
            .and_hms_opt(9, 41, 23)
    );
    let at = out.capture.location.unwrap();
    assert!((at.lat - 39.9590).abs() < 1e-4 && (at.lon - 116.3189).abs() < 1e-4);
    assert_eq!(out.sha256, sha256_hex(&out.jpeg));
}

#[test]
fn all_eight_exif_orientations_come_out_upright() {
    // Displayed top-left and top-right corners for each orientation, from the EXIF definition,
    // given the stored quadrants red | green over blue | white.
    let want = [
        (1, RED, GREEN),
        (2, GREEN, RED),
        (3, WHITE, BLUE),
        (4, BLUE, WHITE),
        (5, RED, BLUE),
        (6, BLUE, RED),
        (7, WHITE, GREEN),
        (8, GREEN, WHITE),
    ];
    for (o, top_left, top_right) in want {
        let input = jpeg(
            96,
            64,
            &quadrants(96, 64),
            JpegSpec {
                exif: Some(Exif {
                    orientation: o,
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        assert_eq!(
            probe(&input, &NormalizeOptions::default())
                .unwrap()
                .orientation,
            o as u8
        );
        let out = normalize(&input, &NormalizeOptions::default()).unwrap();
        let img = decode(&out.jpeg);
        let size = if o >= 5 { (64, 96) } else { (96, 64) };
        assert_eq!((img.0, img.1), size, "orientation {o}");
        assert_eq!((out.source.width, out.source.height), size);
        let (w, h) = size;
        assert!(
            near(pixel(&img, w / 4, h / 4), top_left, 16),
            "orientation {o} top-left"
        );
        assert!(
            near(pixel(&img, w * 3 / 4, h / 4), top_right, 16),
            "orientation {o} top-right"
        );
    }
}

#[test]
fn a_dct_scaled_decode_may_land_just_under_the_long_edge() {
    let input = plain_jpeg(1000, 600);
    let out = normalize(&input, &small(512, 128)).unwrap();
    assert_eq!(
        (out.width, out.height),
        (500, 300),
        "half-size decode, no resampling"
    );
    let input = plain_jpeg(1000, 600);
    let out = normalize(&input, &small(300, 128)).unwrap();
    assert_eq!(
        (out.width, out.height),
        (300, 180),
        "quarter-size decode, then fitted"
    );
}

#[test]
fn progressive_grayscale_and_cmyk_jpegs_become_rgb() {
    let progressive = jpeg(
        120,
        80,
        &quadrants(120, 80),
        JpegSpec {
            progressive: true,
            ..Default::default()
        },
    );
    let img = decode(
        &normalize(&progressive, &NormalizeOptions::default())
            .unwrap()
            .jpeg,
    );
    assert!(near(pixel(&img, 90, 60), WHITE, 12));

    let gray = jpeg(
        64,
        64,
        &vec![100u8; 64 * 64],
        JpegSpec {
            color: ColorType::Luma,
            ..Default::default()
        },
    );
    let img = decode(&normalize(&gray, &NormalizeOptions::default()).unwrap().jpeg);
    assert!(near(pixel(&img, 10, 10), [100, 100, 100], 3));

    // Full cyan ink, no black: cyan on screen.
    let cmyk: Vec<u8> = (0..64 * 64).flat_map(|_| [255u8, 0, 0, 0]).collect();
    let cmyk = jpeg(
        64,
        64,
        &cmyk,
        JpegSpec {
            color: ColorType::Cmyk,
            ..Default::default()
        },
    );
    let img = decode(&normalize(&cmyk, &NormalizeOptions::default()).unwrap().jpeg);
    assert!(
        near(pixel(&img, 10, 10), [0, 255, 255], 16),
        "{:?}",
        pixel(&img, 10, 10)
    );
}

#[test]
fn png_alpha_is_flattened_on_white_and_16_bit_png_decodes() {
    let rgba = ImageBuffer::from_fn(80, 40, |x, _| {
        if x < 40 {
            Rgba([0u8, 0, 0, 0])
        } else {
            Rgba([0, 0, 255, 255])
        }
    });
    let out = normalize(
        &png(DynamicImage::ImageRgba8(rgba)),
        &NormalizeOptions::default(),
    )
    .unwrap();
    assert_eq!(out.source.format, SourceFormat::Png);
    let img = decode(&out.jpeg);
    assert!(
        near(pixel(&img, 10, 20), WHITE, 8),
        "transparent is paper, not black"
    );
    assert!(near(pixel(&img, 70, 20), BLUE, 16));

    let deep = ImageBuffer::from_fn(40, 40, |_, _| Rgb([65535u16, 32896, 0]));
    let out = normalize(
        &png(DynamicImage::ImageRgb16(deep)),
        &NormalizeOptions::default(),
    )
    .unwrap();
    assert!(near(pixel(&decode(&out.jpeg), 20, 20), [255, 128, 0], 8));
}

#[test]
fn webp_decodes() {
    let img = ImageBuffer::from_fn(50, 30, |_, _| Rgb([0u8, 200, 0]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut bytes, image::ImageFormat::WebP)
        .unwrap();
    let out = normalize(bytes.get_ref(), &NormalizeOptions::default()).unwrap();
    assert_eq!(out.source.format, SourceFormat::WebP);
    assert_eq!((out.width, out.height), (50, 30));
    assert!(near(pixel(&decode(&out.jpeg), 25, 15), [0, 200, 0], 8));
}

#[test]
fn the_same_photo_gives_the_same_content_address_and_kinds_have_their_sizes() {
    let input = plain_jpeg(400, 300);
    let a = normalize(&input, &small(200, 50)).unwrap();
    let b = normalize(&input, &small(200, 50)).unwrap();
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(a.jpeg, b.jpeg);
    assert_eq!(
        NormalizeOptions::for_kind(DocumentKind::IdCard).max_long_edge,
        2048
    );
    assert_eq!(
        NormalizeOptions::for_kind(DocumentKind::Signature).max_long_edge,
        1024
    );
    assert_eq!(NormalizeOptions::for_kind(DocumentKind::Site).quality, 82);
}
