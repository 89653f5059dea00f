//! Pixel work on packed 8-bit RGB: colour conversions, the EXIF orientation, the fit.

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::PhotoError;

/// Packed 8-bit RGB, row-major, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rgb {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Rgb {
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Rgb, PhotoError> {
        if data.len() as u64 != u64::from(width) * u64::from(height) * 3 {
            return Err(PhotoError::Corrupt(
                "decoded pixel data has the wrong length".into(),
            ));
        }
        Ok(Rgb {
            width,
            height,
            data,
        })
    }
}

pub(crate) fn gray_to_rgb(gray: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(gray.len() * 3);
    for &g in gray {
        out.extend_from_slice(&[g, g, g]);
    }
    out
}

/// CMYK as ink amounts (255 = full ink), as jpeg-decoder returns Adobe CMYK and YCCK, to RGB.
/// A naive conversion (no colour management), like most viewers; CMYK photos are rare scans.
pub(crate) fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for p in cmyk.chunks_exact(4) {
        let k = 255 - u32::from(p[3]);
        for &c in &p[..3] {
            out.push((((255 - u32::from(c)) * k + 127) / 255) as u8);
        }
    }
    out
}

/// Composes RGBA over white: a transparent background becomes paper, not black.
pub(crate) fn flatten_rgba_on_white(rgba: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgba.len() / 4 * 3);
    for p in rgba.chunks_exact(4) {
        let a = u32::from(p[3]);
        for &c in &p[..3] {
            out.push(((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8);
        }
    }
    out
}

/// The size that fits `width` x `height` inside `long_edge`, keeping the aspect ratio; the same
/// size when it already fits.
pub(crate) fn fit_size(width: u32, height: u32, long_edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= long_edge {
        return (width, height);
    }
    let scale = f64::from(long_edge) / f64::from(long);
    let side = |v: u32| ((f64::from(v) * scale).round() as u32).clamp(1, long_edge);
    (side(width), side(height))
}

/// Fits the image inside `long_edge` with a Lanczos3 filter (sharp: text stays legible).
pub(crate) fn fit(img: Rgb, long_edge: u32) -> Result<Rgb, PhotoError> {
    let (w, h) = fit_size(img.width, img.height, long_edge);
    if (w, h) == (img.width, img.height) {
        return Ok(img);
    }
    resize(&img, w, h)
}

pub(crate) fn resize(img: &Rgb, width: u32, height: u32) -> Result<Rgb, PhotoError> {
    let resize_err = |e: &dyn std::fmt::Display| PhotoError::Corrupt(format!("resize: {e}"));
    let src =
        fast_image_resize::images::ImageRef::new(img.width, img.height, &img.data, PixelType::U8x3)
            .map_err(|e| resize_err(&e))?;
    let mut dst = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| resize_err(&e))?;
    Rgb::new(width, height, dst.into_vec())
}

/// Turns the pixels upright as EXIF orientation `o` (1..=8) asks; other values leave them.
pub(crate) fn orient(img: Rgb, o: u8) -> Rgb {
    if !(2..=8).contains(&o) {
        return img;
    }
    let (w, h) = (img.width as usize, img.height as usize);
    let transposed = o >= 5;
    let (dw, dh) = if transposed { (h, w) } else { (w, h) };
    let mut out = vec![0u8; img.data.len()];
    for y in 0..dh {
        for x in 0..dw {
            // Destination (x, y) takes the source pixel (sx, sy).
            let (sx, sy) = match o {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x), // 8
            };
            let s = (sy * w + sx) * 3;
            let d = (y * dw + x) * 3;
            out[d..d + 3].copy_from_slice(&img.data[s..s + 3]);
        }
    }
    Rgb {
        width: dw as u32,
        height: dh as u32,
        data: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x2 image whose pixels are numbered 0..6 in the red channel.
    fn numbered() -> Rgb {
        let data = (0u8..6).flat_map(|i| [i, 0, 0]).collect();
        Rgb::new(3, 2, data).unwrap()
    }

    fn reds(img: &Rgb) -> Vec<u8> {
        img.data.chunks(3).map(|p| p[0]).collect()
    }

    #[test]
    fn all_eight_orientations_match_their_exif_definition() {
        // Source:  0 1 2
        //          3 4 5
        let cases: [(u8, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [0, 1, 2, 3, 4, 5]),
            (2, (3, 2), [2, 1, 0, 5, 4, 3]), // mirror
            (3, (3, 2), [5, 4, 3, 2, 1, 0]), // 180
            (4, (3, 2), [3, 4, 5, 0, 1, 2]), // flip vertical
            (5, (2, 3), [0, 3, 1, 4, 2, 5]), // transpose
            (6, (2, 3), [3, 0, 4, 1, 5, 2]), // 90 clockwise
            (7, (2, 3), [5, 2, 4, 1, 3, 0]), // transverse
            (8, (2, 3), [2, 5, 1, 4, 0, 3]), // 90 counter-clockwise
        ];
        for (o, size, want) in cases {
            let out = orient(numbered(), o);
            assert_eq!((out.width, out.height), size, "orientation {o}");
            assert_eq!(reds(&out), want, "orientation {o}");
        }
    }

    #[test]
    fn fit_keeps_the_aspect_ratio_and_never_enlarges() {
        assert_eq!(fit_size(4032, 3024, 2048), (2048, 1536));
        assert_eq!(fit_size(3024, 4032, 2048), (1536, 2048));
        assert_eq!(fit_size(800, 600, 2048), (800, 600));
        assert_eq!(fit_size(10000, 1, 320), (320, 1));
    }

    #[test]
    fn alpha_flattens_on_white_and_cmyk_converts() {
        assert_eq!(
            flatten_rgba_on_white(&[0, 0, 0, 0, 10, 20, 30, 255]),
            [255, 255, 255, 10, 20, 30]
        );
        assert_eq!(flatten_rgba_on_white(&[0, 0, 0, 128]), [127, 127, 127]);
        // Full cyan ink is (0, 255, 255); full black ink is black; no ink is white.
        assert_eq!(
            cmyk_to_rgb(&[255, 0, 0, 0, 0, 0, 0, 255, 0, 0, 0, 0]),
            [0, 255, 255, 0, 0, 0, 255, 255, 255]
        );
        assert_eq!(gray_to_rgb(&[7, 9]), [7, 7, 7, 9, 9, 9]);
    }
}
