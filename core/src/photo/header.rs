//! Reading the header before any pixel is decoded: the declared size, the embedded metadata
//! blocks, and the budget checks. A decompression bomb (a small file declaring a huge image) is
//! refused here, having allocated nothing but a few small values.

use super::sniff::SourceFormat;
use super::{NormalizeOptions, PhotoError};

/// What the header says, borrowed from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    pub format: SourceFormat,
    /// As stored, before the EXIF orientation is applied.
    pub width: u32,
    pub height: u32,
    /// The EXIF block (a TIFF structure), where the format carries one the header scan sees.
    pub exif: Option<&'a [u8]>,
    /// Total bytes of embedded ICC profile data.
    pub icc_bytes: usize,
    /// The data after the header is too short to hold the declared pixels, however well
    /// compressed: a cut-off file, or a bomb.
    pub too_short: bool,
    /// A progressive JPEG's entropy-coded data (from the first scan on), or a whole WebP: the
    /// bytes the pixels are judged against by [`implausible`].
    pub plausibility_bytes: Option<u64>,
    /// Progressive JPEG (jpeg-decoder holds every coefficient of the image until the last scan).
    pub progressive: bool,
}

/// Up to this many declared pixels (2048 x 2048), any input size is plausible: a near-blank
/// lossless WebP screenshot of 1080 x 2400 is about 1 KB, and the decode costs at most 16 MiB.
pub(crate) const PLAUSIBLE_ANY_SIZE_PIXELS: u64 = 1 << 22;
/// Above that, a WebP must carry at least a byte for every 1024 pixels (1/128 bit a pixel).
/// Lossy photos take about 1/40 of a byte a pixel and lossy screenshots 1/60; even a solid
/// 7000 x 7000 lossy WebP from libwebp takes 87 KB, 1/560. Lossless WebP has no such floor (a
/// single-colour image costs almost nothing whatever its size), so this is a plausibility rule,
/// not a bound: it refuses only huge near-blank images, which no crew photographs.
pub(crate) const WEBP_PIXELS_PER_BYTE: u64 = 1024;
/// Above that, a progressive JPEG must carry at least a byte for every 128 pixels (4 bits an
/// 8x8 block; real photos take 30 to 100). Every baseline or progressive block costs at least a
/// bit, which `too_short` checks; progressive ones get this stricter rule as well because
/// jpeg-decoder holds all their coefficients (3 bytes a pixel at 4:2:0, 150 MB for a 49 MP
/// claim in a 100 KB file) before the last scan.
pub(crate) const PROGRESSIVE_PIXELS_PER_BYTE: u64 = 128;

/// True when the declared size is implausible for the bytes that should carry it (see the
/// constants above). Memory for such input is then bounded by the input's size: at most
/// max(`PLAUSIBLE_ANY_SIZE_PIXELS`, bytes x pixels-per-byte) pixels are ever decoded.
fn implausible(h: &Header<'_>) -> bool {
    let Some(bytes) = h.plausibility_bytes else {
        return false;
    };
    let pixels = u64::from(h.width) * u64::from(h.height);
    let per_byte = match h.format {
        SourceFormat::WebP => WEBP_PIXELS_PER_BYTE,
        _ => PROGRESSIVE_PIXELS_PER_BYTE,
    };
    pixels > PLAUSIBLE_ANY_SIZE_PIXELS && pixels > bytes.saturating_mul(per_byte)
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        0,
    ]))
}

/// Parses the header of `bytes` (already sniffed as `format`) and applies the budgets.
pub(crate) fn read<'a>(
    format: SourceFormat,
    bytes: &'a [u8],
    options: &NormalizeOptions,
) -> Result<Header<'a>, PhotoError> {
    let header = match format {
        SourceFormat::Jpeg => jpeg(bytes)?,
        SourceFormat::Png => png(bytes)?,
        SourceFormat::WebP => webp(bytes)?,
    };
    if header.width == 0 || header.height == 0 {
        return Err(PhotoError::ZeroSize);
    }
    let pixels = u64::from(header.width) * u64::from(header.height);
    if pixels > options.max_pixels {
        return Err(PhotoError::TooManyPixels {
            width: header.width,
            height: header.height,
            max: options.max_pixels,
        });
    }
    if header.icc_bytes > options.max_icc_bytes {
        return Err(PhotoError::MetadataTooLarge {
            what: "ICC profile",
            bytes: header.icc_bytes,
            max: options.max_icc_bytes,
        });
    }
    if header.too_short {
        return Err(PhotoError::Truncated);
    }
    if implausible(&header) {
        return Err(PhotoError::ImplausibleSize {
            width: header.width,
            height: header.height,
            bytes: header.plausibility_bytes.unwrap_or(0),
        });
    }
    Ok(header)
}

