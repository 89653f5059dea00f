//! Pixel work: RGB from the image crate and jpeg-decoder, YCbCr planes from there on (colour
//! conversions, the fit, the EXIF orientation as a mapping the encoder reads through).

use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::U8;
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};

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

/// One 8-bit channel, row-major, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plane {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Plane {
    fn filled(width: u32, height: u32, value: u8) -> Plane {
        Plane {
            width,
            height,
            data: vec![value; width as usize * height as usize],
        }
    }
}

/// YCbCr (JFIF, full range) as planes, as a JPEG holds it: the luma plane at full size, Cb and
/// Cr each `ceil(width / h_sub) x ceil(height / v_sub)` (`h_sub`, `v_sub` 1 or 2). 1.5 bytes a
/// pixel at 4:2:0, half of interleaved RGB. `chroma` is None for grayscale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ycc {
    pub y: Plane,
    pub chroma: Option<(Plane, Plane)>,
    pub h_sub: u32,
    pub v_sub: u32,
}

impl Ycc {
    pub fn width(&self) -> u32 {
        self.y.width
    }

    pub fn height(&self) -> u32 {
        self.y.height
    }

    pub fn gray(width: u32, height: u32, data: Vec<u8>) -> Result<Ycc, PhotoError> {
        if data.len() as u64 != u64::from(width) * u64::from(height) {
            return Err(PhotoError::Corrupt(
                "decoded pixel data has the wrong length".into(),
            ));
        }
        Ok(Ycc {
            y: Plane {
                width,
                height,
                data,
            },
            chroma: None,
            h_sub: 1,
            v_sub: 1,
        })
    }

