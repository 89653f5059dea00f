//! Decoding to YCbCr planes. JPEG decodes DCT-scaled: a 4032 px photo bound for 2048 decodes
//! straight to 2016 px, a quarter of the pixels, so the full-size image never exists in
//! memory. Baseline JPEGs (what cameras write) go through [`baseline`](super::baseline)
//! straight to the file's own planes; progressive, CMYK and the other rare kinds through
//! jpeg-decoder to RGB. PNG and WebP go through the image crate under allocation limits.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::header::Header;
use super::pixels::{self, Rgb, Ycc};
use super::sniff::SourceFormat;
use super::{NormalizeOptions, PhotoError};

/// A DCT-scaled decode may land this far under the long edge (4032 -> 2016 for 2048) rather than
/// decode at full size and resample: 1.6% fewer pixels across is not a legibility difference,
/// while the full-size decode costs four times the memory and twice the time.
pub(crate) const DCT_SLACK: f64 = 0.9;

/// The DCT scale, in eighths (8 = full size, 4 = half, 2 = quarter, 1 = eighth), for a JPEG of
/// long edge `long` bound for `target`: the smallest whose result is at least
/// `DCT_SLACK * target`.
pub(crate) fn dct_eighths(long: u32, target: u32) -> u32 {
    [1u32, 2, 4]
        .into_iter()
        .find(|&k| f64::from((long * k).div_ceil(8)) >= DCT_SLACK * f64::from(target))
        .unwrap_or(8)
}

pub(crate) struct Decoded {
    /// Upright: the orientation is applied.
    pub image: Ycc,
    /// The orientation applied: the decoder's (PNG and WebP), else the one passed in.
    pub orientation: u8,
    /// The EXIF block the decoder found, where the header scan did not see one.
    pub exif: Option<Vec<u8>>,
}

/// Decodes and turns the image upright: as the decoder's own orientation says (PNG, WebP), or
/// else as `orientation` (from the header's EXIF).
pub(crate) fn decode(
    bytes: &[u8],
    header: &Header<'_>,
    options: &NormalizeOptions,
    orientation: u8,
) -> Result<Decoded, PhotoError> {
    // Defence in depth: a decoder bug must not take the app down. Input that makes a decoder
    // panic is corrupt input.
    catch_unwind(AssertUnwindSafe(|| match header.format {
        SourceFormat::Jpeg => jpeg(bytes, header, options, orientation),
        SourceFormat::Png => {
            with_image_crate(bytes, ImageFormat::Png, header, options, orientation)
        }
        SourceFormat::WebP => {
            with_image_crate(bytes, ImageFormat::WebP, header, options, orientation)
        }
    }))
    .unwrap_or_else(|_| {
        Err(PhotoError::Corrupt(
            "the decoder failed on this input".into(),
        ))
    })
}

fn jpeg(
    bytes: &[u8],
    header: &Header<'_>,
    options: &NormalizeOptions,
    orientation: u8,
) -> Result<Decoded, PhotoError> {
    use jpeg_decoder::{Decoder, PixelFormat};

    let k = dct_eighths(header.width.max(header.height), options.max_long_edge);
    // Baseline: straight to upright planes. Progressive (and whatever the baseline decoder
    // leaves): jpeg-decoder.
    if !header.progressive
        && let Some(image) = super::baseline::decode(bytes, k, orientation, super::threads())?
    {
        return Ok(Decoded {
            image,
            orientation,
            exif: None,
        });
    }
    let mut decoder = Decoder::new(bytes);
    // Header checks passed, so this bounds only what the decoder allocates for output.
    decoder.set_max_decoding_buffer_size(
        usize::try_from(options.max_pixels.saturating_mul(4)).unwrap_or(usize::MAX),
    );
    decoder.read_info().map_err(jpeg_error)?;
    if k < 8 {
        let want = |v: u32| u16::try_from((v * k).div_ceil(8)).unwrap_or(u16::MAX);
        decoder
            .scale(want(header.width), want(header.height))
            .map_err(jpeg_error)?;
    }
    let data = decoder.decode().map_err(jpeg_error)?;
    let info = decoder
        .info()
        .ok_or_else(|| PhotoError::Corrupt("JPEG without a frame".into()))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let image = match info.pixel_format {
        PixelFormat::RGB24 => Ycc::from_rgb(Rgb::new(w, h, data)?),
        PixelFormat::L8 => Ycc::gray(w, h, data)?,
        PixelFormat::CMYK32 => {
            let rgb = pixels::cmyk_to_rgb(&data);
            drop(data);
            Ycc::from_rgb(Rgb::new(w, h, rgb)?)
        }
        PixelFormat::L16 => {
            return Err(PhotoError::UnsupportedFormat {
                detected: Some("16-bit lossless JPEG"),
            });
        }
    };
    Ok(Decoded {
        image: pixels::orient(image, orientation),
        orientation,
        exif: None,
    })
}

