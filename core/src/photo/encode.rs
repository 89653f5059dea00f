//! JPEG encoding of the stored files: baseline, 4:2:0, the standard (Annex K) quantization
//! tables scaled to the quality as libjpeg does, the standard Huffman tables (optimised ones make
//! files somewhat smaller but need every coefficient of the image held for a second pass), and
//! nothing but the pixels: a bare JFIF header, no EXIF, no GPS, no ICC, no comment.
//!
//! The encoder reads the (upright) YCbCr planes as they are: a baseline photo goes from the
//! camera's planes to the stored file without a colour conversion or a chroma resampling. Each
//! MCU row ends with a restart marker, so the rows are independent: [`jpeg`] encodes bands of
//! them on separate threads and joins their bytes, and the file is the same whatever the number
//! of threads.
//!
//! The forward DCT is the AAN float algorithm (as libjpeg's `jfdctflt.c`), its scale factors
//! folded into the quantizer, written as whole rows of 8 lanes so that it compiles to SIMD on any
//! target; the entropy coder walks each block's non-zero coefficients through a bit mask.

use super::PhotoError;
use super::pixels::{Plane, Ycc};

/// Natural (row-major) index of the k-th coefficient in zigzag order.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Annex K.1 quantization tables, natural order.
const LUMA_QUANT: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_QUANT: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// Annex K.3 Huffman tables: the number of codes of each length 1..=16, then the symbols.
const LUMA_DC_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const CHROMA_DC_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const LUMA_AC_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
const LUMA_AC_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];
const CHROMA_AC_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const CHROMA_AC_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
    0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
    0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
    0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

/// Below this many MCUs an image is encoded on the calling thread alone (a thumbnail).
const PARALLEL_MIN_MCUS: usize = 2048;
/// MCU rows a thread takes at a time.
const CHUNK_ROWS: usize = 8;

/// The quantization table for `quality` (1..=100), natural order, as libjpeg scales it.
fn quant_table(base: &[u16; 64], quality: u8) -> [u16; 64] {
    let q = u32::from(quality.clamp(1, 100));
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    base.map(|v| ((u32::from(v) * scale + 50) / 100).clamp(1, 255) as u16)
}

/// For the AAN FDCT: the multipliers that turn its output, transposed (`[u * 8 + v]`, see
/// [`fdct`]), into coefficients divided by their quantizer.
fn reciprocals(q: &[u16; 64]) -> [f32; 64] {
    let aan = |k: usize| {
        if k == 0 {
            1.0
        } else {
            (k as f64 * std::f64::consts::PI / 16.0).cos() * std::f64::consts::SQRT_2
        }
    };
    std::array::from_fn(|i| {
        let (u, v) = (i / 8, i % 8);
        (1.0 / (f64::from(q[v * 8 + u]) * aan(u) * aan(v) * 8.0)) as f32
    })
}

/// A Huffman table for encoding: code and length by symbol.
struct HuffCodes {
    code: [u16; 256],
    len: [u8; 256],
}

impl HuffCodes {
    /// From a DHT table's counts and symbols (JPEG Annex C).
    fn new(bits: &[u8; 16], values: &[u8]) -> HuffCodes {
        let mut code = [0u16; 256];
        let mut len = [0u8; 256];
        let mut next = 0u32;
        let mut k = 0;
        for (l, &count) in bits.iter().enumerate() {
            for _ in 0..count {
                code[usize::from(values[k])] = next as u16;
                len[usize::from(values[k])] = l as u8 + 1;
                next += 1;
                k += 1;
            }
            next <<= 1;
        }
        HuffCodes { code, len }
    }
}

/// Everything the entropy coder of one component needs.
struct Component<'a> {
    plane: Option<&'a Plane>,
    recip: [f32; 64],
    dc: &'a HuffCodes,
    ac: &'a HuffCodes,
}

/// The entropy-coded bytes, MSB first, with 0xFF stuffing.
struct BitWriter {
    out: Vec<u8>,
    bits: Bits,
}

/// The bits not yet written out: the last `n` bits written are the low bits of `acc`. Copied
/// into a local while a block is coded, so that it stays in registers.
#[derive(Clone, Copy)]
struct Bits {
    acc: u64,
    n: u32,
}

