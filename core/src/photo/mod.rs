//! Photos: from the camera's bytes to a small, upright, metadata-free JPEG and thumbnail.
//!
//! The phone hands the core whatever the camera or the gallery produced. [`normalize`] does, in
//! this order, with no file or database touched:
//!
//! 1. **Sniff** the format from the bytes ([`sniff`]): JPEG (baseline, progressive), PNG (any
//!    depth, alpha), WebP. HEIC and everything else is [`PhotoError::UnsupportedFormat`], which
//!    tells the shell to hand over JPEG (iOS: ask the picker for `public.jpeg`).
//! 2. **Budgets from the header**, before any pixel is decoded: the input size, the declared pixel
//!    count (a decompression bomb is refused here, having allocated almost nothing), a zero
//!    width or height, the size of an embedded ICC profile, data too short or implausibly small
//!    for the declared size.
//! 3. **Decode** to upright YCbCr planes. A JPEG decodes DCT-scaled (1/2, 1/4, 1/8) when that
//!    still fills the target: a 12 MP photo never exists at full size in memory. A baseline
//!    JPEG (what cameras write) goes through `baseline.rs`, which keeps the file's own planes
//!    and stores each block where the EXIF **orientation** (all eight values) puts it;
//!    others through jpeg-decoder or the image crate, turned afterwards. CMYK/YCCK, grayscale
//!    and RGB become YCbCr; alpha is composed over white. A truncated file is
//!    [`PhotoError::Truncated`], never a half-gray image.
//! 4. **Fit** inside the long edge for the photo's kind (Lanczos3 on each plane: text stays
//!    legible).
//! 5. **Encode** JPEG at quality 82, 4:2:0, from the planes (`encode.rs`), with no metadata at
//!    all (no EXIF, GPS, device, time, ICC); the 320 px thumbnail is made from the fitted image,
//!    beside the photo's encoding.
//! 6. The SHA-256 of the stored JPEG is its content address.
//!
//! The capture time and GPS position the camera wrote are returned in [`CaptureInfo`] for the
//! database, where the crew and the server can use them; they never reach the stored files.
//! [`PhotoFiles`] stores the results atomically; `Store::add_photo` ties it all to an order.
//!
//! Everything here is pure Rust (the baseline decoder and the encoder here, jpeg-decoder,
//! fast_image_resize, image for PNG/WebP), so it cross-compiles for Android and iOS without a C
//! toolchain. A large photo uses up to `threads()` threads (two on the decode, the encode's row
//! bands and the thumbnail beside them); the result is the same whatever their number.

mod baseline;
pub mod cipher;
mod decode;
mod encode;
mod error;
mod files;
mod header;
mod meta;
mod pixels;
mod sniff;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::work_order::DocumentKind;

pub use error::PhotoError;
pub use files::{PhotoFiles, ReadError, is_content_address};
pub use meta::CaptureInfo;
pub use sniff::{SourceFormat, sniff};

/// Limits and targets of one normalisation. [`NormalizeOptions::for_kind`] gives the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizeOptions {
    /// The stored photo fits inside this long edge (px). A JPEG may come out up to 10% under it
    /// when a DCT-scaled decode gets there (4032 px -> 2016 px for 2048) instead of resampling.
    pub max_long_edge: u32,
    /// The thumbnail fits inside this long edge (px).
    pub thumbnail_long_edge: u32,
    /// JPEG quality of the stored files, 1..=100.
    pub quality: u8,
    /// Images declaring more pixels than this are refused from their header.
    pub max_pixels: u64,
    /// Inputs larger than this are refused before parsing.
    pub max_input_bytes: usize,
    /// Embedded ICC profiles larger than this are refused (phone profiles are a few KB).
    pub max_icc_bytes: usize,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        Self {
            max_long_edge: 2048,
            thumbnail_long_edge: 320,
            quality: 82,
            max_pixels: 50_000_000,
            max_input_bytes: 40 << 20,
            max_icc_bytes: 1 << 20,
        }
    }
}

