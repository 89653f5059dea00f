//! JPEG encoding of the stored files: 4:2:0, the standard (Annex K) Huffman tables, not
//! optimised ones (those make files somewhat smaller but need every coefficient of the image
//! held for a second pass), and nothing but the pixels (jpeg-encoder writes a bare JFIF
//! header: no EXIF, no GPS, no ICC, no comment).
//!
//! The encoder reads the (upright) YCbCr planes as they are: a baseline photo goes from the
//! camera's planes to the stored file without a colour conversion.

use jpeg_encoder::{ChromaSubsamplingMethod, Encoder, ImageBuffer, JpegColorType, SamplingFactor};

use super::PhotoError;
use super::pixels::Ycc;

/// `Ycc` as jpeg-encoder sees it: rows with chroma at full size (each sample repeated over the
/// 1x1, 2x1, 1x2 or 2x2 pixels it covers).
struct Rows<'a> {
    img: &'a Ycc,
    width: u16,
    height: u16,
}

impl ImageBuffer for Rows<'_> {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let img = self.img;
        let w = img.width() as usize;
        let y = usize::from(y);
        let [luma, cb_out, cr_out, _] = buffers;
        luma.extend_from_slice(&img.y.data[y * w..(y + 1) * w]);
        let Some((cb, cr)) = &img.chroma else {
            cb_out.resize(cb_out.len() + w, 128);
            cr_out.resize(cr_out.len() + w, 128);
            return;
        };
        let cw = cb.width as usize;
        let base = y / img.v_sub as usize * cw;
        for (plane, out) in [(cb, cb_out), (cr, cr_out)] {
            let row = &plane.data[base..base + cw];
            if img.h_sub == 2 {
                out.reserve(w);
                for &c in &row[..w / 2] {
                    out.extend_from_slice(&[c, c]);
                }
                if w % 2 == 1 {
                    out.push(row[w / 2]);
                }
            } else {
                out.extend_from_slice(row);
            }
        }
    }
}

/// Encodes the (upright) image.
pub(crate) fn jpeg(img: &Ycc, quality: u8) -> Result<Vec<u8>, PhotoError> {
    let (w, h) = (img.width(), img.height());
    let width = u16::try_from(w).map_err(|_| PhotoError::InvalidOptions("output too wide"))?;
    let height = u16::try_from(h).map_err(|_| PhotoError::InvalidOptions("output too tall"))?;
    let mut out = Vec::with_capacity(w as usize * h as usize / 8);
    let mut encoder = Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    // 4:2:0 planes: each 2x2 holds one repeated sample, so the top-left one is exact.
    // Otherwise (4:4:4, 4:2:2, grayscale) the 2x2 average, a proper downsampling where the
    // top-left sample alone would alias.
    encoder.set_chroma_subsampling_method(if (img.h_sub, img.v_sub) == (2, 2) {
        ChromaSubsamplingMethod::Nearest
    } else {
        ChromaSubsamplingMethod::Average
    });
    encoder.set_optimized_huffman_tables(false);
    encoder
        .encode_image(Rows { img, width, height })
        .map_err(|e| PhotoError::Encode(e.to_string()))?;
    Ok(out)
}