impl Bits {
    /// Appends the low `len` bits of `bits` (len <= 32, bits above them zero).
    #[inline(always)]
    fn put(&mut self, out: &mut Vec<u8>, bits: u32, len: u32) {
        self.acc = (self.acc << len) | u64::from(bits);
        self.n += len;
        if self.n >= 32 {
            self.n -= 32;
            let word = (self.acc >> self.n) as u32;
            // A zero byte in !word is a 0xFF byte in word, which needs a stuffed 0x00 after it.
            let inverted = !word;
            if (inverted.wrapping_sub(0x0101_0101) & !inverted & 0x8080_8080) == 0 {
                out.extend_from_slice(&word.to_be_bytes());
            } else {
                stuffed(out, word);
            }
        }
    }
}

#[cold]
#[inline(never)]
fn stuffed(out: &mut Vec<u8>, word: u32) {
    for b in word.to_be_bytes() {
        out.push(b);
        if b == 0xFF {
            out.push(0);
        }
    }
}

impl BitWriter {
    /// Pads the last byte with one bits (as the standard asks) and writes out what is left.
    fn flush(&mut self) {
        let mut bits = self.bits;
        let pad = (8 - bits.n % 8) % 8;
        bits.put(&mut self.out, (1 << pad) - 1, pad);
        while bits.n >= 8 {
            bits.n -= 8;
            let b = (bits.acc >> bits.n) as u8;
            self.out.push(b);
            if b == 0xFF {
                self.out.push(0);
            }
        }
        self.bits = bits;
    }
}

/// The bit count of `v` (JPEG's SSSS category) and the bits that code it.
#[inline(always)]
fn category(v: i32) -> (u32, u32) {
    let size = 32 - v.unsigned_abs().leading_zeros();
    let bits = if v < 0 { v - 1 } else { v } as u32 & ((1u32 << size) - 1);
    (size, bits)
}

/// The 1-D AAN DCT of eight rows of lanes, in place: `d[k]` becomes frequency k of each lane,
/// scaled as [`reciprocals`] expects.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // x is the SIMD lane
fn dct8(d: &mut [[f32; 8]; 8]) {
    for x in 0..8 {
        let tmp0 = d[0][x] + d[7][x];
        let tmp7 = d[0][x] - d[7][x];
        let tmp1 = d[1][x] + d[6][x];
        let tmp6 = d[1][x] - d[6][x];
        let tmp2 = d[2][x] + d[5][x];
        let tmp5 = d[2][x] - d[5][x];
        let tmp3 = d[3][x] + d[4][x];
        let tmp4 = d[3][x] - d[4][x];
        // Even part.
        let tmp10 = tmp0 + tmp3;
        let tmp13 = tmp0 - tmp3;
        let tmp11 = tmp1 + tmp2;
        let tmp12 = tmp1 - tmp2;
        d[0][x] = tmp10 + tmp11;
        d[4][x] = tmp10 - tmp11;
        let z1 = (tmp12 + tmp13) * std::f32::consts::FRAC_1_SQRT_2;
        d[2][x] = tmp13 + z1;
        d[6][x] = tmp13 - z1;
        // Odd part.
        let tmp10 = tmp4 + tmp5;
        let tmp11 = tmp5 + tmp6;
        let tmp12 = tmp6 + tmp7;
        let z5 = (tmp10 - tmp12) * 0.382_683_43;
        let z2 = 0.541_196_1 * tmp10 + z5;
        let z4 = 1.306_563 * tmp12 + z5;
        let z3 = tmp11 * std::f32::consts::FRAC_1_SQRT_2;
        let z11 = tmp7 + z3;
        let z13 = tmp7 - z3;
        d[5][x] = z13 + z2;
        d[3][x] = z13 - z2;
        d[1][x] = z11 + z4;
        d[7][x] = z11 - z4;
    }
}

