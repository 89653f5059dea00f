//! Bad input: every case gets a typed error naming the problem, and nothing panics.

mod photo_support;

use fieldcrew_core::photo::{NormalizeOptions, PhotoError, normalize, probe};
use photo_support::*;

fn refused(bytes: &[u8]) -> PhotoError {
    normalize(bytes, &NormalizeOptions::default()).expect_err("must be refused")
}

#[test]
fn empty_bytes() {
    assert_eq!(refused(&[]), PhotoError::Empty);
    assert_eq!(
        probe(&[], &NormalizeOptions::default()),
        Err(PhotoError::Empty)
    );
}

#[test]
fn a_truncated_jpeg_fails_instead_of_turning_gray() {
    let full = plain_jpeg(256, 192);
    for cut in [full.len() / 2, full.len() - 2, 40, 3] {
        assert_eq!(
            refused(&full[..cut]),
            PhotoError::Truncated,
            "cut at {cut} of {}",
            full.len()
        );
    }
    let progressive = jpeg(
        256,
        192,
        &quadrants(256, 192),
        JpegSpec {
            progressive: true,
            ..Default::default()
        },
    );
    assert_eq!(
        refused(&progressive[..progressive.len() * 2 / 3]),
        PhotoError::Truncated
    );
}

#[test]
fn a_pdf_renamed_jpg_and_heic_are_unsupported_formats() {
    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n";
    let err = refused(pdf);
    assert_eq!(
        err,
        PhotoError::UnsupportedFormat {
            detected: Some("PDF")
        }
    );
    assert!(
        err.to_string().contains("hand over the camera's JPEG"),
        "{err}"
    );
    let mut heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    heic.extend_from_slice(&[0u8; 200]);
    assert_eq!(
        refused(&heic),
        PhotoError::UnsupportedFormat {
            detected: Some("HEIC")
        }
    );
}

#[test]
fn a_png_claiming_60000_by_60000_is_refused_from_its_header() {
    let bomb = png_claiming(60_000, 60_000);
    let want = PhotoError::TooManyPixels {
        width: 60_000,
        height: 60_000,
        max: 50_000_000,
    };
    assert_eq!(refused(&bomb), want);
    assert_eq!(probe(&bomb, &NormalizeOptions::default()), Err(want));
    assert!(matches!(
        refused(&jpeg_claiming(65_000, 65_000)),
        PhotoError::TooManyPixels { .. }
    ));
}

#[test]
fn zero_by_zero_images() {
    assert_eq!(refused(&png_claiming(0, 0)), PhotoError::ZeroSize);
    assert_eq!(refused(&png_claiming(100, 0)), PhotoError::ZeroSize);
    assert_eq!(refused(&jpeg_claiming(0, 0)), PhotoError::ZeroSize);
}

#[test]
fn a_huge_icc_profile() {
    let icc = vec![0x42u8; 2 << 20];
    let input = jpeg(
        32,
        32,
        &quadrants(32, 32),
        JpegSpec {
            icc: Some(&icc),
            ..Default::default()
        },
    );
    match refused(&input) {
        PhotoError::MetadataTooLarge { what, bytes, max } => {
            assert_eq!((what, bytes, max), ("ICC profile", 2 << 20, 1 << 20));
        }
        other => panic!("expected MetadataTooLarge, got {other:?}"),
    }
}

#[test]
fn input_over_the_byte_budget_and_bad_options() {
    let input = plain_jpeg(64, 64);
    let options = NormalizeOptions {
        max_input_bytes: 100,
        ..NormalizeOptions::default()
    };
    assert_eq!(
        normalize(&input, &options),
        Err(PhotoError::TooLarge {
            bytes: input.len(),
            max: 100
        })
    );
    let options = NormalizeOptions {
        max_long_edge: 0,
        ..NormalizeOptions::default()
    };
    assert!(matches!(
        normalize(&input, &options),
        Err(PhotoError::InvalidOptions(_))
    ));
}

