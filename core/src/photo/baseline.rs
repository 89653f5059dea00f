//! A baseline JPEG decoder straight to DCT-scaled YCbCr planes: the phone camera's path.
//!
//! Phone cameras write baseline JPEGs (sequential, Huffman-coded, 8-bit, one interleaved scan,
//! 4:2:0, 4:2:2 or 4:4:4, often with restart markers). This decoder handles exactly those and
//! keeps the result as the file has it: a luma plane and two subsampled chroma planes, 1.5 bytes
//! a pixel at 4:2:0 instead of 3 for interleaved RGB, with no colour conversion and no chroma
//! upsampling (the encoder takes the planes as they are). Each 8x8 block is inverse-transformed
//! straight to 4x4, 2x2 or 1x1 pixels when the photo is bound for a quarter, a sixteenth or a
//! 64th of its pixels, so the full-size image never exists.
//!
//! Anything else (progressive, arithmetic-coded, 12-bit, CMYK, Adobe RGB, several scans, other
//! sampling) is `Ok(None)`: jpeg-decoder takes over. Damage is a typed error: data that ends
//! (or reaches EOI) before the last block is [`PhotoError::Truncated`], never a gray tail.

use super::PhotoError;
use super::pixels::{Plane, Ycc};

/// Natural (row-major) index of the k-th coefficient in zigzag order.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Huffman codes up to this long are decoded with one table lookup, together with the value
/// bits after them when those fit too (most of a photo's symbols).
const FAST_BITS: u32 = 11;

/// In a full fast entry's run field: an AC end-of-block.
const EOB: i32 = 0xFF;

fn corrupt(what: &str) -> PhotoError {
    PhotoError::Corrupt(what.to_string())
}