/// The 2-D DCT of `d` (rows of level-shifted samples), quantized with `recip`, into `out`.
/// The two passes leave it transposed (`out[u * 8 + v]` is horizontal frequency u, vertical v),
/// which `recip` and [`Zigzag`] allow for, so no second transpose is needed.
#[inline(always)]
fn fdct_quantize(d: &mut [[f32; 8]; 8], recip: &[f32; 64], out: &mut [i32; 64]) {
    dct8(d); // down each column: d[v][x]
    let mut t = [[0f32; 8]; 8];
    for (x, row) in t.iter_mut().enumerate() {
        for (v, value) in row.iter_mut().enumerate() {
            *value = d[v][x];
        }
    }
    dct8(&mut t); // along each row: t[u][v]
    for u in 0..8 {
        for v in 0..8 {
            out[u * 8 + v] = round(t[u][v] * recip[u * 8 + v]);
        }
    }
}

/// The zigzag walk over a transposed block: which coefficients are non-zero, in zigzag order,
/// without reordering the block itself.
struct Zigzag {
    /// For each row u of the transposed block and each pattern of its non-zero lanes, those
    /// coefficients' bits in zigzag order.
    bits: [[u64; 256]; 8],
    /// The transposed index of the k-th coefficient in zigzag order.
    at: [u8; 64],
}

impl Zigzag {
    /// Built once (16 KiB), on first use.
    fn get() -> &'static Zigzag {
        static ZIGZAG_WALK: std::sync::OnceLock<Box<Zigzag>> = std::sync::OnceLock::new();
        ZIGZAG_WALK.get_or_init(|| Box::new(Zigzag::new()))
    }

    fn new() -> Zigzag {
        // Zigzag position of transposed index u * 8 + v (natural v * 8 + u).
        let mut pos = [0usize; 64];
        for (k, &natural) in ZIGZAG.iter().enumerate() {
            pos[(natural % 8) * 8 + natural / 8] = k;
        }
        let bits = std::array::from_fn(|u| {
            std::array::from_fn(|pattern| {
                (0..8)
                    .filter(|v| pattern & (1 << v) != 0)
                    .fold(0u64, |m, v| m | 1 << pos[u * 8 + v])
            })
        });
        let at = std::array::from_fn(|k| {
            let natural = ZIGZAG[k];
            ((natural % 8) * 8 + natural / 8) as u8
        });
        Zigzag { bits, at }
    }

    /// Bit k set where the k-th coefficient in zigzag order is not zero.
    #[inline(always)]
    fn mask(&self, q: &[i32; 64]) -> u64 {
        // One byte a coefficient, 0 or 1 (all 64 at once, in SIMD lanes), ...
        let mut nz = [0u8; 64];
        for (b, &c) in nz.iter_mut().zip(q) {
            *b = u8::from(c != 0);
        }
        let mut mask = 0u64;
        for (u, row) in nz.chunks_exact(8).enumerate() {
            // ... and the eight of a row gathered into one byte by a multiply.
            let lanes = u64::from_le_bytes(row.try_into().unwrap_or([0; 8]));
            let pattern = lanes.wrapping_mul(0x0102_0408_1020_4080) >> 56;
            mask |= self.bits[u][pattern as usize];
        }
        mask
    }
}

