//! Recognising the format from the bytes themselves: a file name or MIME type from the shell is
//! not trusted (a PDF renamed `.jpg` is still a PDF).

use serde::{Deserialize, Serialize};

use super::PhotoError;

/// The formats the pipeline decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// Baseline or progressive JPEG (8-bit, Huffman-coded; grayscale, YCbCr, CMYK or YCCK).
    Jpeg,
    /// PNG, any colour type and bit depth, with or without alpha.
    Png,
    /// WebP, lossy or lossless, with or without alpha.
    WebP,
}

crate::text_enum!(SourceFormat { Jpeg => "jpeg", Png => "png", WebP => "webp" });

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Tells the format from the first bytes. Anything but JPEG, PNG and WebP is
/// [`PhotoError::UnsupportedFormat`], naming what it looks like where that is known (HEIC, PDF...).
pub fn sniff(bytes: &[u8]) -> Result<SourceFormat, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(SourceFormat::Jpeg);
    }
    if bytes.starts_with(PNG_SIGNATURE) {
        return Ok(SourceFormat::Png);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Ok(SourceFormat::WebP);
    }
    // The start of a JPEG or PNG signature, cut short.
    if [0xFF, 0xD8].starts_with(bytes) || PNG_SIGNATURE.starts_with(bytes) {
        return Err(PhotoError::Truncated);
    }
    Err(PhotoError::UnsupportedFormat {
        detected: detect_other(bytes),
    })
}

/// Names common formats the pipeline refuses, so the error message can say what was handed over.
fn detect_other(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"%PDF") {
        return Some("PDF");
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        return Some(match &b[8..12] {
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"hevm" | b"hevs"
            | b"mif1" | b"msf1" => "HEIC",
            b"avif" | b"avis" => "AVIF",
            _ => "ISO media (video?)",
        });
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some("GIF");
    }
    if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") {
        return Some("TIFF or camera raw");
    }
    if b.starts_with(b"BM") {
        return Some("BMP");
    }
    if b.starts_with(&[0xFF, 0x0A]) || b.starts_with(b"\0\0\0\x0cJXL ") {
        return Some("JPEG XL");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_supported_and_names_refused_formats() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Ok(SourceFormat::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Ok(SourceFormat::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Ok(SourceFormat::WebP));
        assert_eq!(sniff(b""), Err(PhotoError::Empty));
        assert_eq!(sniff(&[0xFF]), Err(PhotoError::Truncated));
        assert_eq!(sniff(b"\x89PN"), Err(PhotoError::Truncated));
        let refused = |b: &[u8]| match sniff(b) {
            Err(PhotoError::UnsupportedFormat { detected }) => detected,
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        };
        assert_eq!(refused(b"%PDF-1.7\n"), Some("PDF"));
        assert_eq!(refused(b"\0\0\0\x18ftypheic\0\0\0\0"), Some("HEIC"));
        assert_eq!(refused(b"\0\0\0\x18ftypmif1\0\0\0\0"), Some("HEIC"));
        assert_eq!(refused(b"\0\0\0\x18ftypavif\0\0\0\0"), Some("AVIF"));
        assert_eq!(refused(b"GIF89a...."), Some("GIF"));
        assert_eq!(refused(b"hello world"), None);
    }
}