    /// RGB to YCbCr 4:2:0, chroma averaged over each 2x2 (what the stored JPEG keeps anyway).
    /// The RGB is consumed; its buffer is freed before this returns.
    pub fn from_rgb(rgb: Rgb) -> Ycc {
        let (w, h) = (rgb.width as usize, rgb.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut y = Plane::filled(w as u32, h as u32, 0);
        let mut cb = Plane::filled(cw as u32, ch as u32, 128);
        let mut cr = Plane::filled(cw as u32, ch as u32, 128);
        let px = |x: usize, yy: usize| {
            let i = (yy * w + x) * 3;
            (
                i32::from(rgb.data[i]),
                i32::from(rgb.data[i + 1]),
                i32::from(rgb.data[i + 2]),
            )
        };
        // 16-bit fixed point, rounded.
        for (i, p) in rgb.data.chunks_exact(3).enumerate() {
            let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
            y.data[i] = ((19595 * r + 38470 * g + 7471 * b + 32768) >> 16) as u8;
        }
        for cy in 0..ch {
            let (y0, y1) = (2 * cy, (2 * cy + 1).min(h - 1));
            for cx in 0..cw {
                let (x0, x1) = (2 * cx, (2 * cx + 1).min(w - 1));
                let (mut r, mut g, mut b) = (0, 0, 0);
                for (x, yy) in [(x0, y0), (x1, y0), (x0, y1), (x1, y1)] {
                    let (pr, pg, pb) = px(x, yy);
                    (r, g, b) = (r + pr, g + pg, b + pb);
                }
                // Sums of four: the coefficients are divided by 4 in the shift.
                let at = cy * cw + cx;
                cb.data[at] = ((-11059 * r - 21709 * g + 32768 * b + (128 << 18) + (1 << 17)) >> 18)
                    .clamp(0, 255) as u8;
                cr.data[at] = ((32768 * r - 27439 * g - 5329 * b + (128 << 18) + (1 << 17)) >> 18)
                    .clamp(0, 255) as u8;
            }
        }
        drop(rgb);
        Ycc {
            y,
            chroma: Some((cb, cr)),
            h_sub: 2,
            v_sub: 2,
        }
    }
}

/// Fits the image inside `long_edge` with a Lanczos3 filter (sharp: text stays legible).
pub(crate) fn fit(img: Ycc, long_edge: u32) -> Result<Ycc, PhotoError> {
    let (w, h) = fit_size(img.width(), img.height(), long_edge);
    if (w, h) == (img.width(), img.height()) {
        return Ok(img);
    }
    resize(&img, w, h)
}

/// Resizes each plane (Lanczos3); chroma keeps its subsampling.
pub(crate) fn resize(img: &Ycc, width: u32, height: u32) -> Result<Ycc, PhotoError> {
    let chroma = match &img.chroma {
        Some((cb, cr)) => {
            let (cw, ch) = (width.div_ceil(img.h_sub), height.div_ceil(img.v_sub));
            Some((resize_plane(cb, cw, ch)?, resize_plane(cr, cw, ch)?))
        }
        None => None,
    };
    Ok(Ycc {
        y: resize_plane(&img.y, width, height)?,
        chroma,
        h_sub: img.h_sub,
        v_sub: img.v_sub,
    })
}

fn resize_plane(p: &Plane, width: u32, height: u32) -> Result<Plane, PhotoError> {
    if (width, height) == (p.width, p.height) {
        return Ok(p.clone());
    }
    let resize_err = |e: &dyn std::fmt::Display| PhotoError::Corrupt(format!("resize: {e}"));
    // The typed API: planes are one byte a pixel, so only fast_image_resize's U8 kernels are
    // linked. Its `resize` dispatches on the pixel type at run time, which pulls every kernel
    // of every pixel type and CPU (and a 512 KiB alpha table) into the phone's library: about
    // 2.5 MB of the bindings' 9.2 MiB.
    let src =
        TypedImageRef::<U8>::from_buffer(p.width, p.height, &p.data).map_err(|e| resize_err(&e))?;
    let mut data = vec![0u8; width as usize * height as usize];
    let mut dst =
        TypedImage::<U8>::from_buffer(width, height, &mut data).map_err(|e| resize_err(&e))?;
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize_typed(&src, &mut dst, &options)
        .map_err(|e| resize_err(&e))?;
    drop(dst);
    Ok(Plane {
        width,
        height,
        data,
    })
}

/// Turns the planes upright as EXIF orientation `o` asks (a copy of each plane; the baseline
/// JPEG decoder does this as it stores each block instead). Where a mirrored chroma plane has
/// an odd width or height, its grid ends up half a luma pixel off; invisible at chroma's
/// resolution.
pub(crate) fn orient(img: Ycc, o: u8) -> Ycc {
    if !(2..=8).contains(&o) {
        return img;
    }
    let turn = |p: Plane| {
        let (w, h) = (p.width as usize, p.height as usize);
        let (uw, uh) = upright_size(p.width, p.height, o);
        let mut data = Vec::with_capacity(w * h);
        for y in 0..uh as usize {
            for x in 0..uw as usize {
                let (sx, sy) = source_of(o, x, y, w, h);
                data.push(p.data[sy * w + sx]);
            }
        }
        Plane {
            width: uw,
            height: uh,
            data,
        }
    };
    let (h_sub, v_sub) = if o >= 5 {
        (img.v_sub, img.h_sub)
    } else {
        (img.h_sub, img.v_sub)
    };
    Ycc {
        y: turn(img.y),
        chroma: img.chroma.map(|(cb, cr)| (turn(cb), turn(cr))),
        h_sub,
        v_sub,
    }
}

/// The size of an image of stored size `width` x `height` once turned upright as EXIF
/// orientation `o` asks.
pub(crate) fn upright_size(width: u32, height: u32, o: u8) -> (u32, u32) {
    if (5..=8).contains(&o) {
        (height, width)
    } else {
        (width, height)
    }
}

/// For EXIF orientation `o` (1..=8; other values leave the image) of a stored image `w` x `h`:
/// the stored pixel that upright pixel (x, y) shows.
#[inline(always)]
pub(crate) fn source_of(o: u8, x: usize, y: usize, w: usize, h: usize) -> (usize, usize) {
    match o {
        2 => (w - 1 - x, y),
        3 => (w - 1 - x, h - 1 - y),
        4 => (x, h - 1 - y),
        5 => (y, x),
        6 => (y, h - 1 - x),
        7 => (w - 1 - y, h - 1 - x),
        8 => (w - 1 - y, x),
        _ => (x, y),
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

    /// The upright image of `img` (3 channels) under orientation `o`, through `source_of`.
    fn orient_rgb(img: &Rgb, o: u8) -> Rgb {
        let (w, h) = (img.width as usize, img.height as usize);
        let (dw, dh) = upright_size(img.width, img.height, o);
        let mut data = Vec::new();
        for y in 0..dh as usize {
            for x in 0..dw as usize {
                let (sx, sy) = source_of(o, x, y, w, h);
                data.extend_from_slice(&img.data[(sy * w + sx) * 3..(sy * w + sx) * 3 + 3]);
            }
        }
        Rgb::new(dw, dh, data).unwrap()
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
            let out = orient_rgb(&numbered(), o);
            // The planes' own orientation agrees.
            let plane = Ycc::gray(3, 2, (0u8..6).collect()).unwrap();
            assert_eq!(orient(plane, o).y.data, want, "orientation {o}");
            assert_eq!((out.width, out.height), size, "orientation {o}");
            assert_eq!(reds(&out), want, "orientation {o}");
        }
    }

    #[test]
    fn rgb_becomes_420_planes_with_averaged_chroma() {
        // 3x2: two red columns and a blue one; the chroma of the odd last column is its own.
        let data = [[255, 0, 0], [255, 0, 0], [0, 0, 255]]
            .iter()
            .cycle()
            .take(6)
            .flatten()
            .copied()
            .collect();
        let ycc = Ycc::from_rgb(Rgb::new(3, 2, data).unwrap());
        assert_eq!(ycc.y.data, [76, 76, 29, 76, 76, 29]);
        let (cb, cr) = ycc.chroma.unwrap();
        assert_eq!((cb.width, cb.height), (2, 1));
        assert_eq!(cb.data, [85, 255]);
        assert_eq!(cr.data, [255, 107]);
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
    }
}
