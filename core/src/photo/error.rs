//! The typed errors of photo normalization.

/// Why a photo could not be normalized. Every variant is a property of the input (or the
/// options), never a panic; the shell maps them to a message for the crew.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// The shell handed over zero bytes.
    #[error("no image data (0 bytes)")]
    Empty,
    /// Not a JPEG, PNG or WebP. `detected` names what the bytes look like, where known.
    #[error(
        "unsupported image format{}: hand over the camera's JPEG (or a PNG/WebP)",
        match detected { Some(d) => format!(" ({d})"), None => String::new() }
    )]
    UnsupportedFormat { detected: Option<&'static str> },
    /// The input is bigger than `NormalizeOptions::max_input_bytes`; refused before decoding.
    #[error("image data is {bytes} bytes, over the limit of {max} bytes")]
    TooLarge { bytes: usize, max: usize },
    /// The header declares more pixels than `NormalizeOptions::max_pixels` (e.g. a
    /// decompression bomb); refused from the header, before any pixel buffer is allocated.
    #[error("image is {width}x{height} pixels, over the limit of {max} pixels")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    /// The header declares a zero width or height.
    #[error("image has zero width or height")]
    ZeroSize,
    /// The header declares far more pixels than data of this size plausibly holds (a progressive
    /// JPEG or a WebP; e.g. a few KB declaring 49 MP): a decompression bomb, refused from the
    /// header. Images up to 2048 x 2048 are never refused for this.
    #[error(
        "image declares {width}x{height} pixels in only {bytes} bytes of data: refused as a likely decompression bomb"
    )]
    ImplausibleSize { width: u32, height: u32, bytes: u64 },
    /// The data ends before the image does (cut-off upload or copy; JPEG without EOI).
    #[error("image data is truncated")]
    Truncated,
    /// The data is malformed in some other way.
    #[error("image data is corrupt: {0}")]
    Corrupt(String),
    /// An embedded metadata block (e.g. an ICC profile) is implausibly large.
    #[error("{what} is {bytes} bytes, over the limit of {max} bytes")]
    MetadataTooLarge {
        what: &'static str,
        bytes: usize,
        max: usize,
    },
    /// The options cannot be satisfied (e.g. a zero long edge).
    #[error("invalid normalize options: {0}")]
    InvalidOptions(&'static str),
    /// The JPEG encoder failed (should not happen for valid pixel data).
    #[error("could not encode the output JPEG: {0}")]
    Encode(String),
}