impl NormalizeOptions {
    /// The defaults for a kind of photo: documents and meters keep 2048 px so small print and
    /// register digits stay legible; site photos 1600 px; signatures 1024 px.
    pub fn for_kind(kind: DocumentKind) -> Self {
        let max_long_edge = match kind {
            DocumentKind::Site | DocumentKind::Other => 1600,
            DocumentKind::Signature => 1024,
            _ => 2048,
        };
        Self {
            max_long_edge,
            ..Self::default()
        }
    }

    fn check(&self) -> Result<(), PhotoError> {
        if !(16..=8192).contains(&self.max_long_edge) {
            return Err(PhotoError::InvalidOptions(
                "max_long_edge must be 16..=8192",
            ));
        }
        if !(16..=self.max_long_edge).contains(&self.thumbnail_long_edge) {
            return Err(PhotoError::InvalidOptions(
                "thumbnail_long_edge must be 16..=max_long_edge",
            ));
        }
        if !(1..=100).contains(&self.quality) {
            return Err(PhotoError::InvalidOptions("quality must be 1..=100"));
        }
        if self.max_pixels == 0 || self.max_input_bytes == 0 {
            return Err(PhotoError::InvalidOptions("budgets must be positive"));
        }
        Ok(())
    }
}

/// What a header says, without decoding ([`probe`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub format: SourceFormat,
    /// As displayed, i.e. after the EXIF orientation.
    pub width: u32,
    pub height: u32,
    /// The EXIF orientation, 1..=8 (1 = upright).
    pub orientation: u8,
}

/// A normalised photo, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizedPhoto {
    /// The stored JPEG: upright, fitted, no metadata.
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub thumbnail: Vec<u8>,
    pub thumbnail_width: u32,
    pub thumbnail_height: u32,
    /// Lowercase hex SHA-256 of `jpeg`: the content address.
    pub sha256: String,
    pub source: SourceInfo,
    pub capture: CaptureInfo,
}