/// `v` rounded to the nearest integer (ties to even), clamped to what baseline coding holds.
/// Through the float's mantissa, which stays in SIMD lanes where `as i32` would not.
#[inline(always)]
fn round(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    (v.clamp(-1023.0, 1023.0) + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32
}

/// One MCU row's worth of a plane, padded to whole blocks by repeating the last column and row:
/// the blocks are read from here rather than from the plane, whose rows (16 or 8 at a time, far
/// apart) the hardware prefetchers do not follow as well as one row after another.
struct Band {
    data: Vec<u8>,
    /// Row length: whole blocks.
    stride: usize,
}

impl Band {
    fn new(blocks_x: usize) -> Band {
        Band {
            data: Vec::new(),
            stride: blocks_x * 8,
        }
    }

    /// Copies `rows` rows of `p` from row `y` (the last row repeated past the bottom).
    fn fill(&mut self, p: &Plane, y: usize, rows: usize) {
        let (w, h) = (p.width as usize, p.height as usize);
        self.data.clear();
        for r in 0..rows {
            let line = &p.data[(y + r).min(h - 1) * w..][..w];
            self.data.extend_from_slice(line);
            let last = line[w - 1];
            self.data.resize(self.data.len() + self.stride - w, last);
        }
    }

    /// The 8 x 8 block whose left column is `x`, from band row `y`, level-shifted.
    #[inline(always)]
    fn block(&self, x: usize, y: usize, d: &mut [[f32; 8]; 8]) {
        for (r, row) in d.iter_mut().enumerate() {
            let at = (y + r) * self.stride + x;
            let src: [u8; 8] = self.data[at..at + 8].try_into().unwrap_or([128; 8]);
            let ints = src.map(i32::from);
            for c in 0..8 {
                row[c] = (ints[c] - 128) as f32;
            }
        }
    }
}

/// Codes one block (transposed, see [`fdct_quantize`]) with the component's tables, `pred`
/// its DC predictor.
#[inline(always)]
fn code_block(w: &mut BitWriter, q: &[i32; 64], zz: &Zigzag, pred: &mut i32, c: &Component<'_>) {
    let out = &mut w.out;
    let mut bits = w.bits;
    let dc = q[0];
    let (size, value) = category(dc - *pred);
    *pred = dc;
    let s = size as usize;
    bits.put(
        out,
        (u32::from(c.dc.code[s]) << size) | value,
        u32::from(c.dc.len[s]) + size,
    );
    let mut mask = zz.mask(q) & !1;
    let mut last = 0u32;
    while mask != 0 {
        let k = mask.trailing_zeros();
        mask &= mask - 1;
        let mut run = k - last - 1;
        while run > 15 {
            bits.put(out, u32::from(c.ac.code[0xF0]), u32::from(c.ac.len[0xF0]));
            run -= 16;
        }
        let (size, value) = category(q[usize::from(zz.at[k as usize])]);
        let symbol = ((run << 4) | size) as usize;
        bits.put(
            out,
            (u32::from(c.ac.code[symbol]) << size) | value,
            u32::from(c.ac.len[symbol]) + size,
        );
        last = k;
    }
    if last < 63 {
        bits.put(out, u32::from(c.ac.code[0]), u32::from(c.ac.len[0]));
    }
    w.bits = bits;
}

/// Codes MCU rows `rows` of the image (16 x 16 luma pixels an MCU, 4:2:0): the entropy-coded
/// bytes, each row but the image's last followed by its restart marker.
fn code_rows(
    components: &[Component<'_>; 3],
    mcus: (usize, usize),
    rows: std::ops::Range<usize>,
) -> Vec<u8> {
    let (mcus_x, mcus_y) = mcus;
    let mut w = BitWriter {
        out: Vec::with_capacity(rows.len() * mcus_x * 64),
        bits: Bits { acc: 0, n: 0 },
    };
    let mut d = [[0f32; 8]; 8];
    let mut q = [0i32; 64];
    let zz = Zigzag::get();
    // A flat mid-gray block: what a missing chroma plane codes as.
    let gray = [0i32; 64];
    let mut bands = [Band::new(mcus_x * 2), Band::new(mcus_x), Band::new(mcus_x)];
    for my in rows {
        for (ci, c) in components.iter().enumerate() {
            if let Some(plane) = c.plane {
                let per = if ci == 0 { 2 } else { 1 };
                bands[ci].fill(plane, my * per * 8, per * 8);
            }
        }
        let mut pred = [0i32; 3];
        for mx in 0..mcus_x {
            for (ci, c) in components.iter().enumerate() {
                if c.plane.is_none() {
                    code_block(&mut w, &gray, zz, &mut pred[ci], c);
                    continue;
                }
                let per = if ci == 0 { 2 } else { 1 };
                for by in 0..per {
                    for bx in 0..per {
                        bands[ci].block((mx * per + bx) * 8, by * 8, &mut d);
                        fdct_quantize(&mut d, &c.recip, &mut q);
                        code_block(&mut w, &q, zz, &mut pred[ci], c);
                    }
                }
            }
        }
        w.flush();
        if my + 1 < mcus_y {
            w.out.extend_from_slice(&[0xFF, 0xD0 + (my % 8) as u8]);
        }
    }
    w.out
}

/// `img`'s chroma as 4:2:0 planes: as they are when they already are, else each 2 x 2 (or
/// 2 x 1) averaged; None for grayscale.
fn chroma_420(img: &Ycc) -> Option<(std::borrow::Cow<'_, Plane>, std::borrow::Cow<'_, Plane>)> {
    use std::borrow::Cow;
    let (cb, cr) = img.chroma.as_ref()?;
    let (hs, vs) = (img.h_sub as usize, img.v_sub as usize);
    if (hs, vs) == (2, 2) {
        return Some((Cow::Borrowed(cb), Cow::Borrowed(cr)));
    }
    // Each output sample averages the fx x fy input samples it covers.
    let (fx, fy) = (2 / hs.clamp(1, 2), 2 / vs.clamp(1, 2));
    let (w, h) = (
        (img.width() as usize).div_ceil(2),
        (img.height() as usize).div_ceil(2),
    );
    let down = |p: &Plane| {
        let (pw, ph) = (p.width as usize, p.height as usize);
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let mut sum = 0u32;
                for dy in 0..fy {
                    for dx in 0..fx {
                        let (sx, sy) = ((x * fx + dx).min(pw - 1), (y * fy + dy).min(ph - 1));
                        sum += u32::from(p.data[sy * pw + sx]);
                    }
                }
                let n = (fx * fy) as u32;
                data.push(((sum + n / 2) / n) as u8);
            }
        }
        Plane {
            width: w as u32,
            height: h as u32,
            data,
        }
    };
    Some((Cow::Owned(down(cb)), Cow::Owned(down(cr))))
}

fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// Encodes the (upright) image; on up to `threads` threads for a large one.
pub(crate) fn jpeg(img: &Ycc, quality: u8, threads: usize) -> Result<Vec<u8>, PhotoError> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let width = u16::try_from(w).map_err(|_| PhotoError::InvalidOptions("output too wide"))?;
    let height = u16::try_from(h).map_err(|_| PhotoError::InvalidOptions("output too tall"))?;
    if w == 0 || h == 0 || img.y.data.len() != w * h {
        return Err(PhotoError::Encode("no pixels to encode".into()));
    }
    let chroma = chroma_420(img);
    if let Some((cb, cr)) = &chroma {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        for p in [cb, cr] {
            if (p.width as usize, p.height as usize) != (cw, ch) || p.data.len() != cw * ch {
                return Err(PhotoError::Encode("chroma planes of the wrong size".into()));
            }
        }
    }
    let luma_q = quant_table(&LUMA_QUANT, quality);
    let chroma_q = quant_table(&CHROMA_QUANT, quality);
    let (mcus_x, mcus_y) = (w.div_ceil(16), h.div_ceil(16));

    let mut out = Vec::with_capacity(w * h / 8 + 1024);
    out.extend_from_slice(&[0xFF, 0xD8]);
    // JFIF 1.02, no units, 1:1 pixel aspect, no thumbnail.
    segment(&mut out, 0xE0, b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0");
    for (id, q) in [(0u8, &luma_q), (1, &chroma_q)] {
        let mut body = vec![id];
        body.extend(ZIGZAG.iter().map(|&at| q[at] as u8));
        segment(&mut out, 0xDB, &body);
    }
    let mut sof = vec![8];
    sof.extend_from_slice(&height.to_be_bytes());
    sof.extend_from_slice(&width.to_be_bytes());
    sof.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    segment(&mut out, 0xC0, &sof);
    for (class_id, bits, values) in [
        (0x00u8, &LUMA_DC_BITS, &DC_VALUES[..]),
        (0x10, &LUMA_AC_BITS, &LUMA_AC_VALUES[..]),
        (0x01, &CHROMA_DC_BITS, &DC_VALUES[..]),
        (0x11, &CHROMA_AC_BITS, &CHROMA_AC_VALUES[..]),
    ] {
        let mut body = vec![class_id];
        body.extend_from_slice(bits);
        body.extend_from_slice(values);
        segment(&mut out, 0xC4, &body);
    }
    // A restart marker after every MCU row (mcus_x <= 4096).
    segment(&mut out, 0xDD, &(mcus_x as u16).to_be_bytes());
    segment(&mut out, 0xDA, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);

    let codes = [
        HuffCodes::new(&LUMA_DC_BITS, &DC_VALUES),
        HuffCodes::new(&LUMA_AC_BITS, &LUMA_AC_VALUES),
        HuffCodes::new(&CHROMA_DC_BITS, &DC_VALUES),
        HuffCodes::new(&CHROMA_AC_BITS, &CHROMA_AC_VALUES),
    ];
    let (cb, cr) = match &chroma {
        Some((cb, cr)) => (Some(&**cb), Some(&**cr)),
        None => (None, None),
    };
    let components = [
        Component {
            plane: Some(&img.y),
            recip: reciprocals(&luma_q),
            dc: &codes[0],
            ac: &codes[1],
        },
        Component {
            plane: cb,
            recip: reciprocals(&chroma_q),
            dc: &codes[2],
            ac: &codes[3],
        },
        Component {
            plane: cr,
            recip: reciprocals(&chroma_q),
            dc: &codes[2],
            ac: &codes[3],
        },
    ];
    let mcus = (mcus_x, mcus_y);
    let chunks = mcus_y.div_ceil(CHUNK_ROWS);
    let threads = if mcus_x * mcus_y < PARALLEL_MIN_MCUS {
        1
    } else {
        threads.clamp(1, chunks)
    };
    if threads == 1 {
        out.extend_from_slice(&code_rows(&components, mcus, 0..mcus_y));
    } else {
        // Chunks of rows taken in turn by whichever thread is free (this one among them), so
        // that a thread slowed by other work (the thumbnail beside, the app) holds up no one.
        use std::sync::atomic::{AtomicUsize, Ordering};
        let next = AtomicUsize::new(0);
        let work = || {
            let mut done = Vec::new();
            loop {
                let chunk = next.fetch_add(1, Ordering::Relaxed);
                if chunk >= chunks {
                    return done;
                }
                let rows = chunk * CHUNK_ROWS..((chunk + 1) * CHUNK_ROWS).min(mcus_y);
                done.push((chunk, code_rows(&components, mcus, rows)));
            }
        };
        let mut parts: Vec<(usize, Vec<u8>)> = std::thread::scope(|s| {
            // A thread the system will not start leaves its chunks to the others.
            let others: Vec<_> = (1..threads)
                .filter_map(|_| std::thread::Builder::new().spawn_scoped(s, work).ok())
                .collect();
            let mut parts = work();
            for handle in others {
                parts.extend(
                    handle
                        .join()
                        .map_err(|_| PhotoError::Encode("an encoding thread failed".into()))?,
                );
            }
            Ok::<_, PhotoError>(parts)
        })?;
        parts.sort_unstable_by_key(|&(chunk, _)| chunk);
        if parts.len() != chunks {
            return Err(PhotoError::Encode("an encoding thread failed".into()));
        }
        for (_, part) in parts {
            out.extend_from_slice(&part);
        }
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A photo-like test image: gradients, a few edges, mild noise; chroma 4:2:0.
    fn picture(w: u32, h: u32) -> Ycc {
        let px = |x: u32, y: u32, c: u32| {
            let noise = (x * 7919 + y * 104_729 + c * 31) % 7;
            let edge = if (x / 37 + y / 29).is_multiple_of(3) {
                40
            } else {
                0
            };
            if c == 0 {
                (30 + x * 120 / w.max(1) + y * 40 / h.max(1) + edge + noise) as u8
            } else {
                // Chroma near neutral, so that the decoded RGB never clips.
                (108 + x * 30 / w.max(1) + c * 5 + noise) as u8
            }
        };
        let plane = |w: u32, h: u32, c: u32| Plane {
            width: w,
            height: h,
            data: (0..h)
                .flat_map(|y| (0..w).map(move |x| (x, y)))
                .map(|(x, y)| px(x * (1 + c.min(1)), y * (1 + c.min(1)), c))
                .collect(),
        };
        Ycc {
            y: plane(w, h, 0),
            chroma: Some((
                plane(w.div_ceil(2), h.div_ceil(2), 1),
                plane(w.div_ceil(2), h.div_ceil(2), 2),
            )),
            h_sub: 2,
            v_sub: 2,
        }
    }

    /// PSNR of `decoded` (jpeg-decoder's RGB) against `img`, both in luma.
    fn luma_psnr(img: &Ycc, jpeg: &[u8]) -> f64 {
        let mut d = jpeg_decoder::Decoder::new(jpeg);
        let rgb = d.decode().expect("decodes");
        let info = d.info().unwrap();
        assert_eq!(
            (u32::from(info.width), u32::from(info.height)),
            (img.width(), img.height())
        );
        let mut se = 0f64;
        for (i, p) in rgb.chunks_exact(3).enumerate() {
            let y = 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
            se += (y - f64::from(img.y.data[i])).powi(2);
        }
        let mse = se / (img.y.data.len() as f64);
        10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
    }

    #[test]
    fn encodes_what_decoders_read_back_at_any_size_and_thread_count() {
        for (w, h) in [(1, 1), (7, 3), (16, 16), (17, 33), (203, 117), (640, 480)] {
            let img = picture(w, h);
            let one = jpeg(&img, 82, 1).unwrap();
            let psnr = luma_psnr(&img, &one);
            assert!(psnr > 35.0, "{w}x{h}: PSNR {psnr:.1}");
            for threads in [2, 3, 8] {
                assert_eq!(
                    jpeg(&img, 82, threads).unwrap(),
                    one,
                    "{w}x{h} on {threads}"
                );
            }
            // As good as jpeg-encoder on the same planes, at about the same size (restart
            // markers and their padding cost a few bytes an MCU row).
            let reference = reference_jpeg(&img, 82);
            let ref_psnr = luma_psnr(&img, &reference);
            assert!(psnr > ref_psnr - 0.5, "{w}x{h}: {psnr:.2} vs {ref_psnr:.2}");
            assert!(
                one.len() < reference.len() * 21 / 20 + 700,
                "{w}x{h}: {} vs {} bytes",
                one.len(),
                reference.len()
            );
        }
    }

    #[test]
    fn large_images_split_across_threads_give_the_same_file() {
        let img = picture(1000, 700); // 63 x 44 MCUs, above the threshold
        let one = jpeg(&img, 82, 1).unwrap();
        assert_eq!(jpeg(&img, 82, 2).unwrap(), one);
        assert_eq!(jpeg(&img, 82, 5).unwrap(), one);
        assert!(luma_psnr(&img, &one) > 35.0);
    }

    #[test]
    fn grayscale_and_other_chroma_sampling_encode() {
        let color = picture(99, 51);
        let gray = Ycc {
            chroma: None,
            ..color.clone()
        };
        let g = jpeg(&gray, 90, 1).unwrap();
        assert!(luma_psnr(&gray, &g) > 30.0);
        let mut d = jpeg_decoder::Decoder::new(&g[..]);
        let rgb = d.decode().unwrap();
        assert!(rgb.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]));
        // 4:4:4 chroma (a baseline JPEG's own planes) is averaged down to 4:2:0.
        let full = |v: u8| Plane {
            width: 99,
            height: 51,
            data: vec![v; 99 * 51],
        };
        let c444 = Ycc {
            y: color.y.clone(),
            chroma: Some((full(90), full(170))),
            h_sub: 1,
            v_sub: 1,
        };
        let jpeg444 = jpeg(&c444, 90, 1).unwrap();
        assert!(luma_psnr(&c444, &jpeg444) > 30.0);
    }

    #[test]
    fn every_quality_encodes_and_extreme_pixels_stay_in_range() {
        let mut img = picture(64, 48);
        // Alternating black and white: the largest coefficients there are.
        for (i, p) in img.y.data.iter_mut().enumerate() {
            *p = if (i + i / 64) % 2 == 0 { 0 } else { 255 };
        }
        for q in [1, 10, 50, 82, 95, 100] {
            let out = jpeg(&img, q, 1).unwrap();
            let mut d = jpeg_decoder::Decoder::new(&out[..]);
            d.decode().unwrap_or_else(|e| panic!("quality {q}: {e}"));
        }
    }

    /// jpeg-encoder's file of the same planes (its YCbCr input, chroma given at full size and
    /// taken back at 4:2:0 exactly).
    fn reference_jpeg(img: &Ycc, quality: u8) -> Vec<u8> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let (cb, cr) = img.chroma.as_ref().unwrap();
        let mut ycc = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let c = (y / 2) * cb.width as usize + x / 2;
                ycc.extend_from_slice(&[img.y.data[y * w + x], cb.data[c], cr.data[c]]);
            }
        }
        let mut out = Vec::new();
        let mut e = jpeg_encoder::Encoder::new(&mut out, quality);
        e.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
        e.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Nearest);
        e.encode(&ycc, w as u16, h as u16, jpeg_encoder::ColorType::Ycbcr)
            .unwrap();
        out
    }
}
