//! JPEG encoding of the stored files: 4:2:0, optimised Huffman tables, and nothing but the
//! pixels (jpeg-encoder writes a bare JFIF header: no EXIF, no GPS, no ICC, no comment).

use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

use super::PhotoError;
use super::pixels::Rgb;

pub(crate) fn jpeg(img: &Rgb, quality: u8) -> Result<Vec<u8>, PhotoError> {
    let w = u16::try_from(img.width).map_err(|_| PhotoError::InvalidOptions("output too wide"))?;
    let h = u16::try_from(img.height).map_err(|_| PhotoError::InvalidOptions("output too tall"))?;
    let mut out = Vec::with_capacity(img.data.len() / 8);
    let mut encoder = Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    encoder.set_optimized_huffman_tables(false);
    encoder
        .encode(&img.data, w, h, ColorType::Rgb)
        .map_err(|e| PhotoError::Encode(e.to_string()))?;
    Ok(out)
}