/// How many threads one normalisation may use: the decoding of a large baseline JPEG is split
/// in two (entropy decoding, and the inverse DCT beside it), the encoding of the stored photo
/// into bands of rows, with the thumbnail beside them. At most 4: a photo is a few tens of
/// milliseconds of work, and the app has other things to do.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Entry points for the fuzz targets in `core/fuzz` (see docs/photos.md): not an API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// The baseline decoder as `normalize` reaches it: after the header's budget checks (default
    /// options), at `eighths`/8 of the size, turned upright as `orientation` asks, on up to
    /// `threads` threads. Ok(None): not a JPEG the baseline decoder takes. Checks what it
    /// returns against the header: the declared size at that scale, planes of their size.
    pub fn baseline(
        bytes: &[u8],
        eighths: u32,
        orientation: u8,
        threads: usize,
    ) -> Result<Option<(u32, u32)>, PhotoError> {
        let options = NormalizeOptions::default();
        let format = check_input(bytes, &options)?;
        let header = header::read(format, bytes, &options)?;
        if format != SourceFormat::Jpeg || header.progressive {
            return Ok(None);
        }
        let Some(img) = baseline::decode(bytes, eighths, orientation, threads)? else {
            return Ok(None);
        };
        let scaled = |v: u32| (v * eighths).div_ceil(8);
        let (w, h) = pixels::upright_size(scaled(header.width), scaled(header.height), orientation);
        assert_eq!((img.width(), img.height()), (w, h), "the header's size");
        assert_eq!(img.y.data.len(), w as usize * h as usize, "the luma plane");
        if let Some((cb, cr)) = &img.chroma {
            let (cw, ch) = (w.div_ceil(img.h_sub), h.div_ceil(img.v_sub));
            for p in [cb, cr] {
                assert_eq!((p.width, p.height), (cw, ch), "a chroma plane's size");
                assert_eq!(p.data.len(), cw as usize * ch as usize, "a chroma plane");
            }
        }
        Ok(Some((w, h)))
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn check_input(bytes: &[u8], options: &NormalizeOptions) -> Result<SourceFormat, PhotoError> {
    options.check()?;
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    if bytes.len() > options.max_input_bytes {
        return Err(PhotoError::TooLarge {
            bytes: bytes.len(),
            max: options.max_input_bytes,
        });
    }
    sniff(bytes)
}

fn displayed(width: u32, height: u32, orientation: u8) -> (u32, u32) {
    pixels::upright_size(width, height, orientation)
}

/// Reads only the header: the format, size and orientation, after the same budget checks as
/// [`normalize`]. Cheap (no pixel is decoded).
pub fn probe(bytes: &[u8], options: &NormalizeOptions) -> Result<SourceInfo, PhotoError> {
    let format = check_input(bytes, options)?;
    let header = header::read(format, bytes, options)?;
    let orientation = header.exif.map_or(1, |e| meta::read(e).orientation);
    let (width, height) = displayed(header.width, header.height, orientation);
    Ok(SourceInfo {
        format,
        width,
        height,
        orientation,
    })
}

/// Turns the camera's bytes into the stored JPEG and thumbnail. CPU-heavy (a few hundredths of
/// a second for a 12 MP photo on two desktop cores, on up to four threads): call it off
/// the main thread.
pub fn normalize(bytes: &[u8], options: &NormalizeOptions) -> Result<NormalizedPhoto, PhotoError> {
    let format = check_input(bytes, options)?;
    let header = header::read(format, bytes, options)?;
    let header_exif = header.exif.map(meta::read);
    let decoded = decode::decode(
        bytes,
        &header,
        options,
        header_exif.as_ref().map_or(1, |e| e.orientation),
    )?;
    let orientation = decoded.orientation;
    let exif = match (header_exif, &decoded.exif) {
        (Some(e), _) => e,
        (None, Some(e)) => meta::read(e),
        (None, None) => meta::ExifInfo {
            orientation: 1,
            ..Default::default()
        },
    };
    // Upright from here on.
    let fitted = pixels::fit(decoded.image, options.max_long_edge)?;
    let (out_w, out_h) = (fitted.width(), fitted.height());
    let (thumb_w, thumb_h) = pixels::fit_size(out_w, out_h, options.thumbnail_long_edge);
    let threads = threads();
    let thumbnail = |jpeg: Option<&Vec<u8>>| match jpeg {
        Some(jpeg) if (thumb_w, thumb_h) == (out_w, out_h) => Ok(jpeg.clone()),
        _ => encode::jpeg(
            &pixels::resize(&fitted, thumb_w, thumb_h)?,
            options.quality,
            1,
        ),
    };
    let (jpeg, thumbnail) = if threads > 1 && (thumb_w, thumb_h) != (out_w, out_h) {
        // The thumbnail beside the photo's encoding.
        std::thread::scope(|s| {
            // Made here, after the photo, if the system will not start a thread.
            let thumb = std::thread::Builder::new()
                .spawn_scoped(s, || thumbnail(None))
                .ok();
            let jpeg = encode::jpeg(&fitted, options.quality, threads);
            let thumb = match thumb {
                Some(thumb) => thumb
                    .join()
                    .unwrap_or_else(|_| Err(PhotoError::Encode("the thumbnail failed".into()))),
                None => thumbnail(None),
            };
            (jpeg, thumb)
        })
    } else {
        let jpeg = encode::jpeg(&fitted, options.quality, threads)?;
        let thumb = thumbnail(Some(&jpeg));
        (Ok(jpeg), thumb)
    };
    let (jpeg, thumbnail) = (jpeg?, thumbnail?);
    let (width, height) = displayed(header.width, header.height, orientation);
    Ok(NormalizedPhoto {
        sha256: sha256_hex(&jpeg),
        width: out_w,
        height: out_h,
        jpeg,
        thumbnail,
        thumbnail_width: thumb_w,
        thumbnail_height: thumb_h,
        source: SourceInfo {
            format,
            width,
            height,
            orientation,
        },
        capture: exif.capture,
    })
}