fn jpeg_error(e: jpeg_decoder::Error) -> PhotoError {
    use jpeg_decoder::Error;
    match e {
        Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => PhotoError::Truncated,
        Error::Io(io) => PhotoError::Corrupt(io.to_string()),
        Error::Unsupported(_) => PhotoError::UnsupportedFormat {
            detected: Some("a JPEG variant this decoder does not support"),
        },
        Error::Format(msg) => PhotoError::Corrupt(msg),
        other => PhotoError::Corrupt(other.to_string()),
    }
}

fn with_image_crate(
    bytes: &[u8],
    format: ImageFormat,
    header: &Header<'_>,
    options: &NormalizeOptions,
    orientation: u8,
) -> Result<Decoded, PhotoError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(header.width);
    limits.max_image_height = Some(header.height);
    // 16-bit RGBA is 8 bytes a pixel; plus room for metadata chunks.
    limits.max_alloc = Some(
        options
            .max_pixels
            .saturating_mul(8)
            .saturating_add(16 << 20),
    );
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let orientation = decoder
        .orientation()
        .ok()
        .map_or(orientation, orientation_code);
    let exif = if header.exif.is_none() {
        decoder.exif_metadata().ok().flatten()
    } else {
        None
    };
    let icc_bytes = decoder.icc_profile().ok().flatten().map_or(0, |p| p.len());
    if icc_bytes > options.max_icc_bytes {
        return Err(PhotoError::MetadataTooLarge {
            what: "ICC profile",
            bytes: icc_bytes,
            max: options.max_icc_bytes,
        });
    }
    let img = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    let (w, h) = (img.width(), img.height());
    let rgb = if img.color().has_alpha() {
        let rgba = img.into_rgba8();
        pixels::flatten_rgba_on_white(rgba.as_raw())
    } else {
        img.into_rgb8().into_raw()
    };
    Ok(Decoded {
        image: pixels::orient(Ycc::from_rgb(Rgb::new(w, h, rgb)?), orientation),
        orientation,
        exif,
    })
}

fn orientation_code(o: image::metadata::Orientation) -> u8 {
    use image::metadata::Orientation::*;
    match o {
        NoTransforms => 1,
        FlipHorizontal => 2,
        Rotate180 => 3,
        FlipVertical => 4,
        Rotate90FlipH => 5,
        Rotate90 => 6,
        Rotate270FlipH => 7,
        Rotate270 => 8,
    }
}

fn image_error(e: image::ImageError) -> PhotoError {
    use image::ImageError;
    match e {
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            PhotoError::Truncated
        }
        ImageError::Unsupported(_) => PhotoError::UnsupportedFormat {
            detected: Some("a PNG or WebP variant this decoder does not support"),
        },
        ImageError::Limits(_) => {
            PhotoError::Corrupt("the image needs more memory than allowed".into())
        }
        other => {
            let msg = other.to_string();
            if msg.contains("EOF") || msg.contains("end of") || msg.contains("truncat") {
                PhotoError::Truncated
            } else {
                PhotoError::Corrupt(msg)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_scale_goes_as_far_as_the_slack_allows() {
        assert_eq!(dct_eighths(4032, 2048), 4); // 2016
        assert_eq!(dct_eighths(4032, 320), 1); // 504
        assert_eq!(dct_eighths(3000, 2048), 8); // 1500 would be too small
        assert_eq!(dct_eighths(8000, 2048), 2); // 2000
        assert_eq!(dct_eighths(1000, 2048), 8);
    }
}