/// Walks the JPEG segments from SOI to the first scan (SOS).
fn jpeg(b: &[u8]) -> Result<Header<'_>, PhotoError> {
    let mut pos = 2; // after SOI
    let mut size = None;
    let mut exif = None;
    let mut icc_bytes = 0usize;
    let mut progressive = false;
    loop {
        match b.get(pos) {
            None => return Err(PhotoError::Truncated),
            Some(0xFF) => {}
            Some(_) => return Err(PhotoError::Corrupt("expected a JPEG marker".into())),
        }
        while b.get(pos) == Some(&0xFF) {
            pos += 1; // fill bytes
        }
        let marker = *b.get(pos).ok_or(PhotoError::Truncated)?;
        pos += 1;
        match marker {
            0x01 | 0xD0..=0xD7 => continue, // standalone markers
            0xD8 => return Err(PhotoError::Corrupt("a second start-of-image marker".into())),
            0xD9 => {
                return Err(PhotoError::Corrupt(
                    "the JPEG ends before any image data".into(),
                ));
            }
            _ => {}
        }
        let len = be16(b, pos).ok_or(PhotoError::Truncated)? as usize;
        if len < 2 {
            return Err(PhotoError::Corrupt(
                "a JPEG segment with a bad length".into(),
            ));
        }
        let end = pos + len;
        let payload = b.get(pos + 2..end).ok_or(PhotoError::Truncated)?;
        match marker {
            0xC0..=0xC2 => {
                if size.is_some() {
                    return Err(PhotoError::Corrupt("two JPEG frame headers".into()));
                }
                let (precision, height, width, components) = (
                    *payload.first().ok_or(PhotoError::Truncated)?,
                    be16(payload, 1).ok_or(PhotoError::Truncated)?,
                    be16(payload, 3).ok_or(PhotoError::Truncated)?,
                    *payload.get(5).ok_or(PhotoError::Truncated)?,
                );
                if precision != 8 {
                    return Err(PhotoError::UnsupportedFormat {
                        detected: Some("JPEG with more than 8 bits per sample"),
                    });
                }
                if !matches!(components, 1 | 3 | 4) {
                    return Err(PhotoError::Corrupt(format!(
                        "a JPEG with {components} colour components"
                    )));
                }
                size = Some((width, height));
                progressive = marker == 0xC2;
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(PhotoError::UnsupportedFormat {
                    detected: Some("lossless, hierarchical or arithmetic-coded JPEG"),
                });
            }
            0xE1 if exif.is_none() && payload.starts_with(b"Exif\0\0") => {
                exif = Some(&payload[6..]);
            }
            0xE2 if payload.starts_with(b"ICC_PROFILE\0") => {
                icc_bytes = icc_bytes.saturating_add(payload.len().saturating_sub(14));
            }
            0xDA => {
                let (width, height) = size.ok_or_else(|| {
                    PhotoError::Corrupt("a JPEG scan before its frame header".into())
                })?;
                // Every 8x8 luma block costs at least one bit of entropy-coded data (a Huffman
                // code is never shorter), so a header declaring far more blocks than the data
                // could hold is a cut-off file or a bomb; jpeg-decoder would fill the rest gray.
                let blocks = u64::from(width.div_ceil(8)) * u64::from(height.div_ceil(8));
                let rest = (b.len() - pos) as u64;
                let too_short = rest.saturating_mul(8) < blocks;
                return Ok(Header {
                    format: SourceFormat::Jpeg,
                    width,
                    height,
                    exif,
                    icc_bytes,
                    too_short,
                    plausibility_bytes: progressive.then_some(rest),
                    progressive,
                });
            }
            _ => {}
        }
        pos = end;
    }
}