#[test]
fn garbage_inside_a_valid_header_is_corrupt_or_truncated() {
    let mut j = plain_jpeg(64, 64);
    let n = j.len();
    for b in &mut j[n / 2..n - 2] {
        *b = 0xFF; // a run of fill bytes where entropy-coded data should be
    }
    assert!(matches!(
        refused(&j),
        PhotoError::Corrupt(_) | PhotoError::Truncated
    ));
    assert!(matches!(
        refused(b"\xFF\xD8\xFF\xD9"),
        PhotoError::Corrupt(_)
    ));
}

/// Thousands of damaged JPEGs, PNGs and WebPs (deterministic byte flips and cuts): each one is
/// either normalised or refused with a typed error; none panics.
#[test]
fn damaged_files_never_panic() {
    let mut seeds = vec![
        plain_jpeg(48, 32),
        jpeg(
            48,
            32,
            &quadrants(48, 32),
            JpegSpec {
                progressive: true,
                exif: Some(Exif {
                    orientation: 6,
                    taken: Some("2024:01:02 03:04:05"),
                    offset: Some("+08:00"),
                    gps: Some((30.0, 120.0)),
                }),
                ..Default::default()
            },
        ),
        png(image::DynamicImage::ImageRgba8(
            image::ImageBuffer::from_fn(24, 16, |x, y| {
                image::Rgba([x as u8 * 10, y as u8 * 10, 0, 200])
            }),
        )),
    ];
    let mut webp = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::ImageBuffer::from_fn(24, 16, |x, _| {
        image::Rgb([x as u8, 0, 0])
    }))
    .write_to(&mut webp, image::ImageFormat::WebP)
    .unwrap();
    seeds.push(webp.into_inner());

    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let options = NormalizeOptions::default();
    for seed in &seeds {
        for _ in 0..300 {
            let mut b = seed.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            if next() % 4 == 0 {
                b.truncate((next() as usize) % b.len());
            }
            // Ok or a typed error; a panic fails the test.
            let _ = normalize(&b, &options);
        }
    }
}

#[test]
fn a_small_webp_declaring_49_megapixels_is_refused_from_its_header() {
    let bomb = webp_claiming(7000, 7000);
    assert!(bomb.len() < 1024, "{} bytes", bomb.len());
    let want = PhotoError::ImplausibleSize {
        width: 7000,
        height: 7000,
        bytes: bomb.len() as u64,
    };
    assert_eq!(refused(&bomb), want);
    assert_eq!(probe(&bomb, &NormalizeOptions::default()), Err(want));
    // Over the 50 MP budget it is TooManyPixels, as for PNG and JPEG.
    assert!(matches!(
        refused(&webp_claiming(16_000, 16_000)),
        PhotoError::TooManyPixels { .. }
    ));
    // A WebP cut inside its image data is truncated, not decoded in part.
    let full = webp(64, 48);
    assert_eq!(refused(&full[..full.len() - 8]), PhotoError::Truncated);
}

#[test]
fn a_tiny_but_real_webp_under_2048_by_2048_still_decodes() {
    // A near-blank lossless screenshot: a few hundred bytes for 1.2 MP, far more pixels a byte
    // than the plausibility rule allows above 2048 x 2048, but under it anything goes.
    let input = webp(1200, 1000);
    assert!(input.len() < 4096, "{} bytes", input.len());
    let out = normalize(&input, &NormalizeOptions::default()).unwrap();
    assert_eq!((out.width, out.height), (1200, 1000));
}

#[test]
fn a_progressive_jpeg_declaring_far_more_than_its_data_plausibly_holds() {
    // About 105 KB declaring 49 MP: enough bits for one per 8x8 block (so it passes the
    // baseline rule), but jpeg-decoder would hold 150 MB of coefficients for it.
    let bomb = progressive_jpeg_claiming(7000, 7000);
    assert!(
        (7000 / 8) * (7000 / 8) / 8 < bomb.len() && bomb.len() < 150_000,
        "{} bytes",
        bomb.len()
    );
    assert!(matches!(
        refused(&bomb),
        PhotoError::ImplausibleSize {
            width: 7000,
            height: 7000,
            ..
        }
    ));
}