struct Huffman {
    /// For each FAST_BITS-bit prefix, one of:
    /// - a full entry, where the code and its value bits both fit: `(value << 16) | (run << 8) |
    ///   bits`, the value already extended, `bits` (1..=FAST_BITS) the code and value bits
    ///   together (DC tables: run 0; AC: the zero run, EOB for end-of-block, 15 with value 0
    ///   for ZRL);
    /// - a partial entry, where only the code fits: `(symbol << 16) | (length << 8)`, low byte 0;
    /// - 0, where the code is longer than FAST_BITS.
    fast: Box<[i32; 1 << FAST_BITS]>,
    /// Largest code of each length (1..=16), -1 where there is none.
    max_code: [i32; 17],
    /// Index into `values` of the first code of each length, minus that code.
    offset: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    /// Builds the decoder of a DHT table (JPEG Annex C).
    fn new(counts: &[u8], values: &[u8], ac: bool) -> Result<Huffman, PhotoError> {
        let mut fast = Box::new([0i32; 1 << FAST_BITS]);
        let mut max_code = [-1i32; 17];
        let mut offset = [0i32; 17];
        let mut code = 0u32;
        let mut k = 0usize;
        for len in 1..=16u32 {
            let n = u32::from(counts[len as usize - 1]);
            if n > 0 {
                offset[len as usize] = k as i32 - code as i32;
                for _ in 0..n {
                    if code >= 1 << len {
                        return Err(corrupt("an over-subscribed Huffman table"));
                    }
                    if len <= FAST_BITS {
                        let shift = FAST_BITS - len;
                        let symbol = values[k];
                        let start = (code << shift) as usize;
                        let (run, size) = if ac {
                            (i32::from(symbol >> 4), u32::from(symbol & 15))
                        } else {
                            (0, u32::from(symbol))
                        };
                        if len + size <= FAST_BITS && size <= 11 {
                            let run = if ac && size == 0 && run != 15 {
                                EOB
                            } else {
                                run
                            };
                            for i in 0..1u32 << shift {
                                let value = if size == 0 {
                                    0
                                } else {
                                    extend((i >> (shift - size)) as i32, size)
                                };
                                fast[start + i as usize] =
                                    (value << 16) | (run << 8) | (len + size) as i32;
                            }
                        } else {
                            fast[start..start + (1 << shift)]
                                .fill((i32::from(symbol) << 16) | (len << 8) as i32);
                        }
                    }
                    code += 1;
                    k += 1;
                }
                max_code[len as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        Ok(Huffman {
            fast,
            max_code,
            offset,
            values: values.to_vec(),
        })
    }
}

/// JPEG's EXTEND: the `s`-bit pattern `v` as a signed value.
#[inline(always)]
fn extend(v: i32, s: u32) -> i32 {
    if v < 1 << (s - 1) {
        v - (1 << s) + 1
    } else {
        v
    }
}

/// The entropy-coded data, MSB first, with byte stuffing undone. At a marker or the end of the
/// data it supplies zero bits; [`Bits::overran`] tells whether any of them was consumed.
///
/// Copy, and the rare calls take and return it by value, so that it never escapes the decode
/// loop and its fields stay in registers.
#[derive(Clone, Copy)]
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    /// Valid bits in `buf`, from the top.
    n: u32,
    /// How many of the lowest of those `n` bits are zero fill, not data.
    fill: u32,
    /// A marker (or the end of the data) was reached: only fill follows.
    stopped: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Bits<'a> {
        Bits {
            data,
            pos,
            buf: 0,
            n: 0,
            fill: 0,
            stopped: false,
        }
    }

    /// Makes sure of the 32 bits a symbol and its value can take (a code of up to 16 bits and
    /// up to 15 value bits), topping the buffer up to 57 or more when it holds fewer.
    #[inline(always)]
    fn refill(&mut self) {
        if self.n >= 32 {
            return;
        }
        // Fast path: the next 8 bytes hold no 0xFF (no stuffing, no marker).
        if let Some(word) = self.data.get(self.pos..self.pos + 8) {
            let word = u64::from_be_bytes(word.try_into().expect("8 bytes"));
            let inverted = !word;
            // A zero byte in !word is a 0xFF byte in word.
            if (inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080)
                == 0
            {
                let take = (64 - self.n) / 8; // whole bytes that fit (at least one)
                self.buf |= (word >> (64 - 8 * take)) << (64 - self.n - 8 * take);
                self.n += 8 * take;
                self.pos += take as usize;
                return;
            }
        }
        *self = self.refill_slow();
    }

    #[cold]
    #[inline(never)]
    fn refill_slow(mut self) -> Self {
        while self.n <= 56 {
            let mut byte = 0u8;
            if !self.stopped {
                match self.data.get(self.pos) {
                    Some(&0xFF) => match self.data.get(self.pos + 1) {
                        Some(0x00) => {
                            byte = 0xFF;
                            self.pos += 2;
                        }
                        Some(0xFF) => {
                            self.pos += 1; // fill byte before a marker
                            continue;
                        }
                        _ => self.stopped = true,
                    },
                    Some(&b) => {
                        byte = b;
                        self.pos += 1;
                    }
                    None => self.stopped = true,
                }
            }
            if self.stopped {
                self.fill += 8;
            }
            self.buf |= u64::from(byte) << (56 - self.n);
            self.n += 8;
        }
        self
    }

    #[inline(always)]
    fn consume(&mut self, k: u32) {
        self.buf <<= k;
        self.n -= k;
    }

    /// True once more bits were consumed than the data had: fill bits only grow after the
    /// reader stopped, so real bits left (n - fill) never grow again once negative.
    fn overran(&self) -> bool {
        (self.n as i32) < (self.fill as i32)
    }

    /// The fast entry (see [`Huffman::fast`]) for the next bits.
    #[inline(always)]
    fn peek(&self, h: &Huffman) -> i32 {
        h.fast[(self.buf >> (64 - FAST_BITS)) as usize]
    }

    /// The next symbol when its fast entry `e` is not a full one: a partial entry gives the
    /// symbol, 0 means a code longer than FAST_BITS. Needs up to 16 bits in the buffer.
    #[inline(always)]
    fn symbol(&mut self, h: &Huffman, e: i32) -> Result<u8, PhotoError> {
        if e != 0 {
            self.consume(((e >> 8) & 0xFF) as u32);
            return Ok((e >> 16) as u8);
        }
        for len in FAST_BITS + 1..=16 {
            let code = (self.buf >> (64 - len)) as i32;
            if code <= h.max_code[len as usize] {
                self.consume(len);
                let at = code.wrapping_add(h.offset[len as usize]);
                return usize::try_from(at)
                    .ok()
                    .and_then(|at| h.values.get(at))
                    .copied()
                    .ok_or_else(|| corrupt("a Huffman code without a symbol"));
            }
        }
        Err(corrupt("an invalid Huffman code"))
    }

    /// The `s`-bit signed value that follows a symbol (JPEG's RECEIVE and EXTEND), s in 1..=15.
    #[inline(always)]
    fn value(&mut self, s: u32) -> i32 {
        let v = (self.buf >> (64 - s)) as i32;
        self.consume(s);
        extend(v, s)
    }

    /// A DC difference whose fast entry `e` is not a full one.
    #[cold]
    #[inline(never)]
    fn dc_slow(mut self, h: &Huffman, e: i32) -> Result<(Self, i32), PhotoError> {
        let s = u32::from(self.symbol(h, e)?);
        if s > 11 {
            return Err(corrupt("a DC difference out of range"));
        }
        let diff = if s > 0 { self.value(s) } else { 0 };
        Ok((self, diff))
    }

    /// An AC run and value whose fast entry `e` is not a full one: (run, value), run EOB at an
    /// end-of-block (ZRL is run 15, value 0).
    #[cold]
    #[inline(never)]
    fn ac_slow(mut self, h: &Huffman, e: i32) -> Result<(Self, i32, i32), PhotoError> {
        let rs = self.symbol(h, e)?;
        let (run, s) = (i32::from(rs >> 4), u32::from(rs & 15));
        if s == 0 {
            return Ok((self, if run == 15 { 15 } else { EOB }, 0));
        }
        let value = self.value(s);
        Ok((self, run, value))
    }

    /// Drops the buffered (padding) bits and returns the next marker, None at the end of the
    /// data.
    fn next_marker(mut self) -> (Self, Option<u8>) {
        self.buf = 0;
        self.n = 0;
        self.fill = 0;
        self.stopped = false;
        // Skip to the next marker (there should be nothing but the marker here).
        while let Some(&b) = self.data.get(self.pos) {
            if b == 0xFF && !matches!(self.data.get(self.pos + 1), Some(0x00 | 0xFF)) {
                break;
            }
            self.pos += 1;
        }
        let marker = self.data.get(self.pos + 1).copied();
        (self, marker)
    }

    /// At a restart interval's end: drops the padding bits and expects RSTn.
    #[inline(never)]
    fn restart(self, n: u8) -> Result<Self, PhotoError> {
        match self.next_marker() {
            (_, None) => Err(PhotoError::Truncated),
            (mut bits, Some(m)) if m == 0xD0 + n => {
                bits.pos += 2;
                Ok(bits)
            }
            (_, Some(0xD9)) => Err(PhotoError::Truncated),
            (_, Some(_)) => Err(corrupt("a restart marker out of order")),
        }
    }
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
    quant: usize,
    dc: usize,
    ac: usize,
}

/// One n-point inverse DCT basis, scaled so the 2-D result of the low n x n coefficients is the
/// average of the 8/n x 8/n pixels each output pixel stands for: `basis[u * n + x]` is
/// c(u) cos((2x + 1) u pi / 2n) / sqrt(8), c(0) = 1, c(u) = sqrt(2).
///
/// Exactly symmetric, `basis[u * n + n - 1 - x] == (-1)^u basis[u * n + x]`, so that negating
/// the odd coefficients of a block mirrors its pixels bit for bit (see [`flips`]).
fn basis(n: usize) -> [f32; 64] {
    let mut b = [0f32; 64];
    for u in 0..n {
        let c = if u == 0 {
            1.0
        } else {
            std::f64::consts::SQRT_2
        };
        for x in 0..n.div_ceil(2) {
            let angle = (2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / (2 * n) as f64;
            let v = (c * angle.cos() / 8f64.sqrt()) as f32;
            b[u * n + x] = v;
            b[u * n + n - 1 - x] = if u % 2 == 0 { v } else { -v };
        }
    }
    b
}

/// Which axes of each stored block orientation `o` mirrors, before any transpose: (left-right,
/// top-bottom). The decoder mirrors a block by negating its odd horizontal (left-right) or
/// vertical (top-bottom) frequencies; the symmetric basis makes that exact.
fn flips(o: u8) -> (bool, bool) {
    (matches!(o, 2 | 3 | 7 | 8), matches!(o, 3 | 4 | 6 | 7))
}

/// Inverse-transforms the n x n dequantized coefficients `coef` (row-major: `coef[v * n + u]`)
/// into `out`, n x n row-major pixels. Whole rows of n lanes, so it compiles to SIMD; at 8x8
/// the rows of zero coefficients (`rows`, a bit each) are skipped.
#[inline(always)]
fn idct<const N: usize>(coef: &[i32; 256], rows: u32, basis: &[f32; 64], out: &mut [u8; 64]) {
    let mut tmp = [[0f32; N]; N];
    for v in 0..N {
        if N == 8 && rows & (1 << v) == 0 && v > 0 {
            continue;
        }
        for u in 0..N {
            let f = coef[v * N + u] as f32;
            for x in 0..N {
                tmp[v][x] += f * basis[u * N + x];
            }
        }
    }
    for y in 0..N {
        let mut acc = [128f32; N];
        for v in 0..N {
            let b = basis[v * N + y];
            for x in 0..N {
                acc[x] += b * tmp[v][x];
            }
        }
        for x in 0..N {
            out[y * N + x] = to_pixel(acc[x]) as u8;
        }
    }
}

/// `v` rounded to the nearest integer in 0..=255 (ties to even). Through the float's mantissa:
/// adding 1.5 x 2^23 leaves the rounded integer in its low bits. Unlike `as i32`, whose
/// saturating conversion compiles to one scalar conversion a lane, this stays in SIMD lanes.
#[inline(always)]
fn to_pixel(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    (v.clamp(0.0, 255.0) + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32
}

/// One component's plane, written upright. Each n x n block arrives already mirrored as the
/// orientation asks (see [`flips`]); here it is placed where it belongs upright, transposed
/// for the orientations that swap rows and columns.
///
/// Those (the usual portrait photo) turn each stored row of blocks into a narrow column band of
/// the upright plane; written block by block, every cache line of it would be fetched again for
/// each few bytes. Their blocks go to a band first: the upright columns of a few stored block
/// rows (64 bytes wide or more), row-major, copied into the plane a whole band row at a time.
struct UprightPlane {
    data: Vec<u8>,
    /// The padded plane as stored in the file, and as upright.
    stored: (usize, usize),
    upright: (usize, usize),
    o: u8,
    /// Transposing orientations only: the upright columns of stored rows `band_y0..band_y0 +
    /// band_rows`, `band_rows` bytes an upright row.
    band: Vec<u8>,
    band_y0: usize,
    band_rows: usize,
}

impl UprightPlane {
    /// A padded plane of `w` x `h` as stored, written in rows of blocks `block_rows` high.
    fn new(w: usize, h: usize, o: u8, block_rows: usize) -> UprightPlane {
        let transposed = (5..=8).contains(&o);
        let (uw, uh) = if transposed { (h, w) } else { (w, h) };
        let band_rows = if transposed {
            block_rows * 64usize.div_ceil(block_rows)
        } else {
            0
        };
        UprightPlane {
            data: vec![0; w * h],
            stored: (w, h),
            upright: (uw, uh),
            o: if (1..=8).contains(&o) { o } else { 1 },
            band: vec![0; band_rows * w],
            band_y0: 0,
            band_rows,
        }
    }

    /// Copies the band into the plane: band row r is upright row r.
    fn flush(&mut self) {
        let h = self.stored.1;
        let uw = self.upright.0;
        let r = self.band_rows;
        let rows = r.min(h - self.band_y0);
        // Stored rows y0.. are upright columns y0.. (5, 8) or end at uw - y0 (6, 7), whose
        // band columns end at r.
        let (from, to) = if matches!(self.o, 6 | 7) {
            (r - rows, uw - self.band_y0 - rows)
        } else {
            (0, self.band_y0)
        };
        for (row, out) in self
            .band
            .chunks_exact(r)
            .zip(self.data.chunks_exact_mut(uw))
        {
            out[to..to + rows].copy_from_slice(&row[from..from + rows]);
        }
    }

    /// Writes the N x N `block` (already mirrored) whose stored top-left pixel is (x, y).
    #[inline(always)]
    fn put<const N: usize>(&mut self, x: usize, y: usize, block: &[u8; 64]) {
        let (w, h) = self.stored;
        let uw = self.upright.0;
        if self.band_rows > 0 {
            if y >= self.band_y0 + self.band_rows {
                self.flush();
                self.band_y0 = y - y % self.band_rows;
            }
            let r = self.band_rows;
            // Upright: column from y (mirrored for 6, 7), row from x (mirrored for 7, 8); block
            // column c is upright row c.
            let col = if matches!(self.o, 6 | 7) {
                r - N - (y - self.band_y0)
            } else {
                y - self.band_y0
            };
            let row = if matches!(self.o, 7 | 8) {
                w - x - N
            } else {
                x
            };
            let mut t = [0u8; 64];
            for c in 0..N {
                for i in 0..N {
                    t[c * N + i] = block[i * N + c];
                }
            }
            for (c, src) in t[..N * N].chunks_exact(N).enumerate() {
                let at = (row + c) * r + col;
                self.band[at..at + N].copy_from_slice(src);
            }
            return;
        }
        let ux = if matches!(self.o, 2 | 3) {
            w - x - N
        } else {
            x
        };
        let uy = if matches!(self.o, 3 | 4) {
            h - y - N
        } else {
            y
        };
        for (r, src) in block[..N * N].chunks_exact(N).enumerate() {
            let at = (uy + r) * uw + ux;
            self.data[at..at + N].copy_from_slice(src);
        }
    }

    /// Crops to the component's real size `w` x `h` (as stored), in place. Where the
    /// orientation mirrors an axis, the padding ends up first on it.
    fn crop(mut self, w: usize, h: usize) -> Plane {
        if self.band_rows > 0 {
            self.flush();
            self.band = Vec::new();
        }
        let o = self.o;
        let transposed = (5..=8).contains(&o);
        let (cw, ch) = if transposed { (h, w) } else { (w, h) };
        let (uw, uh) = self.upright;
        let ox = if matches!(o, 2 | 3 | 6 | 7) {
            uw - cw
        } else {
            0
        };
        let oy = if matches!(o, 3 | 4 | 7 | 8) {
            uh - ch
        } else {
            0
        };
        debug_assert!(self.stored.0 >= w && self.stored.1 >= h);
        let mut data = self.data;
        if (cw, ch) != (uw, uh) {
            for y in 0..ch {
                let from = (y + oy) * uw + ox;
                data.copy_within(from..from + cw, y * cw);
            }
            data.truncate(cw * ch);
            data.shrink_to_fit();
        }
        Plane {
            width: cw as u32,
            height: ch as u32,
            data,
        }
    }
}

/// The scan's entropy-coded data start and everything needed to decode it.
struct Frame {
    width: usize,
    height: usize,
    components: Vec<Component>,
    quant: [[u16; 64]; 4],
    dc: Vec<Option<Huffman>>,
    ac: Vec<Option<Huffman>>,
    restart_interval: usize,
    scan_start: usize,
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

/// Walks the segments to the first scan. `Ok(None)`: not a JPEG this decoder handles.
fn parse(b: &[u8]) -> Result<Option<Frame>, PhotoError> {
    let mut pos = 2;
    let mut quant = [[0u16; 64]; 4];
    let mut have_quant = [false; 4];
    let mut dc: Vec<Option<Huffman>> = (0..4).map(|_| None).collect();
    let mut ac: Vec<Option<Huffman>> = (0..4).map(|_| None).collect();
    let mut restart_interval = 0;
    let mut frame: Option<(usize, usize, Vec<Component>)> = None;
    let mut adobe_transform = None;
    loop {
        if b.get(pos) != Some(&0xFF) {
            return Err(corrupt("expected a JPEG marker"));
        }
        while b.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *b.get(pos).ok_or(PhotoError::Truncated)?;
        pos += 1;
        if matches!(marker, 0x01 | 0xD0..=0xD7) {
            continue;
        }
        let len = be16(b, pos).ok_or(PhotoError::Truncated)?;
        let seg = b.get(pos + 2..pos + len).ok_or(PhotoError::Truncated)?;
        match marker {
            0xDB => {
                let mut p = 0;
                while p < seg.len() {
                    let (precision, id) = (seg[p] >> 4, usize::from(seg[p] & 15));
                    if id > 3 || precision > 1 {
                        return Err(corrupt("a bad quantization table"));
                    }
                    let size = if precision == 0 { 64 } else { 128 };
                    let table = seg.get(p + 1..p + 1 + size).ok_or(PhotoError::Truncated)?;
                    for k in 0..64 {
                        quant[id][k] = if precision == 0 {
                            u16::from(table[k])
                        } else {
                            u16::from_be_bytes([table[2 * k], table[2 * k + 1]])
                        };
                    }
                    have_quant[id] = true;
                    p += 1 + size;
                }
            }
            0xC4 => {
                let mut p = 0;
                while p < seg.len() {
                    let (class, id) = (seg[p] >> 4, usize::from(seg[p] & 15));
                    if class > 1 || id > 3 {
                        return Err(corrupt("a bad Huffman table"));
                    }
                    let counts = seg.get(p + 1..p + 17).ok_or(PhotoError::Truncated)?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    if total > 256 {
                        return Err(corrupt("a bad Huffman table"));
                    }
                    let values = seg
                        .get(p + 17..p + 17 + total)
                        .ok_or(PhotoError::Truncated)?;
                    let table = Some(Huffman::new(counts, values, class == 1)?);
                    if class == 0 {
                        dc[id] = table;
                    } else {
                        ac[id] = table;
                    }
                    p += 17 + total;
                }
            }
            0xC0 | 0xC1 => {
                if seg.first() != Some(&8) || frame.is_some() {
                    return Ok(None);
                }
                let height = be16(seg, 1).ok_or(PhotoError::Truncated)?;
                let width = be16(seg, 3).ok_or(PhotoError::Truncated)?;
                let count = usize::from(*seg.get(5).ok_or(PhotoError::Truncated)?);
                let mut components = Vec::with_capacity(count);
                for i in 0..count {
                    let c = seg.get(6 + 3 * i..9 + 3 * i).ok_or(PhotoError::Truncated)?;
                    components.push(Component {
                        id: c[0],
                        h: usize::from(c[1] >> 4),
                        v: usize::from(c[1] & 15),
                        quant: usize::from(c[2]),
                        dc: 0,
                        ac: 0,
                    });
                }
                frame = Some((width, height, components));
            }
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(None),
            0xDD => restart_interval = be16(seg, 0).ok_or(PhotoError::Truncated)?,
            0xEE if seg.starts_with(b"Adobe") => adobe_transform = seg.get(11).copied(),
            0xD9 => return Err(corrupt("the JPEG ends before any image data")),
            0xDA => {
                let Some((width, height, mut components)) = frame else {
                    return Err(corrupt("a JPEG scan before its frame header"));
                };
                let count = usize::from(*seg.first().ok_or(PhotoError::Truncated)?);
                if count != components.len() || !matches!(count, 1 | 3) {
                    return Ok(None); // non-interleaved scans, CMYK
                }
                for i in 0..count {
                    let s = seg.get(1 + 2 * i..3 + 2 * i).ok_or(PhotoError::Truncated)?;
                    let c = components
                        .iter_mut()
                        .find(|c| c.id == s[0])
                        .ok_or_else(|| corrupt("a scan of an unknown component"))?;
                    (c.dc, c.ac) = (usize::from(s[1] >> 4), usize::from(s[1] & 15));
                }
                let tail = seg
                    .get(1 + 2 * count..4 + 2 * count)
                    .ok_or(PhotoError::Truncated)?;
                if tail != [0, 63, 0] {
                    return Ok(None);
                }
                if count == 3 {
                    let rgb = match adobe_transform {
                        Some(t) => t == 0,
                        None => components.iter().map(|c| c.id).eq(*b"RGB"),
                    };
                    if rgb {
                        return Ok(None);
                    }
                    let (y, cb, cr) = (&components[0], &components[1], &components[2]);
                    let sub_ok = |c: &Component| {
                        c.h >= 1
                            && c.v >= 1
                            && (c.h == y.h || 2 * c.h == y.h)
                            && (c.v == y.v || 2 * c.v == y.v)
                    };
                    if !(1..=2).contains(&y.h)
                        || !(1..=2).contains(&y.v)
                        || !sub_ok(cb)
                        || (cb.h, cb.v) != (cr.h, cr.v)
                    {
                        return Ok(None);
                    }
                } else {
                    // A single-component scan is one block per MCU, whatever the factors say.
                    (components[0].h, components[0].v) = (1, 1);
                }
                for c in &components {
                    if c.quant > 3 || !have_quant[c.quant] {
                        return Err(corrupt("a component without its quantization table"));
                    }
                    if c.dc > 3 || c.ac > 3 || dc[c.dc].is_none() || ac[c.ac].is_none() {
                        return Err(corrupt("a component without its Huffman table"));
                    }
                }
                if width == 0 || height == 0 {
                    return Err(PhotoError::ZeroSize);
                }
                return Ok(Some(Frame {
                    width,
                    height,
                    components,
                    quant,
                    dc,
                    ac,
                    restart_interval,
                    scan_start: pos + len,
                }));
            }
            _ => {}
        }
        pos += len;
    }
}

/// Where a damaged AC run may take the zigzag index: 63 + 15 + 1 (refused after the block).
const K_END: usize = 80;
/// The coefficient slot of those outside the low n x n, decoded (they must be read) but not
/// kept.
const DUMP: u8 = 64;

/// What one component's blocks are decoded with.
struct BlockTables<'a> {
    dc: &'a Huffman,
    ac: &'a Huffman,
    /// The quantization table by zigzag index, negated where the orientation mirrors.
    q: [i32; K_END],
    /// Where each zigzag index's coefficient goes in the n x n block (v * n + u), `DUMP` for
    /// the others.
    slot: [u8; K_END],
    /// The block row (bit) each kept coefficient is in, 0 for the others.
    row_bit: [u32; K_END],
}

/// Decodes one block's entropy-coded data into `coef` (dequantized, n x n row-major; it must
/// hold zeros but for what this writes), `pred` the component's DC predictor. Returns the rows
/// of the block (a bit each) holding AC coefficients, 0 for a flat block.
///
/// Its own function, with the bit reader copied into locals: inlined into the decode loop, the
/// bit buffer went to the stack and back on every symbol.
#[inline(never)]
fn entropy_block(
    reader: &mut Bits<'_>,
    t: &BlockTables<'_>,
    pred: &mut i32,
    coef: &mut [i32; 256],
) -> Result<u32, PhotoError> {
    let mut bits = *reader;
    // DC
    bits.refill();
    let e = bits.peek(t.dc);
    let diff = if e & 0xFF != 0 {
        bits.consume((e & 0xFF) as u32);
        e >> 16
    } else {
        let diff;
        (bits, diff) = bits.dc_slow(t.dc, e)?;
        diff
    };
    // Wrapping: damaged data may overflow; it is garbage either way.
    *pred = pred.wrapping_add(diff);
    coef[0] = pred.wrapping_mul(t.q[0]);
    // AC: one symbol (a zero run and a value) at a time.
    let mut rows = 0u32;
    let mut k = 1;
    loop {
        bits.refill();
        let e = bits.peek(t.ac);
        let (run, value) = if e & 0xFF != 0 {
            bits.consume((e & 0xFF) as u32);
            ((e >> 8) & 0xFF, e >> 16)
        } else {
            let (run, value);
            (bits, run, value) = bits.ac_slow(t.ac, e)?;
            (run, value)
        };
        if run == EOB {
            break;
        }
        k += (run & 15) as usize;
        coef[usize::from(t.slot[k])] = value.wrapping_mul(t.q[k]);
        rows |= t.row_bit[k];
        k += 1;
        if k >= 64 {
            break;
        }
    }
    *reader = bits;
    if k > 64 {
        return Err(corrupt("an AC coefficient out of range"));
    }
    Ok(rows)
}

/// Below this many blocks (about 1.5 MP at 4:2:0) a decode stays on the calling thread.
const PIPELINE_MIN_BLOCKS: usize = 36_000;

/// One MCU row's blocks as entropy decoding leaves them, in the file's order: each block's n x n
/// dequantized coefficients and its row mask (see [`entropy_block`]).
struct RowBlocks {
    coef: Vec<i32>,
    rows: Vec<u32>,
}

/// The entropy decoder's state across MCU rows.
struct Entropy<'a> {
    bits: Bits<'a>,
    tables: &'a [BlockTables<'a>],
    frame: &'a Frame,
    pred: [i32; 3],
    next_restart: u8,
    /// MCUs decoded so far.
    mcu: usize,
    /// One block's coefficients (see [`entropy_block`]): zero but while a block is decoded.
    coef: [i32; 256],
    nn: usize,
}

impl Entropy<'_> {
    /// Decodes the next MCU row into `out`.
    fn row(&mut self, out: &mut RowBlocks) -> Result<(), PhotoError> {
        let frame = self.frame;
        let nn = self.nn;
        let mut at = 0;
        let mcus_x = out.rows.len() / frame.components.iter().map(|c| c.h * c.v).sum::<usize>();
        for _ in 0..mcus_x {
            if frame.restart_interval > 0
                && self.mcu > 0
                && self.mcu.is_multiple_of(frame.restart_interval)
            {
                if self.bits.overran() {
                    return Err(PhotoError::Truncated);
                }
                self.bits = self.bits.restart(self.next_restart)?;
                self.next_restart = (self.next_restart + 1) & 7;
                self.pred = [0; 3];
            }
            self.mcu += 1;
            for (ci, c) in frame.components.iter().enumerate() {
                let t = &self.tables[ci];
                for _ in 0..c.h * c.v {
                    let rows =
                        entropy_block(&mut self.bits, t, &mut self.pred[ci], &mut self.coef)?;
                    out.rows[at] = rows;
                    let dst = &mut out.coef[at * nn..(at + 1) * nn];
                    if rows == 0 {
                        dst[0] = self.coef[0];
                    } else {
                        dst.copy_from_slice(&self.coef[..nn]);
                        self.coef[..nn].fill(0);
                    }
                    at += 1;
                }
            }
        }
        if self.bits.overran() {
            return Err(PhotoError::Truncated);
        }
        Ok(())
    }
}