/// Reads IHDR and the chunks before the first IDAT.
fn png(b: &[u8]) -> Result<Header<'_>, PhotoError> {
    let mut pos = 8;
    let mut bits_per_pixel = 8u64;
    let mut size = None;
    let mut exif = None;
    let mut icc_bytes = 0usize;
    loop {
        let len = be32(b, pos).ok_or(PhotoError::Truncated)? as usize;
        let kind = b.get(pos + 4..pos + 8).ok_or(PhotoError::Truncated)?;
        let data_end = (pos + 8).checked_add(len).ok_or(PhotoError::Truncated)?;
        if size.is_none() && kind != b"IHDR" {
            return Err(PhotoError::Corrupt(
                "a PNG whose first chunk is not IHDR".into(),
            ));
        }
        match kind {
            b"IHDR" => {
                let data = b.get(pos + 8..data_end).ok_or(PhotoError::Truncated)?;
                if len != 13 {
                    return Err(PhotoError::Corrupt(
                        "a PNG header of the wrong length".into(),
                    ));
                }
                size = Some((be32(data, 0).unwrap_or(0), be32(data, 4).unwrap_or(0)));
                let channels = match data[9] {
                    2 => 3,
                    4 => 2,
                    6 => 4,
                    _ => 1,
                };
                bits_per_pixel = channels * u64::from(data[8]);
            }
            // Compressed: its length is a lower bound on the profile; the decoder's allocation
            // limit bounds the decompressed size.
            b"iCCP" => icc_bytes = icc_bytes.saturating_add(len),
            b"eXIf" => exif = b.get(pos + 8..data_end),
            b"IDAT" | b"IEND" => {
                let (width, height) = size.unwrap_or((0, 0));
                // Deflate cannot compress better than about 1032:1, so the rest of the file
                // bounds the pixel data it can hold; far less is a cut-off file or a bomb.
                let raw = u64::from(height) * (1 + (u64::from(width) * bits_per_pixel).div_ceil(8));
                let too_short = ((b.len() - pos) as u64).saturating_mul(1032) < raw;
                return Ok(Header {
                    format: SourceFormat::Png,
                    width,
                    height,
                    exif,
                    icc_bytes,
                    too_short,
                    plausibility_bytes: None,
                    progressive: false,
                });
            }
            _ => {}
        }
        pos = data_end + 4; // CRC
    }
}

/// Reads the canvas size from the first chunk (VP8, VP8L or VP8X) and the chunk list.
fn webp(b: &[u8]) -> Result<Header<'_>, PhotoError> {
    let mut pos = 12;
    let mut size = None;
    let mut icc_bytes = 0usize;
    let mut exif = None;
    let mut too_short = false;
    while let Some(kind) = b.get(pos..pos + 4) {
        let len = u32::from_le_bytes(
            b.get(pos + 4..pos + 8)
                .ok_or(PhotoError::Truncated)?
                .try_into()
                .map_err(|_| PhotoError::Truncated)?,
        ) as usize;
        let data = &b[(pos + 8).min(b.len())..(pos + 8).saturating_add(len).min(b.len())];
        // The image data (a still frame, or an animation frame) runs past the end: cut off.
        if matches!(kind, b"VP8 " | b"VP8L" | b"ANMF") && data.len() < len {
            too_short = true;
        }
        match kind {
            b"VP8X" if size.is_none() => {
                size = Some((
                    le24(data, 4).ok_or(PhotoError::Truncated)? + 1,
                    le24(data, 7).ok_or(PhotoError::Truncated)? + 1,
                ));
            }
            b"VP8 " if size.is_none() => {
                if data.len() < 10 {
                    return Err(PhotoError::Truncated);
                }
                if data[3..6] != [0x9D, 0x01, 0x2A] {
                    return Err(PhotoError::Corrupt(
                        "a WebP frame without its start code".into(),
                    ));
                }
                let w = u32::from(u16::from_le_bytes([data[6], data[7]])) & 0x3FFF;
                let h = u32::from(u16::from_le_bytes([data[8], data[9]])) & 0x3FFF;
                size = Some((w, h));
            }
            b"VP8L" if size.is_none() => {
                if data.first() != Some(&0x2F) || data.len() < 5 {
                    return Err(PhotoError::Corrupt(
                        "a lossless WebP without its signature".into(),
                    ));
                }
                let bits = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
                size = Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1));
            }
            b"ICCP" => icc_bytes = icc_bytes.saturating_add(len),
            b"EXIF" => exif = Some(data),
            _ => {}
        }
        pos = (pos + 8).saturating_add(len).saturating_add(len & 1);
    }
    let (width, height) = size.ok_or(PhotoError::Truncated)?;
    Ok(Header {
        format: SourceFormat::WebP,
        width,
        height,
        exif,
        icc_bytes,
        too_short,
        plausibility_bytes: Some(b.len() as u64),
        progressive: false,
    })
}