/// Turns decoded blocks into pixels in the planes.
struct Placer<'a> {
    frame: &'a Frame,
    basis: &'a [f32; 64],
    n: usize,
    mcus_x: usize,
}

impl Placer<'_> {
    /// Inverse-transforms MCU row `mcu_y`'s blocks and places them in the planes.
    fn row(&self, planes: &mut [UprightPlane], mcu_y: usize, blocks: &RowBlocks) {
        let n = self.n;
        let nn = n * n;
        let mut coef = [0i32; 256];
        let mut block = [0u8; 64];
        let mut at = 0;
        for mcu_x in 0..self.mcus_x {
            for (c, plane) in self.frame.components.iter().zip(planes.iter_mut()) {
                for v in 0..c.v {
                    for h in 0..c.h {
                        let rows = blocks.rows[at];
                        let src = &blocks.coef[at * nn..(at + 1) * nn];
                        at += 1;
                        if rows == 0 {
                            // Flat block: the DC alone (the common case in smooth areas).
                            let px = (src[0] as f32 / 8.0 + 128.5).clamp(0.0, 255.0) as u8;
                            block[..nn].fill(px);
                        } else {
                            coef[..nn].copy_from_slice(src);
                            match n {
                                8 => idct::<8>(&coef, rows, self.basis, &mut block),
                                4 => idct::<4>(&coef, rows, self.basis, &mut block),
                                2 => idct::<2>(&coef, rows, self.basis, &mut block),
                                _ => idct::<1>(&coef, rows, self.basis, &mut block),
                            }
                        }
                        let bx = (mcu_x * c.h + h) * n;
                        let by = (mcu_y * c.v + v) * n;
                        match n {
                            8 => plane.put::<8>(bx, by, &block),
                            4 => plane.put::<4>(bx, by, &block),
                            2 => plane.put::<2>(bx, by, &block),
                            _ => plane.put::<1>(bx, by, &block),
                        }
                    }
                }
            }
        }
    }
}

/// Decodes a baseline JPEG at `eighths`/8 of its size (1, 2, 4 or 8), turned upright as EXIF
/// orientation `o` asks (each block is stored where it belongs upright: no pass of its own).
/// `Ok(None)` when the JPEG is of a kind this decoder leaves to jpeg-decoder.
pub(crate) fn decode(
    b: &[u8],
    eighths: u32,
    o: u8,
    threads: usize,
) -> Result<Option<Ycc>, PhotoError> {
    let Some(frame) = parse(b)? else {
        return Ok(None);
    };
    let n = eighths as usize;
    if !matches!(n, 1 | 2 | 4 | 8) {
        return Err(PhotoError::InvalidOptions(
            "the DCT scale must be 1, 2, 4 or 8 eighths",
        ));
    }
    let basis = basis(n);
    let h_max = frame.components.iter().map(|c| c.h).max().unwrap_or(1);
    let v_max = frame.components.iter().map(|c| c.v).max().unwrap_or(1);
    let mcus_x = frame.width.div_ceil(8 * h_max);
    let mcus_y = frame.height.div_ceil(8 * v_max);
    let (flip_x, flip_y) = flips(o);
    // Where each zigzag index's coefficient goes in the n x n block (v * n + u), `DUMP` for
    // those outside the low n x n: they are decoded (they must be read) but not kept. Indexed
    // up to 63 + 15 + 1, where a damaged run takes k (then refused after the block).
    let slot: [u8; K_END] = std::array::from_fn(|k| match ZIGZAG.get(k) {
        Some(&at) if at / 8 < n && at % 8 < n => ((at / 8) * n + at % 8) as u8,
        _ => DUMP,
    });
    // The block row (bit) each kept coefficient is in, 0 for the others.
    let row_bit: [u32; K_END] = std::array::from_fn(|k| match slot[k] {
        DUMP => 0,
        at => 1 << (usize::from(at) / n),
    });
    // Quantization tables in zigzag order, as i32, negated where a mirror asks (odd horizontal
    // frequencies for left-right, odd vertical ones for top-bottom).
    let tables: Vec<BlockTables<'_>> = frame
        .components
        .iter()
        .map(|c| {
            let (Some(dc), Some(ac)) = (&frame.dc[c.dc], &frame.ac[c.ac]) else {
                return Err(corrupt("a component without its Huffman table"));
            };
            let q = std::array::from_fn(|k| {
                let Some(&at) = ZIGZAG.get(k) else { return 0 };
                let (v, u) = (at / 8, at % 8);
                let negate = (flip_x && u % 2 == 1) != (flip_y && v % 2 == 1);
                let q = i32::from(frame.quant[c.quant][k]);
                if negate { -q } else { q }
            });
            Ok(BlockTables {
                dc,
                ac,
                q,
                slot,
                row_bit,
            })
        })
        .collect::<Result<_, _>>()?;

    // One padded plane a component: whole blocks of n x n.
    let mut planes: Vec<UprightPlane> = frame
        .components
        .iter()
        .map(|c| UprightPlane::new(mcus_x * c.h * n, mcus_y * c.v * n, o, c.v * n))
        .collect();
    let blocks_per_mcu: usize = frame.components.iter().map(|c| c.h * c.v).sum();
    let mut entropy = Entropy {
        bits: Bits::new(b, frame.scan_start),
        tables: &tables,
        frame: &frame,
        pred: [0; 3],
        next_restart: 0,
        mcu: 0,
        coef: [0; 256],
        nn: n * n,
    };
    let row_blocks = || RowBlocks {
        coef: vec![0; mcus_x * blocks_per_mcu * n * n],
        rows: vec![0; mcus_x * blocks_per_mcu],
    };
    let placer = Placer {
        frame: &frame,
        basis: &basis,
        n,
        mcus_x,
    };
    if threads < 2 || mcus_x * mcus_y * blocks_per_mcu < PIPELINE_MIN_BLOCKS {
        let mut buf = row_blocks();
        for mcu_y in 0..mcus_y {
            entropy.row(&mut buf)?;
            placer.row(&mut planes, mcu_y, &buf);
        }
    } else {
        // Entropy decoding here, the inverse DCT and the placing of blocks on a second thread, a
        // few MCU rows behind.
        use std::sync::mpsc;
        const BUFFERS: usize = 4;
        let (full_tx, full_rx) = mpsc::sync_channel::<RowBlocks>(BUFFERS);
        let (empty_tx, empty_rx) = mpsc::channel::<RowBlocks>();
        for _ in 0..BUFFERS {
            let _ = empty_tx.send(row_blocks());
        }
        let pipelined = std::thread::scope(|s| {
            let placing = std::thread::Builder::new().spawn_scoped(s, move || {
                let mut planes = planes;
                for (mcu_y, buf) in full_rx.iter().enumerate() {
                    placer.row(&mut planes, mcu_y, &buf);
                    // Gone only when the decoding below has stopped.
                    let _ = empty_tx.send(buf);
                }
                planes
            });
            // The system would not start a thread: all over again on this one.
            let Ok(placing) = placing else {
                return None;
            };
            let decoded = (|| {
                for _ in 0..mcus_y {
                    let Ok(mut buf) = empty_rx.recv() else {
                        return Err(corrupt("the block placing thread stopped"));
                    };
                    entropy.row(&mut buf)?;
                    if full_tx.send(buf).is_err() {
                        return Err(corrupt("the block placing thread stopped"));
                    }
                }
                Ok(())
            })();
            drop(full_tx);
            Some((decoded, placing.join()))
        });
        let Some((decoded, placed)) = pipelined else {
            return decode(b, eighths, o, 1);
        };
        decoded?;
        planes = placed.map_err(|_| corrupt("the block placing thread failed"))?;
    }
    // A file cut just before its EOI is truncated too (the last bytes may be lost).
    if entropy.bits.next_marker().1.is_none() {
        return Err(PhotoError::Truncated);
    }

    // Crop each plane to its component's size at this scale, in place.
    let luma_w = (frame.width * n).div_ceil(8);
    let luma_h = (frame.height * n).div_ceil(8);
    let mut out = planes
        .into_iter()
        .zip(&frame.components)
        .map(|(plane, c)| plane.crop(luma_w.div_ceil(h_max / c.h), luma_h.div_ceil(v_max / c.v)));
    // The frame header has one or three components (checked where it is parsed).
    let Some(y) = out.next() else {
        return Err(corrupt("a frame without components"));
    };
    let chroma = match (out.next(), out.next()) {
        (Some(cb), Some(cr)) => Some((cb, cr)),
        _ => None,
    };
    let (h_sub, v_sub) = match frame.components.get(1) {
        Some(c) => ((h_max / c.h) as u32, (v_max / c.v) as u32),
        None => (1, 1),
    };
    let (h_sub, v_sub) = if (5..=8).contains(&o) {
        (v_sub, h_sub)
    } else {
        (h_sub, v_sub)
    };
    Ok(Some(Ycc {
        y,
        chroma,
        h_sub,
        v_sub,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Smooth gradients, edges and a little noise, as RGB.
    fn picture(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let noise = ((x * 7919 + y * 104_729) % 23) as u8;
                let edge = if (x / 17 + y / 13) % 2 == 0 { 60 } else { 0 };
                out.extend_from_slice(&[
                    (x * 255 / w) as u8 / 2 + edge + noise,
                    (y * 255 / h) as u8 / 2 + noise,
                    200 - edge - noise,
                ]);
            }
        }
        out
    }

    fn encode(w: u32, h: u32, sampling: jpeg_encoder::SamplingFactor, restart: u16) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = jpeg_encoder::Encoder::new(&mut out, 90);
        e.set_sampling_factor(sampling);
        if restart > 0 {
            e.set_restart_interval(restart);
        }
        e.encode(
            &picture(w, h),
            w as u16,
            h as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
        out
    }

    /// jpeg-decoder's result at the same scale, as YCbCr (its RGB converted back: exact but for
    /// rounding, as the picture never clips; chroma comes upsampled).
    fn reference(jpeg: &[u8], eighths: u32) -> (usize, usize, Vec<u8>) {
        let mut d = jpeg_decoder::Decoder::new(jpeg);
        d.read_info().unwrap();
        let info = d.info().unwrap();
        if eighths < 8 {
            let s = |v: u16| (u32::from(v) * eighths).div_ceil(8) as u16;
            d.scale(s(info.width), s(info.height)).unwrap();
        }
        let px = d.decode().unwrap();
        let info = d.info().unwrap();
        let ycc = px
            .chunks_exact(3)
            .flat_map(|p| {
                let (r, g, b) = (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
                [
                    0.299 * r + 0.587 * g + 0.114 * b,
                    128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b,
                    128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b,
                ]
                .map(|v| v.round().clamp(0.0, 255.0) as u8)
            })
            .collect();
        (usize::from(info.width), usize::from(info.height), ycc)
    }

    #[test]
    fn decodes_what_jpeg_decoder_decodes_at_every_scale_sampling_and_restart_interval() {
        use jpeg_encoder::SamplingFactor as S;
        for (w, h) in [(203, 117), (64, 48), (17, 9)] {
            for sampling in [S::F_2_2, S::F_2_1, S::F_1_2, S::F_1_1] {
                for restart in [0, 1, 3] {
                    let jpeg = encode(w, h, sampling, restart);
                    for eighths in [8, 4, 2, 1] {
                        let case = format!("{w}x{h} {sampling:?} restart {restart} at {eighths}/8");
                        let ycc = decode(&jpeg, eighths, 1, 1).unwrap().expect(&case);
                        let (rw, rh, reference) = reference(&jpeg, eighths);
                        assert_eq!(
                            (ycc.width() as usize, ycc.height() as usize),
                            (rw, rh),
                            "{case}"
                        );
                        let (cb, cr) = ycc.chroma.as_ref().unwrap();
                        let (hs, vs) = (ycc.h_sub as usize, ycc.v_sub as usize);
                        let (mut worst, mut total) = (0u8, 0u64);
                        for y in 0..rh {
                            for x in 0..rw {
                                let r = &reference[(y * rw + x) * 3..][..3];
                                let c = y / vs * cb.width as usize + x / hs;
                                // Luma exactly comparable; chroma against upsampled chroma, so
                                // only where the picture is smooth (loosely).
                                let d = ycc.y.data[y * rw + x].abs_diff(r[0]);
                                worst = worst.max(d);
                                total += u64::from(d);
                                assert!(cb.data[c].abs_diff(r[1]) <= 48, "{case} cb at {x},{y}");
                                assert!(cr.data[c].abs_diff(r[2]) <= 48, "{case} cr at {x},{y}");
                            }
                        }
                        let mean = total as f64 / (rw * rh) as f64;
                        // Rounding apart (a different IDCT), the same pixels.
                        assert!(
                            worst <= 8 && (mean < 0.1 || worst <= 1),
                            "{case}: luma off by {worst}, mean {mean}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn blocks_stored_upright_match_turning_the_planes_afterwards() {
        use jpeg_encoder::SamplingFactor as S;
        for (w, h) in [(203, 117), (40, 24), (9, 17)] {
            for sampling in [S::F_2_2, S::F_2_1, S::F_1_1] {
                let jpeg = encode(w, h, sampling, 0);
                for eighths in [8, 4, 1] {
                    let stored = decode(&jpeg, eighths, 1, 1).unwrap().unwrap();
                    for o in 2..=8 {
                        let upright = decode(&jpeg, eighths, o, 1).unwrap().unwrap();
                        assert_eq!(
                            upright,
                            super::super::pixels::orient(stored.clone(), o),
                            "{w}x{h} {sampling:?} at {eighths}/8, orientation {o}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_two_thread_decode_gives_the_same_planes_and_errors() {
        use jpeg_encoder::SamplingFactor as S;
        // 1600 x 1200 at 4:2:0 is 45,000 blocks: above the threshold.
        let jpeg = encode(1600, 1200, S::F_2_2, 0);
        for (eighths, o) in [(8, 1), (4, 6), (2, 3), (1, 8)] {
            let one = decode(&jpeg, eighths, o, 1).unwrap().unwrap();
            let two = decode(&jpeg, eighths, o, 2).unwrap().unwrap();
            assert!(one == two, "at {eighths}/8, orientation {o}");
        }
        let with_restarts = encode(1600, 1200, S::F_2_2, 7);
        assert_eq!(
            decode(&with_restarts, 4, 6, 2).unwrap(),
            decode(&with_restarts, 4, 6, 1).unwrap()
        );
        for cut in [jpeg.len() - 2, jpeg.len() / 2, 5000] {
            assert_eq!(
                decode(&jpeg[..cut], 4, 6, 2).unwrap_err(),
                PhotoError::Truncated,
                "cut {cut}"
            );
        }
        // A restart marker out of order, half way.
        let mut damaged = with_restarts.clone();
        let rst = (damaged.len() / 2..damaged.len() - 1)
            .find(|&i| damaged[i] == 0xFF && (0xD0..=0xD7).contains(&damaged[i + 1]))
            .unwrap();
        damaged[rst + 1] = 0xD0 + (damaged[rst + 1] - 0xD0 + 3) % 8;
        assert!(matches!(
            decode(&damaged, 4, 1, 2),
            Err(PhotoError::Corrupt(_))
        ));
    }

    #[test]
    fn cut_or_damaged_data_is_a_typed_error() {
        let jpeg = encode(64, 48, jpeg_encoder::SamplingFactor::F_2_2, 2);
        for cut in [jpeg.len() - 2, jpeg.len() / 2, 700] {
            assert_eq!(
                decode(&jpeg[..cut], 8, 1, 1).unwrap_err(),
                PhotoError::Truncated,
                "cut {cut}"
            );
        }
        let mut with_eoi = jpeg[..jpeg.len() / 2].to_vec();
        with_eoi.extend_from_slice(&[0xFF, 0xD9]);
        assert_eq!(
            decode(&with_eoi, 4, 1, 1).unwrap_err(),
            PhotoError::Truncated
        );
    }

    #[test]
    fn the_scaled_basis_keeps_the_dc_level() {
        // A DC of 8 * v (dequantized) is a flat block of v + 128 at every scale.
        for n in [1usize, 2, 4, 8] {
            let b = basis(n);
            let mut coef = [0i32; 256];
            coef[0] = 8 * 40;
            let mut out = [0u8; 64];
            match n {
                8 => idct::<8>(&coef, 1, &b, &mut out),
                4 => idct::<4>(&coef, 1, &b, &mut out),
                2 => idct::<2>(&coef, 1, &b, &mut out),
                _ => idct::<1>(&coef, 1, &b, &mut out),
            }
            assert!(out[..n * n].iter().all(|&p| p == 168), "{n}");
        }
    }
}
